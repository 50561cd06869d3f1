#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The systemd units as built: `systemd-analyze verify` clean for the user
# and the system instance, and the system service's sandbox at an exposure
# of at most 2.0 by `systemd-analyze security --offline=true`. The units
# are checked as installed, except that ExecStart= names the binary just
# built (verify insists that it exists). Speaks TAP; skips, saying why,
# where systemd-analyze is missing.
set -u
srcdir=${srcdir:-.}
build=${INGESTER_BUILDDIR:-.}
analyze=${SYSTEMD_ANALYZE:-$(command -v systemd-analyze || true)}
n=0 failed=0

if [ -z "$analyze" ]; then
        echo "1..0 # SKIP systemd-analyze is not installed (Debian's systemd package)"
        exit 0
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/system" "$tmp/user" "$tmp/xdg"
chmod 700 "$tmp/xdg"
daemon=$(cd "$build/src" && pwd)/ingesterd
for kind in system user; do
        sed "s|^ExecStart=[^ ]*/ingesterd|ExecStart=$daemon|" "$build/doc/$kind/ingesterd.service" \
                >"$tmp/$kind/ingesterd.service"
        cp "$srcdir/doc/$kind/ingesterd.socket" "$tmp/$kind/"
done

check() { # check NAME COMMAND...
        name=$1; shift
        n=$((n + 1))
        if out=$("$@" 2>&1) && [ -z "$out" ]; then
                echo "ok $n - units/$name"
        else
                echo "not ok $n - units/$name"
                printf '%s\n' "$out" | sed 's/^/# /'
                failed=$((failed + 1))
        fi
}

# Documentation=man:... would be looked up in the installed manual
verify_system() {
        "$analyze" verify --man=no "$tmp/system/ingesterd.service" "$tmp/system/ingesterd.socket"
}
verify_user() {
        XDG_RUNTIME_DIR=$tmp/xdg "$analyze" verify --user --man=no \
                "$tmp/user/ingesterd.service" "$tmp/user/ingesterd.socket"
}
# --threshold is on the 0-100 scale behind the 0.0-10.0 it prints
system_exposure_at_most_2() {
        if ! report=$("$analyze" security --offline=true --threshold=20 \
                        "$tmp/system/ingesterd.service" 2>&1); then
                printf '%s\n' "$report" | grep -v '✓'
                return 1
        fi
}
# what it printed, for the log
exposure=$("$analyze" security --offline=true "$tmp/system/ingesterd.service" 2>/dev/null |
        sed -n 's/.*Overall exposure level for ingesterd.service: //p')
echo "# system unit exposure: $exposure"

# The services are socket- and bus-activated: their [Install] may only name
# the socket (Also=), never a target that would start them at boot or login
# (debhelper enables a user service with WantedBy= for every user).
services_want_nothing() {
        grep -H '^WantedBy=\|^RequiredBy=' "$tmp/system/ingesterd.service" "$tmp/user/ingesterd.service"
        grep -q '^Also=ingesterd.socket$' "$tmp/system/ingesterd.service" || echo "system: no Also=ingesterd.socket"
        grep -q '^Also=ingesterd.socket$' "$tmp/user/ingesterd.service" || echo "user: no Also=ingesterd.socket"
}

check services_are_started_by_their_socket_only services_want_nothing
check verify_system_units verify_system
check verify_user_units verify_user
check system_service_exposure_at_most_2 system_exposure_at_most_2
echo "1..$n"
[ "$failed" -eq 0 ]

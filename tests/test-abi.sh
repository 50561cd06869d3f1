#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# libingester's ABI as built: soname, exactly the exported symbols of
# src/lib/libingester.sym, no GLib, and a header that stands on its own.
# Speaks TAP, like the C suites.
set -u
srcdir=${srcdir:-.}
lib=${INGESTER_BUILDDIR:-.}/src/lib/.libs/libingester.so.0
sym=$srcdir/src/lib/libingester.sym
header=$srcdir/src/lib/ingester/ingester.h
n=0 failed=0

check() { # check NAME COMMAND...
        name=$1; shift
        n=$((n + 1))
        if out=$("$@" 2>&1); then
                echo "ok $n - abi/$name"
        else
                echo "not ok $n - abi/$name"
                printf '%s\n' "$out" | sed 's/^/# /'
                failed=$((failed + 1))
        fi
}

soname_is_0() {
        objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }' | grep -qx 'libingester.so.0'
}

exports_match_the_symbol_list() {
        want=$(sed -n 's/^[[:space:]]*\(ingester_[a-z_]*\);$/\1/p' "$sym" | sort)
        have=$(nm -D --defined-only "$lib" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort)
        [ -n "$want" ] && [ "$want" = "$have" ] || { echo "want: $want"; echo "have: $have"; return 1; }
}

every_export_is_declared_and_documented() {
        for s in $(sed -n 's/^[[:space:]]*\(ingester_[a-z_]*\);$/\1/p' "$sym"); do
                grep -q "[ *]$s(" "$header" || { echo "$s not in the header"; return 1; }
        done
}

links_libc_only() {
        needed=$(objdump -p "$lib" | awk '$1 == "NEEDED" { print $2 }')
        for l in $needed; do
                case $l in
                libc.so.*|libm.so.*|libasan.so.*|libubsan.so.*|ld-linux*) ;;
                *) echo "unexpected dependency: $l"; return 1 ;;
                esac
        done
}

header_compiles_alone_as_c99() {
        tmp=$(mktemp -d) || return 1
        printf '#include <ingester/ingester.h>\nint main(void) { return INGESTER_MAX_FDS == 253 ? 0 : 1; }\n' > "$tmp/t.c"
        ${CC:-cc} -std=c99 -pedantic -Wall -Wextra -Werror -I"$srcdir/src/lib" -c "$tmp/t.c" -o "$tmp/t.o"
        r=$?
        rm -rf "$tmp"
        return $r
}

echo "1..5"
check soname_is_0 soname_is_0
check exports_match_the_symbol_list exports_match_the_symbol_list
check every_export_is_declared_and_documented every_export_is_declared_and_documented
check links_libc_only links_libc_only
check header_compiles_alone_as_c99 header_compiles_alone_as_c99
exit 0

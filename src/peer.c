/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* peer.c — who may send, and credentials that name nobody (see peer.h). */

#include "peer.h"
#include "util.h"

bool peer_allowed(const ListenSpec *spec, uid_t uid, gid_t gid)
{
        if (spec->allow_any)
                return true;
        for (guint i = 0; i < spec->allow_uids->len; i++)
                if (g_array_index(spec->allow_uids, uid_t, i) == uid)
                        return true;
        for (guint i = 0; i < spec->allow_gids->len; i++)
                if (g_array_index(spec->allow_gids, gid_t, i) == gid)
                        return true;
        return false;
}

/* The kernel's overflow ids (kernel.overflowuid/gid), what it reports for
 * an id it cannot map. */
static uid_t overflow_id(const char *file)
{
        g_autofree char *text = NULL;
        guint64 v;

        if (g_file_get_contents(file, &text, NULL, NULL) &&
            g_ascii_string_to_unsigned(g_strstrip(text), 10, 0, G_MAXUINT32, &v, NULL))
                return (uid_t) v;
        return 65534;
}

/*
 * SCM_CREDENTIALS that name nobody: pid 0 with the overflow uid and gid is
 * what the kernel attaches to a datagram queued before SO_PASSCRED was set
 * (a socket systemd created without PassCredentials=yes, read for the first
 * time), and to one from a sender in namespaces the daemon cannot see into.
 */
bool peer_unattributed(const struct ucred *c)
{
        static uid_t ouid = (uid_t) -1;
        static gid_t ogid = (gid_t) -1;

        if (ouid == (uid_t) -1) {
                ouid = overflow_id("/proc/sys/kernel/overflowuid");
                ogid = (gid_t) overflow_id("/proc/sys/kernel/overflowgid");
        }
        return c->pid == 0 && c->uid == ouid && c->gid == ogid;
}

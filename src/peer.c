/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* peer.c — who sent a packet, and what came with it (see peer.h). */
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

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

/*
 * recv() returned 0 on a SEQPACKET connection: a zero-length packet, or the
 * peer hung up? The kernel reports both alike. If the peer has not shut down
 * (no POLLRDHUP), it was a packet. If it has, SIOCINQ tells whether packets
 * with data are still queued behind it: then it was a zero-length packet
 * too, and the rest must still be read. Otherwise it is the hang-up (a
 * zero-length packet sent just before closing is indistinguishable from it,
 * and is not counted).
 */
bool peer_seqpacket_hung_up(int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLRDHUP };
        int queued = 0;

        if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLRDHUP | POLLHUP)))
                return false;
        if (ioctl(fd, SIOCINQ, &queued) == 0 && queued > 0)
                return false;
        return true;
}

/* Every fd of every SCM_RIGHTS message, in order; credentials if present. */
unsigned peer_collect_cmsgs(struct msghdr *msg, int *fds, unsigned cap, struct ucred *cred,
                              bool *has_cred)
{
        unsigned n = 0;

        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
                if (c->cmsg_level != SOL_SOCKET)
                        continue;
                if (c->cmsg_type == SCM_RIGHTS) {
                        unsigned k = (unsigned) ((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                        const unsigned char *data = CMSG_DATA(c);
                        for (unsigned i = 0; i < k; i++) {
                                int fd;
                                memcpy(&fd, data + i * sizeof(int), sizeof(int));
                                if (n < cap)
                                        fds[n++] = fd;
                                else
                                        safe_close(fd); /* cannot happen: buffer is kernel-max */
                        }
                } else if (c->cmsg_type == SCM_CREDENTIALS &&
                           c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
                        memcpy(cred, CMSG_DATA(c), sizeof(*cred));
                        *has_cred = true;
                }
        }
        return n;
}

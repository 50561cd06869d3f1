/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reader.c — recvmsg, credentials and descriptors (see reader.h).
 *
 * A packet, in two steps:
 *
 *  1. recv(fd, NULL, 0, MSG_PEEK|MSG_TRUNC) returns the size of the next
 *     packet without reading it (systemd's next_datagram_size_fd()).
 *     FIONREAD/SIOCINQ is no substitute: on SOCK_SEQPACKET it returns the
 *     bytes of all queued packets together.
 *  2. recvmsg() with MSG_CMSG_CLOEXEC and a control buffer sized for the
 *     kernel's maximum (SCM_MAX_FD descriptors plus credentials), so that
 *     MSG_CTRUNC only ever means the kernel or a security module withheld
 *     something. A packet over the limit is received into a zero-length
 *     buffer: the kernel discards its bytes, and nothing of its size is
 *     ever allocated. Its fds still arrive, and intake closes them.
 *
 * A zero-length SEQPACKET read means either a zero-length packet or the
 * peer's hang-up: one with control data is a packet, else see
 * seqpacket_hung_up().
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#include "reader.h"
#include "util.h"

typedef union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * READER_MAX_FDS)];
} Control;

/*
 * recv() returned 0 on a SEQPACKET connection: a zero-length packet, or the
 * peer hung up? The kernel reports both alike. If the peer has not shut down
 * (no POLLRDHUP), it was a packet. If it has, SIOCINQ tells whether packets
 * with data are still queued behind it: then it was a zero-length packet
 * too, and the rest must still be read. Otherwise it is the hang-up (a
 * zero-length packet sent just before closing is indistinguishable from it,
 * and is not counted).
 */
static bool seqpacket_hung_up(int fd)
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
static unsigned collect_cmsgs(struct msghdr *msg, int *fds, struct ucred *cred, bool *has_cred)
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
                                if (n < READER_MAX_FDS)
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

ReaderResult reader_packet(int fd, bool connected, char *buf, size_t max, int *fds,
                           IntakeUnit *u)
{
        Control control;
        struct iovec iov;
        struct msghdr msg = { 0 };
        bool too_large, reset = false;
        ssize_t size, n;

        /* 1. size the packet without reading it. A SEQPACKET peer that closed with
         * unread data of its own (answers it never read) leaves ECONNRESET on our
         * socket, and the kernel reports that error once, *before* the packets it
         * had sent and we have not read yet: those are still there, read them
         * (taking the error for the hang-up lost them uncounted). */
        do {
                size = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
                if (size < 0 && errno == ECONNRESET && connected && !reset) {
                        reset = true; /* reported once, then cleared: look again */
                        errno = EINTR;
                }
        } while (size < 0 && errno == EINTR);
        if (size < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        return READER_AGAIN;
                return connected ? READER_HANGUP : READER_FAILED; /* ECONNRESET and friends */
        }

        /* 2. read it, or only its control data when it is too large */
        too_large = (size_t) size > max;
        iov.iov_base = buf;
        iov.iov_len = too_large ? 0 : (size_t) size;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = &control;
        msg.msg_controllen = sizeof(control);
        do {
                n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n < 0 && errno == ECONNRESET && connected && !reset) {
                        reset = true; /* the peer closed since the peek: as above */
                        errno = EINTR;
                }
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        return READER_AGAIN;
                return connected ? READER_HANGUP : READER_AGAIN;
        }
        /* SEQPACKET: nothing read and no control data is the hang-up, or an empty
         * packet; an empty packet with a descriptor is a large event (largefd.h).
         * Only when the peek found nothing either: a packet over the limit is
         * also read as 0 bytes (into a 0-byte buffer, MSG_TRUNC), and when its
         * sender closed right after sending it, the hang-up follows it in the
         * queue; taking that read for the hang-up lost the packet uncounted. */
        if (n == 0 && size == 0 && !(msg.msg_flags & MSG_TRUNC) && connected &&
            msg.msg_controllen == 0 && seqpacket_hung_up(fd))
                return READER_HANGUP;
        *u = (IntakeUnit){
                .bytes = too_large ? NULL : buf,
                .len = too_large ? 0 : (size_t) n,
                .fds = fds,
                .cred = { .pid = -1, .uid = (uid_t) -1, .gid = (gid_t) -1 },
        };
        u->n_fds = collect_cmsgs(&msg, fds, &u->cred, &u->has_cred);
        if (msg.msg_flags & MSG_CTRUNC)
                u->flaw = INTAKE_FLAW_CTRUNC;
        else if (too_large || (msg.msg_flags & MSG_TRUNC))
                u->flaw = INTAKE_FLAW_TOO_LARGE;
        return READER_UNIT;
}

/* A line (or what the hang-up left) as a unit: no descriptors, no flaw of the reader's. */
static void line_unit(IntakeUnit *u, LineKind k, const char *line, size_t len)
{
        *u = (IntakeUnit){ .bytes = line, .len = len };
        if (k == LINE_TOO_LONG)
                u->flaw = INTAKE_FLAW_TOO_LARGE;
        else if (k == LINE_PARTIAL)
                u->flaw = INTAKE_FLAW_PARTIAL;
}

ReaderResult reader_stream(int fd, LineBuf *lines, IntakeUnit *u, int *strays,
                           unsigned *ret_n_strays, bool *ret_stray)
{
        Control control;
        struct ucred ignored;
        bool has_cred = false;
        struct iovec iov;
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        const char *line = NULL;
        size_t len = 0;
        LineKind k;
        ssize_t n;

        *ret_n_strays = 0;
        *ret_stray = false;
        k = linebuf_next(lines, &line, &len);
        if (k != LINE_NONE) {
                line_unit(u, k, line, len);
                return READER_UNIT;
        }
        iov.iov_base = linebuf_space(lines, &iov.iov_len);
        msg.msg_control = &control;
        msg.msg_controllen = sizeof(control);
        do
                n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return READER_AGAIN;
        if (n >= 0) {
                *ret_n_strays = collect_cmsgs(&msg, strays, &ignored, &has_cred);
                *ret_stray = *ret_n_strays > 0 || (msg.msg_flags & MSG_CTRUNC);
        }
        if (n <= 0) {
                /* the hang-up: a complete line was delivered before it; what is left of
                 * one is the last unit */
                k = linebuf_finish(lines, &line, &len);
                if (k == LINE_NONE)
                        return READER_HANGUP;
                line_unit(u, k, line, len);
                return READER_LAST;
        }
        linebuf_commit(lines, (size_t) n);
        return READER_MORE;
}

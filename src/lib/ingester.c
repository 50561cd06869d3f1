/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libingester — the socket work of a sender: find ingesterd's socket and its
 * type, send one packet (one event) with its descriptors, reconnect with
 * backoff. The public contract, errors included, is in ingester/ingester.h.
 *
 * libc only, and no state outside the handle: readers link this into
 * anything, threads included. Every descriptor is O_CLOEXEC and every send
 * carries MSG_NOSIGNAL, since a library must not kill its host with SIGPIPE
 * when the daemon goes away.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ingester/ingester.h"

#define _public_ __attribute__((visibility("default")))

struct IngesterClient {
        int fd;                      /* -1 when not connected */
        IngesterTransport want;      /* as asked for */
        IngesterTransport type;      /* in use while connected (never AUTO then) */
        unsigned int flags;
        struct sockaddr_un addr;
        socklen_t addr_len;

        unsigned int max_retries;    /* 0: no waiting retries */
        unsigned int interval_ms, max_interval_ms;
        double factor;

        /* INGESTER_CLIENT_NONBLOCK never sleeps; it remembers when the next
         * connection attempt is due instead. */
        unsigned int failures;
        uint64_t next_attempt_usec;
        int last_error;

        unsigned long connections;

        /* a stream, non-blocking: the rest of a line the kernel took in part */
        char *pending;
        size_t pending_len, pending_off;

        /* acknowledgements (ingester_client_send_wait()) */
        bool want_ack;     /* every connection opens with "!ack" */
        uint64_t ack_next; /* the last event's number on this connection */
        char abuf[512];    /* a stream's answers not yet taken */
        size_t alen;
};

static uint64_t now_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static int close_keep_errno(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -1;
}

/* Mirrors ingesterd's config_default_socket_dir(): the two must agree. */
static int default_path(IngesterTransport want, char *buf, size_t size)
{
        const char *env = secure_getenv("INGESTER_SOCKET");
        const char *xdg = secure_getenv("XDG_RUNTIME_DIR");
        char dir[sizeof(((struct sockaddr_un *) NULL)->sun_path)];
        struct stat st;
        int n;

        if (env && *env)
                n = snprintf(buf, size, "%s", env);
        else {
                if (xdg && xdg[0] == '/')
                        n = snprintf(dir, sizeof(dir), "%s/ingester", xdg);
                else if (geteuid() == 0)
                        n = snprintf(dir, sizeof(dir), "/run/ingester");
                else
                        n = snprintf(dir, sizeof(dir), "/run/user/%u/ingester",
                                     (unsigned int) geteuid());
                if (n < 0 || (size_t) n >= sizeof(dir))
                        return -ENAMETOOLONG;
                n = snprintf(buf, size, "%s/seqpacket.sock", dir);
                if (n >= 0 && (size_t) n < size && want != INGESTER_TRANSPORT_SEQPACKET &&
                    (want != INGESTER_TRANSPORT_AUTO || stat(buf, &st) < 0))
                        n = snprintf(buf, size, "%s/dgram.sock", dir);
        }
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        return 0;
}

_public_ int ingester_client_new(IngesterClient **ret, const char *path,
                                 IngesterTransport transport, unsigned int flags)
{
        IngesterClient *c;
        int r;

        if (!ret || (unsigned int) transport > INGESTER_TRANSPORT_STREAM ||
            (flags & ~(unsigned int) INGESTER_CLIENT_NONBLOCK))
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->fd = -1;
        c->want = c->type = transport;
        c->flags = flags;
        c->factor = 2.0;
        c->addr.sun_family = AF_UNIX;
        if (path) {
                if (!*path || strlen(path) >= sizeof(c->addr.sun_path))
                        r = *path ? -ENAMETOOLONG : -EINVAL;
                else {
                        strcpy(c->addr.sun_path, path);
                        r = 0;
                }
        } else
                r = default_path(transport, c->addr.sun_path, sizeof(c->addr.sun_path));
        if (r < 0) {
                free(c);
                return r;
        }
        c->addr_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) +
                                   strlen(c->addr.sun_path) + 1);
        *ret = c;
        return 0;
}

_public_ void ingester_client_disconnect(IngesterClient *c)
{
        if (!c)
                return;
        c->fd = close_keep_errno(c->fd);
        c->type = c->want;
        c->pending_off = 0; /* a line cut short goes whole on the next connection */
}

_public_ IngesterClient *ingester_client_free(IngesterClient *c)
{
        if (c) {
                ingester_client_disconnect(c);
                free(c->pending);
                free(c);
        }
        return NULL;
}

_public_ int ingester_client_set_retry(IngesterClient *c, unsigned int max_retries,
                                       unsigned int interval_ms, double factor,
                                       unsigned int max_interval_ms)
{
        if (!c || isnan(factor) || factor < 1.0)
                return -EINVAL;
        if (max_retries > 0 && (interval_ms == 0 || max_interval_ms < interval_ms))
                return -EINVAL;
        c->max_retries = max_retries;
        c->interval_ms = interval_ms;
        c->factor = factor;
        c->max_interval_ms = max_interval_ms;
        c->failures = 0;
        c->next_attempt_usec = 0;
        return 0;
}

/* The wait before retry number @n + 1: interval x factor^n, capped. */
static uint64_t backoff_usec(const IngesterClient *c, unsigned int n)
{
        double ms = (double) c->interval_ms * pow(c->factor, (double) n);

        if (!(ms < (double) c->max_interval_ms))
                ms = (double) c->max_interval_ms;
        return (uint64_t) (ms * 1000.0);
}

/* The errors after which the same packet may succeed on a new connection. */
static bool error_is_reconnectable(int r)
{
        return r == -ENOENT || r == -ECONNREFUSED || r == -EPIPE || r == -ECONNRESET ||
               r == -ENOTCONN;
}

static int open_one(IngesterClient *c, IngesterTransport type)
{
        int stype = type == INGESTER_TRANSPORT_SEQPACKET ? SOCK_SEQPACKET
                    : type == INGESTER_TRANSPORT_STREAM  ? SOCK_STREAM
                                                         : SOCK_DGRAM;
        int fd;

        if (c->flags & INGESTER_CLIENT_NONBLOCK)
                stype |= SOCK_NONBLOCK;
        fd = socket(AF_UNIX, stype | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) &c->addr, c->addr_len) < 0) {
                int r = -errno;
                close_keep_errno(fd);
                return r;
        }
        if (type == INGESTER_TRANSPORT_DGRAM_UNCONNECTED) {
                /* The connect() above only proved that a datagram socket is
                 * bound at the path; AF_UNSPEC dissolves the association so
                 * every packet is addressed anew and finds a restarted daemon. */
                const struct sockaddr unspec = { .sa_family = AF_UNSPEC };
                if (connect(fd, &unspec, sizeof(unspec)) < 0) {
                        int r = -errno;
                        close_keep_errno(fd);
                        return r;
                }
        }
        c->fd = fd;
        c->type = type;
        c->connections++;
        c->ack_next = 0;
        c->alen = 0;
        if (c->want_ack && (type == INGESTER_TRANSPORT_SEQPACKET || type == INGESTER_TRANSPORT_STREAM)) {
                /* ask for answers first (doc/protocol.md 1.7): a control packet or line */
                const char *ask = type == INGESTER_TRANSPORT_STREAM ? "!ack\n" : "!ack";
                if (send(fd, ask, strlen(ask), MSG_NOSIGNAL) != (ssize_t) strlen(ask)) {
                        int r = -errno;
                        c->fd = close_keep_errno(fd);
                        return r < 0 ? r : -EIO;
                }
        }
        return 0;
}

/* One attempt, trying SEQPACKET, STREAM, then DGRAM for AUTO. */
static int open_socket(IngesterClient *c)
{
        int r;

        if (c->want != INGESTER_TRANSPORT_AUTO)
                return open_one(c, c->want);
        r = open_one(c, INGESTER_TRANSPORT_SEQPACKET);
        /* Linux reports a socket of another type as EPROTOTYPE. */
        if (r == -EPROTOTYPE)
                r = open_one(c, INGESTER_TRANSPORT_STREAM);
        if (r == -EPROTOTYPE)
                r = open_one(c, INGESTER_TRANSPORT_DGRAM);
        return r;
}

/*
 * Writes bytes [*off, size) of data, then a '\n' when nl, on a stream:
 * a partial write goes on where it stopped. Returns 0 when all is written,
 * else a negative errno with *off at what was.
 */
static int stream_write(IngesterClient *c, const char *data, size_t size, bool nl, size_t *off)
{
        size_t total = size + (nl ? 1 : 0);
        int flags = MSG_NOSIGNAL | ((c->flags & INGESTER_CLIENT_NONBLOCK) ? MSG_DONTWAIT : 0);

        while (*off < total) {
                struct iovec iov[2];
                struct msghdr msg = { .msg_iov = iov };
                ssize_t n;

                if (*off < size)
                        iov[msg.msg_iovlen++] =
                                (struct iovec){ (void *) (data + *off), size - *off };
                if (nl)
                        iov[msg.msg_iovlen++] = (struct iovec){ (void *) "\n", 1 };
                n = sendmsg(c->fd, &msg, flags);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                *off += (size_t) n;
        }
        return 0;
}

/* A non-blocking stream took part of a line: the handle keeps the rest. */
static int keep_pending(IngesterClient *c, const char *data, size_t size, bool nl, size_t off)
{
        char *p = malloc(size + 1);

        if (!p)
                return -ENOMEM;
        memcpy(p, data, size);
        if (nl)
                p[size++] = '\n';
        free(c->pending);
        c->pending = p;
        c->pending_len = size;
        c->pending_off = off;
        return 0;
}

/* Room for SCM_RIGHTS with INGESTER_MAX_FDS descriptors. */
typedef union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * INGESTER_MAX_FDS)];
} Rights;

/* msg carries fds (n of them, at most INGESTER_MAX_FDS) as SCM_RIGHTS in control. */
static void set_rights(struct msghdr *msg, Rights *control, const int *fds, size_t n)
{
        struct cmsghdr *cmsg;

        memset(control, 0, sizeof(*control));
        msg->msg_control = control->buf;
        msg->msg_controllen = CMSG_SPACE(sizeof(int) * n);
        cmsg = CMSG_FIRSTHDR(msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * n);
}

/*
 * A packet too large for the socket goes as a sealed memfd (doc/protocol.md
 * 1.6): journald's convention, an empty packet with the memfd alone, when
 * the event has no descriptors; else osbuild jsoncomm's, "<args-via-fd>"
 * with the memfd first and the event's descriptors after it.
 */
static int send_via_memfd(IngesterClient *c, const void *data, size_t size, const int *fds,
                          size_t n_fds, int flags)
{
        Rights control;
        int all[INGESTER_MAX_FDS];
        struct iovec iov;
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        size_t off = 0;
        int mfd, r = 0;

        if (n_fds + 1 > INGESTER_MAX_FDS)
                return -EMSGSIZE;
        mfd = memfd_create("ingester-event", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (mfd < 0)
                return -errno;
        while (off < size) {
                ssize_t n = write(mfd, (const char *) data + off, size - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        close_keep_errno(mfd);
                        return r;
                }
                off += (size_t) n;
        }
        if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
                r = -errno;
                close_keep_errno(mfd);
                return r;
        }
        all[0] = mfd;
        if (n_fds > 0)
                memcpy(all + 1, fds, sizeof(int) * n_fds);
        iov.iov_base = n_fds > 0 ? (void *) "<args-via-fd>" : (void *) "";
        iov.iov_len = n_fds > 0 ? strlen("<args-via-fd>") : 0;
        set_rights(&msg, &control, all, n_fds + 1);
        if (c->type == INGESTER_TRANSPORT_DGRAM_UNCONNECTED) {
                msg.msg_name = &c->addr;
                msg.msg_namelen = c->addr_len;
        }
        if (sendmsg(c->fd, &msg, flags) < 0)
                r = -errno;
        close_keep_errno(mfd);
        return r;
}

/* One event as one line on the stream, after what an earlier call left. */
static int stream_send(IngesterClient *c, const char *data, size_t size)
{
        bool nl = data[size - 1] != '\n';
        size_t off = 0;
        int r;

        if (c->pending) {
                r = stream_write(c, c->pending, c->pending_len, false, &c->pending_off);
                if (r < 0)
                        return r;
                free(c->pending);
                c->pending = NULL;
        }
        r = stream_write(c, data, size, nl, &off);
        if (r == -EAGAIN && off > 0)
                return keep_pending(c, data, size, nl, off);
        return r;
}

static int sleep_usec(uint64_t usec)
{
        struct timespec ts = {
                .tv_sec = (time_t) (usec / 1000000u),
                .tv_nsec = (long) (usec % 1000000u) * 1000L,
        };
        int r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);

        return r == 0 ? 0 : -r; /* clock_nanosleep returns the error */
}

/* After a reconnectable failure: either wait and return 0 (try again), or
 * return the error. @failures counts this call's failures (blocking mode). */
static int wait_for_retry(IngesterClient *c, int error, unsigned int *failures)
{
        if (c->flags & INGESTER_CLIENT_NONBLOCK) {
                if (c->max_retries > 0) {
                        c->next_attempt_usec = now_usec() + backoff_usec(c, c->failures);
                        if (c->failures < UINT_MAX)
                                c->failures++;
                }
                c->last_error = error;
                return error;
        }
        if (*failures >= c->max_retries)
                return error;
        (*failures)++;
        return sleep_usec(backoff_usec(c, *failures - 1));
}

static int connect_now(IngesterClient *c, unsigned int *failures)
{
        for (;;) {
                int r;

                if ((c->flags & INGESTER_CLIENT_NONBLOCK) && c->next_attempt_usec &&
                    now_usec() < c->next_attempt_usec)
                        return c->last_error;
                r = open_socket(c);
                if (r == 0) {
                        c->failures = 0;
                        c->next_attempt_usec = 0;
                        return 0;
                }
                if (!error_is_reconnectable(r))
                        return r;
                r = wait_for_retry(c, r, failures);
                if (r < 0)
                        return r;
        }
}

_public_ int ingester_client_connect(IngesterClient *c)
{
        unsigned int failures = 0;

        if (!c)
                return -EINVAL;
        if (c->fd >= 0)
                return 0;
        return connect_now(c, &failures);
}

_public_ int ingester_client_send(IngesterClient *c, const void *data, size_t size,
                                  const int *fds, size_t n_fds)
{
        Rights control;
        struct iovec iov = { .iov_base = (void *) data, .iov_len = size };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        int flags = MSG_NOSIGNAL;
        unsigned int failures = 0;
        bool fresh;

        if (!c || !data || size == 0 || n_fds > INGESTER_MAX_FDS || (n_fds > 0 && !fds))
                return -EINVAL;
        if (n_fds > 0)
                set_rights(&msg, &control, fds, n_fds);
        if (c->flags & INGESTER_CLIENT_NONBLOCK)
                flags |= MSG_DONTWAIT;

        fresh = c->fd < 0;
        for (;;) {
                int r = 0;

                if (c->fd < 0) {
                        r = connect_now(c, &failures);
                        if (r < 0)
                                return r;
                }
                if (c->type == INGESTER_TRANSPORT_DGRAM_UNCONNECTED) {
                        msg.msg_name = &c->addr;
                        msg.msg_namelen = c->addr_len;
                }
                if (c->type == INGESTER_TRANSPORT_STREAM) {
                        /* one line, no descriptors (AUTO learns it is a stream only here) */
                        if (n_fds > 0 || memchr(data, '\n', size - 1) ||
                            (size == 1 && *(const char *) data == '\n'))
                                return -EINVAL;
                        r = stream_send(c, data, size);
                        if (r == 0)
                                return 0;
                } else if (sendmsg(c->fd, &msg, flags) >= 0) {
                        return 0;
                } else {
                        r = -errno;
                        if (r == -EMSGSIZE) {
                                r = send_via_memfd(c, data, size, fds, n_fds, flags);
                                if (r == 0)
                                        return 0;
                        }
                }
                if (!error_is_reconnectable(r))
                        return r;
                /* The connection is stale (daemon restarted or gone). Nothing
                 * of this packet was sent, so sending it again is safe. */
                ingester_client_disconnect(c);
                if (!fresh) {
                        /* A connection from an earlier call may simply point at
                         * a daemon that has since been replaced: one immediate
                         * new connection, which is not counted as a retry. */
                        fresh = true;
                        continue;
                }
                r = wait_for_retry(c, r, &failures);
                if (r < 0)
                        return r;
        }
}

/* One answer into line (NUL-terminated), within the deadline (monotonic µs). */
static int read_answer(IngesterClient *c, char *line, size_t size, uint64_t deadline)
{
        for (;;) {
                struct pollfd p = { .fd = c->fd, .events = POLLIN };
                uint64_t now = now_usec();
                int ms = now >= deadline ? 0 : (int) ((deadline - now + 999) / 1000);
                ssize_t n;
                char *nl;

                if (c->type == INGESTER_TRANSPORT_STREAM &&
                    (nl = memchr(c->abuf, '\n', c->alen))) {
                        size_t k = (size_t) (nl - c->abuf);
                        size_t copy = k < size - 1 ? k : size - 1;
                        memcpy(line, c->abuf, copy);
                        line[copy] = '\0';
                        memmove(c->abuf, nl + 1, c->alen - k - 1);
                        c->alen -= k + 1;
                        return 0;
                }
                n = poll(&p, 1, ms);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -ETIMEDOUT;
                if (c->type == INGESTER_TRANSPORT_STREAM) {
                        if (c->alen == sizeof(c->abuf))
                                c->alen = 0; /* no answer is that long: start over */
                        n = recv(c->fd, c->abuf + c->alen, sizeof(c->abuf) - c->alen, MSG_DONTWAIT);
                } else {
                        n = recv(c->fd, line, size - 1, MSG_DONTWAIT);
                }
                if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -ECONNRESET; /* the daemon closed the connection */
                if (c->type == INGESTER_TRANSPORT_STREAM) {
                        c->alen += (size_t) n;
                        continue;
                }
                line[n] = '\0';
                return 0;
        }
}

_public_ int ingester_client_send_wait(IngesterClient *c, const void *data, size_t size,
                                       const int *fds, size_t n_fds, int timeout_ms,
                                       uint64_t *ret_seq, char *reason, size_t reason_size)
{
        uint64_t deadline, want;
        int r;

        /* waiting is what this call is for: a non-blocking handle would have to keep
         * a partial line of a stream across calls while it waits for its answer */
        if (!c || timeout_ms < 0 || (c->flags & INGESTER_CLIENT_NONBLOCK))
                return -EINVAL;
        if (!c->want_ack) {
                /* from now on every connection asks for answers; this one too */
                c->want_ack = true;
                ingester_client_disconnect(c);
        }
        r = ingester_client_send(c, data, size, fds, n_fds);
        if (r < 0)
                return r;
        if (c->type != INGESTER_TRANSPORT_SEQPACKET && c->type != INGESTER_TRANSPORT_STREAM)
                return -EOPNOTSUPP; /* sent, but a datagram socket cannot answer */
        want = ++c->ack_next;
        deadline = now_usec() + (uint64_t) timeout_ms * 1000u;
        for (;;) {
                char line[256], what[16] = "", detail[128] = "";
                unsigned long long n = 0;

                r = read_answer(c, line, sizeof(line), deadline);
                if (r < 0)
                        return r;
                if (sscanf(line, "%llu %15s %127s", &n, what, detail) < 2 || n != want)
                        continue; /* an earlier event's, or not an answer */
                if (strcmp(what, "ok") == 0) {
                        if (ret_seq)
                                *ret_seq = strtoull(detail, NULL, 10);
                        return 0;
                }
                if (reason && reason_size > 0)
                        snprintf(reason, reason_size, "%s", strcmp(what, "refused") == 0 ? detail : what);
                return strcmp(what, "refused") == 0 ? -EBADMSG : -ENOBUFS;
        }
}

_public_ int ingester_client_get_fd(const IngesterClient *c)
{
        return c ? c->fd : -1;
}

_public_ IngesterTransport ingester_client_get_transport(const IngesterClient *c)
{
        return c ? c->type : INGESTER_TRANSPORT_AUTO;
}

_public_ const char *ingester_client_get_path(const IngesterClient *c)
{
        return c ? c->addr.sun_path : NULL;
}

_public_ unsigned long ingester_client_get_reconnects(const IngesterClient *c)
{
        return c && c->connections > 0 ? c->connections - 1 : 0;
}

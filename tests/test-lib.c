/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-lib.c — libingester against real sockets: first against plain
 * sockets this test binds itself (so every kernel answer the header
 * documents can be provoked on purpose), then against the built ingesterd on
 * a private bus.
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib/gstdio.h>
#include <ingester/ingester.h>
#include <math.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cunit-tap.h"
#include "harness.h"
#include "util.h"

static char *dir;
static unsigned counter;

static void setup(void)
{
        g_autofree char *top = harness_tmpdir();
        dir = g_strdup_printf("%s/t%u", top, ++counter);
        g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
}

static void teardown(void)
{
        g_autofree char *top = g_path_get_dirname(dir);
        harness_rmtree(top);
        g_clear_pointer(&dir, g_free);
}

static char *path_in(const char *name)
{
        return g_build_filename(dir, name, NULL);
}

/* A socket of @type bound at @path (listening, for seqpacket). */
static int server_bind(const char *path, int type)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        if (type == SOCK_SEQPACKET || type == SOCK_STREAM)
                g_assert_cmpint(listen(fd, 16), ==, 0);
        return fd;
}

static int server_accept(int lfd)
{
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        return fd;
}

/* Receives one packet into buf (NUL-terminated); returns its length, and the fds that came. */
static ssize_t server_recv(int fd, char *buf, size_t size, int *fds, size_t *n_fds)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 16)];
        } control;
        struct iovec iov = { buf, size - 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                              .msg_controllen = sizeof(control.buf) };
        ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);

        *n_fds = 0;
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        *n_fds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        memcpy(fds, CMSG_DATA(c), *n_fds * sizeof(int));
                }
        return n;
}

static void expect_packet(int fd, const char *want)
{
        char buf[256];
        int fds[16];
        size_t n_fds;

        CU_ASSERT_EQUAL(server_recv(fd, buf, sizeof(buf), fds, &n_fds), (ssize_t) strlen(want));
        CU_ASSERT_STRING_EQUAL(buf, want);
        CU_ASSERT_EQUAL(n_fds, 0);
}

static IngesterClient *client_new(const char *path, IngesterTransport t, unsigned flags)
{
        IngesterClient *c = NULL;
        g_assert_cmpint(ingester_client_new(&c, path, t, flags), ==, 0);
        return c;
}

static gint64 elapsed_ms(gint64 since_usec)
{
        return (g_get_monotonic_time() - since_usec) / 1000;
}

/* ---- finding the socket ---- */

static void test_auto_detects_seqpacket(void)
{
        g_autofree char *path = path_in("s.sock");
        _cleanup_close_ int lfd = server_bind(path, SOCK_SEQPACKET), afd = -1;
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_AUTO, 0);

        CU_ASSERT_EQUAL(ingester_client_get_transport(c), INGESTER_TRANSPORT_AUTO);
        CU_ASSERT_EQUAL(ingester_client_connect(c), 0);
        CU_ASSERT_EQUAL(ingester_client_get_transport(c), INGESTER_TRANSPORT_SEQPACKET);
        afd = server_accept(lfd);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{\"a\":1}", 7, NULL, 0), 0);
        expect_packet(afd, "{\"a\":1}");
        ingester_client_free(c);
}

static void test_auto_falls_back_to_dgram(void)
{
        g_autofree char *path = path_in("d.sock");
        _cleanup_close_ int sfd = server_bind(path, SOCK_DGRAM);
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_AUTO, 0);

        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, NULL, 0), 0);
        CU_ASSERT_EQUAL(ingester_client_get_transport(c), INGESTER_TRANSPORT_DGRAM);
        expect_packet(sfd, "{}");
        ingester_client_free(c);
}

static void test_forced_transport_of_the_other_type_is_eprototype(void)
{
        g_autofree char *seq = path_in("s.sock"), *dg = path_in("d.sock");
        _cleanup_close_ int lfd = server_bind(seq, SOCK_SEQPACKET);
        _cleanup_close_ int sfd = server_bind(dg, SOCK_DGRAM);
        IngesterClient *a = client_new(seq, INGESTER_TRANSPORT_DGRAM, 0);
        IngesterClient *b = client_new(dg, INGESTER_TRANSPORT_SEQPACKET, 0);

        CU_ASSERT_EQUAL(ingester_client_connect(a), -EPROTOTYPE);
        CU_ASSERT_EQUAL(ingester_client_send(b, "{}", 2, NULL, 0), -EPROTOTYPE);
        CU_ASSERT_EQUAL(ingester_client_get_fd(a), -1);
        CU_ASSERT_EQUAL(ingester_client_get_fd(b), -1);
        ingester_client_free(a);
        ingester_client_free(b);
}

static void test_missing_socket_is_enoent(void)
{
        g_autofree char *path = path_in("none.sock");
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_AUTO, 0);

        CU_ASSERT_EQUAL(ingester_client_connect(c), -ENOENT);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, NULL, 0), -ENOENT);
        CU_ASSERT_EQUAL(ingester_client_get_reconnects(c), 0);
        ingester_client_free(c);
}

static void test_stale_socket_is_econnrefused(void)
{
        g_autofree char *seq = path_in("s.sock"), *dg = path_in("d.sock");
        IngesterClient *a, *b;

        /* bound, then closed: the file stays, nobody listens */
        close(server_bind(seq, SOCK_SEQPACKET));
        close(server_bind(dg, SOCK_DGRAM));
        a = client_new(seq, INGESTER_TRANSPORT_AUTO, 0);
        b = client_new(dg, INGESTER_TRANSPORT_DGRAM_UNCONNECTED, 0);
        CU_ASSERT_EQUAL(ingester_client_connect(a), -ECONNREFUSED);
        CU_ASSERT_EQUAL(ingester_client_send(b, "{}", 2, NULL, 0), -ECONNREFUSED);
        ingester_client_free(a);
        ingester_client_free(b);
}

static void test_default_path_follows_the_environment(void)
{
        g_autofree char *run = path_in("ingester");
        g_autofree char *seq = g_build_filename(run, "seqpacket.sock", NULL);
        g_autofree char *dg = g_build_filename(run, "dgram.sock", NULL);
        g_autofree char *old_sock = g_strdup(g_getenv("INGESTER_SOCKET"));
        g_autofree char *old_xdg = g_strdup(g_getenv("XDG_RUNTIME_DIR"));
        IngesterClient *c;

        g_setenv("INGESTER_SOCKET", "/some/where.sock", TRUE);
        c = client_new(NULL, INGESTER_TRANSPORT_DGRAM, 0);
        CU_ASSERT_STRING_EQUAL(ingester_client_get_path(c), "/some/where.sock");
        ingester_client_free(c);

        g_setenv("INGESTER_SOCKET", "", TRUE); /* empty counts as unset */
        g_setenv("XDG_RUNTIME_DIR", dir, TRUE);
        c = client_new(NULL, INGESTER_TRANSPORT_AUTO, 0);
        CU_ASSERT_STRING_EQUAL(ingester_client_get_path(c), dg); /* no seqpacket socket */
        ingester_client_free(c);
        c = client_new(NULL, INGESTER_TRANSPORT_SEQPACKET, 0);
        CU_ASSERT_STRING_EQUAL(ingester_client_get_path(c), seq);
        ingester_client_free(c);

        g_assert_cmpint(g_mkdir(run, 0700), ==, 0);
        close(server_bind(seq, SOCK_SEQPACKET));
        c = client_new(NULL, INGESTER_TRANSPORT_AUTO, 0);
        CU_ASSERT_STRING_EQUAL(ingester_client_get_path(c), seq); /* it exists now */
        ingester_client_free(c);
        c = client_new(NULL, INGESTER_TRANSPORT_DGRAM_UNCONNECTED, 0);
        CU_ASSERT_STRING_EQUAL(ingester_client_get_path(c), dg);
        ingester_client_free(c);

        old_sock ? g_setenv("INGESTER_SOCKET", old_sock, TRUE) : g_unsetenv("INGESTER_SOCKET");
        old_xdg ? g_setenv("XDG_RUNTIME_DIR", old_xdg, TRUE) : g_unsetenv("XDG_RUNTIME_DIR");
}

/* ---- sending ---- */

static void test_descriptors_arrive_as_duplicates(void)
{
        g_autofree char *path = path_in("d.sock");
        _cleanup_close_ int sfd = server_bind(path, SOCK_DGRAM);
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_AUTO, 0);
        int p[2], got[16];
        size_t n_got = 0;
        char buf[64];

        g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{\"f\":1}", 7, (int[]){ p[0], p[1] }, 2), 0);
        CU_ASSERT_EQUAL(server_recv(sfd, buf, sizeof(buf), got, &n_got), 7);
        CU_ASSERT_EQUAL(n_got, 2);
        if (n_got == 2) {
                /* the received write end feeds the caller's read end: same pipe */
                CU_ASSERT_EQUAL(write(got[1], "x", 1), 1);
                CU_ASSERT_EQUAL(read(p[0], buf, 1), 1);
                close_many(got, 2);
        }
        /* the caller's descriptors stay open */
        CU_ASSERT_NOT_EQUAL(fcntl(p[0], F_GETFD), -1);
        CU_ASSERT_NOT_EQUAL(fcntl(p[1], F_GETFD), -1);
        close_many(p, 2);
        ingester_client_free(c);
}

static void test_the_kernel_maximum_of_descriptors_is_sent(void)
{
        g_autofree char *path = path_in("d.sock");
        _cleanup_close_ int sfd = server_bind(path, SOCK_DGRAM);
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_AUTO, 0);
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * (INGESTER_MAX_FDS + 1))];
        } control;
        char buf[8];
        struct iovec iov = { buf, sizeof(buf) };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                              .msg_controllen = sizeof(control.buf) };
        int fds[INGESTER_MAX_FDS];
        size_t got = 0;

        for (size_t i = 0; i < G_N_ELEMENTS(fds); i++)
                fds[i] = sfd;
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, fds, INGESTER_MAX_FDS), 0);
        CU_ASSERT_EQUAL(recvmsg(sfd, &msg, MSG_CMSG_CLOEXEC), 2);
        CU_ASSERT_FALSE(msg.msg_flags & MSG_CTRUNC);
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
                if (cm->cmsg_type == SCM_RIGHTS) {
                        got = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        close_many((int *) CMSG_DATA(cm), got);
                }
        CU_ASSERT_EQUAL(got, INGESTER_MAX_FDS);
        /* one more is refused before anything is sent (bad_arguments_are_einval) */
        ingester_client_free(c);
}

static void test_closed_descriptor_is_ebadf(void)
{
        g_autofree char *path = path_in("d.sock");
        _cleanup_close_ int sfd = server_bind(path, SOCK_DGRAM);
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_AUTO, 0);
        int fd = 1000; /* the socket the send opens would reuse a just-closed number */

        g_assert_cmpint(fcntl(fd, F_GETFD), ==, -1);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, &fd, 1), -EBADF);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, NULL, 0), 0); /* still usable */
        expect_packet(sfd, "{}");
        ingester_client_free(c);
}

static void test_bad_arguments_are_einval(void)
{
        g_autofree char *path = path_in("d.sock");
        _cleanup_close_ int sfd = server_bind(path, SOCK_DGRAM);
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_AUTO, 0), *none = NULL;
        int fds[INGESTER_MAX_FDS + 1];
        char long_path[200];

        for (size_t i = 0; i < G_N_ELEMENTS(fds); i++)
                fds[i] = sfd;
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 0, NULL, 0), -EINVAL);
        CU_ASSERT_EQUAL(ingester_client_send(c, NULL, 2, NULL, 0), -EINVAL);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, NULL, 1), -EINVAL);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, fds, G_N_ELEMENTS(fds)), -EINVAL);
        CU_ASSERT_EQUAL(ingester_client_send(NULL, "{}", 2, NULL, 0), -EINVAL);
        CU_ASSERT_EQUAL(ingester_client_set_retry(c, 3, 0, 2.0, 100), -EINVAL);
        CU_ASSERT_EQUAL(ingester_client_set_retry(c, 3, 100, 0.5, 100), -EINVAL);
        CU_ASSERT_EQUAL(ingester_client_set_retry(c, 3, 100, NAN, 100), -EINVAL);
        CU_ASSERT_EQUAL(ingester_client_set_retry(c, 3, 100, 2.0, 50), -EINVAL);
        CU_ASSERT_EQUAL(ingester_client_set_retry(c, 0, 0, 1.0, 0), 0);
        CU_ASSERT_EQUAL(ingester_client_new(&none, path, (IngesterTransport) 9, 0), -EINVAL);
        CU_ASSERT_EQUAL(ingester_client_new(&none, path, INGESTER_TRANSPORT_AUTO, 2), -EINVAL);
        CU_ASSERT_EQUAL(ingester_client_new(&none, "", INGESTER_TRANSPORT_AUTO, 0), -EINVAL);
        memset(long_path, 'a', sizeof(long_path) - 1);
        long_path[sizeof(long_path) - 1] = '\0';
        CU_ASSERT_EQUAL(ingester_client_new(&none, long_path, INGESTER_TRANSPORT_AUTO, 0),
                        -ENAMETOOLONG);
        CU_ASSERT_PTR_NULL(none);
        /* nothing reached the socket; a good packet still does */
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, NULL, 0), 0);
        expect_packet(sfd, "{}");
        CU_ASSERT_PTR_NULL(ingester_client_free(c));
        CU_ASSERT_PTR_NULL(ingester_client_free(NULL));
}

/* Reads the memfd fd holds: its seals and its bytes. */
static char *memfd_contents(int fd, size_t *ret_len, int *ret_seals)
{
        struct stat st;
        char *buf;

        g_assert_cmpint(fstat(fd, &st), ==, 0);
        *ret_seals = fcntl(fd, F_GET_SEALS);
        buf = g_malloc((size_t) st.st_size + 1);
        g_assert_cmpint(pread(fd, buf, (size_t) st.st_size, 0), ==, st.st_size);
        buf[st.st_size] = '\0';
        *ret_len = (size_t) st.st_size;
        return buf;
}

/*
 * A packet the socket refuses as too large goes as a sealed memfd: alone
 * in an empty packet (journald's convention), or first before the event's
 * own descriptors under "<args-via-fd>" (jsoncomm's). Only when even that
 * cannot be (no room for one more descriptor) is it -EMSGSIZE.
 */
static void test_oversized_packet_goes_as_a_sealed_memfd(void)
{
        const int sealed = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;
        g_autofree char *path = path_in("d.sock");
        _cleanup_close_ int sfd = server_bind(path, SOCK_DGRAM);
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_AUTO, 0);
        size_t big = 8u << 20; /* beyond any AF_UNIX send buffer */
        g_autofree char *buf = g_malloc(big);
        g_autofree char *rbuf = g_malloc(64);
        int fds[INGESTER_MAX_FDS], got[16], seals = 0, devnull = open("/dev/null", O_RDONLY);
        size_t n_got = 0, len = 0;

        memset(buf, 'x', big);
        buf[0] = '{';
        CU_ASSERT_EQUAL(ingester_client_send(c, buf, big, NULL, 0), 0);
        CU_ASSERT_EQUAL(server_recv(sfd, rbuf, 64, got, &n_got), 0);
        CU_ASSERT_EQUAL_FATAL(n_got, 1);
        {
                g_autofree char *in = memfd_contents(got[0], &len, &seals);
                CU_ASSERT_EQUAL(len, big);
                CU_ASSERT_TRUE(memcmp(in, buf, big) == 0);
                CU_ASSERT_EQUAL(seals & sealed, sealed);
        }
        close(got[0]);

        CU_ASSERT_EQUAL(ingester_client_send(c, buf, big, &devnull, 1), 0);
        CU_ASSERT_EQUAL(server_recv(sfd, rbuf, 64, got, &n_got), 13);
        CU_ASSERT_STRING_EQUAL(rbuf, "<args-via-fd>");
        CU_ASSERT_EQUAL_FATAL(n_got, 2);
        {
                g_autofree char *in = memfd_contents(got[0], &len, &seals);
                struct stat a, b;
                CU_ASSERT_EQUAL(len, big);
                CU_ASSERT_EQUAL(fstat(got[1], &a), 0);
                CU_ASSERT_EQUAL(fstat(devnull, &b), 0);
                CU_ASSERT_TRUE(a.st_rdev == b.st_rdev && S_ISCHR(a.st_mode)); /* /dev/null */
        }
        close(got[0]);
        close(got[1]);

        for (int i = 0; i < INGESTER_MAX_FDS; i++)
                fds[i] = devnull;
        CU_ASSERT_EQUAL(ingester_client_send(c, buf, big, fds, INGESTER_MAX_FDS), -EMSGSIZE);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, NULL, 0), 0);
        expect_packet(sfd, "{}");
        close(devnull);
        ingester_client_free(c);
}

static void test_socket_is_cloexec_and_a_closed_peer_is_epipe_not_sigpipe(void)
{
        g_autofree char *path = path_in("s.sock");
        _cleanup_close_ int lfd = server_bind(path, SOCK_SEQPACKET);
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_SEQPACKET, 0);

        CU_ASSERT_EQUAL(ingester_client_connect(c), 0);
        CU_ASSERT_TRUE(fcntl(ingester_client_get_fd(c), F_GETFD) & FD_CLOEXEC);
        close(server_accept(lfd));
        /* SIGPIPE keeps its default action (terminate) here: only MSG_NOSIGNAL
         * keeps this process alive. The listener is gone too, so the one
         * immediate reconnect finds nobody. */
        lfd = safe_close(lfd);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, NULL, 0), -ECONNREFUSED);
        CU_ASSERT_EQUAL(ingester_client_get_fd(c), -1);
        ingester_client_free(c);
}

static void test_connection_closed_by_the_server_is_replaced_once(void)
{
        g_autofree char *path = path_in("s.sock");
        _cleanup_close_ int lfd = server_bind(path, SOCK_SEQPACKET), afd = -1;
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_SEQPACKET, 0);

        /* The server drops a connection made by an earlier call: the packet
         * goes over one new connection, with no retry policy set. */
        CU_ASSERT_EQUAL(ingester_client_connect(c), 0);
        close(server_accept(lfd));
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, NULL, 0), 0);
        CU_ASSERT_EQUAL(ingester_client_get_reconnects(c), 1);
        afd = server_accept(lfd);
        expect_packet(afd, "{}");
        ingester_client_free(c);
}

static void test_full_queue_is_eagain_when_nonblocking(void)
{
        g_autofree char *path = path_in("d.sock");
        _cleanup_close_ int sfd = server_bind(path, SOCK_DGRAM);
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_DGRAM, INGESTER_CLIENT_NONBLOCK);
        struct pollfd p = { .events = POLLOUT };
        char buf[64];
        int fds[16], r = 0, sent = 0;
        size_t n_fds;

        while (sent < 100000 && (r = ingester_client_send(c, "{}", 2, NULL, 0)) == 0)
                sent++;
        CU_ASSERT_EQUAL(r, -EAGAIN);
        CU_ASSERT_TRUE(sent > 0);
        p.fd = ingester_client_get_fd(c);
        CU_ASSERT_EQUAL(poll(&p, 1, 0), 0); /* not writable while full */
        CU_ASSERT_EQUAL(server_recv(sfd, buf, sizeof(buf), fds, &n_fds), 2);
        CU_ASSERT_EQUAL(poll(&p, 1, 5000), 1); /* room again */
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, NULL, 0), 0);
        ingester_client_free(c);
}

/* ---- streams ---- */

/* Everything the server can read from fd within 200 ms of quiet, appended to out. */
static void read_stream_into(int fd, GString *out)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char buf[65536];

        while (poll(&p, 1, 200) == 1) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n <= 0)
                        break;
                g_string_append_len(out, buf, n);
        }
}

/* AUTO finds a stream socket; each event is one line, the newline added
 * only when missing; a '\n' inside an event, or descriptors, are -EINVAL. */
static void test_stream_one_line_per_event(void)
{
        g_autofree char *path = path_in("st.sock");
        _cleanup_close_ int lfd = server_bind(path, SOCK_STREAM), afd = -1;
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_AUTO, 0);
        g_autoptr(GString) got = g_string_new(NULL);
        int fd = 0;

        CU_ASSERT_EQUAL(ingester_client_connect(c), 0);
        CU_ASSERT_EQUAL(ingester_client_get_transport(c), INGESTER_TRANSPORT_STREAM);
        afd = server_accept(lfd);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{\"a\":1}", 7, NULL, 0), 0);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{\"b\":2}\n", 8, NULL, 0), 0);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{\"c\":\n3}", 8, NULL, 0), -EINVAL);
        CU_ASSERT_EQUAL(ingester_client_send(c, "\n", 1, NULL, 0), -EINVAL);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, &fd, 1), -EINVAL);
        read_stream_into(afd, got);
        CU_ASSERT_STRING_EQUAL(got->str, "{\"a\":1}\n{\"b\":2}\n");
        ingester_client_free(c);
}

/*
 * Non-blocking: a line the kernel takes only in part is finished by the
 * next call (-EAGAIN while it cannot be), so the reader sees whole lines,
 * each once, in order, whatever the buffer sizes.
 */
static void test_stream_nonblocking_never_splits_a_line(void)
{
        g_autofree char *path = path_in("st.sock");
        _cleanup_close_ int lfd = server_bind(path, SOCK_STREAM), afd = -1;
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_STREAM, INGESTER_CLIENT_NONBLOCK);
        g_autoptr(GString) got = g_string_new(NULL), want = g_string_new(NULL);
        /* lines longer than what one write takes at once (half the send buffer) */
        g_autofree char *pad = g_strnfill(300000, 'x');
        int sent = 0, again = 0;

        CU_ASSERT_EQUAL(ingester_client_connect(c), 0);
        afd = server_accept(lfd);
        while (sent < 20) {
                g_autofree char *line = g_strdup_printf("{\"i\":%d,\"p\":\"%s\"}", sent, pad);
                int r = ingester_client_send(c, line, strlen(line), NULL, 0);
                if (r == -EAGAIN) {
                        again++;
                        read_stream_into(afd, got); /* the reader catches up */
                        continue;
                }
                CU_ASSERT_EQUAL_FATAL(r, 0);
                g_string_append_printf(want, "%s\n", line);
                sent++;
        }
        /* one more call finishes what the last one may have left */
        while (ingester_client_send(c, "{\"end\":1}", 9, NULL, 0) == -EAGAIN)
                read_stream_into(afd, got);
        g_string_append(want, "{\"end\":1}\n");
        read_stream_into(afd, got);
        printf("# %d sends met a full socket\n", again);
        CU_ASSERT_TRUE(again > 0); /* the socket did fill up */
        CU_ASSERT_EQUAL(got->len, want->len);
        CU_ASSERT_TRUE(strcmp(got->str, want->str) == 0);
        ingester_client_free(c);
}

/* ---- reconnecting ---- */

static void restart_server_and_send(IngesterTransport t, int type, unsigned long want_reconnects)
{
        g_autofree char *path = path_in("x.sock");
        _cleanup_close_ int s1 = server_bind(path, type), s2 = -1, a1 = -1, a2 = -1;
        IngesterClient *c = client_new(path, t, 0);

        CU_ASSERT_EQUAL(ingester_client_send(c, "{\"n\":1}", 7, NULL, 0), 0);
        if (type == SOCK_SEQPACKET)
                a1 = server_accept(s1);
        expect_packet(a1 >= 0 ? a1 : s1, "{\"n\":1}");

        /* the daemon restarts: old socket closed and unlinked, a new one bound */
        a1 = safe_close(a1);
        s1 = safe_close(s1);
        g_assert_cmpint(unlink(path), ==, 0);
        s2 = server_bind(path, type);

        CU_ASSERT_EQUAL(ingester_client_send(c, "{\"n\":2}", 7, NULL, 0), 0);
        if (type == SOCK_SEQPACKET)
                a2 = server_accept(s2);
        expect_packet(a2 >= 0 ? a2 : s2, "{\"n\":2}");
        CU_ASSERT_EQUAL(ingester_client_get_reconnects(c), want_reconnects);
        ingester_client_free(c);
}

static void test_restarted_seqpacket_server_is_reached_again(void)
{
        restart_server_and_send(INGESTER_TRANSPORT_SEQPACKET, SOCK_SEQPACKET, 1);
}

static void test_restarted_dgram_server_is_reached_again(void)
{
        restart_server_and_send(INGESTER_TRANSPORT_AUTO, SOCK_DGRAM, 1);
}

static void test_unconnected_dgram_follows_the_path_without_reconnecting(void)
{
        restart_server_and_send(INGESTER_TRANSPORT_DGRAM_UNCONNECTED, SOCK_DGRAM, 0);
}

static void test_retries_wait_with_growing_backoff_then_give_up(void)
{
        g_autofree char *path = path_in("none.sock");
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_AUTO, 0);
        gint64 start;

        CU_ASSERT_EQUAL(ingester_client_set_retry(c, 3, 20, 2.0, 1000), 0);
        start = g_get_monotonic_time();
        CU_ASSERT_EQUAL(ingester_client_connect(c), -ENOENT);
        CU_ASSERT_TRUE(elapsed_ms(start) >= 20 + 40 + 80);
        ingester_client_free(c);
}

static void test_retry_wait_is_capped(void)
{
        g_autofree char *path = path_in("none.sock");
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_AUTO, 0);
        gint64 start, took;

        /* uncapped this would wait 20 + 200 + 2000 ms */
        CU_ASSERT_EQUAL(ingester_client_set_retry(c, 3, 20, 10.0, 30), 0);
        start = g_get_monotonic_time();
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, NULL, 0), -ENOENT);
        took = elapsed_ms(start);
        CU_ASSERT_TRUE(took >= 20 + 30 + 30);
        CU_ASSERT_TRUE(took < 2000);
        ingester_client_free(c);
}

static gpointer bind_later(gpointer path)
{
        g_usleep(150 * 1000);
        return GINT_TO_POINTER(server_bind(path, SOCK_DGRAM));
}

static void test_server_appearing_during_retries_gets_the_packet(void)
{
        g_autofree char *path = path_in("late.sock");
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_AUTO, 0);
        GThread *t;
        _cleanup_close_ int sfd = -1;

        CU_ASSERT_EQUAL(ingester_client_set_retry(c, INGESTER_RETRY_FOREVER, 10, 1.5, 50), 0);
        t = g_thread_new("bind-later", bind_later, path);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{\"late\":1}", 10, NULL, 0), 0);
        sfd = GPOINTER_TO_INT(g_thread_join(t));
        expect_packet(sfd, "{\"late\":1}");
        ingester_client_free(c);
}

static void test_nonblocking_retries_are_spaced_not_slept(void)
{
        g_autofree char *path = path_in("nb.sock");
        IngesterClient *c = client_new(path, INGESTER_TRANSPORT_AUTO, INGESTER_CLIENT_NONBLOCK);
        _cleanup_close_ int sfd = -1;
        gint64 start = g_get_monotonic_time();

        CU_ASSERT_EQUAL(ingester_client_set_retry(c, 1, 300, 2.0, 300), 0);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, NULL, 0), -ENOENT);
        sfd = server_bind(path, SOCK_DGRAM);
        /* the socket is there now, but the next attempt is not due yet */
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, NULL, 0), -ENOENT);
        CU_ASSERT_TRUE(elapsed_ms(start) < 300);
        g_usleep(350 * 1000);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{}", 2, NULL, 0), 0);
        expect_packet(sfd, "{}");
        ingester_client_free(c);
}

/* ---- against ingesterd ---- */

static TestSuite suite;

static int daemon_suite_init(void)
{
        return testsuite_init(&suite);
}

static int daemon_suite_cleanup(void)
{
        return testsuite_cleanup(&suite);
}

static TestDaemon *start_daemon(void)
{
        TestDaemon *d = testdaemon_start(&suite.bus, dir, NULL, 0);
        g_assert_nonnull(d);
        return d;
}

/* The next Event within 5 s; ends the test when there is none. */
static GDBusMessage *next_event(TestDaemon *d)
{
        GDBusMessage *m = testdaemon_next_event(d, 5000);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        return m;
}

static const char *event_type(GDBusMessage *m)
{
        g_autoptr(GVariant) t = g_variant_get_child_value(g_dbus_message_get_body(m), 0);
        return g_intern_string(g_variant_get_string(t, NULL));
}

static const char *event_transport(GDBusMessage *m)
{
        g_autoptr(GVariant) meta = g_variant_get_child_value(g_dbus_message_get_body(m), 2);
        const char *s = NULL;
        g_variant_lookup(meta, "transport", "&s", &s);
        return g_intern_string(s);
}

static void test_each_transport_reaches_the_bus(void)
{
        TestDaemon *d = start_daemon();
        static const struct {
                IngesterTransport t;
                const char *type, *transport;
        } cases[] = {
                { INGESTER_TRANSPORT_AUTO, "via-auto", "seqpacket" },
                { INGESTER_TRANSPORT_DGRAM, "via-dgram", "dgram" },
                { INGESTER_TRANSPORT_DGRAM_UNCONNECTED, "via-unconnected", "dgram" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                const char *path = cases[i].t == INGESTER_TRANSPORT_AUTO ? d->seq_path : d->dgram_path;
                IngesterClient *c = client_new(path, cases[i].t, 0);
                g_autofree char *json = g_strdup_printf("{\"type\":\"%s\"}", cases[i].type);
                g_autoptr(GDBusMessage) m = NULL;

                CU_ASSERT_EQUAL(ingester_client_send(c, json, strlen(json), NULL, 0), 0);
                m = next_event(d);
                CU_ASSERT_STRING_EQUAL(event_type(m), cases[i].type);
                CU_ASSERT_STRING_EQUAL(event_transport(m), cases[i].transport);
                ingester_client_free(c);
        }
        testdaemon_free(d);
}

static void test_descriptor_reaches_the_subscriber(void)
{
        TestDaemon *d = start_daemon();
        IngesterClient *c = client_new(d->seq_path, INGESTER_TRANSPORT_AUTO, 0);
        g_autoptr(GDBusMessage) m = NULL;
        int p[2];
        char ch = 0;

        g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
        CU_ASSERT_EQUAL(ingester_client_send(c, "{\"type\":\"fd\"}", 13, &p[1], 1), 0);
        m = next_event(d);
        CU_ASSERT_PTR_NOT_NULL_FATAL(g_dbus_message_get_unix_fd_list(m));
        CU_ASSERT_EQUAL_FATAL(g_unix_fd_list_get_length(g_dbus_message_get_unix_fd_list(m)), 1);
        {
                _cleanup_close_ int w = g_unix_fd_list_get(g_dbus_message_get_unix_fd_list(m), 0, NULL);
                CU_ASSERT_EQUAL(write(w, "z", 1), 1);
        }
        CU_ASSERT_EQUAL(read(p[0], &ch, 1), 1);
        CU_ASSERT_EQUAL(ch, 'z');
        close_many(p, 2);
        ingester_client_free(c);
        testdaemon_free(d);
}

static void test_one_handle_outlives_a_daemon_restart(void)
{
        TestDaemon *d = start_daemon();
        IngesterClient *c = client_new(d->seq_path, INGESTER_TRANSPORT_AUTO, 0);
        g_autoptr(GDBusMessage) m1 = NULL, m2 = NULL;

        CU_ASSERT_EQUAL(ingester_client_send(c, "{\"type\":\"before\"}", 17, NULL, 0), 0);
        m1 = next_event(d);
        CU_ASSERT_EQUAL(testdaemon_stop(d), 0);
        testdaemon_free(d);

        d = start_daemon();
        CU_ASSERT_EQUAL(ingester_client_send(c, "{\"type\":\"after\"}", 16, NULL, 0), 0);
        m2 = next_event(d);
        CU_ASSERT_STRING_EQUAL(event_type(m2), "after");
        CU_ASSERT_EQUAL(ingester_client_get_reconnects(c), 1);
        ingester_client_free(c);
        testdaemon_free(d);
}

int main(void)
{
        static const TapTest socket_tests[] = {
                TAP_TEST(auto_detects_seqpacket),
                TAP_TEST(auto_falls_back_to_dgram),
                TAP_TEST(stream_one_line_per_event),
                TAP_TEST(stream_nonblocking_never_splits_a_line),
                TAP_TEST(forced_transport_of_the_other_type_is_eprototype),
                TAP_TEST(missing_socket_is_enoent),
                TAP_TEST(stale_socket_is_econnrefused),
                TAP_TEST(default_path_follows_the_environment),
                TAP_TEST(descriptors_arrive_as_duplicates),
                TAP_TEST(the_kernel_maximum_of_descriptors_is_sent),
                TAP_TEST(closed_descriptor_is_ebadf),
                TAP_TEST(bad_arguments_are_einval),
                TAP_TEST(oversized_packet_goes_as_a_sealed_memfd),
                TAP_TEST(socket_is_cloexec_and_a_closed_peer_is_epipe_not_sigpipe),
                TAP_TEST(connection_closed_by_the_server_is_replaced_once),
                TAP_TEST(full_queue_is_eagain_when_nonblocking),
                { NULL, NULL },
        };
        static const TapTest reconnect_tests[] = {
                TAP_TEST(restarted_seqpacket_server_is_reached_again),
                TAP_TEST(restarted_dgram_server_is_reached_again),
                TAP_TEST(unconnected_dgram_follows_the_path_without_reconnecting),
                TAP_TEST(retries_wait_with_growing_backoff_then_give_up),
                TAP_TEST(retry_wait_is_capped),
                TAP_TEST(server_appearing_during_retries_gets_the_packet),
                TAP_TEST(nonblocking_retries_are_spaced_not_slept),
                { NULL, NULL },
        };
        static const TapTest daemon_tests[] = {
                TAP_TEST(each_transport_reaches_the_bus),
                TAP_TEST(descriptor_reaches_the_subscriber),
                TAP_TEST(one_handle_outlives_a_daemon_restart),
                { NULL, NULL },
        };

        tap_add_suite_full("lib-socket", NULL, NULL, setup, teardown, socket_tests);
        tap_add_suite_full("lib-reconnect", NULL, NULL, setup, teardown, reconnect_tests);
        tap_add_suite_full("lib-daemon", daemon_suite_init, daemon_suite_cleanup, setup, teardown,
                           daemon_tests);
        return tap_run();
}

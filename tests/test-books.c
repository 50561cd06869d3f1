/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-books.c — every attempt accounted for, exactly once (doc/protocol.md
 * 4.3, "The books"), on a real dbus-daemon: the paths that lost an attempt
 * without a count, each reproduced as a sender meets it.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cunit-tap.h"
#include "harness.h"

static TestSuite suite;
static char *dir;
static TestDaemon *d;

TESTSUITE_CALLBACKS(suite)
TESTSUITE_DAEMON_FIXTURE(suite, dir, d)

/* Everything the peer writes until it closes or timeout_ms pass without a
 * byte, NUL-terminated into buf (packets run together). */
static size_t read_all(int fd, char *buf, size_t size, int timeout_ms)
{
        size_t got = 0;

        while (got < size - 1) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (poll(&p, 1, timeout_ms) != 1)
                        break;
                n = recv(fd, buf + got, size - 1 - got, 0);
                if (n <= 0)
                        break;
                got += (size_t) n;
                if (buf[got - 1] != '\n' && got < size - 1)
                        buf[got++] = '\n'; /* a packet each: one line each here */
        }
        buf[got] = '\0';
        return got;
}

static unsigned count_lines(const char *text)
{
        unsigned n = 0;

        for (const char *p = text; *p; p++)
                n += *p == '\n';
        return n;
}

/*
 * A packet over max-event-size from a sender that closes at once (what
 * ingester-send, socat and every one-shot sender do): the zero-byte read of
 * the oversized packet was taken for the hang-up, and the packet vanished
 * without a count. It is counted as too-large, and the daemon goes on.
 */
static void test_oversized_packet_then_close_is_counted(void)
{
        g_autofree char *big = g_strnfill(6000, ' ');
        const char *good = "{\"type\":\"after\"}";
        int fd, base;

        d = testdaemon_start(&suite.bus, dir, (const char *const[]){ "--max-event-size=4096", NULL },
                             0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        base = testdaemon_count_fds(d);
        big[0] = '{';
        for (int i = 0; i < 5; i++) {
                fd = seq_connect(d->seq_path);
                CU_ASSERT_TRUE_FATAL(fd >= 0);
                CU_ASSERT_EQUAL(send_fd_packet(fd, big, 6000, NULL, 0), 0);
                close(fd);
        }
        CU_ASSERT_EQUAL(testdaemon_wait_stat(d, "rejected:too-large", 5), 5);
        CU_ASSERT_EQUAL(testdaemon_count_in_log(d, "too-large"), 5);
        fd = seq_connect(d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        CU_ASSERT_EQUAL(send_fd_packet(fd, good, strlen(good), NULL, 0), 0);
        close(fd);
        {
                g_autoptr(GDBusMessage) m = testdaemon_next_event(d, 5000);
                CU_ASSERT_PTR_NOT_NULL(m);
        }
        CU_ASSERT_EQUAL(testdaemon_wait_stat(d, "received", 1), 1);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(d, "connections", 0), 0);
        CU_ASSERT_EQUAL(testdaemon_count_fds(d), base);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(d));
        CU_ASSERT_EQUAL(testdaemon_stop(d), 0);
}

/* A SEQPACKET sender that asks for answers, sends, half-closes and reads:
 * it gets every answer, not only those written before its shutdown. */
static void test_half_closed_seqpacket_gets_every_answer(void)
{
        const char *packets[] = { "!ack", "{\"type\":\"a\"}", "{\"type\":\"b\"}", "{bad" };
        char buf[512];
        int fd, base;

        d = testdaemon_start(&suite.bus, dir, NULL, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        base = testdaemon_count_fds(d);
        fd = seq_connect(d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        for (size_t i = 0; i < G_N_ELEMENTS(packets); i++)
                CU_ASSERT_EQUAL(send_fd_packet(fd, packets[i], strlen(packets[i]), NULL, 0), 0);
        CU_ASSERT_EQUAL(shutdown(fd, SHUT_WR), 0);
        read_all(fd, buf, sizeof(buf), 5000);
        CU_ASSERT_EQUAL(count_lines(buf), 3);
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, "1 ok "));
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, "2 ok "));
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, "3 refused syntax"));
        close(fd);
        /* once answered, the connection is gone, its descriptor too */
        CU_ASSERT_EQUAL(testdaemon_wait_stat(d, "connections", 0), 0);
        CU_ASSERT_EQUAL(testdaemon_count_fds(d), base);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(d));
        CU_ASSERT_EQUAL(testdaemon_stop(d), 0);
}

/* The same on a stream: what `printf '!ack\n...' | socat - UNIX-CONNECT:`
 * does, as socat half-closes when its input ends. */
static void test_half_closed_stream_gets_every_answer(void)
{
        g_autofree char *stream = g_build_filename(dir, "run", "stream.sock", NULL);
        g_autofree char *listen = g_strdup_printf("--listen=stream:%s", stream);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *lines = "!ack\n{\"type\":\"a\"}\n{\"type\":\"b\"}\n{bad\n";
        char buf[512];
        int fd;

        d = testdaemon_start(&suite.bus, dir, (const char *const[]){ listen, NULL }, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_strlcpy(sa.sun_path, stream, sizeof(sa.sun_path));
        CU_ASSERT_EQUAL_FATAL(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        CU_ASSERT_EQUAL(write(fd, lines, strlen(lines)), (ssize_t) strlen(lines));
        CU_ASSERT_EQUAL(shutdown(fd, SHUT_WR), 0);
        read_all(fd, buf, sizeof(buf), 5000);
        CU_ASSERT_EQUAL(count_lines(buf), 3);
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, "1 ok "));
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, "2 ok "));
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, "3 refused syntax\n"));
        close(fd);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(d, "connections", 0), 0);
        CU_ASSERT_EQUAL(testdaemon_stop(d), 0);
}

/* A sender that half-closes and then closes without reading: the daemon
 * lets the connection go (its answers with it), and relays the events. */
static void test_half_closed_then_closed_is_let_go(void)
{
        const char *packets[] = { "!ack", "{\"type\":\"a\"}", "{\"type\":\"b\"}" };
        int fd, base;

        d = testdaemon_start(&suite.bus, dir, NULL, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        base = testdaemon_count_fds(d);
        for (int k = 0; k < 20; k++) {
                fd = seq_connect(d->seq_path);
                CU_ASSERT_TRUE_FATAL(fd >= 0);
                for (size_t i = 0; i < G_N_ELEMENTS(packets); i++)
                        CU_ASSERT_EQUAL(send_fd_packet(fd, packets[i], strlen(packets[i]), NULL, 0),
                                        0);
                CU_ASSERT_EQUAL(shutdown(fd, SHUT_WR), 0);
                close(fd);
        }
        CU_ASSERT_EQUAL(testdaemon_wait_stat(d, "emitted", 40), 40);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(d, "connections", 0), 0);
        CU_ASSERT_EQUAL(testdaemon_count_fds(d), base);
        CU_ASSERT_EQUAL(testdaemon_stop(d), 0);
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(oversized_packet_then_close_is_counted),
                TAP_TEST(half_closed_seqpacket_gets_every_answer),
                TAP_TEST(half_closed_stream_gets_every_answer),
                TAP_TEST(half_closed_then_closed_is_let_go),
                { NULL, NULL },
        };

        tap_add_suite_full("books", suite_init, suite_cleanup, setup, teardown, tests);
        return tap_run();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-large.c — events too large for a packet, passed as a memfd
 * (issue "large events through a sealed memfd"), on a real dbus-daemon:
 * journald's convention (an empty packet with one memfd) and osbuild
 * jsoncomm's ("<args-via-fd>", the memfd first, the event's own fds after
 * it), on DGRAM and SEQPACKET; a 1 MiB and a 16 MiB event end to end, the
 * latter through ingester-send; every refusal followed by a good event,
 * with its counter, the daemon alive and no descriptor leaked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cunit-tap.h"
#include "harness.h"

static TestSuite suite; /* the suite's bus */
static TestFixture f;   /* this test's directory and daemon */

TESTSUITE_CALLBACKS(suite)
TESTSUITE_FIXTURE(suite, f)

/* A JSON event of about `size` bytes, within the default codec limits:
 * an array of strings of at most 64 KiB. */
static GString *big_event(const char *type, size_t size)
{
        GString *s = g_string_new(NULL);
        size_t chunk = 60000, n = MAX(size / chunk, 1);

        g_string_append_printf(s, "{\"type\":\"%s\",\"parts\":[", type);
        for (size_t i = 0; i < n; i++) {
                g_string_append(s, i ? ",\"" : "\"");
                for (size_t k = 0; k < chunk; k++)
                        g_string_append_c(s, (char) ('a' + (i + k) % 26));
                g_string_append_c(s, '"');
        }
        g_string_append(s, "]}");
        return s;
}

/* A memfd holding text, sealed against write, shrink and grow when seal. */
static int memfd_with(const char *text, size_t len, bool seal)
{
        int fd = memfd_create("test-event", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, text, len), ==, (ssize_t) len);
        if (seal)
                g_assert_cmpint(fcntl(fd, F_ADD_SEALS,
                                      F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL),
                                ==, 0);
        return fd;
}

/* The next Event, checked for its type; its "parts" count through *ret_parts. */
static void expect(const char *type, gsize *ret_parts, unsigned *ret_fds)
{
        g_autoptr(GDBusMessage) m = testdaemon_next_event(f.d, 10000);
        g_autoptr(GVariant) data = NULL, parts = NULL;
        const char *got = NULL;

        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        g_variant_get_child(g_dbus_message_get_body(m), 0, "&s", &got);
        CU_ASSERT_STRING_EQUAL(got, type);
        data = g_variant_get_child_value(g_dbus_message_get_body(m), 1);
        parts = g_variant_lookup_value(data, "parts", NULL);
        if (ret_parts)
                *ret_parts = parts ? g_variant_n_children(parts) : 0;
        if (ret_fds)
                *ret_fds = g_dbus_message_get_unix_fd_list(m)
                                   ? (unsigned) g_unix_fd_list_get_length(
                                             g_dbus_message_get_unix_fd_list(m))
                                   : 0;
}

static TestDaemon *start(const char *extra)
{
        const char *argv[] = { extra, NULL };
        return testdaemon_start(&suite.bus, f.dir, argv, 0);
}

/* journald's convention on DGRAM and on SEQPACKET (where the empty packet
 * must not read as a hang-up, even when the sender closes at once), and
 * jsoncomm's with a descriptor of the event's own after the memfd. */
static void test_memfd_conventions_on_both_transports(void)
{
        g_autoptr(GString) ev = big_event("big", 1 << 20);
        gsize parts = 0;
        unsigned fds = 0;
        int mfd, conn, p[2];

        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);

        mfd = memfd_with(ev->str, ev->len, true);
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, "", 0, &mfd, 1), 0);
        close(mfd);
        expect("big", &parts, NULL);
        CU_ASSERT_EQUAL(parts, (1 << 20) / 60000);

        conn = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(conn >= 0);
        mfd = memfd_with(ev->str, ev->len, true);
        CU_ASSERT_EQUAL(send_fd_packet(conn, "", 0, &mfd, 1), 0);
        close(mfd);
        close(conn); /* at once: the packet is still read */
        expect("big", &parts, NULL);
        CU_ASSERT_EQUAL(parts, (1 << 20) / 60000);

        /* jsoncomm: "<args-via-fd>", the memfd, then the event's own descriptor */
        CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
        {
                int pass[2] = { memfd_with(ev->str, ev->len, false), p[0] };
                conn = seq_connect(f.d->seq_path);
                CU_ASSERT_TRUE_FATAL(conn >= 0);
                CU_ASSERT_EQUAL(send_fd_packet(conn, "<args-via-fd>", 13, pass, 2), 0);
                close(pass[0]);
                close(conn);
        }
        close(p[0]);
        expect("big", &parts, &fds);
        CU_ASSERT_EQUAL(fds, 1);
        close(p[1]);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected-total"), 0);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

/*
 * Refusals, each followed by a good large event on the same socket: a pipe,
 * a socket and a device where the memfd should be (large-not-memfd), an
 * empty memfd (empty), one over max-large-event-size (large-too-large).
 * Every descriptor that came is closed.
 */
static void test_bad_large_events_then_good_ones(void)
{
        const char *good = "{\"type\":\"good\"}";
        int fds_before, p[2], sp[2];
        struct {
                const char *name, *reason;
                int fd;
        } bad[5];
        g_autofree char *small = g_strnfill(3000, 'x');
        g_autofree char *over = g_strdup_printf("{\"type\":\"over\",\"s\":\"%s\"}", small);

        {
                g_autofree char *arg = harness_config_arg(f.dir, "[limits]\nmax-large-event-size=2048\n");
                f.d = start(arg);
        }
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
        CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
        bad[0].name = "a pipe", bad[0].reason = "large-not-memfd", bad[0].fd = p[0];
        bad[1].name = "a socket", bad[1].reason = "large-not-memfd", bad[1].fd = sp[0];
        bad[2].name = "a device", bad[2].reason = "large-not-memfd",
        bad[2].fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
        bad[3].name = "an empty memfd", bad[3].reason = "empty", bad[3].fd = memfd_with("", 0, true);
        bad[4].name = "over max-large-event-size", bad[4].reason = "large-too-large",
        bad[4].fd = memfd_with(over, strlen(over), true);
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree char *key = g_strdup_printf("rejected:%s", bad[i].reason);
                guint64 before = testdaemon_stat(f.d, key);
                int gfd = memfd_with(good, strlen(good), true);

                printf("# %s\n", bad[i].name);
                CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, "", 0, &bad[i].fd, 1), 0);
                CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, "", 0, &gfd, 1), 0);
                close(gfd);
                expect("good", NULL, NULL);
                CU_ASSERT_EQUAL(testdaemon_stat(f.d, key), before + 1);
                close(bad[i].fd);
        }
        /* max-large-event-size at its boundary: 2048 bytes in, 2049 out */
        for (size_t size = 2048; size <= 2049; size++) {
                g_autofree char *pad = g_strnfill(size - strlen("{\"type\":\"edge\",\"s\":\"\"}"),
                                                  'e');
                g_autofree char *edge = g_strdup_printf("{\"type\":\"edge\",\"s\":\"%s\"}", pad);
                guint64 before = testdaemon_stat(f.d, "rejected:large-too-large");
                int efd, gfd = memfd_with(good, strlen(good), true);

                g_assert_cmpuint(strlen(edge), ==, size);
                efd = memfd_with(edge, size, true);
                CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, "", 0, &efd, 1), 0);
                CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, "", 0, &gfd, 1), 0);
                close(efd);
                close(gfd);
                if (size == 2048)
                        expect("edge", NULL, NULL);
                expect("good", NULL, NULL);
                CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected:large-too-large"),
                                before + (size == 2049));
        }
        /* the daemon holds no end of the pipe or the socket any more */
        {
                char c = 'x';
                CU_ASSERT_EQUAL(write(p[1], &c, 1), -1);
                CU_ASSERT_EQUAL(errno, EPIPE);
        }
        close(p[1]);
        close(sp[1]);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
        CU_ASSERT_TRUE(testdaemon_count_in_log(f.d, "large-not-memfd") >= 1);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

/* ingester-send: a 16 MiB event from a file (too large for any packet) goes
 * as a sealed memfd by itself, on both transports. */
static void test_sixteen_mib_through_ingester_send(void)
{
        g_autoptr(GString) ev = big_event("huge", 16 << 20);
        g_autofree char *file = g_build_filename(f.dir, "huge.json", NULL);
        const char *socks[2];
        gsize parts = 0;

        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        g_assert_true(g_file_set_contents(file, ev->str, (gssize) ev->len, NULL));
        socks[0] = f.d->dgram_path;
        socks[1] = f.d->seq_path;
        for (int i = 0; i < 2; i++) {
                g_autoptr(GSubprocess) p = g_subprocess_new(
                        G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL, "ingester-send", "--quiet",
                        "--socket", socks[i], "--file-json", file, NULL);
                CU_ASSERT_PTR_NOT_NULL_FATAL(p);
                CU_ASSERT_EQUAL(harness_wait_subprocess(p, 60000), 0);
                expect("huge", &parts, NULL);
                CU_ASSERT_EQUAL(parts, (16 << 20) / 60000);
        }
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected-total"), 0);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

/*
 * Amplification (issue 27, symptom 1): a large event of millions of small
 * values, under max-large-event-size but over the bus's ceiling once
 * marshalled. 1000 x 1024 x 9 integers in nested arrays (within max-members
 * and max-depth): JSON "1," is 2 bytes a value (18 MiB), msgpack a fixint 1.
 * It must be refused as too-large before a tree is built: the daemon's peak
 * RSS grows by at most 4 x the payload + 1 MiB (it was +992 MiB), and
 * GetStats is answered meanwhile within a second (figures: make bench).
 */
static GString *many_values(bool msgpack, unsigned inner)
{
        GString *s = g_string_new(NULL);

        g_assert(inner < 16);
        if (!msgpack) {
                g_string_append(s, "{\"type\":\"amp\",\"v\":[");
                for (unsigned a = 0; a < 1000; a++) {
                        g_string_append(s, a ? ",[" : "[");
                        for (unsigned b = 0; b < 1024; b++) {
                                g_string_append(s, b ? ",[" : "[");
                                for (unsigned c = 0; c < inner; c++)
                                        g_string_append(s, c ? ",1" : "1");
                                g_string_append_c(s, ']');
                        }
                        g_string_append_c(s, ']');
                }
                g_string_append(s, "]}");
                return s;
        }
        /* {"type":"amp","v":[[[1 x inner] x 1024] x 1000]}: array16 headers, fixints */
        g_string_append_len(s, "\x82\xa4" "type" "\xa3" "amp" "\xa1" "v" "\xdc\x03\xe8", 15);
        for (unsigned a = 0; a < 1000; a++) {
                g_string_append_len(s, "\xdc\x04\x00", 3);
                for (unsigned b = 0; b < 1024; b++) {
                        g_string_append_c(s, (char) (0x90 | inner)); /* fixarray: inner < 16 */
                        for (unsigned c = 0; c < inner; c++)
                                g_string_append_c(s, 1);
                }
        }
        return s;
}

static void check_amplification(bool msgpack, unsigned inner)
{
        g_autoptr(GString) ev = many_values(msgpack, inner);
        g_autoptr(GDBusMessage) m = NULL;
        long hwm_before, hwm_after, allowed_kib = (long) (4 * ev->len / 1024) + 1024;
        gint64 t0, waited_ms;
        int mfd, fds_before;

        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        hwm_before = testdaemon_status_kib(f.d, "VmHWM");
        mfd = memfd_with(ev->str, ev->len, true);
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, "", 0, &mfd, 1), 0);
        close(mfd);
        t0 = g_get_monotonic_time();
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected-total"), 1); /* answered after the refusal */
        waited_ms = (g_get_monotonic_time() - t0) / 1000;
        hwm_after = testdaemon_status_kib(f.d, "VmHWM");
        printf("# %s, %zu bytes, %u M values: refused in GetStats' %" G_GINT64_FORMAT " ms, "
               "peak RSS +%ld KiB (allowed %ld)\n",
               msgpack ? "msgpack" : "JSON", ev->len, 1000 * 1024 * inner / 1000000, waited_ms,
               hwm_after - hwm_before, allowed_kib);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected:too-large"), 1);
        CU_ASSERT_TRUE(hwm_after - hwm_before <= allowed_kib);
        CU_ASSERT_TRUE(waited_ms < 1000);
        CU_ASSERT_EQUAL(testdaemon_wait_log(f.d, "too-large"), 1);
        /* then a good one */
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, "{\"type\":\"after\"}", 16, NULL, 0), 0);
        m = testdaemon_next_event(f.d, 5000);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        CU_ASSERT_STRING_EQUAL(harness_event_type(m), "after");
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

static void test_json_of_9_million_integers_refused_at_once(void)
{
        check_amplification(false, 9);
}

static void test_msgpack_of_9_million_integers_refused_at_once(void)
{
        check_amplification(true, 9);
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(memfd_conventions_on_both_transports),
                TAP_TEST(bad_large_events_then_good_ones),
                TAP_TEST(sixteen_mib_through_ingester_send),
                TAP_TEST(json_of_9_million_integers_refused_at_once),
                TAP_TEST(msgpack_of_9_million_integers_refused_at_once),
                { NULL, NULL },
        };
        tap_add_suite_full("large", suite_init, suite_cleanup, setup, teardown, tests);
        return tap_run();
}

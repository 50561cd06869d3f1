/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-daemon.c — ingesterd end to end: the built daemon, a private
 * dbus-daemon, real sockets, real fds. Each test starts its own daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cunit-tap.h"
#include "harness.h"

static TestSuite suite; /* the suite's bus */
static TestFixture f;   /* this test's directory and daemon */

TESTSUITE_CALLBACKS(suite)
TESTSUITE_FIXTURE(suite, f)

static char *path_in(const char *name)
{
        return g_build_filename(f.dir, name, NULL);
}

static TestDaemon *start(const char *const *extra)
{
        return testdaemon_start(&suite.bus, f.dir, extra, 0);
}

/* Writes a config file whose listeners are the harness's two sockets plus extra text. */
static char *write_config(const char *extra)
{
        g_autofree char *run = path_in("run");
        char *path = path_in("ingesterd.conf");
        g_autofree char *text = g_strdup_printf("[listen:seq]\ntransport=seqpacket\npath=%s/"
                                                "seqpacket.sock\n\n[listen:dgram]\ntransport="
                                                "dgram\npath=%s/dgram.sock\n\n%s",
                                                run, run, extra);
        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        return path;
}

static GVariant *body_child(GDBusMessage *m, int i)
{
        return g_variant_get_child_value(g_dbus_message_get_body(m), (gsize) i);
}


/* Waits for the event whose type is `type`, skipping none: returns NULL on timeout. */
static GDBusMessage *expect_event(const char *type)
{
        GDBusMessage *m = testdaemon_next_event(f.d, 5000);
        if (!m) {
                g_autofree char *log = testdaemon_log(f.d);
                printf("# no event '%s' arrived; daemon log:\n%s", type, log);
                return NULL;
        }
        {
                g_autoptr(GVariant) t = body_child(m, 0);
                if (strcmp(g_variant_get_string(t, NULL), type) != 0)
                        printf("# got event '%s', want '%s'\n", g_variant_get_string(t, NULL),
                               type);
        }
        return m;
}

static guint64 meta_u64(GDBusMessage *m, const char *key)
{
        g_autoptr(GVariant) meta = body_child(m, 2);
        g_autoptr(GVariant) v = g_variant_lookup_value(meta, key, NULL);
        if (!v)
                return G_MAXUINT64;
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64))
                return g_variant_get_uint64(v);
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
                return g_variant_get_uint32(v);
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT32))
                return (guint64) g_variant_get_int32(v);
        return G_MAXUINT64;
}

static char *meta_str(GDBusMessage *m, const char *key)
{
        g_autoptr(GVariant) meta = body_child(m, 2);
        char *s = NULL;
        if (!g_variant_lookup(meta, key, "s", &s))
                return g_strdup("");
        return s;
}

/*
 * "emitted" counts an event once GDBus confirms its write, which may come a
 * moment after the subscriber has it: counters that follow delivery are
 * polled briefly rather than read once.
 */
static guint64 wait_stat(const char *key, guint64 want)
{
        return testdaemon_wait_stat(f.d, key, want);
}

/* ---- relay ---- */

static void test_json_over_dgram_arrives_with_kernel_credentials(void)
{
        const char *json = "{\"type\":\"hello\",\"port\":443,\"tags\":[\"a\"]}\n";
        g_autoptr(GDBusMessage) m = NULL;
        g_autoptr(GVariant) data = NULL;
        g_autofree char *transport = NULL, *codec = NULL;
        gint64 port = 0;

        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, json, strlen(json), NULL, 0), 0);
        m = expect_event("hello");
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        CU_ASSERT_STRING_EQUAL(harness_event_type(m), "hello");
        CU_ASSERT_STRING_EQUAL(g_dbus_message_get_signature(m), "sa{sv}a{sv}ah");
        CU_ASSERT_STRING_EQUAL(g_dbus_message_get_path(m), "/org/ingester/Ingester1");
        data = body_child(m, 1);
        CU_ASSERT_TRUE(g_variant_lookup(data, "port", "x", &port));
        CU_ASSERT_EQUAL(port, 443);
        CU_ASSERT_EQUAL(meta_u64(m, "seq"), 1);
        CU_ASSERT_EQUAL(meta_u64(m, "pid"), (guint64) getpid());
        CU_ASSERT_EQUAL(meta_u64(m, "uid"), (guint64) getuid());
        CU_ASSERT_EQUAL(meta_u64(m, "gid"), (guint64) getgid());
        transport = meta_str(m, "transport");
        codec = meta_str(m, "codec");
        CU_ASSERT_STRING_EQUAL(transport, "dgram");
        CU_ASSERT_STRING_EQUAL(codec, "json");
}

static void test_msgpack_over_seqpacket_arrives(void)
{
        static const char mp[] = "\x82\xa4type\xa2mp\xa3" "bin\xc4\x02\x00\xff";
        g_autoptr(GDBusMessage) m = NULL;
        g_autoptr(GVariant) data = NULL, bin = NULL;
        g_autofree char *transport = NULL, *codec = NULL;
        int fd;

        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        CU_ASSERT_EQUAL(send_fd_packet(fd, mp, sizeof(mp) - 1, NULL, 0), 0);
        m = expect_event("mp");
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        data = body_child(m, 1);
        bin = g_variant_lookup_value(data, "bin", G_VARIANT_TYPE_BYTESTRING);
        CU_ASSERT_PTR_NOT_NULL(bin);
        if (bin)
                CU_ASSERT_EQUAL(g_variant_get_size(bin), 2);
        CU_ASSERT_EQUAL(meta_u64(m, "pid"), (guint64) getpid());
        CU_ASSERT_EQUAL(meta_u64(m, "uid"), (guint64) getuid());
        transport = meta_str(m, "transport");
        codec = meta_str(m, "codec");
        CU_ASSERT_STRING_EQUAL(transport, "seqpacket");
        CU_ASSERT_STRING_EQUAL(codec, "msgpack");
        close(fd);
}

static void test_fd_sent_with_event_is_readable_by_subscriber(void)
{
        const char *json = "{\"type\":\"withfd\"}";
        g_autoptr(GDBusMessage) m = NULL;
        g_autoptr(GVariant) handles = NULL;
        int p[2], fds_before, fd;
        char buf[16] = { 0 };
        GUnixFDList *list;

        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        CU_ASSERT_EQUAL_FATAL(pipe2(p, O_CLOEXEC), 0);
        CU_ASSERT_EQUAL(write(p[1], "payload", 7), 7);
        close(p[1]);
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        CU_ASSERT_EQUAL(send_fd_packet(fd, json, strlen(json), &p[0], 1), 0);
        close(p[0]);
        m = expect_event("withfd");
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        handles = body_child(m, 3);
        CU_ASSERT_EQUAL(g_variant_n_children(handles), 1);
        list = g_dbus_message_get_unix_fd_list(m);
        CU_ASSERT_PTR_NOT_NULL_FATAL(list);
        {
                gint32 h;
                int got;
                g_variant_get_child(handles, 0, "h", &h);
                got = g_unix_fd_list_get(list, h, NULL);
                CU_ASSERT_TRUE_FATAL(got >= 0);
                CU_ASSERT_EQUAL(read(got, buf, sizeof(buf) - 1), 7);
                CU_ASSERT_STRING_EQUAL(buf, "payload");
                close(got);
        }
        close(fd);
        /* the daemon closes its copies once the signal is written, and the connection once
         * it sees the hang-up */
        for (int i = 0; i < 100 && testdaemon_count_fds(f.d) != fds_before; i++)
                g_usleep(10000);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
}

static void test_seq_increases_and_stats_add_up(void)
{
        guint64 last = 0;
        int fd;

        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        for (int i = 0; i < 50; i++) {
                g_autofree char *j = g_strdup_printf("{\"type\":\"n\",\"i\":%d}", i);
                CU_ASSERT_EQUAL(send_fd_packet(fd, j, strlen(j), NULL, 0), 0);
        }
        for (int i = 0; i < 50; i++) {
                g_autoptr(GDBusMessage) m = expect_event("n");
                CU_ASSERT_PTR_NOT_NULL_FATAL(m);
                CU_ASSERT_TRUE(meta_u64(m, "seq") > last);
                last = meta_u64(m, "seq");
        }
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "received"), 50);
        CU_ASSERT_EQUAL(wait_stat("emitted", 50), 50);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "dropped"), 0);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "queue-depth"), 0);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "connections"), 1);
        close(fd);
}

static void test_properties_report_counters(void)
{
        g_autoptr(GVariant) r = NULL;
        g_autoptr(GVariant) v = NULL;
        g_autoptr(GError) error = NULL;

        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        send_dgram(f.d->dgram_path, "{\"type\":\"p\"}", 12, NULL, 0);
        g_object_unref(expect_event("p"));
        CU_ASSERT_EQUAL(wait_stat("emitted", 1), 1);
        r = g_dbus_connection_call_sync(f.d->conn, "org.ingester.Ingester1", "/org/ingester/Ingester1",
                                        "org.freedesktop.DBus.Properties", "Get",
                                        g_variant_new("(ss)", "org.ingester.Ingester1", "Emitted"),
                                        G_VARIANT_TYPE("(v)"), 0, 5000, NULL, &error);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        g_variant_get(r, "(v)", &v);
        CU_ASSERT_EQUAL(g_variant_get_uint64(v), 1);
}

static void test_depth_ceiling_is_accepted_by_the_bus(void)
{
        g_autofree char *conf = write_config("[limits]\nmax-depth=20\n");
        g_autofree char *arg = g_strdup_printf("--config=%s", conf);
        const char *extra[] = { arg, NULL };
        g_autoptr(GString) j = g_string_new("{\"type\":\"deep\",\"k\":");

        for (int i = 1; i < 20; i++)
                g_string_append(j, i < 19 ? "{\"k\":" : "{\"leaf\":1");
        for (int i = 1; i < 20; i++)
                g_string_append_c(j, '}');
        g_string_append_c(j, '}');
        f.d = start(extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, j->str, j->len, NULL, 0), 0);
        {
                g_autoptr(GDBusMessage) m = expect_event("deep");
                CU_ASSERT_PTR_NOT_NULL(m);
        }
        /* the relay was not thrown off the bus */
        CU_ASSERT_EQUAL(wait_stat("emitted", 1), 1);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "bus-reconnects"), 0);
}

/* ---- rejections ---- */

typedef struct {
        const char *reason;
        const char *bytes;
        size_t len; /* 0: strlen */
        unsigned fds;
        bool pinned; /* send to the json-only socket */
} BadPacket;

static const char *reject_config =
        "[limits]\nmax-event-size=4096\nmax-fds=2\nmax-depth=4\nmax-members=8\nmax-string=64\n";

static char *pinned_config(void)
{
        g_autofree char *run = path_in("run");
        g_autofree char *extra = g_strdup_printf("%s\n[listen:pinned]\ntransport=dgram\npath=%s/"
                                                 "pinned.sock\ncodec=json\n",
                                                 reject_config, run);
        return write_config(extra);
}

static void send_bad_then_good(const BadPacket *b, int seqfd, const char *target)
{
        char good[64];
        int p[2] = { -1, -1 }, fds[4];
        g_autofree char *key = g_strdup_printf("rejected:%s", b->reason);
        guint64 before = testdaemon_stat(f.d, key);
        int fds_before = testdaemon_count_fds(f.d);
        size_t len = b->len ? b->len : strlen(b->bytes);
        g_autoptr(GDBusMessage) m = NULL;
        g_autofree char *log = NULL;

        /* every bad packet carries descriptors: they must all be closed */
        CU_ASSERT_EQUAL_FATAL(pipe2(p, O_CLOEXEC), 0);
        for (unsigned i = 0; i < b->fds; i++)
                fds[i] = p[i % 2];
        if (seqfd >= 0) {
                CU_ASSERT_EQUAL(send_fd_packet(seqfd, b->bytes, len, fds, b->fds), 0);
        } else {
                CU_ASSERT_EQUAL(send_dgram(target, b->bytes, len, fds, b->fds), 0);
        }
        close(p[0]);
        close(p[1]);

        g_snprintf(good, sizeof good, "{\"type\":\"after-%s\"}", b->reason);
        if (seqfd >= 0) {
                CU_ASSERT_EQUAL(send_fd_packet(seqfd, good, strlen(good), NULL, 0), 0);
        } else {
                CU_ASSERT_EQUAL(send_dgram(target, good, strlen(good), NULL, 0), 0);
        }
        {
                g_autofree char *want = g_strdup_printf("after-%s", b->reason);
                m = expect_event(want);
                CU_ASSERT_PTR_NOT_NULL(m);
                if (m)
                        CU_ASSERT_STRING_EQUAL(harness_event_type(m), want);
        }
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, key), before + 1);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
        log = testdaemon_log(f.d);
        CU_ASSERT_PTR_NOT_NULL(strstr(log, b->reason));
        if (!strstr(log, b->reason))
                printf("# reason %s missing from the log\n", b->reason);
}

static GString *deep_json(unsigned levels)
{
        GString *s = g_string_new("");
        for (unsigned i = 0; i < levels; i++)
                g_string_append(s, "{\"a\":");
        g_string_append(s, "1");
        for (unsigned i = 0; i < levels; i++)
                g_string_append_c(s, '}');
        return s;
}

static void check_all_rejections(bool seqpacket)
{
        g_autoptr(GString) deep = deep_json(5);
        g_autoptr(GString) big = g_string_new("{\"a\":\"");
        g_autofree char *conf = pinned_config();
        g_autofree char *arg = g_strdup_printf("--config=%s", conf);
        g_autofree char *pinned = NULL;
        const char *extra[] = { arg, NULL };
        int fd = -1;

        for (int i = 0; i < 4200; i++)
                g_string_append_c(big, 'x');
        g_string_append(big, "\"}");
        {
                const BadPacket bad[] = {
                        /* with two descriptors: with one it is a large event (1.6) */
                        { "empty", "", 0, 2, false },
                        { "large-not-memfd", "", 0, 1, false },
                        { "large-not-memfd", "<args-via-fd>", 0, 2, false },
                        { "unknown-encoding", "hello", 0, 1, false },
                        { "syntax", "{\"a\":NaN}", 0, 1, false },
                        { "truncated", "{\"a\":", 0, 1, false },
                        { "trailing-data", "{} x", 0, 1, false },
                        { "too-deep", deep->str, 0, 1, false },
                        { "too-many-members",
                          "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1}",
                          0, 1, false },
                        { "string-too-long",
                          "{\"a\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
                          0, 1, false },
                        { "invalid-utf8", "{\"a\":\"\xc0\xaf\"}", 0, 1, false },
                        { "nul-in-string", "{\"a\":\"\\u0000\"}", 0, 1, false },
                        { "key-not-string", "\x81\x01\x01", 3, 1, false },
                        { "integer-out-of-range", "{\"a\":18446744073709551616}", 0, 1, false },
                        { "number-not-finite", "{\"a\":1e400}", 0, 1, false },
                        { "unsupported-type", "\x81\xa1x\xd4\x01\x02", 6, 1, false },
                        { "type-not-string", "{\"type\":1}", 0, 1, false },
                        { "null-in-array", "{\"a\":[null]}", 0, 1, false },
                        { "too-large", big->str, 0, 1, false },
                        { "too-many-fds", "{\"type\":\"x\"}", 0, 3, false },
                        { "not-object", "[1]", 0, 1, true },
                        { "encoding-not-allowed", "\x80", 1, 1, true },
                };

                f.d = start(extra);
                CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
                pinned = g_build_filename(f.dir, "run", "pinned.sock", NULL);
                if (seqpacket) {
                        fd = seq_connect(f.d->seq_path);
                        CU_ASSERT_TRUE_FATAL(fd >= 0);
                }
                for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                        if (bad[i].pinned && seqpacket)
                                continue;
                        send_bad_then_good(&bad[i], bad[i].pinned ? -1 : fd,
                                           bad[i].pinned ? pinned : f.d->dgram_path);
                }
        }
        /* alive, and a bad packet never closed the connection */
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "connections"), seqpacket ? 1 : 0);
        if (fd >= 0)
                close(fd);
}

static void test_every_rejection_over_dgram_is_counted_logged_and_harmless(void)
{
        check_all_rejections(false);
}

static void test_every_rejection_over_seqpacket_keeps_the_connection(void)
{
        check_all_rejections(true);
}

/* max-event-size=4096 and max-fds=2 as in reject_config, whose table sends one past each */
static void test_limits_at_their_boundary_are_accepted(void)
{
        g_autofree char *conf = write_config("[limits]\nmax-event-size=4096\nmax-fds=2\n");
        g_autofree char *arg = g_strdup_printf("--config=%s", conf);
        const char *extra[] = { arg, NULL };
        g_autoptr(GString) at = g_string_new("{\"type\":\"at-size\",\"pad\":\"");
        int p[2], fds_before;

        f.d = start(extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        while (at->len < 4096 - 2)
                g_string_append_c(at, 'x');
        g_string_append(at, "\"}");
        CU_ASSERT_EQUAL_FATAL(at->len, 4096);
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, at->str, at->len, NULL, 0), 0);
        {
                g_autoptr(GDBusMessage) m = expect_event("at-size");
                CU_ASSERT_PTR_NOT_NULL(m);
        }
        CU_ASSERT_EQUAL_FATAL(pipe2(p, O_CLOEXEC), 0);
        {
                const char *two = "{\"type\":\"two-fds\"}";
                CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, two, strlen(two), p, 2), 0);
        }
        close(p[0]);
        close(p[1]);
        {
                g_autoptr(GDBusMessage) m = expect_event("two-fds");
                g_autoptr(GVariant) handles = NULL;
                CU_ASSERT_PTR_NOT_NULL_FATAL(m);
                handles = body_child(m, 3);
                CU_ASSERT_EQUAL(g_variant_n_children(handles), 2);
        }
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected-total"), 0);
        /* the two descriptors are closed once the signal is written */
        for (int i = 0; i < 100 && testdaemon_count_fds(f.d) != fds_before; i++)
                g_usleep(10000);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
}

static void test_zero_length_seqpacket_packet_is_not_a_hangup(void)
{
        int fd;

        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        CU_ASSERT_EQUAL(send_fd_packet(fd, "", 0, NULL, 0), 0);
        CU_ASSERT_EQUAL(send_fd_packet(fd, "{\"type\":\"z\"}", 12, NULL, 0), 0);
        {
                g_autoptr(GDBusMessage) m = expect_event("z");
                CU_ASSERT_PTR_NOT_NULL(m);
        }
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected:empty"), 1);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "connections"), 1);
        /* and a real hang-up is one */
        close(fd);
        for (int i = 0; i < 100 && testdaemon_stat(f.d, "connections") != 0; i++)
                g_usleep(10000);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "connections"), 0);
}

static void test_sender_not_in_allow_list_is_refused(void)
{
        g_autofree char *run = path_in("run");
        g_autofree char *open_path = g_build_filename(run, "open.sock", NULL);
        g_autofree char *extra_conf = g_strdup_printf(
                "[listen:open]\ntransport=dgram\npath=%s\nmode=0666\n", open_path);
        g_autofree char *conf = write_config(extra_conf);
        g_autofree char *arg = g_strdup_printf("--config=%s", conf);
        const char *extra[] = { arg, NULL };
        pid_t child;
        int status;

        if (getuid() != 0) {
                printf("# skipped: needs root to send as another uid\n");
                return;
        }
        /* reachable by the other uid: traversable parents, a 0755 socket directory */
        g_assert_cmpint(chmod(suite.topdir, 0711), ==, 0);
        g_assert_cmpint(chmod(f.dir, 0711), ==, 0);
        g_assert_cmpint(g_mkdir(run, 0755), ==, 0);
        f.d = start(extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        child = fork();
        if (child == 0) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                int s;
                if (setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(2);
                s = socket(AF_UNIX, SOCK_DGRAM, 0);
                strcpy(sa.sun_path, open_path);
                _exit(sendto(s, "{\"type\":\"nobody\"}", 17, 0, (struct sockaddr *) &sa,
                             sizeof(sa)) == 17
                              ? 0
                              : 3);
        }
        CU_ASSERT_EQUAL(waitpid(child, &status, 0), child);
        CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        send_dgram(open_path, "{\"type\":\"root\"}", 15, NULL, 0);
        {
                g_autoptr(GDBusMessage) m = expect_event("root");
                CU_ASSERT_PTR_NOT_NULL_FATAL(m);
                CU_ASSERT_STRING_EQUAL(harness_event_type(m), "root");
        }
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected:not-allowed"), 1);
        {
                g_autofree char *log = testdaemon_log(f.d);
                CU_ASSERT_PTR_NOT_NULL(strstr(log, "uid=65534: not-allowed"));
        }
}

static void test_fds_the_kernel_cannot_install_drop_the_packet(void)
{
        struct rlimit low, old;
        int fds_before, p[2], many[8];
        pid_t pid;

        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        pid = (pid_t) atoi(g_subprocess_get_identifier(f.d->proc));
        fds_before = testdaemon_count_fds(f.d);
        /* room for 2 more descriptors: 8 cannot all be installed, the kernel sets MSG_CTRUNC */
        CU_ASSERT_EQUAL_FATAL(prlimit(pid, RLIMIT_NOFILE, NULL, &old), 0);
        low.rlim_cur = (rlim_t) fds_before + 2;
        low.rlim_max = old.rlim_max; /* lowering the soft limit needs no privilege */
        CU_ASSERT_EQUAL_FATAL(prlimit(pid, RLIMIT_NOFILE, &low, NULL), 0);
        CU_ASSERT_EQUAL_FATAL(pipe2(p, O_CLOEXEC), 0);
        for (int i = 0; i < 8; i++)
                many[i] = p[i % 2];
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, "{\"type\":\"t\"}", 12, many, 8), 0);
        close(p[0]);
        close(p[1]);
        send_dgram(f.d->dgram_path, "{\"type\":\"after\"}", 16, NULL, 0);
        {
                g_autoptr(GDBusMessage) m = expect_event("after");
                CU_ASSERT_PTR_NOT_NULL(m);
                if (m)
                        CU_ASSERT_STRING_EQUAL(harness_event_type(m), "after");
        }
        CU_ASSERT_EQUAL(prlimit(pid, RLIMIT_NOFILE, &old, NULL), 0);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected:fds-truncated"), 1);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
}

/* ---- overflow policies and bus restarts ---- */

static void wait_for_log(const char *needle)
{
        for (int i = 0; i < 500; i++) {
                g_autofree char *log = testdaemon_log(f.d);
                if (strstr(log, needle))
                        return;
                g_usleep(10000);
        }
        CU_FAIL("expected log line did not appear");
}

/*
 * Takes the bus away, sends n events while it is gone, brings the bus back
 * at the same address, and returns the "i" of each event that arrives
 * afterwards (the got they carry must follow the "before" event's without
 * a gap: a seq is given when an event goes out, so drops leave none).
 * The daemon is stopped (SIGSTOP) while the bus restarts so that the
 * subscriber is in place before the daemon reconnects.
 */
static GArray *send_while_bus_is_down(unsigned n)
{
        GArray *got = g_array_new(FALSE, FALSE, sizeof(guint64));
        g_autofree char *pid_text = g_strdup(g_subprocess_get_identifier(f.d->proc));
        pid_t pid = (pid_t) atoi(pid_text);

        send_dgram(f.d->dgram_path, "{\"type\":\"before\"}", 17, NULL, 0);
        g_object_unref(expect_event("before"));
        /* its write confirmed: it has left the queue */
        for (int i = 0; i < 200 && testdaemon_stat(f.d, "emitted") != 1; i++)
                g_usleep(5000);

        testbus_stop(&suite.bus);
        wait_for_log("lost the bus connection");
        for (unsigned i = 0; i < n; i++) {
                g_autofree char *j = g_strdup_printf("{\"type\":\"down\",\"i\":%u}", i);
                CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, j, strlen(j), NULL, 0), 0);
        }
        g_usleep(300000); /* let the daemon read what it will read */
        kill(pid, SIGSTOP);
        CU_ASSERT_TRUE_FATAL(testbus_start(&suite.bus, suite.topdir));
        testdaemon_resubscribe(f.d, &suite.bus);
        kill(pid, SIGCONT);
        for (;;) {
                g_autoptr(GDBusMessage) m = testdaemon_next_event(f.d, 3000);
                g_autoptr(GVariant) data = NULL;
                gint64 i = -1;
                guint64 index;
                if (!m)
                        break;
                CU_ASSERT_EQUAL(meta_u64(m, "seq"), 2 + got->len);
                data = body_child(m, 1);
                CU_ASSERT_TRUE(g_variant_lookup(data, "i", "x", &i));
                index = (guint64) i;
                g_array_append_val(got, index);
                if (got->len == n)
                        break;
        }
        return got;
}




/* Capacity 4, 10 events while the bus is down: 4 survive, starting at event first. */
static void check_drop_policy(const char *policy_arg, guint64 first)
{
        const char *extra[] = { policy_arg, "--queue-capacity=4", NULL };
        g_autoptr(GArray) got = NULL;

        f.d = start(extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        got = send_while_bus_is_down(10);
        CU_ASSERT_EQUAL_FATAL(got->len, 4);
        for (guint i = 0; i < 4; i++)
                CU_ASSERT_EQUAL(g_array_index(got, guint64, i), first + i);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "dropped"), 6);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "bus-reconnects"), 1);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
}

static void test_policy_drop_newest_keeps_the_first(void)
{
        check_drop_policy("--policy=drop-newest", 0);
}

static void test_policy_drop_oldest_keeps_the_last(void)
{
        check_drop_policy("--policy=drop-oldest", 6);
}

static void test_policy_block_loses_nothing_across_a_bus_restart(void)
{
        const char *extra[] = { "--policy=block", "--queue-capacity=4", NULL };
        g_autoptr(GArray) got = NULL;

        f.d = start(extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        /* 4 in the queue, the rest wait in the kernel (max_dgram_qlen is at least 10) */
        got = send_while_bus_is_down(9);
        CU_ASSERT_EQUAL_FATAL(got->len, 9);
        for (guint i = 0; i < 9; i++)
                CU_ASSERT_EQUAL(g_array_index(got, guint64, i), i);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "dropped"), 0);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "queue-high-water"), 4);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
}

/* ---- hardening and operation ---- */

/* Runs ingesterd to completion (it is expected to fail); returns status, fills stderr. */
static int run_failing(const char *const *argv, char **ret_stderr)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GSubprocess) p = g_subprocess_newv(
                argv, G_SUBPROCESS_FLAGS_STDERR_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error);
        g_assert_no_error(error);
        g_subprocess_communicate_utf8(p, NULL, NULL, NULL, ret_stderr, &error);
        g_assert_no_error(error);
        return g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
}

static int run_on(const char *seq_path, const char *extra1, char **ret_stderr)
{
        g_autofree char *addr = g_strdup_printf("--address=%s", suite.bus.address);
        g_autofree char *listen = g_strdup_printf("--listen=seqpacket:%s", seq_path);
        const char *argv[] = { "ingesterd", addr, listen, extra1, NULL };
        return run_failing(argv, ret_stderr);
}

static void test_stale_socket_is_replaced(void)
{
        g_autofree char *run = path_in("run");
        g_autofree char *seq = g_build_filename(run, "seqpacket.sock", NULL);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);

        g_assert_cmpint(g_mkdir(run, 0700), ==, 0);
        strcpy(sa.sun_path, seq);
        CU_ASSERT_EQUAL_FATAL(bind(s, (struct sockaddr *) &sa, sizeof(sa)), 0);
        close(s); /* bound, never listened, closed: stale */
        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        {
                g_autofree char *log = testdaemon_log(f.d);
                CU_ASSERT_PTR_NOT_NULL(strstr(log, "replaced stale socket"));
        }
        s = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE(s >= 0);
        close(s);
}

static void test_live_socket_is_refused(void)
{
        g_autofree char *err = NULL;

        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        CU_ASSERT_EQUAL(run_on(f.d->seq_path, "--name=org.ingester.Other", &err), 4);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "in use"));
        /* and the first instance still works */
        send_dgram(f.d->dgram_path, "{\"type\":\"still\"}", 16, NULL, 0);
        {
                g_autoptr(GDBusMessage) m = expect_event("still");
                CU_ASSERT_PTR_NOT_NULL(m);
        }
}

static void test_symlink_and_non_socket_are_refused(void)
{
        g_autofree char *run = path_in("run");
        g_autofree char *link = g_build_filename(run, "link.sock", NULL);
        g_autofree char *file = g_build_filename(run, "file.sock", NULL);
        g_autofree char *err1 = NULL, *err2 = NULL;

        g_assert_cmpint(g_mkdir(run, 0700), ==, 0);
        CU_ASSERT_EQUAL(symlink("/nonexistent", link), 0);
        CU_ASSERT_TRUE(g_file_set_contents(file, "x", 1, NULL));
        CU_ASSERT_EQUAL(run_on(link, NULL, &err1), 4);
        CU_ASSERT_PTR_NOT_NULL(strstr(err1, "symbolic link"));
        CU_ASSERT_EQUAL(run_on(file, NULL, &err2), 4);
        CU_ASSERT_PTR_NOT_NULL(strstr(err2, "not a socket"));
        CU_ASSERT_TRUE(g_file_test(file, G_FILE_TEST_IS_REGULAR)); /* left alone */
}

static void test_unsafe_directory_is_refused(void)
{
        g_autofree char *run = path_in("run");
        g_autofree char *seq = g_build_filename(run, "seqpacket.sock", NULL);
        g_autofree char *err = NULL;

        g_assert_cmpint(g_mkdir(run, 0700), ==, 0);
        g_assert_cmpint(chmod(run, 0777), ==, 0);
        CU_ASSERT_EQUAL(run_on(seq, NULL, &err), 4);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "writable by group or others"));
}

static void test_socket_modes_are_set_at_bind(void)
{
        g_autofree char *run = path_in("run");
        g_autofree char *conf = NULL, *arg = NULL, *extra_conf = NULL;
        g_autofree char *shared = g_build_filename(run, "shared.sock", NULL);
        struct stat st;

        extra_conf = g_strdup_printf("[listen:shared]\ntransport=seqpacket\npath=%s\nmode=0660\n",
                                     shared);
        conf = write_config(extra_conf);
        arg = g_strdup_printf("--config=%s", conf);
        {
                const char *extra[] = { arg, NULL };
                f.d = start(extra);
        }
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        CU_ASSERT_EQUAL(stat(f.d->seq_path, &st), 0);
        CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
        CU_ASSERT_EQUAL(stat(shared, &st), 0);
        CU_ASSERT_EQUAL(st.st_mode & 0777, 0660);
        CU_ASSERT_EQUAL(stat(run, &st), 0);
        CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
}

static void test_sigterm_drains_and_unlinks(void)
{
        int fd;

        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = seq_connect(f.d->seq_path);
        for (int i = 0; i < 200; i++) {
                g_autofree char *j = g_strdup_printf("{\"type\":\"t\",\"i\":%d}", i);
                send_fd_packet(fd, j, strlen(j), NULL, 0);
        }
        close(fd);
        g_usleep(50000);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
        for (int i = 0; i < 200; i++) {
                g_autoptr(GDBusMessage) m = testdaemon_next_event(f.d, 3000);
                CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        }
        CU_ASSERT_FALSE(g_file_test(f.d->seq_path, G_FILE_TEST_EXISTS));
        CU_ASSERT_FALSE(g_file_test(f.d->dgram_path, G_FILE_TEST_EXISTS));
}

static void test_name_taken_fails_and_replace_takes_over(void)
{
        g_autofree char *run2 = path_in("run2");
        g_autofree char *seq2 = g_build_filename(run2, "s.sock", NULL);
        g_autofree char *err = NULL;

        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        CU_ASSERT_EQUAL(run_on(seq2, NULL, &err), 3);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "--replace"));
        {
                g_autofree char *addr = g_strdup_printf("--address=%s", suite.bus.address);
                g_autofree char *listen = g_strdup_printf("--listen=seqpacket:%s", seq2);
                const char *argv[] = { "ingesterd", addr, listen, "--replace", NULL };
                g_autoptr(GError) error = NULL;
                g_autoptr(GSubprocess) second =
                        g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
                g_assert_no_error(error);
                /* the first instance loses the name and exits cleanly */
                int status = harness_wait_subprocess(f.d->proc, 10000);
                CU_ASSERT_EQUAL(status, 0);
                if (status != 0) {
                        g_autofree char *log = testdaemon_log(f.d);
                        printf("# first instance: status %d, log:\n%s", status, log);
                }
                g_clear_object(&f.d->proc);
                g_subprocess_send_signal(second, SIGTERM);
                CU_ASSERT_EQUAL(harness_wait_subprocess(second, 10000), 0);
        }
}

static void test_invalid_configuration_names_the_key(void)
{
        g_autofree char *conf = write_config("[limits]\nmax-fds=17\n");
        g_autofree char *typo = path_in("typo.conf");
        g_autofree char *arg1 = g_strdup_printf("--config=%s", conf);
        g_autofree char *arg2 = g_strdup_printf("--config=%s", typo);
        g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL;
        const char *argv1[] = { "ingesterd", arg1, NULL };
        const char *argv2[] = { "ingesterd", arg2, NULL };
        const char *argv3[] = { "ingesterd", "--policy=sometimes", NULL };

        g_assert_true(g_file_set_contents(typo, "[queue]\ncapacty=10\n", -1, NULL));
        CU_ASSERT_EQUAL(run_failing(argv1, &e1), 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(e1, "max-fds"));
        CU_ASSERT_EQUAL(run_failing(argv2, &e2), 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(e2, "capacty"));
        CU_ASSERT_EQUAL(run_failing(argv3, &e3), 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(e3, "--policy"));
}

int main(void)
{
        static const TapTest relay_tests[] = {
                TAP_TEST(json_over_dgram_arrives_with_kernel_credentials),
                TAP_TEST(msgpack_over_seqpacket_arrives),
                TAP_TEST(fd_sent_with_event_is_readable_by_subscriber),
                TAP_TEST(seq_increases_and_stats_add_up),
                TAP_TEST(properties_report_counters),
                TAP_TEST(depth_ceiling_is_accepted_by_the_bus),
                { NULL, NULL },
        };
        static const TapTest reject_tests[] = {
                TAP_TEST(every_rejection_over_dgram_is_counted_logged_and_harmless),
                TAP_TEST(every_rejection_over_seqpacket_keeps_the_connection),
                TAP_TEST(limits_at_their_boundary_are_accepted),
                TAP_TEST(zero_length_seqpacket_packet_is_not_a_hangup),
                TAP_TEST(sender_not_in_allow_list_is_refused),
                TAP_TEST(fds_the_kernel_cannot_install_drop_the_packet),
                { NULL, NULL },
        };
        static const TapTest policy_tests[] = {
                TAP_TEST(policy_drop_newest_keeps_the_first),
                TAP_TEST(policy_drop_oldest_keeps_the_last),
                TAP_TEST(policy_block_loses_nothing_across_a_bus_restart),
                { NULL, NULL },
        };
        static const TapTest ops_tests[] = {
                TAP_TEST(stale_socket_is_replaced),
                TAP_TEST(live_socket_is_refused),
                TAP_TEST(symlink_and_non_socket_are_refused),
                TAP_TEST(unsafe_directory_is_refused),
                TAP_TEST(socket_modes_are_set_at_bind),
                TAP_TEST(sigterm_drains_and_unlinks),
                TAP_TEST(name_taken_fails_and_replace_takes_over),
                TAP_TEST(invalid_configuration_names_the_key),
                { NULL, NULL },
        };

        signal(SIGPIPE, SIG_IGN);
        tap_add_suite_full("relay", suite_init, suite_cleanup, setup, teardown, relay_tests);
        tap_add_suite_full("rejections", suite_init, suite_cleanup, setup, teardown, reject_tests);
        tap_add_suite_full("policies", suite_init, suite_cleanup, setup, teardown, policy_tests);
        tap_add_suite_full("operation", suite_init, suite_cleanup, setup, teardown, ops_tests);
        return tap_run();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-budgets.c — one uid cannot spend the daemon (issue 27), on a real
 * dbus-daemon: its connections are capped at max-connections-per-uid, so a
 * sender of another uid is still served; the scheduler serves uids in turn,
 * so a paced sender of another uid waits no longer behind a uid flooding
 * from 200 connections (or 200 DGRAM pids) than behind one connection.
 *
 * Senders of another uid are forked children that drop to uid 65534 (the
 * tests run as root in CI); without root these tests say so and skip.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cunit-tap.h"
#include "harness.h"

static TestSuite suite; /* the suite's bus */
static TestFixture f;   /* this test's directory and daemon */

TESTSUITE_CALLBACKS(suite)
TESTSUITE_FIXTURE(suite, f)

#define OTHER_UID 65534

static bool can_switch_uid(void)
{
        if (geteuid() == 0)
                return true;
        printf("# skipped: senders of another uid need root (setuid in a forked child)\n");
        return false;
}

/* The daemon, with its two sockets open to OTHER_UID too, and extra. */
static TestDaemon *start(const char *extra)
{
        g_autofree char *path = g_build_filename(f.dir, "ingesterd.conf", NULL);
        g_autofree char *text = g_strdup_printf(
                "[listen:seq]\ntransport=seqpacket\npath=%s/run/seqpacket.sock\nmode=0666\n"
                "allow-uids=*\n\n[listen:dgram]\ntransport=dgram\npath=%s/run/dgram.sock\n"
                "mode=0666\nallow-uids=*\n\n%s",
                f.dir, f.dir, extra ? extra : "");
        g_autofree char *arg = g_strdup_printf("--config=%s", path);

        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        /* the other uid must reach the sockets: the test directories are 0700 */
        g_assert_cmpint(chmod(f.dir, 0711), ==, 0);
        g_assert_cmpint(chmod(suite.topdir, 0711), ==, 0);
        return testdaemon_start(&suite.bus, f.dir, (const char *const[]){ arg, NULL }, 0);
}

/* A forked child, as OTHER_UID, connects to path and sends text; 0 when it did. */
static pid_t send_as_other(const char *path, const char *text)
{
        pid_t pid = fork();

        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                int fd;
                if (setgid(OTHER_UID) != 0 || setuid(OTHER_UID) != 0)
                        _exit(10);
                fd = seq_connect(path);
                if (fd < 0)
                        _exit(11);
                _exit(send_fd_packet(fd, text, strlen(text), NULL, 0) == 0 ? 0 : 12);
        }
        return pid;
}

static int child_status(pid_t pid)
{
        int status = -1;

        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Connection hoarding (symptom 3): one uid opens max-connections (256) and
 * sends nothing. It gets max-connections-per-uid (128) of them, the rest
 * are refused at accept (connection-limit, counted once each), and a
 * sender of another uid is accepted and relayed within a second (before,
 * it waited in the backlog for as long as the slots were held).
 */
#define HOARD 256
static void test_hoarded_connections_leave_room_for_another_uid(void)
{
        g_autoptr(GDBusMessage) m = NULL;
        int fds[HOARD];
        int fds_before;
        gint64 t0;
        pid_t child;

        if (!can_switch_uid())
                return;
        f.d = start(NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        for (unsigned i = 0; i < HOARD; i++) {
                fds[i] = seq_connect_flags(f.d->seq_path, SOCK_NONBLOCK);
                CU_ASSERT_TRUE_FATAL(fds[i] >= 0);
        }
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "rejected:connection-limit", HOARD - 128),
                        HOARD - 128);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "connections"), 128);
        CU_ASSERT_TRUE(testdaemon_wait_log(f.d, "connection-limit") >= 1);

        t0 = g_get_monotonic_time();
        child = send_as_other(f.d->seq_path, "{\"type\":\"other-uid\"}");
        CU_ASSERT_EQUAL(child_status(child), 0);
        m = testdaemon_next_event(f.d, 1000);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        printf("# the other uid's event came after %" G_GINT64_FORMAT " ms\n",
               (g_get_monotonic_time() - t0) / 1000);
        CU_ASSERT_STRING_EQUAL(harness_event_type(m), "other-uid");

        for (unsigned i = 0; i < HOARD; i++)
                close(fds[i]);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "connections", 0), 0);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

/* ---- a uid flooding from many senders, a paced sender of another uid ---- */

#define FLOOD_SENDERS 200
#define PACED 200
#define PACED_EVERY_USEC 10000 /* 100 events/s */

typedef struct {
        int fds[FLOOD_SENDERS];
        unsigned n;
        gint stop;
        guint64 sent;
} ConnFlood;

/* One thread sending round the flooder's connections as fast as they take it. */
static gpointer conn_flood(gpointer user_data)
{
        ConnFlood *fl = user_data;

        while (!g_atomic_int_get(&fl->stop)) {
                bool any = false;
                for (unsigned i = 0; i < fl->n; i++) {
                        char buf[64];
                        int len = snprintf(buf, sizeof(buf), "{\"type\":\"flood\",\"c\":%u}", i);
                        if (send(fl->fds[i], buf, (size_t) len, MSG_DONTWAIT | MSG_NOSIGNAL) == len) {
                                fl->sent++;
                                any = true;
                        }
                }
                if (!any)
                        g_usleep(200);
        }
        return NULL;
}

/* The paced sender: a child of OTHER_UID sending PACED events, each with its
 * CLOCK_REALTIME send time (meta received-usec's clock), every PACED_EVERY_USEC. */
static pid_t paced_as_other(const char *path, int *ret_release)
{
        int p[2];
        pid_t pid;

        g_assert_cmpint(pipe(p), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                char byte;
                int fd;

                close(p[1]);
                if (setgid(OTHER_UID) != 0 || setuid(OTHER_UID) != 0)
                        _exit(10);
                fd = seq_connect(path);
                if (fd < 0)
                        _exit(11);
                for (unsigned i = 0; i < PACED; i++) {
                        char buf[96];
                        int len = snprintf(buf, sizeof(buf),
                                           "{\"type\":\"paced\",\"i\":%u,\"t\":%" G_GINT64_FORMAT "}", i,
                                           g_get_real_time());
                        if (send_fd_packet(fd, buf, (size_t) len, NULL, 0) != 0)
                                _exit(12);
                        g_usleep(PACED_EVERY_USEC);
                }
                /* its lane (and uid row) stay for GetStats until released */
                _exit(read(p[0], &byte, 1) == 1 ? 0 : 13);
        }
        close(p[0]);
        *ret_release = p[1];
        return pid;
}

/*
 * Symptom 5 and 6: the flooding uid spread over 200 connections. The paced
 * sender's events are all delivered, in order, each within a bound of
 * positions once queued (max-wait, as in test-fairness) and read while the
 * flood runs (its latency; before, p99 4 s with 100 flooding connections
 * connected first: its packets waited unread in the kernel).
 */
/* 200 flooding DGRAM senders: forked children, each its own pid (its own lane). */
static void dgram_flood_start(const char *path, pid_t *pids)
{
        for (unsigned i = 0; i < FLOOD_SENDERS; i++) {
                pids[i] = fork();
                g_assert_cmpint(pids[i], >=, 0);
                if (pids[i] == 0) {
                        /* blocking sends: a sender the daemon does not read sleeps */
                        struct sockaddr_un sa = { .sun_family = AF_UNIX };
                        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                        char buf[64];
                        int len = snprintf(buf, sizeof(buf), "{\"type\":\"flood\",\"p\":%u}", i);

                        g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
                        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0)
                                _exit(1);
                        /* 200 runnable processes would take the CPU from the daemon and the
                         * bus: what is measured is the daemon's fairness, not the kernel's */
                        (void) nice(19);
                        for (;;)
                                (void) send(fd, buf, (size_t) len, 0);
                }
        }
}

static void dgram_flood_stop(pid_t *pids)
{
        for (unsigned i = 0; i < FLOOD_SENDERS; i++)
                kill(pids[i], SIGKILL);
        for (unsigned i = 0; i < FLOOD_SENDERS; i++)
                (void) waitpid(pids[i], NULL, 0);
}

static void check_paced_against_flood(bool dgram)
{
        ConnFlood fl = { .n = FLOOD_SENDERS };
        pid_t flood_pids[FLOOD_SENDERS];
        g_autoptr(GArray) latency = g_array_new(FALSE, FALSE, sizeof(gint64));
        g_autoptr(GVariant) stats = NULL, users = NULL;
        GThread *t;
        pid_t child;
        int release;
        guint64 paced_seen = 0, next = 0, paced_max_wait = G_MAXUINT64;
        gint64 p50, p99, worst;
        bool in_order = true;

        if (!can_switch_uid())
                return;
        f.d = start("[bus]\nmax-unflushed=32\n\n[limits]\nbatch=16\nmax-connections-per-uid=256\n"
                    "max-connections=512\n\n[queue]\ncapacity=2048\n");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        if (dgram) {
                fl.n = 0;
                dgram_flood_start(f.d->dgram_path, flood_pids);
        } else {
                for (unsigned i = 0; i < FLOOD_SENDERS; i++) {
                        fl.fds[i] = seq_connect(f.d->seq_path);
                        CU_ASSERT_TRUE_FATAL(fl.fds[i] >= 0);
                }
                CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "connections", FLOOD_SENDERS),
                                FLOOD_SENDERS);
        }
        t = g_thread_new("flood", conn_flood, &fl);
        g_usleep(300000); /* the flood holds the queue (GetStats would wait behind it) */
        child = paced_as_other(f.d->seq_path, &release);
        while (paced_seen < PACED) {
                g_autoptr(GDBusMessage) m = testdaemon_next_event(f.d, 10000);
                g_autoptr(GVariant) data = NULL, meta = NULL;
                gint64 i = -1, sent = 0, received = 0, waited;

                if (!m)
                        break;
                if (strcmp(harness_event_type(m), "paced") != 0)
                        continue;
                data = g_variant_get_child_value(g_dbus_message_get_body(m), 1);
                g_variant_lookup(data, "i", "x", &i);
                g_variant_lookup(data, "t", "x", &sent);
                meta = g_variant_get_child_value(g_dbus_message_get_body(m), 2);
                g_variant_lookup(meta, "received-usec", "x", &received);
                in_order = in_order && (guint64) i == next;
                next = (guint64) i + 1;
                waited = received - sent; /* in the kernel, unread: the daemon's doing */
                g_array_append_val(latency, waited);
                paced_seen++;
        }
        /* the flood stops, then the figures, while the paced sender's lane is still there */
        g_atomic_int_set(&fl.stop, 1);
        g_thread_join(t);
        if (dgram)
                dgram_flood_stop(flood_pids);
        for (;;) {
                g_autoptr(GDBusMessage) m = testdaemon_next_event(f.d, 500);
                if (!m)
                        break;
        }
        stats = harness_stats(f.d->conn);
        CU_ASSERT_EQUAL(write(release, "x", 1), 1);
        close(release);
        CU_ASSERT_EQUAL(child_status(child), 0);
        CU_ASSERT_EQUAL(paced_seen, PACED);
        CU_ASSERT_TRUE(in_order);
        CU_ASSERT_PTR_NOT_NULL_FATAL(stats);
        users = g_variant_lookup_value(stats, "users", G_VARIANT_TYPE("aa{sv}"));
        CU_ASSERT_PTR_NOT_NULL_FATAL(users);
        {
                /* the paced sender's uid: it has no other sender */
                GVariantIter it;
                GVariant *row;

                g_variant_iter_init(&it, users);
                while ((row = g_variant_iter_next_value(&it))) {
                        guint32 uid = 0;
                        g_variant_lookup(row, "uid", "u", &uid);
                        if (uid == OTHER_UID)
                                g_variant_lookup(row, "max-wait", "t", &paced_max_wait);
                        g_variant_unref(row);
                }
        }
        g_array_sort(latency, (GCompareFunc) harness_compare_i64);
        p50 = g_array_index(latency, gint64, latency->len / 2);
        p99 = g_array_index(latency, gint64, latency->len * 99 / 100);
        worst = g_array_index(latency, gint64, latency->len - 1);
        printf("# flood from %u %s; paced (another uid) unread in the kernel p50 %" G_GINT64_FORMAT
               " ms p99 %" G_GINT64_FORMAT " ms max %" G_GINT64_FORMAT " ms, max-wait %" G_GUINT64_FORMAT
               " positions\n",
               FLOOD_SENDERS, dgram ? "DGRAM pids" : "connections", p50 / 1000, p99 / 1000,
               worst / 1000, paced_max_wait);
#ifdef __SANITIZE_ADDRESS__
        /* A daemon several times slower reads the paced connection less often than every
         * batch of its events, which the bounds assume: the plain and release builds check
         * them; this one checks that nothing is lost and nothing leaks. */
        printf("# positions and time not checked under AddressSanitizer\n");
#else
        /* positions: the window, the one picked next, and per paced event read in the same
         * batch (at most 16) one of its own and one flood event (test-fairness) */
        CU_ASSERT_TRUE(paced_max_wait <= 32 + 1 + 2 * 16);
        /* time unread, generously: read while the flood runs, not after it (it was 4 s) */
        CU_ASSERT_TRUE(p99 < 1000 * 1000);
#endif

        for (unsigned i = 0; i < fl.n; i++)
                close(fl.fds[i]);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "connections", 0), 0);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

static void test_paced_other_uid_against_200_flooding_connections(void)
{
        check_paced_against_flood(false);
}

static void test_paced_other_uid_against_200_flooding_dgram_pids(void)
{
#ifdef __SANITIZE_ADDRESS__
        /* 200 flooding processes against a daemon several times slower: GetStats cannot be
         * answered within its timeout. The connections' test covers the same code here. */
        printf("# skipped under AddressSanitizer: the daemon is too slow for 200 flooders\n");
#else
        check_paced_against_flood(true);
#endif
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(hoarded_connections_leave_room_for_another_uid),
                TAP_TEST(paced_other_uid_against_200_flooding_connections),
                TAP_TEST(paced_other_uid_against_200_flooding_dgram_pids),
                { NULL, NULL },
        };
        signal(SIGPIPE, SIG_IGN);
        tap_add_suite_full("budgets", suite_init, suite_cleanup, setup, teardown, tests);
        return tap_run();
}

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

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(hoarded_connections_leave_room_for_another_uid),
                { NULL, NULL },
        };
        signal(SIGPIPE, SIG_IGN);
        tap_add_suite_full("budgets", suite_init, suite_cleanup, setup, teardown, tests);
        return tap_run();
}

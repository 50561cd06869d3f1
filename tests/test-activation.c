/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-activation.c — ingesterd under systemd's socket activation and
 * notification protocols, for real: systemd-socket-activate creates the
 * socket and starts the daemon on the first packet, and the test plays the
 * service manager's side of NOTIFY_SOCKET (READY=1 only once the name is
 * owned, STATUS= with the counters, WATCHDOG=1 from the main loop under
 * WATCHDOG_USEC, and none while the process is stopped, RELOADING=1 at
 * SIGHUP, STOPPING=1 at SIGTERM), and checks that the activated socket is
 * never unlinked; LISTEN_FDNAMES maps sockets to [listen:NAME] sections. Skipped, with the reason, where
 * systemd-socket-activate is missing.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cunit-tap.h"
#include "harness.h"

static TestSuite suite; /* the suite's bus */
static TestFixture f;   /* this test's directory and daemon */

TESTSUITE_CALLBACKS(suite)
TESTSUITE_FIXTURE(suite, f)

static int notify_socket(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        return fd;
}

/* Reads notifications until one contains `want` (up to timeout_ms); all are kept in log. */
static bool wait_notify(int fd, const char *want, unsigned timeout_ms, GString *log)
{
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        for (;;) {
                char buf[4096];
                struct pollfd p = { .fd = fd, .events = POLLIN };
                gint64 left = (deadline - g_get_monotonic_time()) / 1000;
                ssize_t n;

                if (strstr(log->str, want))
                        return true;
                if (left <= 0 || poll(&p, 1, (int) left) <= 0)
                        return strstr(log->str, want) != NULL;
                n = recv(fd, buf, sizeof(buf) - 1, 0);
                if (n > 0) {
                        buf[n] = '\0';
                        g_string_append_printf(log, "%s\n", buf);
                }
        }
}


/*
 * Starts ingesterd under systemd-socket-activate on the sockets in socks
 * (all of one type: "--seqpacket", "--datagram", or NULL for stream), with LISTEN_FDNAMES from fdnames (NULL: none), and
 * NOTIFY_SOCKET, WATCHDOG_USEC and the sanitizers' settings in its
 * environment; extra are the daemon's own arguments. Its stderr goes to
 * log_path. NULL when systemd-socket-activate is missing.
 */
static GSubprocess *spawn_activated(const char *const *socks, const char *type, const char *fdnames,
                                    const char *notify_path, const char *log_path,
                                    const char *const *extra)
{
        g_autofree char *activate = g_find_program_in_path("systemd-socket-activate");
        g_autofree char *addr = g_strdup_printf("--address=%s", suite.bus.address);
        g_autofree char *notify_env = g_strdup_printf("NOTIFY_SOCKET=%s", notify_path);
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GSubprocessLauncher) l =
                g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
        g_autoptr(GError) error = NULL;
        GSubprocess *p;
        struct stat st;

        if (!activate) {
                printf("# SKIP: systemd-socket-activate is not installed (Debian's systemd "
                       "package)\n");
                return NULL;
        }
        g_ptr_array_add(argv, g_strdup("systemd-socket-activate"));
        for (const char *const *sock = socks; *sock; sock++) {
                g_ptr_array_add(argv, g_strdup("-l"));
                g_ptr_array_add(argv, g_strdup(*sock));
        }
        if (type)
                g_ptr_array_add(argv, g_strdup(type));
        if (fdnames)
                g_ptr_array_add(argv, g_strdup_printf("--fdname=%s", fdnames));
        /* systemd-socket-activate gives the daemon a fresh environment: PATH and a few
         * more, LISTEN_*, and what -E names */
        for (const char *const *e = (const char *const[]){ notify_env, "WATCHDOG_USEC=200000",
                                                            "G_DEBUG=fatal-criticals", NULL };
             *e; e++) {
                g_ptr_array_add(argv, g_strdup("-E"));
                g_ptr_array_add(argv, g_strdup(*e));
        }
        /* the sanitizer build's settings (suppressions) must reach the daemon too */
        for (const char *const *v = (const char *const[]){ "ASAN_OPTIONS", "UBSAN_OPTIONS",
                                                            "LSAN_OPTIONS", NULL };
             *v; v++)
                if (g_getenv(*v)) {
                        g_ptr_array_add(argv, g_strdup("-E"));
                        g_ptr_array_add(argv, g_strdup_printf("%s=%s", *v, g_getenv(*v)));
                }
        g_ptr_array_add(argv, g_strdup("ingesterd"));
        g_ptr_array_add(argv, g_strdup(addr));
        for (const char *const *e = extra; e && *e; e++)
                g_ptr_array_add(argv, g_strdup(*e));
        g_ptr_array_add(argv, NULL);
        g_subprocess_launcher_set_stderr_file_path(l, log_path);
        p = g_subprocess_launcher_spawnv(l, (const char *const *) argv->pdata, &error);
        g_assert_no_error(error);
        for (const char *const *sock = socks; *sock; sock++)
                for (int i = 0; i < 500 && stat(*sock, &st) < 0; i++)
                        g_usleep(10000);
        return p;
}

/* A connection to an activated socket. spawn_activated() waits for the
 * socket's file, which exists from bind() on, but connect() is refused
 * until systemd-socket-activate has also called listen(): a refused connect
 * never activates anything, so the test then waited for a daemon that
 * nothing would start (test 5 failed so, once, in make distcheck). */
static int activated_connect(const char *path)
{
        int fd = -ECONNREFUSED;

        for (int i = 0; i < 500 && fd == -ECONNREFUSED; i++) {
                fd = seq_connect(path);
                if (fd == -ECONNREFUSED)
                        g_usleep(10000);
        }
        return fd;
}

static char *read_log(const char *path)
{
        char *text = NULL;
        if (!g_file_get_contents(path, &text, NULL, NULL))
                text = g_strdup("");
        return text;
}

/* No WATCHDOG=1 while the process is stopped, and again once it runs. (A
 * stop halts every thread: that the main loop, not a thread of its own,
 * sends it is the code's to show.) */
static void check_watchdog_stops_with_the_process(GSubprocess *p, int nfd)
{
        g_autoptr(GString) quiet = g_string_new(NULL);
        g_autoptr(GString) again = g_string_new(NULL);
        pid_t pid = (pid_t) atoi(g_subprocess_get_identifier(p));
        char buf[4096];

        kill(pid, SIGSTOP);
        while (recv(nfd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                ; /* what it sent before it stopped */
        /* WATCHDOG_USEC=200000: a running loop sends it every 100 ms */
        CU_ASSERT_FALSE(wait_notify(nfd, "WATCHDOG=1", 600, quiet));
        kill(pid, SIGCONT);
        CU_ASSERT_TRUE(wait_notify(nfd, "WATCHDOG=1", 1000, again));
}

static void check_activation(bool seqpacket)
{
        g_autofree char *sock = g_build_filename(f.dir, "activated.sock", NULL);
        g_autofree char *notify_path = g_build_filename(f.dir, "notify.sock", NULL);
        g_autofree char *log_path = g_build_filename(f.dir, "ingesterd.log", NULL);
        g_autoptr(GString) notes = g_string_new(NULL);
        g_autoptr(GSubprocess) p = NULL;
        GAsyncQueue *events = g_async_queue_new_full(g_object_unref);
        guint sub_id, filter_id;
        GDBusConnection *sub = harness_subscribe(&suite.bus, events, &sub_id, &filter_id);
        int nfd = notify_socket(notify_path), conn = -1;
        struct stat st;

        p = spawn_activated((const char *const[]){ sock, NULL },
                            seqpacket ? "--seqpacket" : "--datagram", NULL, notify_path,
                            log_path, NULL);
        if (!p)
                goto out;
        CU_ASSERT_TRUE_FATAL(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode));
        CU_ASSERT_FALSE(harness_name_owned(sub)); /* nothing runs until a packet comes */

        /* the packet that starts the daemon */
        if (seqpacket) {
                conn = activated_connect(sock);
                CU_ASSERT_TRUE_FATAL(conn >= 0);
                CU_ASSERT_EQUAL(send_fd_packet(conn, "{\"type\":\"early\"}", 16, NULL, 0), 0);
        } else {
                CU_ASSERT_EQUAL(send_dgram(sock, "{\"type\":\"early\"}", 16, NULL, 0), 0);
        }
        CU_ASSERT_TRUE_FATAL(wait_notify(nfd, "READY=1", 10000, notes));
        CU_ASSERT_TRUE(harness_name_owned(sub)); /* READY=1 comes after the name is ours */
        if (seqpacket) {
                /* credentials from SO_PEERCRED: the early event is relayed */
                g_autoptr(GDBusMessage) m = g_async_queue_timeout_pop(events, 5000000);
                CU_ASSERT_PTR_NOT_NULL_FATAL(m);
                CU_ASSERT_STRING_EQUAL(harness_event_type(m), "early");
        } else {
                /* systemd-socket-activate, unlike a socket unit with PassCredentials=yes,
                 * does not set SO_PASSCRED: the datagram queued before the daemon set it
                 * carries none, and is refused for that reason alone */
                g_autoptr(GDBusMessage) m = NULL;
                for (int i = 0; i < 200 && harness_stat(sub, "rejected:no-credentials") != 1; i++)
                        g_usleep(10000);
                CU_ASSERT_EQUAL(harness_stat(sub, "rejected:no-credentials"), 1);
                CU_ASSERT_EQUAL(send_dgram(sock, "{\"type\":\"later\"}", 16, NULL, 0), 0);
                m = g_async_queue_timeout_pop(events, 5000000);
                CU_ASSERT_PTR_NOT_NULL_FATAL(m);
                CU_ASSERT_STRING_EQUAL(harness_event_type(m), "later");
        }
        CU_ASSERT_TRUE(wait_notify(nfd, "STATUS=", 1000, notes));
        CU_ASSERT_TRUE(wait_notify(nfd, " received, ", 1000, notes));
        CU_ASSERT_TRUE(wait_notify(nfd, "WATCHDOG=1", 1000, notes));
        check_watchdog_stops_with_the_process(p, nfd);

        /* SIGHUP: RELOADING=1, then READY=1 again */
        g_string_truncate(notes, 0);
        g_subprocess_send_signal(p, SIGHUP);
        CU_ASSERT_TRUE(wait_notify(nfd, "RELOADING=1", 5000, notes));
        g_string_truncate(notes, 0);
        CU_ASSERT_TRUE(wait_notify(nfd, "READY=1", 5000, notes));

        g_subprocess_send_signal(p, SIGTERM);
        CU_ASSERT_TRUE(wait_notify(nfd, "STOPPING=1", 5000, notes));
        CU_ASSERT_EQUAL(harness_wait_subprocess(p, 10000), 0);
        CU_ASSERT_EQUAL(stat(sock, &st), 0); /* systemd's socket: never unlinked */
        if (!strstr(notes->str, "STOPPING=1"))
                printf("# notifications:\n%s", notes->str);
out:
        if (conn >= 0)
                close(conn);
        close(nfd);
        harness_unsubscribe(sub, sub_id, filter_id);
        g_async_queue_unref(events);
}

static void test_seqpacket_activation_and_notifications(void)
{
        check_activation(true);
}

static void test_datagram_activation_and_notifications(void)
{
        check_activation(false);
}

/* ListenStream=: the stream socket is adopted as a stream listener; the
 * line that started the daemon is relayed, a second connection's too. */
static void test_stream_activation(void)
{
        g_autofree char *sock = g_build_filename(f.dir, "stream.sock", NULL);
        g_autofree char *notify_path = g_build_filename(f.dir, "notify.sock", NULL);
        g_autofree char *log_path = g_build_filename(f.dir, "ingesterd.log", NULL);
        g_autoptr(GString) notes = g_string_new(NULL);
        g_autoptr(GSubprocess) p = NULL;
        GAsyncQueue *events = g_async_queue_new_full(g_object_unref);
        guint sub_id, filter_id;
        GDBusConnection *sub = harness_subscribe(&suite.bus, events, &sub_id, &filter_id);
        int nfd = notify_socket(notify_path);

        p = spawn_activated((const char *const[]){ sock, NULL }, NULL, NULL, notify_path, log_path,
                            NULL);
        if (p) {
                const char *types[] = { "first", "second" };
                for (int k = 0; k < 2; k++) {
                        struct sockaddr_un sa = { .sun_family = AF_UNIX };
                        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                        g_autofree char *line = g_strdup_printf("{\"type\":\"%s\"}\n", types[k]);
                        g_autoptr(GDBusMessage) m = NULL;
                        g_autoptr(GVariant) meta = NULL;
                        const char *transport = NULL;

                        g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
                        CU_ASSERT_EQUAL_FATAL(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
                        CU_ASSERT_EQUAL(write(fd, line, strlen(line)), (ssize_t) strlen(line));
                        close(fd);
                        if (k == 0)
                                CU_ASSERT_TRUE_FATAL(wait_notify(nfd, "READY=1", 10000, notes));
                        m = g_async_queue_timeout_pop(events, 5000000);
                        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
                        CU_ASSERT_STRING_EQUAL(harness_event_type(m), types[k]);
                        meta = g_variant_get_child_value(g_dbus_message_get_body(m), 2);
                        g_variant_lookup(meta, "transport", "&s", &transport);
                        CU_ASSERT_STRING_EQUAL(transport ? transport : "", "stream");
                }
                g_subprocess_send_signal(p, SIGTERM);
                CU_ASSERT_EQUAL(harness_wait_subprocess(p, 10000), 0);
        }
        close(nfd);
        harness_unsubscribe(sub, sub_id, filter_id);
        g_async_queue_unref(events);
}

static char *write_config(const char *text)
{
        g_autofree char *path = g_build_filename(f.dir, "ingesterd.conf", NULL);
        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        return g_strdup_printf("--config=%s", path);
}

/*
 * LISTEN_FDNAMES (FileDescriptorName=) picks each activated socket's
 * [listen:NAME] section: its allow-lists hold there; a section no socket
 * was passed for is bound by the daemon itself (and unlinked at exit),
 * the activated ones never are.
 */
static void test_fd_names_select_listen_sections(void)
{
        g_autofree char *open_sock = g_build_filename(f.dir, "open.sock", NULL);
        g_autofree char *locked_sock = g_build_filename(f.dir, "locked.sock", NULL);
        g_autofree char *own_sock = g_build_filename(f.dir, "own", "own.sock", NULL);
        g_autofree char *notify_path = g_build_filename(f.dir, "notify.sock", NULL);
        g_autofree char *log_path = g_build_filename(f.dir, "ingesterd.log", NULL);
        g_autofree char *conf_text = g_strdup_printf(
                "[listen:open]\ntransport=seqpacket\n\n"
                "[listen:locked]\ntransport=seqpacket\nallow-uids=4242\n\n"
                "[listen:own]\ntransport=seqpacket\npath=%s\n",
                own_sock);
        g_autofree char *conf = write_config(conf_text);
        g_autofree char *log = NULL;
        g_autoptr(GString) notes = g_string_new(NULL);
        g_autoptr(GSubprocess) p = NULL;
        GAsyncQueue *events = g_async_queue_new_full(g_object_unref);
        guint sub_id, filter_id;
        GDBusConnection *sub = harness_subscribe(&suite.bus, events, &sub_id, &filter_id);
        int nfd = notify_socket(notify_path), c_open = -1, c_locked = -1, c_own = -1;
        struct stat st;

        p = spawn_activated((const char *const[]){ open_sock, locked_sock, NULL }, "--seqpacket",
                            "open:locked", notify_path, log_path,
                            (const char *const[]){ conf, NULL });
        if (!p)
                goto out;
        c_open = activated_connect(open_sock);
        CU_ASSERT_TRUE_FATAL(c_open >= 0);
        CU_ASSERT_TRUE_FATAL(wait_notify(nfd, "READY=1", 10000, notes));
        CU_ASSERT_EQUAL(send_fd_packet(c_open, "{\"type\":\"open\"}", 15, NULL, 0), 0);
        {
                g_autoptr(GDBusMessage) m = g_async_queue_timeout_pop(events, 5000000);
                CU_ASSERT_PTR_NOT_NULL_FATAL(m);
                CU_ASSERT_STRING_EQUAL(harness_event_type(m), "open");
        }
        /* [listen:locked] admits uid 4242 only: we are refused at accept */
        c_locked = activated_connect(locked_sock);
        CU_ASSERT_TRUE_FATAL(c_locked >= 0);
        for (int i = 0; i < 200 && harness_stat(sub, "rejected:not-allowed") != 1; i++)
                g_usleep(10000);
        CU_ASSERT_EQUAL(harness_stat(sub, "rejected:not-allowed"), 1);
        /* [listen:own] got no socket from systemd: the daemon bound it */
        c_own = activated_connect(own_sock);
        CU_ASSERT_TRUE_FATAL(c_own >= 0);
        CU_ASSERT_EQUAL(send_fd_packet(c_own, "{\"type\":\"own\"}", 14, NULL, 0), 0);
        {
                g_autoptr(GDBusMessage) m = g_async_queue_timeout_pop(events, 5000000);
                CU_ASSERT_PTR_NOT_NULL_FATAL(m);
                CU_ASSERT_STRING_EQUAL(harness_event_type(m), "own");
        }
        g_subprocess_send_signal(p, SIGTERM);
        CU_ASSERT_EQUAL(harness_wait_subprocess(p, 10000), 0);
        CU_ASSERT_EQUAL(stat(open_sock, &st), 0);
        CU_ASSERT_EQUAL(stat(locked_sock, &st), 0);
        CU_ASSERT_NOT_EQUAL(stat(own_sock, &st), 0); /* ours: unlinked */
        log = read_log(log_path);
        CU_ASSERT_PTR_NOT_NULL(strstr(log, "open.sock (seqpacket, socket-activated, [listen:open])"));
        CU_ASSERT_PTR_NOT_NULL(strstr(log, "locked.sock (seqpacket, socket-activated, [listen:locked])"));
        CU_ASSERT_PTR_NOT_NULL(strstr(log, "own.sock (seqpacket, [listen:own])"));
out:
        for (int *fd = (int[]){ c_open, c_locked, c_own, -2 }; *fd != -2; fd++)
                if (*fd >= 0)
                        close(*fd);
        close(nfd);
        harness_unsubscribe(sub, sub_id, filter_id);
        g_async_queue_unref(events);
}

/* A socket systemd passes for a section of the other transport is a
 * configuration error (exit 2) naming the section. */
static void test_fd_name_of_the_wrong_transport_is_refused(void)
{
        g_autofree char *sock = g_build_filename(f.dir, "events.sock", NULL);
        g_autofree char *notify_path = g_build_filename(f.dir, "notify.sock", NULL);
        g_autofree char *log_path = g_build_filename(f.dir, "ingesterd.log", NULL);
        g_autofree char *conf = write_config("[listen:events]\ntransport=dgram\n");
        g_autofree char *log = NULL;
        g_autoptr(GSubprocess) p = NULL;
        int nfd = notify_socket(notify_path), c = -1;

        p = spawn_activated((const char *const[]){ sock, NULL }, "--seqpacket", "events", notify_path,
                            log_path, (const char *const[]){ conf, NULL });
        if (!p)
                goto out;
        c = activated_connect(sock);
        CU_ASSERT_EQUAL(harness_wait_subprocess(p, 10000), 2);
        log = read_log(log_path);
        CU_ASSERT_PTR_NOT_NULL(strstr(log, "[listen:events] transport: dgram, but systemd "
                                           "passed a seqpacket socket"));
out:
        if (c >= 0)
                close(c);
        close(nfd);
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(seqpacket_activation_and_notifications),
                TAP_TEST(datagram_activation_and_notifications),
                TAP_TEST(stream_activation),
                TAP_TEST(fd_names_select_listen_sections),
                TAP_TEST(fd_name_of_the_wrong_transport_is_refused),
                { NULL, NULL },
        };

        signal(SIGPIPE, SIG_IGN);
        tap_add_suite_full("activation", suite_init, suite_cleanup, setup, teardown, tests);
        return tap_run();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-packaging.c — the D-Bus files a distribution installs, on a real
 * dbus-daemon: the session activation file starts ingesterd on a
 * subscriber's first call; the system bus policy, included in a bus
 * configured like Debian's system bus (deny own and method calls by
 * default), refuses the name to anyone but the ingester user, and lets
 * anyone else receive the signals and read the stats but nothing more.
 * The files are used as built, except where a test says what it replaces
 * (the binary's path; the user the policy names, when no ingester user
 * exists to run as).
 */
#include <glib/gstdio.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit-tap.h"
#include "harness.h"

static TestSuite suite; /* the suite's bus */
static TestFixture f;   /* this test's directory and daemon */

TESTSUITE_CALLBACKS(suite)
TESTSUITE_FIXTURE(suite, f)

static char *built(const char *relative)
{
        return g_build_filename(g_getenv("INGESTER_BUILDDIR"), relative, NULL);
}

static char *source(const char *relative)
{
        return g_build_filename(g_getenv("INGESTER_TEST_DATA"), "..", "..", relative, NULL);
}

static pid_t owner_pid(GDBusConnection *c)
{
        g_autoptr(GVariant) r = g_dbus_connection_call_sync(
                c, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                "GetConnectionUnixProcessID", g_variant_new("(s)", "org.ingester.Ingester1"),
                G_VARIANT_TYPE("(u)"), 0, 5000, NULL, NULL);
        guint32 pid = 0;

        if (r)
                g_variant_get(r, "(u)", &pid);
        return (pid_t) pid;
}

static bool wait_unowned(GDBusConnection *c)
{
        for (int i = 0; i < 500 && harness_name_owned(c); i++)
                g_usleep(10000);
        return !harness_name_owned(c);
}

/*
 * The session activation file: a call to the unowned name makes dbus-daemon
 * start ingesterd (Exec=; SystemdService= applies where systemd activates),
 * which answers it once it owns the name.
 */
static void test_session_activation_starts_the_daemon_on_first_call(void)
{
        g_autofree char *svc_in = built("doc/dbus/session/org.ingester.Ingester1.service");
        g_autofree char *svcdir = g_build_filename(f.dir, "services", NULL);
        g_autofree char *svc = g_build_filename(svcdir, "org.ingester.Ingester1.service", NULL);
        g_autofree char *daemon = built("src/ingesterd");
        g_autofree char *text = NULL, *body = NULL, *seq = NULL;
        g_auto(GStrv) lines = NULL;
        g_autoptr(GString) edited = g_string_new(NULL);
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) r = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *saved_xdg = g_strdup(g_getenv("XDG_RUNTIME_DIR"));
        g_autofree char *saved_debug = g_strdup(g_getenv("G_DEBUG"));
        TestBus bus = { 0 };
        struct stat st;
        pid_t pid;

        CU_ASSERT_TRUE_FATAL(g_file_get_contents(svc_in, &text, NULL, NULL));
        CU_ASSERT_PTR_NOT_NULL(strstr(text, "SystemdService=ingesterd.service\n"));
        lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++)
                if (g_str_has_prefix(*l, "Exec="))
                        g_string_append_printf(edited, "Exec=%s\n", daemon); /* not installed */
                else if (**l)
                        g_string_append_printf(edited, "%s\n", *l);
        g_assert_cmpint(g_mkdir(svcdir, 0700), ==, 0);
        g_assert_true(g_file_set_contents(svc, edited->str, -1, NULL));

        /* the activated daemon inherits the bus's environment: its sockets go to
         * $XDG_RUNTIME_DIR/ingester, and its warnings must not abort it */
        g_setenv("XDG_RUNTIME_DIR", f.dir, TRUE);
        g_setenv("G_DEBUG", "fatal-criticals", TRUE);
        body = g_strdup_printf("<type>session</type><auth>EXTERNAL</auth>"
                               "<servicedir>%s</servicedir><policy context=\"default\">"
                               "<allow send_destination=\"*\"/><allow eavesdrop=\"true\"/>"
                               "<allow own=\"*\"/></policy>",
                               svcdir);
        CU_ASSERT_TRUE_FATAL(testbus_start_config(&bus, f.dir, body));
        if (saved_xdg)
                g_setenv("XDG_RUNTIME_DIR", saved_xdg, TRUE);
        else
                g_unsetenv("XDG_RUNTIME_DIR");
        g_setenv("G_DEBUG", saved_debug ? saved_debug : "", TRUE);

        c = testbus_connect(&bus);
        CU_ASSERT_FALSE(harness_name_owned(c));
        r = g_dbus_connection_call_sync(c, "org.ingester.Ingester1", "/org/ingester/Ingester1",
                                        "org.ingester.Ingester1", "GetStats", NULL,
                                        G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, 20000,
                                        NULL, &error);
        CU_ASSERT_PTR_NOT_NULL(r);
        if (error)
                printf("# %s\n", error->message);
        CU_ASSERT_TRUE(harness_name_owned(c));
        seq = g_build_filename(f.dir, "ingester", "seqpacket.sock", NULL);
        CU_ASSERT_TRUE(stat(seq, &st) == 0 && S_ISSOCK(st.st_mode));
        pid = owner_pid(c);
        CU_ASSERT_TRUE_FATAL(pid > 0);
        kill(pid, SIGTERM);
        CU_ASSERT_TRUE(wait_unowned(c));
        g_dbus_connection_close_sync(c, NULL, NULL);
        testbus_stop(&bus);
}

/* What Debian's system.conf says by default, then the policy under test. */
static char *system_bus_body(const char *policy_file)
{
        return g_strdup_printf(
                "<type>system</type><auth>EXTERNAL</auth>"
                "<policy context=\"default\"><allow user=\"*\"/>"
                "<deny own=\"*\"/><deny send_type=\"method_call\"/>"
                "<allow send_type=\"signal\"/>"
                "<allow send_requested_reply=\"true\" send_type=\"method_return\"/>"
                "<allow send_requested_reply=\"true\" send_type=\"error\"/>"
                "<allow receive_type=\"method_call\"/><allow receive_type=\"method_return\"/>"
                "<allow receive_type=\"error\"/><allow receive_type=\"signal\"/>"
                "<allow send_destination=\"org.freedesktop.DBus\" "
                "send_interface=\"org.freedesktop.DBus\"/>"
                "<allow send_destination=\"org.freedesktop.DBus\" "
                "send_interface=\"org.freedesktop.DBus.Introspectable\"/>"
                "</policy><include>%s</include>",
                policy_file);
}

static GSubprocess *spawn_daemon(const TestBus *b, const char *log_path)
{
        g_autofree char *addr = g_strdup_printf("--address=%s", b->address);
        g_autofree char *seq = g_strdup_printf("--listen=seqpacket:%s/run/seqpacket.sock", f.dir);
        g_autoptr(GSubprocessLauncher) l =
                g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
        g_autoptr(GError) error = NULL;
        GSubprocess *p;

        g_subprocess_launcher_set_stderr_file_path(l, log_path);
        g_subprocess_launcher_setenv(l, "G_DEBUG", "fatal-criticals", TRUE);
        p = g_subprocess_launcher_spawn(l, &error, "ingesterd", addr, seq, NULL);
        g_assert_no_error(error);
        return p;
}

/* The policy as installed: we are not the ingester user, so the bus refuses
 * us the name, and the daemon says so (exit 3) rather than blaming an owner. */
static void test_system_policy_refuses_the_name_to_other_users(void)
{
        g_autofree char *policy = source("doc/dbus/org.ingester.Ingester1.conf");
        g_autofree char *body = system_bus_body(policy);
        g_autofree char *log_path = g_build_filename(f.dir, "ingesterd.log", NULL);
        g_autofree char *log = NULL;
        struct passwd *ingester = getpwnam("ingester");
        TestBus bus = { 0 };
        GSubprocess *p;

        if (ingester && ingester->pw_uid == geteuid()) {
                printf("# SKIP: this test runs as the ingester user, whom the policy admits\n");
                return;
        }
        CU_ASSERT_TRUE_FATAL(testbus_start_config(&bus, f.dir, body));
        p = spawn_daemon(&bus, log_path);
        CU_ASSERT_EQUAL(harness_wait_subprocess(p, 10000), 3);
        g_assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
        CU_ASSERT_PTR_NOT_NULL(strstr(log, "the bus does not let uid"));
        if (!strstr(log, "the bus does not let uid"))
                printf("# %s", log);
        g_object_unref(p);
        testbus_stop(&bus);
}

/* Starts argv as uid 65534 (nobody, no supplementary groups), stdout and stderr piped. */
static GSubprocess *spawn_as_nobody(const char *const *argv)
{
        g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
                G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
        g_autoptr(GPtrArray) a = g_ptr_array_new();
        g_autoptr(GError) error = NULL;
        GSubprocess *p;

        for (const char *const *s = (const char *const[]){ "setpriv", "--reuid=65534",
                                                            "--regid=65534", "--clear-groups",
                                                            NULL };
             *s; s++)
                g_ptr_array_add(a, (gpointer) *s);
        for (const char *const *s = argv; *s; s++)
                g_ptr_array_add(a, (gpointer) *s);
        g_ptr_array_add(a, NULL);
        g_subprocess_launcher_setenv(l, "G_DEBUG", "fatal-criticals", TRUE);
        p = g_subprocess_launcher_spawnv(l, (const char *const *) a->pdata, &error);
        g_assert_no_error(error);
        return p;
}

/* Waits for p; returns its exit status, its output in *out and *err. */
static int finish(GSubprocess *p, char **out, char **err)
{
        g_autoptr(GError) error = NULL;

        g_subprocess_communicate_utf8(p, NULL, NULL, out, err, &error);
        g_assert_no_error(error);
        return g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
}

static int run_as_nobody(const char *const *argv, char **out, char **err)
{
        g_autoptr(GSubprocess) p = spawn_as_nobody(argv);
        return finish(p, out, err);
}

/*
 * The policy with its user replaced by the one running the test (there is
 * no ingester user to run as here): that user owns the name, and another
 * user, nobody, may read the stats and receive the events, but may neither
 * set a property nor call anything undeclared.
 */
static void test_system_policy_lets_others_read_but_not_write(void)
{
        g_autofree char *policy_src = source("doc/dbus/org.ingester.Ingester1.conf");
        g_autofree char *policy = g_build_filename(f.dir, "policy.conf", NULL);
        g_autofree char *log_path = g_build_filename(f.dir, "ingesterd.log", NULL);
        g_autofree char *text = NULL, *edited = NULL, *body = NULL, *addr = NULL;
        g_autofree char *out = NULL, *err = NULL, *seq = NULL;
        g_autoptr(GDBusConnection) c = NULL;
        struct passwd *me = getpwuid(geteuid());
        g_auto(GStrv) parts = NULL;
        TestBus bus = { 0 };
        GSubprocess *p, *listen;
        int fd;

        if (geteuid() != 0) {
                printf("# SKIP: becoming another user (nobody) needs root\n");
                return;
        }
        CU_ASSERT_TRUE_FATAL(g_file_get_contents(policy_src, &text, NULL, NULL));
        parts = g_strsplit(text, "user=\"ingester\"", -1);
        CU_ASSERT_EQUAL_FATAL(g_strv_length(parts), 2); /* exactly one owner policy */
        edited = g_strdup_printf("%suser=\"%s\"%s", parts[0], me->pw_name, parts[1]);
        g_assert_true(g_file_set_contents(policy, edited, -1, NULL));
        body = system_bus_body(policy);
        /* nobody must reach the bus socket in our directory */
        g_assert_cmpint(chmod(suite.topdir, 0711), ==, 0);
        g_assert_cmpint(chmod(f.dir, 0711), ==, 0);
        CU_ASSERT_TRUE_FATAL(testbus_start_config(&bus, f.dir, body));
        c = testbus_connect(&bus);
        p = spawn_daemon(&bus, log_path);
        for (int i = 0; i < 500 && !harness_name_owned(c); i++)
                g_usleep(10000);
        CU_ASSERT_TRUE_FATAL(harness_name_owned(c));
        addr = g_strdup_printf("--address=%s", bus.address);

        /* stats: yes */
        CU_ASSERT_EQUAL(run_as_nobody((const char *const[]){ "ingester-listen", addr, "--stats",
                                                             NULL },
                                      &out, &err),
                        0);
        CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"received\""));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        /* setting a property: no (the policy's refusal, not the daemon's) */
        CU_ASSERT_NOT_EQUAL(run_as_nobody((const char *const[]){ "gdbus", "call", "--address",
                                                                 bus.address, "--dest",
                                                                 "org.ingester.Ingester1",
                                                                 "--object-path",
                                                                 "/org/ingester/Ingester1",
                                                                 "--method",
                                                                 "org.freedesktop.DBus."
                                                                 "Properties.Set",
                                                                 "org.ingester.Ingester1",
                                                                 "Version", "<'x'>", NULL },
                                          &out, &err),
                            0);
        CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "AccessDenied"));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);

        /* events: nobody receives them */
        listen = spawn_as_nobody((const char *const[]){ "ingester-listen", addr, "--count=1",
                                                        "--timeout=10", NULL });
        {
                /* "# listening" on stderr: its match rule is in place */
                g_autoptr(GDataInputStream) e =
                        g_data_input_stream_new(g_subprocess_get_stderr_pipe(listen));
                g_autofree char *line = NULL;
                g_filter_input_stream_set_close_base_stream(G_FILTER_INPUT_STREAM(e), FALSE);
                line = g_data_input_stream_read_line(e, NULL, NULL, NULL);
                CU_ASSERT_TRUE_FATAL(line && g_str_has_prefix(line, "# listening"));
        }
        seq = g_strdup_printf("%s/run/seqpacket.sock", f.dir);
        fd = seq_connect(seq);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        CU_ASSERT_EQUAL(send_fd_packet(fd, "{\"type\":\"seen\"}", 15, NULL, 0), 0);
        CU_ASSERT_EQUAL(finish(listen, &out, &err), 0);
        CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"type\":\"seen\""));
        close(fd);
        g_object_unref(listen);
        g_subprocess_send_signal(p, SIGTERM);
        CU_ASSERT_EQUAL(harness_wait_subprocess(p, 10000), 0);
        g_object_unref(p);
        g_dbus_connection_close_sync(c, NULL, NULL);
        testbus_stop(&bus);
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(session_activation_starts_the_daemon_on_first_call),
                TAP_TEST(system_policy_refuses_the_name_to_other_users),
                TAP_TEST(system_policy_lets_others_read_but_not_write),
                { NULL, NULL },
        };

        signal(SIGPIPE, SIG_IGN);
        tap_add_suite_full("packaging", suite_init, suite_cleanup, setup, teardown, tests);
        return tap_run();
}

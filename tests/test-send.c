/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-send.c — the built ingester-send (and the example reader) end to end:
 * the real tool as a child process, the built ingesterd, a private bus.
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "cunit-tap.h"
#include "harness.h"
#include "util.h"

static TestSuite suite; /* the suite's bus */
static TestFixture f;   /* this test's directory and daemon */

TESTSUITE_CALLBACKS(suite)
TESTSUITE_FIXTURE(suite, f)

static TestDaemon *start(const char *const *extra)
{
        TestDaemon *t = testdaemon_start(&suite.bus, f.dir, extra, 0);
        g_assert_nonnull(t);
        return t;
}

static GSubprocess *spawn(GSubprocessLauncher *l, const char *const *argv)
{
        g_autoptr(GSubprocessLauncher) own = NULL;
        g_autoptr(GError) error = NULL;
        GSubprocess *p;

        if (!l)
                l = own = g_subprocess_launcher_new(0);
        g_subprocess_launcher_set_flags(l, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                                   G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                   G_SUBPROCESS_FLAGS_STDERR_PIPE);
        p = g_subprocess_launcher_spawnv(l, argv, &error);
        g_assert_no_error(error);
        return p;
}

/* Runs argv to completion with @in on its stdin; returns the exit status and
 * (if @err) its stderr. */
static int run_with(GSubprocessLauncher *l, const char *in, char **err, const char *const *argv)
{
        g_autoptr(GSubprocess) p = spawn(l, argv);
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL, *e = NULL;

        g_subprocess_communicate_utf8(p, in ? in : "", NULL, &out, &e, &error);
        g_assert_no_error(error);
        if (err)
                *err = g_steal_pointer(&e);
        return g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : 128;
}

#define RUN(in, err, ...) run_with(NULL, (in), (err), (const char *const[]){ __VA_ARGS__, NULL })

static GVariant *child(GDBusMessage *m, int i)
{
        return g_variant_get_child_value(g_dbus_message_get_body(m), (gsize) i);
}

static const char *event_type(GDBusMessage *m)
{
        g_autoptr(GVariant) t = child(m, 0);
        return g_intern_string(g_variant_get_string(t, NULL));
}

static const char *meta_string(GDBusMessage *m, const char *key)
{
        g_autoptr(GVariant) meta = child(m, 2);
        const char *s = NULL;
        g_variant_lookup(meta, key, "&s", &s);
        return g_intern_string(s);
}

/* The next Event within 5 s; ends the test when there is none. */
static GDBusMessage *next_event(void)
{
        GDBusMessage *m = testdaemon_next_event(f.d, 5000);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        return m;
}

static void expect_no_more_events(void)
{
        g_autoptr(GDBusMessage) m = testdaemon_next_event(f.d, 200);
        CU_ASSERT_PTR_NULL(m);
}

/* ---- what gets sent ---- */

static void test_fields_make_one_typed_event(void)
{
        g_autoptr(GDBusMessage) m = NULL;
        g_autoptr(GVariant) data = NULL, want = NULL;

        f.d = start(NULL);
        CU_ASSERT_EQUAL(RUN(NULL, NULL, "ingester-send", "--socket", f.d->seq_path, "type=pending",
                            "container=web", "port:=443", "tags:=[\"a\"]", "ok:=true",
                            "note=a=b \"q\""),
                        0);
        m = next_event();
        CU_ASSERT_STRING_EQUAL(event_type(m), "pending");
        data = child(m, 1);
        want = g_variant_parse(G_VARIANT_TYPE("a{sv}"),
                               "{'type': <'pending'>, 'container': <'web'>, 'port': <int64 443>, "
                               "'tags': <[<'a'>]>, 'ok': <true>, 'note': <'a=b \"q\"'>}",
                               NULL, NULL, NULL); /* not floating */
        CU_ASSERT_TRUE(g_variant_equal(data, want));
        expect_no_more_events();
}

static void test_each_argument_is_one_event_in_order(void)
{
        g_autoptr(GDBusMessage) a = NULL, b = NULL;

        f.d = start(NULL);
        CU_ASSERT_EQUAL(RUN(NULL, NULL, "ingester-send", "--socket", f.d->dgram_path,
                            "{\"type\":\"first\"}", " {\"type\":\"second\"}"),
                        0);
        a = next_event();
        b = next_event();
        CU_ASSERT_STRING_EQUAL(event_type(a), "first");
        CU_ASSERT_STRING_EQUAL(event_type(b), "second");
        CU_ASSERT_STRING_EQUAL(meta_string(a, "transport"), "dgram");
}

static void test_bad_lines_are_reported_and_good_ones_still_go(void)
{
        const char *in = "{\"type\":\"l1\"}\n"
                         "\n"
                         "   \t\n"
                         "not json\n"
                         "{\"type\":2}\n"
                         "[1]\n"
                         "  {\"type\":\"l7\"}  \r\n";
        g_autofree char *err = NULL;
        g_autoptr(GDBusMessage) a = NULL, b = NULL;

        f.d = start(NULL);
        CU_ASSERT_EQUAL(RUN(in, &err, "ingester-send", "--socket", f.d->seq_path), 1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 4: not sent: syntax"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 5: not sent: type-not-string"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 6: not sent: not-object"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "2 events sent, 3 refused"));
        CU_ASSERT_PTR_NULL(strstr(err, "line 2"));
        a = next_event();
        b = next_event();
        CU_ASSERT_STRING_EQUAL(event_type(a), "l1");
        CU_ASSERT_STRING_EQUAL(event_type(b), "l7");
        expect_no_more_events();
        /* the bad lines never reached the daemon */
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "received"), 2);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected-total"), 0);
}

static void test_msgpack_carries_the_same_values_as_json(void)
{
        /* U+1F600 as a surrogate pair: json-c alone would turn it into U+FFFD */
        const char *json = "{\"type\":\"mp\",\"big\":18446744073709551615,\"neg\":-5,"
                           "\"f\":1.5,\"s\":\"\\ud83d\\ude00 \\u00e9\",\"nested\":{\"a\":[true,"
                           "{\"b\":\"c\"}]},\"gone\":null}";
        g_autoptr(GDBusMessage) j = NULL, mp = NULL;
        g_autoptr(GVariant) jd = NULL, md = NULL;

        f.d = start(NULL);
        CU_ASSERT_EQUAL(RUN(NULL, NULL, "ingester-send", "--socket", f.d->seq_path, json), 0);
        CU_ASSERT_EQUAL(RUN(NULL, NULL, "ingester-send", "--msgpack", "--socket", f.d->seq_path,
                            json),
                        0);
        j = next_event();
        mp = next_event();
        CU_ASSERT_STRING_EQUAL(meta_string(j, "codec"), "json");
        CU_ASSERT_STRING_EQUAL(meta_string(mp, "codec"), "msgpack");
        jd = child(j, 1);
        md = child(mp, 1);
        CU_ASSERT_TRUE(g_variant_equal(jd, md));
        {
                const char *s = NULL;
                g_variant_lookup(md, "s", "&s", &s);
                CU_ASSERT_STRING_EQUAL(s, "\xf0\x9f\x98\x80 \xc3\xa9");
        }
}

static void test_files_and_inherited_fds_are_passed(void)
{
        g_autofree char *file = g_build_filename(f.dir, "payload.txt", NULL);
        g_autofree char *fdarg = NULL;
        g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(0);
        g_autoptr(GDBusMessage) m = NULL;
        GUnixFDList *list;
        int p[2];
        char buf[16] = { 0 };

        f.d = start(NULL);
        g_assert_true(g_file_set_contents(file, "hello", -1, NULL));
        g_assert_cmpint(pipe2(p, O_CLOEXEC | O_NONBLOCK), ==, 0);
        g_subprocess_launcher_take_fd(l, p[1], 7); /* the child's fd 7 */
        CU_ASSERT_EQUAL(run_with(l, NULL, NULL,
                                 (const char *const[]){ "ingester-send", "--socket", f.d->seq_path,
                                                        "--file", file, "--fd", "7", "type=fds",
                                                        NULL }),
                        0);
        m = next_event();
        list = g_dbus_message_get_unix_fd_list(m);
        CU_ASSERT_PTR_NOT_NULL_FATAL(list);
        CU_ASSERT_EQUAL_FATAL(g_unix_fd_list_get_length(list), 2);
        {
                /* --fd descriptors come first, then --file ones */
                _cleanup_close_ int w = g_unix_fd_list_get(list, 0, NULL);
                _cleanup_close_ int from_file = g_unix_fd_list_get(list, 1, NULL);
                CU_ASSERT_EQUAL(pread(from_file, buf, sizeof(buf) - 1, 0), 5);
                CU_ASSERT_STRING_EQUAL(buf, "hello");
                CU_ASSERT_EQUAL(write(w, "!", 1), 1);
        }
        CU_ASSERT_EQUAL(read(p[0], buf, 1), 1);
        CU_ASSERT_EQUAL(buf[0], '!');
        close(p[0]);
}

/* 16 descriptors (the bus's per-message limit) is the most the tool passes;
 * a daemon with max-fds=16 relays them all. 17 is a usage error. */
static void test_descriptor_limit_is_16(void)
{
        const char *const extra[] = { "--max-fds=16", NULL };
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_autoptr(GDBusMessage) m = NULL;
        g_autofree char *err = NULL;

        f.d = start(extra);
        g_ptr_array_add(argv, (gpointer) "ingester-send");
        g_ptr_array_add(argv, (gpointer) "--socket");
        g_ptr_array_add(argv, f.d->seq_path);
        for (int i = 0; i < 16; i++) {
                g_ptr_array_add(argv, (gpointer) "--file");
                g_ptr_array_add(argv, (gpointer) "/dev/null");
        }
        g_ptr_array_add(argv, (gpointer) "type=sixteen");
        g_ptr_array_add(argv, NULL);
        CU_ASSERT_EQUAL(run_with(NULL, NULL, NULL, (const char *const *) argv->pdata), 0);
        m = next_event();
        CU_ASSERT_PTR_NOT_NULL_FATAL(g_dbus_message_get_unix_fd_list(m));
        CU_ASSERT_EQUAL(g_unix_fd_list_get_length(g_dbus_message_get_unix_fd_list(m)), 16);

        g_ptr_array_remove_index(argv, argv->len - 1); /* the NULL */
        g_ptr_array_remove_index(argv, argv->len - 1); /* the field */
        g_ptr_array_add(argv, (gpointer) "--file");
        g_ptr_array_add(argv, (gpointer) "/dev/null");
        g_ptr_array_add(argv, (gpointer) "type=seventeen");
        g_ptr_array_add(argv, NULL);
        CU_ASSERT_EQUAL(run_with(NULL, NULL, &err, (const char *const *) argv->pdata), 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "at most 16 descriptors"));
        expect_no_more_events();
}

static void test_environment_names_the_default_socket(void)
{
        g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(0);
        g_autoptr(GDBusMessage) m = NULL;

        f.d = start(NULL);
        g_subprocess_launcher_setenv(l, "INGESTER_SOCKET", f.d->dgram_path, TRUE);
        CU_ASSERT_EQUAL(run_with(l, "{\"type\":\"env\"}\n", NULL,
                                 (const char *const[]){ "ingester-send", NULL }),
                        0);
        m = next_event();
        CU_ASSERT_STRING_EQUAL(meta_string(m, "transport"), "dgram");
}

static void test_many_lines_go_over_one_connection(void)
{
        /* 100k lines; emission off so the bus is not what is measured */
        const char *const extra[] = { "--bench-no-emit", NULL };
        g_autoptr(GString) in = g_string_new(NULL);
        g_autofree char *err = NULL;
        const unsigned n = 100000;

        f.d = start(extra);
        for (unsigned i = 0; i < n; i++)
                g_string_append_printf(in, "{\"type\":\"bulk\",\"i\":%u}\n", i);
        CU_ASSERT_EQUAL(RUN(in->str, &err, "ingester-send", "--socket", f.d->seq_path), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "100000 events sent, 0 refused"));
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "received", n), n);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected-total"), 0);
        /* one connection for the whole run */
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "connections-accepted"), 1);
}

/* ---- when things go wrong ---- */

static void test_daemon_not_running_is_status_3(void)
{
        g_autofree char *path = g_build_filename(f.dir, "nobody.sock", NULL);
        g_autofree char *err = NULL;

        CU_ASSERT_EQUAL(RUN(NULL, &err, "ingester-send", "--socket", path, "type=x"), 3);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot reach ingesterd at"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
        CU_ASSERT_EQUAL(RUN("{}\n", NULL, "ingester-send", "--socket", path), 3);
}

static void test_daemon_started_late_is_reached_by_retries(void)
{
        g_autofree char *seq = g_build_filename(f.dir, "run", "seqpacket.sock", NULL);
        g_autoptr(GSubprocess) p = spawn(NULL, (const char *const[]){
                "ingester-send", "--socket", seq, "--retry", "200", "--retry-interval", "25",
                "--retry-factor", "1.5", "--retry-max-interval", "50", "type=late", NULL });
        g_autoptr(GDBusMessage) m = NULL;

        g_output_stream_close(g_subprocess_get_stdin_pipe(p), NULL, NULL);
        g_usleep(300 * 1000);
        CU_ASSERT_PTR_NOT_NULL(g_subprocess_get_identifier(p)); /* still retrying */
        f.d = start(NULL);
        CU_ASSERT_EQUAL(harness_wait_subprocess(p, 10000), 0);
        m = next_event();
        CU_ASSERT_STRING_EQUAL(event_type(m), "late");
}

static void test_wrong_forced_transport_is_status_3(void)
{
        g_autofree char *err = NULL;

        f.d = start(NULL);
        CU_ASSERT_EQUAL(RUN(NULL, &err, "ingester-send", "--dgram", "--socket", f.d->seq_path,
                            "type=x"),
                        3);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, g_strerror(EPROTOTYPE)));
        CU_ASSERT_EQUAL(RUN(NULL, NULL, "ingester-send", "--seqpacket", "--socket", f.d->seq_path,
                            "type=ok"),
                        0);
}

static void test_usage_errors_are_status_2_and_send_nothing(void)
{
        static const char *const cases[][6] = {
                { "--dgram", "--seqpacket", "type=x", NULL },
                { "=x", NULL },
                { "novalue", NULL },
                { "--fd", "999", "type=x", NULL },
                { "--fd", "seven", "type=x", NULL },
                { "--file", "/nonexistent/file", "type=x", NULL },
                { "--retry", "often", "type=x", NULL },
                { "--retry", "3", "--retry-factor", "0.5", "type=x" },
                { "{\"a\":1}", "b=2", NULL },
                { "--no-such-option", NULL },
        };
        g_autoptr(GDBusMessage) m = NULL;

        f.d = start(NULL);
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GPtrArray) argv = g_ptr_array_new();
                g_autofree char *err = NULL;
                int status;

                g_ptr_array_add(argv, (gpointer) "ingester-send");
                g_ptr_array_add(argv, (gpointer) "--socket");
                g_ptr_array_add(argv, f.d->seq_path);
                for (size_t j = 0; j < G_N_ELEMENTS(cases[i]) && cases[i][j]; j++)
                        g_ptr_array_add(argv, (gpointer) cases[i][j]);
                g_ptr_array_add(argv, NULL);
                status = run_with(NULL, NULL, &err, (const char *const *) argv->pdata);
                if (status != 2)
                        g_printerr("# case %zu: status %d: %s", i, status, err);
                CU_ASSERT_EQUAL(status, 2);
                CU_ASSERT_TRUE(g_str_has_prefix(err, "ingester-send: "));
        }
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "received"), 0);
        /* and then a good one */
        CU_ASSERT_EQUAL(RUN(NULL, NULL, "ingester-send", "--socket", f.d->seq_path, "type=good"), 0);
        m = next_event();
        CU_ASSERT_STRING_EQUAL(event_type(m), "good");
}

static void test_help_and_version(void)
{
        g_autoptr(GSubprocess) p = spawn(NULL, (const char *const[]){ "ingester-send", "--version", NULL });
        g_autofree char *out = NULL, *err = NULL;

        g_subprocess_communicate_utf8(p, "", NULL, &out, &err, NULL);
        CU_ASSERT_EQUAL(g_subprocess_get_exit_status(p), 0);
        CU_ASSERT_STRING_EQUAL(out, "ingester-send " PACKAGE_VERSION "\n");
        g_clear_object(&p);
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        p = spawn(NULL, (const char *const[]){ "ingester-send", "--help", NULL });
        g_subprocess_communicate_utf8(p, "", NULL, &out, &err, NULL);
        CU_ASSERT_EQUAL(g_subprocess_get_exit_status(p), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "--retry"));
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "Exit status"));
        g_clear_object(&p);
        /* in a UTF-8 locale, GLib's help speaks UTF-8 ("[OPTION…]", not
         * "[OPTION?]"): every tool calls setlocale() */
        for (const char *const *tool = (const char *const[]){ "ingester-send", "ingester-listen",
                                                              "ingesterd", NULL };
             *tool; tool++) {
                g_autoptr(GSubprocessLauncher) l =
                        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                  G_SUBPROCESS_FLAGS_STDERR_SILENCE);
                g_autoptr(GSubprocess) q = NULL;
                g_autofree char *help = NULL;

                g_subprocess_launcher_setenv(l, "LC_ALL", "C.UTF-8", TRUE);
                q = g_subprocess_launcher_spawnv(l, (const char *const[]){ *tool, "--help", NULL },
                                                 NULL);
                CU_ASSERT_PTR_NOT_NULL_FATAL(q);
                g_subprocess_communicate_utf8(q, NULL, NULL, &help, NULL, NULL);
                if (!help || !strstr(help, "[OPTION\u2026]"))
                        printf("# %s --help: %.60s\n", *tool, help ? help : "(nothing)");
                CU_ASSERT_PTR_NOT_NULL(help && strstr(help, "[OPTION\u2026]"));
        }
}

/* ---- doc/examples/reader.c ---- */

static char *example(const char *name)
{
        return g_build_filename(g_getenv("INGESTER_TEST_DATA"), "..", "..", "doc", "examples", name,
                                NULL);
}

/* The next event is an example.line with this n and line, carrying n_fds descriptors. */
static void expect_line(gint64 want_n, const char *want_line, unsigned want_fds)
{
        g_autoptr(GDBusMessage) m = next_event();
        g_autoptr(GVariant) data = child(m, 1);
        const char *line = NULL;
        gint64 n = 0;
        GUnixFDList *fds = g_dbus_message_get_unix_fd_list(m);

        CU_ASSERT_STRING_EQUAL(event_type(m), "example.line");
        CU_ASSERT_TRUE(g_variant_lookup(data, "n", "x", &n));
        CU_ASSERT_EQUAL(n, want_n);
        CU_ASSERT_TRUE(g_variant_lookup(data, "line", "&s", &line));
        CU_ASSERT_STRING_EQUAL(line ? line : "", want_line);
        CU_ASSERT_EQUAL(fds ? (unsigned) g_unix_fd_list_get_length(fds) : 0, want_fds);
}

/* The Python reader (standard library only): lines with a descriptor over
 * SEQPACKET, and over DGRAM a line too large for a datagram, which it sends
 * as a sealed memfd. */
static void test_python_reader(void)
{
        g_autofree char *reader = example("reader.py");
        g_autofree char *big = g_strnfill(300000, 'y');
        g_autofree char *in = g_strdup_printf("%s\n", big);

        if (!g_file_test("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE)) {
                printf("# SKIP: no /usr/bin/python3\n");
                return;
        }
        {
                /* a line of one 300 kB string: max-string raised to let it through */
                g_autofree char *arg = harness_config_arg(f.dir, "[limits]\nmax-string=400000\n");
                f.d = start((const char *const[]){ arg, NULL });
        }
        CU_ASSERT_EQUAL(RUN("first\nsecond \"quoted\"\n", NULL, "/usr/bin/python3", reader,
                            "--fd", "/dev/null", f.d->seq_path),
                        0);
        expect_line(1, "first", 1);
        expect_line(2, "second \"quoted\"", 1);
        {
                /* too large for a datagram: it goes as a sealed memfd */
                CU_ASSERT_EQUAL(RUN(in, NULL, "/usr/bin/python3", reader, f.d->dgram_path), 0);
                expect_line(1, big, 0);
        }
        CU_ASSERT_EQUAL(RUN("x\n", NULL, "/usr/bin/python3", reader, "/nonexistent/socket"), 3);
        expect_no_more_events();
}

/* The shell reader: through ingester-send (with a descriptor), and through socat. */
static void test_shell_reader(void)
{
        g_autofree char *reader = example("reader.sh");
        g_autofree char *socat = g_find_program_in_path("socat");
        g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(0);

        f.d = start(NULL);
        g_subprocess_launcher_setenv(l, "READER_FILE", "/dev/null", TRUE);
        CU_ASSERT_EQUAL(run_with(l, "one\ntwo words\n", NULL,
                                 (const char *const[]){ "/bin/sh", reader, f.d->seq_path, NULL }),
                        0);
        expect_line(1, "one", 1);
        expect_line(2, "two words", 1);
        if (socat) {
                g_autoptr(GSubprocessLauncher) s = g_subprocess_launcher_new(0);
                g_subprocess_launcher_setenv(s, "SOCAT", "1", TRUE);
                CU_ASSERT_EQUAL(run_with(s, "plain\n", NULL,
                                         (const char *const[]){ "/bin/sh", reader, f.d->dgram_path,
                                                                NULL }),
                                0);
                expect_line(1, "plain", 0);
        } else {
                printf("# socat is not installed: its half is skipped\n");
        }
        expect_no_more_events();
}

/* The Rust reader, std only, where rustc is installed: datagrams, and lines
 * to a stream listener. (The Go one is built where go is.) */
static void test_rust_and_go_readers(void)
{
        g_autofree char *rs = example("reader.rs");
        g_autofree char *go_src = example("reader.go");
        g_autofree char *bin = g_build_filename(f.dir, "reader-rs", NULL);
        g_autofree char *stream = g_build_filename(f.dir, "run", "stream.sock", NULL);
        g_autofree char *listen = g_strdup_printf("--listen=stream:%s", stream);
        g_autofree char *rustc = g_find_program_in_path("rustc");
        g_autofree char *go = g_find_program_in_path("go");

        f.d = start((const char *const[]){ listen, NULL });
        if (rustc) {
                CU_ASSERT_EQUAL_FATAL(RUN(NULL, NULL, rustc, "-O", "-o", bin, rs), 0);
                CU_ASSERT_EQUAL(RUN("dgram \"q\"\n", NULL, bin, f.d->dgram_path), 0);
                expect_line(1, "dgram \"q\"", 0);
                CU_ASSERT_EQUAL(RUN("a\nb\n", NULL, bin, stream), 0);
                expect_line(1, "a", 0);
                expect_line(2, "b", 0);
        } else {
                printf("# SKIP: rustc is not installed\n");
        }
        if (go) {
                g_autofree char *gobin = g_build_filename(f.dir, "reader-go", NULL);
                CU_ASSERT_EQUAL_FATAL(RUN(NULL, NULL, go, "build", "-o", gobin, go_src), 0);
                CU_ASSERT_EQUAL(RUN("go\n", NULL, gobin, f.d->seq_path), 0);
                expect_line(1, "go", 1);
        } else {
                printf("# SKIP: go is not installed\n");
        }
        expect_no_more_events();
}

static void test_example_reader_sends_each_line(void)
{
        g_autoptr(GDBusMessage) a = NULL, b = NULL;
        g_autoptr(GVariant) data = NULL;
        const char *line = NULL;
        gint64 n = 0;

        f.d = start(NULL);
        CU_ASSERT_EQUAL(RUN("first\nsecond \"quoted\"\n", NULL, "example-reader", f.d->seq_path), 0);
        a = next_event();
        b = next_event();
        CU_ASSERT_STRING_EQUAL(event_type(b), "example.line");
        data = child(b, 1);
        CU_ASSERT_TRUE(g_variant_lookup(data, "line", "&s", &line));
        CU_ASSERT_STRING_EQUAL(line, "second \"quoted\"");
        CU_ASSERT_TRUE(g_variant_lookup(data, "n", "x", &n));
        CU_ASSERT_EQUAL(n, 2);
}

/*
 * A stream socket (the seed deployment's kind) is found by itself, and
 * --stream forces it: stdin lines, arguments and fields go out as one JSON
 * line each, a pretty-printed argument included. msgpack and descriptors
 * cannot ride a stream: status 2, nothing sent.
 */
static void test_stream_socket_gets_one_line_per_event(void)
{
        g_autofree char *stream = g_build_filename(f.dir, "run", "stream.sock", NULL);
        g_autofree char *listen = g_strdup_printf("--listen=stream:%s", stream);
        g_autofree char *err = NULL;
        const char *argv[] = { listen, NULL };

        f.d = start(argv);
        CU_ASSERT_EQUAL(RUN("{\"type\":\"a\"}\n\n{\"type\":\"b\"}\n", NULL, "ingester-send", "--socket",
                            stream),
                        0);
        CU_ASSERT_EQUAL(RUN(NULL, NULL, "ingester-send", "--stream", "--socket", stream,
                            "{\n  \"type\": \"pretty\",\r\n  \"n\": 1\n}"),
                        0);
        CU_ASSERT_EQUAL(RUN(NULL, NULL, "ingester-send", "--socket", stream, "type=fields"), 0);
        {
                const char *want[] = { "a", "b", "pretty", "fields" };
                for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
                        g_autoptr(GDBusMessage) m = next_event();
                        CU_ASSERT_STRING_EQUAL(event_type(m), want[i]);
                        CU_ASSERT_STRING_EQUAL(meta_string(m, "transport"), "stream");
                }
        }
        CU_ASSERT_EQUAL(RUN(NULL, &err, "ingester-send", "--socket", stream, "--msgpack",
                            "type=x"),
                        2);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "stream socket"));
        CU_ASSERT_EQUAL(RUN(NULL, NULL, "ingester-send", "--socket", stream, "--file",
                            "/dev/null", "type=x"),
                        2);
        CU_ASSERT_EQUAL(RUN(NULL, NULL, "ingester-send", "--stream", "--seqpacket", "--socket",
                            stream, "type=x"),
                        2);
        /* forced, on a socket of another kind */
        CU_ASSERT_EQUAL(RUN(NULL, NULL, "ingester-send", "--stream", "--socket", f.d->seq_path,
                            "type=x"),
                        3);
        expect_no_more_events();
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected-total"), 0);
}

int main(void)
{
        static const TapTest send_tests[] = {
                TAP_TEST(fields_make_one_typed_event),
                TAP_TEST(each_argument_is_one_event_in_order),
                TAP_TEST(bad_lines_are_reported_and_good_ones_still_go),
                TAP_TEST(msgpack_carries_the_same_values_as_json),
                TAP_TEST(files_and_inherited_fds_are_passed),
                TAP_TEST(descriptor_limit_is_16),
                TAP_TEST(environment_names_the_default_socket),
                TAP_TEST(many_lines_go_over_one_connection),
                TAP_TEST(stream_socket_gets_one_line_per_event),
                { NULL, NULL },
        };
        static const TapTest failure_tests[] = {
                TAP_TEST(daemon_not_running_is_status_3),
                TAP_TEST(daemon_started_late_is_reached_by_retries),
                TAP_TEST(wrong_forced_transport_is_status_3),
                TAP_TEST(usage_errors_are_status_2_and_send_nothing),
                TAP_TEST(help_and_version),
                { NULL, NULL },
        };
        static const TapTest example_tests[] = {
                TAP_TEST(example_reader_sends_each_line),
                TAP_TEST(python_reader),
                TAP_TEST(shell_reader),
                TAP_TEST(rust_and_go_readers),
                { NULL, NULL },
        };

        tap_add_suite_full("send", suite_init, suite_cleanup, setup, teardown, send_tests);
        tap_add_suite_full("send-failures", suite_init, suite_cleanup, setup, teardown,
                           failure_tests);
        tap_add_suite_full("example", suite_init, suite_cleanup, setup, teardown, example_tests);
        return tap_run();
}

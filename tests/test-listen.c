/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-listen.c — ingester-listen end to end: the built daemon and tool on
 * a private dbus-daemon; its JSON lines parsed back with json-c and
 * compared with what was sent (every value kind, descriptors), filters,
 * and every exit status.
 */
#include <fcntl.h>
#include <json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cunit-tap.h"
#include "harness.h"

static TestSuite suite; /* the suite's bus */
static TestFixture f;   /* this test's directory and daemon */

TESTSUITE_CALLBACKS(suite)

/* Every test here has a daemon: started before it, stopped after. */
static void setup(void)
{
        f = (TestFixture){ .dir = testsuite_new_dir(&suite) };
        f.d = testdaemon_start(&suite.bus, f.dir, NULL, 0);
}

static void teardown(void)
{
        g_clear_pointer(&f.d, testdaemon_free);
        g_clear_pointer(&f.dir, g_free);
}

/* Starts ingester-listen on the suite's bus with extra arguments (NULL-terminated)
 * and returns once it says it is listening. */
static GSubprocess *listen_start(const char *first, ...)
{
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        g_autoptr(GDataInputStream) err = NULL;
        g_autofree char *line = NULL;
        GSubprocess *p;
        va_list ap;

        g_ptr_array_add(argv, g_strdup("ingester-listen"));
        g_ptr_array_add(argv, g_strdup_printf("--address=%s", suite.bus.address));
        va_start(ap, first);
        for (const char *a = first; a; a = va_arg(ap, const char *))
                g_ptr_array_add(argv, g_strdup(a));
        va_end(ap);
        g_ptr_array_add(argv, NULL);
        p = g_subprocess_newv((const char *const *) argv->pdata,
                              G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                              &error);
        g_assert_no_error(error);
        err = g_data_input_stream_new(g_subprocess_get_stderr_pipe(p));
        line = g_data_input_stream_read_line(err, NULL, NULL, NULL);
        CU_ASSERT_TRUE(line && g_str_has_prefix(line, "# listening on "));
        return p;
}

/* Waits for the tool to exit; returns its status and its stdout's lines. */
static int listen_finish(GSubprocess *p, GPtrArray **ret_lines)
{
        g_autoptr(GDataInputStream) out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(p));
        GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
        char *line;
        int status;

        while ((line = g_data_input_stream_read_line(out, NULL, NULL, NULL)))
                g_ptr_array_add(lines, line);
        status = harness_wait_subprocess(p, 10000);
        if (status != 0)
                printf("# ingester-listen: exit status %d, %u lines\n", status, lines->len);
        *ret_lines = lines;
        return status;
}

static void send_json(const char *json)
{
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, json, strlen(json), NULL, 0), 0);
}

static json_object *member(json_object *o, const char *path)
{
        g_auto(GStrv) parts = g_strsplit(path, ".", -1);
        for (char **p = parts; *p && o; p++)
                if (!json_object_object_get_ex(o, *p, &o))
                        return NULL;
        return o;
}

static void test_every_value_kind_and_descriptors_read_back(void)
{
        /* {"type":"bin","b":bin8 00 ff 10}: a msgpack bin has no JSON form of its own */
        static const unsigned char bin[] = { 0x82, 0xa4, 't',  'y',  'p', 'e', 0xa3, 'b', 'i',
                                             'n',  0xa1, 'b',  0xc4, 0x03, 0x00, 0xff, 0x10 };
        g_autoptr(GPtrArray) lines = NULL;
        g_autofree char *file = g_build_filename(f.dir, "passed.txt", NULL);
        GSubprocess *p;
        int fd;

        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        p = listen_start("--count=3", "--timeout=10", NULL);
        send_json("{\"type\":\"kinds\",\"s\":\"q\\\"\\\\\\n\\u00e9\\u0001\",\"n\":-5,"
                  "\"big\":18446744073709551615,\"d\":0.1,\"t\":true,\"f\":false,"
                  "\"o\":{\"a\":[1,\"two\",{}]},\"e\":[]}");
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, bin, sizeof(bin), NULL, 0), 0);
        g_assert_true(g_file_set_contents(file, "x", 1, NULL));
        fd = open(file, O_RDONLY | O_CLOEXEC);
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, "{\"type\":\"fd\"}", 13, &fd, 1), 0);
        close(fd);
        CU_ASSERT_EQUAL(listen_finish(p, &lines), 0);
        g_object_unref(p);
        CU_ASSERT_EQUAL_FATAL(lines->len, 3);
        {
                json_object *o = json_tokener_parse(lines->pdata[0]);
                CU_ASSERT_PTR_NOT_NULL_FATAL(o);
                CU_ASSERT_STRING_EQUAL(json_object_get_string(member(o, "type")), "kinds");
                CU_ASSERT_STRING_EQUAL(json_object_get_string(member(o, "data.s")),
                                       "q\"\\\n\xc3\xa9\x01");
                CU_ASSERT_EQUAL(json_object_get_int64(member(o, "data.n")), -5);
                CU_ASSERT_EQUAL(json_object_get_uint64(member(o, "data.big")), G_MAXUINT64);
                CU_ASSERT_EQUAL(json_object_get_double(member(o, "data.d")), 0.1);
                CU_ASSERT_TRUE(json_object_get_boolean(member(o, "data.t")));
                CU_ASSERT_TRUE(json_object_is_type(member(o, "data.f"), json_type_boolean));
                CU_ASSERT_FALSE(json_object_get_boolean(member(o, "data.f")));
                CU_ASSERT_EQUAL(json_object_array_length(member(o, "data.o.a")), 3);
                CU_ASSERT_EQUAL(json_object_array_length(member(o, "data.e")), 0);
                CU_ASSERT_STRING_EQUAL(json_object_get_string(member(o, "meta.transport")),
                                       "dgram");
                CU_ASSERT_EQUAL(json_object_get_int(member(o, "meta.uid")), (int) getuid());
                CU_ASSERT_EQUAL(json_object_get_int64(member(o, "meta.seq")), 1);
                CU_ASSERT_EQUAL(json_object_array_length(member(o, "fds")), 0);
                json_object_put(o);
        }
        {
                json_object *o = json_tokener_parse(lines->pdata[1]);
                CU_ASSERT_PTR_NOT_NULL_FATAL(o);
                CU_ASSERT_STRING_EQUAL(json_object_get_string(member(o, "data.b")), "AP8Q");
                CU_ASSERT_STRING_EQUAL(json_object_get_string(member(o, "meta.codec")),
                                       "msgpack");
                json_object_put(o);
        }
        {
                json_object *o = json_tokener_parse(lines->pdata[2]);
                json_object *fds = NULL;
                CU_ASSERT_PTR_NOT_NULL_FATAL(o);
                fds = member(o, "fds");
                CU_ASSERT_EQUAL_FATAL(json_object_array_length(fds), 1);
                CU_ASSERT_STRING_EQUAL(json_object_get_string(json_object_array_get_idx(fds, 0)),
                                       file);
                json_object_put(o);
        }
}

/*
 * Under signal-form=batch the events come in EventBatch signals, under both
 * as Event and in batches: either way one line per event, in order, with
 * each one's own descriptors. The daemon is stopped while the events are
 * sent, so several share a batch.
 */
static void check_form(const char *form)
{
        g_autofree char *arg = g_strdup_printf("--signal-form=%s", form);
        const char *extra[] = { arg, NULL };
        g_autoptr(GPtrArray) lines = NULL;
        g_autofree char *file = g_build_filename(f.dir, "passed.txt", NULL);
        pid_t pid;
        GSubprocess *p;
        int fd;

        g_clear_pointer(&f.d, testdaemon_free);
        f.d = testdaemon_start(&suite.bus, f.dir, extra, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        pid = (pid_t) atoi(g_subprocess_get_identifier(f.d->proc));
        g_assert_true(g_file_set_contents(file, "x", 1, NULL));
        fd = open(file, O_RDONLY | O_CLOEXEC);
        /* one more than come: the timeout says no event was printed twice */
        p = listen_start("--count=6", "--timeout=2", NULL);
        kill(pid, SIGSTOP);
        for (int i = 1; i <= 5; i++) {
                g_autofree char *j = g_strdup_printf("{\"type\":\"f\",\"i\":%d}", i);
                CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, j, strlen(j), i % 2 ? NULL : &fd,
                                           i % 2 ? 0 : 1), 0);
        }
        kill(pid, SIGCONT);
        close(fd);
        CU_ASSERT_EQUAL(listen_finish(p, &lines), 1);
        g_object_unref(p);
        CU_ASSERT_EQUAL_FATAL(lines->len, 5);
        for (guint k = 0; k < 5; k++) {
                json_object *o = json_tokener_parse(lines->pdata[k]);
                json_object *fds;
                CU_ASSERT_PTR_NOT_NULL_FATAL(o);
                CU_ASSERT_EQUAL(json_object_get_int(member(o, "data.i")), (int) k + 1);
                CU_ASSERT_EQUAL(json_object_get_int64(member(o, "meta.seq")), (int64_t) k + 1);
                fds = member(o, "fds");
                CU_ASSERT_EQUAL_FATAL(json_object_array_length(fds), (k + 1) % 2 ? 0 : 1);
                if (json_object_array_length(fds) == 1)
                        CU_ASSERT_STRING_EQUAL(
                                json_object_get_string(json_object_array_get_idx(fds, 0)), file);
                json_object_put(o);
        }
        CU_ASSERT_TRUE(testdaemon_stat(f.d, "batches") < 5); /* several shared one */
}

static void test_batch_form_one_line_per_event(void)
{
        check_form("batch");
}

static void test_both_forms_one_line_per_event(void)
{
        check_form("both");
}

static void test_type_and_match_filter(void)
{
        g_autoptr(GPtrArray) lines = NULL;
        GSubprocess *p;

        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        p = listen_start("--type=a", "--type=c", "--match=port=443", "--match=host=web",
                         "--count=2", "--timeout=10", NULL);
        send_json("{\"type\":\"a\",\"port\":80,\"host\":\"web\",\"i\":1}");
        send_json("{\"type\":\"b\",\"port\":443,\"host\":\"web\",\"i\":2}");
        send_json("{\"type\":\"a\",\"port\":443,\"host\":\"web\",\"i\":3}");
        send_json("{\"type\":\"a\",\"port\":443,\"i\":4}");
        send_json("{\"type\":\"c\",\"port\":443,\"host\":\"web\",\"i\":5}");
        send_json("{\"type\":\"a\",\"port\":443,\"host\":\"web\",\"i\":6}");
        CU_ASSERT_EQUAL(listen_finish(p, &lines), 0);
        g_object_unref(p);
        CU_ASSERT_EQUAL_FATAL(lines->len, 2); /* --count: the sixth is not printed */
        CU_ASSERT_PTR_NOT_NULL(strstr(lines->pdata[0], "\"i\":3"));
        CU_ASSERT_PTR_NOT_NULL(strstr(lines->pdata[1], "\"i\":5"));
}

static void test_timeout_before_count_exits_1_with_what_came(void)
{
        g_autoptr(GPtrArray) lines = NULL;
        GSubprocess *p;

        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        p = listen_start("--count=3", "--timeout=1", NULL);
        send_json("{\"type\":\"only\"}");
        CU_ASSERT_EQUAL(listen_finish(p, &lines), 1);
        g_object_unref(p);
        CU_ASSERT_EQUAL(lines->len, 1);
        /* without --count, a timeout ends the watch: 0 */
        p = listen_start("--timeout=0.3", NULL);
        g_clear_pointer(&lines, g_ptr_array_unref);
        CU_ASSERT_EQUAL(listen_finish(p, &lines), 0);
        g_object_unref(p);
        CU_ASSERT_EQUAL(lines->len, 0);
}

/* `ingester-listen | head -n1`: once its reader is gone, the tool ends at
 * once with 0 (as journalctl does), not at the next event nor never. */
static void test_closed_stdout_ends_the_tool_with_0(void)
{
        g_autoptr(GDataInputStream) out = NULL;
        g_autofree char *line = NULL;
        GSubprocess *p;

        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        p = listen_start(NULL);
        out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(p));
        send_json("{\"type\":\"first\"}");
        line = g_data_input_stream_read_line(out, NULL, NULL, NULL);
        CU_ASSERT_PTR_NOT_NULL(line);
        /* head has its line: it closes the pipe and goes */
        CU_ASSERT_TRUE(g_input_stream_close(G_INPUT_STREAM(out), NULL, NULL));
        g_clear_object(&out);
        CU_ASSERT_TRUE(g_input_stream_close(g_subprocess_get_stdout_pipe(p), NULL, NULL));
        /* the next line it writes finds no reader */
        send_json("{\"type\":\"second\"}");
        CU_ASSERT_EQUAL(harness_wait_subprocess(p, 5000), 0);
        g_subprocess_force_exit(p); /* when it did not end */
        g_object_unref(p);
}

/* Runs the tool to completion; returns its status, fills stdout. */
static int run_tool(const char *const *argv, char **ret_out)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GSubprocess) p = g_subprocess_newv(
                argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
        g_assert_no_error(error);
        g_subprocess_communicate_utf8(p, NULL, NULL, ret_out, NULL, &error);
        g_assert_no_error(error);
        return g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
}

static void test_stats_and_exit_statuses(void)
{
        g_autofree char *addr = g_strdup_printf("--address=%s", suite.bus.address);
        g_autofree char *nowhere = g_strdup_printf("--address=unix:path=%s/none.sock", f.dir);
        const char *stats[] = { "ingester-listen", addr, "--stats", NULL };
        const char *bad[][4] = {
                { "ingester-listen", addr, "--count=0", NULL },
                { "ingester-listen", addr, "--match=novalue", NULL },
                { "ingester-listen", addr, "--stats", "--type=x" },
                { "ingester-listen", "--session", "--system", NULL },
                { "ingester-listen", addr, "stray", NULL },
        };
        const char *unreachable[] = { "ingester-listen", nowhere, NULL };
        const char *no_daemon[] = { "ingester-listen", addr, "--stats", "--name=org.example.None",
                                    NULL };
        g_autofree char *out = NULL;

        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        send_json("{\"type\":\"counted\"}");
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "emitted", 1), 1);
        CU_ASSERT_EQUAL(run_tool(stats, &out), 0);
        {
                json_object *o = json_tokener_parse(out);
                CU_ASSERT_PTR_NOT_NULL_FATAL(o);
                CU_ASSERT_EQUAL(json_object_get_int64(member(o, "received")), 1);
                CU_ASSERT_EQUAL(json_object_get_int64(member(o, "rejected.syntax")), 0);
                json_object_put(o);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree char *o = NULL;
                CU_ASSERT_EQUAL(run_tool(bad[i], &o), 2);
                CU_ASSERT_STRING_EQUAL(o, "");
        }
        {
                g_autofree char *o = NULL;
                CU_ASSERT_EQUAL(run_tool(unreachable, &o), 3);
        }
        {
                g_autofree char *o = NULL;
                CU_ASSERT_EQUAL(run_tool(no_daemon, &o), 3);
        }
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(every_value_kind_and_descriptors_read_back),
                TAP_TEST(type_and_match_filter),
                TAP_TEST(batch_form_one_line_per_event),
                TAP_TEST(both_forms_one_line_per_event),
                TAP_TEST(timeout_before_count_exits_1_with_what_came),
                TAP_TEST(closed_stdout_ends_the_tool_with_0),
                TAP_TEST(stats_and_exit_statuses),
                { NULL, NULL },
        };

        signal(SIGPIPE, SIG_IGN);
        tap_add_suite_full("listen", suite_init, suite_cleanup, setup, teardown, tests);
        return tap_run();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-batch.c — EventBatch (issue "past the one-signal-per-event
 * ceiling"), on a real dbus-daemon with the built ingesterd.
 *
 * What a batch must keep: every event, in seq order, each element exactly
 * what its Event would carry, its descriptors readable by the subscriber
 * through the message's own fd list; never more than 16 descriptors or the
 * body ceiling in one message; a lone event goes out at once; a bus that
 * restarts mid-batch loses nothing; `both` emits each event in both forms.
 *
 * To have several events waiting when the relay sends, the daemon is
 * stopped (SIGSTOP) while a connection fills its socket, then continued:
 * it reads a whole read batch before it sends, so the batches it makes are
 * fixed by the queue, not by timing. A connection holds at most what its
 * sender's SO_SNDBUF (212992 bytes by default) charges for the packets
 * in its peer's queue: about 200 small ones, hence at most 150 here.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>

#include "cunit-tap.h"
#include "harness.h"

static TestSuite suite; /* the suite's bus */
static TestFixture f;   /* this test's directory and daemon */

TESTSUITE_CALLBACKS(suite)
TESTSUITE_FIXTURE(suite, f)

/* One event as a subscriber saw it. */
typedef struct {
        char *type;
        gint64 i;
        guint64 seq;
        GPtrArray *fd_texts; /* char*: what each of its descriptors reads */
        guint32 fds_dropped;
} Seen;

static void seen_free(gpointer p)
{
        Seen *s = p;
        g_free(s->type);
        g_ptr_array_unref(s->fd_texts);
        g_free(s);
}

/* What came: the events of each form, and per message how big it was. */
typedef struct {
        GPtrArray *events;  /* Seen*, from Event signals */
        GPtrArray *batched; /* Seen*, from EventBatch elements, in order */
        unsigned batches, max_elements, max_fds;
        gsize max_body;
} Got;

static void got_clear(Got *g)
{
        g_clear_pointer(&g->events, g_ptr_array_unref);
        g_clear_pointer(&g->batched, g_ptr_array_unref);
}

static char *fd_text(GUnixFDList *list, gint32 h)
{
        char buf[128];
        int fd;
        ssize_t n;

        if (!list || h < 0 || h >= g_unix_fd_list_get_length(list))
                return g_strdup("(no such handle)");
        fd = g_unix_fd_list_get(list, h, NULL);
        if (fd < 0)
                return g_strdup("(cannot get)");
        n = pread(fd, buf, sizeof(buf) - 1, 0);
        close(fd);
        return g_strndup(buf, n > 0 ? (gsize) n : 0);
}

/* One (s a{sv} a{sv} ah) tuple, from an Event body or a batch element. */
static Seen *seen_new(GVariant *tuple, GUnixFDList *list)
{
        Seen *s = g_new0(Seen, 1);
        g_autoptr(GVariant) data = g_variant_get_child_value(tuple, 1);
        g_autoptr(GVariant) meta = g_variant_get_child_value(tuple, 2);
        g_autoptr(GVariant) handles = g_variant_get_child_value(tuple, 3);
        gsize n = 0;
        const gint32 *h = g_variant_get_fixed_array(handles, &n, sizeof(gint32));

        g_variant_get_child(tuple, 0, "s", &s->type);
        s->i = -1;
        g_variant_lookup(data, "i", "x", &s->i);
        g_variant_lookup(meta, "seq", "t", &s->seq);
        g_variant_lookup(meta, "fds-dropped", "u", &s->fds_dropped);
        s->fd_texts = g_ptr_array_new_with_free_func(g_free);
        for (gsize k = 0; k < n; k++)
                g_ptr_array_add(s->fd_texts, fd_text(list, h[k]));
        return s;
}

/* Takes messages until `events` Event signals and `batched` batch elements
 * have come, or nothing comes for timeout_ms. */
static Got collect(unsigned events, unsigned batched, unsigned timeout_ms)
{
        Got g = { .events = g_ptr_array_new_with_free_func(seen_free),
                  .batched = g_ptr_array_new_with_free_func(seen_free) };

        while (g.events->len < events || g.batched->len < batched) {
                g_autoptr(GDBusMessage) m = testdaemon_next_event(f.d, timeout_ms);
                GVariant *body;
                GUnixFDList *list;

                if (!m)
                        break;
                body = g_dbus_message_get_body(m);
                list = g_dbus_message_get_unix_fd_list(m);
                if (strcmp(g_dbus_message_get_member(m), "Event") == 0) {
                        g_ptr_array_add(g.events, seen_new(body, list));
                        continue;
                }
                CU_ASSERT_STRING_EQUAL(g_dbus_message_get_signature(m), "a(sa{sv}a{sv}ah)");
                {
                        g_autoptr(GVariant) array = g_variant_get_child_value(body, 0);
                        gsize n = g_variant_n_children(array);
                        unsigned nfds = list ? (unsigned) g_unix_fd_list_get_length(list) : 0;

                        g.batches++;
                        g.max_elements = MAX(g.max_elements, (unsigned) n);
                        g.max_fds = MAX(g.max_fds, nfds);
                        g.max_body = MAX(g.max_body, g_variant_get_size(body));
                        for (gsize k = 0; k < n; k++) {
                                g_autoptr(GVariant) el = g_variant_get_child_value(array, k);
                                g_ptr_array_add(g.batched, seen_new(el, list));
                        }
                }
        }
        return g;
}

/* The daemon exits cleanly: status 0 (under the sanitizers, no leak either:
 * LeakSanitizer makes the exit status non-zero). */
static void stop_clean(void)
{
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

static pid_t daemon_pid(void)
{
        return (pid_t) atoi(g_subprocess_get_identifier(f.d->proc));
}

static TestDaemon *start(const char *const *extra)
{
        return testdaemon_start(&suite.bus, f.dir, extra, 0);
}

/* A memfd that reads "fd-I-K". */
static int memfd_for(gint64 i, unsigned k)
{
        g_autofree char *text = g_strdup_printf("fd-%" G_GINT64_FORMAT "-%u", i, k);
        int fd = memfd_create("test-batch", MFD_CLOEXEC);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, text, strlen(text)), ==, (ssize_t) strlen(text));
        return fd;
}

/* Event i on fd (a SEQPACKET connection), with n_fds memfds. */
static void send_event(int fd, gint64 i, unsigned n_fds)
{
        g_autofree char *j = g_strdup_printf("{\"type\":\"b\",\"i\":%" G_GINT64_FORMAT "}", i);
        int fds[16];

        g_assert(n_fds <= G_N_ELEMENTS(fds));
        for (unsigned k = 0; k < n_fds; k++)
                fds[k] = memfd_for(i, k);
        CU_ASSERT_EQUAL(send_fd_packet(fd, j, strlen(j), fds, n_fds), 0);
        for (unsigned k = 0; k < n_fds; k++)
                close(fds[k]);
}

/* Connects, and sends event 0 (waited for: the connection is accepted and
 * its lane made), then events 1..n-1 while the daemon is stopped; n_fds(i)
 * descriptors each. Returns the connection. */
static int send_while_stopped(unsigned n, unsigned (*n_fds)(gint64 i), bool batch_form)
{
        int fd = seq_connect(f.d->seq_path);

        CU_ASSERT_TRUE_FATAL(fd >= 0);
        send_event(fd, 0, n_fds(0));
        {
                Got first = batch_form ? collect(0, 1, 5000) : collect(1, 0, 5000);
                CU_ASSERT_EQUAL(first.events->len + first.batched->len, 1);
                got_clear(&first);
        }
        kill(daemon_pid(), SIGSTOP);
        for (unsigned i = 1; i < n; i++)
                send_event(fd, i, n_fds(i));
        kill(daemon_pid(), SIGCONT);
        return fd;
}

/* The k-th element is event first + k, seq one more (the only sender), with
 * its own fds. */
static void check_events(GPtrArray *seen, unsigned n, unsigned first, unsigned (*n_fds)(gint64 i))
{
        CU_ASSERT_EQUAL_FATAL(seen->len, n);
        for (guint k = 0; k < n; k++) {
                Seen *s = seen->pdata[k];
                CU_ASSERT_STRING_EQUAL(s->type, "b");
                CU_ASSERT_EQUAL(s->i, (gint64) (first + k));
                CU_ASSERT_EQUAL(s->seq, first + k + 1);
                CU_ASSERT_EQUAL(s->fds_dropped, 0);
                CU_ASSERT_EQUAL_FATAL(s->fd_texts->len, n_fds(first + k));
                for (guint j = 0; j < s->fd_texts->len; j++) {
                        g_autofree char *want = g_strdup_printf("fd-%u-%u", first + k, j);
                        CU_ASSERT_STRING_EQUAL(s->fd_texts->pdata[j], want);
                }
        }
}

static unsigned every_tenth_one(gint64 i)
{
        return i % 10 == 3 ? 1 : 0;
}

static unsigned three_each(gint64 i)
{
        return 3;
}

/* ---- tests ---- */

static void test_batch_carries_the_events_in_order(void)
{
        const char *extra[] = { "--signal-form=batch", "--batch-max-events=50", NULL };
        int fd;
        Got g;

        f.d = start(extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = send_while_stopped(150, every_tenth_one, true);
        g = collect(0, 149, 5000);
        /* 149 waited together: batches of up to 50, never one event each */
        check_events(g.batched, 149, 1, every_tenth_one);
        CU_ASSERT_EQUAL(g.max_elements, 50);
        CU_ASSERT_TRUE(g.batches >= 149 / 50 + 1 && g.batches < 149);
        CU_ASSERT_EQUAL(g.events->len, 0); /* no Event signals in this form */
        /* emitted counts the bus's confirmations, which may come after the signals */
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "emitted", 150), 150);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "batched"), 150);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "batches"), g.batches + 1);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "fds-not-forwarded"), 0);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
        got_clear(&g);
        close(fd);
        stop_clean();
}

static void test_batch_is_cut_before_16_descriptors(void)
{
        const char *extra[] = { "--signal-form=batch", "--max-fds=3", NULL };
        int fd, fds_before;
        Got g;

        f.d = start(extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        fd = send_while_stopped(41, three_each, true);
        g = collect(0, 40, 5000);
        check_events(g.batched, 40, 1, three_each);
        /* 3 each: five fit under 16, a sixth would not */
        CU_ASSERT_EQUAL(g.max_fds, 15);
        CU_ASSERT_EQUAL(g.max_elements, 5);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "fds-not-forwarded"), 0);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
        got_clear(&g);
        close(fd);
        /* the events' descriptors and GDBus's duplicates are all closed again */
        for (int i = 0; i < 100 && testdaemon_count_fds(f.d) != fds_before; i++)
                g_usleep(10000);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
        stop_clean();
}

/* Events of about 6 MiB each: two fit in one message under the body
 * ceiling (32 MiB less the header), a third does not. */
static void test_batch_is_cut_before_the_body_ceiling(void)
{
        g_autofree char *conf = harness_config_arg(
                f.dir, "[limits]\nmax-string=8388608\n\n[queue]\ncapacity-bytes=268435456\n\n"
                     "[bus]\nsignal-form=batch\n");
        const char *argv[] = { conf, NULL };
        const size_t big = 6u << 20;
        GString *j = g_string_sized_new(big + 64);
        int fd;
        Got g;

        f.d = start(argv);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        send_event(fd, 0, 0);
        g = collect(0, 1, 5000);
        got_clear(&g);
        kill(daemon_pid(), SIGSTOP);
        for (int i = 1; i <= 3; i++) {
                int mfd = memfd_create("test-batch-large", MFD_CLOEXEC | MFD_ALLOW_SEALING);
                g_string_printf(j, "{\"type\":\"b\",\"i\":%d,\"pad\":\"", i);
                for (size_t k = 0; k < big; k++)
                        g_string_append_c(j, (char) ('a' + k % 26));
                g_string_append(j, "\"}");
                /* too big for a packet: journald's convention, an empty one and the memfd */
                CU_ASSERT_EQUAL(write(mfd, j->str, j->len), (ssize_t) j->len);
                CU_ASSERT_EQUAL(fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
                                                                F_SEAL_WRITE | F_SEAL_SEAL), 0);
                CU_ASSERT_EQUAL(send_fd_packet(fd, "", 0, &mfd, 1), 0);
                close(mfd);
        }
        kill(daemon_pid(), SIGCONT);
        g = collect(0, 3, 20000);
        if (g.batched->len != 3) {
                g_autofree char *log = testdaemon_log(f.d);
                printf("# %u events came; the daemon's log:\n%s", g.batched->len, log);
        }
        CU_ASSERT_EQUAL_FATAL(g.batched->len, 3);
        for (guint k = 0; k < 3; k++)
                CU_ASSERT_EQUAL(((Seen *) g.batched->pdata[k])->i, (gint64) k + 1);
        CU_ASSERT_EQUAL(g.batches, 2);
        CU_ASSERT_EQUAL(g.max_elements, 2);
        CU_ASSERT_TRUE(g.max_body <= (32u << 20) - 2048u);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
        got_clear(&g);
        g_string_free(j, TRUE);
        close(fd);
        stop_clean();
}

/* Nothing is held back to fill a batch: each event is answered before the
 * next is sent, so one that waited would never come. */
static void test_lone_event_goes_out_at_once(void)
{
        const char *extra[] = { "--signal-form=batch", "--batch-max-events=64", NULL };
        int fd;

        f.d = start(extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        for (int i = 0; i < 10; i++) {
                Got g;
                send_event(fd, i, i % 2);
                g = collect(0, 1, 5000);
                CU_ASSERT_EQUAL_FATAL(g.batched->len, 1);
                CU_ASSERT_EQUAL(g.batches, 1);
                CU_ASSERT_EQUAL(((Seen *) g.batched->pdata[0])->i, i);
                CU_ASSERT_EQUAL(((Seen *) g.batched->pdata[0])->seq, (guint64) i + 1);
                CU_ASSERT_EQUAL(((Seen *) g.batched->pdata[0])->fd_texts->len, (guint) (i % 2));
                got_clear(&g);
        }
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "batches"), 10);
        close(fd);
        stop_clean();
}

static void test_both_forms_carry_every_event(void)
{
        const char *extra[] = { "--signal-form=both", "--batch-max-events=16", NULL };
        int fd;
        Got g;

        f.d = start(extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = send_while_stopped(101, every_tenth_one, false);
        /* event 0 was seen as Event by send_while_stopped(); its batch element comes first */
        g = collect(100, 101, 5000);
        CU_ASSERT_EQUAL_FATAL(g.batched->len, 101);
        check_events(g.batched, 101, 0, every_tenth_one);
        CU_ASSERT_EQUAL_FATAL(g.events->len, 100);
        for (guint k = 0; k < 100; k++) {
                Seen *s = g.events->pdata[k];
                CU_ASSERT_EQUAL(s->i, (gint64) k + 1);
                CU_ASSERT_EQUAL(s->seq, (guint64) k + 2);
                CU_ASSERT_EQUAL(s->fd_texts->len, every_tenth_one(k + 1));
                if (s->fd_texts->len == 1) {
                        g_autofree char *want = g_strdup_printf("fd-%u-0", k + 1);
                        CU_ASSERT_STRING_EQUAL(s->fd_texts->pdata[0], want);
                }
        }
        CU_ASSERT_EQUAL(g.max_elements, 16);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "emitted", 101), 101);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "batched"), 101);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
        got_clear(&g);
        close(fd);
        stop_clean();
}

/*
 * The bus stops reading (SIGSTOP) so that batches stay in flight
 * unconfirmed, more events queue behind them, and then the bus is killed
 * and started again at the same address: every event arrives, one event
 * per seq, a seq possibly twice (at-least-once), none lost.
 */
static void test_bus_restart_mid_batch_loses_nothing(void)
{
        g_autofree char *conf = harness_config_arg(f.dir, "[bus]\nsignal-form=batch\n"
                                                        "batch-max-events=8\nmax-unflushed=64\n");
        const char *argv[] = { conf, NULL };
        g_autofree char *sock = NULL;
        g_autofree unsigned *seen = NULL;
        const unsigned n = 140;
        unsigned distinct = 0;
        int fd;
        Got g;

        f.d = start(argv);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        kill((pid_t) atoi(g_subprocess_get_identifier(suite.bus.proc)), SIGSTOP);
        for (unsigned i = 0; i < n; i++)
                send_event(fd, i, 0);
        g_usleep(300000); /* let the daemon read them and fill its window */
        kill((pid_t) atoi(g_subprocess_get_identifier(suite.bus.proc)), SIGKILL);
        testbus_stop(&suite.bus);
        sock = g_build_filename(suite.topdir, "bus.sock", NULL);
        (void) unlink(sock);
        kill(daemon_pid(), SIGSTOP);
        CU_ASSERT_TRUE_FATAL(testbus_start(&suite.bus, suite.topdir));
        testdaemon_resubscribe(f.d, &suite.bus);
        kill(daemon_pid(), SIGCONT);
        g = collect(0, n, 5000);
        seen = g_new0(unsigned, n + 1);
        for (guint k = 0; k < g.batched->len; k++) {
                Seen *s = g.batched->pdata[k];
                CU_ASSERT_TRUE_FATAL(s->seq >= 1 && s->seq <= n);
                CU_ASSERT_EQUAL(s->i, (gint64) s->seq - 1); /* one event per seq */
                if (!seen[s->seq]++)
                        distinct++;
        }
        CU_ASSERT_EQUAL(distinct, n);
        CU_ASSERT_TRUE(g.max_elements > 1);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "emitted", n), n);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "bus-reconnects"), 1);
        CU_ASSERT_TRUE(testdaemon_stat(f.d, "resent") >= 1);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
        got_clear(&g);
        close(fd);
        stop_clean();
}

/*
 * doc/examples/subscriber.c, built in-tree: one line per event under every
 * form, each with its own descriptor, and under both each event once. The
 * daemon is stopped while the events are sent, so they share batches.
 */
static void run_example_subscriber(const char *form)
{
        g_autofree char *arg = g_strdup_printf("--signal-form=%s", form);
        g_autofree char *address = g_strdup_printf("--address=%s", suite.bus.address);
        const char *extra[] = { arg, NULL };
        g_autoptr(GSubprocess) p = NULL;
        g_autoptr(GDataInputStream) err = NULL;
        g_autofree char *ready = NULL, *out = NULL;
        g_auto(GStrv) lines = NULL;
        int fd;

        f.d = start(extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, NULL,
                             "example-subscriber", address, "--count=20", NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        err = g_data_input_stream_new(g_subprocess_get_stderr_pipe(p));
        ready = g_data_input_stream_read_line(err, NULL, NULL, NULL);
        CU_ASSERT_STRING_EQUAL(ready, "listening");
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        kill(daemon_pid(), SIGSTOP);
        for (int i = 0; i < 20; i++)
                send_event(fd, i, i % 3 == 0 ? 1 : 0);
        kill(daemon_pid(), SIGCONT);
        CU_ASSERT_TRUE(g_subprocess_communicate_utf8(p, NULL, NULL, &out, NULL, NULL));
        CU_ASSERT_EQUAL(harness_wait_subprocess(p, 10000), 0);
        lines = g_strsplit(out ? out : "", "\n", -1);
        CU_ASSERT_EQUAL_FATAL(g_strv_length(lines), 21); /* and "" after the last */
        for (int i = 0; i < 20; i++) {
                g_autofree char *fdtext = i % 3 == 0 ? g_strdup_printf(" fd0=fd-%d-0", i)
                                                     : g_strdup("");
                g_autofree char *tail = g_strdup_printf(
                        " %d {'type': <'b'>, 'i': <int64 %d>}%s", i % 3 == 0 ? 1 : 0, i, fdtext);
                g_autofree char *head = g_strdup_printf("%d b ", i + 1);
                const char *form_seen = lines[i] + strlen(head);

                CU_ASSERT_TRUE_FATAL(g_str_has_prefix(lines[i], head));
                CU_ASSERT_TRUE(g_str_has_suffix(lines[i], tail));
                /* under both, the form of each event's first copy (its Event) */
                CU_ASSERT_TRUE(g_str_has_prefix(form_seen, strcmp(form, "batch") == 0 ? "EventBatch "
                                                                                : "Event "));
        }
        CU_ASSERT_TRUE(testdaemon_stat(f.d, "batches") < (strcmp(form, "event") == 0 ? 1 : 20));
        close(fd);
        stop_clean();
}

static void test_example_subscriber_takes_every_form(void)
{
        run_example_subscriber("event");
        g_clear_pointer(&f.d, testdaemon_free);
        run_example_subscriber("batch");
        g_clear_pointer(&f.d, testdaemon_free);
        run_example_subscriber("both");
}

/* ingesterd --check-config with one more argument: its exit status, and
 * whether its stderr holds want_err (NULL: not looked at). */
static void check_config(const char *arg, int want_status, const char *want_err)
{
        g_autofree char *listen = g_strdup_printf("--listen=seqpacket:%s/run/s.sock", f.dir);
        g_autoptr(GSubprocess) p = g_subprocess_new(
                G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE, NULL,
                "ingesterd", "--check-config", listen, arg, NULL);
        g_autofree char *err = NULL;

        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        g_subprocess_communicate_utf8(p, NULL, NULL, NULL, &err, NULL);
        if (g_subprocess_get_exit_status(p) != want_status)
                printf("# %s: exit %d, want %d: %s", arg, g_subprocess_get_exit_status(p),
                       want_status, err ? err : "");
        CU_ASSERT_EQUAL(g_subprocess_get_exit_status(p), want_status);
        if (want_err)
                CU_ASSERT_PTR_NOT_NULL(err && strstr(err, want_err));
}

/* Each bad value refused with its key named, the edges of the range taken. */
static void test_bad_signal_form_is_refused(void)
{
        g_autofree char *bad_form = harness_config_arg(f.dir, "[bus]\nsignal-form=sometimes\n");
        g_autofree char *bad_max = NULL, *good = NULL;

        check_config("--signal-form=batches", 2, "--signal-form: 'batches' is not a signal form");
        check_config("--batch-max-events=0", 2, "--batch-max-events");
        check_config("--batch-max-events=4097", 2, "--batch-max-events");
        check_config(bad_form, 2, "[bus] signal-form: 'sometimes'");
        bad_max = harness_config_arg(f.dir, "[bus]\nbatch-max-events=4097\n");
        check_config(bad_max, 2, "[bus] batch-max-events");
        check_config("--batch-max-events=1", 0, NULL);
        check_config("--batch-max-events=4096", 0, NULL);
        check_config("--signal-form=both", 0, NULL);
        good = harness_config_arg(f.dir, "[bus]\nsignal-form=batch\nbatch-max-events=4096\n");
        check_config(good, 0, NULL);
}

/* batch-max-events=1, the lower edge: queued events still go one per batch. */
static void test_batch_of_at_most_one(void)
{
        const char *extra[] = { "--signal-form=batch", "--batch-max-events=1", NULL };
        int fd;
        Got g;

        f.d = start(extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = send_while_stopped(20, every_tenth_one, true);
        g = collect(0, 19, 5000);
        check_events(g.batched, 19, 1, every_tenth_one);
        CU_ASSERT_EQUAL(g.max_elements, 1);
        CU_ASSERT_EQUAL(g.batches, 19);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
        got_clear(&g);
        close(fd);
        stop_clean();
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(batch_carries_the_events_in_order),
                TAP_TEST(batch_is_cut_before_16_descriptors),
                TAP_TEST(batch_is_cut_before_the_body_ceiling),
                TAP_TEST(lone_event_goes_out_at_once),
                TAP_TEST(both_forms_carry_every_event),
                TAP_TEST(bus_restart_mid_batch_loses_nothing),
                TAP_TEST(example_subscriber_takes_every_form),
                TAP_TEST(batch_of_at_most_one),
                TAP_TEST(bad_signal_form_is_refused),
                { NULL, NULL },
        };
        tap_add_suite_full("batch", suite_init, suite_cleanup, setup, teardown, tests);
        return tap_run();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-faults.c — ingesterd under pressure and faults (issue "nothing
 * wedges, nothing is lost without a word"): descriptor exhaustion, accept()
 * at EMFILE, churning senders, the connection limit, a restart under load,
 * a stalled bus, oversized messages, a bus that throws the relay off.
 *
 * Each test first reproduces the condition for real (prlimit on the
 * daemon, a SIGSTOPped dbus-daemon or subscriber, held connections, SIGTERM
 * while retrying senders send) and then checks the promise: every accepted
 * event delivered or counted, the daemon idle while it waits, its
 * descriptors back to where they were, its log bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/sockios.h>

#include <gio/gunixfdlist.h>

#include "cunit-tap.h"
#include "harness.h"

static TestSuite suite; /* the suite's bus */
static TestFixture f;   /* this test's directory and daemon */

TESTSUITE_CALLBACKS(suite)
TESTSUITE_FIXTURE(suite, f)

static pid_t daemon_pid(void)
{
        return (pid_t) atoi(g_subprocess_get_identifier(f.d->proc));
}

/* utime + stime of a process, in clock ticks */
static long cpu_ticks(pid_t pid)
{
        g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int) pid);
        g_autofree char *text = NULL;
        const char *p;
        long utime = 0, stime = 0;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return -1;
        p = strrchr(text, ')'); /* the command may hold spaces */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime,
                         &stime) != 2)
                return -1;
        return utime + stime;
}


static void wait_for_log(const char *needle)
{
        CU_ASSERT_TRUE(testdaemon_wait_log(f.d, needle) > 0);
}

/* EventBatch elements waiting to be taken one at a time (next_event()). */
static GQueue split = G_QUEUE_INIT;

/*
 * The next event as an Event message, whichever form it came in: an
 * EventBatch is split into one message per element, each with a list of
 * its own descriptors (duplicates of the batch's), so that the helpers
 * below read either form.
 */
static GDBusMessage *next_event(unsigned timeout_ms)
{
        GDBusMessage *m;

        if (!g_queue_is_empty(&split))
                return g_queue_pop_head(&split);
        m = testdaemon_next_event(f.d, timeout_ms);
        if (m && strcmp(g_dbus_message_get_member(m), "EventBatch") == 0) {
                g_autoptr(GVariant) events = g_variant_get_child_value(g_dbus_message_get_body(m), 0);
                GUnixFDList *list = g_dbus_message_get_unix_fd_list(m);

                for (gsize k = 0; k < g_variant_n_children(events); k++) {
                        g_autoptr(GVariant) ev = g_variant_get_child_value(events, k);
                        g_autoptr(GVariant) handles = g_variant_get_child_value(ev, 3);
                        g_autoptr(GUnixFDList) own = g_unix_fd_list_new();
                        GDBusMessage *one = g_dbus_message_new_signal(
                                g_dbus_message_get_path(m), "org.ingester.Ingester1", "Event");
                        gsize n = 0;
                        const gint32 *h = g_variant_get_fixed_array(handles, &n, sizeof(gint32));

                        for (gsize i = 0; i < n && list; i++) {
                                int fd = g_unix_fd_list_get(list, h[i], NULL);
                                CU_ASSERT_TRUE_FATAL(fd >= 0);
                                g_unix_fd_list_append(own, fd, NULL); /* appends a duplicate */
                                close(fd);
                        }
                        g_dbus_message_set_body(one, ev);
                        g_dbus_message_set_unix_fd_list(one, own);
                        g_queue_push_tail(&split, one);
                }
                g_object_unref(m);
                m = g_queue_pop_head(&split);
        }
        return m;
}


static gint64 data_int(GDBusMessage *m, const char *key)
{
        g_autoptr(GVariant) data = g_variant_get_child_value(g_dbus_message_get_body(m), 1);
        gint64 v = -1;

        if (!g_variant_lookup(data, key, "x", &v))
                return -1;
        return v;
}

static unsigned n_handles(GDBusMessage *m)
{
        g_autoptr(GVariant) h = g_variant_get_child_value(g_dbus_message_get_body(m), 3);
        return (unsigned) g_variant_n_children(h);
}

static unsigned count_seen(const guint8 *seen, unsigned n)
{
        unsigned k = 0;
        for (unsigned i = 0; i < n; i++)
                k += seen[i];
        return k;
}

/* Waits (up to timeout_ms of silence) for events of `type`; marks data "i" in seen
 * (may be NULL); returns how many arrived, or with seen, how many distinct ones (a
 * repeat after a reconnect is allowed). fds_each: handles each must carry (-1: any). */
static unsigned collect(const char *type, guint8 *seen, unsigned n_seen, int fds_each,
                        unsigned want, unsigned timeout_ms)
{
        unsigned got = 0;

        while ((seen ? count_seen(seen, n_seen) : got) < want) {
                g_autoptr(GDBusMessage) m = next_event(timeout_ms);
                gint64 i;
                if (!m)
                        break;
                if (strcmp(harness_event_type(m), type) != 0)
                        continue;
                got++;
                if (fds_each >= 0 && n_handles(m) != (unsigned) fds_each) {
                        printf("# event with %u fds, want %d\n", n_handles(m), fds_each);
                        CU_FAIL("an event lost its descriptors");
                }
                i = data_int(m, "i");
                if (seen && i >= 0 && (guint64) i < n_seen)
                        seen[i] = 1;
        }
        if (seen)
                got = count_seen(seen, n_seen);
        if (got < want) {
                g_autofree char *log = testdaemon_log(f.d);
                size_t len = strlen(log);
                printf("# %u of %u '%s' events; the daemon's log ends:\n%s\n", got, want, type,
                       log + (len > 2000 ? len - 2000 : 0));
        }
        return got;
}

static void send_numbered(int fd, const char *type, unsigned i)
{
        g_autofree char *j = g_strdup_printf("{\"type\":\"%s\",\"i\":%u}", type, i);
        CU_ASSERT_EQUAL(send_fd_packet(fd, j, strlen(j), NULL, 0), 0);
}

/* ---- connections ---- */

/*
 * Symptoms 3 and 4: at max-connections the daemon stops accepting rather
 * than accepting and closing; a connect waits in the backlog, its packets
 * unread but kept, and is served when a connection ends. When the backlog
 * too is full, a non-blocking connect is refused with EAGAIN: the sender
 * learns it. ingester-send's "sent" (exit 0) is then the truth.
 */
static void test_connection_limit_makes_connects_wait_not_vanish(void)
{
        g_autofree char *arg = harness_config_arg(f.dir, "[limits]\nmax-connections=2\nbacklog=2\n");
        const char *extra[] = { arg, NULL };
        g_autoptr(GSubprocess) sender = NULL;
        g_autoptr(GError) error = NULL;
        int c1, c2, waiting, refused = 0, fds_before;
        GPtrArray *extra_fds = g_ptr_array_new();

        f.d = testdaemon_start(&suite.bus, f.dir, extra, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        c1 = seq_connect(f.d->seq_path);
        c2 = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(c1 >= 0 && c2 >= 0);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "connections", 2), 2);

        /* the third connects into the backlog, sends and closes, as a shell loop does */
        waiting = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(waiting >= 0);
        send_numbered(waiting, "waiting", 0);
        close(waiting);
        /* so does ingester-send: its exit 0 must mean the event will arrive */
        {
                g_autoptr(GSubprocessLauncher) l =
                        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_SILENCE);
                g_subprocess_launcher_setenv(l, "INGESTER_SOCKET", f.d->seq_path, TRUE);
                sender = g_subprocess_launcher_spawn(l, &error, "ingester-send", "--retry", "3",
                                                     "type=from-tool", NULL);
                g_assert_no_error(error);
        }
        CU_ASSERT_EQUAL(harness_wait_subprocess(sender, 10000), 0);
        CU_ASSERT_PTR_NULL(testdaemon_next_event(f.d, 300)); /* not served yet */
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "connections"), 2);

        /* fill the backlog: non-blocking connects are then refused, not swallowed */
        for (int i = 0; i < 16; i++) {
                int fd = seq_connect_flags(f.d->seq_path, SOCK_NONBLOCK);
                if (fd < 0) {
                        refused = fd;
                        break;
                }
                g_ptr_array_add(extra_fds, GINT_TO_POINTER(fd));
        }
        CU_ASSERT_EQUAL(refused, -EAGAIN);

        /* one connection ends: the waiting ones are served, nothing was lost */
        close(c1);
        {
                unsigned got = 0;
                for (int i = 0; i < 2; i++) {
                        g_autoptr(GDBusMessage) m = testdaemon_next_event(f.d, 5000);
                        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
                        if (strcmp(harness_event_type(m), "waiting") == 0 ||
                            strcmp(harness_event_type(m), "from-tool") == 0)
                                got++;
                }
                CU_ASSERT_EQUAL(got, 2);
        }
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected:connection-limit"), 0);
        CU_ASSERT_TRUE(testdaemon_stat(f.d, "accept-pauses") >= 1);
        close(c2);
        for (guint i = 0; i < extra_fds->len; i++)
                close(GPOINTER_TO_INT(extra_fds->pdata[i]));
        g_ptr_array_unref(extra_fds);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "connections", 0), 0);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
}

typedef struct {
        const char *path;
        unsigned first, n;
        unsigned sent;
} Churner;

static gpointer churn(gpointer user_data)
{
        Churner *c = user_data;

        for (unsigned i = 0; i < c->n; i++) {
                g_autofree char *j =
                        g_strdup_printf("{\"type\":\"churn\",\"i\":%u}", c->first + i);
                int fd = seq_connect(c->path);
                if (fd < 0)
                        continue;
                if (send_fd_packet(fd, j, strlen(j), NULL, 0) == 0)
                        c->sent++;
                close(fd);
        }
        return NULL;
}

/* Symptom 3: connect-send-close in four loops; closed connections never take a slot, and
 * nobody is turned away, at max-connections 4. */
static void test_churning_senders_lose_nothing_at_a_low_limit(void)
{
        enum { LOOPS = 4, EACH = 400, TOTAL = LOOPS * EACH };
        g_autofree char *arg = harness_config_arg(f.dir, "[limits]\nmax-connections=4\n");
        const char *extra[] = { arg, NULL };
        Churner c[LOOPS];
        GThread *t[LOOPS];
        g_autofree guint8 *seen = g_new0(guint8, TOTAL);
        unsigned sent = 0;

        f.d = testdaemon_start(&suite.bus, f.dir, extra, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        for (int i = 0; i < LOOPS; i++) {
                c[i] = (Churner){ f.d->seq_path, (unsigned) i * EACH, EACH, 0 };
                t[i] = g_thread_new("churn", churn, &c[i]);
        }
        for (int i = 0; i < LOOPS; i++) {
                g_thread_join(t[i]);
                sent += c[i].sent;
        }
        CU_ASSERT_EQUAL(sent, TOTAL);
        collect("churn", seen, TOTAL, -1, TOTAL, 5000);
        printf("# %u of %u events arrived\n", count_seen(seen, TOTAL), TOTAL);
        CU_ASSERT_EQUAL(count_seen(seen, TOTAL), TOTAL);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected-total"), 0);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "connections", 0), 0);
}

/*
 * Symptom 2: accept() at EMFILE. The daemon's descriptor table is full and
 * connections wait: it must neither spin nor flood its log, and it must
 * serve them once descriptors are back.
 */
static void test_accept_at_emfile_waits_quietly_and_recovers(void)
{
        enum { N = 5 };
        struct rlimit low, old;
        int fds_before, clients[N];
        long ticks;
        unsigned lines;

        f.d = testdaemon_start(&suite.bus, f.dir, NULL, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        CU_ASSERT_EQUAL_FATAL(prlimit(daemon_pid(), RLIMIT_NOFILE, NULL, &old), 0);
        low.rlim_cur = (rlim_t) fds_before; /* no descriptor left */
        low.rlim_max = old.rlim_max;
        CU_ASSERT_EQUAL_FATAL(prlimit(daemon_pid(), RLIMIT_NOFILE, &low, NULL), 0);
        for (int i = 0; i < N; i++) {
                clients[i] = seq_connect(f.d->seq_path);
                CU_ASSERT_TRUE_FATAL(clients[i] >= 0);
                send_numbered(clients[i], "late", (unsigned) i);
        }
        wait_for_log("cannot accept connections");
        ticks = cpu_ticks(daemon_pid());
        g_usleep(1000000);
        ticks = cpu_ticks(daemon_pid()) - ticks;
        lines = testdaemon_count_in_log(f.d, "cannot accept connections");
        printf("# %ld ticks of CPU in 1 s at EMFILE, %u log lines\n", ticks, lines);
        CU_ASSERT_TRUE(ticks <= sysconf(_SC_CLK_TCK) / 10); /* idle: at most 10% of a core */
        CU_ASSERT_TRUE(lines <= 10);                        /* [log] burst */
        CU_ASSERT_TRUE(testdaemon_stat(f.d, "accept-failures") >= 1);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "connections"), 0);

        CU_ASSERT_EQUAL(prlimit(daemon_pid(), RLIMIT_NOFILE, &old, NULL), 0);
        {
                g_autofree guint8 *seen = g_new0(guint8, N);
                collect("late", seen, N, -1, N, 5000);
                CU_ASSERT_EQUAL(count_seen(seen, N), N);
        }
        for (int i = 0; i < N; i++)
                close(clients[i]);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "connections", 0), 0);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
}

/* The daemon is stopped: start the suite's bus again at its address, move the
 * subscriber onto it, and let the daemon go on (so that the subscriber is in
 * place before the daemon reconnects). */
static void restart_bus_and_resubscribe(void)
{
        CU_ASSERT_TRUE_FATAL(testbus_start(&suite.bus, suite.topdir));
        testdaemon_resubscribe(f.d, &suite.bus);
        kill(daemon_pid(), SIGCONT);
}

static pid_t bus_pid(const TestBus *b)
{
        return (pid_t) atoi(g_subprocess_get_identifier(b->proc));
}

/* ---- descriptors ---- */

/* Takes the suite's bus away (the daemon notices), runs `during`, then starts it again
 * at the same address and resubscribes while the daemon is stopped, so that nothing
 * it emits after the reconnect is missed. */
static void with_bus_down(void (*during)(gpointer), gpointer user_data)
{
        testbus_stop(&suite.bus);
        wait_for_log("lost the bus connection");
        during(user_data);
        kill(daemon_pid(), SIGSTOP);
        restart_bus_and_resubscribe();
}

typedef struct {
        const char *path;
        unsigned n, n_fds;
        unsigned sent;
        int error;
        GThread *thread;
} FdSender;

static gpointer send_with_fds(gpointer user_data)
{
        FdSender *s = user_data;
        int p[2], fds[16];
        int fd = seq_connect(s->path);

        if (fd < 0 || pipe2(p, O_CLOEXEC) < 0) {
                s->error = fd < 0 ? fd : -errno;
                return NULL;
        }
        for (unsigned k = 0; k < s->n_fds; k++)
                fds[k] = p[k % 2];
        for (unsigned i = 0; i < s->n; i++) {
                g_autofree char *j = g_strdup_printf("{\"type\":\"fds\",\"i\":%u}", i);
                int r = send_fd_packet(fd, j, strlen(j), fds, s->n_fds); /* blocks when full */
                if (r < 0) {
                        s->error = r;
                        break;
                }
                s->sent++;
        }
        close(p[0]);
        close(p[1]);
        close(fd);
        return NULL;
}

static void start_fd_sender(gpointer user_data)
{
        FdSender *s = user_data;

        s->thread = g_thread_new("fds", send_with_fds, s);
        g_usleep(1000000);
}

/*
 * Symptom 1: a stock soft RLIMIT_NOFILE of 1024, the bus away, senders
 * sending events with 8 fds each. The queue fills by descriptors, the
 * kernel holds the rest (block), and once the bus is back every event
 * arrives with all its fds; a plain event after them too.
 */
static void test_descriptor_pressure_never_wedges_the_relay(void)
{
        enum { N = 300, FDS = 8 };
        FdSender s = { .n = N, .n_fds = FDS };
        g_autofree guint8 *seen = g_new0(guint8, N);
        GThread *t;
        int fds_before;

        f.d = testdaemon_start(&suite.bus, f.dir, NULL, 1024);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        s.path = f.d->seq_path;
        /* RLIMIT_NOFILE 1024: (1024 - reserve - max-connections) / 2 (doc/protocol.md 1.2) */
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "queue-capacity-fds"), 224);
        /* the sender starts once the bus is gone: a bus that is stopped loses what it had
         * not yet passed on to the subscriber, which is not the daemon's to redeliver */
        with_bus_down(start_fd_sender, &s);
        t = s.thread;
        collect("fds", seen, N, FDS, N, 10000);
        g_thread_join(t);
        CU_ASSERT_EQUAL(s.error, 0);
        CU_ASSERT_EQUAL(s.sent, N);
        printf("# %u of %u events with %u fds each arrived\n", count_seen(seen, N), N, FDS);
        CU_ASSERT_EQUAL(count_seen(seen, N), N);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected-total"), 0);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "fds-not-forwarded"), 0);
        send_dgram(f.d->dgram_path, "{\"type\":\"plain\"}", 16, NULL, 0);
        CU_ASSERT_EQUAL(collect("plain", NULL, 0, 0, 1, 5000), 1);
        for (int i = 0; i < 200 && testdaemon_count_fds(f.d) != fds_before; i++)
                g_usleep(10000);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
}

/* A dup that fails (the table is full) never stops the relay: the event goes out without
 * its fds, counted, and says so in meta. */
static void test_failed_dup_sends_the_event_without_its_fds(void)
{
        struct rlimit low, old;
        int fds_before, p[2], two[2];

        f.d = testdaemon_start(&suite.bus, f.dir, NULL, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        CU_ASSERT_EQUAL_FATAL(pipe2(p, O_CLOEXEC), 0);
        two[0] = p[0];
        two[1] = p[1];
        CU_ASSERT_EQUAL_FATAL(prlimit(daemon_pid(), RLIMIT_NOFILE, NULL, &old), 0);
        /* room for the two that arrive with the packet, none for their duplicates */
        low.rlim_cur = (rlim_t) fds_before + 2;
        low.rlim_max = old.rlim_max;
        CU_ASSERT_EQUAL_FATAL(prlimit(daemon_pid(), RLIMIT_NOFILE, &low, NULL), 0);
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, "{\"type\":\"nodup\"}", 16, two, 2), 0);
        {
                g_autoptr(GDBusMessage) m = testdaemon_next_event(f.d, 5000);
                g_autoptr(GVariant) meta = NULL;
                guint32 dropped = 0;
                CU_ASSERT_PTR_NOT_NULL_FATAL(m);
                CU_ASSERT_STRING_EQUAL(harness_event_type(m), "nodup");
                CU_ASSERT_EQUAL(n_handles(m), 0);
                meta = g_variant_get_child_value(g_dbus_message_get_body(m), 2);
                CU_ASSERT_TRUE(g_variant_lookup(meta, "fds-dropped", "u", &dropped));
                CU_ASSERT_EQUAL(dropped, 2);
        }
        CU_ASSERT_EQUAL(prlimit(daemon_pid(), RLIMIT_NOFILE, &old, NULL), 0);
        close(p[0]);
        close(p[1]);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "fds-not-forwarded", 2), 2);
        CU_ASSERT_TRUE(testdaemon_count_in_log(f.d, "cannot duplicate an event's descriptors") >= 1);
        send_dgram(f.d->dgram_path, "{\"type\":\"plain\"}", 16, NULL, 0);
        CU_ASSERT_EQUAL(collect("plain", NULL, 0, 0, 1, 5000), 1);
        for (int i = 0; i < 200 && testdaemon_count_fds(f.d) != fds_before; i++)
                g_usleep(10000);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
}

/* ---- memory and size ---- */

typedef struct {
        const char *path;
        unsigned n;
        size_t size;
        unsigned sent;
} SizedSender;

static gpointer send_sized(gpointer user_data)
{
        SizedSender *s = user_data;
        g_autoptr(GString) j = g_string_new(NULL);
        int fd = seq_connect(s->path);

        for (unsigned i = 0; fd >= 0 && i < s->n; i++) {
                g_string_printf(j, "{\"type\":\"m\",\"i\":%u,\"p\":\"", i);
                while (j->len < s->size - 2)
                        g_string_append_c(j, 'x');
                g_string_append(j, "\"}");
                if (send_fd_packet(fd, j->str, j->len, NULL, 0) < 0)
                        break;
                s->sent++;
        }
        if (fd >= 0)
                close(fd);
        return NULL;
}

/*
 * Symptom 6: with the bus stalled (dbus-daemon SIGSTOPped, so GDBus's
 * writes back up too) and drop-oldest, RSS grows by no more than
 * capacity-bytes plus a small fixed slack, whatever the event size.
 */
static void check_memory_bound(size_t event_size, unsigned n)
{
        const long capacity_kib = 4096, slack_kib = 3072;
        g_autofree char *arg = harness_config_arg(f.dir, "[queue]\ncapacity=1000000\ncapacity-bytes=4194304\n"
                                          "policy=drop-oldest\n");
        const char *extra[] = { arg, NULL };
        g_autofree char *bus_pid = NULL;
        SizedSender s = { .n = n, .size = event_size };
        long before, after;
        GThread *t;

        f.d = testdaemon_start(&suite.bus, f.dir, extra, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        s.path = f.d->seq_path;
        /* warm up the allocator and the relay with a few delivered events, one at a
         * time (drop-oldest would drop a burst the bus cannot take at once) */
        s.n = 1;
        for (int i = 0; i < 50; i++) {
                send_sized(&s);
                CU_ASSERT_EQUAL(collect("m", NULL, 0, -1, 1, 5000), 1);
        }
        before = testdaemon_status_kib(f.d, "VmRSS");
        bus_pid = g_strdup(g_subprocess_get_identifier(suite.bus.proc));
        kill(atoi(bus_pid), SIGSTOP);
        s.n = n;
        s.sent = 0;
        t = g_thread_new("sized", send_sized, &s);
        g_thread_join(t);
        g_usleep(300000);
        after = testdaemon_status_kib(f.d, "VmRSS");
        kill(atoi(bus_pid), SIGCONT);
        printf("# %zu-byte events: %u sent, RSS %ld -> %ld KiB (+%ld; capacity %ld KiB)\n",
               event_size, s.sent, before, after, after - before, capacity_kib);
        CU_ASSERT_EQUAL(s.sent, n);
#ifdef __SANITIZE_ADDRESS__
        /* ASan's quarantine keeps freed memory resident by design: RSS says nothing here.
         * The plain and the release builds check the bound; this one checks the counts. */
        printf("# RSS bound (+%ld KiB) not checked under AddressSanitizer\n",
               capacity_kib + slack_kib);
#else
        CU_ASSERT_TRUE(after - before <= capacity_kib + slack_kib);
#endif
        CU_ASSERT_TRUE(testdaemon_stat(f.d, "dropped") > 0); /* the capacity was reached */
        CU_ASSERT_TRUE(testdaemon_stat(f.d, "queue-bytes") <= 4194304 + 65536 * 3);
        {
                guint64 received = testdaemon_stat(f.d, "received");
                guint64 emitted = testdaemon_wait_stat(
                        f.d, "emitted", received - testdaemon_stat(f.d, "dropped"));
                CU_ASSERT_EQUAL(received, emitted + testdaemon_stat(f.d, "dropped") +
                                                  testdaemon_stat(f.d, "queue-depth"));
        }
}

static void test_memory_is_bounded_for_small_events(void)
{
        check_memory_bound(50, 100000);
}

static void test_memory_is_bounded_for_large_events(void)
{
        check_memory_bound(60000, 800);
}

/* The msgpack packet for 3 * 2^20 positive fixints in three arrays: 3 MiB that GDBus
 * would marshal into ~48 MiB of D-Bus message, past the bus's 32 MiB ceiling. */
static GByteArray *expanding_msgpack(void)
{
        GByteArray *b = g_byte_array_new();
        static const guint8 head[] = { 0x84, 0xa4, 't', 'y', 'p', 'e', 0xa3, 'b', 'i', 'g' };
        static const guint8 arr32[] = { 0xdd, 0x00, 0x10, 0x00, 0x00 }; /* 1048576 */
        g_autofree guint8 *ones = g_malloc(1 << 20);

        memset(ones, 0x01, 1 << 20);
        g_byte_array_append(b, head, sizeof(head));
        for (int k = 0; k < 3; k++) {
                guint8 key[] = { 0xa1, (guint8) ('a' + k) };
                g_byte_array_append(b, key, sizeof(key));
                g_byte_array_append(b, arr32, sizeof(arr32));
                g_byte_array_append(b, ones, 1 << 20);
        }
        return b;
}

/*
 * Symptom 7: an event that decodes within max-event-size but whose message
 * would pass dbus-daemon's max_message_size is refused as too-large at
 * receive time; the relay keeps its connection and the next event flows.
 */
static void test_event_over_the_bus_ceiling_is_refused_before_queueing(void)
{
        g_autofree char *arg = harness_config_arg(f.dir, "[limits]\nmax-event-size=4194304\n"
                                          "max-members=1048576\nreceive-buffer=16777216\n");
        const char *extra[] = { arg, NULL };
        g_autoptr(GByteArray) big = expanding_msgpack();
        int fd, fds_before;

        f.d = testdaemon_start(&suite.bus, f.dir, extra, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        {
                /* a 3 MiB packet needs a send buffer past net.core.wmem_max */
                int size = 16 << 20;
                if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0) {
                        printf("# SKIP: SO_SNDBUFFORCE needs CAP_NET_ADMIN: %s\n",
                               g_strerror(errno));
                        close(fd);
                        return;
                }
        }
        CU_ASSERT_EQUAL(send_fd_packet(fd, big->data, big->len, NULL, 0), 0);
        send_numbered(fd, "after", 0);
        CU_ASSERT_EQUAL(collect("after", NULL, 0, 0, 1, 20000), 1);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected:too-large"), 1);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "bus-reconnects"), 0);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "emitted", 1), 1);
        CU_ASSERT_TRUE(testdaemon_count_in_log(f.d, "too-large") >= 1);
        close(fd);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "connections", 0), 0);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
}

/* ---- restart ---- */

static GSubprocess *spawn_sender(const char *socket_path, const char *transport,
                                 const char *input)
{
        g_autoptr(GSubprocessLauncher) l =
                g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_SILENCE);
        g_autoptr(GError) error = NULL;
        GSubprocess *p;

        g_subprocess_launcher_set_stdin_file_path(l, input);
        p = g_subprocess_launcher_spawn(l, &error, "ingester-send", "--quiet", "--socket",
                                        socket_path, transport, "--retry", "forever",
                                        "--retry-interval", "5", "--retry-max-interval", "50",
                                        NULL);
        g_assert_no_error(error);
        return p;
}

static char *numbered_lines(const char *name, const char *type, unsigned n)
{
        g_autoptr(GString) text = g_string_new(NULL);
        char *path = g_build_filename(f.dir, name, NULL);

        for (unsigned i = 0; i < n; i++)
                g_string_append_printf(text, "{\"type\":\"%s\",\"i\":%u}\n", type, i);
        g_assert_true(g_file_set_contents(path, text->str, (gssize) text->len, NULL));
        return path;
}

/* Collects events of two types into two seen-maps until both are complete or
 * timeout_ms pass without an event. */
static void collect_two(const char *a, guint8 *seen_a, const char *b, guint8 *seen_b, unsigned n,
                        unsigned timeout_ms)
{
        while (count_seen(seen_a, n) < n || count_seen(seen_b, n) < n) {
                g_autoptr(GDBusMessage) m = testdaemon_next_event(f.d, timeout_ms);
                gint64 i;
                if (!m)
                        break;
                i = data_int(m, "i");
                if (i < 0 || (guint64) i >= n)
                        continue;
                if (strcmp(harness_event_type(m), a) == 0)
                        seen_a[i] = 1;
                else if (strcmp(harness_event_type(m), b) == 0)
                        seen_b[i] = 1;
        }
}

/*
 * Symptom 5: a graceful restart under load. Two senders retrying forever
 * (SEQPACKET and DGRAM) are sending when the daemon gets SIGTERM; a new
 * one starts as soon as the old has exited (systemctl restart). Every event
 * the senders counted as sent arrives (repeats are allowed).
 */
static void test_restart_under_load_loses_nothing(void)
{
        enum { N = 4000 };
        g_autofree char *seq_input = numbered_lines("seq.jsonl", "seq", N);
        g_autofree char *dgram_input = numbered_lines("dgram.jsonl", "dgram", N);
        g_autofree guint8 *seen_seq = g_new0(guint8, N);
        g_autofree guint8 *seen_dgram = g_new0(guint8, N);
        g_autoptr(GSubprocess) seq_sender = NULL, dgram_sender = NULL;
        TestDaemon *next;
        guint64 received_first;

        f.d = testdaemon_start(&suite.bus, f.dir, NULL, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        seq_sender = spawn_sender(f.d->seq_path, "--seqpacket", seq_input);
        dgram_sender = spawn_sender(f.d->dgram_path, "--dgram", dgram_input);
        /* under load: both have sent some and are still sending */
        for (int i = 0; i < 500 && testdaemon_stat(f.d, "received") < 400; i++)
                g_usleep(2000);
        received_first = testdaemon_stat(f.d, "received");
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
        CU_ASSERT_TRUE(testdaemon_count_in_log(f.d, "every socket read") == 1);
        next = testdaemon_start(&suite.bus, f.dir, NULL, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(next);
        CU_ASSERT_EQUAL(harness_wait_subprocess(seq_sender, 60000), 0);
        CU_ASSERT_EQUAL(harness_wait_subprocess(dgram_sender, 60000), 0);
        /* d's subscriber sees both daemons' signals */
        collect_two("seq", seen_seq, "dgram", seen_dgram, N, 5000);
        printf("# first daemon received %" G_GUINT64_FORMAT "; seqpacket %u of %u, dgram %u "
               "of %u arrived\n",
               received_first, count_seen(seen_seq, N), N, count_seen(seen_dgram, N), N);
        CU_ASSERT_TRUE(received_first < 2 * N); /* the restart did happen mid-stream */
        CU_ASSERT_EQUAL(count_seen(seen_seq, N), N);
        CU_ASSERT_EQUAL(count_seen(seen_dgram, N), N);
        CU_ASSERT_EQUAL(testdaemon_stop(next), 0);
        testdaemon_free(next);
}

/* ---- the bus ---- */

/* Restarts the suite's bus after kill(sig) and resubscribes, the daemon held
 * stopped meanwhile so that nothing it sends after the reconnect is missed. */
static void replace_bus(int sig)
{
        kill(daemon_pid(), SIGSTOP);
        kill(bus_pid(&suite.bus), sig);
        testbus_stop(&suite.bus);
        restart_bus_and_resubscribe();
}

/*
 * Symptom 9: "written to the socket" is not "on the bus". The bus stops
 * reading (SIGSTOP), the daemon writes events into the socket, and the bus
 * dies with them unread. They were never confirmed, so they are sent again
 * to the next bus: every one arrives.
 */
static void test_events_the_bus_never_read_are_sent_again(void)
{
        enum { N = 50 };
        g_autofree guint8 *seen = g_new0(guint8, N);
        int fd;

        f.d = testdaemon_start(&suite.bus, f.dir, NULL, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        kill(bus_pid(&suite.bus), SIGSTOP);
        for (unsigned i = 0; i < N; i++)
                send_numbered(fd, "unread", i);
        g_usleep(500000); /* GDBus writes them into the bus's socket, where they stay */
        replace_bus(SIGKILL);
        collect("unread", seen, N, -1, N, 5000);
        printf("# %u of %u events the dead bus had not read arrived; resent %" G_GUINT64_FORMAT
               "\n",
               count_seen(seen, N), N, testdaemon_stat(f.d, "resent"));
        CU_ASSERT_EQUAL(count_seen(seen, N), N);
        CU_ASSERT_TRUE(testdaemon_stat(f.d, "resent") >= N);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "emitted", N), N);
        close(fd);
}

/* A private bus for one test with the session bus's limits and the given
 * RLIMIT_NOFILE (soft and hard). */
static bool private_bus(TestBus *b, const char *subdir, unsigned nofile)
{
        g_autofree char *bdir = g_build_filename(f.dir, subdir, NULL);
        struct rlimit rl = { nofile, nofile };

        g_assert_cmpint(g_mkdir(bdir, 0700), ==, 0);
        if (!testbus_start_with(b, bdir, TESTBUS_SESSION_LIMITS))
                return false;
        return prlimit(bus_pid(b), RLIMIT_NOFILE, &rl, NULL) == 0;
}

static GSubprocess *spawn_monitor(const TestBus *b)
{
        g_autoptr(GError) error = NULL;
        GSubprocess *p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                  G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                                          &error, "gdbus", "monitor", "--address", b->address,
                                          "--dest", "org.ingester.Ingester1", NULL);
        g_assert_no_error(error);
        return p;
}

static void send_fd_events(int fd, const char *type, unsigned first, unsigned n)
{
        int p[2], fds[8];

        CU_ASSERT_EQUAL_FATAL(pipe2(p, O_CLOEXEC), 0);
        for (int k = 0; k < 8; k++)
                fds[k] = p[k % 2];
        for (unsigned i = first; i < first + n; i++) {
                g_autofree char *j = g_strdup_printf("{\"type\":\"%s\",\"i\":%u}", type, i);
                CU_ASSERT_EQUAL(send_fd_packet(fd, j, strlen(j), fds, 8), 0);
        }
        close(p[0]);
        close(p[1]);
}

/*
 * Symptom 8: a stopped subscriber makes dbus-daemon hold every fd sent to
 * it until its own table is full; it then throws off whoever sends the
 * next fd, the relay. The relay must not reconnect in a storm: after the
 * same bus reset it with fds in flight, events go on without them (counted)
 * and the live subscriber gets every one; once the stopped subscriber is
 * gone, a probe gets through and events carry their fds again.
 */
static void check_bus_refusing_fds(const char *const *extra, unsigned N)
{
        TestBus bus = { 0 };
        g_autoptr(GSubprocess) stopped = NULL;
        g_autofree guint8 *seen = g_new0(guint8, N);
        guint64 reconnects, without;
        int fd;
        bool fds_back = false;

        CU_ASSERT_TRUE_FATAL(private_bus(&bus, "bus", 160));
        f.d = testdaemon_start(&bus, f.dir, extra, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        stopped = spawn_monitor(&bus);
        g_usleep(500000); /* its match rule is in place */
        kill(atoi(g_subprocess_get_identifier(stopped)), SIGSTOP);

        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        send_fd_events(fd, "storm", 0, N);
        collect("storm", seen, N, -1, N, 10000);
        reconnects = testdaemon_stat(f.d, "bus-reconnects");
        without = testdaemon_stat(f.d, "fds-not-forwarded");
        printf("# live subscriber got %u of %u; %" G_GUINT64_FORMAT " reconnects, %" G_GUINT64_FORMAT
               " fds not forwarded, %u 'lost the bus' lines\n",
               count_seen(seen, N), N, reconnects, without, testdaemon_count_in_log(f.d, "lost the bus"));
        if (count_seen(seen, N) < N)
                printf("# queue-depth %" G_GUINT64_FORMAT " in-flight %" G_GUINT64_FORMAT
                       " emitted %" G_GUINT64_FORMAT "\n",
                       testdaemon_stat(f.d, "queue-depth"), testdaemon_stat(f.d, "in-flight"),
                       testdaemon_stat(f.d, "emitted"));
        CU_ASSERT_EQUAL(count_seen(seen, N), N);
        CU_ASSERT_TRUE(reconnects >= 1 && reconnects <= 4);
        CU_ASSERT_TRUE(without > 0);
        CU_ASSERT_TRUE(testdaemon_count_in_log(f.d, "lost the bus") <= 4); /* no storm in the log either */
        CU_ASSERT_TRUE(testdaemon_count_in_log(f.d, "events go out without their fds") == 1);

        /* the stopped subscriber goes away: the bus has descriptors again */
        g_subprocess_force_exit(stopped);
        harness_wait_subprocess(stopped, 5000);
        for (unsigned i = 0; i < 100 && !fds_back; i++) {
                send_fd_events(fd, "after", i, 1);
                for (;;) {
                        g_autoptr(GDBusMessage) m = next_event(300);
                        if (!m)
                                break;
                        if (strcmp(harness_event_type(m), "after") == 0 && n_handles(m) == 8)
                                fds_back = true;
                }
        }
        CU_ASSERT_TRUE(fds_back);
        CU_ASSERT_TRUE(testdaemon_count_in_log(f.d, "the bus takes descriptors again") == 1);
        close(fd);
        g_clear_pointer(&f.d, testdaemon_free);
        testbus_stop(&bus);
        g_queue_clear_full(&split, g_object_unref);
}

static void test_a_bus_that_refuses_fds_gets_events_without_them(void)
{
        check_bus_refusing_fds(NULL, 200);
}

/* The same with batches: the probe is a whole EventBatch, and a batch of
 * these events (8 fds each) holds two. Half as many messages carry the
 * same events, and the stopped subscriber's socket buffer holds 100 of
 * them with their fds (the kernel's, not the bus's), so it takes more
 * events before the bus's own table is full. */
static void test_a_bus_that_refuses_fds_gets_batches_without_them(void)
{
        check_bus_refusing_fds((const char *const[]){ "--signal-form=batch", NULL }, 600);
}

/* A DGRAM socket bound at path, as systemd would hold it for a socket unit. */
static int bind_dgram(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        return fd;
}

/* ingesterd with fd as its one socket-activated socket (LISTEN_FDS=1 on fd 3). */
static GSubprocess *spawn_activated(int fd, const char *log_path)
{
        g_autoptr(GSubprocessLauncher) l =
                g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
        g_autoptr(GError) error = NULL;
        g_autofree char *cmd = g_strdup_printf(
                "LISTEN_PID=$$ LISTEN_FDS=1 exec ingesterd --address='%s'", suite.bus.address);
        GSubprocess *p;

        g_subprocess_launcher_take_fd(l, dup(fd), 3);
        g_subprocess_launcher_set_stderr_file_path(l, log_path);
        g_subprocess_launcher_setenv(l, "G_DEBUG", "fatal-criticals", TRUE);
        p = g_subprocess_launcher_spawn(l, &error, "/bin/sh", "-c", cmd, NULL);
        g_assert_no_error(error);
        return p;
}

static bool wait_name(GDBusConnection *c, bool owned)
{
        for (int i = 0; i < 500; i++) {
                if (harness_name_owned(c) == owned)
                        return true;
                g_usleep(10000);
        }
        return false;
}

/*
 * Under socket activation the sockets are systemd's: a stopping daemon
 * must not shut them down, and what they hold is the next instance's. The
 * test holds the socket as systemd would, stops a first instance with
 * packets unread, sends more, and starts a second one: every packet arrives.
 */
static void test_activated_socket_keeps_its_packets_for_the_next_instance(void)
{
        enum { N = 5 };
        g_autofree char *path = g_build_filename(f.dir, "activated.sock", NULL);
        g_autofree char *log1 = g_build_filename(f.dir, "first.log", NULL);
        g_autofree char *log2 = g_build_filename(f.dir, "second.log", NULL);
        g_autofree guint8 *seen = g_new0(guint8, N);
        GAsyncQueue *events = g_async_queue_new_full(g_object_unref);
        guint sub_id, filter_id;
        GDBusConnection *sub = harness_subscribe(&suite.bus, events, &sub_id, &filter_id);
        int fd = bind_dgram(path);
        GSubprocess *first, *second;

        first = spawn_activated(fd, log1);
        CU_ASSERT_TRUE_FATAL(wait_name(sub, true));
        kill(atoi(g_subprocess_get_identifier(first)), SIGSTOP);
        for (unsigned i = 0; i < 3; i++) {
                g_autofree char *j = g_strdup_printf("{\"type\":\"act\",\"i\":%u}", i);
                CU_ASSERT_EQUAL(send_dgram(path, j, strlen(j), NULL, 0), 0);
        }
        g_subprocess_send_signal(first, SIGTERM);
        kill(atoi(g_subprocess_get_identifier(first)), SIGCONT);
        int st = harness_wait_subprocess(first, 10000);
        if (st != 0) {
                g_autofree char *log = NULL, *status = NULL, *proc = NULL;
                if (g_subprocess_get_identifier(first))
                        proc = g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(first));
                if (proc)
                        g_file_get_contents(proc, &status, NULL, NULL);
                g_file_get_contents(log1, &log, NULL, NULL);
                printf("# status %d; the first instance's log:\n%s\n# %s\n", st, log ? log : "", status ? status : "");
                CU_FAIL("the first instance did not exit 0 within 10 s");
        }
        CU_ASSERT_TRUE(wait_name(sub, false));
        /* between instances the socket still takes packets: it was not shut down */
        for (unsigned i = 3; i < N; i++) {
                g_autofree char *j = g_strdup_printf("{\"type\":\"act\",\"i\":%u}", i);
                CU_ASSERT_EQUAL(send_dgram(path, j, strlen(j), NULL, 0), 0);
        }
        second = spawn_activated(fd, log2);
        CU_ASSERT_TRUE_FATAL(wait_name(sub, true));
        while (count_seen(seen, N) < N) {
                g_autoptr(GDBusMessage) m = g_async_queue_timeout_pop(events, 5000000);
                gint64 i;
                if (!m)
                        break;
                i = data_int(m, "i");
                if (i >= 0 && i < N)
                        seen[i] = 1;
        }
        printf("# %u of %u packets sent around a restart of an activated daemon arrived\n",
               count_seen(seen, N), N);
        CU_ASSERT_EQUAL(count_seen(seen, N), N);
        g_subprocess_send_signal(second, SIGTERM);
        CU_ASSERT_EQUAL(harness_wait_subprocess(second, 10000), 0);
        g_object_unref(first);
        g_object_unref(second);
        close(fd);
        harness_unsubscribe(sub, sub_id, filter_id);
        g_async_queue_unref(events);
}

/*
 * A socket systemd created without PassCredentials=yes holds datagrams
 * queued before the daemon set SO_PASSCRED: the kernel reports them as
 * pid 0, uid and gid 65534. They are refused under a reason of their own,
 * logged as from an unknown sender (not as a uid to go looking for), and
 * the next datagram, which carries real credentials, is relayed.
 */
static void test_datagram_without_credentials_has_its_own_reason(void)
{
        g_autofree char *path = g_build_filename(f.dir, "nocred.sock", NULL);
        g_autofree char *log_path = g_build_filename(f.dir, "nocred.log", NULL);
        g_autofree char *log = NULL;
        GAsyncQueue *events = g_async_queue_new_full(g_object_unref);
        guint sub_id, filter_id;
        GDBusConnection *sub = harness_subscribe(&suite.bus, events, &sub_id, &filter_id);
        int fd = bind_dgram(path); /* no SO_PASSCRED yet */
        GSubprocess *p;

        CU_ASSERT_EQUAL(send_dgram(path, "{\"type\":\"early\"}", 16, NULL, 0), 0);
        p = spawn_activated(fd, log_path);
        CU_ASSERT_TRUE_FATAL(wait_name(sub, true));
        CU_ASSERT_EQUAL(send_dgram(path, "{\"type\":\"later\"}", 16, NULL, 0), 0);
        {
                g_autoptr(GDBusMessage) m = g_async_queue_timeout_pop(events, 5000000);
                CU_ASSERT_PTR_NOT_NULL_FATAL(m);
                CU_ASSERT_STRING_EQUAL(harness_event_type(m), "later");
        }
        CU_ASSERT_PTR_NULL(g_async_queue_timeout_pop(events, 200000));
        CU_ASSERT_EQUAL(harness_stat(sub, "rejected:no-credentials"), 1);
        CU_ASSERT_EQUAL(harness_stat(sub, "rejected:not-allowed"), 0);
        g_subprocess_send_signal(p, SIGTERM);
        CU_ASSERT_EQUAL(harness_wait_subprocess(p, 10000), 0);
        g_assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
        CU_ASSERT_PTR_NOT_NULL(strstr(log, "from an unknown sender: no-credentials"));
        CU_ASSERT_PTR_NULL(strstr(log, "uid=65534"));
        CU_ASSERT_PTR_NOT_NULL(strstr(log, "1 events received")); /* only "later" */
        g_object_unref(p);
        close(fd);
        harness_unsubscribe(sub, sub_id, filter_id);
        g_async_queue_unref(events);
}

/* Waits until the peer has read everything sent on fd (SIOCOUTQ: bytes the
 * receiver has not consumed yet). */
static bool wait_read_by_peer(int fd, unsigned timeout_ms)
{
        for (unsigned i = 0; i < timeout_ms; i++) {
                int unread = -1;
                if (ioctl(fd, SIOCOUTQ, &unread) == 0 && unread == 0)
                        return true;
                g_usleep(1000);
        }
        return false;
}

/*
 * SIGHUP reloads what can change while running: limits, queue capacities and
 * policy, and a listener's allow-lists, without losing a queued event or
 * closing a connection; what cannot change is named in the log; a file that
 * does not parse changes nothing.
 */
static void test_sighup_reloads_limits_and_allow_lists_losing_nothing(void)
{
        enum { N = 20 };
        /* keys before a section go to harness_config_arg(dir, )'s last one, [listen:dgram] */
        g_autofree char *v1 = harness_config_arg(f.dir, "allow-uids=4242\n\n[limits]\nmax-connections=1\n\n"
                                         "[queue]\ncapacity=64\n");
        const char *extra[] = { v1, NULL };
        g_autofree guint8 *seen = g_new0(guint8, N);
        g_autofree char *big = NULL;
        g_autofree char *conf = g_build_filename(f.dir, "ingesterd.conf", NULL);
        int c1, c2, fds_before;

        /* v1: the datagram socket admits uid 4242 only, one connection at a time */
        f.d = testdaemon_start(&suite.bus, f.dir, extra, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        c1 = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(c1 >= 0);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "connections", 1), 1);
        c2 = seq_connect(f.d->seq_path); /* waits in the backlog: at max-connections */
        CU_ASSERT_TRUE_FATAL(c2 >= 0);
        send_numbered(c2, "waiting", 0);
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, "{\"type\":\"dg\"}", 13, NULL, 0), 0);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "rejected:not-allowed", 1), 1);

        /* events the daemon holds, unconfirmed, while the bus is stopped */
        kill(bus_pid(&suite.bus), SIGSTOP);
        for (unsigned i = 0; i < N; i++)
                send_numbered(c1, "held", i);
        CU_ASSERT_TRUE(wait_read_by_peer(c1, 5000));

        /* v2: a smaller queue than it holds, smaller packets, anyone on the datagram
         * socket, more connections; and two things that cannot change */
        g_free(harness_config_arg(f.dir, "allow-uids=*\n\n[limits]\nmax-connections=4\nmax-event-size=200\n\n"
                          "[queue]\ncapacity=8\n\n[bus]\nname=org.ingester.Other\n\n"
                          "[listen:extra]\ntransport=dgram\npath=/nonexistent/extra.sock\n"));
        kill(daemon_pid(), SIGHUP);
        wait_for_log("reloaded:");
        kill(bus_pid(&suite.bus), SIGCONT);

        CU_ASSERT_EQUAL(collect("held", seen, N, -1, N, 5000), N);
        CU_ASSERT_EQUAL(collect("waiting", NULL, 0, -1, 1, 5000), 1); /* c2 accepted */
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "queue-capacity"), 8);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "dropped"), 0);
        CU_ASSERT_EQUAL(testdaemon_count_in_log(f.d, "[bus] name: cannot change"), 1);
        /* the datagram socket now admits us */
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, "{\"type\":\"dg\"}", 13, NULL, 0), 0);
        CU_ASSERT_EQUAL(collect("dg", NULL, 0, -1, 1, 5000), 1);
        CU_ASSERT_EQUAL(testdaemon_count_in_log(f.d, "[listen:extra] added: cannot change"), 1);

        /* c1 is still open; the new max-event-size holds on it */
        big = g_strdup_printf("{\"type\":\"big\",\"pad\":\"%0300d\"}", 0);
        CU_ASSERT_EQUAL(send_fd_packet(c1, big, strlen(big), NULL, 0), 0);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "rejected:too-large", 1), 1);
        send_numbered(c1, "after", 0);
        CU_ASSERT_EQUAL(collect("after", NULL, 0, -1, 1, 5000), 1);

        /* a file that does not parse: the running configuration stays */
        g_assert_true(g_file_set_contents(conf, "[queue\n", -1, NULL));
        kill(daemon_pid(), SIGHUP);
        wait_for_log("the running configuration is kept");
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "queue-capacity"), 8);
        send_numbered(c1, "still", 0);
        CU_ASSERT_EQUAL(collect("still", NULL, 0, -1, 1, 5000), 1);

        close(c1);
        close(c2);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "connections", 0), 0);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

int main(void)
{
        static const TapTest connection_tests[] = {
                TAP_TEST(connection_limit_makes_connects_wait_not_vanish),
                TAP_TEST(churning_senders_lose_nothing_at_a_low_limit),
                TAP_TEST(accept_at_emfile_waits_quietly_and_recovers),
                { NULL, NULL },
        };

        static const TapTest fd_tests[] = {
                TAP_TEST(descriptor_pressure_never_wedges_the_relay),
                TAP_TEST(failed_dup_sends_the_event_without_its_fds),
                { NULL, NULL },
        };

        static const TapTest size_tests[] = {
                TAP_TEST(memory_is_bounded_for_small_events),
                TAP_TEST(memory_is_bounded_for_large_events),
                TAP_TEST(event_over_the_bus_ceiling_is_refused_before_queueing),
                { NULL, NULL },
        };

        static const TapTest restart_tests[] = {
                TAP_TEST(restart_under_load_loses_nothing),
                TAP_TEST(activated_socket_keeps_its_packets_for_the_next_instance),
                TAP_TEST(datagram_without_credentials_has_its_own_reason),
                TAP_TEST(sighup_reloads_limits_and_allow_lists_losing_nothing),
                { NULL, NULL },
        };

        static const TapTest bus_tests[] = {
                TAP_TEST(events_the_bus_never_read_are_sent_again),
                TAP_TEST(a_bus_that_refuses_fds_gets_events_without_them),
                TAP_TEST(a_bus_that_refuses_fds_gets_batches_without_them),
                { NULL, NULL },
        };

        signal(SIGPIPE, SIG_IGN);
        tap_add_suite_full("bus", suite_init, suite_cleanup, setup, teardown, bus_tests);
        tap_add_suite_full("restart", suite_init, suite_cleanup, setup, teardown, restart_tests);
        tap_add_suite_full("size", suite_init, suite_cleanup, setup, teardown, size_tests);
        tap_add_suite_full("descriptors", suite_init, suite_cleanup, setup, teardown, fd_tests);
        tap_add_suite_full("connections", suite_init, suite_cleanup, setup, teardown,
                           connection_tests);
        return tap_run();
}

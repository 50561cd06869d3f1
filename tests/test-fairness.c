/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-fairness.c — one flooding reader must not delay or cost another
 * (issue "fair to every sender"), on a real dbus-daemon with the built
 * ingesterd.
 *
 * A flooder sends as fast as it can, on SEQPACKET or on DGRAM, while a
 * paced reader sends 200 events/s on its own SEQPACKET connection. What is
 * judged is positions, not time: the daemon counts, per sender, the most
 * events that went out to the bus ahead of one of its events once it was
 * queued (GetStats "senders", max-wait), and the bus order shows the rest
 * (seq without gaps, each sender's events in order). A loaded machine can
 * make everything slower but cannot move an event's position.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cunit-tap.h"
#include "harness.h"

static TestSuite suite; /* the suite's bus */
static TestFixture fix; /* this test's directory and daemon (f is a flooder here) */

TESTSUITE_CALLBACKS(suite)
TESTSUITE_FIXTURE(suite, fix)

#define CAPACITY 2048
#define WINDOW 32 /* [bus] max-unflushed */
#define BATCH 16  /* [limits] batch */
#define PACED 100

/* Starts the daemon with its two sockets, a small window and batch, and extra config. */
static TestDaemon *start_with(const char *policy, const char *extra)
{
        g_autofree char *text = g_strdup_printf(
                "[bus]\nmax-unflushed=%u\n\n[limits]\nbatch=%u\n\n[queue]\ncapacity=%u\n"
                "policy=%s\n%s\n",
                WINDOW, BATCH, CAPACITY, policy, extra);
        g_autofree char *arg = harness_config_arg(fix.dir, text);
        const char *argv[2];

        argv[0] = arg;
        argv[1] = NULL;
        return testdaemon_start(&suite.bus, fix.dir, argv, 0);
}

/* ---- the flooder: a thread sending as fast as its socket takes it ---- */

typedef struct {
        int fd;
        bool dgram;
        struct sockaddr_un addr;
        gint stop;
        guint64 sent;
} Flooder;

static gpointer flood(gpointer user_data)
{
        Flooder *f = user_data;

        while (!g_atomic_int_get(&f->stop)) {
                char buf[64];
                int n = snprintf(buf, sizeof(buf), "{\"type\":\"flood\",\"i\":%" G_GUINT64_FORMAT "}",
                                 f->sent);
                ssize_t r = f->dgram ? sendto(f->fd, buf, (size_t) n, 0,
                                              (struct sockaddr *) &f->addr, sizeof(f->addr))
                                     : send(f->fd, buf, (size_t) n, MSG_NOSIGNAL);
                if (r == n)
                        f->sent++;
                else if (r < 0 && errno != EINTR && errno != EAGAIN && errno != ENOBUFS)
                        break;
        }
        return NULL;
}

static void flooder_start(Flooder *f, bool dgram, GThread **ret)
{
        *f = (Flooder){ .dgram = dgram };
        if (dgram) {
                f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                f->addr.sun_family = AF_UNIX;
                g_strlcpy(f->addr.sun_path, fix.d->dgram_path, sizeof(f->addr.sun_path));
        } else {
                f->fd = seq_connect(fix.d->seq_path);
        }
        g_assert_cmpint(f->fd, >=, 0);
        /* a send blocks for at most 100 ms, so the thread sees its stop flag */
        {
                struct timeval tv = { .tv_usec = 100000 };
                g_assert_cmpint(setsockopt(f->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), ==,
                                0);
        }
        *ret = g_thread_new("flooder", flood, f);
}

/* Stops sending; the connection stays open (its lane with it) until close(f->fd). */
static void flooder_stop(Flooder *f, GThread *t)
{
        g_atomic_int_set(&f->stop, 1);
        g_thread_join(t);
}

/* ---- what the bus shows ---- */

typedef struct {
        guint64 flood, paced;  /* events of each seen */
        gint64 next_paced;     /* the paced i expected next */
        gint64 last_flood;     /* the last flood i seen */
        bool flood_in_order, paced_in_order, seq_contiguous;
        guint64 last_seq;
} Seen;

static guint64 seq_of(GDBusMessage *m)
{
        g_autoptr(GVariant) meta = g_variant_get_child_value(g_dbus_message_get_body(m), 2);
        guint64 seq = 0;

        g_variant_lookup(meta, "seq", "t", &seq);
        return seq;
}

static void tally(Seen *s, GDBusMessage *m)
{
        GVariant *body = g_dbus_message_get_body(m);
        g_autoptr(GVariant) data = g_variant_get_child_value(body, 1);
        const char *type = NULL;
        gint64 i = -1;
        guint64 seq = seq_of(m);

        g_variant_get_child(body, 0, "&s", &type);
        g_variant_lookup(data, "i", "x", &i);
        if (seq != s->last_seq + 1)
                s->seq_contiguous = false;
        s->last_seq = seq;
        if (strcmp(type, "paced") == 0) {
                if (i != s->next_paced)
                        s->paced_in_order = false;
                s->next_paced = i + 1;
                s->paced++;
        } else {
                if (i <= s->last_flood)
                        s->flood_in_order = false;
                s->last_flood = i;
                s->flood++;
        }
}

/* Takes every Event that arrives until want of them came, or 3 s pass without one. */
static void collect(Seen *s, guint64 want)
{
        while (s->flood + s->paced < want) {
                g_autoptr(GDBusMessage) m = testdaemon_next_event(fix.d, 3000);
                if (!m)
                        break;
                tally(s, m);
        }
}

/* The lane in GetStats "senders" that received exactly n events, or NULL. */
static GVariant *sender_with(GVariant *stats, guint64 n)
{
        g_autoptr(GVariant) senders = g_variant_lookup_value(stats, "senders", G_VARIANT_TYPE("aa{sv}"));
        GVariantIter it;
        GVariant *lane;

        if (!senders)
                return NULL;
        g_variant_iter_init(&it, senders);
        while ((lane = g_variant_iter_next_value(&it))) {
                guint64 received = 0;
                g_variant_lookup(lane, "received", "t", &received);
                if (received == n)
                        return lane;
                g_variant_unref(lane);
        }
        return NULL;
}

static guint64 lane_u64(GVariant *lane, const char *key)
{
        guint64 v = G_MAXUINT64;

        if (lane)
                g_variant_lookup(lane, key, "t", &v);
        return v;
}

/* The busiest lane (the flooder's). */
static GVariant *busiest(GVariant *stats)
{
        g_autoptr(GVariant) senders = g_variant_lookup_value(stats, "senders", G_VARIANT_TYPE("aa{sv}"));

        if (!senders || g_variant_n_children(senders) == 0)
                return NULL;
        return g_variant_get_child_value(senders, 0);
}

/* received = emitted + dropped + queued, once the queue is empty. */

/*
 * The flood, then the paced reader: 100 events, one every 5 ms, each sent
 * once the flood holds the queue. Then the bus order and the daemon's own
 * positions are checked.
 */
static void check_paced_against_flood(const char *policy, bool dgram_flood)
{
        Seen seen = { .last_flood = -1, .flood_in_order = true, .paced_in_order = true,
                      .seq_contiguous = true };
        g_autoptr(GVariant) stats = NULL, paced_lane = NULL, flood_lane = NULL;
        Flooder f;
        GThread *t;
        int paced, fds_before;
        bool block = strcmp(policy, "block") == 0;
        guint64 depth = 0, bound;

        fix.d = start_with(policy, "");
        CU_ASSERT_PTR_NOT_NULL_FATAL(fix.d);
        fds_before = testdaemon_count_fds(fix.d);
        paced = seq_connect(fix.d->seq_path);
        CU_ASSERT_TRUE_FATAL(paced >= 0);
        flooder_start(&f, dgram_flood, &t);
        /* the flood fills its share under block (half the queue: the paced reader's
         * connection is open), and overflows the queue under the drop policies */
        for (int i = 0; i < 1000; i++) {
                depth = testdaemon_stat(fix.d, "queue-depth");
                if (block ? depth >= CAPACITY / 2 - BATCH : testdaemon_stat(fix.d, "dropped") > 0)
                        break;
                g_usleep(10000);
        }
        printf("# %s, %s flood: queue depth %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
               " dropped before the paced reader\n",
               policy, dgram_flood ? "dgram" : "seqpacket", depth, testdaemon_stat(fix.d, "dropped"));
        CU_ASSERT_TRUE(block ? depth >= CAPACITY / 2 - BATCH
                             : testdaemon_stat(fix.d, "dropped") > 0);
        for (int i = 0; i < PACED; i++) {
                g_autofree char *j = g_strdup_printf("{\"type\":\"paced\",\"i\":%d}", i);
                CU_ASSERT_EQUAL(send_fd_packet(paced, j, strlen(j), NULL, 0), 0);
                g_usleep(5000);
        }
        flooder_stop(&f, t);
        collect(&seen, block ? f.sent + PACED : G_MAXUINT64);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(fix.d));
        /* while both connections are open: a closed connection's lane goes once empty */
        stats = harness_stats(fix.d->conn);
        close(paced);
        close(f.fd);
        CU_ASSERT_PTR_NOT_NULL_FATAL(stats);
        paced_lane = sender_with(stats, PACED);
        flood_lane = busiest(stats);
        CU_ASSERT_PTR_NOT_NULL_FATAL(flood_lane);

        /* the paced reader loses nothing, in order */
        CU_ASSERT_EQUAL(seen.paced, PACED);
        CU_ASSERT_TRUE(seen.paced_in_order);
        CU_ASSERT_TRUE(seen.flood_in_order);
        CU_ASSERT_TRUE(seen.seq_contiguous); /* seq is the bus order: drops leave no gap */
        CU_ASSERT_PTR_NOT_NULL_FATAL(paced_lane);
        CU_ASSERT_EQUAL(lane_u64(paced_lane, "dropped"), 0);
        CU_ASSERT_EQUAL(lane_u64(paced_lane, "emitted"), PACED);
        /*
         * Positions: once queued, a paced event waits for at most what was picked then
         * (the window, plus the one the relay picks next), its own predecessors read in
         * the same batch if the daemon fell that far behind (at most BATCH of them),
         * and one flood event per round of the scheduler before each. Before lanes it
         * waited for the whole flood queued ahead of it: a share of the queue.
         */
        bound = WINDOW + 1 + 2 * BATCH;
        printf("# paced max-wait %" G_GUINT64_FORMAT " (bound %" G_GUINT64_FORMAT
               "), flood max-wait %" G_GUINT64_FORMAT ", flood sent %" G_GUINT64_FORMAT
               " seen %" G_GUINT64_FORMAT " dropped %" G_GUINT64_FORMAT "\n",
               lane_u64(paced_lane, "max-wait"), bound, lane_u64(flood_lane, "max-wait"), f.sent,
               seen.flood, lane_u64(flood_lane, "dropped"));
        CU_ASSERT_TRUE(lane_u64(paced_lane, "max-wait") <= bound);
        /* and the flood was real: its own events waited behind a deep lane */
        CU_ASSERT_TRUE(lane_u64(flood_lane, "max-wait") >= CAPACITY / 4);
        if (block) {
                /* under block the flooder loses nothing either */
                CU_ASSERT_EQUAL(seen.flood, f.sent);
                CU_ASSERT_EQUAL(seen.last_flood + 1, (gint64) f.sent);
                CU_ASSERT_EQUAL(testdaemon_stat(fix.d, "dropped"), 0);
        } else {
                /* the flood overflowed, and only the flood paid */
                CU_ASSERT_TRUE(lane_u64(flood_lane, "dropped") > 0);
                CU_ASSERT_EQUAL(lane_u64(flood_lane, "dropped"), testdaemon_stat(fix.d, "dropped"));
        }
        CU_ASSERT_EQUAL(testdaemon_count_fds(fix.d), fds_before);
        CU_ASSERT_EQUAL(testdaemon_stop(fix.d), 0);
}

static void test_block_seqpacket_flood(void)
{
        check_paced_against_flood("block", false);
}

static void test_block_dgram_flood(void)
{
        check_paced_against_flood("block", true);
}

static void test_drop_newest_flood(void)
{
        check_paced_against_flood("drop-newest", false);
}

static void test_drop_oldest_flood(void)
{
        check_paced_against_flood("drop-oldest", false);
}

static void test_drop_newest_dgram_flood(void)
{
        check_paced_against_flood("drop-newest", true);
}

/*
 * More DGRAM senders than lanes, while the bus is away so that nothing
 * leaves: two senders get lanes, the others share one, and once the bus is
 * back every event arrives and is counted where GetStats says.
 */
static void test_senders_past_the_lane_limit_share_one(void)
{
        g_autoptr(GVariant) stats = NULL, senders = NULL;
        GVariantIter it;
        GVariant *lane;
        guint64 shared_received = 0, own = 0;
        Seen seen = { .last_flood = -1, .flood_in_order = true, .paced_in_order = true,
                      .seq_contiguous = true };
        pid_t pid;

        fix.d = start_with("block", "max-dgram-senders=2");
        CU_ASSERT_PTR_NOT_NULL_FATAL(fix.d);
        pid = (pid_t) atoi(g_subprocess_get_identifier(fix.d->proc));
        testbus_stop(&suite.bus);
        /* five processes, three events each (a sender is a pid and a uid) */
        for (int k = 0; k < 5; k++) {
                pid_t child = fork();
                g_assert_cmpint(child, >=, 0);
                if (child == 0) {
                        for (int i = 0; i < 3; i++) {
                                char j[64];
                                int n = snprintf(j, sizeof(j), "{\"type\":\"x\",\"i\":%d}",
                                                 k * 3 + i);
                                if (send_dgram(fix.d->dgram_path, j, (size_t) n, NULL, 0) != 0)
                                        _exit(1);
                        }
                        _exit(0);
                }
                {
                        int status = 0;
                        CU_ASSERT_EQUAL(waitpid(child, &status, 0), child);
                        CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                }
        }
        g_usleep(200000); /* the daemon reads them all (it cannot emit) */
        kill(pid, SIGSTOP);
        CU_ASSERT_TRUE_FATAL(testbus_start(&suite.bus, suite.topdir));
        harness_unsubscribe(fix.d->conn, fix.d->sub_id, fix.d->filter_id);
        fix.d->conn = harness_subscribe(&suite.bus, fix.d->events, &fix.d->sub_id, &fix.d->filter_id);
        kill(pid, SIGCONT);
        collect(&seen, 15);
        CU_ASSERT_EQUAL(seen.flood, 15);
        CU_ASSERT_TRUE(seen.seq_contiguous);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(fix.d));
        stats = harness_stats(fix.d->conn);
        CU_ASSERT_PTR_NOT_NULL_FATAL(stats);
        CU_ASSERT_EQUAL(testdaemon_stat(fix.d, "senders-dgram"), 2);
        senders = g_variant_lookup_value(stats, "senders", G_VARIANT_TYPE("aa{sv}"));
        CU_ASSERT_PTR_NOT_NULL_FATAL(senders);
        g_variant_iter_init(&it, senders);
        while ((lane = g_variant_iter_next_value(&it))) {
                gboolean shared = FALSE;
                guint64 received = 0;
                g_variant_lookup(lane, "shared", "b", &shared);
                g_variant_lookup(lane, "received", "t", &received);
                if (shared)
                        shared_received += received;
                else
                        own += received;
                g_variant_unref(lane);
        }
        CU_ASSERT_EQUAL(own, 6);
        CU_ASSERT_EQUAL(shared_received, 9);
        CU_ASSERT_EQUAL(testdaemon_stop(fix.d), 0);
}


/* Sends n events on fd, numbered from first. */
static void send_n(int fd, int first, int n)
{
        for (int i = first; i < first + n; i++) {
                g_autofree char *j = g_strdup_printf("{\"type\":\"r\",\"i\":%d}", i);
                CU_ASSERT_EQUAL(send_fd_packet(fd, j, strlen(j), NULL, 0), 0);
        }
}

/*
 * rate-limit-burst=5 per 400 ms: of 20 events at once 5 go out and 15 are
 * refused as rate-limited (a 16th with descriptors too, which are closed);
 * another sender has its own budget; after the interval the next events
 * are accepted again and one line says "suppressed 16" — once for the
 * interval, however many were refused.
 */
static void test_rate_limit_per_sender(void)
{
        Seen seen = { .last_flood = -1, .flood_in_order = true, .paced_in_order = true,
                      .seq_contiguous = true };
        int a, b;

        fix.d = start_with("block", "rate-limit-interval=400ms\nrate-limit-burst=5");
        CU_ASSERT_PTR_NOT_NULL_FATAL(fix.d);
        a = seq_connect(fix.d->seq_path);
        b = seq_connect(fix.d->seq_path);
        CU_ASSERT_TRUE_FATAL(a >= 0 && b >= 0);
        send_n(a, 0, 20);
        send_n(b, 100, 3);
        collect(&seen, 8);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(fix.d, "rejected:rate-limited", 15), 15);
        {
                /* one more over the budget, with descriptors: refused, and closed */
                int fds_before = testdaemon_count_fds(fix.d), p[2];
                CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
                CU_ASSERT_EQUAL(send_fd_packet(a, "{\"type\":\"r\",\"i\":99}", 19, p, 2), 0);
                close(p[0]);
                close(p[1]);
                CU_ASSERT_EQUAL(testdaemon_wait_stat(fix.d, "rejected:rate-limited", 16), 16);
                CU_ASSERT_EQUAL(testdaemon_count_fds(fix.d), fds_before);
        }
        CU_ASSERT_EQUAL(testdaemon_wait_stat(fix.d, "emitted", 8), 8);
        CU_ASSERT_EQUAL(testdaemon_count_in_log(fix.d, "suppressed"), 0); /* the interval has not ended */
        g_usleep(450000);
        send_n(a, 20, 7); /* a new interval: 5 in, 2 refused */
        collect(&seen, 13);
        CU_ASSERT_EQUAL(seen.flood, 13);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(fix.d, "rejected:rate-limited", 18), 18);
        CU_ASSERT_EQUAL(testdaemon_count_in_log(fix.d, "suppressed 16 events"), 1);
        g_usleep(450000);
        send_n(a, 30, 1);
        collect(&seen, 14);
        CU_ASSERT_EQUAL(seen.flood, 14);
        CU_ASSERT_EQUAL(testdaemon_count_in_log(fix.d, "suppressed 2 events"), 1);
        CU_ASSERT_EQUAL(testdaemon_count_in_log(fix.d, "rate limit: suppressed"), 2);
        CU_ASSERT_EQUAL(testdaemon_stat(fix.d, "rejected-total"), 18);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(fix.d));
        close(a);
        close(b);
        CU_ASSERT_EQUAL(testdaemon_stop(fix.d), 0);
}

int main(void)
{
        static const TapTest flood_tests[] = {
                TAP_TEST(block_seqpacket_flood),
                TAP_TEST(block_dgram_flood),
                TAP_TEST(drop_newest_flood),
                TAP_TEST(drop_oldest_flood),
                TAP_TEST(drop_newest_dgram_flood),
                { NULL, NULL },
        };
        static const TapTest lane_tests[] = {
                TAP_TEST(senders_past_the_lane_limit_share_one),
                TAP_TEST(rate_limit_per_sender),
                { NULL, NULL },
        };
        tap_add_suite_full("flood", suite_init, suite_cleanup, setup, teardown, flood_tests);
        tap_add_suite_full("lanes", suite_init, suite_cleanup, setup, teardown, lane_tests);
        return tap_run();
}

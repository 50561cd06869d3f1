/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-lanes.c — the queue's senders on their own: lanes served in turn,
 * fair shares under each policy, seq given in bus order, the DGRAM lane
 * table and its limit, rate limits, and the busiest-senders list.
 */
#include "cunit-tap.h"
#include "queue.h"

/* An event tagged with its sender's number i in received_usec. */
static Event *tagged(int64_t i)
{
        Event *e = event_new(&(EventMeta){ 0 }, g_variant_ref_sink(g_variant_new_string("t")),
                             g_variant_ref_sink(g_variant_new_parsed("@a{sv} {}")), NULL, 0);
        e->meta.received_usec = i;
        return e;
}

/* Picks, sends and confirms the next event; returns its tag (-1: none). */
static int64_t emit_one(Queue *q, uint64_t *ret_seq)
{
        Event *e = queue_next_unsent(q);
        int64_t tag;

        if (!e)
                return -1;
        tag = e->meta.received_usec;
        if (ret_seq)
                *ret_seq = e->q.seq;
        queue_mark_sent(q, 0, 0);
        CU_ASSERT_EQUAL(queue_confirm(q, 1), 1);
        return tag;
}

static Lane *conn_lane(Queue *q, pid_t pid)
{
        return queue_lane_attach(q, TRANSPORT_SEQPACKET, pid, 1000, 1000, "test");
}

/* A flood queued ahead does not go out ahead: the next round takes the
 * newcomer's one event; each lane keeps its own order. */
static void test_lanes_are_served_in_turn(void)
{
        Queue q;
        Lane *flood, *paced;
        int64_t next_flood = 0;
        unsigned pos = 0;

        queue_init(&q, 4096, G_MAXSIZE / 4, 1024, QUEUE_POLICY_BLOCK);
        flood = conn_lane(&q, 1);
        paced = conn_lane(&q, 2);
        for (int64_t i = 0; i < 1000; i++)
                queue_push(&q, flood, tagged(i));
        CU_ASSERT_EQUAL(emit_one(&q, NULL), next_flood++);
        queue_push(&q, paced, tagged(-2));
        queue_push(&q, paced, tagged(-3));
        for (;;) {
                int64_t t = emit_one(&q, NULL);
                if (t == -1)
                        break;
                pos++;
                if (t == -2) {
                        CU_ASSERT_TRUE(pos <= 2);
                } else if (t == -3) {
                        CU_ASSERT_TRUE(pos <= 4);
                } else {
                        CU_ASSERT_EQUAL_FATAL(t, next_flood++);
                }
        }
        CU_ASSERT_EQUAL(next_flood, 1000);
        CU_ASSERT_EQUAL(q.len, 0);
        /* -3 waited for a flood event, -2 and another flood event; the flood's
         * last for all 1001 others */
        CU_ASSERT_EQUAL(paced->max_wait, 3);
        CU_ASSERT_EQUAL(flood->max_wait, 1001);
        CU_ASSERT_EQUAL(flood->emitted, 1000);
        CU_ASSERT_EQUAL(paced->emitted, 2);
        queue_lane_detach(&q, flood);
        queue_lane_detach(&q, paced);
        queue_deinit(&q);
}

/* seq is the bus order: strictly increasing as events are picked; after a
 * lost connection the in-flight ones go again first, in the same order
 * and with the same seqs, ahead of anything picked since. */
static void test_seq_is_bus_order_and_resend_keeps_it(void)
{
        Queue q;
        Lane *a, *b;
        uint64_t seqs[4];

        queue_init(&q, 64, G_MAXSIZE / 4, 1024, QUEUE_POLICY_BLOCK);
        a = conn_lane(&q, 1);
        b = conn_lane(&q, 2);
        for (int i = 0; i < 3; i++) {
                queue_push(&q, a, tagged(10 + i));
                queue_push(&q, b, tagged(20 + i));
        }
        for (int i = 0; i < 4; i++) {
                seqs[i] = queue_next_unsent(&q)->q.seq;
                queue_mark_sent(&q, 0, 0);
                CU_ASSERT_EQUAL(seqs[i], (uint64_t) i + 1);
        }
        queue_unsend_all(&q);
        CU_ASSERT_EQUAL(q.in_flight, 0);
        for (int i = 0; i < 4; i++) {
                Event *e = queue_next_unsent(&q);
                CU_ASSERT_EQUAL(e->q.seq, seqs[i]);
                queue_mark_sent(&q, 0, 0);
        }
        CU_ASSERT_EQUAL(queue_next_unsent(&q)->q.seq, 5);
        CU_ASSERT_EQUAL(queue_confirm(&q, 4), 4);
        queue_lane_detach(&q, a);
        queue_lane_detach(&q, b);
        queue_deinit(&q);
}

/* Shares: a lone sender may fill the queue; with two open connections each
 * holds half; the floor bounds how small a share gets. */
static void test_shares_follow_the_active_lanes(void)
{
        Queue q;
        Lane *a, *b, *c[8];

        queue_init(&q, 100, G_MAXSIZE / 4, 1024, QUEUE_POLICY_BLOCK);
        queue_set_shares(&q, 20, 16);
        a = conn_lane(&q, 1);
        for (int i = 0; i < 99; i++)
                queue_push(&q, a, tagged(i));
        CU_ASSERT_FALSE(queue_lane_at_share(&q, a)); /* alone: all 100 */
        queue_push(&q, a, tagged(99));
        CU_ASSERT_TRUE(queue_lane_at_share(&q, a));
        while (q.len > 0)
                emit_one(&q, NULL);

        b = conn_lane(&q, 2); /* open, even while it sends nothing */
        for (int i = 0; i < 49; i++)
                queue_push(&q, a, tagged(i));
        CU_ASSERT_FALSE(queue_lane_at_share(&q, a));
        queue_push(&q, a, tagged(49));
        CU_ASSERT_TRUE(queue_lane_at_share(&q, a));
        CU_ASSERT_FALSE(queue_lane_at_share(&q, b));
        /* the resume rule: a quarter of the share free */
        for (int i = 0; i < 11; i++)
                emit_one(&q, NULL);
        CU_ASSERT_FALSE(queue_lane_has_room(&q, a)); /* 39 > 50 - 12 */
        emit_one(&q, NULL);
        CU_ASSERT_TRUE(queue_lane_has_room(&q, a)); /* 38 */

        /* ten open connections, but a share is never under the floor of 20 */
        for (int i = 0; i < 8; i++)
                c[i] = conn_lane(&q, 10 + i);
        while (q.len > 0)
                emit_one(&q, NULL);
        for (int i = 0; i < 19; i++)
                queue_push(&q, a, tagged(i));
        CU_ASSERT_FALSE(queue_lane_at_share(&q, a));
        queue_push(&q, a, tagged(19));
        CU_ASSERT_TRUE(queue_lane_at_share(&q, a));
        while (q.len > 0)
                emit_one(&q, NULL);
        for (int i = 0; i < 8; i++)
                queue_lane_detach(&q, c[i]);
        queue_lane_detach(&q, a);
        queue_lane_detach(&q, b);
        CU_ASSERT_EQUAL(q.n_active, 0);
        queue_deinit(&q);
}

/* The queue is full of a flood: the paced sender's event gets in, and the
 * flood pays, with its newest (drop-newest) or its oldest waiting event
 * (drop-oldest), never one that was picked. */
static void check_flood_pays(QueuePolicy policy, int64_t dropped_tag)
{
        Queue q;
        Lane *flood, *paced;
        int64_t t;
        bool seen_paced = false;

        queue_init(&q, 10, G_MAXSIZE / 4, 1024, policy);
        flood = conn_lane(&q, 1);
        paced = conn_lane(&q, 2);
        for (int64_t i = 0; i < 10; i++)
                CU_ASSERT_EQUAL(queue_push(&q, flood, tagged(i)), 0);
        queue_mark_sent(&q, 0, 0); /* flood's 0 is in flight */
        CU_ASSERT_TRUE(queue_is_full(&q));
        CU_ASSERT_EQUAL(queue_push(&q, paced, tagged(-5)), 1);
        CU_ASSERT_EQUAL(flood->dropped, 1);
        CU_ASSERT_EQUAL(paced->dropped, 0);
        CU_ASSERT_EQUAL(q.dropped, 1);
        CU_ASSERT_EQUAL(q.len, 10);
        /* the flood over its share pays for its own next event too */
        CU_ASSERT_EQUAL(queue_push(&q, flood, tagged(100)), 1);
        CU_ASSERT_EQUAL(flood->dropped, 2);
        CU_ASSERT_EQUAL(queue_confirm(&q, 1), 1);
        while ((t = emit_one(&q, NULL)) != -1) {
                CU_ASSERT_NOT_EQUAL(t, dropped_tag);
                seen_paced = seen_paced || t == -5;
        }
        CU_ASSERT_TRUE(seen_paced);
        CU_ASSERT_EQUAL(flood->received, flood->emitted + flood->dropped);
        CU_ASSERT_EQUAL(paced->received, paced->emitted);
        queue_lane_detach(&q, flood);
        queue_lane_detach(&q, paced);
        queue_deinit(&q);
}

static void test_drop_newest_takes_from_the_flood(void)
{
        check_flood_pays(QUEUE_POLICY_DROP_NEWEST, 9);
}

static void test_drop_oldest_takes_from_the_flood(void)
{
        check_flood_pays(QUEUE_POLICY_DROP_OLDEST, 1);
}

/* DGRAM lanes: one per (listener, pid, uid); past max-dgram-senders the
 * idle one longest idle is reused, and with none idle senders share one. */
static void test_dgram_lanes_and_their_limit(void)
{
        Queue q;
        int owner_a, owner_b;
        Lane *l1, *l2, *l3, *l4;

        queue_init(&q, 100, G_MAXSIZE / 4, 1024, QUEUE_POLICY_BLOCK);
        queue_set_shares(&q, 1, 2);
        l1 = queue_lane_dgram(&q, &owner_a, 10, 1000, 1000, "a");
        CU_ASSERT_PTR_EQUAL(queue_lane_dgram(&q, &owner_a, 10, 1000, 1000, "a"), l1);
        l2 = queue_lane_dgram(&q, &owner_a, 10, 1001, 1000, "a");
        CU_ASSERT_PTR_NOT_EQUAL(l1, l2);
        CU_ASSERT_EQUAL(q.n_dgram, 2);
        queue_push(&q, l1, tagged(1));
        queue_push(&q, l2, tagged(2));
        CU_ASSERT_EQUAL(q.n_active, 2);
        /* both busy: a third sender shares */
        l3 = queue_lane_dgram(&q, &owner_b, 10, 1000, 1000, "b");
        CU_ASSERT_PTR_EQUAL(l3, q.shared_lane);
        queue_push(&q, l3, tagged(3));
        CU_ASSERT_EQUAL(q.len, 3);
        /* l1's event goes: it is idle, and the next new sender takes its place */
        CU_ASSERT_EQUAL(emit_one(&q, NULL), 1);
        l4 = queue_lane_dgram(&q, &owner_b, 11, 1000, 1000, "b");
        CU_ASSERT_PTR_NOT_EQUAL(l4, q.shared_lane);
        CU_ASSERT_EQUAL(l4->pid, 11);
        CU_ASSERT_EQUAL(l4->received, 0);
        CU_ASSERT_EQUAL(q.n_dgram, 2);
        while (q.len > 0)
                emit_one(&q, NULL);
        CU_ASSERT_EQUAL(q.n_active, 0);
        queue_deinit(&q);
}

/* A closed connection's lane stays until its events are out, then goes. */
static void test_closed_connection_keeps_its_events(void)
{
        Queue q;
        Lane *a;

        queue_init(&q, 100, G_MAXSIZE / 4, 1024, QUEUE_POLICY_BLOCK);
        a = conn_lane(&q, 1);
        queue_push(&q, a, tagged(1));
        queue_push(&q, a, tagged(2));
        CU_ASSERT_EQUAL(g_queue_get_length(&q.all), 2); /* with the shared lane */
        queue_lane_detach(&q, a);
        CU_ASSERT_EQUAL(q.n_active, 1);
        CU_ASSERT_EQUAL(emit_one(&q, NULL), 1);
        CU_ASSERT_EQUAL(g_queue_get_length(&q.all), 2);
        CU_ASSERT_EQUAL(emit_one(&q, NULL), 2);
        CU_ASSERT_EQUAL(g_queue_get_length(&q.all), 1);
        CU_ASSERT_EQUAL(q.n_active, 0);
        queue_deinit(&q);
}

/* journald's rule: burst events per interval, the rest counted; the first
 * event after the interval opens the next and reports what was suppressed. */
static void test_rate_limit_per_lane(void)
{
        Queue q;
        Lane *a, *b;
        uint64_t suppressed;
        const int64_t t0 = 1000000, interval = 500000;

        queue_init(&q, 100, G_MAXSIZE / 4, 1024, QUEUE_POLICY_BLOCK);
        a = conn_lane(&q, 1);
        b = conn_lane(&q, 2);
        CU_ASSERT_TRUE(queue_lane_admit(&q, a, t0, &suppressed)); /* off */
        queue_set_rate_limit(&q, interval, 3);
        for (int i = 0; i < 3; i++) {
                CU_ASSERT_TRUE(queue_lane_admit(&q, a, t0 + i, &suppressed));
                CU_ASSERT_EQUAL(suppressed, 0);
        }
        for (int i = 0; i < 5; i++)
                CU_ASSERT_FALSE(queue_lane_admit(&q, a, t0 + 10 + i, &suppressed));
        CU_ASSERT_EQUAL(a->rate_limited, 5);
        CU_ASSERT_TRUE(queue_lane_admit(&q, b, t0 + 20, &suppressed)); /* its own budget */
        CU_ASSERT_FALSE(queue_lane_admit(&q, a, t0 + interval - 1, &suppressed));
        CU_ASSERT_EQUAL(suppressed, 0);
        CU_ASSERT_TRUE(queue_lane_admit(&q, a, t0 + interval, &suppressed));
        CU_ASSERT_EQUAL(suppressed, 6);
        CU_ASSERT_TRUE(queue_lane_admit(&q, a, t0 + interval + 1, &suppressed));
        CU_ASSERT_EQUAL(suppressed, 0); /* reported once */
        CU_ASSERT_EQUAL(a->rate_limited, 6);
        queue_lane_detach(&q, a);
        queue_lane_detach(&q, b);
        queue_deinit(&q);
}

/* GetStats's list: the busiest first, at most n, senders that sent nothing left out. */
static void test_busiest_lanes_in_order(void)
{
        Queue q;
        Lane *l[5];
        const Lane *top[3];

        queue_init(&q, 100, G_MAXSIZE / 4, 1024, QUEUE_POLICY_BLOCK);
        for (int i = 0; i < 5; i++)
                l[i] = conn_lane(&q, 100 + i);
        for (int i = 0; i < 4; i++)
                for (int k = 0; k < (i * 7) % 5 + 1; k++) /* 1, 3, 5, 2 events */
                        queue_push(&q, l[i], tagged(i));
        CU_ASSERT_EQUAL(queue_busiest(&q, top, 3), 3);
        CU_ASSERT_PTR_EQUAL(top[0], l[2]);
        CU_ASSERT_PTR_EQUAL(top[1], l[1]);
        CU_ASSERT_PTR_EQUAL(top[2], l[3]);
        CU_ASSERT_EQUAL(queue_busiest(&q, top, 1), 1);
        CU_ASSERT_PTR_EQUAL(top[0], l[2]);
        while (q.len > 0)
                emit_one(&q, NULL);
        for (int i = 0; i < 5; i++)
                queue_lane_detach(&q, l[i]);
        queue_deinit(&q);
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(lanes_are_served_in_turn),
                TAP_TEST(seq_is_bus_order_and_resend_keeps_it),
                TAP_TEST(shares_follow_the_active_lanes),
                TAP_TEST(drop_newest_takes_from_the_flood),
                TAP_TEST(drop_oldest_takes_from_the_flood),
                TAP_TEST(dgram_lanes_and_their_limit),
                TAP_TEST(closed_connection_keeps_its_events),
                TAP_TEST(rate_limit_per_lane),
                TAP_TEST(busiest_lanes_in_order),
                { NULL, NULL },
        };
        tap_add_suite("lanes", NULL, NULL, tests);
        return tap_run();
}

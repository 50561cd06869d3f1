/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-queue.c — the bounded queue on its own: capacities in events, bytes
 * and descriptors, the policies, the in-flight window, the ring; and an
 * event's descriptors closed with it. (Lanes and the scheduler:
 * test-lanes.c.)
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "cunit-tap.h"
#include "queue.h"

static Event *ev(void)
{
        return event_new(&(EventMeta){ 0 }, g_variant_ref_sink(g_variant_new_string("t")),
                         g_variant_ref_sink(g_variant_new_parsed("@a{sv} {}")), NULL, 0);
}

static void test_drop_newest_refuses_when_full(void)
{
        Queue q;
        queue_init(&q, 2, 1 << 20, 1024, QUEUE_POLICY_DROP_NEWEST);
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 0);
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 0);
        CU_ASSERT_TRUE(queue_is_full(&q));
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 1);
        CU_ASSERT_EQUAL(q.len, 2);
        CU_ASSERT_EQUAL(q.dropped, 1);
        queue_deinit(&q);
}

static void test_drop_oldest_spares_in_flight_events(void)
{
        Queue q;
        Event *first, *second, *third;

        queue_init(&q, 3, 1 << 20, 1024, QUEUE_POLICY_DROP_OLDEST);
        queue_push(&q, NULL, first = ev());
        queue_push(&q, NULL, second = ev());
        queue_push(&q, NULL, third = ev());
        queue_mark_sent(&q, 0, 0); /* the first is being written */
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 1);
        CU_ASSERT_PTR_EQUAL(queue_peek(&q, 0), first);
        CU_ASSERT_PTR_EQUAL(queue_next_unsent(&q), third); /* the second went */
        CU_ASSERT_EQUAL(q.len, 3);
        /* everything in flight: the newcomer is the one dropped */
        queue_mark_sent(&q, 0, 0);
        queue_mark_sent(&q, 0, 0);
        CU_ASSERT_EQUAL(q.in_flight, 3);
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 1);
        CU_ASSERT_PTR_EQUAL(queue_peek(&q, 0), first);
        CU_ASSERT_EQUAL(q.dropped, 2);
        queue_deinit(&q);
}

/* A reload lowers the capacity under what is queued: nothing queued goes;
 * the queue is full until it drains below the new capacity, then grows
 * again up to a raised one. */
static void test_lowered_capacity_drops_nothing_queued(void)
{
        Queue q;
        Event *e;

        queue_init(&q, 8, 1 << 20, 1024, QUEUE_POLICY_DROP_NEWEST);
        for (int i = 0; i < 6; i++)
                queue_push(&q, NULL, ev());
        queue_set_limits(&q, 2, 1 << 20, 1024, QUEUE_POLICY_DROP_OLDEST);
        CU_ASSERT_EQUAL(q.len, 6);
        CU_ASSERT_TRUE(queue_is_full(&q));
        CU_ASSERT_FALSE(queue_has_room(&q));
        /* drop-oldest now: waiting events make room, down to the new capacity */
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 5);
        CU_ASSERT_EQUAL(q.len, 2);
        queue_set_limits(&q, 64, 1 << 20, 1024, QUEUE_POLICY_BLOCK);
        for (int i = 0; i < 40; i++)
                CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 0);
        CU_ASSERT_EQUAL(q.len, 42);
        while ((e = queue_pop(&q)))
                event_free(e);
        queue_deinit(&q);
}

static void test_byte_capacity_counts_as_full(void)
{
        Queue q;
        Event *e = ev();
        queue_init(&q, 100, e->bytes * 2, 1024, QUEUE_POLICY_DROP_NEWEST);
        queue_push(&q, NULL, e);
        CU_ASSERT_FALSE(queue_is_full(&q));
        queue_push(&q, NULL, ev());
        CU_ASSERT_TRUE(queue_is_full(&q));
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 1);
        event_free(queue_pop(&q));
        CU_ASSERT_FALSE(queue_is_full(&q));
        CU_ASSERT_EQUAL(q.high_water, 2);
        queue_deinit(&q);
}

static void test_fifo_order_and_wraparound(void)
{
        Queue q;
        queue_init(&q, 3, 1 << 20, 1024, QUEUE_POLICY_BLOCK);
        for (int64_t i = 1; i <= 10; i++) {
                Event *e = ev(), *out;
                e->meta.received_usec = i;
                queue_push(&q, NULL, e);
                out = queue_pop(&q);
                CU_ASSERT_EQUAL(out->meta.received_usec, i);
                CU_ASSERT_EQUAL(out->q.seq, (uint64_t) i); /* given when it is picked */
                event_free(out);
        }
        CU_ASSERT_PTR_NULL(queue_pop(&q));
        queue_deinit(&q);
}

static void test_event_free_closes_its_fds(void)
{
        int p[2];
        int fds[2];
        Event *e;

        CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
        fds[0] = p[0];
        fds[1] = p[1];
        e = event_new(&(EventMeta){ 0 }, g_variant_ref_sink(g_variant_new_string("")),
                      g_variant_ref_sink(g_variant_new_parsed("@a{sv} {}")), fds, 2);
        event_free(e);
        CU_ASSERT_EQUAL(fcntl(p[0], F_GETFD), -1);
        CU_ASSERT_EQUAL(fcntl(p[1], F_GETFD), -1);
}

static Event *ev_with_fds(unsigned n)
{
        int fds[CONFIG_SCM_MAX_FD];
        for (unsigned i = 0; i < n; i++)
                fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        return event_new(&(EventMeta){ 0 }, g_variant_ref_sink(g_variant_new_string("t")),
                         g_variant_ref_sink(g_variant_new_parsed("@a{sv} {}")), fds, n);
}

/* Descriptors are a capacity like bytes: the events' own and GDBus's duplicates. */
static void test_descriptor_capacity_counts_as_full(void)
{
        Queue q;

        queue_init(&q, 100, 1 << 20, 10, QUEUE_POLICY_DROP_NEWEST);
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev_with_fds(4)), 0);
        CU_ASSERT_EQUAL(q.fds, 4);
        CU_ASSERT_FALSE(queue_is_full(&q));
        queue_mark_sent(&q, 1000, 4); /* its duplicates are in GDBus's hands */
        CU_ASSERT_EQUAL(q.fds, 8);
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev_with_fds(2)), 0);
        CU_ASSERT_TRUE(queue_is_full(&q));
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev_with_fds(1)), 1); /* dropped: full in fds */
        /* the connection was lost: the duplicates are gone, the event waits again */
        queue_unsend_all(&q);
        CU_ASSERT_EQUAL(q.fds, 6);
        CU_ASSERT_EQUAL(q.in_flight, 0);
        queue_mark_sent(&q, 1000, 4);
        CU_ASSERT_EQUAL(queue_confirm(&q, 5), 1); /* only one was in flight */
        CU_ASSERT_EQUAL(q.fds, 2);
        CU_ASSERT_EQUAL(q.len, 1);
        queue_deinit(&q);
}

/* What GDBus holds for an in-flight event is charged to the queue until confirmed. */
static void test_in_flight_copy_is_charged_until_confirmed(void)
{
        Queue q;
        Event *e = ev();
        size_t one = e->bytes;

        queue_init(&q, 100, one * 3, 1024, QUEUE_POLICY_DROP_NEWEST);
        queue_push(&q, NULL, e);
        queue_mark_sent(&q, one, 0);
        CU_ASSERT_EQUAL(q.bytes, 2 * one);
        queue_push(&q, NULL, ev());
        CU_ASSERT_TRUE(queue_is_full(&q));
        CU_ASSERT_EQUAL(queue_confirm(&q, 1), 1);
        CU_ASSERT_EQUAL(q.bytes, one);
        CU_ASSERT_FALSE(queue_is_full(&q));
        queue_deinit(&q);
}

/* The resume rule holds at capacities where x * 3 / 4 would wrap. */
static void test_resume_rule_does_not_overflow(void)
{
        Queue q;

        queue_init(&q, 8, G_MAXSIZE / 2, 1024, QUEUE_POLICY_BLOCK);
        CU_ASSERT_TRUE(queue_has_room(&q));
        for (int i = 0; i < 7; i++)
                queue_push(&q, NULL, ev());
        CU_ASSERT_FALSE(queue_has_room(&q)); /* 7 > 8 - 2 */
        event_free(queue_pop(&q));
        CU_ASSERT_TRUE(queue_has_room(&q));
        queue_deinit(&q);
}

/* The ring grows as it fills and keeps FIFO order across the growth. */
static void test_ring_grows_in_order(void)
{
        Queue q;

        queue_init(&q, 1000, G_MAXSIZE / 4, 1024, QUEUE_POLICY_BLOCK);
        for (int64_t i = 0; i < 30; i++) {
                Event *e = ev();
                e->meta.received_usec = i;
                queue_push(&q, NULL, e);
        }
        CU_ASSERT_TRUE(q.shared_lane->waiting.size < 1000);
        event_free(queue_pop(&q)); /* move the head off slot 0 before growing */
        for (int64_t i = 30; i < 1000; i++) {
                Event *e = ev();
                e->meta.received_usec = i;
                queue_push(&q, NULL, e);
        }
        CU_ASSERT_TRUE(q.shared_lane->waiting.size >= 999);
        for (int64_t i = 1; i < 1000; i++) {
                Event *e = queue_pop(&q);
                CU_ASSERT_EQUAL_FATAL(e->meta.received_usec, i);
                event_free(e);
        }
        queue_deinit(&q);
}

/* The descriptor budget at its boundaries: 2 listeners, so a reserve of CONFIG_FD_RESERVE + 2. */
int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(drop_newest_refuses_when_full),
                TAP_TEST(drop_oldest_spares_in_flight_events),
                TAP_TEST(descriptor_capacity_counts_as_full),
                TAP_TEST(in_flight_copy_is_charged_until_confirmed),
                TAP_TEST(resume_rule_does_not_overflow),
                TAP_TEST(ring_grows_in_order),
                TAP_TEST(lowered_capacity_drops_nothing_queued),
                TAP_TEST(byte_capacity_counts_as_full),
                TAP_TEST(fifo_order_and_wraparound),
                TAP_TEST(event_free_closes_its_fds),
                { NULL, NULL },
        };

        tap_add_suite("queue", NULL, NULL, tests);
        return tap_run();
}

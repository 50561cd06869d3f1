/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* queue.c — the bounded event queue (see queue.h). */
#include <string.h>

#include "queue.h"
#include "util.h"

Event *event_new(GVariant *type, GVariant *data, int *fds, unsigned n_fds)
{
        Event *ev = g_new0(Event, 1);

        ev->type = type;
        ev->data = data;
        ev->fds = fds;
        ev->n_fds = n_fds;
        /* what the event pins in memory: its serialised data and bookkeeping */
        ev->bytes = sizeof(Event) + g_variant_get_size(data) + g_variant_get_size(type) +
                    n_fds * sizeof(int);
        return ev;
}

void event_free(Event *ev)
{
        if (!ev)
                return;
        g_clear_pointer(&ev->type, g_variant_unref);
        g_clear_pointer(&ev->data, g_variant_unref);
        close_many(ev->fds, ev->n_fds);
        g_free(ev->fds);
        g_free(ev);
}

void queue_init(Queue *q, size_t capacity, size_t capacity_bytes, QueuePolicy policy)
{
        g_assert(capacity > 0);
        *q = (Queue){ 0 };
        q->ring = g_new0(Event *, capacity);
        q->capacity = capacity;
        q->capacity_bytes = capacity_bytes;
        q->policy = policy;
}

void queue_deinit(Queue *q)
{
        Event *ev;

        q->in_flight = 0;
        while ((ev = queue_pop(q)))
                event_free(ev);
        g_clear_pointer(&q->ring, g_free);
}

bool queue_is_full(const Queue *q)
{
        return q->len >= q->capacity || q->bytes >= q->capacity_bytes;
}

static void append(Queue *q, Event *ev)
{
        g_assert(q->len < q->capacity);
        q->ring[(q->head + q->len) % q->capacity] = ev;
        q->len++;
        q->bytes += ev->bytes;
        if (q->len > q->high_water)
                q->high_water = q->len;
}

/*
 * Drops the oldest event that is not in flight: the in-flight events before
 * it (at most the relay's window) move up one place, so this is O(window),
 * not O(queue length).
 */
static void drop_oldest_waiting(Queue *q)
{
        size_t i = q->in_flight;
        Event *ev = q->ring[(q->head + i) % q->capacity];

        for (size_t k = i; k > 0; k--)
                q->ring[(q->head + k) % q->capacity] = q->ring[(q->head + k - 1) % q->capacity];
        q->ring[q->head] = NULL;
        q->head = (q->head + 1) % q->capacity;
        q->len--;
        q->bytes -= ev->bytes;
        q->dropped++;
        event_free(ev);
}

size_t queue_push(Queue *q, Event *ev)
{
        size_t dropped = 0;

        switch (q->policy) {
        case QUEUE_POLICY_BLOCK:
                break;
        case QUEUE_POLICY_DROP_NEWEST:
                if (queue_is_full(q)) {
                        q->dropped++;
                        event_free(ev);
                        return 1;
                }
                break;
        case QUEUE_POLICY_DROP_OLDEST:
                /* make room without touching what is being written */
                while (queue_is_full(q) && q->len > q->in_flight) {
                        drop_oldest_waiting(q);
                        dropped++;
                }
                if (q->len >= q->capacity) {
                        /* everything left is in flight: the new one is the only choice */
                        q->dropped++;
                        event_free(ev);
                        return dropped + 1;
                }
                break;
        }
        append(q, ev);
        return dropped;
}

Event *queue_peek(const Queue *q, size_t i)
{
        if (i >= q->len)
                return NULL;
        return q->ring[(q->head + i) % q->capacity];
}

Event *queue_pop(Queue *q)
{
        Event *ev;

        if (q->len == 0)
                return NULL;
        ev = q->ring[q->head];
        q->ring[q->head] = NULL;
        q->head = (q->head + 1) % q->capacity;
        q->len--;
        q->bytes -= ev->bytes;
        if (q->in_flight > 0)
                q->in_flight--;
        return ev;
}

const char *queue_policy_name(QueuePolicy p)
{
        switch (p) {
        case QUEUE_POLICY_BLOCK:
                return "block";
        case QUEUE_POLICY_DROP_NEWEST:
                return "drop-newest";
        case QUEUE_POLICY_DROP_OLDEST:
                return "drop-oldest";
        }
        return NULL;
}

bool queue_policy_from_name(const char *name, QueuePolicy *ret)
{
        for (QueuePolicy p = QUEUE_POLICY_BLOCK; p <= QUEUE_POLICY_DROP_OLDEST; p++)
                if (strcmp(name, queue_policy_name(p)) == 0) {
                        *ret = p;
                        return true;
                }
        return false;
}

const char *transport_name(Transport t)
{
        return t == TRANSPORT_DGRAM ? "dgram" : "seqpacket";
}

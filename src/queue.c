/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* queue.c — the bounded event queue (see queue.h). */
#include <string.h>

#include "queue.h"
#include "util.h"

#define RING_INITIAL 64U

Event *event_new(GVariant *type, GVariant *data, int *fds, unsigned n_fds)
{
        Event *ev = g_new0(Event, 1);

        ev->type = type;
        ev->data = data;
        ev->fds = fds;
        ev->n_fds = n_fds;
        ev->bytes = QUEUE_EVENT_OVERHEAD + g_variant_get_size(data) + g_variant_get_size(type) +
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

void queue_init(Queue *q, size_t capacity, size_t capacity_bytes, size_t capacity_fds,
                QueuePolicy policy)
{
        *q = (Queue){ 0 };
        q->ring_size = MIN(capacity, RING_INITIAL);
        q->ring = g_new0(Event *, MAX(q->ring_size, 1));
        queue_set_limits(q, capacity, capacity_bytes, capacity_fds, policy);
}

void queue_set_limits(Queue *q, size_t capacity, size_t capacity_bytes, size_t capacity_fds,
                      QueuePolicy policy)
{
        g_assert(capacity > 0 && capacity_bytes > 0 && capacity_fds > 0);
        /* the ring keeps its size: grow() only ever grows it, up to the capacity */
        q->capacity = capacity;
        q->capacity_bytes = capacity_bytes;
        q->capacity_fds = capacity_fds;
        q->policy = policy;
}

void queue_deinit(Queue *q)
{
        Event *ev;

        queue_unsend_all(q);
        while ((ev = queue_pop(q)))
                event_free(ev);
        g_clear_pointer(&q->ring, g_free);
}

bool queue_is_full(const Queue *q)
{
        return q->len >= q->capacity || q->bytes >= q->capacity_bytes ||
               q->fds >= q->capacity_fds;
}

bool queue_has_room(const Queue *q)
{
        /* x - x/4 rather than x*3/4: capacity-bytes may be near SIZE_MAX/2 */
        return q->len <= q->capacity - q->capacity / 4 &&
               q->bytes <= q->capacity_bytes - q->capacity_bytes / 4 &&
               q->fds <= q->capacity_fds - q->capacity_fds / 4;
}

static inline Event **slot(const Queue *q, size_t i)
{
        return &q->ring[(q->head + i) % q->ring_size];
}

/* The ring grows by doubling, so an idle queue of capacity 1 000 000 does not
 * pin 8 MB of slots, and a busy one touches only what it uses. */
static void grow(Queue *q)
{
        size_t size = MIN(q->ring_size * 2, q->capacity);
        Event **ring = g_new0(Event *, size);

        for (size_t i = 0; i < q->len; i++)
                ring[i] = *slot(q, i);
        g_free(q->ring);
        q->ring = ring;
        q->ring_size = size;
        q->head = 0;
}

static void append(Queue *q, Event *ev)
{
        g_assert(q->len < q->capacity);
        if (q->len == q->ring_size)
                grow(q);
        *slot(q, q->len) = ev;
        q->len++;
        q->bytes += ev->bytes;
        q->fds += ev->n_fds;
        if (q->len > q->high_water)
                q->high_water = q->len;
}

/* What GDBus's copy of an in-flight event cost the queue is released. */
static void uncharge_sent(Queue *q, Event *ev)
{
        q->bytes -= ev->sent_bytes;
        q->fds -= ev->sent_fds;
        ev->sent_bytes = 0;
        ev->sent_fds = 0;
}

static void uncharge(Queue *q, Event *ev)
{
        uncharge_sent(q, ev);
        q->bytes -= ev->bytes;
        q->fds -= ev->n_fds;
}

/*
 * Drops the oldest event that is not in flight: the in-flight events before
 * it (at most the relay's window) move up one place, so this is O(window),
 * not O(queue length).
 */
static void drop_oldest_waiting(Queue *q)
{
        Event *ev = *slot(q, q->in_flight);

        for (size_t k = q->in_flight; k > 0; k--)
                *slot(q, k) = *slot(q, k - 1);
        *slot(q, 0) = NULL;
        q->head = (q->head + 1) % q->ring_size;
        q->len--;
        uncharge(q, ev);
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
                if (queue_is_full(q)) {
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
        return *slot(q, i);
}

Event *queue_next_unsent(const Queue *q)
{
        return queue_peek(q, q->in_flight);
}

bool queue_can_send(const Queue *q, size_t sent_bytes, unsigned sent_fds)
{
        return q->in_flight == 0 || (q->bytes + sent_bytes <= q->capacity_bytes &&
                                     q->fds + sent_fds <= q->capacity_fds);
}

void queue_mark_sent(Queue *q, size_t sent_bytes, unsigned sent_fds)
{
        Event *ev = queue_next_unsent(q);

        g_assert(ev);
        ev->sent_bytes = sent_bytes;
        ev->sent_fds = sent_fds;
        q->bytes += sent_bytes;
        q->fds += sent_fds;
        q->in_flight++;
}

size_t queue_confirm(Queue *q, size_t n)
{
        size_t done;

        n = MIN(n, q->in_flight);
        for (done = 0; done < n; done++)
                event_free(queue_pop(q));
        return done;
}

void queue_unsend_all(Queue *q)
{
        for (size_t i = 0; i < q->in_flight; i++)
                uncharge_sent(q, *slot(q, i));
        q->in_flight = 0;
}

Event *queue_pop(Queue *q)
{
        Event *ev;

        if (q->len == 0)
                return NULL;
        ev = *slot(q, 0);
        *slot(q, 0) = NULL;
        q->head = (q->head + 1) % q->ring_size;
        q->len--;
        uncharge(q, ev);
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

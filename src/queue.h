/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * queue.h — the bounded queue between receiving and emitting.
 *
 * A FIFO of Events with three capacities, events, bytes and descriptors,
 * and an explicit overflow policy. Only queue.c writes a Queue: the other
 * modules read its fields and change it through these functions.
 *
 * The queue owns every event in it, including the ones the relay has handed
 * to GDBus but the bus has not yet confirmed ("in flight", at the head): an
 * event leaves only when the relay confirms it (queue_confirm()), so a bus
 * that goes away loses nothing, and what GDBus holds is bounded by the
 * queue itself. drop-oldest never drops an in-flight event.
 *
 * What is counted is what an event really costs the process, not its
 * payload: `bytes` is the event's footprint (struct, GVariant instances,
 * allocator headers, the ring slot; QUEUE_EVENT_OVERHEAD, measured) plus,
 * while it is in flight, the copy GDBus keeps of its message; `fds` is the
 * descriptors its events hold plus the duplicates handed to GDBus. Both are
 * bounded, so neither memory nor the descriptor table can be exhausted by a
 * stalled bus (doc/protocol.md, "Queue").
 *
 * Pure data structure: no I/O, no GLib main loop; int/enum returns.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec.h"

typedef enum {
        QUEUE_POLICY_BLOCK = 0, /* the listener stops reading while the queue is full */
        QUEUE_POLICY_DROP_NEWEST,
        QUEUE_POLICY_DROP_OLDEST,
} QueuePolicy;

typedef enum {
        TRANSPORT_DGRAM = 0,
        TRANSPORT_SEQPACKET,
} Transport;

/*
 * What one queued event costs beyond its serialised type and data, in
 * bytes: the Event struct, two GVariant instances with their GBytes, the
 * allocator's headers and rounding, and two ring slots (the ring grows by
 * doubling). Measured with mallinfo2() over 100 000 decoded events of 20 to
 * 4000 bytes (glibc 2.36, GLib 2.74): 316-320 bytes above the serialised
 * sizes, whatever the size; doc/performance.md.
 */
#define QUEUE_EVENT_OVERHEAD 400U

typedef struct {
        uint64_t seq;
        int64_t received_usec; /* CLOCK_REALTIME */
        pid_t pid;
        uid_t uid;
        gid_t gid;
        Transport transport;
        CodecFormat codec;
        GVariant *type; /* s */
        GVariant *data; /* a{sv} */
        int *fds;
        unsigned n_fds;
        size_t bytes;      /* its footprint (queue.h) */
        size_t sent_bytes; /* in flight: what GDBus's copy of its message costs */
        unsigned sent_fds; /* in flight: the duplicates GDBus holds */
} Event;

/* Takes ownership of type, data and fds (may be NULL when n_fds == 0). */
Event *event_new(GVariant *type, GVariant *data, int *fds, unsigned n_fds);
void event_free(Event *ev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Event, event_free)

typedef struct {
        Event **ring;
        size_t ring_size; /* slots allocated; grows by doubling up to capacity */
        size_t capacity, head, len;
        size_t bytes, capacity_bytes;
        size_t fds, capacity_fds;
        size_t high_water;
        size_t in_flight; /* the first in_flight events are being written to the bus */
        QueuePolicy policy;
        uint64_t dropped;
} Queue;

void queue_init(Queue *q, size_t capacity, size_t capacity_bytes, size_t capacity_fds,
                QueuePolicy policy);
void queue_deinit(Queue *q);

/* A reload: new capacities and policy. Nothing queued is dropped for them:
 * a queue above a lowered capacity is full until enough has been emitted. */
void queue_set_limits(Queue *q, size_t capacity, size_t capacity_bytes, size_t capacity_fds,
                      QueuePolicy policy);

/* Full in events, bytes or descriptors. Under the block policy the listener
 * reads nothing while this is true, so a capacity may be passed by the one
 * event that was being read when it filled up. */
bool queue_is_full(const Queue *q);

/* The block policy's resume rule: a quarter of every capacity is free again
 * (so the listener does not flap on every single event). */
bool queue_has_room(const Queue *q);

/*
 * Takes ownership of ev. Returns the number of events dropped to make the
 * decision (0 or 1 for drop-newest: ev itself; n >= 0 for drop-oldest).
 * Under the block policy the caller guarantees the queue is not full in
 * events (it stopped reading), and nothing is ever dropped.
 */
size_t queue_push(Queue *q, Event *ev);

/* The i-th event from the head (0 = oldest), or NULL. */
Event *queue_peek(const Queue *q, size_t i);
/* The oldest event not yet in flight, or NULL. */
Event *queue_next_unsent(const Queue *q);

/* Whether the next event may go in flight at a cost of sent_bytes and
 * sent_fds: in-flight events cannot be dropped, so their copies must fit in
 * the capacities (one is always allowed, or nothing would move). */
bool queue_can_send(const Queue *q, size_t sent_bytes, unsigned sent_fds);

/* The relay handed queue_next_unsent() to GDBus, which keeps a copy costing
 * sent_bytes and sent_fds duplicated descriptors until the write is done. */
void queue_mark_sent(Queue *q, size_t sent_bytes, unsigned sent_fds);

/* The bus has confirmed the n oldest in-flight events: they leave the queue
 * and are freed. Returns how many did (at most in_flight). */
size_t queue_confirm(Queue *q, size_t n);

/* The connection they were written to is gone: every in-flight event goes
 * back to waiting, to be sent again. */
void queue_unsend_all(Queue *q);

/* Removes and returns the oldest event (the caller frees it). */
Event *queue_pop(Queue *q);

const char *queue_policy_name(QueuePolicy p);
/* Returns false when name is not a policy. */
bool queue_policy_from_name(const char *name, QueuePolicy *ret);
const char *transport_name(Transport t);

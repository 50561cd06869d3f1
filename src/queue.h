/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * queue.h — the bounded queue between receiving and emitting.
 *
 * A FIFO of Events with two capacities, events and bytes, and an explicit
 * overflow policy. The queue owns every event in it, including the ones
 * the relay has handed to GDBus but whose write has not been confirmed
 * ("in flight", at the head): an event leaves only when the relay confirms
 * it (queue_pop()), so a bus that goes away loses nothing, and what GDBus
 * holds is bounded by the queue itself. drop-oldest never drops an
 * in-flight event.
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
        size_t bytes; /* what it costs the queue */
} Event;

/* Takes ownership of type, data and fds (may be NULL when n_fds == 0). */
Event *event_new(GVariant *type, GVariant *data, int *fds, unsigned n_fds);
void event_free(Event *ev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Event, event_free)

typedef struct {
        Event **ring;
        size_t capacity, head, len;
        size_t bytes, capacity_bytes;
        size_t high_water;
        size_t in_flight; /* the first in_flight events are being written to the bus */
        QueuePolicy policy;
        uint64_t dropped;
} Queue;

void queue_init(Queue *q, size_t capacity, size_t capacity_bytes, QueuePolicy policy);
void queue_deinit(Queue *q);

/* Full in events or in bytes. Under the block policy, the listener reads
 * nothing while this is true, so the byte capacity may be passed by the one
 * event that was being decoded when it filled up. */
bool queue_is_full(const Queue *q);

/*
 * Takes ownership of ev. Returns the number of events dropped to make the
 * decision (0 or 1 for drop-newest: ev itself; n >= 0 for drop-oldest).
 * Under the block policy the caller guarantees the queue is not full in
 * events (it stopped reading), and nothing is ever dropped.
 */
size_t queue_push(Queue *q, Event *ev);

/* The i-th event from the head (0 = oldest), or NULL. */
Event *queue_peek(const Queue *q, size_t i);
/* Removes and returns the oldest event (the caller frees it). */
Event *queue_pop(Queue *q);

const char *queue_policy_name(QueuePolicy p);
/* Returns false when name is not a policy. */
bool queue_policy_from_name(const char *name, QueuePolicy *ret);
const char *transport_name(Transport t);

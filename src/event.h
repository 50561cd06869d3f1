/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * event.h — the record every module after the receive path shares: one
 * decoded event, what the kernel said about its sender (EventMeta), its
 * descriptors, and what it costs the process.
 *
 * Who writes what: event.c builds an event whole (event_new() takes the
 * meta, the decoded type and data and the descriptors) and sets the two
 * things decided after it is built, its typed signal and its number on an
 * acknowledged connection; queue.c writes the bookkeeping in `q` while the
 * queue holds it. Every other module only reads an Event. The footprint is
 * the event's own (event.c), so the queue charges what event.c measured
 * and nobody adds to it from outside.
 *
 * No I/O besides closing the event's descriptors when it is freed.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec.h"

typedef enum {
        TRANSPORT_DGRAM = 0,
        TRANSPORT_SEQPACKET,
        TRANSPORT_STREAM, /* newline-delimited JSON on SOCK_STREAM */
} Transport;

/* A transport whose senders connect (SEQPACKET, stream): one lane per connection. */
static inline bool transport_is_connected(Transport t)
{
        return t != TRANSPORT_DGRAM;
}

const char *transport_name(Transport t);
/* Returns false when name is not a transport. */
bool transport_from_name(const char *name, Transport *ret);

/*
 * What one queued event costs beyond its serialised type and data, in
 * bytes: the Event struct, two GVariant instances with their GBytes, the
 * allocator's headers and rounding, and two ring slots (rings grow by
 * doubling). Measured with mallinfo2() over 100 000 decoded events of 20 to
 * 4000 bytes (glibc 2.36, GLib 2.74): 316-320 bytes above the serialised
 * sizes, whatever the size; doc/performance.md.
 */
#define EVENT_OVERHEAD 400U

/* The kernel's word on the sender and how the event came: meta on the bus
 * (doc/protocol.md 3), never the payload's. */
typedef struct {
        int64_t received_usec; /* CLOCK_REALTIME */
        pid_t pid;
        uid_t uid;
        gid_t gid;
        Transport transport;
        CodecFormat codec;
} EventMeta;

typedef struct Lane Lane; /* queue.h */
struct SchemaSignal;      /* schema.h */

/* The queue's bookkeeping of an event it holds; only queue.c writes it. */
typedef struct {
        uint64_t seq;      /* assigned when the scheduler picks it: the bus order */
        size_t sent_bytes; /* in flight: what GDBus's copy of its message costs */
        unsigned sent_fds; /* in flight: the duplicates GDBus holds */
        Lane *lane;        /* while queued */
        uint64_t ahead;    /* queued: the seq of the last event out of the queue then */
} EventQueued;

typedef struct {
        EventMeta meta;
        GVariant *type; /* s */
        GVariant *data; /* a{sv} */
        int *fds;
        unsigned n_fds;
        size_t bytes; /* its footprint: EVENT_OVERHEAD, the serialised values, the fds */
        const struct SchemaSignal *sig; /* its type's typed signal (schema.h), or NULL */
        GVariant *typed; /* that signal's body, built at receive (NULL: when picked) */
        uint64_t ack_n;  /* its number on an acknowledged connection (0: none) */
        EventQueued q;
} Event;

/* Takes ownership of type, data and the descriptors fds[0 .. n_fds) (the
 * array itself is copied; NULL when n_fds == 0). */
Event *event_new(const EventMeta *meta, GVariant *type, GVariant *data, const int *fds,
                 unsigned n_fds);
void event_free(Event *ev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Event, event_free)

/*
 * The event goes out as sig too. typed (taken) is its body, built now, or
 * NULL when it can only be built once the event has its seq. Either way the
 * tree GDBus marshals from is charged: about as much as the data again.
 */
void event_set_typed(Event *ev, const struct SchemaSignal *sig, GVariant *typed);

/* Its number among the attempts of an acknowledged connection. */
void event_set_ack(Event *ev, uint64_t n);

/* The event's seq (given when the queue picks it). */
static inline uint64_t event_seq(const Event *ev)
{
        return ev->q.seq;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stats.h — the daemon's counters.
 *
 * One Stats per daemon, owned by main.c; every module counts through the
 * stats_count_*() functions below (only this module writes a field), and
 * statsobj.c publishes it on the bus (GetStats, properties). What the queue
 * decides (drops, depth, shares) is counted by the queue only (queue.h).
 * No I/O but the log line of stats_reject() (log.h); the reasons are
 * reason.h's.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"
#include "reason.h"

typedef struct {
        gint64 started_usec; /* monotonic */
        uint64_t packets;    /* every packet or line read, good or bad, controls included */
        uint64_t attempts;   /* = received + rejected: every attempt, not controls */
        uint64_t controls;   /* "!ack" units */
        uint64_t received;   /* accepted events (= emitted + the queue's dropped + queued) */
        uint64_t emitted;    /* confirmed by the bus */
        uint64_t fds_not_forwarded;  /* descriptors an event went out without */
        uint64_t bus_reconnects;
        uint64_t rejected[_REASON_MAX];
        unsigned connections;          /* open now */
        uint64_t connections_accepted; /* since start */
        uint64_t accept_failures;      /* accept() failed for lack of descriptors */
        uint64_t accept_pauses;        /* listening sockets disarmed (fds or max-connections) */
        uint64_t resent;               /* events sent again after a lost connection */
        uint64_t batches;              /* EventBatch signals sent */
        uint64_t batched;              /* events they carried */
} Stats;

void stats_init(Stats *s);

/* The counters, written only through these (the fields are read by anyone). */
static inline void stats_count_unit(Stats *s)
{
        s->packets++; /* a packet or a line, good or bad */
}

/* An attempt, which will be received or rejected: the books (doc/protocol.md 4.3). */
static inline void stats_count_attempt(Stats *s)
{
        s->attempts++;
}

/* A control unit ("!ack"): no attempt. */
static inline void stats_count_control(Stats *s)
{
        s->controls++;
}

static inline void stats_count_received(Stats *s)
{
        s->received++;
}

/* A refusal counted without a line of its own (the caller logs its way). */
static inline void stats_count_reject(Stats *s, Reason r)
{
        s->rejected[r]++;
}

static inline void stats_count_emitted(Stats *s, uint64_t n)
{
        s->emitted += n;
}

static inline void stats_count_resent(Stats *s, uint64_t n)
{
        s->resent += n;
}

static inline void stats_count_fds_not_forwarded(Stats *s, uint64_t n)
{
        s->fds_not_forwarded += n;
}

/* One EventBatch signal of n events. */
static inline void stats_count_batch(Stats *s, uint64_t n)
{
        s->batches++;
        s->batched += n;
}

static inline void stats_count_reconnect(Stats *s)
{
        s->bus_reconnects++;
}

static inline void stats_connection_opened(Stats *s)
{
        s->connections++;
        s->connections_accepted++;
}

static inline void stats_connection_closed(Stats *s)
{
        s->connections--;
}

static inline unsigned stats_connections(const Stats *s)
{
        return s->connections;
}

/* A listening socket was disarmed: at max-connections ... */
static inline void stats_count_accept_pause(Stats *s)
{
        s->accept_pauses++;
}

/* ... or because accept() found no descriptor (which disarms it too). */
static inline void stats_count_accept_failure(Stats *s)
{
        s->accept_failures++;
        s->accept_pauses++;
}

uint64_t stats_rejected_total(const Stats *s);

/* Counts a refusal and logs it (g_info, rate-limited per reason). */
void stats_reject(Stats *s, Reason r, pid_t pid, uid_t uid, const char *where);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stats.h — the daemon's counters, and its rate-limited, structured log.
 *
 * One Stats per daemon, owned by main.c; every module counts through the
 * stats_count_*() functions below (only this module writes a field), and
 * statsobj.c publishes it on the bus (GetStats, properties). What the
 * queue decides (drops, depth) is counted by the queue only (queue.h). Nothing here does
 * I/O other than logging. Reasons of the listener (transport-level
 * refusals) extend the codec's, so one table of names covers both.
 *
 * Logging levels (doc/ingesterd.8, "LOGGING"): g_warning for external
 * failures (descriptors exhausted, the bus refusing writes), g_message for
 * lifecycle, g_info for per-peer refusals, g_debug per event. Every line a
 * peer or a resource can repeat goes through one rate limiter per kind
 * (stats_log()), which says how many lines it left out; the reason and the
 * peer ride along as journal fields INGESTER_REASON=, INGESTER_PEER_PID=,
 * INGESTER_PEER_UID=.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec.h"

typedef enum {
        /* the codec's reasons come first, with their values */
        STATS_R_TOO_LARGE = _CODEC_REASON_MAX, /* "too-large": over max-event-size or the bus's message ceiling */
        STATS_R_FDS_TRUNCATED,                 /* "fds-truncated": MSG_CTRUNC */
        STATS_R_TOO_MANY_FDS,                  /* "too-many-fds": over max-fds */
        STATS_R_NOT_ALLOWED,                   /* "not-allowed": uid/gid not in the allow-list */
        STATS_R_CONNECTION_LIMIT,              /* "connection-limit": no longer counted (kept for the name) */
        STATS_R_NO_CREDENTIALS,                /* "no-credentials": a datagram the kernel could not attribute */
        STATS_R_RATE_LIMITED,                  /* "rate-limited": over its sender's rate-limit-burst */
        STATS_R_FDS_ON_STREAM,                 /* "fds-on-stream": descriptors sent on a stream, closed */
        STATS_R_SCHEMA_MISMATCH,               /* "schema-mismatch": does not fit its type's typed signal */
        STATS_R_LARGE_NOT_MEMFD,               /* "large-not-memfd": a large event's fd is no memfd */
        STATS_R_LARGE_TOO_LARGE,               /* "large-too-large": its memfd passes max-large-event-size */
        STATS_R_LARGE_UNREADABLE,              /* "large-unreadable": reading its memfd failed */
        _STATS_REASON_MAX,
} StatsReason;

/* The kinds of repeatable log lines, each rate-limited on its own. */
typedef enum {
        STATS_LOG_REJECT = 0, /* + StatsReason: one limiter per refusal reason */
        STATS_LOG_ACCEPT_FAILED = _STATS_REASON_MAX,
        STATS_LOG_DUP_FAILED,
        STATS_LOG_BUS_WRITE,
        STATS_LOG_BUS_LOST,
        STATS_LOG_RECV_FAILED,
        STATS_LOG_RATE_LIMITED, /* "suppressed N": once per sender per interval already */
        _STATS_LOG_MAX,
} StatsLog;

typedef struct {
        gint64 window_start;
        unsigned in_window;
        uint64_t suppressed;
} RateLimit;

typedef struct {
        gint64 started_usec; /* monotonic */
        uint64_t packets;    /* every packet read, good or bad */
        uint64_t received;   /* accepted events (= emitted + the queue's dropped + queued) */
        uint64_t emitted;    /* confirmed by the bus */
        uint64_t fds_not_forwarded;  /* descriptors an event went out without */
        uint64_t bus_reconnects;
        uint64_t rejected[_STATS_REASON_MAX];
        unsigned connections;          /* open now */
        uint64_t connections_accepted; /* since start */
        uint64_t accept_failures;      /* accept() failed for lack of descriptors */
        uint64_t accept_pauses;        /* listening sockets disarmed (fds or max-connections) */
        uint64_t resent;               /* events sent again after a lost connection */
        uint64_t batches;              /* EventBatch signals sent */
        uint64_t batched;              /* events they carried */
        RateLimit limits[_STATS_LOG_MAX];
        unsigned log_burst; /* lines per kind per interval */
        gint64 log_interval_usec;
} Stats;

void stats_init(Stats *s);

/* The counters, written only through these (the fields are read by anyone). */
static inline void stats_count_unit(Stats *s)
{
        s->packets++; /* a packet or a line, good or bad */
}

static inline void stats_count_received(Stats *s)
{
        s->received++;
}

/* A refusal counted without a line of its own (the caller logs its way). */
static inline void stats_count_reject(Stats *s, StatsReason r)
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

/* [log] burst and interval (a reload). */
void stats_set_log_limits(Stats *s, unsigned burst, unsigned interval_sec);
const char *stats_reason_name(StatsReason r);
uint64_t stats_rejected_total(const Stats *s);

/*
 * Logs one line of a repeatable kind, at most log_burst lines per kind per
 * interval; the next line after a quiet spell first says how many were
 * left out. reason may be NULL; pid/uid are the kernel's word about the
 * peer, (pid_t) -1 / (uid_t) -1 when there is none.
 */
void stats_log(Stats *s, StatsLog kind, GLogLevelFlags level, const char *reason, pid_t pid,
               uid_t uid, const char *format, ...) G_GNUC_PRINTF(7, 8);

/* Counts a refusal and logs it (g_info, rate-limited per reason). */
void stats_reject(Stats *s, StatsReason r, pid_t pid, uid_t uid, const char *where);

/* Whether debug lines are wanted (G_MESSAGES_DEBUG names the domain or
 * "all"): lets a per-event caller skip formatting one. */
bool stats_debug_enabled(void);

/* Routes every log line: to the journal with its fields when stderr is
 * connected to it, else to stderr as "LEVEL: message". Debug lines only
 * with G_MESSAGES_DEBUG (GLib's convention), info and above always. */
void stats_install_log_writer(void);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stats.h — the daemon's counters, and the rate-limited log of rejections.
 *
 * One Stats per daemon, owned by main.c; every module increments it, the
 * relay publishes it on the bus (GetStats, properties). Nothing here does
 * I/O other than logging. Reasons of the listener (transport-level
 * refusals) extend the codec's, so one table of names covers both.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec.h"

typedef enum {
        /* the codec's reasons come first, with their values */
        STATS_R_TOO_LARGE = _CODEC_REASON_MAX, /* "too-large": over max-event-size */
        STATS_R_FDS_TRUNCATED,                 /* "fds-truncated": MSG_CTRUNC */
        STATS_R_TOO_MANY_FDS,                  /* "too-many-fds": over max-fds */
        STATS_R_NOT_ALLOWED,                   /* "not-allowed": uid/gid not in the allow-list */
        STATS_R_CONNECTION_LIMIT,              /* "connection-limit": max-connections reached */
        _STATS_REASON_MAX,
} StatsReason;

typedef struct {
        gint64 started_usec; /* monotonic */
        uint64_t packets;    /* every packet read, good or bad */
        uint64_t received;   /* accepted events (= emitted + dropped + queued) */
        uint64_t emitted;
        uint64_t dropped;            /* by the overflow policy */
        uint64_t fds_not_forwarded;  /* bus connection without fd passing */
        uint64_t bus_reconnects;
        uint64_t rejected[_STATS_REASON_MAX];
        unsigned connections;          /* open now */
        uint64_t connections_accepted; /* since start */
        /* rate limit of rejection log lines, per reason */
        gint64 log_window_start[_STATS_REASON_MAX];
        unsigned log_in_window[_STATS_REASON_MAX];
        uint64_t log_suppressed[_STATS_REASON_MAX];
        unsigned log_burst;         /* lines per reason per interval */
        gint64 log_interval_usec;
} Stats;

void stats_init(Stats *s);
const char *stats_reason_name(StatsReason r);
uint64_t stats_rejected_total(const Stats *s);

/*
 * Counts a rejection and logs it, at most log_burst lines per reason per
 * interval; the next line after a quiet spell says how many were left out.
 * pid/uid are the kernel's word about the sender (-1 when unknown).
 */
void stats_reject(Stats *s, StatsReason r, pid_t pid, uid_t uid, const char *where);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.h — the daemon's log: one writer (to the journal with structured
 * fields when stderr is connected to it, else "LEVEL: message" on stderr)
 * and one rate limiter per kind of line a peer or a resource can repeat.
 *
 * Levels (doc/ingesterd.8, "LOGGING"): g_warning for external failures
 * (descriptors exhausted, the bus refusing writes), g_message for
 * lifecycle, g_info for per-peer refusals, g_debug per event. Every
 * repeatable line goes through log_limited(): at most `burst` lines per
 * kind per interval, and the next line after a quiet spell first says how
 * many were left out. The reason and the peer ride along as journal fields
 * INGESTER_REASON=, INGESTER_PEER_PID=, INGESTER_PEER_UID=.
 *
 * The log is the process's, like GLib's writer it installs: its state is
 * here and nowhere else. Never fails.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#include "reason.h"

/* The kinds of repeatable log lines, each rate-limited on its own. */
typedef enum {
        LOG_KIND_REJECT = 0, /* + Reason: one limiter per refusal reason */
        LOG_KIND_ACCEPT_FAILED = _REASON_MAX,
        LOG_KIND_DUP_FAILED,
        LOG_KIND_BUS_WRITE,
        LOG_KIND_BUS_LOST,
        LOG_KIND_RECV_FAILED,
        LOG_KIND_RATE_LIMITED, /* "suppressed N": once per sender per interval already */
        LOG_KIND_LINE_EVICTED, /* an unfinished line thrown away for the queue's room */
        _LOG_KIND_MAX,
} LogKind;

/* Defaults of [log] burst and interval (config.h names the same). */
#define LOG_DEFAULT_BURST 10U
#define LOG_DEFAULT_INTERVAL_SEC 10U

/* [log] burst and interval: lines per kind per interval. */
void log_set_limits(unsigned burst, unsigned interval_sec);

/*
 * Logs one line of a repeatable kind (see above). reason may be NULL;
 * pid/uid are the kernel's word about the peer, (pid_t) -1 / (uid_t) -1
 * when there is none.
 */
void log_limited(LogKind kind, GLogLevelFlags level, const char *reason, pid_t pid, uid_t uid,
                 const char *format, ...) G_GNUC_PRINTF(6, 7);

/* Whether debug lines are wanted (G_MESSAGES_DEBUG names the domain or
 * "all"): lets a per-event caller skip formatting one. */
bool log_debug_enabled(void);

/* Routes every log line (see above). Debug lines only with G_MESSAGES_DEBUG
 * (GLib's convention), info and above always. */
void log_install_writer(void);

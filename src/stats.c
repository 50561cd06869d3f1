/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* stats.c — counters and the rate-limited rejection log (see stats.h). */
#include "stats.h"

static const char *const extra_names[] = {
        [STATS_R_TOO_LARGE - _CODEC_REASON_MAX] = "too-large",
        [STATS_R_FDS_TRUNCATED - _CODEC_REASON_MAX] = "fds-truncated",
        [STATS_R_TOO_MANY_FDS - _CODEC_REASON_MAX] = "too-many-fds",
        [STATS_R_NOT_ALLOWED - _CODEC_REASON_MAX] = "not-allowed",
        [STATS_R_CONNECTION_LIMIT - _CODEC_REASON_MAX] = "connection-limit",
};

void stats_init(Stats *s)
{
        *s = (Stats){ 0 };
        s->started_usec = g_get_monotonic_time();
        s->log_burst = 10;
        s->log_interval_usec = 10 * G_USEC_PER_SEC;
}

const char *stats_reason_name(StatsReason r)
{
        if ((unsigned) r < _CODEC_REASON_MAX)
                return codec_reason_name((CodecReason) r);
        if ((unsigned) r < _STATS_REASON_MAX)
                return extra_names[r - _CODEC_REASON_MAX];
        return NULL;
}

uint64_t stats_rejected_total(const Stats *s)
{
        uint64_t total = 0;
        for (unsigned i = 0; i < _STATS_REASON_MAX; i++)
                total += s->rejected[i];
        return total;
}

void stats_reject(Stats *s, StatsReason r, pid_t pid, uid_t uid, const char *where)
{
        gint64 now = g_get_monotonic_time();

        g_assert((unsigned) r > 0 && (unsigned) r < _STATS_REASON_MAX);
        s->rejected[r]++;

        if (now - s->log_window_start[r] >= s->log_interval_usec) {
                s->log_window_start[r] = now;
                s->log_in_window[r] = 0;
        }
        if (s->log_in_window[r] >= s->log_burst) {
                s->log_suppressed[r]++;
                return;
        }
        s->log_in_window[r]++;
        if (s->log_suppressed[r] > 0) {
                g_message("rejected %" G_GUINT64_FORMAT " more packets (%s) without logging them",
                          s->log_suppressed[r], stats_reason_name(r));
                s->log_suppressed[r] = 0;
        }
        g_message("rejected packet on %s from pid=%d uid=%d: %s", where, (int) pid,
                  uid == (uid_t) -1 ? -1 : (int) uid, stats_reason_name(r));
}

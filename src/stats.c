/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* stats.c — counters and the rate-limited, structured log (see stats.h). */
#include <stdio.h>
#include <string.h>

#include "stats.h"

static const char *const extra_names[] = {
        [STATS_R_TOO_LARGE - _CODEC_REASON_MAX] = "too-large",
        [STATS_R_FDS_TRUNCATED - _CODEC_REASON_MAX] = "fds-truncated",
        [STATS_R_TOO_MANY_FDS - _CODEC_REASON_MAX] = "too-many-fds",
        [STATS_R_NOT_ALLOWED - _CODEC_REASON_MAX] = "not-allowed",
        [STATS_R_CONNECTION_LIMIT - _CODEC_REASON_MAX] = "connection-limit",
        [STATS_R_NO_CREDENTIALS - _CODEC_REASON_MAX] = "no-credentials",
        [STATS_R_RATE_LIMITED - _CODEC_REASON_MAX] = "rate-limited",
        [STATS_R_FDS_ON_STREAM - _CODEC_REASON_MAX] = "fds-on-stream",
        [STATS_R_SCHEMA_MISMATCH - _CODEC_REASON_MAX] = "schema-mismatch",
        [STATS_R_LARGE_NOT_MEMFD - _CODEC_REASON_MAX] = "large-not-memfd",
        [STATS_R_LARGE_TOO_LARGE - _CODEC_REASON_MAX] = "large-too-large",
        [STATS_R_LARGE_UNREADABLE - _CODEC_REASON_MAX] = "large-unreadable",
};

void stats_init(Stats *s)
{
        *s = (Stats){ 0 };
        s->started_usec = g_get_monotonic_time();
        s->log_burst = 10;
        s->log_interval_usec = 10 * G_USEC_PER_SEC;
}

void stats_set_log_limits(Stats *s, unsigned burst, unsigned interval_sec)
{
        s->log_burst = burst;
        s->log_interval_usec = (gint64) interval_sec * G_USEC_PER_SEC;
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

/* True when a line may go out now; *ret_suppressed: how many were held back before it. */
static bool ratelimit_pass(RateLimit *rl, unsigned burst, gint64 interval, uint64_t *ret_suppressed)
{
        gint64 now = g_get_monotonic_time();

        if (rl->window_start == 0 || now - rl->window_start >= interval) {
                rl->window_start = now;
                rl->in_window = 0;
        }
        if (rl->in_window >= burst) {
                rl->suppressed++;
                return false;
        }
        rl->in_window++;
        *ret_suppressed = rl->suppressed;
        rl->suppressed = 0;
        return true;
}

static void write_line(GLogLevelFlags level, const char *reason, pid_t pid, uid_t uid,
                       const char *message)
{
        char pid_text[16], uid_text[16];
        GLogField fields[5] = {
                { "MESSAGE", message, -1 },
                { "GLIB_DOMAIN", G_LOG_DOMAIN, -1 },
        };
        gsize n = 2;

        if (reason)
                fields[n++] = (GLogField){ "INGESTER_REASON", reason, -1 };
        if (pid != (pid_t) -1) {
                snprintf(pid_text, sizeof(pid_text), "%d", (int) pid);
                fields[n++] = (GLogField){ "INGESTER_PEER_PID", pid_text, -1 };
        }
        if (uid != (uid_t) -1) {
                snprintf(uid_text, sizeof(uid_text), "%u", (unsigned) uid);
                fields[n++] = (GLogField){ "INGESTER_PEER_UID", uid_text, -1 };
        }
        g_log_structured_array(level, fields, n);
}

void stats_log(Stats *s, StatsLog kind, GLogLevelFlags level, const char *reason, pid_t pid,
               uid_t uid, const char *format, ...)
{
        g_autofree char *message = NULL;
        uint64_t suppressed = 0;
        va_list ap;

        g_assert((unsigned) kind < _STATS_LOG_MAX);
        if (!ratelimit_pass(&s->limits[kind], s->log_burst, s->log_interval_usec, &suppressed))
                return;
        if (suppressed > 0) {
                g_autofree char *note = g_strdup_printf(
                        "suppressed %" G_GUINT64_FORMAT " similar lines%s%s%s", suppressed,
                        reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
                write_line(level, reason, (pid_t) -1, (uid_t) -1, note);
        }
        va_start(ap, format);
        message = g_strdup_vprintf(format, ap);
        va_end(ap);
        write_line(level, reason, pid, uid, message);
}

void stats_reject(Stats *s, StatsReason r, pid_t pid, uid_t uid, const char *where)
{
        const char *name = stats_reason_name(r);

        g_assert((unsigned) r > 0 && (unsigned) r < _STATS_REASON_MAX);
        s->rejected[r]++;
        if (pid == (pid_t) -1 && uid == (uid_t) -1)
                stats_log(s, (StatsLog) (STATS_LOG_REJECT + r), G_LOG_LEVEL_INFO, name, pid, uid,
                          "rejected packet on %s from an unknown sender: %s", where, name);
        else
                stats_log(s, (StatsLog) (STATS_LOG_REJECT + r), G_LOG_LEVEL_INFO, name, pid, uid,
                          "rejected packet on %s from pid=%d uid=%d: %s", where, (int) pid,
                          uid == (uid_t) -1 ? -1 : (int) uid, name);
}

bool stats_debug_enabled(void)
{
        static int debug = -1;

        if (debug < 0) {
                /* GLib's convention (g_log_writer_default_would_drop() is 2.68) */
                const char *env = g_getenv("G_MESSAGES_DEBUG");
                debug = env && (strstr(env, "all") || strstr(env, G_LOG_DOMAIN)) ? 1 : 0;
        }
        return debug;
}

static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                                   gpointer user_data)
{
        static int journal = -1;
        const char *message = NULL, *label;

        if ((level & G_LOG_LEVEL_DEBUG) && !stats_debug_enabled())
                return G_LOG_WRITER_HANDLED;
        if (journal < 0)
                journal = g_log_writer_is_journald(fileno(stderr)) ? 1 : 0;
        if (journal && g_log_writer_journald(level, fields, n_fields, user_data) ==
                               G_LOG_WRITER_HANDLED)
                return G_LOG_WRITER_HANDLED;
        for (gsize i = 0; i < n_fields; i++)
                if (g_strcmp0(fields[i].key, "MESSAGE") == 0)
                        message = fields[i].value;
        if (level & G_LOG_LEVEL_ERROR)
                label = "error";
        else if (level & G_LOG_LEVEL_CRITICAL)
                label = "critical";
        else if (level & G_LOG_LEVEL_WARNING)
                label = "warning";
        else if (level & G_LOG_LEVEL_MESSAGE)
                label = "notice";
        else if (level & G_LOG_LEVEL_INFO)
                label = "info";
        else
                label = "debug";
        fprintf(stderr, "%s: %s\n", label, message ? message : "(no message)");
        return G_LOG_WRITER_HANDLED;
}

void stats_install_log_writer(void)
{
        g_log_set_writer_func(log_writer, NULL, NULL);
}

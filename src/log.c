/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.c — the writer and the rate limiter (see log.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

typedef struct {
        gint64 window_start;
        unsigned in_window;
        uint64_t suppressed;
} RateLimit;

static struct {
        RateLimit limits[_LOG_KIND_MAX];
        unsigned burst;
        gint64 interval_usec;
} state = {
        .burst = LOG_DEFAULT_BURST,
        .interval_usec = (gint64) LOG_DEFAULT_INTERVAL_SEC * G_USEC_PER_SEC,
};

void log_set_limits(unsigned burst, unsigned interval_sec)
{
        state.burst = burst;
        state.interval_usec = (gint64) interval_sec * G_USEC_PER_SEC;
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

void log_limited(LogKind kind, GLogLevelFlags level, const char *reason, pid_t pid, uid_t uid,
                 const char *format, ...)
{
        g_autofree char *message = NULL;
        uint64_t suppressed = 0;
        va_list ap;

        g_assert((unsigned) kind < _LOG_KIND_MAX);
        if (!ratelimit_pass(&state.limits[kind], state.burst, state.interval_usec, &suppressed))
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

bool log_debug_enabled(void)
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

        if ((level & G_LOG_LEVEL_DEBUG) && !log_debug_enabled())
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

void log_install_writer(void)
{
        g_log_set_writer_func(log_writer, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* stats.c — the counters (see stats.h). */

#include "stats.h"

void stats_init(Stats *s)
{
        *s = (Stats){ 0 };
        s->started_usec = g_get_monotonic_time();
}

uint64_t stats_rejected_total(const Stats *s)
{
        uint64_t total = 0;
        for (unsigned i = 0; i < _REASON_MAX; i++)
                total += s->rejected[i];
        return total;
}

void stats_reject(Stats *s, Reason r, pid_t pid, uid_t uid, const char *where)
{
        const char *name = reason_name(r);

        g_assert((unsigned) r > 0 && (unsigned) r < _REASON_MAX);
        s->rejected[r]++;
        if (pid == (pid_t) -1 && uid == (uid_t) -1)
                log_limited((LogKind) (LOG_KIND_REJECT + r), G_LOG_LEVEL_INFO, name, pid, uid,
                          "rejected packet on %s from an unknown sender: %s", where, name);
        else
                log_limited((LogKind) (LOG_KIND_REJECT + r), G_LOG_LEVEL_INFO, name, pid, uid,
                          "rejected packet on %s from pid=%d uid=%d: %s", where, (int) pid,
                          uid == (uid_t) -1 ? -1 : (int) uid, name);
}

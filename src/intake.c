/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* intake.c — a unit's bytes, descriptors and credentials to an event or a
 * refusal (see intake.h). */
#include <string.h>

#include "busmsg.h"
#include "intake.h"
#include "largefd.h"
#include "peer.h"
#include "schema.h"
#include "util.h"

void intake_init(Intake *in, const Config *config, const struct Schemas *schemas, Queue *queue,
                 Stats *stats)
{
        *in = (Intake){ .config = config, .schemas = schemas, .queue = queue, .stats = stats };
}

void intake_source_init(IntakeSource *src, const ListenSpec *spec, Lane *lane,
                        const struct ucred *cred)
{
        *src = (IntakeSource){ .spec = spec, .lane = lane };
        src->cred = cred ? *cred
                         : (struct ucred){ .pid = -1, .uid = (uid_t) -1, .gid = (gid_t) -1 };
}

static bool is_ack_control(const char *buf, size_t len)
{
        return buf && len == sizeof(INTAKE_ACK_CONTROL) - 1 &&
               memcmp(buf, INTAKE_ACK_CONTROL, len) == 0;
}

/* An attempt is done: on an acknowledged source it has the next number. */
static uint64_t next_ack(IntakeSource *src)
{
        return src->ack ? ++src->ack_next : 0;
}

/* A refusal counted without its own log line (the caller logs it its way). */
static IntakeResult refused_quietly(IntakeSource *src, Reason r, int *fds, unsigned n_fds,
                                    IntakeVerdict *ret)
{
        close_many(fds, n_fds);
        ret->reason = r;
        ret->ack_n = next_ack(src);
        return INTAKE_REFUSED;
}

/* A refusal: what came with it is closed, the reason counted and logged. */
static IntakeResult refuse(Intake *in, IntakeSource *src, Reason r, int *fds,
                           unsigned n_fds, const struct ucred *cred, IntakeVerdict *ret)
{
        stats_reject(in->stats, r, cred->pid, cred->uid, src->spec->path);
        return refused_quietly(src, r, fds, n_fds, ret);
}

/*
 * An event whose type has a typed signal must fit it (schema_check()): else
 * it is refused as schema-mismatch, logged with the signal and the arg, and
 * not emitted at all. Returns whether it may be queued.
 */
static bool typed(Intake *in, Event *event, const char *where)
{
        const char *type = g_variant_get_string(event->type, NULL);
        const SchemaSignal *sig = schemas_lookup(in->schemas, type);
        const char *arg = NULL, *why = NULL;

        if (!sig)
                return true;
        if (schema_uses_seq(sig)) {
                /* its body needs the seq, given when it is picked: check only */
                if (schema_check(sig, event, &arg, &why)) {
                        event_set_typed(event, sig, NULL);
                        return true;
                }
        } else {
                GVariant *body = schema_build(sig, event, &arg, &why);
                if (body) {
                        event_set_typed(event, sig, body);
                        return true;
                }
        }
        stats_count_reject(in->stats, REASON_SCHEMA_MISMATCH);
        log_limited((LogKind) (LOG_KIND_REJECT + REASON_SCHEMA_MISMATCH),
                  G_LOG_LEVEL_INFO, "schema-mismatch", event->meta.pid, event->meta.uid,
                  "rejected packet on %s from pid=%d uid=%u: schema-mismatch: a \"%s\" event "
                  "for %s.%s: arg %s %s",
                  where, (int) event->meta.pid, (unsigned) event->meta.uid, type,
                  schema_signal_interface(sig), schema_signal_name(sig), arg, why);
        return false;
}

/* The sender's budget (queue_lane_admit()); logs the interval that ended. */
static bool rate_admit(Intake *in, Lane *lane)
{
        Queue *q = in->queue;
        uint64_t suppressed;
        bool ok;

        if (q->rate_burst == 0 || q->rate_interval_usec <= 0)
                return true; /* off (the default): no clock read per packet */
        ok = queue_lane_admit(q, lane, g_get_monotonic_time(), &suppressed);
        if (suppressed > 0)
                log_limited(LOG_KIND_RATE_LIMITED, G_LOG_LEVEL_INFO, "rate-limited",
                          lane->pid, lane->uid,
                          "rate limit: suppressed %" G_GUINT64_FORMAT
                          " events from pid=%d uid=%u on %s (over %u per %.3g s)",
                          suppressed, (int) lane->pid, (unsigned) lane->uid, lane->where,
                          q->rate_burst, (double) q->rate_interval_usec / 1e6);
        return ok;
}

/*
 * One event's bytes with its descriptors and credentials: checked, decoded
 * and queued, or refused.
 */
static IntakeResult take_event(Intake *in, IntakeSource *src, struct ucred cred, bool has_cred,
                               const char *bytes, size_t n, int *fds, unsigned n_fds,
                               IntakeVerdict *ret)
{
        const Config *cfg = in->config;
        const char *where = src->spec->path;
        CodecEvent ev = { 0 };
        CodecReason reason;
        EventMeta meta;
        Event *event;
        Lane *lane = src->lane;

        if (!lane && (!has_cred || peer_unattributed(&cred))) {
                /* not "uid 65534 is not allowed": there is no such sender to look for */
                cred = (struct ucred){ .pid = -1, .uid = (uid_t) -1, .gid = (gid_t) -1 };
                return refuse(in, src, REASON_NO_CREDENTIALS, fds, n_fds, &cred, ret);
        }
        if (!lane && !peer_allowed(src->spec, cred.uid, cred.gid))
                return refuse(in, src, REASON_NOT_ALLOWED, fds, n_fds, &cred, ret);
        if (n_fds > cfg->max_fds)
                return refuse(in, src, REASON_TOO_MANY_FDS, fds, n_fds, &cred, ret);

        if (!lane)
                lane = queue_lane_dgram(in->queue, src, cred.pid, cred.uid, cred.gid, where);
        if (!rate_admit(in, lane)) {
                /* counted, not logged one by one: rate_admit() says how many per interval */
                stats_count_reject(in->stats, REASON_RATE_LIMITED);
                return refused_quietly(src, REASON_RATE_LIMITED, fds, n_fds, ret);
        }

        reason = codec_decode(&cfg->limits, src->spec->codec, bytes, n, &ev);
        if (reason != CODEC_OK)
                return refuse(in, src, reason_of_codec(reason), fds, n_fds, &cred, ret);

        meta = (EventMeta){
                .received_usec = g_get_real_time(),
                .pid = cred.pid,
                .uid = cred.uid,
                .gid = cred.gid,
                .transport = src->spec->transport,
                .codec = ev.format,
        };
        event = event_new(&meta, ev.type, ev.data, fds, n_fds);
        if (!busmsg_fits(cfg->object_path, event)) {
                /* it decoded, but its message would pass the bus's ceiling: the bus would
                 * disconnect the relay for it */
                event_free(event); /* closes its fds */
                return refuse(in, src, REASON_TOO_LARGE, NULL, 0, &cred, ret);
        }
        if (in->schemas && !typed(in, event, where)) {
                event_free(event); /* closes its fds */
                return refused_quietly(src, REASON_SCHEMA_MISMATCH, NULL, 0, ret);
        }
        event_set_ack(event, next_ack(src));
        stats_count_received(in->stats);
        if (G_UNLIKELY(log_debug_enabled()))
                g_debug("event from pid=%d uid=%u on %s: %zu bytes, %u fds", (int) cred.pid,
                        (unsigned) cred.uid, where, n, n_fds);
        (void) queue_push(in->queue, lane, event); /* what it drops, the queue counts */
        ret->lane = lane;
        if (in->queue->policy == QUEUE_POLICY_BLOCK && queue_lane_at_share(in->queue, lane))
                return INTAKE_BLOCKED;
        return INTAKE_QUEUED;
}

IntakeResult intake_take(Intake *in, IntakeSource *src, IntakeUnit *u, IntakeVerdict *ret)
{
        struct ucred cred = u->cred;
        bool has_cred = u->has_cred;

        *ret = (IntakeVerdict){ 0 };
        stats_count_unit(in->stats);
        if (src->lane) {
                cred = src->cred; /* SO_PEERCRED: the kernel's word at connect time */
                has_cred = true;
                if (u->n_fds == 0 && u->flaw != INTAKE_FLAW_TOO_LARGE &&
                    u->flaw != INTAKE_FLAW_PARTIAL && is_ack_control(u->bytes, u->len)) {
                        src->ack = true; /* a control unit, not an event */
                        stats_count_control(in->stats);
                        return INTAKE_CONTROL;
                }
        }
        stats_count_attempt(in->stats);
        switch (u->flaw) {
        case INTAKE_FLAW_NONE:
                break;
        case INTAKE_FLAW_CTRUNC:
                /* the kernel (or an LSM) withheld descriptors or credentials: never pass on
                 * an event with part of its fds */
                return refuse(in, src, REASON_FDS_TRUNCATED, u->fds, u->n_fds, &cred, ret);
        case INTAKE_FLAW_TOO_LARGE:
                return refuse(in, src, REASON_TOO_LARGE, u->fds, u->n_fds, &cred, ret);
        case INTAKE_FLAW_PARTIAL:
                return refuse(in, src, reason_of_codec(CODEC_E_TRUNCATED), u->fds, u->n_fds, &cred,
                              ret);
        }
        if (largefd_kind(u->bytes, u->len, u->n_fds) != LARGEFD_NONE) {
                /* the payload is in the first descriptor; the event's own come after it */
                g_autofree char *large = NULL;
                size_t len = 0;
                Reason r = largefd_read(u->fds[0], in->config->max_large_event_size, &large,
                                             &len);
                if (r != 0)
                        return refuse(in, src, r, u->fds, u->n_fds, &cred, ret);
                safe_close(u->fds[0]);
                return take_event(in, src, cred, has_cred, large, len, u->fds + 1, u->n_fds - 1,
                                  ret);
        }
        return take_event(in, src, cred, has_cred, u->bytes, u->len, u->fds, u->n_fds, ret);
}

void intake_stream_fds(Intake *in, const IntakeSource *src, int *fds, unsigned n_fds)
{
        close_many(fds, n_fds);
        stats_count_attempt(in->stats); /* to pass descriptors, refused */
        stats_reject(in->stats, REASON_FDS_ON_STREAM, src->cred.pid, src->cred.uid,
                     src->spec->path);
}

bool intake_admit_connection(Intake *in, const ListenSpec *spec, const struct ucred *cred)
{
        Reason r;

        if (!peer_allowed(spec, cred->uid, cred->gid))
                r = REASON_NOT_ALLOWED;
        else if (queue_user_connections(in->queue, cred->uid) >=
                 in->config->max_connections_per_uid)
                /* its uid holds its share of the connections: the others' stay open to them */
                r = REASON_CONNECTION_LIMIT;
        else
                return true;
        stats_count_attempt(in->stats); /* the connection, whatever it had sent */
        stats_reject(in->stats, r, cred->pid, cred->uid, spec->path);
        return false;
}

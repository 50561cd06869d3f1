/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * relay.c — GDBus emission, bounded and confirmed by the bus (see relay.h
 * for why emission is shaped this way): the window, the batches, the
 * confirmations, and the descriptor probe. Getting onto the bus and staying
 * there is busconn.c's; the relay hears from it when the connection is
 * usable (up) and when it is gone (down).
 *
 * Emission runs from an idle source at the listener's priority: the
 * listener kicks it after queueing, so each main-loop iteration reads a
 * batch of packets from every ready socket and then sends them in one pass.
 * (At G_PRIORITY_DEFAULT_IDLE the pass would only run once every socket is
 * empty or the queue full, and under a flood events would wait, cold in
 * cache, in batches of thousands; doc/performance.md.) A pass sends queued
 * events until max-unflushed messages are unconfirmed, and after every half
 * window asks the bus to confirm them: one GetId call, whose reply can only
 * come after the bus has processed every message sent before it on this
 * connection (D-Bus keeps a connection's messages in order). A flush would
 * only say that GDBus wrote the bytes to the socket; what the bus had not
 * read when it closed the connection was lost although "flushed".
 *
 * Every callback here runs in the default main context (the daemon's
 * thread), including GDBus's async results. Every async call gets the
 * relay's GCancellable, cancelled in relay_free(); a callback that sees
 * G_IO_ERROR_CANCELLED touches nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "busconn.h"
#include "busmsg.h"
#include "relay.h"
#include "schema.h"
#include "statsobj.h"
#include "util.h"

/* After the bus reset us with descriptors in flight, how long events go
 * without them before one is tried with them again (doubling up to max). */
#define FD_PROBE_MIN_MSEC 1000
#define FD_PROBE_MAX_MSEC 60000
/* Times the bus closes us after one event, alone in flight, before it is quarantined. */
#define POISON_STRIKES 2

struct Relay {
        const Config *config;
        Queue *queue;
        Stats *stats;
        RelayCallbacks cb;
        gpointer user_data;
        GCancellable *cancel;
        BusConn *bus;
        StatsObj statsobj; /* what the daemon's object shows (busconn exports it) */

        GDBusConnection *conn; /* busconn's, while it is up and every name ours */
        bool can_pass_fds;

        guint pump_idle;
        /* the messages handed to GDBus and not yet confirmed are the queue's in-flight events */
        unsigned to_confirm; /* of those, sent since the last confirmation request */
        unsigned confirms; /* confirmation requests whose reply has not come back */
        bool settling;     /* a connection was lost; its requests are still reporting */

        /* a bus that throws us off for the descriptors we send (doc/protocol.md §1.2) */
        bool lost_fds;    /* the bus closed us (lost_guid) with descriptors unconfirmed */
        bool fds_suspect; /* events go out without their descriptors meanwhile */
        bool probing;     /* one went out with them; its confirmation decides */
        unsigned probe_msec;
        gint64 probe_at;

        /* poison: a message after which the bus drops the connection (see "poison") */
        char *lost_guid;       /* the bus that last closed us */
        size_t lost_in_flight; /* ... with how many events unconfirmed */
        size_t suspects;      /* events at the head to send one at a time, each confirmed */
        bool alone_out;       /* one of them is out, alone, awaiting its confirmation */
        uint64_t alone_seq;   /* the last one sent alone, until the bus confirms it */
        bool alone_unconfirmed;
        uint64_t suspect_seq; /* the event that was alone in flight when the bus closed us */
        unsigned strikes;     /* ... how many times in a row, on the same bus */

        bool draining; /* relay_drain(): report when the queue is empty */

        /* send_batch()'s, per element of the message being made */
        BusmsgItem *items;
        size_t *costs;       /* what GDBus's copies of its messages cost */
        unsigned *event_fds; /* the duplicates its Event (signal-form=both) carries */
};

typedef struct {
        Relay *r;
        unsigned count;
        bool probe;
        bool alone; /* a suspect, sent alone */
} ConfirmBatch;

static void relay_pump(Relay *r);

/* ---- emission ---- */

static void check_drained(Relay *r)
{
        if (r->draining && r->queue->len == 0) {
                r->draining = false;
                if (r->cb.drained)
                        r->cb.drained(r->user_data);
        }
}

/*
 * After a connection is lost, what GDBus held goes back to waiting, but only
 * once every confirmation requested on it has reported: a reply that made
 * it confirms its events (it can arrive after the "closed" signal), so
 * those are not sent twice; the rest is sent again on the next connection.
 */
static void settle_after_close(Relay *r)
{
        if (!r->settling || r->confirms > 0)
                return;
        r->settling = false;
        stats_count_resent(r->stats, r->queue->in_flight);
        queue_unsend_all(r->queue);
        r->to_confirm = 0;
}

/* Main context. The reply to GetId: every message sent before it is processed. */
static void on_confirmed(GObject *source, GAsyncResult *res, gpointer user_data)
{
        ConfirmBatch *b = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply =
                g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
        Relay *r = b->r;

        if (!reply && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
                g_free(b); /* the relay is gone */
                return;
        }
        r->confirms--;
        if (b->alone)
                r->alone_out = false;
        if (reply) {
                if (b->alone) {
                        /* innocent: the next suspect goes, alone too */
                        r->alone_unconfirmed = false;
                        r->suspects = r->suspects > 0 ? r->suspects - 1 : 0;
                        r->strikes = 0;
                }
                stats_count_emitted(r->stats, queue_confirm(r->queue, b->count));
                if (b->probe && r->probing) {
                        r->probing = false;
                        r->fds_suspect = false;
                        g_message("the bus takes descriptors again: events carry their fds");
                }
        } else if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED)) {
                log_limited(LOG_KIND_BUS_WRITE, G_LOG_LEVEL_WARNING, NULL, -1, -1,
                          "the bus did not confirm %u events: %s", b->count, error->message);
        }
        g_free(b);
        settle_after_close(r);
        if (reply && r->cb.space)
                r->cb.space(r->user_data);
        relay_pump(r);
        check_drained(r);
}

/*
 * @tail: the rest of a pass, not a half window. A tail waits while another
 * request is outstanding: its reply runs the pump, which then asks for
 * everything sent meanwhile at once. At a steady trickle that is one round
 * trip per reply instead of one per event (doubling the bus's messages cost
 * latency at 5k events/s; doc/performance.md).
 */
static void request_confirm(Relay *r, bool probe, bool tail)
{
        ConfirmBatch *b;

        if (r->to_confirm == 0 || (tail && r->confirms > 0))
                return;
        b = g_new0(ConfirmBatch, 1);
        b->r = r;
        b->count = r->to_confirm;
        b->probe = probe;
        b->alone = r->alone_out;
        r->to_confirm = 0;
        r->confirms++;
        g_dbus_connection_call(r->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "GetId", NULL, G_VARIANT_TYPE("(s)"),
                               G_DBUS_CALL_FLAGS_NONE, -1, r->cancel, on_confirmed, b);
}

/* Duplicates ev's fds into out[] for GDBus (the event keeps its own until
 * confirmed); false, with none left open, when the descriptor table is full. */
static bool dup_fds_into(Relay *r, const Event *ev, int *out)
{
        for (unsigned i = 0; i < ev->n_fds; i++) {
                out[i] = fcntl(ev->fds[i], F_DUPFD_CLOEXEC, 3);
                if (out[i] < 0) {
                        int err = errno;
                        for (unsigned j = 0; j < i; j++)
                                close(out[j]);
                        log_limited(LOG_KIND_DUP_FAILED, G_LOG_LEVEL_WARNING,
                                  "fds-not-forwarded", ev->meta.pid, ev->meta.uid,
                                  "cannot duplicate an event's descriptors (%s): event %" G_GUINT64_FORMAT
                                  " goes out without them",
                                  g_strerror(err), event_seq(ev));
                        return false;
                }
        }
        return true;
}

/* ev's fds duplicated as one message's list; NULL when the table is full. */
static GUnixFDList *dup_fds(Relay *r, const Event *ev)
{
        int fds[BUS_MAX_MESSAGE_FDS];

        g_assert(ev->n_fds <= G_N_ELEMENTS(fds));
        if (!dup_fds_into(r, ev, fds))
                return NULL;
        return g_unix_fd_list_new_from_array(fds, (gint) ev->n_fds);
}

/* The descriptors one message of ev carries: duplicates when `with`, else
 * (or when the table is full) none, counted as not forwarded. */
static GUnixFDList *message_fds(Relay *r, const Event *ev, bool with)
{
        GUnixFDList *fdl = with && ev->n_fds > 0 ? dup_fds(r, ev) : NULL;

        if (!fdl)
                stats_count_fds_not_forwarded(r->stats, ev->n_fds);
        return fdl;
}

/* The forms an event goes out in (config.h, SignalForm). */
static bool form_event(const Relay *r)
{
        return r->config->signal_form != SIGNAL_FORM_BATCH;
}

static bool form_batch(const Relay *r)
{
        return r->config->signal_form != SIGNAL_FORM_EVENT;
}

/* The messages an event goes out as: Event and/or a batch, its typed signal,
 * or both kinds. A typed signal is never batched: its subscribers expect
 * exactly the hub's signal. */
static unsigned messages_for(const Relay *r, const Event *ev)
{
        unsigned n = ev->sig ? 1 : 0;

        if (!ev->sig || r->config->typed_also_event)
                n += (form_event(r) ? 1u : 0u) + (form_batch(r) ? 1u : 0u);
        return n;
}

/* Whether the next message's descriptors go with it; *ret_probe: that
 * message tests whether the bus takes them again. */
static bool fds_go(Relay *r, bool *ret_probe)
{
        bool with = r->can_pass_fds;

        if (with && r->fds_suspect) {
                with = g_get_monotonic_time() >= r->probe_at;
                *ret_probe = *ret_probe || with;
        }
        return with;
}

static gboolean send_message(Relay *r, GDBusMessage *m, GError **error)
{
        return g_dbus_connection_send_message(r->conn, m, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL,
                                              error);
}

/* ev's Event signal, with duplicates of its fds when `with`; adds the
 * duplicates handed to GDBus to *sent_fds. */
static gboolean send_event_form(Relay *r, const Event *ev, bool with, unsigned *sent_fds,
                                GError **error)
{
        g_autoptr(GUnixFDList) fdl = message_fds(r, ev, with);
        g_autoptr(GDBusMessage) m =
                busmsg_event(r->config->object_path, ev, fdl, fdl ? 0 : ev->n_fds);

        if (!send_message(r, m, error))
                return FALSE;
        *sent_fds += fdl ? ev->n_fds : 0;
        return TRUE;
}

/* An event that goes out alone: typed, or under signal-form=event. */
static gboolean send_one(Relay *r, Event *ev, size_t cost, bool *ret_probe, GError **error)
{
        bool with = ev->n_fds > 0 && fds_go(r, ret_probe);
        unsigned sent_fds = 0;

        if (!ev->sig || r->config->typed_also_event) {
                if (form_event(r) && !send_event_form(r, ev, with, &sent_fds, error))
                        return FALSE;
                if (form_batch(r)) {
                        g_autoptr(GUnixFDList) fdl = message_fds(r, ev, with);
                        BusmsgItem item = { .ev = ev, .n_fds = fdl ? ev->n_fds : 0,
                                            .fds_dropped = fdl ? 0 : ev->n_fds };
                        g_autoptr(GDBusMessage) m =
                                busmsg_batch(r->config->object_path, &item, 1, fdl);

                        if (!send_message(r, m, error))
                                return FALSE;
                        sent_fds += item.n_fds;
                        stats_count_batch(r->stats, 1);
                }
        }
        if (ev->sig) {
                /* the typed signal, from the connection that owns its name */
                g_autoptr(GVariant) body = ev->typed ? g_variant_ref(ev->typed)
                                                     : schema_body(ev->sig, ev);
                g_autoptr(GDBusMessage) m = g_dbus_message_new_signal(
                        schema_signal_path(ev->sig), schema_signal_interface(ev->sig),
                        schema_signal_name(ev->sig));
                g_autoptr(GUnixFDList) fdl = message_fds(r, ev, with);

                g_dbus_message_set_body(m, body);
                if (fdl)
                        g_dbus_message_set_unix_fd_list(m, fdl);
                if (!send_message(r, m, error))
                        return FALSE;
                sent_fds += fdl ? ev->n_fds : 0;
        }
        queue_mark_sent(r->queue, cost, sent_fds);
        r->probing = r->probing || *ret_probe;
        return TRUE;
}

/*
 * The events waiting next, up to `room`, as one EventBatch (and, under
 * signal-form=both, each as its Event first). Adaptive: it takes what is
 * queued now and never waits for more, so a lone event goes at once as a
 * batch of one. It stops before a typed event, before the message's
 * descriptors would pass the bus's per-message limit or its body the
 * message ceiling, and where a capacity would not hold GDBus's copies
 * (*ret_held_back). *ret_n: how many it sent.
 */
static gboolean send_batch(Relay *r, size_t room, size_t *ret_n, bool *ret_probe,
                           bool *ret_held_back, GError **error)
{
        Queue *q = r->queue;
        unsigned forms = form_event(r) ? 2 : 1;
        size_t limit = MIN((size_t) r->config->batch_max_events, room);
        size_t n = 0, body = 0, bytes = 0;
        unsigned n_fds = 0, fds_charged = 0;
        int fds[BUS_MAX_MESSAGE_FDS];
        bool with = false, decided = false;
        g_autoptr(GUnixFDList) fdl = NULL;
        g_autoptr(GDBusMessage) m = NULL;
        Event *ev;

        *ret_n = 0;
        while (n < limit && (ev = queue_unsent(q, n)) && !ev->sig) {
                size_t cost = busmsg_cost(ev) * forms, size = busmsg_batch_size(ev);
                BusmsgItem *item = &r->items[n];
                unsigned want;

                if (ev->n_fds > 0 && !decided) {
                        with = fds_go(r, ret_probe);
                        decided = true;
                }
                want = with ? ev->n_fds : 0;
                if (n > 0 && (n_fds + want > BUS_MAX_MESSAGE_FDS || body + size > BUSMSG_BODY_CEILING))
                        break;
                if (!queue_can_send_n(q, n, bytes + cost, fds_charged + want * forms)) {
                        *ret_held_back = true;
                        break;
                }
                *item = (BusmsgItem){ .ev = ev, .fd_base = n_fds };
                if (want > 0 && dup_fds_into(r, ev, fds + n_fds)) {
                        item->n_fds = want;
                        n_fds += want;
                } else if (ev->n_fds > 0) {
                        item->fds_dropped = ev->n_fds;
                        stats_count_fds_not_forwarded(r->stats, ev->n_fds);
                }
                r->costs[n] = cost;
                bytes += cost;
                fds_charged += want * forms;
                body += size;
                n++;
        }
        if (n == 0)
                return TRUE; /* held back: nothing fits until some are confirmed */
        if (n_fds > 0)
                fdl = g_unix_fd_list_new_from_array(fds, (gint) n_fds);
        for (size_t i = 0; form_event(r) && i < n; i++) {
                unsigned event_fds = 0;
                if (!send_event_form(r, r->items[i].ev, with, &event_fds, error))
                        return FALSE;
                r->event_fds[i] = event_fds;
        }
        m = busmsg_batch(r->config->object_path, r->items, n, fdl);
        if (!send_message(r, m, error))
                return FALSE;
        for (size_t i = 0; i < n; i++)
                queue_mark_sent(q, r->costs[i],
                                r->items[i].n_fds + (form_event(r) ? r->event_fds[i] : 0));
        stats_count_batch(r->stats, n);
        r->probing = r->probing || *ret_probe;
        *ret_n = n;
        return TRUE;
}

/* Benchmark mode (--bench-no-emit): everything up to the bus, then nothing. */
static void discard_all(Relay *r)
{
        Event *ev;

        while ((ev = queue_pop(r->queue))) {
                event_free(ev);
                stats_count_emitted(r->stats, 1);
        }
        if (r->cb.space)
                r->cb.space(r->user_data);
        check_drained(r);
}

/* The head is the event the bus closed us after, alone, POISON_STRIKES times:
 * out of the queue, the ones after it go on. */
static bool quarantine_head(Relay *r)
{
        Event *ev = queue_next_unsent(r->queue);

        if (r->strikes < POISON_STRIKES || r->queue->in_flight > 0 || !ev ||
            ev->q.seq != r->suspect_seq)
                return false;
        g_warning("quarantined event seq %" G_GUINT64_FORMAT " of type '%s' from pid %d uid %u "
                  "(%s): the bus closed the connection after it %u times, each time the only "
                  "event in flight; the events after it go on",
                  ev->q.seq, g_variant_get_string(ev->type, NULL), (int) ev->meta.pid,
                  (unsigned) ev->meta.uid, ev->q.lane->where ? ev->q.lane->where : "?",
                  r->strikes);
        queue_quarantine(r->queue);
        r->strikes = 0;
        r->suspects = r->suspects > 0 ? r->suspects - 1 : 0;
        if (r->cb.space)
                r->cb.space(r->user_data);
        return true;
}

static void relay_pump(Relay *r)
{
        Queue *q = r->queue;
        unsigned half = MAX(r->config->max_unflushed / 2, 1);
        bool held_back = false;
        Event *ev;

        if (r->config->no_emit) {
                discard_all(r);
                return;
        }
        /* after a reconnect, wait until the old connection's requests have all reported;
         * while a descriptor probe is out, wait for its verdict */
        if (!r->conn || r->settling || r->probing || r->alone_out)
                return;
        while (quarantine_head(r))
                ;
        while (q->in_flight < r->config->max_unflushed && (ev = queue_next_unsent(q))) {
                g_autoptr(GError) error = NULL;
                bool probe = false, alone = r->suspects > 0;
                size_t n = 1;
                gboolean ok;

                if (form_batch(r) && !ev->sig) {
                        ok = send_batch(r, alone ? 1 : r->config->max_unflushed - q->in_flight,
                                        &n, &probe, &held_back, &error);
                } else {
                        /* an event sent in several messages costs them all */
                        unsigned messages = messages_for(r, ev);
                        size_t cost = busmsg_cost(ev) * messages;
                        if (!queue_can_send(q, cost, r->can_pass_fds ? ev->n_fds * messages : 0)) {
                                held_back = true; /* GDBus's copies would pass a capacity */
                                break;
                        }
                        ok = send_one(r, ev, cost, &probe, &error);
                }
                if (!ok) {
                        /* a closed connection: on_closed() takes over */
                        log_limited(LOG_KIND_BUS_WRITE, G_LOG_LEVEL_WARNING, NULL, -1,
                                  -1, "cannot send an event: %s", error->message);
                        break;
                }
                r->to_confirm += (unsigned) n;
                if (alone && n > 0) {
                        /* a suspect: its verdict before anything else goes */
                        r->alone_out = true;
                        r->alone_unconfirmed = true;
                        r->alone_seq = queue_peek(q, q->in_flight - 1)->q.seq;
                        request_confirm(r, probe, false);
                        return;
                }
                if (r->to_confirm >= half || probe)
                        request_confirm(r, probe, false);
                if (probe)
                        return;
                if (held_back)
                        break;
        }
        /* The rest of the batch, when nothing else waits (latency when idle; under load
         * the half-window requests suffice) or when a capacity holds the next event back
         * until these are confirmed (otherwise nothing would ever confirm them). */
        if (held_back || !queue_next_unsent(q))
                request_confirm(r, false, true);
}

static gboolean on_pump_idle(gpointer user_data)
{
        Relay *r = user_data;

        r->pump_idle = 0;
        relay_pump(r);
        return G_SOURCE_REMOVE;
}

void relay_kick(Relay *r)
{
        if (!r->pump_idle)
                r->pump_idle = g_idle_add_full(G_PRIORITY_DEFAULT, on_pump_idle, r, NULL);
}

static bool fds_unconfirmed(const Relay *r)
{
        for (size_t i = 0; i < r->queue->in_flight; i++)
                if (queue_peek(r->queue, i)->q.sent_fds > 0)
                        return true;
        return false;
}

/* Main context: busconn's connection is closing. What GDBus held goes back to
 * waiting once every confirmation requested on it has reported. */
static void on_bus_down(const char *why, gpointer user_data)
{
        Relay *r = user_data;

        log_limited(LOG_KIND_BUS_LOST, G_LOG_LEVEL_WARNING, NULL, -1, -1,
                    "lost the bus connection (%s); %zu events queued, reconnecting", why,
                    r->queue->len);
        g_free(r->lost_guid);
        r->lost_guid = g_strdup(busconn_guid(r->bus));
        r->lost_fds = fds_unconfirmed(r);
        r->lost_in_flight = r->queue->in_flight;
        /* (the failed confirmation may have reported before this: alone_out is gone) */
        if (r->alone_unconfirmed && r->queue->in_flight == 1 &&
            queue_peek(r->queue, 0)->q.seq == r->alone_seq) {
                uint64_t seq = r->alone_seq;
                r->strikes = r->strikes > 0 && r->suspect_seq == seq ? r->strikes + 1 : 1;
                r->suspect_seq = seq;
        }
        if (r->probing) {
                r->probing = false;
                r->probe_msec = MIN(r->probe_msec * 2, FD_PROBE_MAX_MSEC);
        }
        r->conn = NULL;
        r->settling = true;
        settle_after_close(r);
}

/* Main context: another instance took a name over (--replace): nothing more goes
 * out from here. */
static void on_bus_name_lost(gpointer user_data)
{
        Relay *r = user_data;

        r->conn = NULL;
        if (r->cb.name_lost)
                r->cb.name_lost(r->user_data);
}

/* The same bus instance closed us while messages with descriptors were
 * unconfirmed: dbus-daemon does that when it cannot take descriptors
 * (its own table is full, say, holding fds for a stopped subscriber). Go
 * on without them until a probe gets through; a restarted bus (a new
 * guid) starts clean. */
static void judge_descriptors(Relay *r)
{
        bool same = r->lost_fds && g_strcmp0(r->lost_guid, busconn_guid(r->bus)) == 0;

        if (!same) {
                r->fds_suspect = false;
                return;
        }
        if (!r->fds_suspect) {
                r->fds_suspect = true;
                r->probe_msec = FD_PROBE_MIN_MSEC;
                g_warning("the bus at %s closed the connection while messages with descriptors "
                          "were unconfirmed: events go out without their fds (meta fds-dropped) "
                          "until one gets through with them",
                          busconn_address(r->bus));
        }
        r->probe_at = g_get_monotonic_time() + (gint64) r->probe_msec * 1000;
}

/*
 * Poison. The same bus instance closed us with events unconfirmed: one of
 * them may be a message the bus refuses (it disconnects the sender of an
 * invalid message), and sending them all again would only repeat that, on
 * every reconnect, for good. So those events go again one at a time, each
 * confirmed before the next; the one after which the bus closes us twice in
 * a row, alone in flight both times, is quarantined (relay_pump()). A
 * restarted bus (a new guid) is not the events' doing: nothing is suspected.
 */
static void judge_suspects(Relay *r)
{
        bool same = r->lost_guid && g_strcmp0(r->lost_guid, busconn_guid(r->bus)) == 0;

        if (!same) {
                r->suspects = 0;
                r->strikes = 0;
        } else {
                r->suspects = MAX(r->suspects, r->lost_in_flight);
        }
        r->lost_in_flight = 0;
}

/* Main context: connected, and every name is ours. */
static void on_bus_up(GDBusConnection *conn, gpointer user_data)
{
        Relay *r = user_data;

        r->conn = conn;
        r->can_pass_fds = busconn_can_pass_fds(r->bus);
        judge_descriptors(r);
        judge_suspects(r);
        g_clear_pointer(&r->lost_guid, g_free);
        relay_kick(r);
}

Relay *relay_new(const Config *config, const struct Schemas *schemas, Queue *queue,
                 Stats *stats, const RelayCallbacks *cb, gpointer user_data)
{
        static const BusConnCallbacks bus_callbacks = {
                .up = on_bus_up,
                .down = on_bus_down,
                .name_lost = on_bus_name_lost,
        };
        Relay *r = g_new0(Relay, 1);
        BusConnObject object = { &statsobj_vtable, &r->statsobj };

        r->config = config;
        r->queue = queue;
        r->stats = stats;
        r->cb = *cb;
        r->user_data = user_data;
        r->cancel = g_cancellable_new();
        r->statsobj = (StatsObj){ .stats = stats, .queue = queue, .fds_withheld = &r->fds_suspect };
        r->bus = busconn_new(config, schemas, stats, &object, &bus_callbacks, r);
        r->probe_msec = FD_PROBE_MIN_MSEC;
        r->items = g_new(BusmsgItem, CONFIG_BATCH_MAX_EVENTS_CEILING);
        r->costs = g_new(size_t, CONFIG_BATCH_MAX_EVENTS_CEILING);
        r->event_fds = g_new(unsigned, CONFIG_BATCH_MAX_EVENTS_CEILING);
        return r;
}

gboolean relay_start(Relay *r, GError **error)
{
        return busconn_start(r->bus, error);
}

void relay_drain(Relay *r)
{
        r->draining = true;
        relay_pump(r);
        check_drained(r);
}

const char *relay_address(const Relay *r)
{
        return busconn_address(r->bus);
}

void relay_free(Relay *r)
{
        if (!r)
                return;
        g_cancellable_cancel(r->cancel);
        g_clear_handle_id(&r->pump_idle, g_source_remove);
        g_clear_pointer(&r->bus, busconn_free);
        g_clear_object(&r->cancel);
        g_free(r->lost_guid);
        g_free(r->items);
        g_free(r->costs);
        g_free(r->event_fds);
        g_free(r);
}

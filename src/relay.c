/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * relay.c — GDBus emission, bounded; reconnect with backoff; the stats
 * object (see relay.h for why emission is shaped this way).
 *
 * Emission runs from an idle source at the listener's priority: the
 * listener kicks it after queueing, so each main-loop iteration reads a
 * batch of packets from every ready socket and then sends them in one pass.
 * (At G_PRIORITY_DEFAULT_IDLE the pass would only run once every socket is
 * empty or the queue full, and under a flood events would wait, cold in
 * cache, in batches of thousands; doc/performance.md.) A pass sends queued
 * events until max-unflushed messages are unconfirmed, asking GDBus for a
 * flush after every half window, so one half is being written while the
 * next is being serialised.
 */
#include <string.h>

#include "ingester-iface.h"
#include "relay.h"
#include "util.h"
#include "vwriter.h"

#define INTERFACE "org.ingester.Ingester1"
#define RECONNECT_MIN_MSEC 100
#define RECONNECT_MAX_MSEC 5000

G_DEFINE_QUARK(ingester - relay - error - quark, relay_error)

typedef enum {
        NAME_PENDING,
        NAME_OWNED,
        NAME_LOST,
} NameState;

struct Relay {
        const Config *config;
        Queue *queue;
        Stats *stats;
        RelayCallbacks cb;
        gpointer user_data;

        char *address;
        GDBusConnection *conn;
        gulong closed_handler;
        guint own_id;
        guint object_id;
        NameState name;
        bool can_pass_fds;

        guint pump_idle;
        unsigned unflushed; /* messages handed to GDBus, write not yet confirmed */
        unsigned batch;     /* of those, sent since the last flush request */
        unsigned flushes;   /* flush requests whose result has not come back */
        bool settling;      /* a connection was lost; its flushes are still reporting */

        guint reconnect_timer;
        unsigned backoff_msec;

        bool draining;
        guint drain_timer;
};

typedef struct {
        Relay *r;
        unsigned count;
} FlushBatch;

static void relay_pump(Relay *r);
static void relay_connect_async(Relay *r);

/* ---- the Event signal ---- */

/* meta a{sv}, written directly in serialised form (vwriter.h explains why) */
static GVariant *build_meta(const Event *ev, unsigned fds_dropped)
{
        const char *transport = transport_name(ev->transport);
        const char *codec = codec_format_name(ev->codec);
        VFrame array;
        VMember m;
        VWriter *w = vwriter_acquire();

#define MEMBER(key, signature, write)                                                              \
        do {                                                                                       \
                vwriter_member_begin(w, &m, key, strlen(key));                                     \
                write;                                                                             \
                vwriter_member_end(w, &array, &m, signature);                                      \
        } while (0)

        vwriter_array_begin(w, &array);
        MEMBER("seq", "t", vwriter_uint64(w, ev->seq));
        MEMBER("received-usec", "x", vwriter_int64(w, ev->received_usec));
        MEMBER("pid", "i", vwriter_int32(w, ev->pid));
        MEMBER("uid", "u", vwriter_uint32(w, ev->uid));
        MEMBER("gid", "u", vwriter_uint32(w, ev->gid));
        MEMBER("transport", "s", vwriter_string(w, transport, strlen(transport)));
        MEMBER("codec", "s", vwriter_string(w, codec, strlen(codec)));
        if (fds_dropped)
                MEMBER("fds-dropped", "u", vwriter_uint32(w, fds_dropped));
#undef MEMBER
        vwriter_array_end(w, &array);
        return vwriter_finish(w, G_VARIANT_TYPE_VARDICT);
}

static gboolean send_event(Relay *r, const Event *ev, GError **error)
{
        g_autoptr(GDBusMessage) m =
                g_dbus_message_new_signal(r->config->object_path, INTERFACE, "Event");
        g_autoptr(GUnixFDList) fdl = NULL;
        g_autoptr(GVariant) meta = NULL;
        gint32 handles[CONFIG_MAX_FDS_CEILING];
        unsigned n_handles = 0, fds_dropped = 0;
        GVariant *body[4];

        if (ev->n_fds > 0 && r->can_pass_fds) {
                fdl = g_unix_fd_list_new();
                for (unsigned i = 0; i < ev->n_fds; i++) {
                        /* a dup: the event keeps its fds until the write is confirmed */
                        gint idx = g_unix_fd_list_append(fdl, ev->fds[i], error);
                        if (idx < 0)
                                return FALSE;
                        handles[n_handles++] = idx;
                }
        } else if (ev->n_fds > 0) {
                fds_dropped = ev->n_fds;
                r->stats->fds_not_forwarded += ev->n_fds;
        }
        meta = build_meta(ev, fds_dropped);
        /* g_variant_new_tuple, not g_variant_new("(@s@a{sv}@a{sv}@ah)"): the
         * format-string parser and its type checks were 8% of the main
         * thread under load (perf, doc/performance.md). */
        body[0] = ev->type;
        body[1] = ev->data;
        body[2] = meta;
        body[3] = g_variant_new_fixed_array(G_VARIANT_TYPE_HANDLE, handles, n_handles,
                                            sizeof(gint32));
        g_dbus_message_set_body(m, g_variant_new_tuple(body, G_N_ELEMENTS(body)));
        if (fdl)
                g_dbus_message_set_unix_fd_list(m, fdl);
        return g_dbus_connection_send_message(r->conn, m, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL,
                                              error);
}

static void check_drained(Relay *r)
{
        if (r->draining && r->queue->len == 0) {
                r->draining = false;
                g_clear_handle_id(&r->drain_timer, g_source_remove);
                if (r->cb.drained)
                        r->cb.drained(r->user_data);
        }
}

/*
 * After a connection is lost, what GDBus held goes back to waiting, but only
 * once every flush requested on it has reported: GDBus completes each one,
 * with success for messages it did write (the report can arrive after the
 * "closed" signal), so those events are confirmed rather than sent twice.
 */
static void settle_after_close(Relay *r)
{
        if (!r->settling || r->flushes > 0)
                return;
        r->settling = false;
        r->queue->in_flight = 0;
        r->unflushed = 0;
        r->batch = 0;
}

static void on_flushed(GObject *source, GAsyncResult *res, gpointer user_data)
{
        FlushBatch *b = user_data;
        Relay *r = b->r;
        g_autoptr(GError) error = NULL;
        gboolean ok = g_dbus_connection_flush_finish(G_DBUS_CONNECTION(source), res, &error);

        r->flushes--;
        if (ok) {
                /* in-flight events are the queue's head, in the order they were sent */
                for (unsigned i = 0; i < b->count; i++) {
                        event_free(queue_pop(r->queue));
                        r->stats->emitted++;
                }
                r->unflushed -= b->count;
        } else {
                g_message("bus write failed: %s", error->message);
        }
        g_free(b);
        settle_after_close(r);
        if (ok && r->cb.space)
                r->cb.space(r->user_data);
        relay_pump(r);
        check_drained(r);
}

/*
 * At most one flush is outstanding. Each g_dbus_connection_flush() is a
 * GTask run in a pool thread that blocks in the GDBus worker's flush_sync;
 * with one per pump pass, a steady trickle of events piled up a hundred
 * such threads, and with GLib 2.74 their flushes stopped completing: the
 * relay stalled with its window full (found by make bench at 5k events/s).
 * One outstanding flush covers everything sent before it; what is sent
 * meanwhile is covered by the next one, requested when it reports.
 */
static void request_flush(Relay *r)
{
        FlushBatch *b;

        if (r->batch == 0 || r->flushes > 0)
                return;
        b = g_new0(FlushBatch, 1);
        b->r = r;
        b->count = r->batch;
        r->batch = 0;
        r->flushes++;
        g_dbus_connection_flush(r->conn, NULL, on_flushed, b);
}

/* Benchmark mode (--bench-no-emit): everything up to the bus, then nothing. */
static void discard_all(Relay *r)
{
        Event *ev;

        while ((ev = queue_pop(r->queue))) {
                event_free(ev);
                r->stats->emitted++;
        }
        if (r->cb.space)
                r->cb.space(r->user_data);
        check_drained(r);
}

static void relay_pump(Relay *r)
{
        Queue *q = r->queue;
        unsigned half = MAX(r->config->max_unflushed / 2, 1);

        if (r->config->no_emit) {
                discard_all(r);
                return;
        }
        /* after a reconnect, wait until the old connection's flushes have all reported */
        if (!r->conn || r->name != NAME_OWNED || r->settling)
                return;
        while (r->unflushed < r->config->max_unflushed && q->in_flight < q->len) {
                g_autoptr(GError) error = NULL;

                if (!send_event(r, queue_peek(q, q->in_flight), &error)) {
                        g_message("cannot send an event: %s", error->message);
                        break; /* a closed connection: on_closed() takes over */
                }
                q->in_flight++;
                r->unflushed++;
                if (++r->batch >= half)
                        request_flush(r);
        }
        /* a smaller flush only when nothing else waits: latency when idle,
         * few flushes under load */
        if (q->in_flight == q->len)
                request_flush(r);
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

/* ---- the stats object ---- */

static GVariant *rejected_by_reason(const Stats *s)
{
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a{st}"));
        for (unsigned i = 1; i < _STATS_REASON_MAX; i++)
                g_variant_builder_add(&b, "{st}", stats_reason_name((StatsReason) i),
                                      (guint64) s->rejected[i]);
        return g_variant_builder_end(&b);
}

static GVariant *get_stats(Relay *r)
{
        const Stats *s = r->stats;
        const Queue *q = r->queue;
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", "packets", g_variant_new_uint64(s->packets));
        g_variant_builder_add(&b, "{sv}", "received", g_variant_new_uint64(s->received));
        g_variant_builder_add(&b, "{sv}", "emitted", g_variant_new_uint64(s->emitted));
        g_variant_builder_add(&b, "{sv}", "dropped", g_variant_new_uint64(s->dropped));
        g_variant_builder_add(&b, "{sv}", "rejected", rejected_by_reason(s));
        g_variant_builder_add(&b, "{sv}", "rejected-total",
                              g_variant_new_uint64(stats_rejected_total(s)));
        g_variant_builder_add(&b, "{sv}", "queue-depth", g_variant_new_uint32((guint32) q->len));
        g_variant_builder_add(&b, "{sv}", "queue-capacity",
                              g_variant_new_uint32((guint32) q->capacity));
        g_variant_builder_add(&b, "{sv}", "queue-bytes", g_variant_new_uint64(q->bytes));
        g_variant_builder_add(&b, "{sv}", "queue-capacity-bytes",
                              g_variant_new_uint64(q->capacity_bytes));
        g_variant_builder_add(&b, "{sv}", "queue-high-water",
                              g_variant_new_uint32((guint32) q->high_water));
        g_variant_builder_add(&b, "{sv}", "in-flight", g_variant_new_uint32((guint32) q->in_flight));
        g_variant_builder_add(&b, "{sv}", "policy", g_variant_new_string(queue_policy_name(q->policy)));
        g_variant_builder_add(&b, "{sv}", "connections", g_variant_new_uint32(s->connections));
        g_variant_builder_add(&b, "{sv}", "connections-accepted",
                              g_variant_new_uint64(s->connections_accepted));
        g_variant_builder_add(&b, "{sv}", "fds-not-forwarded",
                              g_variant_new_uint64(s->fds_not_forwarded));
        g_variant_builder_add(&b, "{sv}", "bus-reconnects", g_variant_new_uint64(s->bus_reconnects));
        g_variant_builder_add(&b, "{sv}", "uptime-usec",
                              g_variant_new_uint64((guint64) (g_get_monotonic_time() -
                                                              s->started_usec)));
        g_variant_builder_add(&b, "{sv}", "version", g_variant_new_string(PACKAGE_VERSION));
        return g_variant_builder_end(&b);
}

static void on_method_call(GDBusConnection *conn, const char *sender, const char *path,
                           const char *iface, const char *method, GVariant *params,
                           GDBusMethodInvocation *inv, gpointer user_data)
{
        Relay *r = user_data;

        if (strcmp(method, "GetStats") == 0) {
                g_dbus_method_invocation_return_value(inv, g_variant_new("(@a{sv})", get_stats(r)));
                return;
        }
        g_dbus_method_invocation_return_error(inv, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                              "no method %s", method);
}

static GVariant *on_get_property(GDBusConnection *conn, const char *sender, const char *path,
                                 const char *iface, const char *prop, GError **error,
                                 gpointer user_data)
{
        Relay *r = user_data;
        const Stats *s = r->stats;

        if (strcmp(prop, "Received") == 0)
                return g_variant_new_uint64(s->received);
        if (strcmp(prop, "Emitted") == 0)
                return g_variant_new_uint64(s->emitted);
        if (strcmp(prop, "Dropped") == 0)
                return g_variant_new_uint64(s->dropped);
        if (strcmp(prop, "Rejected") == 0)
                return g_variant_new_uint64(stats_rejected_total(s));
        if (strcmp(prop, "QueueDepth") == 0)
                return g_variant_new_uint32((guint32) r->queue->len);
        if (strcmp(prop, "QueueCapacity") == 0)
                return g_variant_new_uint32((guint32) r->queue->capacity);
        if (strcmp(prop, "QueueHighWater") == 0)
                return g_variant_new_uint32((guint32) r->queue->high_water);
        if (strcmp(prop, "Connections") == 0)
                return g_variant_new_uint32(s->connections);
        if (strcmp(prop, "UptimeUsec") == 0)
                return g_variant_new_uint64(
                        (guint64) (g_get_monotonic_time() - s->started_usec));
        if (strcmp(prop, "Version") == 0)
                return g_variant_new_string(PACKAGE_VERSION);
        g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "no property %s", prop);
        return NULL;
}

static const GDBusInterfaceVTable vtable = {
        .method_call = on_method_call,
        .get_property = on_get_property,
};

/* ---- connection and name ---- */

static void on_name_acquired(GDBusConnection *conn, const char *name, gpointer user_data)
{
        Relay *r = user_data;

        r->name = NAME_OWNED;
        r->backoff_msec = RECONNECT_MIN_MSEC;
        g_message("owning %s on %s", name, r->address);
        relay_kick(r);
}

static void on_name_lost(GDBusConnection *conn, const char *name, gpointer user_data)
{
        Relay *r = user_data;
        NameState before = r->name;

        if (conn == NULL || g_dbus_connection_is_closed(conn))
                return; /* the connection went away: on_closed() handles it */
        r->name = NAME_LOST;
        if (before == NAME_OWNED && r->cb.name_lost) {
                g_message("lost %s to another owner", name);
                r->cb.name_lost(r->user_data);
        }
}

/* @release: hand the name back with g_bus_unown_name(). Not when quitting:
 * see relay_free(). */
static void drop_connection(Relay *r, bool release)
{
        if (!r->conn)
                return;
        if (release)
                g_clear_handle_id(&r->own_id, g_bus_unown_name);
        r->own_id = 0;
        if (r->object_id) {
                g_dbus_connection_unregister_object(r->conn, r->object_id);
                r->object_id = 0;
        }
        g_clear_signal_handler(&r->closed_handler, r->conn);
        g_clear_object(&r->conn);
        r->settling = true;
        settle_after_close(r);
}

static gboolean on_reconnect_timer(gpointer user_data)
{
        Relay *r = user_data;

        r->reconnect_timer = 0;
        relay_connect_async(r);
        return G_SOURCE_REMOVE;
}

static void schedule_reconnect(Relay *r)
{
        if (r->reconnect_timer)
                return;
        r->reconnect_timer = g_timeout_add(r->backoff_msec, on_reconnect_timer, r);
        r->backoff_msec = MIN(r->backoff_msec * 2, RECONNECT_MAX_MSEC);
}

static void on_closed(GDBusConnection *conn, gboolean remote_peer_vanished, GError *error,
                      gpointer user_data)
{
        Relay *r = user_data;

        g_message("lost the bus connection (%s); %zu events queued, reconnecting",
                  error ? error->message : "closed", r->queue->len);
        drop_connection(r, true);
        r->name = NAME_PENDING;
        schedule_reconnect(r);
}

static gboolean setup_connection(Relay *r, GDBusConnection *conn, GError **error)
{
        GBusNameOwnerFlags flags = G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT |
                                   G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE;

        r->conn = g_object_ref(conn);
        g_dbus_connection_set_exit_on_close(conn, FALSE);
        r->can_pass_fds =
                (g_dbus_connection_get_capabilities(conn) & G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING) != 0;
        if (!r->can_pass_fds)
                g_message("the bus connection cannot pass file descriptors: events go out without "
                          "them (meta fds-dropped)");
        r->closed_handler = g_signal_connect(conn, "closed", G_CALLBACK(on_closed), r);
        r->object_id = g_dbus_connection_register_object(
                conn, r->config->object_path,
                (GDBusInterfaceInfo *) &org_ingester_ingester1_interface, &vtable, r, NULL, error);
        if (!r->object_id)
                return FALSE;
        if (r->config->replace)
                flags |= G_BUS_NAME_OWNER_FLAGS_REPLACE;
        r->name = NAME_PENDING;
        r->own_id = g_bus_own_name_on_connection(conn, r->config->bus_name, flags, on_name_acquired,
                                                 on_name_lost, r, NULL);
        return TRUE;
}

static void on_connected(GObject *source, GAsyncResult *res, gpointer user_data)
{
        Relay *r = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusConnection) conn = g_dbus_connection_new_for_address_finish(res, &error);

        if (!conn) {
                g_message("cannot reach the bus at %s: %s", r->address, error->message);
                schedule_reconnect(r);
                return;
        }
        if (!setup_connection(r, conn, &error)) {
                g_message("cannot set up the bus connection: %s", error->message);
                drop_connection(r, true);
                schedule_reconnect(r);
                return;
        }
        r->stats->bus_reconnects++;
}

static void relay_connect_async(Relay *r)
{
        g_dbus_connection_new_for_address(r->address,
                                          G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                  G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                          NULL, NULL, on_connected, r);
}

Relay *relay_new(const Config *config, Queue *queue, Stats *stats, const RelayCallbacks *cb,
                 gpointer user_data)
{
        Relay *r = g_new0(Relay, 1);

        r->config = config;
        r->queue = queue;
        r->stats = stats;
        r->cb = *cb;
        r->user_data = user_data;
        r->backoff_msec = RECONNECT_MIN_MSEC;
        return r;
}

gboolean relay_start(Relay *r, GError **error)
{
        g_autoptr(GDBusConnection) conn = NULL;

        if (strcmp(r->config->bus_address, "session") == 0 ||
            strcmp(r->config->bus_address, "system") == 0) {
                GBusType type = strcmp(r->config->bus_address, "system") == 0 ? G_BUS_TYPE_SYSTEM
                                                                              : G_BUS_TYPE_SESSION;
                r->address = g_dbus_address_get_for_bus_sync(type, NULL, error);
                if (!r->address)
                        return FALSE;
        } else {
                r->address = g_strdup(r->config->bus_address);
        }
        conn = g_dbus_connection_new_for_address_sync(
                r->address,
                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                NULL, NULL, error);
        if (!conn) {
                g_prefix_error(error, "cannot connect to the bus at %s: ", r->address);
                return FALSE;
        }
        if (!setup_connection(r, conn, error))
                return FALSE;
        while (r->name == NAME_PENDING && r->conn)
                g_main_context_iteration(NULL, TRUE);
        if (r->name != NAME_OWNED) {
                g_set_error(error, RELAY_ERROR, RELAY_ERROR_NAME_TAKEN,
                            "the name %s is owned by another connection (use --replace to take "
                            "it over)",
                            r->config->bus_name);
                return FALSE;
        }
        return TRUE;
}

static gboolean on_drain_timeout(gpointer user_data)
{
        Relay *r = user_data;

        r->drain_timer = 0;
        g_message("shutdown: %zu events could not be delivered in time", r->queue->len);
        r->draining = false;
        if (r->cb.drained)
                r->cb.drained(r->user_data);
        return G_SOURCE_REMOVE;
}

void relay_drain(Relay *r, unsigned timeout_sec)
{
        r->draining = true;
        r->drain_timer = g_timeout_add_seconds(timeout_sec, on_drain_timeout, r);
        relay_pump(r);
        check_drained(r);
}

const char *relay_address(const Relay *r)
{
        return r->address;
}

void relay_free(Relay *r)
{
        if (!r)
                return;
        g_clear_handle_id(&r->pump_idle, g_source_remove);
        g_clear_handle_id(&r->reconnect_timer, g_source_remove);
        g_clear_handle_id(&r->drain_timer, g_source_remove);
        if (r->conn) {
                /* Written, then closed: the bus releases our name with the
                 * connection. g_bus_unown_name() is not called here. After a
                 * --replace the name is no longer ours and GLib 2.74 would
                 * still send ReleaseName (needs_release stays set on
                 * NameLost); on the closed connection that call fails with a
                 * g_warning. Closing first was not enough: CI saw the warning
                 * once in ~20 runs. The owner record GLib keeps is reachable
                 * from its own table and goes with the process. */
                g_dbus_connection_flush_sync(r->conn, NULL, NULL);
                g_dbus_connection_close_sync(r->conn, NULL, NULL);
        }
        drop_connection(r, false);
        g_free(r->address);
        g_free(r);
}

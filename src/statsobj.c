/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* statsobj.c — the daemon's figures as the bus shows them (see statsobj.h). */
#include <string.h>

#include "statsobj.h"

static GVariant *rejected_by_reason(const Stats *s)
{
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a{st}"));
        for (unsigned i = 1; i < _REASON_MAX; i++)
                g_variant_builder_add(&b, "{st}", reason_name((Reason) i),
                                      (guint64) s->rejected[i]);
        return g_variant_builder_end(&b);
}

/* The busiest senders, with their own counters: who floods, at a glance. */
/* The busiest uids: one row per uid, its senders together. */
static GVariant *busiest_users(const Queue *q)
{
        const QueueUser *top[QUEUE_BUSIEST_MAX];
        size_t n = queue_busiest_users(q, top, G_N_ELEMENTS(top));
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("aa{sv}"));
        for (size_t i = 0; i < n; i++) {
                const QueueUser *u = top[i];
                g_variant_builder_open(&b, G_VARIANT_TYPE_VARDICT);
                g_variant_builder_add(&b, "{sv}", "uid", g_variant_new_uint32(u->uid));
                g_variant_builder_add(&b, "{sv}", "senders", g_variant_new_uint32((guint32) u->lanes));
                g_variant_builder_add(&b, "{sv}", "senders-active",
                                      g_variant_new_uint32((guint32) u->n_active));
                g_variant_builder_add(&b, "{sv}", "connections",
                                      g_variant_new_uint32((guint32) u->connections));
                g_variant_builder_add(&b, "{sv}", "received", g_variant_new_uint64(u->received));
                g_variant_builder_add(&b, "{sv}", "emitted", g_variant_new_uint64(u->emitted));
                g_variant_builder_add(&b, "{sv}", "dropped", g_variant_new_uint64(u->dropped));
                g_variant_builder_add(&b, "{sv}", "quarantined",
                                      g_variant_new_uint64(u->quarantined));
                g_variant_builder_add(&b, "{sv}", "rate-limited",
                                      g_variant_new_uint64(u->rate_limited));
                g_variant_builder_add(&b, "{sv}", "max-wait", g_variant_new_uint64(u->max_wait));
                g_variant_builder_close(&b);
        }
        return g_variant_builder_end(&b);
}

static GVariant *busiest_senders(const Queue *q)
{
        const Lane *top[QUEUE_BUSIEST_MAX];
        size_t n = queue_busiest(q, top, G_N_ELEMENTS(top));
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("aa{sv}"));
        for (size_t i = 0; i < n; i++) {
                const Lane *l = top[i];
                g_variant_builder_open(&b, G_VARIANT_TYPE_VARDICT);
                if (!l->shared) {
                        g_variant_builder_add(&b, "{sv}", "pid", g_variant_new_int32(l->pid));
                        g_variant_builder_add(&b, "{sv}", "uid", g_variant_new_uint32(l->uid));
                        g_variant_builder_add(&b, "{sv}", "gid", g_variant_new_uint32(l->gid));
                }
                g_variant_builder_add(&b, "{sv}", "transport",
                                      g_variant_new_string(transport_name(l->transport)));
                g_variant_builder_add(&b, "{sv}", "listener",
                                      g_variant_new_string(l->where ? l->where : ""));
                g_variant_builder_add(&b, "{sv}", "shared", g_variant_new_boolean(l->shared));
                g_variant_builder_add(&b, "{sv}", "connected", g_variant_new_boolean(l->attached));
                g_variant_builder_add(&b, "{sv}", "received", g_variant_new_uint64(l->received));
                g_variant_builder_add(&b, "{sv}", "emitted", g_variant_new_uint64(l->emitted));
                g_variant_builder_add(&b, "{sv}", "dropped", g_variant_new_uint64(l->dropped));
                g_variant_builder_add(&b, "{sv}", "quarantined",
                                      g_variant_new_uint64(l->quarantined));
                g_variant_builder_add(&b, "{sv}", "rate-limited",
                                      g_variant_new_uint64(l->rate_limited));
                g_variant_builder_add(&b, "{sv}", "queued",
                                      g_variant_new_uint32((guint32) l->events));
                g_variant_builder_add(&b, "{sv}", "max-wait", g_variant_new_uint64(l->max_wait));
                g_variant_builder_close(&b);
        }
        return g_variant_builder_end(&b);
}

GVariant *statsobj_stats(const Stats *s, const Queue *q, bool fds_withheld)
{
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", "packets", g_variant_new_uint64(s->packets));
        g_variant_builder_add(&b, "{sv}", "attempts", g_variant_new_uint64(s->attempts));
        g_variant_builder_add(&b, "{sv}", "controls", g_variant_new_uint64(s->controls));
        g_variant_builder_add(&b, "{sv}", "held", g_variant_new_uint64(q->len));
        g_variant_builder_add(&b, "{sv}", "received", g_variant_new_uint64(s->received));
        g_variant_builder_add(&b, "{sv}", "emitted", g_variant_new_uint64(s->emitted));
        g_variant_builder_add(&b, "{sv}", "dropped", g_variant_new_uint64(q->dropped));
        g_variant_builder_add(&b, "{sv}", "quarantined", g_variant_new_uint64(q->quarantined));
        g_variant_builder_add(&b, "{sv}", "rejected", rejected_by_reason(s));
        g_variant_builder_add(&b, "{sv}", "rejected-total",
                              g_variant_new_uint64(stats_rejected_total(s)));
        g_variant_builder_add(&b, "{sv}", "queue-depth", g_variant_new_uint32((guint32) q->len));
        g_variant_builder_add(&b, "{sv}", "queue-capacity",
                              g_variant_new_uint32((guint32) q->capacity));
        g_variant_builder_add(&b, "{sv}", "queue-bytes", g_variant_new_uint64(q->bytes));
        g_variant_builder_add(&b, "{sv}", "queue-capacity-bytes",
                              g_variant_new_uint64(q->capacity_bytes));
        g_variant_builder_add(&b, "{sv}", "queue-fds", g_variant_new_uint64(q->fds));
        g_variant_builder_add(&b, "{sv}", "queue-capacity-fds",
                              g_variant_new_uint64(q->capacity_fds));
        g_variant_builder_add(&b, "{sv}", "queue-high-water",
                              g_variant_new_uint32((guint32) q->high_water));
        g_variant_builder_add(&b, "{sv}", "in-flight", g_variant_new_uint32((guint32) q->in_flight));
        g_variant_builder_add(&b, "{sv}", "policy", g_variant_new_string(queue_policy_name(q->policy)));
        g_variant_builder_add(&b, "{sv}", "senders-active", g_variant_new_uint32((guint32) q->n_active));
        g_variant_builder_add(&b, "{sv}", "senders-dgram", g_variant_new_uint32((guint32) q->n_dgram));
        g_variant_builder_add(&b, "{sv}", "senders", busiest_senders(q));
        g_variant_builder_add(&b, "{sv}", "users", busiest_users(q));
        g_variant_builder_add(&b, "{sv}", "users-active",
                              g_variant_new_uint32((guint32) q->n_users_active));
        g_variant_builder_add(&b, "{sv}", "connections", g_variant_new_uint32(s->connections));
        g_variant_builder_add(&b, "{sv}", "connections-accepted",
                              g_variant_new_uint64(s->connections_accepted));
        g_variant_builder_add(&b, "{sv}", "fds-not-forwarded",
                              g_variant_new_uint64(s->fds_not_forwarded));
        g_variant_builder_add(&b, "{sv}", "bus-reconnects", g_variant_new_uint64(s->bus_reconnects));
        g_variant_builder_add(&b, "{sv}", "resent", g_variant_new_uint64(s->resent));
        g_variant_builder_add(&b, "{sv}", "batches", g_variant_new_uint64(s->batches));
        g_variant_builder_add(&b, "{sv}", "batched", g_variant_new_uint64(s->batched));
        g_variant_builder_add(&b, "{sv}", "fds-withheld", g_variant_new_boolean(fds_withheld));
        g_variant_builder_add(&b, "{sv}", "accept-failures",
                              g_variant_new_uint64(s->accept_failures));
        g_variant_builder_add(&b, "{sv}", "accept-pauses", g_variant_new_uint64(s->accept_pauses));
        g_variant_builder_add(&b, "{sv}", "uptime-usec",
                              g_variant_new_uint64((guint64) (g_get_monotonic_time() -
                                                              s->started_usec)));
        g_variant_builder_add(&b, "{sv}", "version", g_variant_new_string(PACKAGE_VERSION));
        return g_variant_builder_end(&b);
}

GVariant *statsobj_property(const Stats *s, const Queue *q, const char *prop, GError **error)
{
        if (strcmp(prop, "Received") == 0)
                return g_variant_new_uint64(s->received);
        if (strcmp(prop, "Emitted") == 0)
                return g_variant_new_uint64(s->emitted);
        if (strcmp(prop, "Dropped") == 0)
                return g_variant_new_uint64(q->dropped);
        if (strcmp(prop, "Rejected") == 0)
                return g_variant_new_uint64(stats_rejected_total(s));
        if (strcmp(prop, "QueueDepth") == 0)
                return g_variant_new_uint32((guint32) q->len);
        if (strcmp(prop, "QueueCapacity") == 0)
                return g_variant_new_uint32((guint32) q->capacity);
        if (strcmp(prop, "QueueHighWater") == 0)
                return g_variant_new_uint32((guint32) q->high_water);
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


/* Main context (GDBus dispatches to the context the object was registered in). */
static void on_method_call(GDBusConnection *conn, const char *sender, const char *path,
                           const char *iface, const char *method, GVariant *params,
                           GDBusMethodInvocation *inv, gpointer user_data)
{
        const StatsObj *o = user_data;

        if (strcmp(method, "GetStats") == 0) {
                g_dbus_method_invocation_return_value(
                        inv, g_variant_new("(@a{sv})",
                                           statsobj_stats(o->stats, o->queue, *o->fds_withheld)));
                return;
        }
        g_dbus_method_invocation_return_error(inv, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                              "no method %s", method);
}

static GVariant *on_get_property(GDBusConnection *conn, const char *sender, const char *path,
                                 const char *iface, const char *prop, GError **error,
                                 gpointer user_data)
{
        const StatsObj *o = user_data;

        return statsobj_property(o->stats, o->queue, prop, error);
}

const GDBusInterfaceVTable statsobj_vtable = {
        .method_call = on_method_call,
        .get_property = on_get_property,
};

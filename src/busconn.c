/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * busconn.c — the connection, the names, the exported objects and the
 * reconnect (see busconn.h).
 *
 * Every async call gets the BusConn's GCancellable, cancelled in
 * busconn_free(); a callback that sees G_IO_ERROR_CANCELLED touches
 * nothing.
 */
#include <string.h>
#include <unistd.h>

#include "busconn.h"
#include "ingester-iface.h"
#include "log.h"
#include "schema.h"

#define RECONNECT_MIN_MSEC 100
#define RECONNECT_MAX_MSEC 5000
/* A connection that lived this long resets the backoff; one that dies
 * sooner (a bus that throws us off right after we claimed the name) does
 * not, so it is not retried ten times a second. */
#define RECONNECT_STABLE_USEC (5 * G_USEC_PER_SEC)

GQuark busconn_error_quark(void)
{
        return g_quark_from_static_string("ingester-busconn-error-quark");
}

typedef enum {
        NAME_PENDING,
        NAME_OWNED,
        NAME_LOST,
} NameState;

struct BusConn {
        const Config *config;
        const Schemas *schemas; /* may be NULL */
        Stats *stats;
        BusConnObject object;
        BusConnCallbacks cb;
        gpointer user_data;
        GCancellable *cancel;

        char *address;
        GDBusConnection *conn;
        char *guid; /* of the bus instance conn is (or was last) on */
        bool can_pass_fds;
        gint64 connected_usec;
        gulong closed_handler;
        guint object_id;
        GArray *schema_objects; /* guint: the schemas' interfaces, exported */
        guint own_id;
        GArray *extra_own_ids;  /* guint: the schemas' bus names */
        unsigned names_owned;   /* of 1 + the schemas' names */
        char *refused_name;     /* the name the bus gave to another, or refused */
        NameState name;

        guint reconnect_timer;
        unsigned backoff_msec;
};

static void connect_async(BusConn *b);

/* ---- names ---- */

/* 1 + the schemas' bus names: every one must be ours before anything goes out. */
static unsigned names_wanted(const BusConn *b)
{
        return 1 + (b->schemas ? b->schemas->bus_names->len : 0);
}

/* Main context. */
static void on_name_acquired(GDBusConnection *conn, const char *name, gpointer user_data)
{
        BusConn *b = user_data;

        g_message("owning %s on %s", name, b->address);
        if (++b->names_owned < names_wanted(b))
                return;
        b->name = NAME_OWNED;
        if (b->cb.up)
                b->cb.up(b->conn, b->user_data);
}

/* Main context. */
static void on_name_lost(GDBusConnection *conn, const char *name, gpointer user_data)
{
        BusConn *b = user_data;
        NameState before = b->name;

        if (conn == NULL || g_dbus_connection_is_closed(conn))
                return; /* the connection went away: on_closed() handles it */
        g_free(b->refused_name);
        b->refused_name = g_strdup(name);
        b->name = NAME_LOST;
        if (before == NAME_OWNED) {
                g_message("lost %s to another owner", name);
                if (b->cb.name_lost)
                        b->cb.name_lost(b->user_data);
        }
}

/* ---- objects ---- */

/* A schema's methods and properties: declared, so introspection and codegen
 * see them, but a hub's methods need a service of their own. */
static void on_schema_method_call(GDBusConnection *conn, const char *sender, const char *path,
                                  const char *iface, const char *method, GVariant *params,
                                  GDBusMethodInvocation *inv, gpointer user_data)
{
        g_dbus_method_invocation_return_dbus_error(
                inv, "org.freedesktop.DBus.Error.NotSupported",
                "ingesterd relays this interface's signals; its methods are not served here");
}

static GVariant *on_schema_get_property(GDBusConnection *conn, const char *sender,
                                        const char *path, const char *iface, const char *prop,
                                        GError **error, gpointer user_data)
{
        g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_NOT_SUPPORTED,
                    "ingesterd relays this interface's signals; its properties are not served");
        return NULL;
}

static gboolean on_schema_set_property(GDBusConnection *conn, const char *sender,
                                       const char *path, const char *iface, const char *prop,
                                       GVariant *value, GError **error, gpointer user_data)
{
        g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_NOT_SUPPORTED,
                    "ingesterd relays this interface's signals; its properties are not served");
        return FALSE;
}

static const GDBusInterfaceVTable schema_vtable = {
        .method_call = on_schema_method_call,
        .get_property = on_schema_get_property,
        .set_property = on_schema_set_property,
};

/* Every schema's interfaces at their paths, so introspection shows them. */
static gboolean export_schemas(BusConn *b, GDBusConnection *conn, GError **error)
{
        const Schemas *s = b->schemas;

        for (guint i = 0; s && i < s->nodes->len; i++) {
                GDBusNodeInfo *node = s->nodes->pdata[i];
                for (GDBusInterfaceInfo **iface = node->interfaces; iface && *iface; iface++) {
                        guint id = g_dbus_connection_register_object(conn, node->path, *iface,
                                                                     &schema_vtable, b, NULL,
                                                                     error);
                        if (!id)
                                return FALSE;
                        g_array_append_val(b->schema_objects, id);
                }
        }
        return TRUE;
}

/* ---- the connection ---- */

/* @release: hand the names back with g_bus_unown_name(). Not when quitting:
 * see busconn_free(). */
static void drop_connection(BusConn *b, bool release)
{
        if (!b->conn)
                return;
        if (release)
                g_clear_handle_id(&b->own_id, g_bus_unown_name);
        b->own_id = 0;
        for (guint i = 0; i < b->extra_own_ids->len; i++)
                if (release)
                        g_bus_unown_name(g_array_index(b->extra_own_ids, guint, i));
        g_array_set_size(b->extra_own_ids, 0);
        b->names_owned = 0;
        if (b->object_id) {
                g_dbus_connection_unregister_object(b->conn, b->object_id);
                b->object_id = 0;
        }
        for (guint i = 0; i < b->schema_objects->len; i++)
                g_dbus_connection_unregister_object(b->conn,
                                                    g_array_index(b->schema_objects, guint, i));
        g_array_set_size(b->schema_objects, 0);
        g_clear_signal_handler(&b->closed_handler, b->conn);
        g_clear_object(&b->conn);
}

static gboolean on_reconnect_timer(gpointer user_data)
{
        BusConn *b = user_data;

        b->reconnect_timer = 0;
        connect_async(b);
        return G_SOURCE_REMOVE;
}

static void schedule_reconnect(BusConn *b)
{
        if (b->reconnect_timer)
                return;
        b->reconnect_timer = g_timeout_add(b->backoff_msec, on_reconnect_timer, b);
        b->backoff_msec = MIN(b->backoff_msec * 2, RECONNECT_MAX_MSEC);
}

/* Main context (GDBus emits "closed" in the context the connection was made in). */
static void on_closed(GDBusConnection *conn, gboolean remote_peer_vanished, GError *error,
                      gpointer user_data)
{
        BusConn *b = user_data;

        if (g_get_monotonic_time() - b->connected_usec >= RECONNECT_STABLE_USEC)
                b->backoff_msec = RECONNECT_MIN_MSEC;
        if (b->cb.down)
                b->cb.down(error ? error->message : "closed", b->user_data);
        drop_connection(b, true);
        b->name = NAME_PENDING;
        schedule_reconnect(b);
}

static gboolean setup_connection(BusConn *b, GDBusConnection *conn, GError **error)
{
        GBusNameOwnerFlags flags = G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT |
                                   G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE;

        b->conn = g_object_ref(conn);
        g_free(b->guid);
        b->guid = g_strdup(g_dbus_connection_get_guid(conn));
        b->connected_usec = g_get_monotonic_time();
        g_dbus_connection_set_exit_on_close(conn, FALSE);
        b->can_pass_fds = (g_dbus_connection_get_capabilities(conn) &
                           G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING) != 0;
        if (!b->can_pass_fds)
                g_message("the bus connection cannot pass file descriptors: events go out without "
                          "them (meta fds-dropped)");
        b->closed_handler = g_signal_connect(conn, "closed", G_CALLBACK(on_closed), b);
        b->object_id = g_dbus_connection_register_object(
                conn, b->config->object_path,
                (GDBusInterfaceInfo *) &org_ingester_ingester1_interface, b->object.vtable,
                b->object.user_data, NULL, error);
        if (!b->object_id)
                return FALSE;
        if (!export_schemas(b, conn, error))
                return FALSE;
        if (b->config->replace)
                flags |= G_BUS_NAME_OWNER_FLAGS_REPLACE;
        b->name = NAME_PENDING;
        b->names_owned = 0;
        b->own_id = g_bus_own_name_on_connection(conn, b->config->bus_name, flags, on_name_acquired,
                                                 on_name_lost, b, NULL);
        for (guint i = 0; b->schemas && i < b->schemas->bus_names->len; i++) {
                guint id = g_bus_own_name_on_connection(conn, b->schemas->bus_names->pdata[i],
                                                        flags, on_name_acquired, on_name_lost, b,
                                                        NULL);
                g_array_append_val(b->extra_own_ids, id);
        }
        return TRUE;
}

/* Main context. */
static void on_connected(GObject *source, GAsyncResult *res, gpointer user_data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusConnection) conn = g_dbus_connection_new_for_address_finish(res, &error);
        BusConn *b = user_data;

        if (!conn && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return; /* the BusConn is gone */
        if (!conn) {
                log_limited(LOG_KIND_BUS_LOST, G_LOG_LEVEL_WARNING, NULL, -1, -1,
                            "cannot reach the bus at %s: %s", b->address, error->message);
                schedule_reconnect(b);
                return;
        }
        if (!setup_connection(b, conn, &error)) {
                g_warning("cannot set up the bus connection: %s", error->message);
                drop_connection(b, true);
                schedule_reconnect(b);
                return;
        }
        stats_count_reconnect(b->stats);
}

static void connect_async(BusConn *b)
{
        g_dbus_connection_new_for_address(b->address,
                                          G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                  G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                          NULL, b->cancel, on_connected, b);
}

BusConn *busconn_new(const Config *config, const struct Schemas *schemas, Stats *stats,
                     const BusConnObject *object, const BusConnCallbacks *cb,
                     gpointer user_data)
{
        BusConn *b = g_new0(BusConn, 1);

        b->config = config;
        b->schemas = schemas;
        b->stats = stats;
        b->object = *object;
        b->cb = *cb;
        b->user_data = user_data;
        b->cancel = g_cancellable_new();
        b->backoff_msec = RECONNECT_MIN_MSEC;
        b->extra_own_ids = g_array_new(FALSE, FALSE, sizeof(guint));
        b->schema_objects = g_array_new(FALSE, FALSE, sizeof(guint));
        return b;
}

gboolean busconn_start(BusConn *b, GError **error)
{
        g_autoptr(GDBusConnection) conn = NULL;
        const char *name;

        if (strcmp(b->config->bus_address, "session") == 0 ||
            strcmp(b->config->bus_address, "system") == 0) {
                GBusType type = strcmp(b->config->bus_address, "system") == 0 ? G_BUS_TYPE_SYSTEM
                                                                              : G_BUS_TYPE_SESSION;
                b->address = g_dbus_address_get_for_bus_sync(type, NULL, error);
                if (!b->address)
                        return FALSE;
        } else {
                b->address = g_strdup(b->config->bus_address);
        }
        conn = g_dbus_connection_new_for_address_sync(
                b->address,
                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                NULL, b->cancel, error);
        if (!conn) {
                g_prefix_error(error, "cannot connect to the bus at %s: ", b->address);
                return FALSE;
        }
        if (!setup_connection(b, conn, error))
                return FALSE;
        while (b->name == NAME_PENDING && b->conn)
                g_main_context_iteration(NULL, TRUE);
        if (!b->conn) {
                /* The bus went away while the name was being granted: not a refusal.
                 * on_closed() has scheduled the reconnect; start, and queue meanwhile.
                 * (test-fairness stopped the bus right after the bus had granted the
                 * name, and the daemon exited 3 saying the name was taken.) */
                g_message("the bus went away while starting; reconnecting to %s", b->address);
                return TRUE;
        }
        if (b->name == NAME_OWNED)
                return TRUE;
        name = b->refused_name ? b->refused_name : b->config->bus_name;
        {
                g_autoptr(GVariant) owner = g_dbus_connection_call_sync(
                        b->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                        "org.freedesktop.DBus", "GetNameOwner", g_variant_new("(s)", name),
                        G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE, 5000, b->cancel, NULL);
                if (b->conn && !owner)
                        /* nobody has it, yet we did not get it: the bus's policy said no */
                        g_set_error(error, BUSCONN_ERROR, BUSCONN_ERROR_NAME_TAKEN,
                                    "the bus does not let uid %u own %s: on the system bus its "
                                    "policy (dbus-1/system.d/org.ingester.Ingester1.conf) lets "
                                    "only the ingester user own it",
                                    (unsigned) geteuid(), name);
                else
                        g_set_error(error, BUSCONN_ERROR, BUSCONN_ERROR_NAME_TAKEN,
                                    "the name %s is owned by another connection (use --replace "
                                    "to take it over)",
                                    name);
        }
        return FALSE;
}

const char *busconn_address(const BusConn *b)
{
        return b->address;
}

const char *busconn_guid(const BusConn *b)
{
        return b->guid;
}

bool busconn_can_pass_fds(const BusConn *b)
{
        return b->can_pass_fds;
}

void busconn_free(BusConn *b)
{
        if (!b)
                return;
        g_cancellable_cancel(b->cancel);
        g_clear_handle_id(&b->reconnect_timer, g_source_remove);
        if (b->conn) {
                /* Written, then closed: the bus releases our names with the
                 * connection. g_bus_unown_name() is not called here. After a
                 * --replace the name is no longer ours and GLib 2.74 would
                 * still send ReleaseName (needs_release stays set on
                 * NameLost); on the closed connection that call fails with a
                 * g_warning. Closing first was not enough: CI saw the warning
                 * once in ~20 runs. The owner record GLib keeps is reachable
                 * from its own table and goes with the process. */
                g_dbus_connection_flush_sync(b->conn, NULL, NULL);
                g_dbus_connection_close_sync(b->conn, NULL, NULL);
        }
        drop_connection(b, false);
        g_clear_object(&b->cancel);
        g_free(b->guid);
        g_free(b->refused_name);
        g_clear_pointer(&b->extra_own_ids, g_array_unref);
        g_clear_pointer(&b->schema_objects, g_array_unref);
        g_free(b->address);
        g_free(b);
}

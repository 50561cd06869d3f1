/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * busconn.h — the daemon's place on the bus: one GDBus connection, the
 * well-known names (the daemon's, and each schema's org.ingester.BusName),
 * the exported objects (the daemon's interface, whose vtable its owner
 * gives, and the schemas' interfaces), and getting back onto the bus with
 * backoff when the connection goes away.
 *
 * It tells its owner (the relay) when the connection is usable — connected
 * and every name ours — and when it is gone, and never sends an event:
 * what goes out and when is the relay's (relay.h).
 *
 * GLib edge: gboolean + GError. Every callback runs in the default main
 * context, the daemon's thread (GDBus emits "closed" and the name
 * callbacks in the context the connection was made in).
 */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>

#include "config.h"
#include "stats.h"

struct Schemas; /* schema.h */

typedef struct BusConn BusConn;

typedef struct {
        /* Connected, and every name is ours: the relay may send on conn. */
        void (*up)(GDBusConnection *conn, gpointer user_data);
        /* The connection is closing (why: the bus's word, or "closed"). Called
         * before it is dropped, so busconn_guid() still names its bus; a
         * reconnect is scheduled after. */
        void (*down)(const char *why, gpointer user_data);
        /* A name that was ours went to another owner (--replace). */
        void (*name_lost)(gpointer user_data);
} BusConnCallbacks;

/* The daemon's object: its interface's vtable and that vtable's user_data. */
typedef struct {
        const GDBusInterfaceVTable *vtable;
        gpointer user_data;
} BusConnObject;

BusConn *busconn_new(const Config *config, const struct Schemas *schemas, Stats *stats,
                     const BusConnObject *object, const BusConnCallbacks *cb,
                     gpointer user_data);
void busconn_free(BusConn *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BusConn, busconn_free)

#define BUSCONN_ERROR (busconn_error_quark())
typedef enum {
        BUSCONN_ERROR_NAME_TAKEN,
        BUSCONN_ERROR_FAILED,
} BusConnError;
GQuark busconn_error_quark(void);

/*
 * Connects, exports the objects and claims the names; iterates the default
 * main context until the names are ours. Fails when the bus cannot be
 * reached or (BUSCONN_ERROR_NAME_TAKEN) a name is owned by another
 * connection and --replace was not given or not allowed. A bus that goes
 * away while the names are being granted is no failure: the reconnect is
 * scheduled, and up() comes once it worked.
 */
gboolean busconn_start(BusConn *b, GError **error);

/* The address busconn_start() resolved (for logs and tests). */
const char *busconn_address(const BusConn *b);
/* The guid of the bus instance the connection is (or was last) on, or NULL. */
const char *busconn_guid(const BusConn *b);
/* Whether the connection can pass file descriptors. */
bool busconn_can_pass_fds(const BusConn *b);

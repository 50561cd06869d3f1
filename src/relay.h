/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * relay.h — the bus side of the queue: the Event, EventBatch and typed
 * signals, bounded and confirmed by the bus (the connection, the names and
 * the reconnect are busconn.h's, which the relay owns).
 *
 * GDBus never reports backpressure: g_dbus_connection_send_message() only
 * appends to an unbounded write queue. The relay therefore hands GDBus at
 * most max-unflushed events (one message each, or several to a batch
 * under signal-form=batch), and learns that the bus has processed them
 * from the reply to a method call sent after them; only then do their
 * events leave the queue (queue.h). A lost connection thus loses nothing
 * that was queued: its unconfirmed events are sent again after the
 * reconnect (at-least-once; the seq in meta tells a subscriber a repeat).
 *
 * GLib edge: gboolean + GError.
 */
#pragma once

#include <gio/gio.h>

#include "config.h"
#include "queue.h"
#include "stats.h"

typedef struct Relay Relay;

typedef struct {
        /* events left the queue: room for more (listener resume under block) */
        void (*space)(gpointer user_data);
        /* the well-known name went to another owner (--replace) */
        void (*name_lost)(gpointer user_data);
        /* relay_drain(): the queue is empty */
        void (*drained)(gpointer user_data);
} RelayCallbacks;

struct Schemas; /* schema.h: the typed signals and their bus names (may be NULL) */
Relay *relay_new(const Config *config, const struct Schemas *schemas, Queue *queue,
                 Stats *stats, const RelayCallbacks *cb, gpointer user_data);
void relay_free(Relay *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Relay, relay_free)

/*
 * Connects, exports the objects and claims the names (busconn_start());
 * iterates the default main context until the names are ours. Fails when
 * the bus cannot be reached or (BUSCONN_ERROR_NAME_TAKEN) a name is owned
 * by another connection and --replace was not given or not allowed.
 */
gboolean relay_start(Relay *r, GError **error);

/* New events are queued: emit them soon. */
void relay_kick(Relay *r);

/* Emit everything queued, then call cb->drained. The caller bounds the time
 * (main.c's drain-timeout covers reading the sockets and this together). */
void relay_drain(Relay *r);

/* The address relay_start() resolved (for logs and tests). */
const char *relay_address(const Relay *r);

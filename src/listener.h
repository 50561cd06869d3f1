/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener.h — the daemon's sockets at run time: accepting connections and
 * reading packets and lines into intake (intake.h), which queues them
 * (socket.h binds the sockets, reader.h reads them).
 *
 * It owns the socket paths it binds (and unlinks them only while their
 * inode is still the one it bound), every connection, and every fd that
 * arrives with a packet until the packet is queued or refused. It never
 * talks to the bus and never blocks: all sockets are non-blocking, and a
 * socket yields after `batch` packets so no sender starves another.
 *
 * Errors: listener_new() is GLib-style (gboolean + GError, LISTENER_ERROR
 * from socket.h for paths that are in use or unsafe); the receive path
 * counts and logs refusals through Stats and never fails.
 */
#pragma once

#include <gio/gio.h>
#include <glib-unix.h>

#include "config.h"
#include "socket.h"
#include "queue.h"
#include "stats.h"

typedef struct Listener Listener;
struct Schemas; /* schema.h: the typed signals events are checked against (may be NULL) */

typedef struct {
        /* an event was queued (the relay's kick) */
        void (*queued)(gpointer user_data);
        /* after listener_stop_input(): every socket and connection is read to the end */
        void (*input_done)(gpointer user_data);
} ListenerCallbacks;

/*
 * Binds (or adopts, for systemd-passed fds) every socket of config->listens.
 * Nothing is read until listener_resume().
 */
Listener *listener_new(const Config *config, const struct Schemas *schemas, Queue *queue,
                       Stats *stats, const ListenerCallbacks *cb, gpointer user_data,
                       GError **error);

/* Stop / start watching the sockets (block policy). */
void listener_pause(Listener *l);
void listener_resume(Listener *l);
bool listener_is_paused(const Listener *l);

/* Descriptors were freed (events left the queue): a listener that could not
 * accept() for lack of them tries again now rather than at its timer. */
void listener_fds_freed(Listener *l);

/* Events left the queue: a sender stopped at its lane's share (block policy)
 * is read again once a quarter of its share is free. */
void listener_space(Listener *l);

/*
 * The configuration was reloaded (config_reload()): the packet buffer follows
 * max-event-size, the sockets it bound take the new receive-buffer and
 * backlog, and a raised max-connections accepts again at once. Nothing is
 * closed: connections past a lowered max-connections stay open.
 */
void listener_reconfigure(Listener *l);

/*
 * Graceful stop: the paths we bound are unlinked (a new instance can bind
 * them at once) and every socket and connection is shut down for reading,
 * so a sender's next send fails (EPIPE) or connect is refused and its
 * retry finds the next instance, while everything the kernel had already
 * accepted is still read and queued. Connections waiting in the backlog are
 * accepted and read too. Sockets passed by systemd are left alone, their
 * packets kept for the next instance. cb->input_done reports the end.
 */
void listener_stop_input(Listener *l);

/* Closes every socket and connection; unlinks the paths it still owns. */
void listener_free(Listener *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Listener, listener_free)


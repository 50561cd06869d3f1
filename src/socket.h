/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * socket.h — binding the daemon's AF_UNIX sockets safely, and adopting
 * systemd's.
 *
 * A path is bound only in a private directory (created 0700, else owned by
 * us and not group/world writable), never over a symlink or a non-socket,
 * over a socket only when nobody answers on it (stale), with its mode set
 * at bind time (umask, no chmod window). A bound path is unlinked only
 * while its inode is still the one bound. Sockets passed by systemd
 * (LISTEN_FDS) are used as they are and never unlinked.
 *
 * GLib edge: gboolean + GError, LISTENER_ERROR_ADDRESS_IN_USE when another
 * daemon answers on a path, LISTENER_ERROR_UNSAFE_PATH for the rest of the
 * refusals (main.c maps the domain to exit status 4).
 */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#include "config.h"

#define LISTENER_ERROR (listener_error_quark())
typedef enum {
        LISTENER_ERROR_ADDRESS_IN_USE, /* a live socket answers at the path */
        LISTENER_ERROR_UNSAFE_PATH,    /* symlink, non-socket, foreign or writable directory */
        LISTENER_ERROR_FAILED,
} ListenerError;
GQuark listener_error_quark(void);

typedef struct {
        const char *path; /* the spec's; for socket_unlink() */
        int fd;
        bool owned; /* bound by us: unlink at exit while still ours */
        dev_t dev;
        ino_t ino;
} BoundSocket;

/* Binds spec's path (ret->path must be set). On a failure after bind(),
 * ret->fd and ret->owned are set, so that the caller's cleanup still closes
 * and unlinks it. SEQPACKET sockets listen with the given backlog. */
gboolean socket_bind(const ListenSpec *spec, int receive_buffer, unsigned backlog,
                     BoundSocket *ret, GError **error);

/* Takes spec->fd (systemd's) as it is: non-blocking, close-on-exec, SO_PASSCRED. */
gboolean socket_adopt(const ListenSpec *spec, BoundSocket *ret, GError **error);

/* Unlinks the path if we bound it and it is still that inode; then not owned. */
void socket_unlink(BoundSocket *s);

/* SO_RCVBUFFORCE when we may (CAP_NET_ADMIN), else SO_RCVBUF. */
void socket_set_rcvbuf(int fd, int size);

/* The sockets systemd passed, in *ret (socket_activated_free()); their
 * number, 0 without libsystemd, or -1 with an error (one is neither an
 * AF_UNIX datagram socket nor a listening seqpacket or stream socket). */
ssize_t socket_activated(ActivatedSocket **ret, GError **error);
void socket_activated_free(ActivatedSocket *a, size_t n);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config.h — ingesterd's settings: defaults, then the key file (--config),
 * then the command line, each overriding the one before.
 *
 * GLib edge: gboolean + GError. Errors are G_OPTION_ERROR_BAD_VALUE or
 * G_KEY_FILE_ERROR and always name the key or option at fault; main.c maps
 * them to exit status 2. Every limit has its default here, its key in
 * doc/ingesterd.conf.example and its ceiling in the check.
 */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#include "codec.h"
#include "queue.h"

/* dbus-daemon's default max_message_unix_fds: a message carrying more makes
 * the bus disconnect its sender, so the relay must never send one. */
#define CONFIG_MAX_FDS_CEILING 16U
/* SCM_MAX_FD in the kernel: a larger control message is truncated anyway */
#define CONFIG_SCM_MAX_FD 253U

typedef struct {
        Transport transport;
        char *path;
        mode_t mode;
        gid_t group; /* (gid_t) -1: leave the group alone */
        CodecFormat codec;
        GArray *allow_uids; /* uid_t */
        GArray *allow_gids; /* gid_t */
        int fd;             /* >= 0: passed by systemd; never bound nor unlinked */
} ListenSpec;

typedef struct {
        char *bus_address; /* "session", "system" or a D-Bus address */
        char *bus_name;
        char *object_path;
        gboolean replace;
        unsigned max_unflushed; /* messages handed to GDBus before waiting for the write */

        size_t max_event_size;
        unsigned max_fds;
        CodecLimits limits;
        unsigned max_connections;
        unsigned batch; /* packets read per socket per wakeup */
        int receive_buffer;

        size_t queue_capacity;
        size_t queue_capacity_bytes;
        QueuePolicy policy;
        unsigned drain_timeout_sec;

        unsigned log_burst;
        unsigned log_interval_sec;

        GPtrArray *listens; /* ListenSpec*; empty: the defaults (or systemd's sockets) */
        gboolean no_emit;   /* benchmark only: queue, then discard instead of emitting */
} Config;

void config_init(Config *c);
void config_deinit(Config *c);

/* Parses argv (and the --config file it names). *ret_exit is set, and TRUE
 * returned, when the command line asked for --help/--version output only. */
gboolean config_parse(Config *c, int *argc, char ***argv, gboolean *ret_exit, GError **error);

/* Applies a key file's settings. */
gboolean config_load_file(Config *c, const char *path, GError **error);

/* "dgram:PATH" or "seqpacket:PATH" */
ListenSpec *listen_spec_parse(const char *arg, GError **error);
ListenSpec *listen_spec_new(Transport t, const char *path);
void listen_spec_free(ListenSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ListenSpec, listen_spec_free)

/*
 * The default socket directory: $XDG_RUNTIME_DIR/ingester, else
 * /run/user/UID/ingester when /run/user/UID exists; /run/ingester for root.
 * NULL with an error when there is none (never a /tmp fallback).
 */
char *config_default_socket_dir(GError **error);
/* Fills c->listens with the two default sockets when it is empty. */
gboolean config_add_default_listens(Config *c, GError **error);

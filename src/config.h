/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config.h — ingesterd's settings: defaults, then the key file (--config),
 * then the command line, each overriding the one before.
 *
 * Only config.c (the table of [bus], [limits], [queue], [log]) and
 * config-listen.c (the listeners) write a Config; every other module reads
 * it. Neither touches process state (the RLIMIT_NOFILE bump is main.c's)
 * nor a socket (socket.c finds systemd's sockets, config adopts them).
 *
 * GLib edge: gboolean + GError. Errors are G_OPTION_ERROR_BAD_VALUE or
 * G_KEY_FILE_ERROR and always name the key or option at fault; main.c maps
 * them to exit status 2. Every limit has its default here, its key in
 * doc/ingesterd.conf.example and its ceiling in the check.
 */
#pragma once

#include <gio/gio.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "buslimits.h"
#include "codec.h"
#include "log.h"
#include "queue.h"

/*
 * Each setting's default (CONFIG_DEFAULT_*) beside its ceiling, with where
 * the value comes from. The table in config.c is the one place that names
 * a key's section, option, parser, bounds, default and reload rule.
 */

/* [bus] max-unflushed: events handed to GDBus before the relay waits for
 * the bus's confirmation; 512 keeps the bus busy and what GDBus holds small
 * (doc/performance.md, "Relay"). */
#define CONFIG_DEFAULT_MAX_UNFLUSHED 512U
#define CONFIG_MAX_UNFLUSHED_CEILING 65536U
/* [bus] batch-max-events: events per EventBatch signal. 64 is where the
 * bus's fixed cost per message stops mattering (doc/performance.md,
 * "Batches"); past a few hundred a bigger message only makes subscribers
 * wait longer for its first event. */
#define CONFIG_DEFAULT_BATCH_MAX_EVENTS 64U
#define CONFIG_BATCH_MAX_EVENTS_CEILING 4096U

/* [limits] max-event-size: 64 KiB, a packet the default socket buffers
 * take whole. Its ceiling, 16 MiB: a packet's decoded message must also
 * stay under the bus's message ceiling (BUS_MAX_MESSAGE_SIZE, 32 MiB),
 * which is checked per event after decoding: msgpack expands up to ~16x. */
#define CONFIG_DEFAULT_MAX_EVENT_SIZE 65536U
#define CONFIG_MAX_EVENT_SIZE_CEILING (16U << 20)
/* [limits] max-large-event-size: a 16 MiB JSON event and room; at most
 * dbus-daemon's max_message_size, which its message must still fit after
 * decoding (busmsg.h). */
#define CONFIG_DEFAULT_MAX_LARGE_EVENT_SIZE (20U << 20)
#define CONFIG_MAX_LARGE_EVENT_SIZE_CEILING BUS_MAX_MESSAGE_SIZE
/* [limits] max-fds: descriptors per event; at most dbus-daemon's
 * max_message_unix_fds (a message carrying more makes the bus disconnect
 * its sender, so the relay must never send one). */
#define CONFIG_DEFAULT_MAX_FDS 8U
#define CONFIG_MAX_FDS_CEILING BUS_MAX_MESSAGE_FDS
/* SCM_MAX_FD in the kernel: a larger control message is truncated anyway */
#define CONFIG_SCM_MAX_FD 253U
/* [limits] max-connections: 256 senders at once; each costs a descriptor,
 * and past the ceiling the fd budget, not the setting, is what binds. */
#define CONFIG_DEFAULT_MAX_CONNECTIONS 256U
/* [limits] max-connections-per-uid: half the connections, so one uid that
 * opens as many as it may still leaves the other half to the others. */
#define CONFIG_DEFAULT_MAX_CONNECTIONS_PER_UID 128U
#define CONFIG_MAX_CONNECTIONS_CEILING 65536U
/* [limits] backlog: SOMAXCONN since Linux 5.4; listen()'s argument is capped
 * by net.core.somaxconn and stored by the kernel in 16 bits before 5.4. */
#define CONFIG_DEFAULT_BACKLOG 4096U
#define CONFIG_BACKLOG_CEILING 65535U
/* [limits] batch: packets read per socket per wakeup, so no socket starves
 * another; 128 amortises the main loop's wakeup (doc/performance.md). */
#define CONFIG_DEFAULT_BATCH 128U
#define CONFIG_BATCH_CEILING 4096U
/* [limits] receive-buffer: SO_RCVBUF, 1 MiB (the kernel doubles it); the
 * ceiling because SO_RCVBUF takes an int. */
#define CONFIG_DEFAULT_RECEIVE_BUFFER (1U << 20)
#define CONFIG_RECEIVE_BUFFER_CEILING (G_MAXINT / 2)

/* [queue] capacity: 4096 events, about 5 s of a typical flow at the bus's
 * pace; capacity-bytes 16 MiB; capacity-fds 0, derived from RLIMIT_NOFILE
 * (config_fd_budget_for()). */
#define CONFIG_DEFAULT_QUEUE_CAPACITY 4096U
#define CONFIG_QUEUE_CAPACITY_CEILING (1U << 24)
#define CONFIG_DEFAULT_QUEUE_CAPACITY_BYTES (16U << 20)
/* capacity-bytes: a size_t that x - x/4 and sums of footprints cannot wrap */
#define CONFIG_QUEUE_CAPACITY_BYTES_CEILING (G_MAXSIZE / 4)
/* capacity-fds, when set: no more than a descriptor table can hold (the
 * kernel's fs.nr_open default, 1048576) */
#define CONFIG_QUEUE_CAPACITY_FDS_CEILING (1U << 20)
/* [queue] drain-timeout: 5 s to read the sockets and emit the queue at a
 * graceful stop, under systemd's default TimeoutStopSec= of 90 s. */
#define CONFIG_DEFAULT_DRAIN_TIMEOUT 5U
#define CONFIG_DRAIN_TIMEOUT_CEILING 3600U
/* [queue] max-dgram-senders: DGRAM lanes (pid, uid) before new senders share
 * one: 1024 senders is more than a host runs readers. */
#define CONFIG_DEFAULT_MAX_DGRAM_SENDERS 1024U
#define CONFIG_MAX_DGRAM_SENDERS_CEILING 65536U
/* [queue] rate-limit-interval and -burst: off (0) by default; the shares
 * already protect the others, and a budget drops legitimate bursts. */
#define CONFIG_RATE_INTERVAL_CEILING_MSEC (3600U * 1000U)
#define CONFIG_RATE_BURST_CEILING (1U << 30)

/* [log] burst and interval: 10 lines per kind per 10 s (journald's
 * RateLimitBurst= spirit). A burst past the ceiling is no limit; an
 * interval past a day hides a flood. */
#define CONFIG_DEFAULT_LOG_BURST LOG_DEFAULT_BURST
#define CONFIG_LOG_BURST_CEILING 1000000U
#define CONFIG_DEFAULT_LOG_INTERVAL LOG_DEFAULT_INTERVAL_SEC
#define CONFIG_LOG_INTERVAL_CEILING 86400U

/* Descriptors the fd budget keeps aside besides the connections: stdio,
 * the listening sockets, the bus connection and GDBus's worker (eventfds,
 * the worker's wakeups), timers, and one packet's worth of SCM_RIGHTS
 * (a packet over max-fds still installs all its fds before it is refused). */
#define CONFIG_FD_RESERVE (64U + CONFIG_SCM_MAX_FD)

typedef struct {
        char *name; /* NAME of its [listen:NAME] section, or of the fd systemd passed; or NULL */
        Transport transport;
        char *path; /* NULL only for a section that names an activated socket */
        mode_t mode;
        gid_t group; /* (gid_t) -1: leave the group alone */
        CodecFormat codec;
        GArray *allow_uids; /* uid_t */
        GArray *allow_gids; /* gid_t */
        bool allow_any;     /* allow-uids=*: whoever the socket's permissions let in */
        bool allow_set;     /* the allow-lists were configured, not defaulted */
        bool implicit;      /* a default socket, or an activated one no section names */
        int fd;             /* >= 0: passed by systemd; never bound nor unlinked */
} ListenSpec;

/* What an event goes out as (doc/protocol.md, "Signals"). */
typedef enum {
        SIGNAL_FORM_EVENT = 0, /* one Event signal per event */
        SIGNAL_FORM_BATCH,     /* EventBatch signals of up to batch-max-events */
        SIGNAL_FORM_BOTH,      /* each event in both: twice the bus's work */
} SignalForm;

const char *signal_form_name(SignalForm f);

typedef struct {
        char *bus_address; /* "session", "system" or a D-Bus address */
        char *bus_name;
        char *object_path;
        gboolean replace;
        unsigned max_unflushed; /* events handed to GDBus before waiting for the write */
        GPtrArray *schema_paths;   /* char*: [bus] schemas, then --schema */
        gboolean typed_also_event; /* a typed event goes out as Event too */
        SignalForm signal_form;
        unsigned batch_max_events; /* events per EventBatch signal */
        gboolean check_config;     /* --check-config: check, report, exit */

        size_t max_event_size;
        size_t max_large_event_size; /* an event passed as a memfd (largefd.h) */
        unsigned max_fds;
        CodecLimits limits;
        unsigned max_connections;
        unsigned max_connections_per_uid;
        unsigned backlog; /* listen() backlog of SEQPACKET sockets */
        unsigned batch;   /* packets read per socket per wakeup */
        int receive_buffer;

        size_t queue_capacity;
        size_t queue_capacity_bytes;
        size_t queue_capacity_fds; /* 0: derived from RLIMIT_NOFILE (config_fd_budget()) */
        QueuePolicy policy;
        unsigned drain_timeout_sec;
        unsigned max_dgram_senders;   /* DGRAM lanes before new senders share one */
        guint64 rate_interval_msec;   /* per-sender rate limit; 0: none */
        unsigned rate_burst;          /* events per interval; 0: none */

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

/* The system instance: on the system bus (--system, [bus] address=system). */
bool config_is_system(const Config *c);

/*
 * The default socket directory. The system instance: $RUNTIME_DIRECTORY
 * (systemd's RuntimeDirectory=), else /run/ingester. A session instance:
 * $XDG_RUNTIME_DIR/ingester, else /run/user/UID/ingester when /run/user/UID
 * exists; /run/ingester for root. NULL with an error when there is none
 * (never a /tmp fallback).
 */
char *config_default_socket_dir(const Config *c, GError **error);
/*
 * The descriptor budget under a descriptor limit (main.c raises the soft
 * RLIMIT_NOFILE to the hard one and passes it): how many descriptors the
 * queue may hold (its events' fds plus the duplicates handed to GDBus),
 * half of what the limit leaves after max-connections and CONFIG_FD_RESERVE
 * (plus one per listener), or queue_capacity_fds when set. max-connections
 * is lowered to half of what the reserve leaves when it does not fit (the
 * caller warns: compare it before and after).
 */
size_t config_fd_budget_for(Config *c, rlim_t limit);

/*
 * SIGHUP: moves into c, the running configuration, what can change while
 * running from next (parsed afresh from the same command line and file):
 * every [limits], [queue] and [log] key, [bus] max-unflushed, signal-form,
 * batch-max-events and typed-also-event, and each
 * listener's codec and allow-lists. What differs but cannot change — the
 * bus, the name, the object path, which listeners exist and their paths,
 * transports, modes and groups — is left as it runs and named in *fixed
 * (a "[section] key" string each). next is not used up; the caller frees it.
 */
void config_reload(Config *c, Config *next, GPtrArray *fixed);

/* A socket systemd passed (LISTEN_FDS), as socket_activated() finds it: its
 * descriptor, its FileDescriptorName= (NULL when it has none), its type and
 * its path (NULL when unnamed). */
typedef struct {
        int fd;
        char *name;
        Transport transport;
        char *path;
} ActivatedSocket;

/*
 * Gives each socket systemd passed its listener: the [listen:NAME] section
 * its name names, else the section with its path, else a listener of its
 * own with the instance's defaults; its type must be the section's
 * transport (else an error naming the section). Sections left without a
 * socket are bound by the daemon as usual.
 */
gboolean config_adopt_activated(Config *c, const ActivatedSocket *socks, size_t n,
                                GError **error);

/*
 * After config_adopt_activated(): fills c->listens with the two default
 * sockets when it is empty, refuses a section that has neither a path nor
 * an activated socket, and gives every listener whose allow-lists were not
 * configured its instance's default: the daemon's own uid and root for a
 * session instance; for the system instance, whoever the socket's mode and
 * group let in (default sockets 0660, group of the daemon).
 */
gboolean config_finish_listens(Config *c, GError **error);

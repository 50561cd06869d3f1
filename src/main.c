/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * main.c — ingesterd: wires config, listener, queue and relay together;
 * signals, readiness, shutdown, exit statuses.
 *
 * Order of startup: sockets first (so a second instance fails before it
 * touches the bus), then the bus and the name, then reading; readiness is
 * announced (sd_notify) only when all three hold. Exit statuses are
 * documented in ingesterd(8):
 *   0 clean shutdown, 1 runtime failure, 2 invalid command line or config,
 *   3 bus name taken, 4 a socket path is in use or unsafe.
 */
#include <locale.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "busconn.h"
#include "config.h"
#include "listener.h"
#include "relay.h"
#include "schema.h"

enum {
        EXIT_OK = 0,
        EXIT_RUNTIME = 1,
        EXIT_USAGE = 2,
        EXIT_NAME_TAKEN = 3,
        EXIT_SOCKET = 4,
};

typedef struct {
        char **args; /* the command line, parsed again at SIGHUP */
        Config config;
        Schemas schemas;
        Stats stats;
        Queue queue;
        Listener *listener;
        Relay *relay;
        GMainLoop *loop;
        bool stopping;
        bool started;      /* sockets, bus and name are set up: signals act at once */
        bool stop_pending; /* SIGTERM/SIGINT came while starting */
        guint deadline_timer; /* stopping: drain-timeout */
        guint status_timer;   /* STATUS= for systemctl status, under a service manager */
        guint watchdog_timer; /* WATCHDOG=1 from the main loop (WatchdogSec=) */
} Daemon;

/* How often STATUS= is refreshed under a service manager. */
#define STATUS_INTERVAL_SEC 5

static void notify(const char *state)
{
#ifdef HAVE_SYSTEMD
        (void) sd_notify(0, state);
#else
        (void) state;
#endif
}

/* The counters, for `systemctl status`. */
static void notify_status(Daemon *d)
{
        g_autofree char *state = g_strdup_printf(
                "STATUS=%s%" G_GUINT64_FORMAT " received, %" G_GUINT64_FORMAT
                " emitted, %" G_GUINT64_FORMAT " dropped, %" G_GUINT64_FORMAT
                " rejected, %zu queued, %u connections",
                d->stopping ? "stopping: " : "", d->stats.received, d->stats.emitted,
                d->queue.dropped, stats_rejected_total(&d->stats), d->queue.len,
                d->stats.connections);
        notify(state);
}

static gboolean on_status_timer(gpointer user_data)
{
        notify_status(user_data);
        return G_SOURCE_CONTINUE;
}

/* Sent from the main loop itself: a loop that is stuck stops sending it, and
 * the service manager restarts the daemon. */
static gboolean on_watchdog_timer(gpointer user_data)
{
        notify("WATCHDOG=1");
        return G_SOURCE_CONTINUE;
}

static void start_service_timers(Daemon *d)
{
#ifdef HAVE_SYSTEMD
        uint64_t usec = 0;

        if (!g_getenv("NOTIFY_SOCKET"))
                return;
        d->status_timer = g_timeout_add_seconds(STATUS_INTERVAL_SEC, on_status_timer, d);
        /* sd_watchdog_enabled() checks WATCHDOG_PID and keeps the variables for us */
        if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
                d->watchdog_timer =
                        g_timeout_add((guint) MAX(usec / 2000, 1), on_watchdog_timer, d);
#else
        (void) d;
#endif
}

/* Events left the queue: under block, read again once a quarter is free;
 * descriptors were freed, so a listener starved of them tries again. */
static void resume_if_room(Daemon *d)
{
        if (listener_is_paused(d->listener) && queue_has_room(&d->queue))
                listener_resume(d->listener);
}

static void on_space(gpointer user_data)
{
        Daemon *d = user_data;

        resume_if_room(d);
        listener_space(d->listener);
        listener_fds_freed(d->listener);
}

static void on_queued(gpointer user_data)
{
        Daemon *d = user_data;
        relay_kick(d->relay);
}

static void on_drained(gpointer user_data)
{
        Daemon *d = user_data;
        g_main_loop_quit(d->loop);
}

/* Every socket is read to the end: now only the queue is left. */
static void on_input_done(gpointer user_data)
{
        Daemon *d = user_data;

        g_message("shutdown: every socket read; emitting %zu queued events", d->queue.len);
        relay_drain(d->relay);
}

static gboolean on_deadline(gpointer user_data)
{
        Daemon *d = user_data;

        d->deadline_timer = 0;
        g_warning("shutdown: drain-timeout (%u s) ran out with %zu events queued; they are lost",
                  d->config.drain_timeout_sec, d->queue.len);
        g_main_loop_quit(d->loop);
        return G_SOURCE_REMOVE;
}

/*
 * A graceful stop loses nothing the kernel accepted (doc/protocol.md §6):
 * senders are turned to the next instance at once, everything already in
 * the sockets is read, and the queue is emitted, all within drain-timeout.
 */
static void begin_shutdown(Daemon *d, const char *why)
{
        if (d->stopping)
                return;
        d->stopping = true;
        d->deadline_timer = g_timeout_add_seconds(d->config.drain_timeout_sec, on_deadline, d);
        g_message("%s: stopping; reading what the sockets hold, then draining %zu queued events",
                  why, d->queue.len);
        notify("STOPPING=1");
        notify_status(d);
        listener_stop_input(d->listener);
}

/*
 * The descriptor budget: the soft RLIMIT_NOFILE is raised to the hard limit
 * (the soft one is for select() users; we poll: dbus-broker's
 * util_bump_nofile()), then config_fd_budget_for() divides what it allows.
 * Says so when max-connections had to be lowered to fit.
 */
static size_t fd_budget(Config *c)
{
        struct rlimit rl;
        unsigned wanted = c->max_connections;
        size_t budget;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                rl.rlim_cur = rl.rlim_max = 1024;
        if (rl.rlim_cur < rl.rlim_max) {
                rlim_t before = rl.rlim_cur;
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        rl.rlim_cur = before;
        }
        budget = config_fd_budget_for(c, rl.rlim_cur == RLIM_INFINITY
                                                 ? (rlim_t) CONFIG_QUEUE_CAPACITY_FDS_CEILING * 4
                                                 : rl.rlim_cur);
        if (c->max_connections < wanted)
                g_warning("RLIMIT_NOFILE is %lu: max-connections lowered from %u to %u",
                          (unsigned long) rl.rlim_cur, wanted, c->max_connections);
        return budget;
}

/* The limits the running queue and log take from the configuration. */
static void apply_limits(Daemon *d)
{
        log_set_limits(d->config.log_burst, d->config.log_interval_sec);
        queue_set_limits(&d->queue, d->config.queue_capacity, d->config.queue_capacity_bytes,
                         fd_budget(&d->config), d->config.policy);
        /* a lane may always hold the relay's window and a read batch: one sender alone
         * keeps the bus as busy as it ever could */
        queue_set_shares(&d->queue, (size_t) d->config.max_unflushed + d->config.batch,
                         d->config.max_dgram_senders);
        queue_set_rate_limit(&d->queue, (int64_t) d->config.rate_interval_msec * 1000,
                             d->config.rate_burst);
}

/*
 * SIGHUP: the command line and the file it names are read again; what can
 * change while running changes (config_reload()), nothing queued is lost
 * and no socket or connection is closed. A configuration that does not
 * parse changes nothing.
 */
static void reload(Daemon *d)
{
        g_auto(GStrv) args = g_strdupv(d->args);
        int argc = (int) g_strv_length(args);
        /* the option parser takes what it parsed out of argv without freeing it:
         * it works on a copy of the pointers, args keeps every string to free */
        g_autofree char **argv = g_new0(char *, (gsize) argc + 1);
        g_autoptr(GPtrArray) fixed = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        gboolean exit_now = FALSE;
        Config next;

        if (d->stopping)
                return;
        memcpy(argv, args, sizeof(char *) * (gsize) argc);
        {
                g_autofree char *state = g_strdup_printf(
                        "RELOADING=1\nMONOTONIC_USEC=%" G_GINT64_FORMAT, g_get_monotonic_time());
                notify(state);
        }
        config_init(&next);
        if (!config_parse(&next, &argc, &argv, &exit_now, &error)) {
                g_warning("reload: %s; the running configuration is kept", error->message);
        } else {
                config_reload(&d->config, &next, fixed);
                apply_limits(d);
                listener_reconfigure(d->listener);
                resume_if_room(d); /* a raised capacity lets a paused listener read again */
                for (guint i = 0; i < fixed->len; i++)
                        g_warning("reload: %s: cannot change while running; restart to apply it",
                                  (const char *) fixed->pdata[i]);
                g_message("reloaded: capacity %zu events, %zu bytes, %zu fds, policy %s; "
                          "max-event-size %zu",
                          d->queue.capacity, d->queue.capacity_bytes, d->queue.capacity_fds,
                          queue_policy_name(d->queue.policy), d->config.max_event_size);
        }
        config_deinit(&next);
        notify("READY=1");
        notify_status(d);
}

static gboolean on_sighup(gpointer user_data)
{
        Daemon *d = user_data;

        if (d->started) /* while starting, the configuration is being read anyway */
                reload(d);
        return G_SOURCE_CONTINUE;
}

static void on_name_lost(gpointer user_data)
{
        begin_shutdown(user_data, "replaced by another instance");
}

static gboolean on_signal(gpointer user_data)
{
        Daemon *d = user_data;

        if (d->started)
                begin_shutdown(d, "signal received");
        else
                d->stop_pending = true; /* acted on once started (daemon_run()) */
        return G_SOURCE_CONTINUE;
}

static int exit_status_for(const GError *error)
{
        if (error->domain == G_OPTION_ERROR || error->domain == G_KEY_FILE_ERROR)
                return EXIT_USAGE;
        if (g_error_matches(error, BUSCONN_ERROR, BUSCONN_ERROR_NAME_TAKEN))
                return EXIT_NAME_TAKEN;
        if (error->domain == LISTENER_ERROR)
                return EXIT_SOCKET;
        return EXIT_RUNTIME;
}

/* Sockets, bus, name, then the main loop; returns the exit status. */
static int daemon_run(Daemon *d)
{
        const RelayCallbacks callbacks = {
                .space = on_space,
                .name_lost = on_name_lost,
                .drained = on_drained,
        };
        const ListenerCallbacks listener_callbacks = {
                .queued = on_queued,
                .input_done = on_input_done,
        };
        g_autoptr(GError) error = NULL;

        /* Before the bus: the name is ours as soon as the bus has granted it, before
         * our handlers would exist otherwise, and a SIGTERM then (systemctl stop
         * during startup) killed the daemon outright instead of stopping it. */
        g_unix_signal_add(SIGTERM, on_signal, d);
        g_unix_signal_add(SIGINT, on_signal, d);
        g_unix_signal_add(SIGHUP, on_sighup, d);
        d->listener = listener_new(&d->config, &d->schemas, &d->queue, &d->stats,
                                   &listener_callbacks, d, &error);
        if (d->listener)
                d->relay = relay_new(&d->config, &d->schemas, &d->queue, &d->stats, &callbacks, d);
        if (!d->listener || !relay_start(d->relay, &error)) {
                fprintf(stderr, "ingesterd: %s\n", error->message);
                return exit_status_for(error);
        }

        d->started = true;
        listener_resume(d->listener);
        for (guint i = 0; i < d->config.listens->len; i++) {
                const ListenSpec *s = d->config.listens->pdata[i];
                g_message("listening on %s (%s%s%s%s%s)", s->path, transport_name(s->transport),
                          s->fd >= 0 ? ", socket-activated" : "", s->name ? ", [listen:" : "",
                          s->name ? s->name : "", s->name ? "]" : "");
        }
        notify("READY=1");
        notify_status(d);
        start_service_timers(d);
        if (d->stop_pending)
                begin_shutdown(d, "signal received while starting");
        g_main_loop_run(d->loop);
        g_message("stopped: %" G_GUINT64_FORMAT " events received, %" G_GUINT64_FORMAT
                  " emitted, %" G_GUINT64_FORMAT " dropped, %zu left in the queue",
                  d->stats.received, d->stats.emitted, d->queue.dropped, d->queue.len);
        return EXIT_OK;
}

/* The sockets systemd passed get their listeners; then every listener
 * without a socket gets its defaults (config.h). */
static gboolean adopt_activated(Config *c, GError **error)
{
        ActivatedSocket *socks = NULL;
        ssize_t n = socket_activated(&socks, error);
        gboolean ok = n >= 0 && config_adopt_activated(c, socks, (size_t) MAX(n, 0), error) &&
                      config_finish_listens(c, error);

        socket_activated_free(socks, (size_t) MAX(n, 0));
        return ok;
}

int main(int argc, char **argv)
{
        g_autoptr(GError) error = NULL;
        gboolean exit_now = FALSE;
        Daemon d = { 0 };
        int status;

        /* the user's language for GLib's messages and help (UTF-8 "[OPTION…]");
         * numbers stay the C locale's, as JSON and the configuration write them */
        setlocale(LC_ALL, "");
        setlocale(LC_NUMERIC, "C");
        signal(SIGPIPE, SIG_IGN);
        log_install_writer();
        d.args = g_strdupv(argv);
        config_init(&d.config);
        if (!config_parse(&d.config, &argc, &argv, &exit_now, &error) ||
            (!exit_now && !adopt_activated(&d.config, &error))) {
                fprintf(stderr, "ingesterd: %s\n", error->message);
                config_deinit(&d.config);
                g_strfreev(d.args);
                return EXIT_USAGE;
        }
        if (exit_now) {
                config_deinit(&d.config);
                g_strfreev(d.args);
                return EXIT_OK;
        }
        schemas_init(&d.schemas);
        {
                g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
                g_autofree char **paths = g_new0(char *, d.config.schema_paths->len + 1);
                for (guint i = 0; i < d.config.schema_paths->len; i++)
                        paths[i] = d.config.schema_paths->pdata[i];
                schemas_load(&d.schemas, paths, errors);
                for (guint i = 0; i < errors->len; i++)
                        fprintf(stderr, "ingesterd: %s\n", (const char *) errors->pdata[i]);
                if (errors->len > 0 || d.config.check_config) {
                        if (errors->len == 0)
                                printf("ingesterd: the configuration is valid; %u schema "
                                       "file%s, %u typed signal%s, %u more bus name%s\n",
                                       d.schemas.nodes->len, d.schemas.nodes->len == 1 ? "" : "s",
                                       d.schemas.signals->len,
                                       d.schemas.signals->len == 1 ? "" : "s",
                                       d.schemas.bus_names->len,
                                       d.schemas.bus_names->len == 1 ? "" : "s");
                        status = errors->len > 0 ? EXIT_USAGE : EXIT_OK;
                        schemas_deinit(&d.schemas);
                        config_deinit(&d.config);
                        g_strfreev(d.args);
                        return status;
                }
        }

        stats_init(&d.stats);
        /* the fd capacity, and the rest again, from apply_limits() */
        queue_init(&d.queue, d.config.queue_capacity, d.config.queue_capacity_bytes, 1,
                   d.config.policy);
        apply_limits(&d);
        d.loop = g_main_loop_new(NULL, FALSE);

        status = daemon_run(&d);

        g_clear_handle_id(&d.deadline_timer, g_source_remove);
        g_clear_handle_id(&d.status_timer, g_source_remove);
        g_clear_handle_id(&d.watchdog_timer, g_source_remove);
        g_clear_pointer(&d.relay, relay_free);
        g_clear_pointer(&d.listener, listener_free);
        queue_deinit(&d.queue);
        g_clear_pointer(&d.loop, g_main_loop_unref);
        schemas_deinit(&d.schemas);
        config_deinit(&d.config);
        g_strfreev(d.args);
        return status;
}

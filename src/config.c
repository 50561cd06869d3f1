/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config.c — the settings of [bus], [limits], [queue] and [log]: one table
 * drives their defaults, the key file, the command line, the unknown-key
 * check, the reload and --help (see config.h). The listeners' sections are
 * config-listen.c's.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-internal.h"

/* ---- the table: every key of [bus], [limits], [queue] and [log] ---- */

typedef enum {
        KEY_UNSIGNED,    /* unsigned */
        KEY_SIZE,        /* size_t */
        KEY_INT,         /* int */
        KEY_MSEC,        /* guint64: a time span, N (seconds), Nms, Ns or Nmin */
        KEY_BOOL,        /* gboolean */
        KEY_STRING,      /* char*, owned */
        KEY_PATHS,       /* GPtrArray* of char*: appended to, file first */
        KEY_POLICY,      /* QueuePolicy */
        KEY_SIGNAL_FORM, /* SignalForm */
} KeyType;

/*
 * One row per key: where it lives in the file, its command-line option (if
 * any), how it is parsed and bounded, its default, and whether a reload
 * (SIGHUP) changes it while running. A key that cannot change while running
 * is reported as fixed when the reloaded configuration differs.
 */
typedef struct {
        const char *section, *key;
        const char *option; /* long option, or NULL */
        char short_option;
        KeyType type;
        size_t offset; /* into Config */
        guint64 min, max; /* numbers: the bounds (max: the ceiling) */
        guint64 def;      /* numbers, booleans and enums */
        const char *def_text; /* strings */
        bool reloadable;
        const char *help, *arg; /* the option's */
} ConfigKey;

#define NUM(sec, k, opt, sh, t, field, lo, hi, d, help, arg)                                       \
        { sec, k, opt, sh, t, G_STRUCT_OFFSET(Config, field), lo, hi, d, NULL, true, help, arg }

static const ConfigKey keys[] = {
        { "bus", "address", "address", 'a', KEY_STRING, G_STRUCT_OFFSET(Config, bus_address), 0, 0,
          0, "session", false, "Use the bus at ADDRESS (or session, system)", "ADDRESS" },
        { "bus", "name", "name", 'n', KEY_STRING, G_STRUCT_OFFSET(Config, bus_name), 0, 0, 0,
          "org.ingester.Ingester1", false, "Well-known name to own", "NAME" },
        { "bus", "object-path", "object-path", 0, KEY_STRING, G_STRUCT_OFFSET(Config, object_path),
          0, 0, 0, "/org/ingester/Ingester1", false, "Object path of the signals and stats",
          "PATH" },
        NUM("bus", "max-unflushed", NULL, 0, KEY_UNSIGNED, max_unflushed, 1,
            CONFIG_MAX_UNFLUSHED_CEILING, CONFIG_DEFAULT_MAX_UNFLUSHED, NULL, NULL),
        { "bus", "schemas", "schema", 0, KEY_PATHS, G_STRUCT_OFFSET(Config, schema_paths), 0, 0, 0,
          NULL, false,
          "Emit typed signals described by PATH, an introspection XML file or a directory of "
          "them (repeatable)",
          "PATH" },
        NUM("bus", "typed-also-event", NULL, 0, KEY_BOOL, typed_also_event, 0, 1, FALSE, NULL,
            NULL),
        NUM("bus", "signal-form", "signal-form", 0, KEY_SIGNAL_FORM, signal_form, 0, 0,
            SIGNAL_FORM_EVENT,
            "Emit each event as an Event signal (event), in EventBatch signals (batch), or both",
            "FORM"),
        NUM("bus", "batch-max-events", "batch-max-events", 0, KEY_UNSIGNED, batch_max_events, 1,
            CONFIG_BATCH_MAX_EVENTS_CEILING, CONFIG_DEFAULT_BATCH_MAX_EVENTS,
            "Most events per EventBatch signal", "N"),

        NUM("limits", "max-event-size", "max-event-size", 0, KEY_SIZE, max_event_size, 1,
            CONFIG_MAX_EVENT_SIZE_CEILING, CONFIG_DEFAULT_MAX_EVENT_SIZE,
            "Largest packet accepted, in bytes", "BYTES"),
        NUM("limits", "max-large-event-size", NULL, 0, KEY_SIZE, max_large_event_size, 0,
            CONFIG_MAX_LARGE_EVENT_SIZE_CEILING, CONFIG_DEFAULT_MAX_LARGE_EVENT_SIZE, NULL, NULL),
        NUM("limits", "max-fds", "max-fds", 0, KEY_UNSIGNED, max_fds, 0, CONFIG_MAX_FDS_CEILING,
            CONFIG_DEFAULT_MAX_FDS, "Most file descriptors per event, 0 to 16", "N"),
        NUM("limits", "max-depth", NULL, 0, KEY_UNSIGNED, limits.max_depth, 1, CODEC_DEPTH_CEILING,
            CODEC_DEFAULT_MAX_DEPTH, NULL, NULL),
        NUM("limits", "max-members", NULL, 0, KEY_UNSIGNED, limits.max_members, 1,
            CODEC_MAX_MEMBERS_CEILING, CODEC_DEFAULT_MAX_MEMBERS, NULL, NULL),
        NUM("limits", "max-string", NULL, 0, KEY_UNSIGNED, limits.max_string, 1,
            CODEC_MAX_STRING_CEILING, CODEC_DEFAULT_MAX_STRING, NULL, NULL),
        NUM("limits", "max-connections", NULL, 0, KEY_UNSIGNED, max_connections, 1,
            CONFIG_MAX_CONNECTIONS_CEILING, CONFIG_DEFAULT_MAX_CONNECTIONS, NULL, NULL),
        NUM("limits", "max-connections-per-uid", NULL, 0, KEY_UNSIGNED, max_connections_per_uid, 1,
            CONFIG_MAX_CONNECTIONS_CEILING, CONFIG_DEFAULT_MAX_CONNECTIONS_PER_UID, NULL, NULL),
        NUM("limits", "backlog", NULL, 0, KEY_UNSIGNED, backlog, 1, CONFIG_BACKLOG_CEILING,
            CONFIG_DEFAULT_BACKLOG, NULL, NULL),
        NUM("limits", "batch", NULL, 0, KEY_UNSIGNED, batch, 1, CONFIG_BATCH_CEILING,
            CONFIG_DEFAULT_BATCH, NULL, NULL),
        NUM("limits", "receive-buffer", NULL, 0, KEY_INT, receive_buffer, 4096,
            CONFIG_RECEIVE_BUFFER_CEILING, CONFIG_DEFAULT_RECEIVE_BUFFER, NULL, NULL),

        NUM("queue", "capacity", "queue-capacity", 'q', KEY_SIZE, queue_capacity, 1,
            CONFIG_QUEUE_CAPACITY_CEILING, CONFIG_DEFAULT_QUEUE_CAPACITY,
            "Queue capacity in events", "N"),
        NUM("queue", "capacity-bytes", NULL, 0, KEY_SIZE, queue_capacity_bytes, 4096,
            CONFIG_QUEUE_CAPACITY_BYTES_CEILING, CONFIG_DEFAULT_QUEUE_CAPACITY_BYTES, NULL, NULL),
        NUM("queue", "capacity-fds", NULL, 0, KEY_SIZE, queue_capacity_fds, 0,
            CONFIG_QUEUE_CAPACITY_FDS_CEILING, 0, NULL, NULL),
        NUM("queue", "policy", "policy", 'p', KEY_POLICY, policy, 0, 0, QUEUE_POLICY_BLOCK,
            "Overflow policy: block, drop-newest, drop-oldest", "POLICY"),
        NUM("queue", "drain-timeout", NULL, 0, KEY_UNSIGNED, drain_timeout_sec, 0,
            CONFIG_DRAIN_TIMEOUT_CEILING, CONFIG_DEFAULT_DRAIN_TIMEOUT, NULL, NULL),
        NUM("queue", "max-dgram-senders", NULL, 0, KEY_UNSIGNED, max_dgram_senders, 1,
            CONFIG_MAX_DGRAM_SENDERS_CEILING, CONFIG_DEFAULT_MAX_DGRAM_SENDERS, NULL, NULL),
        NUM("queue", "rate-limit-interval", NULL, 0, KEY_MSEC, rate_interval_msec, 0,
            CONFIG_RATE_INTERVAL_CEILING_MSEC, 0, NULL, NULL),
        NUM("queue", "rate-limit-burst", NULL, 0, KEY_UNSIGNED, rate_burst, 0,
            CONFIG_RATE_BURST_CEILING, 0, NULL, NULL),

        NUM("log", "burst", NULL, 0, KEY_UNSIGNED, log_burst, 1, CONFIG_LOG_BURST_CEILING,
            CONFIG_DEFAULT_LOG_BURST, NULL, NULL),
        NUM("log", "interval", NULL, 0, KEY_UNSIGNED, log_interval_sec, 1,
            CONFIG_LOG_INTERVAL_CEILING, CONFIG_DEFAULT_LOG_INTERVAL, NULL, NULL),
};

static void *field(Config *c, const ConfigKey *k)
{
        return (char *) c + k->offset;
}

static const void *field_of(const Config *c, const ConfigKey *k)
{
        return (const char *) c + k->offset;
}

/* The bytes a scalar key's field takes (strings and lists: 0). */
static size_t field_size(const ConfigKey *k)
{
        switch (k->type) {
        case KEY_UNSIGNED:
                return sizeof(unsigned);
        case KEY_SIZE:
                return sizeof(size_t);
        case KEY_INT:
                return sizeof(int);
        case KEY_MSEC:
                return sizeof(guint64);
        case KEY_BOOL:
                return sizeof(gboolean);
        case KEY_POLICY:
                return sizeof(QueuePolicy);
        case KEY_SIGNAL_FORM:
                return sizeof(SignalForm);
        case KEY_STRING:
        case KEY_PATHS:
                break;
        }
        return 0;
}

static void set_number(Config *c, const ConfigKey *k, guint64 v)
{
        void *f = field(c, k);

        switch (k->type) {
        case KEY_UNSIGNED:
                *(unsigned *) f = (unsigned) v;
                break;
        case KEY_SIZE:
                *(size_t *) f = (size_t) v;
                break;
        case KEY_INT:
                *(int *) f = (int) v;
                break;
        case KEY_MSEC:
                *(guint64 *) f = v;
                break;
        case KEY_BOOL:
                *(gboolean *) f = v ? TRUE : FALSE;
                break;
        case KEY_POLICY:
                *(QueuePolicy *) f = (QueuePolicy) v;
                break;
        case KEY_SIGNAL_FORM:
                *(SignalForm *) f = (SignalForm) v;
                break;
        case KEY_STRING:
        case KEY_PATHS:
                g_assert_not_reached();
        }
}

/* The default, as --help shows it. */
static char *default_text(const ConfigKey *k)
{
        switch (k->type) {
        case KEY_STRING:
                return g_strdup(k->def_text);
        case KEY_POLICY:
                return g_strdup(queue_policy_name((QueuePolicy) k->def));
        case KEY_SIGNAL_FORM:
                return g_strdup(signal_form_name((SignalForm) k->def));
        case KEY_BOOL:
                return g_strdup(k->def ? "true" : "false");
        case KEY_PATHS:
                return NULL;
        default:
                return g_strdup_printf("%" G_GUINT64_FORMAT, k->def);
        }
}

void config_init(Config *c)
{
        *c = (Config){ 0 };
        c->schema_paths = g_ptr_array_new_with_free_func(g_free);
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
                const ConfigKey *k = &keys[i];
                if (k->type == KEY_STRING)
                        *(char **) field(c, k) = g_strdup(k->def_text);
                else if (k->type != KEY_PATHS)
                        set_number(c, k, k->def);
        }
        c->listens = g_ptr_array_new_with_free_func((GDestroyNotify) listen_spec_free);
}

void config_deinit(Config *c)
{
        g_clear_pointer(&c->bus_address, g_free);
        g_clear_pointer(&c->bus_name, g_free);
        g_clear_pointer(&c->object_path, g_free);
        g_clear_pointer(&c->listens, g_ptr_array_unref);
        g_clear_pointer(&c->schema_paths, g_ptr_array_unref);
}

static bool same_paths(const GPtrArray *a, const GPtrArray *b)
{
        if (a->len != b->len)
                return false;
        for (guint i = 0; i < a->len; i++)
                if (strcmp(a->pdata[i], b->pdata[i]) != 0)
                        return false;
        return true;
}

void config_reload(Config *c, Config *next, GPtrArray *fixed)
{
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
                const ConfigKey *k = &keys[i];
                bool same;

                if (k->reloadable) {
                        memcpy(field(c, k), field_of(next, k), field_size(k));
                        continue;
                }
                if (k->type == KEY_STRING)
                        same = strcmp(*(char *const *) field_of(c, k),
                                      *(char *const *) field_of(next, k)) == 0;
                else if (k->type == KEY_PATHS)
                        same = same_paths(*(GPtrArray *const *) field_of(c, k),
                                          *(GPtrArray *const *) field_of(next, k));
                else
                        same = memcmp(field_of(c, k), field_of(next, k), field_size(k)) == 0;
                if (!same)
                        g_ptr_array_add(fixed, g_strdup_printf("[%s] %s", k->section, k->key));
        }
        config_listen_reload(c, next, fixed);
}

size_t config_fd_budget_for(Config *c, rlim_t limit)
{
        rlim_t reserve = (rlim_t) CONFIG_FD_RESERVE + c->listens->len;
        rlim_t left = limit > reserve ? limit - reserve : 0;

        /* connections may take at most half of what the reserve leaves */
        if (c->max_connections > left / 2)
                c->max_connections = (unsigned) MAX(left / 2, 1);
        if (c->queue_capacity_fds > 0)
                return c->queue_capacity_fds;
        /* each queued fd may also have its duplicate in GDBus's hands */
        left = left > c->max_connections ? left - c->max_connections : 0;
        return (size_t) CLAMP(left / 2, 1, CONFIG_QUEUE_CAPACITY_FDS_CEILING);
}

/* ---- validation helpers: every error names the key ---- */

static gboolean parse_policy(const char *where, const char *text, QueuePolicy *ret,
                             GError **error)
{
        if (!queue_policy_from_name(text, ret)) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "%s: '%s' is not a policy (block, drop-newest, drop-oldest)", where,
                            text);
                return FALSE;
        }
        return TRUE;
}

static const char *const signal_forms[] = { "event", "batch", "both" };

const char *signal_form_name(SignalForm f)
{
        return signal_forms[f];
}

static gboolean parse_signal_form(const char *where, const char *text, SignalForm *ret,
                                  GError **error)
{
        for (unsigned i = 0; i < G_N_ELEMENTS(signal_forms); i++)
                if (strcmp(text, signal_forms[i]) == 0) {
                        *ret = (SignalForm) i;
                        return TRUE;
                }
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "%s: '%s' is not a signal form (event, batch, both)", where, text);
        return FALSE;
}

static gboolean check(Config *c, GError **error)
{
        const char *msg = codec_limits_check(&c->limits);

        if (msg) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s", msg);
                return FALSE;
        }
        if (!g_dbus_is_name(c->bus_name) || g_dbus_is_unique_name(c->bus_name)) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "name: '%s' is not a well-known D-Bus name", c->bus_name);
                return FALSE;
        }
        if (!g_variant_is_object_path(c->object_path)) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "object-path: '%s' is not a D-Bus object path", c->object_path);
                return FALSE;
        }
        if (strcmp(c->bus_address, "session") != 0 && strcmp(c->bus_address, "system") != 0 &&
            !g_dbus_is_supported_address(c->bus_address, NULL)) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "address: '%s' is neither session, system nor a D-Bus address",
                            c->bus_address);
                return FALSE;
        }
        return TRUE;
}

/* A time span: a number with ms, s or min after it; a bare number is seconds. */
static gboolean parse_msec(const char *where, const char *text, guint64 max_msec,
                           guint64 *ret, GError **error)
{
        static const struct {
                const char *suffix;
                guint64 msec;
        } units[] = { { "ms", 1 }, { "min", 60000 }, { "s", 1000 }, { "", 1000 } };
        size_t len = strlen(text);

        for (size_t i = 0; i < G_N_ELEMENTS(units); i++) {
                size_t n = strlen(units[i].suffix);
                g_autofree char *number = NULL;
                guint64 v;

                if (len <= n || strcmp(text + len - n, units[i].suffix) != 0)
                        continue;
                number = g_strndup(text, len - n);
                if (!g_ascii_string_to_unsigned(g_strstrip(number), 10, 0,
                                                max_msec / units[i].msec, &v, NULL))
                        break;
                *ret = v * units[i].msec;
                return TRUE;
        }
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "%s: '%s' is not a time span of at most %" G_GUINT64_FORMAT
                    " s (a number with ms, s or min)",
                    where, text, max_msec / 1000);
        return FALSE;
}

/* One key's text (a file's value, or an option's argument) into c. `where`
 * names it in errors: "[section] key" or "--option". */
static gboolean parse_value(Config *c, const ConfigKey *k, const char *where, const char *text,
                            GError **error)
{
        guint64 v;

        switch (k->type) {
        case KEY_STRING:
                g_free(*(char **) field(c, k));
                *(char **) field(c, k) = g_strdup(text);
                return TRUE;
        case KEY_PATHS:
                if (*text)
                        g_ptr_array_add(*(GPtrArray **) field(c, k), g_strdup(text));
                return TRUE;
        case KEY_POLICY: {
                QueuePolicy p;
                if (!parse_policy(where, text, &p, error))
                        return FALSE;
                v = p;
                break;
        }
        case KEY_SIGNAL_FORM: {
                SignalForm f;
                if (!parse_signal_form(where, text, &f, error))
                        return FALSE;
                v = f;
                break;
        }
        case KEY_MSEC:
                if (!parse_msec(where, text, k->max, &v, error))
                        return FALSE;
                break;
        case KEY_BOOL:
                g_assert_not_reached(); /* GKeyFile's booleans: load_key() */
        default:
                if (!config_parse_uint(where, text, k->min, k->max, &v, error))
                        return FALSE;
        }
        set_number(c, k, v);
        return TRUE;
}

/* One key from the file, when present. */
static gboolean load_key(Config *c, GKeyFile *kf, const char *path, const ConfigKey *k,
                         GError **error)
{
        g_autofree char *where = NULL;

        if (!g_key_file_has_key(kf, k->section, k->key, NULL))
                return TRUE;
        where = g_strdup_printf("[%s] %s", k->section, k->key);
        if (k->type == KEY_BOOL) {
                g_autoptr(GError) bad = NULL;
                gboolean b = g_key_file_get_boolean(kf, k->section, k->key, &bad);
                if (bad) {
                        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                    "%s: %s: true or false", path, where);
                        return FALSE;
                }
                set_number(c, k, (guint64) b);
                return TRUE;
        }
        if (k->type == KEY_PATHS) {
                g_auto(GStrv) items = g_key_file_get_string_list(kf, k->section, k->key, NULL, NULL);
                for (char **p = items; p && *p; p++)
                        if (!parse_value(c, k, where, g_strstrip(*p), error))
                                return FALSE;
                return TRUE;
        }
        {
                g_autofree char *text = k->type == KEY_STRING
                                                ? g_key_file_get_string(kf, k->section, k->key, NULL)
                                                : g_key_file_get_value(kf, k->section, k->key, NULL);
                return parse_value(c, k, where, g_strstrip(text), error);
        }
}

static bool is_key(const char *section, const char *key)
{
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
                if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0)
                        return true;
        return false;
}

static bool is_section(const char *section)
{
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
                if (strcmp(keys[i].section, section) == 0)
                        return true;
        return false;
}

/* Unknown groups and keys are errors: a typo must not silently keep a default. */
static gboolean check_known(GKeyFile *kf, const char *path, GError **error)
{
        g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

        for (char **g = groups; *g; g++) {
                bool listen = g_str_has_prefix(*g, "listen:") && (*g)[strlen("listen:")] != '\0';
                g_auto(GStrv) present = NULL;

                if (!listen && !is_section(*g)) {
                        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                                    "%s: unknown section [%s]", path, *g);
                        return FALSE;
                }
                present = g_key_file_get_keys(kf, *g, NULL, NULL);
                for (char **k = present; k && *k; k++) {
                        if (listen ? g_strv_contains(config_listen_keys, *k) : is_key(*g, *k))
                                continue;
                        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                                    "%s: unknown key '%s' in [%s]", path, *k, *g);
                        return FALSE;
                }
        }
        return TRUE;
}

gboolean config_load_file(Config *c, const char *path, GError **error)
{
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) local = NULL;
        g_auto(GStrv) groups = NULL;

        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
                g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE, "%s: %s", path,
                            local->message);
                return FALSE;
        }
        if (!check_known(kf, path, error))
                return FALSE;
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
                if (!load_key(c, kf, path, &keys[i], error))
                        return FALSE;
        groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; *g; g++)
                if (g_str_has_prefix(*g, "listen:") && !config_listen_load(c, kf, *g, error))
                        return FALSE;
        return TRUE;
}

gboolean config_parse(Config *c, int *argc, char ***argv, gboolean *ret_exit, GError **error)
{
        g_autofree char *config_path = NULL;
        g_auto(GStrv) listens = NULL;
        gboolean version = FALSE, session = FALSE, system_bus = FALSE;
        /* each keyed option's argument(s), by row of keys[]: char* or char** */
        gpointer values[G_N_ELEMENTS(keys)] = { 0 };
        g_autoptr(GPtrArray) help = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GArray) entries = g_array_new(TRUE, TRUE, sizeof(GOptionEntry));
        const GOptionEntry fixed[] = {
                { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
                  "Read settings from FILE (see ingesterd.conf(5))", "FILE" },
                { "listen", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &listens,
                  "Listen on dgram:PATH, seqpacket:PATH or stream:PATH (repeatable; replaces "
                  "the defaults)",
                  "TRANSPORT:PATH" },
                { "session", 0, 0, G_OPTION_ARG_NONE, &session, "Use the session bus (default)",
                  NULL },
                { "system", 0, 0, G_OPTION_ARG_NONE, &system_bus, "Use the system bus", NULL },
                { "replace", 'r', 0, G_OPTION_ARG_NONE, &c->replace,
                  "Take the name over from a running instance", NULL },
                { "check-config", 0, 0, G_OPTION_ARG_NONE, &c->check_config,
                  "Check the configuration and the schemas, report, and exit", NULL },
                { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit",
                  NULL },
                { "bench-no-emit", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &c->no_emit,
                  "Benchmarks only: discard events instead of emitting them", NULL },
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("- relay datagrams to D-Bus signals");
        gboolean ok = TRUE;
        size_t address = 0;

        *ret_exit = FALSE;
        g_array_append_vals(entries, fixed, G_N_ELEMENTS(fixed));
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
                const ConfigKey *k = &keys[i];
                g_autofree char *def = NULL;
                GOptionEntry e = { k->option, k->short_option, 0, G_OPTION_ARG_STRING, &values[i],
                                   k->help, k->arg };

                if (!k->option)
                        continue;
                if (strcmp(k->key, "address") == 0)
                        address = i;
                if (k->type == KEY_PATHS) {
                        e.arg = G_OPTION_ARG_FILENAME_ARRAY;
                } else if ((def = default_text(k))) {
                        e.description = g_strdup_printf("%s (default %s)", k->help, def);
                        g_ptr_array_add(help, (char *) e.description);
                }
                g_array_append_val(entries, e);
        }
        g_option_context_set_summary(ctx,
                                     "Receives one JSON or msgpack event per packet on local "
                                     "AF_UNIX sockets\nand emits each as an "
                                     "org.ingester.Ingester1.Event D-Bus signal.");
        g_option_context_add_main_entries(ctx, (const GOptionEntry *) (void *) entries->data, NULL);
        if (!g_option_context_parse(ctx, argc, argv, error)) {
                ok = FALSE;
        } else if (*argc > 1) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "unexpected argument '%s'", (*argv)[1]);
                ok = FALSE;
        } else if (version) {
                printf("ingesterd %s\n", PACKAGE_VERSION);
                *ret_exit = TRUE;
        } else if (config_path && !config_load_file(c, config_path, error)) {
                ok = FALSE;
        } else if ((session ? 1 : 0) + (system_bus ? 1 : 0) + (values[address] ? 1 : 0) > 1) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "--session, --system and --address exclude each other");
                ok = FALSE;
        } else {
                if (session || system_bus)
                        values[address] = g_strdup(session ? "session" : "system");
                /* the command line over the file, row by row */
                for (size_t i = 0; ok && i < G_N_ELEMENTS(keys); i++) {
                        g_autofree char *where = g_strdup_printf("--%s", keys[i].option);
                        if (!values[i])
                                continue;
                        if (keys[i].type != KEY_PATHS) {
                                ok = parse_value(c, &keys[i], where, values[i], error);
                                continue;
                        }
                        for (char **p = values[i]; ok && *p; p++)
                                ok = parse_value(c, &keys[i], where, *p, error);
                }
                for (char **l = listens; ok && l && *l; l++) {
                        ListenSpec *spec = listen_spec_parse(*l, error);
                        if (l == listens)
                                g_ptr_array_set_size(c->listens, 0);
                        if (!spec)
                                ok = FALSE;
                        else
                                g_ptr_array_add(c->listens, spec);
                }
                ok = ok && check(c, error);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
                if (keys[i].type == KEY_PATHS)
                        g_strfreev(values[i]);
                else
                        g_free(values[i]);
        }
        return ok;
}

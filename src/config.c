/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* config.c — defaults, key file and command line (see config.h). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

void config_init(Config *c)
{
        *c = (Config){ 0 };
        c->bus_address = g_strdup("session");
        c->bus_name = g_strdup("org.ingester.Ingester1");
        c->object_path = g_strdup("/org/ingester/Ingester1");
        c->max_unflushed = 512;
        c->batch_max_events = 64; /* doc/performance.md, "Batches" */
        c->max_event_size = 65536;
        c->max_large_event_size = 20U << 20; /* a 16 MiB JSON event and room */
        c->max_fds = 8;
        c->limits = CODEC_LIMITS_DEFAULT;
        c->max_connections = 256;
        c->backlog = 4096; /* SOMAXCONN since Linux 5.4 */
        c->batch = 128;
        c->receive_buffer = 1 << 20;
        c->queue_capacity = 4096;
        c->queue_capacity_bytes = 16 << 20;
        c->policy = QUEUE_POLICY_BLOCK;
        c->drain_timeout_sec = 5;
        c->max_dgram_senders = 1024;
        c->log_burst = 10;
        c->log_interval_sec = 10;
        c->listens = g_ptr_array_new_with_free_func((GDestroyNotify) listen_spec_free);
        c->schema_paths = g_ptr_array_new_with_free_func(g_free);
}

void config_deinit(Config *c)
{
        g_clear_pointer(&c->bus_address, g_free);
        g_clear_pointer(&c->bus_name, g_free);
        g_clear_pointer(&c->object_path, g_free);
        g_clear_pointer(&c->listens, g_ptr_array_unref);
        g_clear_pointer(&c->schema_paths, g_ptr_array_unref);
}

ListenSpec *listen_spec_new(Transport t, const char *path)
{
        ListenSpec *s = g_new0(ListenSpec, 1);
        uid_t self = geteuid();
        uid_t root = 0;

        s->transport = t;
        s->path = g_strdup(path);
        s->fd = -1;
        s->mode = 0600;
        s->group = (gid_t) -1;
        /* a stream carries newline-delimited JSON only: a msgpack map has no framing there */
        s->codec = t == TRANSPORT_STREAM ? CODEC_FORMAT_JSON : CODEC_FORMAT_AUTO;
        s->allow_uids = g_array_new(FALSE, FALSE, sizeof(uid_t));
        s->allow_gids = g_array_new(FALSE, FALSE, sizeof(gid_t));
        /* default allow-list: ourselves and root */
        g_array_append_val(s->allow_uids, self);
        if (self != root)
                g_array_append_val(s->allow_uids, root);
        return s;
}

void listen_spec_free(ListenSpec *s)
{
        if (!s)
                return;
        g_free(s->name);
        g_free(s->path);
        g_array_unref(s->allow_uids);
        g_array_unref(s->allow_gids);
        g_free(s);
}

ListenSpec *listen_spec_parse(const char *arg, GError **error)
{
        const char *colon = strchr(arg, ':');
        g_autofree char *kind = NULL;
        Transport t;

        if (!colon || colon[1] == '\0') {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "--listen %s: expected dgram:PATH, seqpacket:PATH or stream:PATH",
                            arg);
                return NULL;
        }
        kind = g_strndup(arg, (gsize) (colon - arg));
        if (!transport_from_name(kind, &t)) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "--listen %s: unknown transport '%s' (dgram, seqpacket or stream)",
                            arg, kind);
                return NULL;
        }
        if (colon[1] != '/') {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "--listen %s: the path must be absolute", arg);
                return NULL;
        }
        return listen_spec_new(t, colon + 1);
}

bool config_is_system(const Config *c)
{
        return strcmp(c->bus_address, "system") == 0;
}

char *config_default_socket_dir(const Config *c, GError **error)
{
        const char *xdg = g_getenv("XDG_RUNTIME_DIR");
        const char *runtime = g_getenv("RUNTIME_DIRECTORY");
        g_autofree char *run_user = NULL;

        if (config_is_system(c)) {
                /* RuntimeDirectory=a b gives "/run/a:/run/b": the first is ours */
                if (runtime && runtime[0] == '/')
                        return g_strndup(runtime, strcspn(runtime, ":"));
                return g_strdup("/run/ingester");
        }
        if (geteuid() == 0 && !xdg)
                return g_strdup("/run/ingester");
        if (xdg && xdg[0] == '/')
                return g_build_filename(xdg, "ingester", NULL);
        run_user = g_strdup_printf("/run/user/%u", (unsigned) geteuid());
        if (g_file_test(run_user, G_FILE_TEST_IS_DIR))
                return g_build_filename(run_user, "ingester", NULL);
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "no runtime directory: XDG_RUNTIME_DIR is not set and %s does not exist; "
                    "set XDG_RUNTIME_DIR or give --listen", run_user);
        return NULL;
}

static gboolean add_default_listens(Config *c, GError **error)
{
        g_autofree char *dir = config_default_socket_dir(c, error);
        g_autofree char *dgram = NULL, *seqpacket = NULL;

        if (!dir)
                return FALSE;
        seqpacket = g_build_filename(dir, "seqpacket.sock", NULL);
        dgram = g_build_filename(dir, "dgram.sock", NULL);
        g_ptr_array_add(c->listens, listen_spec_new(TRANSPORT_SEQPACKET, seqpacket));
        g_ptr_array_add(c->listens, listen_spec_new(TRANSPORT_DGRAM, dgram));
        for (guint i = 0; i < c->listens->len; i++) {
                ListenSpec *s = c->listens->pdata[i];
                s->implicit = true;
                if (config_is_system(c))
                        s->mode = 0660;
        }
        return TRUE;
}

/* the system instance's gate is the socket's mode and group (connect and
 * sendto need write permission on it): supplementary groups count there,
 * while the kernel's credentials carry only the primary group */
static void default_allow(const Config *c, ListenSpec *s)
{
        if (config_is_system(c) && !s->allow_set)
                s->allow_any = true;
}

gboolean config_finish_listens(Config *c, GError **error)
{
        if (c->listens->len == 0 && !add_default_listens(c, error))
                return FALSE;
        for (guint i = 0; i < c->listens->len; i++) {
                ListenSpec *s = c->listens->pdata[i];
                if (!s->path) {
                        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                    "[listen:%s] path: required, as systemd passed no socket "
                                    "named %s",
                                    s->name, s->name);
                        return FALSE;
                }
                default_allow(c, s);
        }
        return TRUE;
}

static char *listen_label(const ListenSpec *s)
{
        return s->name ? g_strdup_printf("[listen:%s]", s->name)
                       : g_strdup_printf("--listen %s", s->path);
}

/* The running listener a freshly parsed one is: same section, or same path. */
static ListenSpec *find_running(Config *c, const ListenSpec *n)
{
        for (guint i = 0; i < c->listens->len; i++) {
                ListenSpec *s = c->listens->pdata[i];
                if (s->implicit)
                        continue;
                if (n->name ? g_strcmp0(s->name, n->name) == 0
                            : !s->name && g_strcmp0(s->path, n->path) == 0)
                        return s;
        }
        return NULL;
}

static void reload_listens(Config *c, Config *next, GPtrArray *fixed)
{
        g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);

        for (guint i = 0; i < next->listens->len; i++) {
                ListenSpec *n = next->listens->pdata[i];
                ListenSpec *s = find_running(c, n);
                g_autofree char *label = listen_label(n);

                default_allow(next, n);
                if (!s) {
                        g_ptr_array_add(fixed, g_strdup_printf("%s added", label));
                        continue;
                }
                g_hash_table_add(seen, s);
                if (s->transport != n->transport)
                        g_ptr_array_add(fixed, g_strdup_printf("%s transport", label));
                /* an activated socket's path, mode and group are its unit's */
                if (s->fd < 0 && g_strcmp0(s->path, n->path) != 0)
                        g_ptr_array_add(fixed, g_strdup_printf("%s path", label));
                if (s->fd < 0 && s->mode != n->mode)
                        g_ptr_array_add(fixed, g_strdup_printf("%s mode", label));
                if (s->fd < 0 && s->group != n->group)
                        g_ptr_array_add(fixed, g_strdup_printf("%s group", label));
                s->codec = n->codec;
                s->allow_any = n->allow_any;
                s->allow_set = n->allow_set;
                g_array_unref(s->allow_uids);
                g_array_unref(s->allow_gids);
                s->allow_uids = g_array_ref(n->allow_uids);
                s->allow_gids = g_array_ref(n->allow_gids);
        }
        for (guint i = 0; i < c->listens->len; i++) {
                ListenSpec *s = c->listens->pdata[i];
                g_autofree char *label = listen_label(s);
                if (!s->implicit && !g_hash_table_contains(seen, s))
                        g_ptr_array_add(fixed, g_strdup_printf("%s removed", label));
        }
}

void config_reload(Config *c, Config *next, GPtrArray *fixed)
{
        if (strcmp(c->bus_address, next->bus_address) != 0)
                g_ptr_array_add(fixed, g_strdup("[bus] address"));
        if (strcmp(c->bus_name, next->bus_name) != 0)
                g_ptr_array_add(fixed, g_strdup("[bus] name"));
        if (strcmp(c->object_path, next->object_path) != 0)
                g_ptr_array_add(fixed, g_strdup("[bus] object-path"));
        c->max_unflushed = next->max_unflushed;
        c->max_event_size = next->max_event_size;
        c->max_large_event_size = next->max_large_event_size;
        c->max_fds = next->max_fds;
        c->limits = next->limits;
        c->max_connections = next->max_connections;
        c->backlog = next->backlog;
        c->batch = next->batch;
        c->receive_buffer = next->receive_buffer;
        c->queue_capacity = next->queue_capacity;
        c->queue_capacity_bytes = next->queue_capacity_bytes;
        c->queue_capacity_fds = next->queue_capacity_fds;
        c->policy = next->policy;
        c->drain_timeout_sec = next->drain_timeout_sec;
        c->max_dgram_senders = next->max_dgram_senders;
        c->rate_interval_msec = next->rate_interval_msec;
        c->rate_burst = next->rate_burst;
        c->log_burst = next->log_burst;
        c->log_interval_sec = next->log_interval_sec;
        c->typed_also_event = next->typed_also_event;
        c->signal_form = next->signal_form;
        c->batch_max_events = next->batch_max_events;
        {
                bool same = c->schema_paths->len == next->schema_paths->len;
                for (guint i = 0; same && i < c->schema_paths->len; i++)
                        same = strcmp(c->schema_paths->pdata[i], next->schema_paths->pdata[i]) == 0;
                if (!same)
                        g_ptr_array_add(fixed, g_strdup("[bus] schemas"));
        }
        reload_listens(c, next, fixed);
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

size_t config_fd_budget(Config *c)
{
        struct rlimit rl;
        unsigned wanted = c->max_connections;
        size_t budget;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                rl.rlim_cur = rl.rlim_max = 1024;
        if (rl.rlim_cur < rl.rlim_max) {
                /* the soft limit is for select() users; we poll */
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

/* ---- validation helpers: every error names the key ---- */

static gboolean parse_uint(const char *where, const char *text, guint64 min, guint64 max,
                           guint64 *ret, GError **error)
{
        guint64 v;
        g_autoptr(GError) local = NULL;

        if (!g_ascii_string_to_unsigned(text, 10, min, max, &v, &local)) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "%s: '%s' is not a whole number from %" G_GUINT64_FORMAT
                            " to %" G_GUINT64_FORMAT,
                            where, text, min, max);
                return FALSE;
        }
        *ret = v;
        return TRUE;
}

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

static gboolean parse_codec(const char *where, const char *text, CodecFormat *ret, GError **error)
{
        if (strcmp(text, "auto") == 0)
                *ret = CODEC_FORMAT_AUTO;
        else if (strcmp(text, "json") == 0)
                *ret = CODEC_FORMAT_JSON;
        else if (strcmp(text, "msgpack") == 0)
                *ret = CODEC_FORMAT_MSGPACK;
        else {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "%s: '%s' is not a codec (auto, json, msgpack)", where, text);
                return FALSE;
        }
        return TRUE;
}

static gboolean parse_ids(const char *where, char **items, bool groups, GArray *out, GError **error)
{
        g_array_set_size(out, 0);
        for (char **p = items; p && *p; p++) {
                const char *item = g_strstrip(*p);
                guint64 v;
                if (*item == '\0')
                        continue;
                if (g_ascii_isdigit(*item)) {
                        if (!parse_uint(where, item, 0, G_MAXUINT32 - 1, &v, error))
                                return FALSE;
                } else if (groups) {
                        struct group *gr = getgrnam(item);
                        if (!gr) {
                                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                            "%s: no group named '%s'", where, item);
                                return FALSE;
                        }
                        v = gr->gr_gid;
                } else {
                        struct passwd *pw = getpwnam(item);
                        if (!pw) {
                                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                            "%s: no user named '%s'", where, item);
                                return FALSE;
                        }
                        v = pw->pw_uid;
                }
                if (groups) {
                        gid_t g = (gid_t) v;
                        g_array_append_val(out, g);
                } else {
                        uid_t u = (uid_t) v;
                        g_array_append_val(out, u);
                }
        }
        return TRUE;
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

/* Reads one optional unsigned key into *dst (of any unsigned width via the macro). */
static gboolean key_uint(GKeyFile *kf, const char *group, const char *key, guint64 min, guint64 max,
                         guint64 *dst, gboolean *found, GError **error)
{
        g_autofree char *text = g_key_file_get_value(kf, group, key, NULL);
        g_autofree char *where = NULL;

        *found = text != NULL;
        if (!text)
                return TRUE;
        where = g_strdup_printf("[%s] %s", group, key);
        return parse_uint(where, g_strstrip(text), min, max, dst, error);
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

#define KEY_UINT(kf, group, key, min, max, field)                                                  \
        do {                                                                                       \
                guint64 _v;                                                                        \
                gboolean _found;                                                                   \
                if (!key_uint(kf, group, key, min, max, &_v, &_found, error))                      \
                        return FALSE;                                                              \
                if (_found)                                                                        \
                        field = _v;                                                                \
        } while (0)

static gboolean load_listen_group(Config *c, GKeyFile *kf, const char *group, GError **error)
{
        g_autofree char *transport = g_key_file_get_string(kf, group, "transport", NULL);
        g_autofree char *path = g_key_file_get_string(kf, group, "path", NULL);
        g_autofree char *mode = g_key_file_get_string(kf, group, "mode", NULL);
        g_autofree char *grp = g_key_file_get_string(kf, group, "group", NULL);
        g_autofree char *codec = g_key_file_get_string(kf, group, "codec", NULL);
        g_auto(GStrv) uids = g_key_file_get_string_list(kf, group, "allow-uids", NULL, NULL);
        g_auto(GStrv) gids = g_key_file_get_string_list(kf, group, "allow-gids", NULL, NULL);
        g_autoptr(ListenSpec) spec = NULL;
        g_autofree char *where = NULL;
        Transport t;

        if (!transport || !transport_from_name(g_strstrip(transport), &t)) {
                g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                            "[%s] transport: must be dgram, seqpacket or stream", group);
                return FALSE;
        }
        if (path && g_strstrip(path)[0] != '/') {
                g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                            "[%s] path: '%s' is not an absolute socket path", group, path);
                return FALSE;
        }
        /* no path: the section names a socket systemd passes (FileDescriptorName=) */
        spec = listen_spec_new(t, path);
        spec->name = g_strdup(group + strlen("listen:"));
        if (mode) {
                guint64 v;
                char *end = NULL;
                v = g_ascii_strtoull(g_strstrip(mode), &end, 8);
                if (!end || *end || v > 0777 || mode[0] == '\0') {
                        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                    "[%s] mode: '%s' is not an octal mode like 0660", group,
                                    mode);
                        return FALSE;
                }
                spec->mode = (mode_t) v;
        }
        if (grp) {
                g_autoptr(GArray) g = g_array_new(FALSE, FALSE, sizeof(gid_t));
                char *items[] = { grp, NULL };
                where = g_strdup_printf("[%s] group", group);
                if (!parse_ids(where, items, true, g, error))
                        return FALSE;
                if (g->len == 1)
                        spec->group = g_array_index(g, gid_t, 0);
                g_clear_pointer(&where, g_free);
        }
        if (codec) {
                where = g_strdup_printf("[%s] codec", group);
                if (!parse_codec(where, g_strstrip(codec), &spec->codec, error))
                        return FALSE;
                if (t == TRANSPORT_STREAM && spec->codec != CODEC_FORMAT_JSON) {
                        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                    "%s: a stream listener carries JSON only (one object per "
                                    "line)",
                                    where);
                        return FALSE;
                }
                g_clear_pointer(&where, g_free);
        }
        spec->allow_set = uids || gids;
        if (uids && uids[0] && !uids[1] && strcmp(g_strstrip(uids[0]), "*") == 0) {
                spec->allow_any = true;
                g_array_set_size(spec->allow_uids, 0);
        } else if (uids) {
                where = g_strdup_printf("[%s] allow-uids", group);
                if (!parse_ids(where, uids, false, spec->allow_uids, error))
                        return FALSE;
                g_clear_pointer(&where, g_free);
        }
        if (gids) {
                where = g_strdup_printf("[%s] allow-gids", group);
                if (!parse_ids(where, gids, true, spec->allow_gids, error))
                        return FALSE;
        }
        g_ptr_array_add(c->listens, g_steal_pointer(&spec));
        return TRUE;
}

static const char *const known_keys[][12] = {
        { "bus", "address", "name", "object-path", "max-unflushed", "schemas", "typed-also-event",
          "signal-form", "batch-max-events", NULL },
        { "limits", "max-event-size", "max-large-event-size", "max-fds", "max-depth", "max-members", "max-string",
          "max-connections", "backlog", "batch", "receive-buffer", NULL },
        { "queue", "capacity", "capacity-bytes", "capacity-fds", "policy", "drain-timeout",
          "max-dgram-senders", "rate-limit-interval", "rate-limit-burst", NULL },
        { "log", "burst", "interval", NULL },
        { "listen:", "transport", "path", "mode", "group", "codec", "allow-uids", "allow-gids",
          NULL },
};

/* Unknown groups and keys are errors: a typo must not silently keep a default. */
static gboolean check_known(GKeyFile *kf, const char *path, GError **error)
{
        g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

        for (char **g = groups; *g; g++) {
                const char *const *keys = NULL;
                g_auto(GStrv) present = NULL;
                for (size_t i = 0; i < G_N_ELEMENTS(known_keys); i++) {
                        const char *name = known_keys[i][0];
                        if (strcmp(*g, name) == 0 ||
                            (g_str_has_suffix(name, ":") && g_str_has_prefix(*g, name) &&
                             (*g)[strlen(name)] != '\0'))
                                keys = &known_keys[i][1];
                }
                if (!keys) {
                        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                                    "%s: unknown section [%s]", path, *g);
                        return FALSE;
                }
                present = g_key_file_get_keys(kf, *g, NULL, NULL);
                for (char **k = present; k && *k; k++) {
                        gboolean ok = FALSE;
                        for (const char *const *known = keys; *known; known++)
                                ok = ok || strcmp(*k, *known) == 0;
                        if (!ok) {
                                g_set_error(error, G_KEY_FILE_ERROR,
                                            G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                                            "%s: unknown key '%s' in [%s]", path, *k, *g);
                                return FALSE;
                        }
                }
        }
        return TRUE;
}

gboolean config_load_file(Config *c, const char *path, GError **error)
{
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) local = NULL;
        g_auto(GStrv) groups = NULL;
        g_autofree char *text = NULL;

        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
                g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE, "%s: %s", path,
                            local->message);
                return FALSE;
        }
        if (!check_known(kf, path, error))
                return FALSE;

        if ((text = g_key_file_get_string(kf, "bus", "address", NULL))) {
                g_free(c->bus_address);
                c->bus_address = g_strdup(g_strstrip(text));
                g_clear_pointer(&text, g_free);
        }
        if ((text = g_key_file_get_string(kf, "bus", "name", NULL))) {
                g_free(c->bus_name);
                c->bus_name = g_strdup(g_strstrip(text));
                g_clear_pointer(&text, g_free);
        }
        if ((text = g_key_file_get_string(kf, "bus", "object-path", NULL))) {
                g_free(c->object_path);
                c->object_path = g_strdup(g_strstrip(text));
                g_clear_pointer(&text, g_free);
        }
        KEY_UINT(kf, "bus", "max-unflushed", 1, CONFIG_MAX_UNFLUSHED_CEILING, c->max_unflushed);
        KEY_UINT(kf, "bus", "batch-max-events", 1, CONFIG_BATCH_MAX_EVENTS_CEILING,
                 c->batch_max_events);
        if ((text = g_key_file_get_string(kf, "bus", "signal-form", NULL))) {
                if (!parse_signal_form("[bus] signal-form", g_strstrip(text), &c->signal_form,
                                       error))
                        return FALSE;
                g_clear_pointer(&text, g_free);
        }
        {
                g_auto(GStrv) schemas = g_key_file_get_string_list(kf, "bus", "schemas", NULL, NULL);
                g_autoptr(GError) bad = NULL;
                gboolean b;
                for (char **p = schemas; p && *p; p++)
                        if (*g_strstrip(*p))
                                g_ptr_array_add(c->schema_paths, g_strdup(*p));
                if (g_key_file_has_key(kf, "bus", "typed-also-event", NULL)) {
                        b = g_key_file_get_boolean(kf, "bus", "typed-also-event", &bad);
                        if (bad) {
                                g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                            "%s: [bus] typed-also-event: true or false", path);
                                return FALSE;
                        }
                        c->typed_also_event = b;
                }
        }
        KEY_UINT(kf, "limits", "max-event-size", 1, CONFIG_MAX_EVENT_SIZE_CEILING, c->max_event_size);
        KEY_UINT(kf, "limits", "max-large-event-size", 0, CONFIG_MAX_LARGE_EVENT_SIZE_CEILING,
                 c->max_large_event_size);
        KEY_UINT(kf, "limits", "max-fds", 0, CONFIG_MAX_FDS_CEILING, c->max_fds);
        KEY_UINT(kf, "limits", "max-depth", 1, CODEC_DEPTH_CEILING, c->limits.max_depth);
        KEY_UINT(kf, "limits", "max-members", 1, CODEC_MAX_MEMBERS_CEILING, c->limits.max_members);
        KEY_UINT(kf, "limits", "max-string", 1, CODEC_MAX_STRING_CEILING, c->limits.max_string);
        KEY_UINT(kf, "limits", "max-connections", 1, CONFIG_MAX_CONNECTIONS_CEILING, c->max_connections);
        KEY_UINT(kf, "limits", "backlog", 1, CONFIG_BACKLOG_CEILING, c->backlog);
        KEY_UINT(kf, "limits", "batch", 1, CONFIG_BATCH_CEILING, c->batch);
        KEY_UINT(kf, "limits", "receive-buffer", 4096, CONFIG_RECEIVE_BUFFER_CEILING, c->receive_buffer);
        KEY_UINT(kf, "queue", "capacity", 1, CONFIG_QUEUE_CAPACITY_CEILING, c->queue_capacity);
        KEY_UINT(kf, "queue", "capacity-bytes", 4096, CONFIG_QUEUE_CAPACITY_BYTES_CEILING,
                 c->queue_capacity_bytes);
        KEY_UINT(kf, "queue", "capacity-fds", 0, CONFIG_QUEUE_CAPACITY_FDS_CEILING,
                 c->queue_capacity_fds);
        KEY_UINT(kf, "queue", "drain-timeout", 0, CONFIG_DRAIN_TIMEOUT_CEILING, c->drain_timeout_sec);
        KEY_UINT(kf, "log", "burst", 1, CONFIG_LOG_BURST_CEILING, c->log_burst);
        KEY_UINT(kf, "log", "interval", 1, CONFIG_LOG_INTERVAL_CEILING, c->log_interval_sec);
        KEY_UINT(kf, "queue", "max-dgram-senders", 1, CONFIG_MAX_DGRAM_SENDERS_CEILING,
                 c->max_dgram_senders);
        KEY_UINT(kf, "queue", "rate-limit-burst", 0, CONFIG_RATE_BURST_CEILING, c->rate_burst);
        if ((text = g_key_file_get_string(kf, "queue", "policy", NULL))) {
                if (!parse_policy("[queue] policy", g_strstrip(text), &c->policy, error))
                        return FALSE;
                g_clear_pointer(&text, g_free);
        }
        if ((text = g_key_file_get_string(kf, "queue", "rate-limit-interval", NULL))) {
                if (!parse_msec("[queue] rate-limit-interval", g_strstrip(text),
                                CONFIG_RATE_INTERVAL_CEILING_MSEC, &c->rate_interval_msec, error))
                        return FALSE;
                g_clear_pointer(&text, g_free);
        }

        groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; *g; g++)
                if (g_str_has_prefix(*g, "listen:") && !load_listen_group(c, kf, *g, error))
                        return FALSE;
        return TRUE;
}

gboolean config_parse(Config *c, int *argc, char ***argv, gboolean *ret_exit, GError **error)
{
        g_autofree char *config_path = NULL, *address = NULL, *name = NULL, *policy = NULL;
        g_autofree char *object_path = NULL, *queue_capacity = NULL, *max_event_size = NULL;
        g_autofree char *max_fds = NULL, *signal_form = NULL, *batch_max_events = NULL;
        g_auto(GStrv) listens = NULL, schemas = NULL;
        gboolean version = FALSE, session = FALSE, system_bus = FALSE;
        const GOptionEntry entries[] = {
                { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
                  "Read settings from FILE (see ingesterd.conf(5))", "FILE" },
                { "listen", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &listens,
                  "Listen on dgram:PATH, seqpacket:PATH or stream:PATH (repeatable; replaces "
                  "the defaults)",
                  "TRANSPORT:PATH" },
                { "session", 0, 0, G_OPTION_ARG_NONE, &session, "Use the session bus (default)",
                  NULL },
                { "system", 0, 0, G_OPTION_ARG_NONE, &system_bus, "Use the system bus", NULL },
                { "address", 'a', 0, G_OPTION_ARG_STRING, &address, "Use the bus at ADDRESS",
                  "ADDRESS" },
                { "name", 'n', 0, G_OPTION_ARG_STRING, &name,
                  "Well-known name to own (default org.ingester.Ingester1)", "NAME" },
                { "object-path", 0, 0, G_OPTION_ARG_STRING, &object_path,
                  "Object path of the signals and stats (default /org/ingester/Ingester1)",
                  "PATH" },
                { "replace", 'r', 0, G_OPTION_ARG_NONE, &c->replace,
                  "Take the name over from a running instance", NULL },
                { "schema", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &schemas,
                  "Emit typed signals described by PATH, an introspection XML file or a "
                  "directory of them (repeatable)",
                  "PATH" },
                { "signal-form", 0, 0, G_OPTION_ARG_STRING, &signal_form,
                  "Emit each event as an Event signal (event, default), in EventBatch "
                  "signals (batch), or both",
                  "FORM" },
                { "batch-max-events", 0, 0, G_OPTION_ARG_STRING, &batch_max_events,
                  "Most events per EventBatch signal (default 64)", "N" },
                { "check-config", 0, 0, G_OPTION_ARG_NONE, &c->check_config,
                  "Check the configuration and the schemas, report, and exit", NULL },
                { "policy", 'p', 0, G_OPTION_ARG_STRING, &policy,
                  "Overflow policy: block (default), drop-newest, drop-oldest", "POLICY" },
                { "queue-capacity", 'q', 0, G_OPTION_ARG_STRING, &queue_capacity,
                  "Queue capacity in events (default 4096)", "N" },
                { "max-event-size", 0, 0, G_OPTION_ARG_STRING, &max_event_size,
                  "Largest packet accepted, in bytes (default 65536)", "BYTES" },
                { "max-fds", 0, 0, G_OPTION_ARG_STRING, &max_fds,
                  "Most file descriptors per event, 0 to 16 (default 8)", "N" },
                { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit",
                  NULL },
                { "bench-no-emit", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &c->no_emit,
                  "Benchmarks only: discard events instead of emitting them", NULL },
                { NULL },
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("- relay datagrams to D-Bus signals");
        guint64 v;

        *ret_exit = FALSE;
        g_option_context_set_summary(ctx,
                                     "Receives one JSON or msgpack event per packet on local "
                                     "AF_UNIX sockets\nand emits each as an "
                                     "org.ingester.Ingester1.Event D-Bus signal.");
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, argc, argv, error))
                return FALSE;
        if (*argc > 1) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "unexpected argument '%s'", (*argv)[1]);
                return FALSE;
        }
        if (version) {
                printf("ingesterd %s\n", PACKAGE_VERSION);
                *ret_exit = TRUE;
                return TRUE;
        }
        if (config_path && !config_load_file(c, config_path, error))
                return FALSE;
        for (char **p = schemas; p && *p; p++)
                g_ptr_array_add(c->schema_paths, g_strdup(*p));

        if ((session ? 1 : 0) + (system_bus ? 1 : 0) + (address ? 1 : 0) > 1) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "--session, --system and --address exclude each other");
                return FALSE;
        }
        if (session || system_bus || address) {
                g_free(c->bus_address);
                c->bus_address = g_strdup(session ? "session" : system_bus ? "system" : address);
        }
        if (name) {
                g_free(c->bus_name);
                c->bus_name = g_steal_pointer(&name);
        }
        if (object_path) {
                g_free(c->object_path);
                c->object_path = g_steal_pointer(&object_path);
        }
        if (policy && !parse_policy("--policy", policy, &c->policy, error))
                return FALSE;
        if (queue_capacity) {
                if (!parse_uint("--queue-capacity", queue_capacity, 1, CONFIG_QUEUE_CAPACITY_CEILING, &v, error))
                        return FALSE;
                c->queue_capacity = v;
        }
        if (max_event_size) {
                if (!parse_uint("--max-event-size", max_event_size, 1, CONFIG_MAX_EVENT_SIZE_CEILING, &v, error))
                        return FALSE;
                c->max_event_size = v;
        }
        if (max_fds) {
                if (!parse_uint("--max-fds", max_fds, 0, CONFIG_MAX_FDS_CEILING, &v, error))
                        return FALSE;
                c->max_fds = (unsigned) v;
        }
        if (signal_form && !parse_signal_form("--signal-form", signal_form, &c->signal_form, error))
                return FALSE;
        if (batch_max_events) {
                if (!parse_uint("--batch-max-events", batch_max_events, 1,
                                CONFIG_BATCH_MAX_EVENTS_CEILING, &v, error))
                        return FALSE;
                c->batch_max_events = (unsigned) v;
        }
        if (listens) {
                g_ptr_array_set_size(c->listens, 0);
                for (char **l = listens; *l; l++) {
                        ListenSpec *spec = listen_spec_parse(*l, error);
                        if (!spec)
                                return FALSE;
                        g_ptr_array_add(c->listens, spec);
                }
        }
        return check(c, error);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config-listen.c — the listeners' part of the configuration (see
 * config.h): --listen and [listen:NAME] sections into ListenSpecs, their
 * allow-lists and codecs, the default sockets and what a reload may change
 * of a running listener; and the number parser both halves use. It never
 * reads the scalar settings' table (config.c), which builds on it.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "config-internal.h"

gboolean config_parse_uint(const char *where, const char *text, guint64 min, guint64 max,
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


/* The keys of a [listen:NAME] section (config_listen_load()). */
const char *const config_listen_keys[] = {
        "transport", "path", "mode", "group", "codec", "allow-uids", "allow-gids", NULL,
};


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

void config_listen_reload(Config *c, Config *next, GPtrArray *fixed)
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
                        if (!config_parse_uint(where, item, 0, G_MAXUINT32 - 1, &v, error))
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

gboolean config_listen_load(Config *c, GKeyFile *kf, const char *group, GError **error)
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


/* The listener an activated socket serves: the [listen:NAME] section its
 * FileDescriptorName= names, else the one with its path. */
static ListenSpec *find_section(Config *c, const char *name, const char *path)
{
        for (guint pass = 0; pass < 2; pass++)
                for (guint i = 0; i < c->listens->len; i++) {
                        ListenSpec *s = c->listens->pdata[i];
                        if (s->fd >= 0)
                                continue;
                        if (pass == 0 ? name && s->name && strcmp(s->name, name) == 0
                                      : path && s->path && strcmp(s->path, path) == 0)
                                return s;
                }
        return NULL;
}

gboolean config_adopt_activated(Config *c, const ActivatedSocket *socks, size_t n,
                                GError **error)
{
        for (size_t i = 0; i < n; i++) {
                const ActivatedSocket *a = &socks[i];
                ListenSpec *spec = find_section(c, a->name, a->path);

                if (spec && spec->transport != a->transport) {
                        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                    "[listen:%s] transport: %s, but systemd passed a %s socket "
                                    "for it",
                                    spec->name, transport_name(spec->transport),
                                    transport_name(a->transport));
                        return FALSE;
                }
                if (!spec) {
                        spec = listen_spec_new(a->transport, NULL);
                        spec->name = g_strdup(a->name);
                        spec->implicit = true;
                        g_ptr_array_add(c->listens, spec);
                }
                /* the socket is systemd's: its path, mode and group are the unit's */
                g_free(spec->path);
                spec->path = g_strdup(a->path ? a->path : "(activated, unnamed)");
                spec->fd = a->fd;
        }
        return TRUE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ingester-listen — watch ingesterd's events from the shell, one JSON
 * object per line: the inverse of ingester-send.
 *
 *   ingester-listen [--type T]... [--match KEY=VALUE]... [--count N] [--timeout S]
 *   ingester-listen --stats
 *
 * Each Event signal (s type, a{sv} data, a{sv} meta, ah fds), and each
 * element of an EventBatch signal, becomes
 *   {"type":"...","data":{...},"meta":{...},"fds":[...]}
 * with doc/protocol.md's mapping run backwards (ingester-listen(1) lists it):
 * integers exactly as they are (a 't' above 2^53 too), doubles with 17
 * significant digits, 'ay' as a base64 string, every descriptor as what
 * /proc/self/fd says it is (a path, "pipe:[N]", "socket:[N]", ...). The
 * descriptors are closed once printed.
 *
 * The subscription matches the interface, member and object path, not the
 * sender, so that events of a restarted daemon (a new unique name) are
 * never missed. "# listening" goes to stderr once the match is in place.
 * Exit statuses: 0 done (--count reached, --timeout without --count, or
 * --stats), 1 --timeout ran out before --count events, 2 usage, 3 the bus
 * or the daemon cannot be reached.
 */
#include <locale.h>
#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
        EXIT_DONE = 0,
        EXIT_TIMEOUT = 1,
        EXIT_USAGE = 2,
        EXIT_UNREACHABLE = 3,
};

#define INTERFACE "org.ingester.Ingester1"

typedef struct {
        char *key;
        char *value;
} Match;

typedef struct {
        char **types;
        GArray *matches; /* Match */
        guint64 count;   /* 0: follow */
        guint64 seen;
        GMainLoop *loop;
        GString *line;
        GHashTable *last_seq; /* sender's unique name -> guint64*: the last seq printed */
        int status;
} Listen;

/* ---- GVariant -> JSON ---- */

static void json_string(GString *out, const char *s)
{
        g_string_append_c(out, '"');
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"':
                        g_string_append(out, "\\\"");
                        break;
                case '\\':
                        g_string_append(out, "\\\\");
                        break;
                case '\n':
                        g_string_append(out, "\\n");
                        break;
                case '\r':
                        g_string_append(out, "\\r");
                        break;
                case '\t':
                        g_string_append(out, "\\t");
                        break;
                default:
                        if (*p < 0x20)
                                g_string_append_printf(out, "\\u%04x", *p);
                        else
                                g_string_append_c(out, (char) *p); /* UTF-8 passes as it is */
                }
        }
        g_string_append_c(out, '"');
}

static void json_value(GString *out, GVariant *v);

/* A dictionary as a JSON object: compact on one line, or (indent >= 0) one
 * member per line at that depth, for --stats. */
static void json_members(GString *out, GVariant *dict, int indent)
{
        GVariantIter it;
        const char *key;
        GVariant *value;
        bool first = true;

        g_string_append_c(out, '{');
        g_variant_iter_init(&it, dict);
        while (g_variant_iter_next(&it, "{&s@*}", &key, &value)) {
                if (!first)
                        g_string_append_c(out, ',');
                first = false;
                if (indent >= 0)
                        g_string_append_printf(out, "\n%*s", (indent + 1) * 2, "");
                json_string(out, key);
                g_string_append(out, indent >= 0 ? ": " : ":");
                json_value(out, value);
                g_variant_unref(value);
        }
        if (indent >= 0 && !first)
                g_string_append_printf(out, "\n%*s", indent * 2, "");
        g_string_append_c(out, '}');
}

static void json_value(GString *out, GVariant *v)
{
        const GVariantType *t = g_variant_get_type(v);

        if (g_variant_type_is_variant(t)) {
                g_autoptr(GVariant) inner = g_variant_get_variant(v);
                json_value(out, inner);
        } else if (g_variant_type_equal(t, G_VARIANT_TYPE_BYTESTRING)) {
                gsize n;
                const guchar *p = g_variant_get_fixed_array(v, &n, 1);
                g_autofree char *b64 = g_base64_encode(p, n);
                json_string(out, b64);
        } else if (g_variant_type_is_dict_entry(t) ||
                   (g_variant_type_is_array(t) &&
                    g_variant_type_is_dict_entry(g_variant_type_element(t)))) {
                json_members(out, v, -1);
        } else if (g_variant_type_is_array(t) || g_variant_type_is_tuple(t)) {
                gsize n = g_variant_n_children(v);
                g_string_append_c(out, '[');
                for (gsize i = 0; i < n; i++) {
                        g_autoptr(GVariant) child = g_variant_get_child_value(v, i);
                        if (i)
                                g_string_append_c(out, ',');
                        json_value(out, child);
                }
                g_string_append_c(out, ']');
        } else {
                switch (g_variant_classify(v)) {
                case G_VARIANT_CLASS_BOOLEAN:
                        g_string_append(out, g_variant_get_boolean(v) ? "true" : "false");
                        break;
                case G_VARIANT_CLASS_BYTE:
                        g_string_append_printf(out, "%u", g_variant_get_byte(v));
                        break;
                case G_VARIANT_CLASS_INT16:
                        g_string_append_printf(out, "%d", g_variant_get_int16(v));
                        break;
                case G_VARIANT_CLASS_UINT16:
                        g_string_append_printf(out, "%u", g_variant_get_uint16(v));
                        break;
                case G_VARIANT_CLASS_INT32:
                        g_string_append_printf(out, "%d", g_variant_get_int32(v));
                        break;
                case G_VARIANT_CLASS_UINT32:
                        g_string_append_printf(out, "%u", g_variant_get_uint32(v));
                        break;
                case G_VARIANT_CLASS_INT64:
                        g_string_append_printf(out, "%" G_GINT64_FORMAT, g_variant_get_int64(v));
                        break;
                case G_VARIANT_CLASS_UINT64:
                        g_string_append_printf(out, "%" G_GUINT64_FORMAT, g_variant_get_uint64(v));
                        break;
                case G_VARIANT_CLASS_HANDLE:
                        g_string_append_printf(out, "%d", g_variant_get_handle(v));
                        break;
                case G_VARIANT_CLASS_DOUBLE: {
                        char buf[G_ASCII_DTOSTR_BUF_SIZE];
                        g_ascii_formatd(buf, sizeof(buf), "%.17g", g_variant_get_double(v));
                        g_string_append(out, buf);
                        break;
                }
                case G_VARIANT_CLASS_STRING:
                case G_VARIANT_CLASS_OBJECT_PATH:
                case G_VARIANT_CLASS_SIGNATURE:
                        json_string(out, g_variant_get_string(v, NULL));
                        break;
                default:
                        g_string_append(out, "null"); /* maybe types: never in an Event */
                }
        }
}

/* What each handle's descriptor is, as /proc/self/fd names it (the
 * message's descriptors, fds[0..n_fds-1], are closed by the caller). */
static void json_fds(GString *out, const int *fds, int n_fds, GVariant *handles)
{
        gsize n = 0;
        const gint32 *h = g_variant_get_fixed_array(handles, &n, sizeof(gint32));

        g_string_append_c(out, '[');
        for (gsize i = 0; i < n; i++) {
                char link[64], target[4096] = "";
                if (i)
                        g_string_append_c(out, ',');
                if (h[i] < 0 || h[i] >= n_fds) {
                        g_string_append(out, "null"); /* a handle the message has no fd for */
                        continue;
                }
                snprintf(link, sizeof(link), "/proc/self/fd/%d", fds[h[i]]);
                ssize_t len = readlink(link, target, sizeof(target) - 1);
                target[len > 0 ? len : 0] = '\0';
                json_string(out, target);
        }
        g_string_append_c(out, ']');
}

/* ---- filters ---- */

static bool matches(const Listen *ls, const char *type, GVariant *data)
{
        if (ls->types && !g_strv_contains((const char *const *) ls->types, type))
                return false;
        for (guint i = 0; i < ls->matches->len; i++) {
                const Match *m = &g_array_index(ls->matches, Match, i);
                g_autoptr(GVariant) v = g_variant_lookup_value(data, m->key, NULL);
                g_autoptr(GString) text = NULL;

                if (!v)
                        return false;
                if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING)) {
                        if (strcmp(g_variant_get_string(v, NULL), m->value) != 0)
                                return false;
                        continue;
                }
                /* other values compare in their JSON form: port=443, ok=true */
                text = g_string_new(NULL);
                json_value(text, v);
                if (strcmp(text->str, m->value) != 0)
                        return false;
        }
        return true;
}

static gboolean on_count_reached(gpointer user_data)
{
        Listen *ls = user_data;

        ls->status = EXIT_DONE;
        g_main_loop_quit(ls->loop);
        return G_SOURCE_REMOVE;
}

/*
 * One event, (s a{sv} a{sv} ah), as one line; false once --count is reached.
 * Under signal-form=both every event comes twice, as Event and in a batch,
 * and a daemon's seq only grows on one connection: an event whose seq is
 * not above the last one printed for its sender was printed already (a
 * daemon that reconnects has a new unique name, so its repeats still show).
 */
static bool print_event(Listen *ls, const char *sender, GVariant *tuple, const int *fds,
                        int n_fds)
{
        g_autoptr(GVariant) type = g_variant_get_child_value(tuple, 0);
        g_autoptr(GVariant) data = g_variant_get_child_value(tuple, 1);
        g_autoptr(GVariant) meta = g_variant_get_child_value(tuple, 2);
        g_autoptr(GVariant) handles = g_variant_get_child_value(tuple, 3);
        guint64 seq = 0, *last = sender ? g_hash_table_lookup(ls->last_seq, sender) : NULL;

        if (sender && g_variant_lookup(meta, "seq", "t", &seq)) {
                if (last && seq <= *last)
                        return true;
                if (!last) {
                        last = g_new0(guint64, 1);
                        g_hash_table_insert(ls->last_seq, g_strdup(sender), last);
                }
                *last = seq;
        }
        if (!matches(ls, g_variant_get_string(type, NULL), data))
                return true;
        g_string_assign(ls->line, "{\"type\":");
        json_value(ls->line, type);
        g_string_append(ls->line, ",\"data\":");
        json_value(ls->line, data);
        g_string_append(ls->line, ",\"meta\":");
        json_value(ls->line, meta);
        g_string_append(ls->line, ",\"fds\":");
        json_fds(ls->line, fds, n_fds, handles);
        g_string_append(ls->line, "}\n");
        fwrite(ls->line->str, 1, ls->line->len, stdout);
        if (ls->count && ++ls->seen >= ls->count) {
                /* not g_main_loop_quit() from this thread: before the main thread has
                 * entered g_main_loop_run() the quit would be lost (a busy machine lost
                 * it in make distcheck); a source in the main context is not */
                g_idle_add(on_count_reached, ls);
                return false;
        }
        return true;
}

/*
 * Whoever read our output is gone (`ingester-listen | head -n1`) or it cannot
 * be written: nothing more can be said, so the tool ends at once, 0 for a
 * closed pipe as journalctl does, 1 otherwise. GDBus ignores SIGPIPE, so
 * the write's EPIPE is how it shows. _exit(): this is GDBus's worker thread,
 * and stdout cannot be flushed any more anyway.
 */
static void stdout_failed(void)
{
        int e = errno;

        if (e == EPIPE)
                _exit(0);
        fprintf(stderr, "ingester-listen: cannot write to stdout: %s\n", g_strerror(e));
        _exit(1);
}

static GDBusMessage *on_message(GDBusConnection *c, GDBusMessage *m, gboolean incoming,
                                gpointer user_data)
{
        Listen *ls = user_data;
        const char *member = g_dbus_message_get_member(m);
        const char *sender = g_dbus_message_get_sender(m);
        GUnixFDList *list = g_dbus_message_get_unix_fd_list(m);
        GVariant *body;
        int n_fds = 0;
        int *fds;

        if (ls->count && ls->seen >= ls->count)
                return m; /* done: the main loop is quitting */
        if (!incoming || g_dbus_message_get_message_type(m) != G_DBUS_MESSAGE_TYPE_SIGNAL ||
            g_strcmp0(g_dbus_message_get_interface(m), INTERFACE) != 0)
                return m;
        body = g_dbus_message_get_body(m);
        if (g_strcmp0(member, "Event") == 0 && body &&
            g_variant_is_of_type(body, G_VARIANT_TYPE("(sa{sv}a{sv}ah)"))) {
                fds = list ? g_unix_fd_list_steal_fds(list, &n_fds) : NULL;
                print_event(ls, sender, body, fds, n_fds);
        } else if (g_strcmp0(member, "EventBatch") == 0 && body &&
                   g_variant_is_of_type(body, G_VARIANT_TYPE("(a(sa{sv}a{sv}ah))"))) {
                g_autoptr(GVariant) events = g_variant_get_child_value(body, 0);
                gsize n = g_variant_n_children(events);

                fds = list ? g_unix_fd_list_steal_fds(list, &n_fds) : NULL;
                for (gsize i = 0; i < n; i++) {
                        g_autoptr(GVariant) ev = g_variant_get_child_value(events, i);
                        if (!print_event(ls, sender, ev, fds, n_fds))
                                break;
                }
        } else {
                return m;
        }
        /* the filter runs in GDBus's worker thread: printed here, in arrival order */
        if (fflush(stdout) == EOF || ferror(stdout))
                stdout_failed();
        for (int i = 0; i < n_fds; i++)
                close(fds[i]);
        g_free(fds);
        /* handled: not also dispatched to the main thread for the subscription,
         * which only exists for its match rule (half the CPU per event) */
        g_object_unref(m);
        return NULL;
}

static void ignore_signal(GDBusConnection *c, const char *s, const char *p, const char *i,
                          const char *n, GVariant *v, gpointer u)
{
}

static gboolean on_timeout(gpointer user_data)
{
        Listen *ls = user_data;

        ls->status = ls->count ? EXIT_TIMEOUT : EXIT_DONE;
        g_main_loop_quit(ls->loop);
        return G_SOURCE_REMOVE;
}

static gboolean on_quit_signal(gpointer user_data)
{
        Listen *ls = user_data;

        ls->status = EXIT_DONE;
        g_main_loop_quit(ls->loop);
        return G_SOURCE_CONTINUE;
}

static void on_closed(GDBusConnection *c, gboolean vanished, GError *error, gpointer user_data)
{
        Listen *ls = user_data;

        g_printerr("ingester-listen: lost the bus: %s\n", error ? error->message : "closed");
        ls->status = EXIT_UNREACHABLE;
        g_main_loop_quit(ls->loop);
}

/* ---- --stats ---- */

static int print_stats(GDBusConnection *c, const char *name, const char *path)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = g_dbus_connection_call_sync(
                c, name, path, INTERFACE, "GetStats", NULL, G_VARIANT_TYPE("(a{sv})"),
                G_DBUS_CALL_FLAGS_NO_AUTO_START, 5000, NULL, &error);
        g_autoptr(GVariant) stats = NULL;
        g_autoptr(GString) out = g_string_new(NULL);

        if (!r) {
                g_printerr("ingester-listen: GetStats from %s: %s\n", name, error->message);
                return EXIT_UNREACHABLE;
        }
        stats = g_variant_get_child_value(r, 0);
        json_members(out, stats, 0);
        printf("%s\n", out->str);
        return EXIT_DONE;
}

/* ---- main ---- */

/* The filter runs in GDBus's worker thread, and may still be running after
 * g_dbus_connection_remove_filter() returns: its state is static, so it
 * outlives main(), and is freed only by filter_done(), which GDBus calls once
 * the filter can no longer run (or never, at exit: then it stays reachable). */
static Listen ls;

static void listen_free(Listen *l)
{
        g_clear_pointer(&l->loop, g_main_loop_unref);
        if (l->line)
                g_string_free(g_steal_pointer(&l->line), TRUE);
        g_clear_pointer(&l->matches, g_array_unref);
        g_clear_pointer(&l->types, g_strfreev);
        g_clear_pointer(&l->last_seq, g_hash_table_unref);
}

static void filter_done(gpointer user_data)
{
        listen_free(user_data);
}

static gboolean parse_matches(char **args, GArray *out, GError **error)
{
        for (char **a = args; a && *a; a++) {
                const char *eq = strchr(*a, '=');
                Match m;
                if (!eq || eq == *a) {
                        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                    "--match %s: expected KEY=VALUE", *a);
                        return FALSE;
                }
                m.key = g_strndup(*a, (gsize) (eq - *a));
                m.value = g_strdup(eq + 1);
                g_array_append_val(out, m);
        }
        return TRUE;
}

static void match_clear(gpointer p)
{
        Match *m = p;
        g_free(m->key);
        g_free(m->value);
}

int main(int argc, char **argv)
{
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) match_args = NULL;
        g_autofree char *address = NULL, *name = NULL, *path = NULL, *count = NULL;
        gboolean stats = FALSE, follow = FALSE, system_bus = FALSE, session = FALSE;
        gboolean version = FALSE, quiet = FALSE;
        double timeout = 0;
        guint filter_id = 0;
        const GOptionEntry entries[] = {
                { "type", 't', 0, G_OPTION_ARG_STRING_ARRAY, &ls.types,
                  "Only events of type T (repeatable)", "T" },
                { "match", 'm', 0, G_OPTION_ARG_STRING_ARRAY, &match_args,
                  "Only events whose data member KEY is VALUE (repeatable; all must hold)",
                  "KEY=VALUE" },
                { "count", 'n', 0, G_OPTION_ARG_STRING, &count,
                  "Exit 0 after N events", "N" },
                { "timeout", 'T', 0, G_OPTION_ARG_DOUBLE, &timeout,
                  "Stop after S seconds (exit 1 if --count events did not all arrive)", "S" },
                { "follow", 'f', 0, G_OPTION_ARG_NONE, &follow,
                  "Print events until interrupted (the default)", NULL },
                { "stats", 0, 0, G_OPTION_ARG_NONE, &stats,
                  "Print the daemon's GetStats() as JSON and exit", NULL },
                { "session", 0, 0, G_OPTION_ARG_NONE, &session, "Use the session bus (default)",
                  NULL },
                { "system", 0, 0, G_OPTION_ARG_NONE, &system_bus, "Use the system bus", NULL },
                { "address", 'a', 0, G_OPTION_ARG_STRING, &address, "Use the bus at ADDRESS",
                  "ADDRESS" },
                { "name", 0, 0, G_OPTION_ARG_STRING, &name,
                  "The daemon's bus name, for --stats (default org.ingester.Ingester1)", "NAME" },
                { "object-path", 0, 0, G_OPTION_ARG_STRING, &path,
                  "The daemon's object path (default /org/ingester/Ingester1)", "PATH" },
                { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet,
                  "No \"# listening\" line on stderr", NULL },
                { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
                { NULL },
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("- print ingesterd's events as JSON");
        g_autoptr(GDBusConnection) c = NULL;
        g_autofree char *resolved = NULL;
        guint64 n = 0;
        int status;

        /* the user's language for GLib's messages and help (UTF-8 "[OPTION…]");
         * numbers stay the C locale's, as JSON and the configuration write them */
        setlocale(LC_ALL, "");
        setlocale(LC_NUMERIC, "C");
        g_option_context_set_summary(ctx, "Prints each event of org.ingester.Ingester1's Event and "
                                          "EventBatch signals as one JSON object per line.");
        g_option_context_set_description(
                ctx, "Exit status: 0 done, 1 --timeout before --count events, 2 usage error,\n"
                     "3 the bus or the daemon cannot be reached. See ingester-listen(1).");
        g_option_context_add_main_entries(ctx, entries, NULL);
        ls.matches = g_array_new(FALSE, FALSE, sizeof(Match));
        g_array_set_clear_func(ls.matches, match_clear);
        if (!g_option_context_parse(ctx, &argc, &argv, &error) ||
            !parse_matches(match_args, ls.matches, &error) ||
            (count && !g_ascii_string_to_unsigned(count, 10, 1, G_MAXUINT64, &n, &error))) {
                g_printerr("ingester-listen: %s\n", error->message);
                status = EXIT_USAGE;
                goto out;
        }
        if (version) {
                printf("ingester-listen %s\n", PACKAGE_VERSION);
                status = EXIT_DONE;
                goto out;
        }
        if (argc > 1 || timeout < 0 ||
            (session ? 1 : 0) + (system_bus ? 1 : 0) + (address ? 1 : 0) > 1 ||
            (stats && (ls.types || match_args || count || follow))) {
                g_printerr("ingester-listen: %s\n",
                           argc > 1 ? "unexpected argument"
                           : timeout < 0 ? "--timeout must not be negative"
                           : stats ? "--stats takes no event options"
                                   : "--session, --system and --address exclude each other");
                status = EXIT_USAGE;
                goto out;
        }
        ls.count = n;
        if (!address) {
                resolved = g_dbus_address_get_for_bus_sync(system_bus ? G_BUS_TYPE_SYSTEM
                                                                      : G_BUS_TYPE_SESSION,
                                                           NULL, &error);
                if (!resolved) {
                        g_printerr("ingester-listen: %s\n", error->message);
                        status = EXIT_UNREACHABLE;
                        goto out;
                }
        }
        c = g_dbus_connection_new_for_address_sync(
                address ? address : resolved,
                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                NULL, NULL, &error);
        if (!c) {
                g_printerr("ingester-listen: cannot reach the bus: %s\n", error->message);
                status = EXIT_UNREACHABLE;
                goto out;
        }
        if (stats) {
                status = print_stats(c, name ? name : "org.ingester.Ingester1",
                                     path ? path : "/org/ingester/Ingester1");
                goto out;
        }
        g_dbus_connection_set_exit_on_close(c, FALSE);
        ls.loop = g_main_loop_new(NULL, FALSE);
        ls.line = g_string_new(NULL);
        ls.last_seq = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        ls.status = EXIT_DONE;
        filter_id = g_dbus_connection_add_filter(c, on_message, &ls, filter_done);
        /* the match rule (Event and EventBatch); the filter above does the work */
        g_dbus_connection_signal_subscribe(c, NULL, INTERFACE, NULL,
                                           path ? path : "/org/ingester/Ingester1", NULL,
                                           G_DBUS_SIGNAL_FLAGS_NONE, ignore_signal, NULL, NULL);
        g_signal_connect(c, "closed", G_CALLBACK(on_closed), &ls);
        {
                /* a round trip: the match is in place on the bus once this returns */
                g_autoptr(GVariant) id = g_dbus_connection_call_sync(
                        c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                        "org.freedesktop.DBus", "GetId", NULL, G_VARIANT_TYPE("(s)"),
                        G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
                if (!id) {
                        g_printerr("ingester-listen: %s\n", error->message);
                        status = EXIT_UNREACHABLE;
                        goto out;
                }
        }
        if (!quiet)
                g_printerr("# listening on %s\n", address ? address : resolved);
        if (timeout > 0)
                g_timeout_add((guint) (timeout * 1000), on_timeout, &ls);
        g_unix_signal_add(SIGINT, on_quit_signal, &ls);
        g_unix_signal_add(SIGTERM, on_quit_signal, &ls);
        g_main_loop_run(ls.loop);
        status = ls.status;
out:
        if (filter_id)
                g_dbus_connection_remove_filter(c, filter_id); /* frees ls, when it can */
        else
                listen_free(&ls);
        if (c)
                g_dbus_connection_close_sync(c, NULL, NULL);
        return status;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * subscriber.c — a GDBus subscriber of ingesterd that handles both signal
 * forms: Event (one event) and EventBatch (several; doc/protocol.md 4.2).
 *
 *   cc -o subscriber subscriber.c $(pkg-config --cflags --libs gio-unix-2.0)
 *   ./subscriber [--address ADDRESS] [--count N]
 *
 * Prints one line per event, whichever form it came in:
 *   SEQ TYPE FORM FDS DATA
 * FDS is how many descriptors came with that event; this example reads the
 * first bytes of each to show they are the event's own, then closes them.
 *
 * Why a filter and not only g_dbus_connection_signal_subscribe(): a signal
 * callback gets the body but not the message's descriptor list, and an
 * event's fds are handles into that list. The filter runs in GDBus's worker
 * thread, so it takes a reference to the message and hands it to the main
 * loop; everything else happens there. The subscription is still made: it
 * installs the match rule on the bus (without one the bus sends nothing).
 *
 * Under signal-form=both every event comes twice: a real subscriber matches
 * one member (member='Event' or member='EventBatch'); this one matches both
 * and, like ingester-listen, skips a seq it has already handled from the
 * same daemon connection.
 */
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <stdio.h>
#include <unistd.h>

#define INTERFACE "org.ingester.Ingester1"
#define PATH "/org/ingester/Ingester1"

typedef struct {
        GMainLoop *loop;
        guint64 count, seen;
        GHashTable *last_seq; /* sender -> guint64*: the last seq handled */
} Subscriber;

/* One event: (s type, a{sv} data, a{sv} meta, ah fds). */
static void handle_event(Subscriber *s, const char *sender, const char *form, GVariant *event,
                         GUnixFDList *list)
{
        g_autoptr(GVariant) data = g_variant_get_child_value(event, 1);
        g_autoptr(GVariant) meta = g_variant_get_child_value(event, 2);
        g_autoptr(GVariant) handles = g_variant_get_child_value(event, 3);
        g_autofree char *text = g_variant_print(data, FALSE);
        const char *type = NULL;
        guint64 seq = 0, *last = g_hash_table_lookup(s->last_seq, sender);
        gsize n = 0;
        const gint32 *h = g_variant_get_fixed_array(handles, &n, sizeof(gint32));

        if (s->count && s->seen >= s->count)
                return; /* done: what is still queued for the main loop is let go */
        g_variant_get_child(event, 0, "&s", &type);
        g_variant_lookup(meta, "seq", "t", &seq);
        if (last && seq <= *last)
                return; /* the other form of an event handled already */
        if (!last) {
                last = g_new0(guint64, 1);
                g_hash_table_insert(s->last_seq, g_strdup(sender), last);
        }
        *last = seq;
        printf("%" G_GUINT64_FORMAT " %s %s %zu %s", seq, type, form, n, text);
        for (gsize i = 0; i < n; i++) {
                /* the handle indexes this message's list; get() returns a duplicate */
                int fd = list ? g_unix_fd_list_get(list, h[i], NULL) : -1;
                char buf[32] = "";
                ssize_t len = fd >= 0 ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;

                buf[len > 0 ? len : 0] = '\0';
                printf(" fd%zu=%s", i, fd >= 0 ? buf : "(missing)");
                if (fd >= 0)
                        close(fd);
        }
        printf("\n");
        fflush(stdout);
        if (s->count && ++s->seen == s->count)
                g_main_loop_quit(s->loop);
}

typedef struct {
        Subscriber *s;
        GDBusMessage *m;
} Delivery;

/* Main loop: one Event, or each element of an EventBatch, in order. */
static gboolean on_delivery(gpointer user_data)
{
        Delivery *d = user_data;
        GDBusMessage *m = d->m;
        GVariant *body = g_dbus_message_get_body(m);
        GUnixFDList *list = g_dbus_message_get_unix_fd_list(m);
        const char *member = g_dbus_message_get_member(m);
        const char *sender = g_dbus_message_get_sender(m);

        if (g_strcmp0(member, "Event") == 0 &&
            g_variant_is_of_type(body, G_VARIANT_TYPE("(sa{sv}a{sv}ah)"))) {
                handle_event(d->s, sender, "Event", body, list);
        } else if (g_strcmp0(member, "EventBatch") == 0 &&
                   g_variant_is_of_type(body, G_VARIANT_TYPE("(a(sa{sv}a{sv}ah))"))) {
                g_autoptr(GVariant) events = g_variant_get_child_value(body, 0);
                GVariantIter iter;
                GVariant *event;

                g_variant_iter_init(&iter, events);
                while ((event = g_variant_iter_next_value(&iter))) {
                        handle_event(d->s, sender, "EventBatch", event, list);
                        g_variant_unref(event);
                }
        }
        g_object_unref(m);
        g_free(d);
        return G_SOURCE_REMOVE;
}

/* GDBus's worker thread: pass our signals to the main loop, with their fds. */
static GDBusMessage *on_message(GDBusConnection *c, GDBusMessage *m, gboolean incoming,
                                gpointer user_data)
{
        const char *member = g_dbus_message_get_member(m);
        Delivery *d;

        if (!incoming || g_dbus_message_get_message_type(m) != G_DBUS_MESSAGE_TYPE_SIGNAL ||
            g_strcmp0(g_dbus_message_get_interface(m), INTERFACE) != 0 ||
            (g_strcmp0(member, "Event") != 0 && g_strcmp0(member, "EventBatch") != 0))
                return m;
        d = g_new(Delivery, 1);
        d->s = user_data;
        d->m = m; /* our reference: the filter consumes the message */
        g_idle_add(on_delivery, d);
        return NULL;
}

static void on_signal(GDBusConnection *c, const char *sender, const char *path,
                      const char *iface, const char *member, GVariant *params, gpointer data)
{
        /* never called: the filter consumed the message; the subscription is its match rule */
}

int main(int argc, char **argv)
{
        g_autofree char *address = NULL;
        gint64 count = 0;
        const GOptionEntry entries[] = {
                { "address", 'a', 0, G_OPTION_ARG_STRING, &address,
                  "The bus (default: the session bus)", "ADDRESS" },
                { "count", 'n', 0, G_OPTION_ARG_INT64, &count, "Exit after N events", "N" },
                { NULL },
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("- print ingesterd's events");
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GVariant) id = NULL;
        Subscriber s = { 0 };
        guint filter;

        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                fprintf(stderr, "subscriber: %s\n", error->message);
                return 2;
        }
        c = address ? g_dbus_connection_new_for_address_sync(
                              address,
                              G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                      G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                              NULL, NULL, &error)
                    : g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
        if (!c) {
                fprintf(stderr, "subscriber: %s\n", error->message);
                return 1;
        }
        s.loop = g_main_loop_new(NULL, FALSE);
        s.count = count > 0 ? (guint64) count : 0;
        s.last_seq = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        filter = g_dbus_connection_add_filter(c, on_message, &s, NULL);
        /* interface only, no member: both forms */
        g_dbus_connection_signal_subscribe(c, NULL, INTERFACE, NULL, PATH, NULL,
                                           G_DBUS_SIGNAL_FLAGS_NONE, on_signal, NULL, NULL);
        /* a round trip, so the match is on the bus before we say we listen */
        id = g_dbus_connection_call_sync(c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                         "org.freedesktop.DBus", "GetId", NULL, NULL,
                                         G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        if (!id) {
                fprintf(stderr, "subscriber: %s\n", error->message);
                return 1;
        }
        fprintf(stderr, "listening\n");
        g_main_loop_run(s.loop);
        /* no more deliveries; then let the ones already queued go */
        g_dbus_connection_remove_filter(c, filter);
        g_dbus_connection_close_sync(c, NULL, NULL);
        while (g_main_context_iteration(NULL, FALSE))
                ;
        g_main_loop_unref(s.loop);
        g_hash_table_unref(s.last_seq);
        return 0;
}

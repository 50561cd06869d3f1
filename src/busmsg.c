/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* busmsg.c — the Event signal as a D-Bus message (see busmsg.h). */
#include <string.h>

#include "busmsg.h"
#include "config.h"
#include "vwriter.h"

#define INTERFACE "org.ingester.Ingester1"

/*
 * A value's D-Bus marshalling is never more than twice its GVariant
 * serialisation for the types the codec produces (the worst cases are
 * empty strings and empty dictionaries inside variants, where D-Bus spends
 * a length word and 8-byte padding that GVariant does not: 16 bytes against
 * 9). Below a quarter of the ceiling an event therefore fits without being
 * measured.
 */
#define EXPANSION_BOUND 4U
/* meta's members and the handle array: a few hundred bytes at most */
#define META_RESERVE 1024U

/* meta a{sv}, written directly in serialised form (vwriter.h explains why) */
static void write_meta(VWriter *w, const Event *ev, unsigned fds_dropped)
{
        const char *transport = transport_name(ev->meta.transport);
        const char *codec = codec_format_name(ev->meta.codec);
        VFrame array;
        VMember m;

#define MEMBER(key, signature, write)                                                              \
        do {                                                                                       \
                vwriter_member_begin(w, &m, key, strlen(key));                                     \
                write;                                                                             \
                vwriter_member_end(w, &array, &m, signature);                                      \
        } while (0)

        vwriter_array_begin(w, &array);
        MEMBER("seq", "t", vwriter_uint64(w, event_seq(ev)));
        MEMBER("received-usec", "x", vwriter_int64(w, ev->meta.received_usec));
        MEMBER("pid", "i", vwriter_int32(w, ev->meta.pid));
        MEMBER("uid", "u", vwriter_uint32(w, ev->meta.uid));
        MEMBER("gid", "u", vwriter_uint32(w, ev->meta.gid));
        MEMBER("transport", "s", vwriter_string(w, transport, strlen(transport)));
        MEMBER("codec", "s", vwriter_string(w, codec, strlen(codec)));
        if (fds_dropped)
                MEMBER("fds-dropped", "u", vwriter_uint32(w, fds_dropped));
#undef MEMBER
        vwriter_array_end(w, &array);
}

static GVariant *build_meta(const Event *ev, unsigned fds_dropped)
{
        VWriter *w = vwriter_acquire();

        write_meta(w, ev, fds_dropped);
        return vwriter_finish(w, G_VARIANT_TYPE_VARDICT);
}

GDBusMessage *busmsg_event(const char *object_path, const Event *ev, GUnixFDList *fds,
                           unsigned fds_dropped)
{
        GDBusMessage *m = g_dbus_message_new_signal(object_path, INTERFACE, "Event");
        gint32 handles[BUS_MAX_MESSAGE_FDS];
        unsigned n = fds ? (unsigned) g_unix_fd_list_get_length(fds) : 0;
        GVariant *body[4];

        g_assert(n <= G_N_ELEMENTS(handles));
        for (unsigned i = 0; i < n; i++)
                handles[i] = (gint32) i;
        /* g_variant_new_tuple, not g_variant_new("(@s@a{sv}@a{sv}@ah)"): the
         * format-string parser and its type checks were 8% of the main
         * thread under load (perf, doc/performance.md). */
        body[0] = ev->type;
        body[1] = ev->data;
        body[2] = build_meta(ev, fds_dropped);
        body[3] = g_variant_new_fixed_array(G_VARIANT_TYPE_HANDLE, handles, n, sizeof(gint32));
        g_dbus_message_set_body(m, g_variant_new_tuple(body, G_N_ELEMENTS(body)));
        g_variant_unref(body[2]);
        if (fds)
                g_dbus_message_set_unix_fd_list(m, fds);
        return m;
}

/*
 * The body (a(sa{sv}a{sv}ah)) in serialised form, in one pass: per element
 * a struct of four variable-sized members, so three framing offsets (the
 * ends of type, data and meta, reversed, at the struct's end), and the
 * array's own offset table after the last element. type and data are
 * copied as they are: both are GVariants in normal form already, and data
 * starts 8-aligned, as its own serialisation assumes.
 */
GDBusMessage *busmsg_batch(const char *object_path, const BusmsgItem *items, size_t n,
                           GUnixFDList *fds)
{
        GDBusMessage *m = g_dbus_message_new_signal(object_path, INTERFACE, "EventBatch");
        VWriter *w = vwriter_acquire();
        g_autoptr(GVariant) body = NULL;
        VFrame array;

        vwriter_array_begin(w, &array);
        for (size_t i = 0; i < n; i++) {
                const Event *ev = items[i].ev;
                VFrame st;
                size_t ends[3];

                vwriter_struct_begin(w, &st);
                vwriter_bytes(w, g_variant_get_data(ev->type), g_variant_get_size(ev->type));
                ends[0] = w->len - st.start;
                vwriter_align(w, 8);
                vwriter_bytes(w, g_variant_get_data(ev->data), g_variant_get_size(ev->data));
                ends[1] = w->len - st.start;
                vwriter_align(w, 8);
                write_meta(w, ev, items[i].fds_dropped);
                ends[2] = w->len - st.start;
                vwriter_align(w, 4);
                for (unsigned h = 0; h < items[i].n_fds; h++)
                        vwriter_int32(w, (int32_t) (items[i].fd_base + h));
                vwriter_struct_end(w, &st, ends, G_N_ELEMENTS(ends));
                vwriter_item_end(w, &array);
        }
        vwriter_array_end(w, &array);
        body = vwriter_finish(w, G_VARIANT_TYPE("(a(sa{sv}a{sv}ah))")); /* ours, not floating */
        g_dbus_message_set_body(m, body);
        if (fds)
                g_dbus_message_set_unix_fd_list(m, fds);
        return m;
}

size_t busmsg_batch_size(const Event *ev)
{
        /* the struct's padding, the handles, and the expansion bound of busmsg_fits() */
        return 8 + 4 * (size_t) ev->n_fds + META_RESERVE +
               2 * (g_variant_get_size(ev->data) + g_variant_get_size(ev->type));
}

bool busmsg_fits(const char *object_path, const Event *ev)
{
        const size_t ceiling = BUS_MAX_MESSAGE_SIZE - BUSMSG_HEADER_RESERVE;
        size_t size = g_variant_get_size(ev->data) + g_variant_get_size(ev->type);
        g_autoptr(GDBusMessage) m = NULL;
        g_autofree guchar *blob = NULL;
        gsize blob_len = 0;

        if (size <= (ceiling - META_RESERVE) / EXPANSION_BOUND)
                return true;
        if (size > ceiling)
                return false;
        m = busmsg_event(object_path, ev, NULL, ev->n_fds);
        blob = g_dbus_message_to_blob(m, &blob_len, G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING, NULL);
        /* + the unix-fds header field, and EventBatch's longer member and
         * signature and its array's length and padding (a batch of one) */
        return blob && blob_len + 64 + BUSMSG_BATCH_EXTRA <= ceiling;
}

size_t busmsg_cost(const Event *ev)
{
        /* the serialised body (GDBus flattens the tuple) and the wire blob */
        return BUSMSG_OVERHEAD + META_RESERVE +
               2 * (g_variant_get_size(ev->data) + g_variant_get_size(ev->type));
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-busmsg.c — the signals as messages: the bus's message ceiling at its
 * boundary, and the EventBatch body byte for byte GLib's normal form.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <stdio.h>

#include "busmsg.h"
#include "cunit-tap.h"

static Event *event_of_bytes(size_t n)
{
        g_autofree guint8 *buf = g_malloc0(n);
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", "b",
                              g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, buf, n, 1));
        return event_new(&(EventMeta){ 0 }, g_variant_ref_sink(g_variant_new_string("big")),
                         g_variant_ref_sink(g_variant_builder_end(&b)), NULL, 0);
}

/* The bus's message ceiling: both sides of the measured path and of the quick one. */
static void test_message_ceiling_at_its_boundary(void)
{
        const size_t ceiling = BUS_MAX_MESSAGE_SIZE - BUSMSG_HEADER_RESERVE;
        const char *path = "/org/ingester/Ingester1";
        /* the message is its data plus a few hundred bytes of header, type and meta */
        const size_t sizes[] = { ceiling / 4 - 4096, ceiling - 8192, ceiling - 64,
                                 BUS_MAX_MESSAGE_SIZE + 1 };
        const bool fits[] = { true, true, false, false };

        for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
                g_autoptr(Event) e = event_of_bytes(sizes[i]);
                if (busmsg_fits(path, e) != fits[i])
                        printf("# %zu bytes of data: fits should be %d\n", sizes[i], fits[i]);
                CU_ASSERT_EQUAL(busmsg_fits(path, e), fits[i]);
        }
}

/* An event whose data holds one string of `len` bytes; fds as given. */
static Event *event_with_string(unsigned i, size_t len, unsigned n_fds)
{
        g_autofree char *text = g_strnfill(len, (char) ('a' + i % 26));
        GVariantBuilder b;
        Event *e;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", "i", g_variant_new_int64(i));
        g_variant_builder_add(&b, "{sv}", "s", g_variant_new_string(text));
        e = event_new(&(EventMeta){ 0 }, g_variant_ref_sink(g_variant_new_string(i % 2 ? "odd" : "")),
                      g_variant_ref_sink(g_variant_builder_end(&b)), NULL, 0);
        e->n_fds = n_fds; /* only counted here: the handles are what is compared */
        e->q.seq = 1000 + i;
        e->meta.received_usec = 1764000000000000 + i;
        e->meta.pid = (pid_t) (100 + i);
        e->meta.uid = 1000;
        e->meta.gid = 1000;
        e->meta.transport = TRANSPORT_SEQPACKET;
        e->meta.codec = CODEC_FORMAT_JSON;
        return e;
}

/* What GLib itself makes of the same batch: the reference. */
static GVariant *batch_reference(Event **evs, const BusmsgItem *items, size_t n)
{
        GVariantBuilder array;

        g_variant_builder_init(&array, G_VARIANT_TYPE("a(sa{sv}a{sv}ah)"));
        for (size_t k = 0; k < n; k++) {
                GVariantBuilder meta, handles;
                g_variant_builder_init(&meta, G_VARIANT_TYPE_VARDICT);
                g_variant_builder_add(&meta, "{sv}", "seq", g_variant_new_uint64(evs[k]->q.seq));
                g_variant_builder_add(&meta, "{sv}", "received-usec",
                                      g_variant_new_int64(evs[k]->meta.received_usec));
                g_variant_builder_add(&meta, "{sv}", "pid", g_variant_new_int32(evs[k]->meta.pid));
                g_variant_builder_add(&meta, "{sv}", "uid", g_variant_new_uint32(evs[k]->meta.uid));
                g_variant_builder_add(&meta, "{sv}", "gid", g_variant_new_uint32(evs[k]->meta.gid));
                g_variant_builder_add(&meta, "{sv}", "transport", g_variant_new_string("seqpacket"));
                g_variant_builder_add(&meta, "{sv}", "codec", g_variant_new_string("json"));
                if (items[k].fds_dropped)
                        g_variant_builder_add(&meta, "{sv}", "fds-dropped",
                                              g_variant_new_uint32(items[k].fds_dropped));
                g_variant_builder_init(&handles, G_VARIANT_TYPE("ah"));
                for (unsigned h = 0; h < items[k].n_fds; h++)
                        g_variant_builder_add(&handles, "h", (gint32) (items[k].fd_base + h));
                g_variant_builder_add(&array, "(@s@a{sv}a{sv}ah)", evs[k]->type, evs[k]->data, &meta,
                                      &handles);
        }
        return g_variant_ref_sink(g_variant_new("(a(sa{sv}a{sv}ah))", &array));
}

/*
 * busmsg_batch() writes the body's serialised form itself and hands it to
 * GLib as trusted: it must be byte for byte the normal form GLib would
 * make, at every framing-offset width (structs past 255 bytes, the array
 * past 65 535), with and without handles and fds-dropped.
 */
static void test_batch_body_is_the_normal_form(void)
{
        static const struct {
                size_t n, len;
        } shapes[] = { { 1, 0 }, { 3, 10 }, { 2, 300 }, { 5, 200 }, { 3, 30000 }, { 1, 70000 },
                       { 64, 40 } };

        for (size_t s = 0; s < G_N_ELEMENTS(shapes); s++) {
                Event *evs[64];
                BusmsgItem items[64];
                unsigned fd_base = 0;
                g_autoptr(GDBusMessage) m = NULL;
                g_autoptr(GVariant) ref = NULL;
                GVariant *body;

                for (size_t k = 0; k < shapes[s].n; k++) {
                        unsigned nfds = k % 3 == 1 ? 2 : 0;
                        evs[k] = event_with_string((unsigned) k, shapes[s].len + k, nfds);
                        items[k] = (BusmsgItem){ .ev = evs[k], .fd_base = fd_base };
                        if (k % 5 == 4)
                                items[k].fds_dropped = 1; /* went without its fds */
                        else
                                items[k].n_fds = nfds;
                        fd_base += items[k].n_fds;
                }
                m = busmsg_batch("/org/ingester/Ingester1", items, shapes[s].n, NULL);
                body = g_dbus_message_get_body(m);
                ref = batch_reference(evs, items, shapes[s].n);
                CU_ASSERT_STRING_EQUAL(g_variant_get_type_string(body), "(a(sa{sv}a{sv}ah))");
                CU_ASSERT_TRUE(g_variant_is_normal_form(body));
                CU_ASSERT_EQUAL_FATAL(g_variant_get_size(body), g_variant_get_size(ref));
                if (memcmp(g_variant_get_data(body), g_variant_get_data(ref),
                           g_variant_get_size(ref)) != 0) {
                        printf("# shape %zu: %zu events of %zu bytes differ from GLib's\n", s,
                               shapes[s].n, shapes[s].len);
                        CU_FAIL("not GLib's serialisation");
                }
                for (size_t k = 0; k < shapes[s].n; k++) {
                        evs[k]->n_fds = 0; /* it had none to close */
                        event_free(evs[k]);
                }
        }
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(message_ceiling_at_its_boundary),
                TAP_TEST(batch_body_is_the_normal_form),
                { NULL, NULL },
        };

        /* kept in the "queue" suite's name, as they were reported before */
        tap_add_suite("queue", NULL, NULL, tests);
        return tap_run();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-body.c — what GDBus spends to turn one Event signal into bytes,
 * by the form its body is in. Prints ns per message; never fails.
 *
 * ingesterd's body is new for every event and in GVariant's serialised
 * form (the codec and the meta writer produce it so). ingester-bench's
 * bare emitter sends a body built once with g_variant_new(): a tree,
 * whose children GDBus reaches by reference. This program builds the
 * signal (g_dbus_message_new_signal + body + g_dbus_message_to_blob) for
 * the benchmark's event shaped each way:
 *
 *   serialised   data and meta in serialised form, as ingesterd sends
 *   tree-once    data and meta trees built once and reused (the emitter)
 *   tree-meta    data serialised, meta built as a tree for every message
 *   tree-both    data and meta built as trees for every message
 *
 * Usage: bench-body [MESSAGES [MODE]]. Wall-clock ns move a lot on a
 * shared machine; for instruction counts run one mode at a time under
 * `valgrind --tool=callgrind tools/bench-body 10000 MODE` and divide the
 * inclusive cost of bench() by the messages (doc/performance.md).
 */
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"

static const char event_json[] =
        "{\"type\":\"ConnectionBlocked\",\"container\":\"web-frontend-7d9f\","
        "\"request_id\":\"5f0c2a1e-9b7d-4c1e-8f3a-2b6d9e0a1c4f\",\"src\":\"10.88.0.12\","
        "\"dst\":\"93.184.216.34\",\"port\":443,\"proto\":\"tcp\",\"ts\":1763731200.125}";

static GVariant *entry(const char *key, GVariant *value)
{
        return g_variant_new_dict_entry(g_variant_new_string(key), g_variant_new_variant(value));
}

/* the same members as the relay's build_meta() */
static GVariant *meta_tree(guint64 seq)
{
        GVariant *e[] = {
                entry("seq", g_variant_new_uint64(seq)),
                entry("received-usec", g_variant_new_int64(1763731200125000)),
                entry("pid", g_variant_new_int32(4242)),
                entry("uid", g_variant_new_uint32(1000)),
                entry("gid", g_variant_new_uint32(1000)),
                entry("transport", g_variant_new_string("seqpacket")),
                entry("codec", g_variant_new_string("json")),
        };
        return g_variant_new_array(NULL, e, G_N_ELEMENTS(e));
}

/* a tree with the same members as a serialised a{sv} */
static GVariant *tree_of(GVariant *serialised)
{
        GVariantBuilder b;
        GVariantIter iter;
        const char *key;
        GVariant *value;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_iter_init(&iter, serialised);
        while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
                g_variant_builder_add(&b, "{sv}", key, value);
                g_variant_unref(value);
        }
        return g_variant_builder_end(&b);
}

/* a serialised copy, as the daemon's writer would produce it */
static GVariant *serialised_of(GVariant *tree)
{
        g_autoptr(GVariant) sunk = g_variant_ref_sink(tree);
        g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes(sunk);

        return g_variant_ref_sink(g_variant_new_from_bytes(g_variant_get_type(sunk), bytes, TRUE));
}

static gsize to_blob(guint32 serial, GVariant *type, GVariant *data, GVariant *meta)
{
        g_autoptr(GDBusMessage) m =
                g_dbus_message_new_signal("/org/ingester/Ingester1", "org.ingester.Ingester1", "Event");
        GVariant *body[] = { type, data, meta,
                             g_variant_new_fixed_array(G_VARIANT_TYPE_HANDLE, NULL, 0, sizeof(gint32)) };
        g_autofree guchar *blob = NULL;
        gsize size = 0;

        g_dbus_message_set_body(m, g_variant_new_tuple(body, G_N_ELEMENTS(body)));
        g_dbus_message_set_serial(m, serial);
        blob = g_dbus_message_to_blob(m, &size, G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING, NULL);
        if (!blob)
                g_error("g_dbus_message_to_blob failed");
        return size;
}

typedef enum { SERIALISED, TREE_ONCE, TREE_META, TREE_BOTH } Mode;

static double bench(Mode mode, const CodecEvent *ev, GVariant *data_tree, GVariant *meta_ser,
                    GVariant *meta_once, unsigned n)
{
        gint64 t0 = g_get_monotonic_time();

        for (unsigned i = 0; i < n; i++) {
                g_autoptr(GVariant) data = NULL, meta = NULL;

                switch (mode) {
                case SERIALISED:
                        data = g_variant_ref(ev->data);
                        meta = g_variant_ref(meta_ser);
                        break;
                case TREE_ONCE:
                        data = g_variant_ref(data_tree);
                        meta = g_variant_ref(meta_once);
                        break;
                case TREE_META:
                        data = g_variant_ref(ev->data);
                        meta = g_variant_ref_sink(meta_tree(i));
                        break;
                case TREE_BOTH:
                        data = g_variant_ref_sink(tree_of(ev->data));
                        meta = g_variant_ref_sink(meta_tree(i));
                        break;
                }
                to_blob(i + 1, ev->type, data, meta);
        }
        return (double) (g_get_monotonic_time() - t0) * 1000.0 / n;
}

int main(int argc, char **argv)
{
        static const char *const names[] = { "serialised", "tree-once", "tree-meta", "tree-both" };
        unsigned n = argc > 1 ? (unsigned) strtoul(argv[1], NULL, 10) : 100000;
        CodecLimits limits = CODEC_LIMITS_DEFAULT;
        CodecEvent ev = { 0 };
        g_autoptr(GVariant) data_tree = NULL, meta_ser = NULL, meta_once = NULL;

        if (codec_decode(&limits, CODEC_FORMAT_AUTO, event_json, strlen(event_json), &ev))
                g_error("benchmark event rejected");
        data_tree = g_variant_ref_sink(tree_of(ev.data));
        meta_ser = serialised_of(meta_tree(1));
        meta_once = g_variant_ref_sink(meta_tree(1));

        if (argc <= 2)
                bench(SERIALISED, &ev, data_tree, meta_ser, meta_once, n / 10); /* warm up */
        printf("body         ns/message  (new_signal + to_blob + free, %u messages)\n", n);
        for (Mode m = SERIALISED; m <= TREE_BOTH; m++)
                if (argc <= 2 || g_str_equal(argv[2], names[m]))
                        printf("%-12s %10.0f\n", names[m],
                               bench(m, &ev, data_tree, meta_ser, meta_once, n));
        codec_event_clear(&ev);
        return 0;
}

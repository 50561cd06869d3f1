/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-codec.c — ns per decoded event, JSON and msgpack, for a ~200-byte
 * event shaped like the daemon's typical traffic. Prints; never fails.
 */
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"

static const char event_json[] =
        "{\"type\":\"ConnectionBlocked\",\"container\":\"web-frontend-7d9f\","
        "\"request_id\":\"5f0c2a1e-9b7d-4c1e-8f3a-2b6d9e0a1c4f\",\"src\":\"10.88.0.12\","
        "\"dst\":\"93.184.216.34\",\"port\":443,\"proto\":\"tcp\",\"ts\":1763731200.125}";

static double bench(const char *buf, size_t len, unsigned n)
{
        CodecLimits limits = CODEC_LIMITS_DEFAULT;
        gint64 t0 = g_get_monotonic_time();

        for (unsigned i = 0; i < n; i++) {
                CodecEvent ev = { 0 };
                if (codec_decode(&limits, CODEC_FORMAT_AUTO, buf, len, &ev) != CODEC_OK)
                        g_error("benchmark event rejected");
                codec_event_clear(&ev);
        }
        return (double) (g_get_monotonic_time() - t0) * 1000.0 / n;
}

int main(int argc, char **argv)
{
        unsigned n = argc > 1 ? (unsigned) strtoul(argv[1], NULL, 10) : 200000;
        CodecLimits limits = CODEC_LIMITS_DEFAULT;
        CodecEvent ev = { 0 };
        msgpack_sbuffer sbuf;
        msgpack_packer pk;
        GVariantIter iter;
        const char *key;
        GVariant *value;
        double json_ns, mp_ns;

        /* the same event as msgpack, built from the decoded JSON */
        if (codec_decode(&limits, CODEC_FORMAT_AUTO, event_json, strlen(event_json), &ev))
                g_error("benchmark event rejected");
        msgpack_sbuffer_init(&sbuf);
        msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, g_variant_n_children(ev.data));
        g_variant_iter_init(&iter, ev.data);
        while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
                msgpack_pack_str_with_body(&pk, key, strlen(key));
                if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING)) {
                        const char *s = g_variant_get_string(value, NULL);
                        msgpack_pack_str_with_body(&pk, s, strlen(s));
                } else if (g_variant_is_of_type(value, G_VARIANT_TYPE_INT64)) {
                        msgpack_pack_int64(&pk, g_variant_get_int64(value));
                } else {
                        msgpack_pack_double(&pk, g_variant_get_double(value));
                }
                g_variant_unref(value);
        }
        codec_event_clear(&ev);

        bench(event_json, strlen(event_json), n / 10); /* warm up */
        json_ns = bench(event_json, strlen(event_json), n);
        mp_ns = bench(sbuf.data, sbuf.size, n);
        printf("codec      bytes  ns/event  events/s\n");
        printf("json       %5zu  %8.0f  %8.0f\n", strlen(event_json), json_ns, 1e9 / json_ns);
        printf("msgpack    %5zu  %8.0f  %8.0f\n", sbuf.size, mp_ns, 1e9 / mp_ns);
        msgpack_sbuffer_destroy(&sbuf);
        return 0;
}

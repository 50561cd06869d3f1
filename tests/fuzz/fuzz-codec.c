/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-codec.c — libFuzzer target over codec_decode(): any bytes, decoded
 * with the default limits and with tight ones, auto-detected and with each
 * codec pinned. A value that comes back must be a bus-ready a{sv} in normal
 * form with an "s" type; nothing may crash, leak or read out of bounds.
 * Built by `make fuzz` (clang) and replayed over its corpus by make check.
 */
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const CodecLimits *limits, CodecFormat pin, const uint8_t *data, size_t size)
{
        CodecEvent ev = { 0 };

        if (codec_decode(limits, pin, data, size, &ev) != CODEC_OK)
                return;
        g_assert_true(g_variant_is_of_type(ev.data, G_VARIANT_TYPE_VARDICT));
        g_assert_true(g_variant_is_normal_form(ev.data));
        g_assert_true(g_variant_is_of_type(ev.type, G_VARIANT_TYPE_STRING));
        codec_event_clear(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const CodecLimits tight = { .max_depth = 3, .max_members = 4, .max_string = 8 };
        const CodecLimits def = CODEC_LIMITS_DEFAULT;

        decode(&def, CODEC_FORMAT_AUTO, data, size);
        decode(&tight, CODEC_FORMAT_AUTO, data, size);
        decode(&def, CODEC_FORMAT_JSON, data, size);
        decode(&def, CODEC_FORMAT_MSGPACK, data, size);
        return 0;
}

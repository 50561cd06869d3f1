/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * codec-detect.c — codec_decode(): which decoder a payload is for.
 *
 * Detection (doc/protocol.md, "Encoding"): a first byte 0x80-0x8f, 0xde or
 * 0xdf is a msgpack map and must start the packet; otherwise leading JSON
 * whitespace is skipped and '{' means a JSON object. Whitespace is never
 * skipped before msgpack: 0x20 is a valid msgpack fixint, so "skip spaces,
 * then a map" would be a second, ambiguous encoding.
 *
 * A file of its own so the layers point one way: the decoders build on
 * codec.c's shared pieces, and this, which calls both, sits above them.
 */
#include "codec-internal.h"

static bool is_msgpack_map(unsigned char c)
{
        return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf;
}

static bool is_json_ws(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

CodecReason codec_decode(const CodecLimits *limits, CodecFormat pin, const void *buf, size_t len,
                         CodecEvent *ret)
{
        const char *p = buf;
        size_t i = 0;

        g_assert(codec_limits_check(limits) == NULL);

        if (len == 0)
                return CODEC_E_EMPTY;

        if (is_msgpack_map((unsigned char) p[0])) {
                if (pin == CODEC_FORMAT_JSON)
                        return CODEC_E_ENCODING_NOT_ALLOWED;
                return codec_decode_msgpack(limits, p, len, ret);
        }

        /* A pinned msgpack listener parses whatever it gets as msgpack */
        if (pin == CODEC_FORMAT_MSGPACK) {
                while (i < len && is_json_ws(p[i]))
                        i++;
                if (i < len && p[i] == '{')
                        return CODEC_E_ENCODING_NOT_ALLOWED;
                return codec_decode_msgpack(limits, p, len, ret);
        }

        while (i < len && is_json_ws(p[i]))
                i++;
        if (i == len)
                return CODEC_E_EMPTY;
        if (p[i] != '{' && pin != CODEC_FORMAT_JSON)
                return CODEC_E_UNKNOWN_ENCODING;

        return codec_decode_json(limits, p, len, ret);
}

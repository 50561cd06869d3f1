/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * codec-internal.h — what the codec's own files share (codec.c's pieces,
 * the two decoders codec-detect.c calls). Nothing outside src/codec*.c
 * includes it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "codec.h"

typedef struct VWriter VWriter;
CodecReason codec_decode_json(const CodecLimits *limits, const char *buf, size_t len,
                              CodecEvent *ret);
CodecReason codec_decode_msgpack(const CodecLimits *limits, const char *buf, size_t len,
                                 CodecEvent *ret);
/* Checks one key or string value: length, NUL, UTF-8. */
CodecReason codec_check_string(const CodecLimits *limits, const char *s, size_t len);
/* Finishes a decoded event from the writer and the "type" member's bytes. */
void codec_event_take(CodecEvent *ret, CodecFormat format, VWriter *w, const char *type,
                      size_t type_len);

/*
 * What a value costs at least in an Event's marshalled body, so the scans
 * can tell, before anything is allocated, that an event cannot fit the
 * bus's message ceiling (BUS_MAX_MESSAGE_SIZE): then it is refused as
 * too-large at once. A decoded tree costs tens of bytes per value, so
 * without this an 18 MiB large event of small integers made the daemon
 * allocate a gigabyte before finding it too large. The bounds are the
 * D-Bus marshalling's minimum: a variant in an av is a signature (length
 * byte, code, NUL) and a value of 4 bytes at least (b; x and d take 8, a
 * string 5, an array's length 4), so 7 bytes; an a{sv} member is its
 * dict entry's key (a length and a NUL: 5) and such a variant. So a string
 * (key or value) counts 5, any other value 7; a null takes back its key
 * (a null member is left out); the top-level object counts nothing (its
 * own length is the body's).
 */
#define CODEC_WIRE_MIN_STRING 5U
#define CODEC_WIRE_MIN_VALUE  7U

static inline size_t codec_wire_add(size_t wire, bool string, bool null)
{
        if (null)
                return wire >= CODEC_WIRE_MIN_STRING ? wire - CODEC_WIRE_MIN_STRING : 0;
        return wire + (string ? CODEC_WIRE_MIN_STRING : CODEC_WIRE_MIN_VALUE);
}

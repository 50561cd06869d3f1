/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * codec-internal.h — what the codec's own files share (codec.c's pieces,
 * the two decoders codec-detect.c calls). Nothing outside src/codec*.c
 * includes it.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

typedef struct VWriter VWriter;
CodecReason codec_decode_json(const CodecLimits *limits, const char *buf, size_t len,
                              CodecEvent *ret);
CodecReason codec_decode_msgpack(const CodecLimits *limits, const char *buf, size_t len,
                                 CodecEvent *ret);
/* Checks one key or string value: length, NUL, UTF-8. */
CodecReason codec_check_string(const CodecLimits *limits, const char *s, size_t len);
/*
 * Duplicate keys, one meaning for both codecs (as json-c decoded JSON): the
 * member sits where its key first appears and holds the last value (a last
 * null removes it). A decoder writes an object's members in one pass while
 * codec_pair_seen() says no key repeats, and at the first repeat writes it
 * again from all its pairs, each first occurrence with the value
 * codec_pairs_winners() names.
 */
typedef struct {
        const char *ptr; /* the key, unescaped */
        size_t len;
        size_t value; /* where its value starts in the input */
        char *owned;  /* ptr, when the decoder had to copy it (else NULL) */
} CodecPair;

/* Whether pairs[k]'s key is one of pairs[0 .. k)'s. *table (NULL at first,
 * g_hash_table_unref() it, and drop it when pairs moves) is made from 16
 * keys on. */
bool codec_pair_seen(const CodecPair *pairs, size_t k, GHashTable **table);
/* winner[k]: the index of the pair whose value the key of pairs[k] takes, or
 * -1 when an earlier pair has the same key (that one is written). */
void codec_pairs_winners(const CodecPair *pairs, size_t n, int64_t *winner);

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
 * byte, code, NUL: 3) and its value; a boolean takes 4 bytes, a string 5,
 * an array's length 4, so 7 at least; a number (x, t, d) 8 aligned to 8,
 * so 11 at least, and 16 when the value before it in the same container
 * was a number too (it ended 8-aligned: 5 bytes of padding). An a{sv}
 * member is its key (a length and a NUL: 5) and such a variant. A null
 * takes back its key (a null member is left out); the top-level object
 * counts nothing (its own length is the body's).
 */
typedef enum {
        CODEC_WIRE_STRING,  /* a key or a string */
        CODEC_WIRE_NUMBER,  /* after something else */
        CODEC_WIRE_NUMBER_AFTER_NUMBER,
        CODEC_WIRE_NULL,
        CODEC_WIRE_OTHER,   /* true, false, an array, an object, a bin */
} CodecWireKind;

static inline size_t codec_wire_add(size_t wire, CodecWireKind kind)
{
        switch (kind) {
        case CODEC_WIRE_STRING:
                return wire + 5;
        case CODEC_WIRE_NUMBER:
                return wire + 11;
        case CODEC_WIRE_NUMBER_AFTER_NUMBER:
                return wire + 16;
        case CODEC_WIRE_NULL:
                return wire >= 5 ? wire - 5 : 0;
        case CODEC_WIRE_OTHER:
                break;
        }
        return wire + 7;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * codec.h — one packet's bytes in, one D-Bus value (or one precise reason) out.
 *
 * The codec owns the payload rules of doc/protocol.md and nothing else: it
 * never touches sockets, the queue or the bus. Every value it accepts is a
 * GVariant of type a{sv} in normal form that the bus will accept (strings
 * are valid UTF-8 without NUL, the nesting fits the bus's depth budget).
 * Every refusal is a CodecReason whose name is a stable counter key.
 *
 * Error convention: plain enum results (this is the syscall-free core); the
 * caller decides whether and how to log.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
        CODEC_FORMAT_AUTO = 0, /* detect from the first byte(s) */
        CODEC_FORMAT_JSON,
        CODEC_FORMAT_MSGPACK,
} CodecFormat;

/*
 * Reasons a payload is refused. The names (codec_reason_name()) appear as
 * keys of the daemon's "rejected" counters and in doc/protocol.md; never
 * rename one.
 */
typedef enum {
        CODEC_OK = 0,
        CODEC_E_EMPTY,              /* "empty": no bytes, or only whitespace */
        CODEC_E_UNKNOWN_ENCODING,   /* "unknown-encoding": neither '{' nor a msgpack map */
        CODEC_E_ENCODING_NOT_ALLOWED, /* "encoding-not-allowed": the listener pins the other codec */
        CODEC_E_NOT_OBJECT,         /* "not-object": top level is not an object/map (pinned codec) */
        CODEC_E_SYNTAX,             /* "syntax": malformed document */
        CODEC_E_TRUNCATED,          /* "truncated": the document ends early */
        CODEC_E_TRAILING_DATA,      /* "trailing-data": bytes after the object */
        CODEC_E_TOO_DEEP,           /* "too-deep": nesting over max-depth */
        CODEC_E_TOO_MANY_MEMBERS,   /* "too-many-members": an object/array over max-members */
        CODEC_E_STRING_TOO_LONG,    /* "string-too-long": a key, string or bin over max-string */
        CODEC_E_INVALID_UTF8,       /* "invalid-utf8": also lone UTF-16 surrogate escapes */
        CODEC_E_NUL_IN_STRING,      /* "nul-in-string": \u0000 or a NUL byte in a msgpack str */
        CODEC_E_KEY_NOT_STRING,     /* "key-not-string": msgpack map key of another type */
        CODEC_E_INTEGER_OUT_OF_RANGE, /* "integer-out-of-range": beyond int64/uint64 */
        CODEC_E_NUMBER_NOT_FINITE,  /* "number-not-finite": overflows to inf, or a NaN/inf float */
        CODEC_E_UNSUPPORTED_TYPE,   /* "unsupported-type": msgpack ext / timestamp */
        CODEC_E_TYPE_NOT_STRING,    /* "type-not-string": the "type" member is not a string */
        CODEC_E_NULL_IN_ARRAY,      /* "null-in-array": D-Bus has no null, and an array cannot skip one */
        CODEC_E_TOO_LARGE,          /* "too-large": its values alone pass the bus's message ceiling
                                     * (the receive path refuses under this name too) */
        _CODEC_REASON_MAX,
} CodecReason;

/*
 * Nesting is counted in containers, the top-level object being 1. The bus
 * refuses a message whose containers nest deeper than 64 (an a{sv} level
 * costs 3: array, dict entry, variant; the signal body 1; a bin 1 more), and
 * disconnects the sender of one, so max_depth can never exceed
 * CODEC_DEPTH_CEILING (1 + 3*20 + 1 = 62 <= 64; measured against
 * dbus-daemon 1.14 by tests/test-daemon.c).
 */
#define CODEC_DEPTH_CEILING       20U
#define CODEC_DEFAULT_MAX_DEPTH   16U
#define CODEC_DEFAULT_MAX_MEMBERS 1024U
#define CODEC_MAX_MEMBERS_CEILING (1U << 20)
#define CODEC_DEFAULT_MAX_STRING  65536U
/* msgpack str32/bin32 lengths and JSON strings alike; GVariant has no lower cap */
#define CODEC_MAX_STRING_CEILING  (16U * 1024U * 1024U)

typedef struct {
        unsigned max_depth;   /* 1 .. CODEC_DEPTH_CEILING */
        unsigned max_members; /* per object/array, >= 1 */
        size_t max_string;    /* bytes, per key, string or bin */
} CodecLimits;

#define CODEC_LIMITS_DEFAULT                                                                       \
        ((CodecLimits){ .max_depth = CODEC_DEFAULT_MAX_DEPTH,                                      \
                        .max_members = CODEC_DEFAULT_MAX_MEMBERS,                                  \
                        .max_string = CODEC_DEFAULT_MAX_STRING })

typedef struct {
        CodecFormat format; /* the codec that decoded it */
        GVariant *type;     /* 's', the "type" member ("" when absent); owned */
        GVariant *data;     /* 'a{sv}', normal form, not floating; owned */
} CodecEvent;

/*
 * Decode one packet. On CODEC_OK *ret holds the event (release with
 * codec_event_clear()); on any other result *ret is untouched.
 * pin == CODEC_FORMAT_AUTO detects the encoding.
 */
CodecReason codec_decode(const CodecLimits *limits, CodecFormat pin, const void *buf, size_t len,
                         CodecEvent *ret);

void codec_event_clear(CodecEvent *ev);

/* Stable name for counters and logs; NULL for an out-of-range value. */
const char *codec_reason_name(CodecReason r);
/* The reverse, for tests and config; returns _CODEC_REASON_MAX when unknown. */
CodecReason codec_reason_from_name(const char *name);
const char *codec_format_name(CodecFormat f);

/* Limits are valid? Returns NULL, or a static message naming the bad field. */
const char *codec_limits_check(const CodecLimits *limits);

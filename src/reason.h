/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reason.h — every reason an attempt can be refused for, in one place: the
 * codec's (codec.h, with their values) and the receive path's after them.
 * The names are the keys of GetStats' "rejected" dictionary, of the log's
 * INGESTER_REASON= field and of the "refused" answers, and appear in
 * doc/protocol.md section 2: never rename one.
 */
#pragma once

#include "codec.h"

typedef enum {
        /* the codec's reasons come first, with their values */
        REASON_FDS_TRUNCATED = _CODEC_REASON_MAX, /* "fds-truncated": MSG_CTRUNC */
        REASON_TOO_MANY_FDS,                  /* "too-many-fds": over max-fds */
        REASON_NOT_ALLOWED,                   /* "not-allowed": uid/gid not in the allow-list */
        REASON_CONNECTION_LIMIT,              /* "connection-limit": its uid holds max-connections-per-uid */
        REASON_NO_CREDENTIALS,                /* "no-credentials": a datagram the kernel could not attribute */
        REASON_RATE_LIMITED,                  /* "rate-limited": over its sender's rate-limit-burst */
        REASON_FDS_ON_STREAM,                 /* "fds-on-stream": descriptors sent on a stream, closed */
        REASON_SCHEMA_MISMATCH,               /* "schema-mismatch": does not fit its type's typed signal */
        REASON_LARGE_NOT_MEMFD,               /* "large-not-memfd": a large event's fd is no memfd */
        REASON_LARGE_TOO_LARGE,               /* "large-too-large": its memfd passes max-large-event-size */
        REASON_LARGE_UNREADABLE,              /* "large-unreadable": reading its memfd failed */
        _REASON_MAX,
} Reason;

/* "too-large": over max-event-size or the bus's message ceiling; the codec
 * finds it first when an event's values alone cannot fit (codec.h). */
#define REASON_TOO_LARGE ((Reason) CODEC_E_TOO_LARGE)

/* The codec's reason as a refusal reason (the same value). */
static inline Reason reason_of_codec(CodecReason r)
{
        return (Reason) r;
}

/* Its stable name; NULL for an out-of-range value. */
const char *reason_name(Reason r);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* reason.c — the refusal reasons' names (see reason.h). */
#include "reason.h"

static const char *const names[] = {
        [REASON_FDS_TRUNCATED - _CODEC_REASON_MAX] = "fds-truncated",
        [REASON_TOO_MANY_FDS - _CODEC_REASON_MAX] = "too-many-fds",
        [REASON_NOT_ALLOWED - _CODEC_REASON_MAX] = "not-allowed",
        [REASON_CONNECTION_LIMIT - _CODEC_REASON_MAX] = "connection-limit",
        [REASON_NO_CREDENTIALS - _CODEC_REASON_MAX] = "no-credentials",
        [REASON_RATE_LIMITED - _CODEC_REASON_MAX] = "rate-limited",
        [REASON_FDS_ON_STREAM - _CODEC_REASON_MAX] = "fds-on-stream",
        [REASON_SCHEMA_MISMATCH - _CODEC_REASON_MAX] = "schema-mismatch",
        [REASON_LARGE_NOT_MEMFD - _CODEC_REASON_MAX] = "large-not-memfd",
        [REASON_LARGE_TOO_LARGE - _CODEC_REASON_MAX] = "large-too-large",
        [REASON_LARGE_UNREADABLE - _CODEC_REASON_MAX] = "large-unreadable",
};

G_STATIC_ASSERT(G_N_ELEMENTS(names) == _REASON_MAX - _CODEC_REASON_MAX);

const char *reason_name(Reason r)
{
        if ((unsigned) r < _CODEC_REASON_MAX)
                return codec_reason_name((CodecReason) r);
        if ((unsigned) r < _REASON_MAX)
                return names[r - _CODEC_REASON_MAX];
        return NULL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * largefd.h — events too large for one packet, passed as a memfd
 * (doc/protocol.md, section 1.6). Two conventions are in use:
 *
 *   journald's: an empty packet whose only content is exactly one
 *     descriptor, a memfd holding the payload (systemd's
 *     docs/JOURNAL_NATIVE_PROTOCOL.md; sealed by its clients);
 *   osbuild jsoncomm's: the payload "<args-via-fd>", the memfd as the first
 *     descriptor and the event's own descriptors after it.
 *
 * Only memory is read: a regular file of shmem (memfd_create(), or tmpfs),
 * whose reads never block and whose size fstat() states. Pipes, sockets,
 * FIFOs and devices could block the daemon or never end; a file on a disk
 * could sit on a hung network mount. The daemon reads its own copy with
 * pread(), up to the size fstat() gave and at most max-large-event-size:
 * a sender that writes to an unsealed memfd while it is read can only
 * garble its own event, which is then checked like any other, so sealing
 * is not required.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "stats.h"

#define LARGEFD_ARGS_VIA_FD "<args-via-fd>"

typedef enum {
        LARGEFD_NONE,    /* not a large-event packet */
        LARGEFD_JOURNAL, /* empty, exactly one fd */
        LARGEFD_JSONCOMM /* "<args-via-fd>", at least one fd */
} LargeFdKind;

/* Which convention a packet of len bytes and n_fds descriptors follows. */
LargeFdKind largefd_kind(const char *buf, size_t len, unsigned n_fds);

/*
 * Reads the payload from fd (not closed here) into *ret (g_free() it).
 * Returns 0, or the refusal reason: REASON_LARGE_NOT_MEMFD,
 * REASON_LARGE_TOO_LARGE (over max), the codec's empty, truncated (it
 * shrank while read) or REASON_LARGE_UNREADABLE.
 */
Reason largefd_read(int fd, size_t max, char **ret, size_t *ret_len);

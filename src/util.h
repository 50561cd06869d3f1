/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util.h — the few helpers every module of the daemon shares.
 *
 * GLib 2.74 (Debian 12) has no g_autofd (2.76), so the fd cleanup helper
 * lives here, once. Everything in this header is inline and allocation-free;
 * nothing here holds state or belongs to one module.
 */
#pragma once

#include <errno.h>
#include <glib.h>
#include <unistd.h>

/* Close an fd preserving errno; returns -1 so callers can write fd = safe_close(fd). */
static inline int safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                /* close() always releases the descriptor on Linux, even on EINTR */
                (void) close(fd);
                errno = saved;
        }
        return -1;
}

static inline void closep(int *fdp)
{
        *fdp = safe_close(*fdp);
}

#define _cleanup_close_ __attribute__((cleanup(closep)))

/* Takes the fd out of *fdp (GLib 2.70's g_steal_fd, which 2.66 lacks). */
static inline int steal_fd(int *fdp)
{
        int fd = *fdp;
        *fdp = -1;
        return fd;
}

/* Close every fd of an array and reset the count. */
static inline void close_many(int *fds, size_t n)
{
        for (size_t i = 0; i < n; i++)
                fds[i] = safe_close(fds[i]);
}

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * answers.h — the answers an acknowledged connection gets (doc/protocol.md
 * 1.7): "N ok SEQ", "N refused REASON", "N dropped", one packet each on
 * SEQPACKET, one line each on a stream, written without ever blocking.
 *
 * What the socket does not take at once waits here, and goes when it is
 * writable. At ANSWERS_MAX unwritten the owner is told to stop reading the
 * connection (full), and told again (room) once half have gone: a sender
 * that never reads its answers stops only itself. Once the socket has
 * taken every answer that had to wait, the owner hears it (written): a
 * half-closed connection then has nothing left to do.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Unwritten answers a connection may leave before it is not read any more. */
#define ANSWERS_MAX 1024U

typedef struct {
        int fd;            /* the connection's (not owned) */
        bool stream;       /* a line each, else a packet each */
        GQueue pending;    /* char*, not yet written */
        size_t off;        /* stream: bytes of the first already written */
        guint out_watch;   /* waiting for the socket to take more */
        bool full;         /* ANSWERS_MAX pending: the owner stopped reading */
        void (*room)(void *user_data);    /* full no longer */
        void (*written)(void *user_data); /* every answer that had to wait is written */
        void *user_data;
} Answers;

void answers_init(Answers *a, int fd, bool stream, void (*room)(void *),
                  void (*written)(void *), void *user_data);

/* Answers not yet written. */
static inline bool answers_pending(const Answers *a)
{
        return !g_queue_is_empty((GQueue *) &a->pending);
}
void answers_deinit(Answers *a);

/* Queues one answer and writes what it can. Returns true when it made the
 * connection full (the owner then stops reading it). */
bool answers_push(Answers *a, uint64_t n, const char *what, const char *detail);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* answers.c — acknowledged connections' answers (see answers.h). */
#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>

#include "answers.h"

void answers_init(Answers *a, int fd, bool stream, void (*room)(void *),
                  void (*written)(void *), void *user_data)
{
        *a = (Answers){ .fd = fd, .stream = stream, .room = room, .written = written,
                        .user_data = user_data };
        g_queue_init(&a->pending);
}

void answers_deinit(Answers *a)
{
        g_clear_handle_id(&a->out_watch, g_source_remove);
        g_queue_clear_full(&a->pending, g_free);
        a->off = 0;
}

static gboolean on_writable(gint fd, GIOCondition cond, gpointer user_data);

/* Writes what it can without blocking; the rest waits for POLLOUT. */
static void flush(Answers *a)
{
        char *text;

        while ((text = g_queue_peek_head(&a->pending))) {
                size_t len = strlen(text);
                ssize_t n = send(a->fd, text + a->off, len - a->off, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        if (!a->out_watch)
                                a->out_watch = g_unix_fd_add(a->fd, G_IO_OUT, on_writable, a);
                        return;
                }
                if (n < 0) {
                        /* the peer is gone: what it would have read goes too */
                        g_queue_clear_full(&a->pending, g_free);
                        a->off = 0;
                        break;
                }
                a->off += (size_t) n;
                if (a->off < len)
                        continue; /* a stream took part of the line */
                g_free(g_queue_pop_head(&a->pending));
                a->off = 0;
        }
        g_clear_handle_id(&a->out_watch, g_source_remove);
        if (a->full && g_queue_get_length(&a->pending) <= ANSWERS_MAX / 2) {
                a->full = false;
                if (a->room)
                        a->room(a->user_data);
        }
}

static gboolean on_writable(gint fd, GIOCondition cond, gpointer user_data)
{
        Answers *a = user_data;

        a->out_watch = 0; /* flush() adds it again when it must */
        flush(a);
        if (!answers_pending(a) && a->written)
                a->written(a->user_data); /* last: it may free a */
        return G_SOURCE_REMOVE;
}

bool answers_push(Answers *a, uint64_t n, const char *what, const char *detail)
{
        g_queue_push_tail(&a->pending,
                          g_strdup_printf("%" G_GUINT64_FORMAT " %s%s%s%s", n, what,
                                          detail ? " " : "", detail ? detail : "",
                                          a->stream ? "\n" : ""));
        if (g_queue_get_length(&a->pending) == 1)
                flush(a);
        if (g_queue_get_length(&a->pending) >= ANSWERS_MAX && !a->full) {
                a->full = true;
                return true;
        }
        return false;
}

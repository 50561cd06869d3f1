/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* linebuf.c — newline-delimited lines from a byte stream (see linebuf.h). */
#include <glib.h>
#include <string.h>

#include "linebuf.h"

/* The first buffer, and the least room a read is given before it grows. */
#define LINEBUF_INITIAL 4096U

void linebuf_init(LineBuf *b, size_t max)
{
        *b = (LineBuf){ .max = max };
}

void linebuf_deinit(LineBuf *b)
{
        g_clear_pointer(&b->buf, g_free);
        *b = (LineBuf){ .max = b->max };
}

size_t linebuf_held(const LineBuf *b)
{
        return b->cap > LINEBUF_KEEP ? b->cap : 0;
}

void linebuf_discard(LineBuf *b)
{
        g_assert(!linebuf_has_line(b));
        g_clear_pointer(&b->buf, g_free);
        b->start = b->len = b->cap = 0;
        b->skipping = true;
}

void linebuf_set_max(LineBuf *b, size_t max)
{
        b->max = max;
}

/* The most the buffer ever needs: a longest line and its "\r\n". */
static size_t limit(const LineBuf *b)
{
        return b->max + 2;
}

char *linebuf_space(LineBuf *b, size_t *ret_size)
{
        if (b->start > 0) {
                /* what is left is the start of a line: move it to the front */
                memmove(b->buf, b->buf + b->start, b->len - b->start);
                b->len -= b->start;
                b->start = 0;
        }
        if (b->cap - b->len < MIN(LINEBUF_INITIAL, limit(b)) && b->cap < limit(b)) {
                size_t cap = MIN(MAX(b->cap * 2, LINEBUF_INITIAL), limit(b));
                b->buf = g_realloc(b->buf, cap);
                b->cap = cap;
        }
        /* next() returned LINE_NONE, so at most max + 1 bytes are held: room is left */
        g_assert(b->len < b->cap);
        *ret_size = b->cap - b->len;
        return b->buf + b->len;
}

void linebuf_commit(LineBuf *b, size_t n)
{
        g_assert(n <= b->cap - b->len);
        b->len += n;
}

static bool blank(const char *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
                        return false;
        return true;
}

bool linebuf_has_line(const LineBuf *b)
{
        return b->len > b->start && memchr(b->buf + b->start, '\n', b->len - b->start) != NULL;
}

LineKind linebuf_next(LineBuf *b, const char **ret_line, size_t *ret_len)
{
        if (!b->buf)
                return LINE_NONE;
        for (;;) {
                char *p = b->buf + b->start;
                size_t avail = b->len - b->start, n;
                char *nl = avail > 0 ? memchr(p, '\n', avail) : NULL;

                if (!nl) {
                        /* more than max + '\r' without a newline: never a line we take */
                        if (b->skipping || avail > b->max + 1) {
                                b->skipping = true;
                                b->start = b->len = 0;
                        }
                        if (b->start == b->len && b->cap > LINEBUF_KEEP) {
                                /* a long line's buffer is not kept for the next one */
                                g_clear_pointer(&b->buf, g_free);
                                b->start = b->len = b->cap = 0;
                        }
                        return LINE_NONE;
                }
                n = (size_t) (nl - p);
                b->start += n + 1;
                if (b->skipping) {
                        b->skipping = false;
                        return LINE_TOO_LONG;
                }
                if (n > 0 && p[n - 1] == '\r')
                        n--;
                if (n > b->max)
                        return LINE_TOO_LONG;
                if (blank(p, n))
                        continue;
                *ret_line = p;
                *ret_len = n;
                return LINE_OK;
        }
}

LineKind linebuf_finish(LineBuf *b, const char **ret_line, size_t *ret_len)
{
        const char *p;
        size_t avail = b->len - b->start;

        if (b->skipping) {
                b->skipping = false;
                b->start = b->len;
                return LINE_TOO_LONG;
        }
        if (!b->buf)
                return LINE_NONE;
        p = b->buf + b->start;
        b->start = b->len; /* empty; the bytes stay readable until the next call */
        if (blank(p, avail))
                return LINE_NONE;
        *ret_line = p;
        *ret_len = avail;
        return LINE_PARTIAL;
}

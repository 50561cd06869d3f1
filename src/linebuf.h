/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * linebuf.h — the stream listener's line framer: bytes in as they arrive,
 * newline-delimited lines out (NDJSON), with a bounded buffer.
 *
 * A line is what comes before a '\n', without it and without one '\r'
 * just before it (CRLF). Lines of only spaces, tabs and '\r' are skipped
 * without a word (the NDJSON habit). A line longer than `max` bytes is
 * never held: once more than `max` bytes of it are buffered, they are
 * dropped and the rest of the line with them, up to its newline, which
 * yields one LINE_TOO_LONG. So the buffer never holds more than max + 2
 * bytes (a longest line, its "\r\n"), whatever the sender does; it starts
 * small and grows as lines need it.
 *
 * Pure data structure: no I/O; the caller reads into linebuf_space().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct {
        char *buf;
        size_t start, len, cap; /* bytes [start, len) are unread */
        size_t max;             /* longest line, without its line ending */
        bool skipping;          /* inside a line over max: dropping up to its newline */
} LineBuf;

typedef enum {
        LINE_NONE,     /* no complete line buffered: read more */
        LINE_OK,       /* *ret_line, *ret_len: a line, without its line ending */
        LINE_TOO_LONG, /* a line over max ended (its bytes were dropped) */
        LINE_PARTIAL,  /* linebuf_finish(): a line without its newline */
} LineKind;

void linebuf_init(LineBuf *b, size_t max);
void linebuf_deinit(LineBuf *b);

/* Where the next read goes, and how much fits (never 0). */
char *linebuf_space(LineBuf *b, size_t *ret_size);
/* n bytes were read into linebuf_space(). */
void linebuf_commit(LineBuf *b, size_t n);

/* The next line. The pointer is valid until the next call on b. */
LineKind linebuf_next(LineBuf *b, const char **ret_line, size_t *ret_len);

/* Whether a complete line (or the end of a skipped one) is buffered. */
bool linebuf_has_line(const LineBuf *b);

/*
 * The peer hung up: LINE_NONE when nothing but blank bytes is left,
 * LINE_TOO_LONG when it left inside a line over max, else LINE_PARTIAL
 * (*ret_line, *ret_len: what it had sent of the line). Empties b.
 */
LineKind linebuf_finish(LineBuf *b, const char **ret_line, size_t *ret_len);

/*
 * What the buffer holds that is worth charging to its sender: its size
 * once it has grown past LINEBUF_KEEP (a longest line's worth), else 0 (a
 * small buffer is part of what a connection costs anyway).
 */
#define LINEBUF_KEEP (64U * 1024U)
size_t linebuf_held(const LineBuf *b);

/*
 * Throws away the unfinished line b holds (b holds no complete line: the
 * caller checked linebuf_has_line()), and the rest of it as it arrives, up
 * to its newline, which yields one LINE_TOO_LONG (or linebuf_finish()
 * does, at a hang-up). The buffer is given back.
 */
void linebuf_discard(LineBuf *b);

/* The new max-event-size (a reload): applies from the next line. */
void linebuf_set_max(LineBuf *b, size_t max);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-linebuf.c — the stream framer on its own: lines split across reads
 * in every way, many lines per read, CRLF, blank lines, lines over the
 * limit skipped to their newline, what is left at hang-up.
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "cunit-tap.h"
#include "linebuf.h"

/* Feeds text to b in pieces of `step` bytes (or what space() offers) and
 * appends every line seen to out, "|"-separated; too-long lines as "<L>". */
static void feed(LineBuf *b, const char *text, size_t step, GString *out)
{
        size_t off = 0, n = strlen(text);

        while (off < n) {
                size_t room, k;
                char *space = linebuf_space(b, &room);
                const char *line;
                size_t len;
                LineKind kind;

                CU_ASSERT_TRUE_FATAL(room > 0);
                k = MIN(MIN(room, step), n - off);
                memcpy(space, text + off, k);
                linebuf_commit(b, k);
                off += k;
                while ((kind = linebuf_next(b, &line, &len)) != LINE_NONE) {
                        if (kind == LINE_OK)
                                g_string_append_len(out, line, (gssize) len);
                        else
                                g_string_append(out, "<L>");
                        g_string_append_c(out, '|');
                }
                CU_ASSERT_TRUE(b->len - b->start <= b->max + 2);
                CU_ASSERT_TRUE(b->cap <= b->max + 2);
        }
}

static void check_every_split(const char *text, size_t max, const char *want)
{
        for (size_t step = 1; step <= strlen(text) + 1; step++) {
                g_autoptr(GString) out = g_string_new(NULL);
                LineBuf b;

                linebuf_init(&b, max);
                feed(&b, text, step, out);
                if (strcmp(out->str, want) != 0)
                        printf("# step %zu: got '%s', want '%s'\n", step, out->str, want);
                CU_ASSERT_STRING_EQUAL(out->str, want);
                linebuf_deinit(&b);
        }
}

/* Any split of the bytes gives the same lines: one byte at a time, or all at once. */
static void test_lines_whatever_the_split(void)
{
        check_every_split("{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n", 64, "{\"a\":1}|{\"b\":2}|{\"c\":3}|");
}

/* CRLF ends a line too; blank lines (spaces, tabs, CR) are skipped. */
static void test_crlf_and_blank_lines(void)
{
        check_every_split("a\r\n\n  \t\r\nb\n\r\n", 64, "a|b|");
        /* a '\r' elsewhere is the line's own */
        check_every_split("a\rb\n", 64, "a\rb|");
}

/* A line over max is dropped up to its newline, counted once; what follows
 * is read as usual. A line of exactly max (with CRLF) fits. */
static void test_long_line_skipped_to_its_newline(void)
{
        g_autofree char *big = g_strnfill(200, 'x');
        g_autofree char *text = g_strdup_printf("ok1\n%s\nok2\n%s\r\nxxxxxxxxxx\r\n", big, big);

        check_every_split(text, 10, "ok1|<L>|ok2|<L>|xxxxxxxxxx|");
        check_every_split("xxxxxxxxxxx\nab\n", 10, "<L>|ab|"); /* max + 1 */
}

/* Many lines in one read; the buffer never grows past max + 2. */
static void test_thousand_lines_in_one_read(void)
{
        g_autoptr(GString) text = g_string_new(NULL), out = g_string_new(NULL),
                           want = g_string_new(NULL);
        LineBuf b;

        for (int i = 0; i < 1000; i++) {
                g_string_append_printf(text, "{\"i\":%d}\n", i);
                g_string_append_printf(want, "{\"i\":%d}|", i);
        }
        linebuf_init(&b, 65536);
        feed(&b, text->str, text->len, out);
        CU_ASSERT_STRING_EQUAL(out->str, want->str);
        linebuf_deinit(&b);
}

/* At hang-up: a complete last line was already delivered; a partial one is
 * PARTIAL with its bytes; blanks are nothing; inside a skipped line, TOO_LONG. */
static void test_what_is_left_at_hang_up(void)
{
        static const struct {
                const char *text;
                LineKind kind;
                const char *rest;
        } cases[] = {
                { "a\n", LINE_NONE, NULL },
                { "a\n  \r", LINE_NONE, NULL },
                { "a\n{\"b\":", LINE_PARTIAL, "{\"b\":" },
                { "a\nxxxxxxxxxxxxxxxxxxxx", LINE_TOO_LONG, NULL },
                { "", LINE_NONE, NULL },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GString) out = g_string_new(NULL);
                const char *line = NULL;
                size_t len = 0;
                LineBuf b;

                linebuf_init(&b, 10);
                feed(&b, cases[i].text, 3, out);
                CU_ASSERT_EQUAL(linebuf_finish(&b, &line, &len), cases[i].kind);
                if (cases[i].rest) {
                        CU_ASSERT_EQUAL(len, strlen(cases[i].rest));
                        CU_ASSERT_TRUE(line && memcmp(line, cases[i].rest, len) == 0);
                }
                CU_ASSERT_EQUAL(linebuf_finish(&b, &line, &len), LINE_NONE); /* emptied */
                linebuf_deinit(&b);
        }
}

/* An unfinished line thrown away (the queue needed the room): the rest of
 * it up to its newline is one too-long line, the next lines are whole; a
 * hang-up inside it is one too-long line too. Only a buffer past
 * LINEBUF_KEEP is charged. */
static void test_discard_unfinished_line(void)
{
        g_autoptr(GString) out = g_string_new(NULL);
        g_autofree char *big = g_strnfill(LINEBUF_KEEP + 10, 'x');
        const char *line = NULL;
        size_t len = 0;
        LineBuf b;

        linebuf_init(&b, 2 * LINEBUF_KEEP);
        feed(&b, "a\n{\"b\":", 4, out);
        CU_ASSERT_EQUAL(linebuf_held(&b), 0);
        linebuf_discard(&b);
        CU_ASSERT_EQUAL(linebuf_held(&b), 0);
        feed(&b, "1}\nc\n", 2, out);
        CU_ASSERT_STRING_EQUAL(out->str, "a|<L>|c|");
        feed(&b, big, 4096, out);
        CU_ASSERT_TRUE(linebuf_held(&b) > LINEBUF_KEEP);
        linebuf_discard(&b);
        CU_ASSERT_EQUAL(linebuf_held(&b), 0);
        feed(&b, "yy", 1, out);
        CU_ASSERT_EQUAL(linebuf_finish(&b, &line, &len), LINE_TOO_LONG);
        CU_ASSERT_EQUAL(linebuf_finish(&b, &line, &len), LINE_NONE);
        linebuf_deinit(&b);
}

/* has_line(): what the listener asks before waiting for the socket again. */
static void test_has_line(void)
{
        LineBuf b;
        size_t room, len;
        const char *line;
        char *p;

        linebuf_init(&b, 64);
        CU_ASSERT_FALSE(linebuf_has_line(&b));
        p = linebuf_space(&b, &room);
        memcpy(p, "a\nb\nc", 5);
        linebuf_commit(&b, 5);
        CU_ASSERT_TRUE(linebuf_has_line(&b));
        CU_ASSERT_EQUAL(linebuf_next(&b, &line, &len), LINE_OK);
        CU_ASSERT_TRUE(linebuf_has_line(&b));
        CU_ASSERT_EQUAL(linebuf_next(&b, &line, &len), LINE_OK);
        CU_ASSERT_FALSE(linebuf_has_line(&b)); /* "c" waits for its newline */
        CU_ASSERT_EQUAL(linebuf_next(&b, &line, &len), LINE_NONE);
        linebuf_deinit(&b);
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(lines_whatever_the_split),
                TAP_TEST(crlf_and_blank_lines),
                TAP_TEST(long_line_skipped_to_its_newline),
                TAP_TEST(thousand_lines_in_one_read),
                TAP_TEST(what_is_left_at_hang_up),
                TAP_TEST(has_line),
                TAP_TEST(discard_unfinished_line),
                { NULL, NULL },
        };
        tap_add_suite("linebuf", NULL, NULL, tests);
        return tap_run();
}

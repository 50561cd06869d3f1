/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * codec-json.c — strict RFC 8259 JSON object -> a{sv}, with no tree.
 *
 * Two passes over the bytes. json_scan checks everything first, with no
 * allocation: the lexical rules (json-c 0.16, which decoded here before,
 * took NaN, Infinity, single quotes, "5.", raw control characters, \f and
 * \v as whitespace, and clamped integers beyond 64 bits), the grammar
 * (keys are strings, ':' and ',' where they belong, brackets that match),
 * nesting and member counts, and what the event would cost on the bus at
 * least (codec-internal.h), so an event that cannot fit is refused before
 * anything is built; it also finds where the top-level object ends, so
 * trailing bytes get their own reason. Then the writer reads the proven
 * text once more and writes the serialised a{sv} into the thread's vwriter
 * directly: strings unescaped (surrogate pairs included, which json-c
 * 0.16 also turned into U+FFFD for 32768 valid characters), numbers by the
 * C locale's rules. json-c's tree cost ~90 bytes per value before the
 * event's size was known (a 4 MiB event of small integers: +220 MiB) and
 * twice the instructions (doc/performance.md, "Budgets"). json-c stays
 * the tools' parser (ingester-send checks lines with this codec).
 */
#include <math.h>
#include <string.h>

#include "buslimits.h"
#include "codec-internal.h"
#include "vwriter.h"

static bool is_ws(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_delim(const char *p, size_t i, size_t len)
{
        return i == len || is_ws(p[i]) || p[i] == ',' || p[i] == ']' || p[i] == '}' ||
               p[i] == ':';
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Reads the 4 hex digits of a \u escape at p[*i] (just past the 'u'). */
static CodecReason scan_u4(const char *p, size_t len, size_t *i, unsigned *ret)
{
        unsigned v = 0;

        if (len - *i < 4)
                return CODEC_E_TRUNCATED;
        for (int k = 0; k < 4; k++) {
                int h = hexval(p[*i + k]);
                if (h < 0)
                        return CODEC_E_SYNTAX;
                v = v << 4 | (unsigned) h;
        }
        *i += 4;
        *ret = v;
        return CODEC_OK;
}

/*
 * p[*i] is the opening quote. On success *i is just past the closing quote.
 */
static CodecReason scan_string(const char *p, size_t len, size_t *i)
{
        CodecReason r;
        size_t k = *i + 1;

        for (;;) {
                unsigned char c;

                if (k >= len)
                        return CODEC_E_TRUNCATED;
                c = (unsigned char) p[k++];
                if (c == '"')
                        break;
                if (c < 0x20)
                        return CODEC_E_SYNTAX; /* RFC 8259 §7: must be escaped */
                if (c != '\\')
                        continue; /* UTF-8 is validated per string after parsing */
                if (k >= len)
                        return CODEC_E_TRUNCATED;
                c = (unsigned char) p[k++];
                if (c == 'u') {
                        unsigned u, lo;
                        r = scan_u4(p, len, &k, &u);
                        if (r != CODEC_OK)
                                return r;
                        if (u == 0)
                                return CODEC_E_NUL_IN_STRING;
                        if (u >= 0xdc00 && u <= 0xdfff)
                                return CODEC_E_INVALID_UTF8; /* lone low surrogate */
                        if (u >= 0xd800 && u <= 0xdbff) {
                                if (len - k < 2)
                                        return CODEC_E_TRUNCATED;
                                if (p[k] != '\\' || p[k + 1] != 'u')
                                        return CODEC_E_INVALID_UTF8; /* lone high surrogate */
                                k += 2;
                                r = scan_u4(p, len, &k, &lo);
                                if (r != CODEC_OK)
                                        return r;
                                if (lo < 0xdc00 || lo > 0xdfff)
                                        return CODEC_E_INVALID_UTF8;
                        }
                } else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
                        return CODEC_E_SYNTAX;
                }
        }
        *i = k;
        return CODEC_OK;
}

/*
 * An integer literal's magnitude (digits, no sign, no leading zero) against
 * the largest that fits: 9223372036854775808 negated, 18446744073709551615.
 */
static bool integer_fits(const char *digits, size_t n, bool negative)
{
        const char *max = negative ? "9223372036854775808" : "18446744073709551615";
        size_t maxlen = strlen(max);

        if (n != maxlen)
                return n < maxlen;
        return memcmp(digits, max, n) <= 0;
}

/* RFC 8259 §6 number grammar; p[*i] is '-' or a digit. */
static CodecReason scan_number(const char *p, size_t len, size_t *i)
{
        size_t k = *i, start, int_end;
        bool negative = false, integer = true;

        if (p[k] == '-') {
                negative = true;
                k++;
        }
        start = k;
        if (k >= len)
                return CODEC_E_TRUNCATED;
        if (p[k] == '0')
                k++;
        else if (p[k] >= '1' && p[k] <= '9')
                while (k < len && g_ascii_isdigit(p[k]))
                        k++;
        else
                return CODEC_E_SYNTAX;
        int_end = k;
        if (k < len && p[k] == '.') {
                integer = false;
                if (++k >= len)
                        return CODEC_E_TRUNCATED;
                if (!g_ascii_isdigit(p[k]))
                        return CODEC_E_SYNTAX;
                while (k < len && g_ascii_isdigit(p[k]))
                        k++;
        }
        if (k < len && (p[k] == 'e' || p[k] == 'E')) {
                integer = false;
                k++;
                if (k < len && (p[k] == '+' || p[k] == '-'))
                        k++;
                if (k >= len)
                        return CODEC_E_TRUNCATED;
                if (!g_ascii_isdigit(p[k]))
                        return CODEC_E_SYNTAX;
                while (k < len && g_ascii_isdigit(p[k]))
                        k++;
        }
        if (!is_delim(p, k, len))
                return CODEC_E_SYNTAX;
        if (integer && !integer_fits(p + start, int_end - start, negative))
                return CODEC_E_INTEGER_OUT_OF_RANGE;
        *i = k;
        return CODEC_OK;
}

static CodecReason scan_literal(const char *p, size_t len, size_t *i)
{
        static const char *const words[] = { "true", "false", "null" };

        for (size_t w = 0; w < G_N_ELEMENTS(words); w++) {
                size_t n = strlen(words[w]);
                if (p[*i] != words[w][0])
                        continue;
                if (len - *i < n)
                        return memcmp(p + *i, words[w], len - *i) == 0 ? CODEC_E_TRUNCATED
                                                                       : CODEC_E_SYNTAX;
                if (memcmp(p + *i, words[w], n) != 0 || !is_delim(p, *i + n, len))
                        return CODEC_E_SYNTAX;
                *i += n;
                return CODEC_OK;
        }
        return CODEC_E_SYNTAX;
}

/*
 * The lexical pass. p[start] is the first non-whitespace byte. On success,
 * *ret_end is one past the top-level value's closing bracket.
 */
/* What may come next inside a container (json_scan's grammar). */
typedef enum {
        EXPECT_KEY_OR_END,   /* after '{' */
        EXPECT_KEY,          /* after ',' in an object */
        EXPECT_COLON,        /* after a key */
        EXPECT_VALUE,        /* after ':', or ',' in an array */
        EXPECT_VALUE_OR_END, /* after '[' */
        EXPECT_COMMA_OR_END, /* after a member or an element */
} Expect;

static CodecReason json_scan(const CodecLimits *limits, const char *p, size_t len, size_t start,
                             size_t *ret_end)
{
        unsigned members[CODEC_DEPTH_CEILING + 1];
        bool after_number[CODEC_DEPTH_CEILING + 1] = { false };
        bool object[CODEC_DEPTH_CEILING + 1] = { false };
        Expect expect[CODEC_DEPTH_CEILING + 1];
        unsigned depth = 0;
        size_t i = start, wire = 0;
        CodecReason r;

        while (i < len) {
                char c = p[i];
                bool is_value = c == '"' || c == '{' || c == '[' || c == '-' ||
                                (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n';

                if (is_value && depth > 0) {
                        Expect e = expect[depth];
                        bool number = c == '-' || (c >= '0' && c <= '9');

                        if (e == EXPECT_KEY_OR_END || e == EXPECT_KEY) {
                                if (c != '"')
                                        return CODEC_E_SYNTAX; /* keys are strings */
                                expect[depth] = EXPECT_COLON;
                        } else if (e == EXPECT_VALUE || e == EXPECT_VALUE_OR_END) {
                                expect[depth] = EXPECT_COMMA_OR_END;
                        } else {
                                return CODEC_E_SYNTAX;
                        }
                        /* what it costs on the bus at least (codec-internal.h) */
                        wire = codec_wire_add(wire, c == '"'  ? CODEC_WIRE_STRING
                                                    : c == 'n' ? CODEC_WIRE_NULL
                                                    : !number  ? CODEC_WIRE_OTHER
                                                    : after_number[depth]
                                                            ? CODEC_WIRE_NUMBER_AFTER_NUMBER
                                                            : CODEC_WIRE_NUMBER);
                        after_number[depth] = number;
                        if (wire > BUS_MAX_MESSAGE_SIZE)
                                return CODEC_E_TOO_LARGE;
                }
                switch (c) {
                case ' ':
                case '\t':
                case '\n':
                case '\r':
                        i++;
                        break;
                case '{':
                case '[':
                        if (++depth > limits->max_depth)
                                return CODEC_E_TOO_DEEP;
                        members[depth] = 1;
                        after_number[depth] = false;
                        object[depth] = c == '{';
                        expect[depth] = c == '{' ? EXPECT_KEY_OR_END : EXPECT_VALUE_OR_END;
                        i++;
                        break;
                case '}':
                case ']':
                        i++;
                        if (depth == 0 || object[depth] != (c == '}') ||
                            (expect[depth] != EXPECT_COMMA_OR_END &&
                             expect[depth] != (c == '}' ? EXPECT_KEY_OR_END : EXPECT_VALUE_OR_END)))
                                return CODEC_E_SYNTAX;
                        if (--depth == 0) {
                                *ret_end = i;
                                return CODEC_OK;
                        }
                        break;
                case ',':
                        if (depth == 0 || expect[depth] != EXPECT_COMMA_OR_END)
                                return CODEC_E_SYNTAX;
                        if (++members[depth] > limits->max_members)
                                return CODEC_E_TOO_MANY_MEMBERS;
                        expect[depth] = object[depth] ? EXPECT_KEY : EXPECT_VALUE;
                        i++;
                        break;
                case ':':
                        if (depth == 0 || expect[depth] != EXPECT_COLON)
                                return CODEC_E_SYNTAX;
                        expect[depth] = EXPECT_VALUE;
                        i++;
                        break;
                case '"':
                        r = scan_string(p, len, &i);
                        if (r != CODEC_OK)
                                return r;
                        break;
                case '-':
                case '0' ... '9':
                        r = scan_number(p, len, &i);
                        if (r != CODEC_OK)
                                return r;
                        break;
                case 't':
                case 'f':
                case 'n':
                        r = scan_literal(p, len, &i);
                        if (r != CODEC_OK)
                                return r;
                        break;
                default:
                        return CODEC_E_SYNTAX;
                }
                /* A bare scalar at the top level (pinned listener) */
                if (depth == 0) {
                        *ret_end = i;
                        return CODEC_OK;
                }
        }
        return CODEC_E_TRUNCATED;
}

/* ---- the writer: straight from the text json_scan proved valid ---- */

static void skip_ws(const char *p, size_t *i)
{
        while (is_ws(p[*i]))
                (*i)++;
}

/*
 * The string whose opening quote is p[*i], unescaped; *i moves past its
 * closing quote. Without escapes it is the input's own bytes; with them it
 * is written into buf (emptied first), which then holds it.
 */
static void json_string(const char *p, size_t *i, GString *buf, const char **ret, size_t *ret_len)
{
        size_t k = *i + 1, start = k;

        while (p[k] != '"' && p[k] != '\\')
                k++;
        if (p[k] == '"') {
                *ret = p + start;
                *ret_len = k - start;
                *i = k + 1;
                return;
        }
        g_string_truncate(buf, 0);
        g_string_append_len(buf, p + start, (gssize) (k - start));
        while (p[k] != '"') {
                unsigned u = 0, lo = 0;
                char c = p[k];

                if (c != '\\') {
                        size_t run = k;
                        while (p[k] != '"' && p[k] != '\\')
                                k++;
                        g_string_append_len(buf, p + run, (gssize) (k - run));
                        continue;
                }
                c = p[k + 1];
                k += 2;
                switch (c) {
                case 'b':
                        g_string_append_c(buf, '\b');
                        break;
                case 'f':
                        g_string_append_c(buf, '\f');
                        break;
                case 'n':
                        g_string_append_c(buf, '\n');
                        break;
                case 'r':
                        g_string_append_c(buf, '\r');
                        break;
                case 't':
                        g_string_append_c(buf, '\t');
                        break;
                case 'u':
                        (void) scan_u4(p, k + 4, &k, &u); /* json_scan proved it */
                        if (u >= 0xd800 && u <= 0xdbff) {
                                k += 2; /* the low half's "\u" */
                                (void) scan_u4(p, k + 4, &k, &lo);
                                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                        }
                        g_string_append_unichar(buf, u);
                        break;
                default: /* " \ / */
                        g_string_append_c(buf, c);
                        break;
                }
        }
        *ret = buf->str;
        *ret_len = buf->len;
        *i = k + 1;
}

/* Moves *i past the value at p[*i]. */
static void json_skip(const char *p, size_t *i)
{
        unsigned depth = 0;

        do {
                char c = p[*i];
                if (c == '"') {
                        size_t k = *i + 1;
                        while (p[k] != '"')
                                k += p[k] == '\\' ? 2 : 1;
                        *i = k + 1;
                } else if (c == '{' || c == '[') {
                        depth++;
                        (*i)++;
                } else if (c == '}' || c == ']') {
                        depth--;
                        (*i)++;
                } else if (depth == 0) {
                        /* a number or a literal: up to its delimiter */
                        while (!strchr(",]} \t\n\r", p[*i]) && p[*i] != '\0')
                                (*i)++;
                } else {
                        (*i)++;
                }
        } while (depth > 0);
}

typedef struct {
        GString *key;   /* an escaped key, unescaped */
        GString *value; /* an escaped string value, unescaped */
        GString *type;  /* the top-level "type", when escaped */
} JsonScratch;

static CodecReason json_write_value(const CodecLimits *limits, VWriter *w, const char *p,
                                    size_t *i, JsonScratch *s, const char **ret_signature);

/* The key at p[*i] and the ':' after it; *i moves to its value. */
static CodecReason json_key(const CodecLimits *limits, const char *p, size_t *i, JsonScratch *s,
                            CodecPair *pair)
{
        const char *key;
        size_t len;
        CodecReason r;

        json_string(p, i, s->key, &key, &len);
        r = codec_check_string(limits, key, len); /* \u0000 in a key was refused by json_scan */
        if (r != CODEC_OK)
                return r;
        *pair = (CodecPair){ .ptr = key, .len = len };
        if (key == s->key->str) /* escaped: kept for the duplicate check */
                pair->ptr = pair->owned = g_strndup(key, len);
        skip_ws(p, i);
        (*i)++; /* ':' */
        skip_ws(p, i);
        pair->value = *i;
        return CODEC_OK;
}

/* One member, its value at p[*at] (*at moves past it): left out when null;
 * "type" at the top. */
static CodecReason json_write_member(const CodecLimits *limits, VWriter *w, const VFrame *array,
                                     const char *p, const CodecPair *key, size_t *at, bool top,
                                     JsonScratch *s, const char **ret_type, size_t *ret_type_len)
{
        const char *signature;
        VMember member;
        CodecReason r;

        if (p[*at] == 'n') {
                *at += 4; /* a null member is left out (D-Bus has no null) */
                return CODEC_OK;
        }
        if (top && key->len == 4 && memcmp(key->ptr, "type", 4) == 0) {
                size_t k = *at;
                if (p[k] != '"')
                        return CODEC_E_TYPE_NOT_STRING;
                json_string(p, &k, s->type, ret_type, ret_type_len);
        }
        vwriter_member_begin(w, &member, key->ptr, key->len);
        r = json_write_value(limits, w, p, at, s, &signature);
        if (r != CODEC_OK)
                return r;
        vwriter_member_end(w, array, &member, signature);
        return CODEC_OK;
}

static void pairs_free(CodecPair *pairs, size_t n)
{
        for (size_t k = 0; k < n; k++)
                g_free(pairs[k].owned);
}

/*
 * The object at p[*i] as a{sv}. Duplicate keys keep json-c's meaning (and
 * msgpack's, codec-msgpack.c): the member sits where its key first appears
 * and holds the last value (a last null removes it). Written in one pass
 * while no key repeats; at the first repeat what was written is taken back
 * and the object is written again from all its members.
 */
static CodecReason json_write_object(const CodecLimits *limits, VWriter *w, const char *p,
                                     size_t *i, bool top, JsonScratch *s, const char **ret_type,
                                     size_t *ret_type_len)
{
        CodecPair stackbuf[16];
        g_autofree CodecPair *heap = NULL;
        g_autoptr(GHashTable) table = NULL;
        CodecPair *pairs = stackbuf;
        size_t cap = G_N_ELEMENTS(stackbuf), n = 0, mark_len = w->len,
               mark_offsets = w->n_offsets, start;
        bool repeat = false;
        CodecReason r = CODEC_OK, bad = CODEC_OK;
        VFrame array;

        (*i)++; /* '{' */
        skip_ws(p, i);
        start = *i;
        vwriter_array_begin(w, &array);
        while (p[*i] != '}') {
                if (n == cap) {
                        CodecPair *more = g_new(CodecPair, cap * 2);
                        memcpy(more, pairs, sizeof(CodecPair) * n);
                        g_free(heap);
                        pairs = heap = more;
                        cap *= 2;
                        g_clear_pointer(&table, g_hash_table_unref); /* it pointed into the old */
                }
                r = json_key(limits, p, i, s, &pairs[n]);
                if (r != CODEC_OK)
                        break;
                n++;
                if (codec_pair_seen(pairs, n - 1, &table)) {
                        repeat = true;
                        break;
                }
                if (bad == CODEC_OK) {
                        r = json_write_member(limits, w, &array, p, &pairs[n - 1], i, top, s,
                                              ret_type, ret_type_len);
                        if (r != CODEC_OK) {
                                /* the verdict, unless a later key repeats (its value may
                                 * replace this one): read on to know */
                                bad = r;
                                *i = pairs[n - 1].value;
                                json_skip(p, i);
                        }
                } else {
                        json_skip(p, i);
                }
                skip_ws(p, i);
                if (p[*i] == ',') {
                        (*i)++;
                        skip_ws(p, i);
                }
        }
        if (r != CODEC_OK && !repeat) {
                pairs_free(pairs, n);
                return bad != CODEC_OK ? bad : r;
        }
        if (!repeat) {
                pairs_free(pairs, n);
                (*i)++; /* '}' */
                if (bad != CODEC_OK)
                        return bad;
                vwriter_array_end(w, &array);
                return CODEC_OK;
        }

        /* a repeated key: every member first, then each key once, with its last value */
        {
                g_autofree int64_t *winner = NULL;

                pairs_free(pairs, n);
                n = 0;
                w->len = mark_len;
                w->n_offsets = mark_offsets;
                *i = start;
                vwriter_array_begin(w, &array);
                while (p[*i] != '}') {
                        if (n == cap) {
                                CodecPair *more = g_new(CodecPair, cap * 2);
                                memcpy(more, pairs, sizeof(CodecPair) * n);
                                g_free(heap);
                                pairs = heap = more;
                                cap *= 2;
                        }
                        r = json_key(limits, p, i, s, &pairs[n]);
                        if (r != CODEC_OK) {
                                pairs_free(pairs, n);
                                return r;
                        }
                        n++;
                        json_skip(p, i);
                        skip_ws(p, i);
                        if (p[*i] == ',') {
                                (*i)++;
                                skip_ws(p, i);
                        }
                }
                (*i)++; /* '}' */
                winner = g_new(int64_t, n);
                codec_pairs_winners(pairs, n, winner);
                for (size_t k = 0; k < n && r == CODEC_OK; k++) {
                        size_t at;
                        if (winner[k] < 0)
                                continue;
                        at = pairs[winner[k]].value;
                        r = json_write_member(limits, w, &array, p, &pairs[k], &at, top, s,
                                              ret_type, ret_type_len);
                }
                pairs_free(pairs, n);
                if (r != CODEC_OK)
                        return r;
                vwriter_array_end(w, &array);
                return CODEC_OK;
        }
}

static CodecReason json_write_array(const CodecLimits *limits, VWriter *w, const char *p,
                                    size_t *i, JsonScratch *s)
{
        VFrame array;

        (*i)++; /* '[' */
        skip_ws(p, i);
        vwriter_array_begin(w, &array);
        while (p[*i] != ']') {
                const char *signature;
                CodecReason r;

                if (p[*i] == 'n')
                        return CODEC_E_NULL_IN_ARRAY;
                vwriter_element_begin(w);
                r = json_write_value(limits, w, p, i, s, &signature);
                if (r != CODEC_OK)
                        return r;
                vwriter_element_end(w, &array, signature);
                skip_ws(p, i);
                if (p[*i] == ',') {
                        (*i)++;
                        skip_ws(p, i);
                }
        }
        (*i)++; /* ']' */
        vwriter_array_end(w, &array);
        return CODEC_OK;
}

/* A number literal (json_scan proved its syntax and, for an integer, its range). */
static CodecReason json_write_number(VWriter *w, const char *p, size_t *i,
                                     const char **ret_signature)
{
        size_t start = *i, len;
        bool integer = true;
        char stackbuf[64];
        g_autofree char *heap = NULL;
        char *text;

        while (!strchr(",]} \t\n\r", p[*i]) && p[*i] != '\0') {
                if (p[*i] == '.' || p[*i] == 'e' || p[*i] == 'E')
                        integer = false;
                (*i)++;
        }
        len = *i - start;
        text = len < sizeof(stackbuf) ? stackbuf : (heap = g_malloc(len + 1));
        memcpy(text, p + start, len);
        text[len] = '\0';
        if (integer && text[0] == '-') {
                *ret_signature = "x";
                vwriter_int64(w, g_ascii_strtoll(text, NULL, 10));
        } else if (integer) {
                guint64 u = g_ascii_strtoull(text, NULL, 10);
                if (u > (guint64) INT64_MAX) {
                        *ret_signature = "t";
                        vwriter_uint64(w, u);
                } else {
                        *ret_signature = "x";
                        vwriter_int64(w, (int64_t) u);
                }
        } else {
                double d = g_ascii_strtod(text, NULL);
                if (!isfinite(d))
                        return CODEC_E_NUMBER_NOT_FINITE; /* 1e400: a valid literal, no double */
                *ret_signature = "d";
                vwriter_double(w, d);
        }
        return CODEC_OK;
}

static CodecReason json_write_value(const CodecLimits *limits, VWriter *w, const char *p,
                                    size_t *i, JsonScratch *s, const char **ret_signature)
{
        const char *str;
        size_t len;
        CodecReason r;

        switch (p[*i]) {
        case '{':
                *ret_signature = "a{sv}";
                return json_write_object(limits, w, p, i, false, s, NULL, NULL);
        case '[':
                *ret_signature = "av";
                return json_write_array(limits, w, p, i, s);
        case '"':
                json_string(p, i, s->value, &str, &len);
                r = codec_check_string(limits, str, len);
                if (r != CODEC_OK)
                        return r;
                *ret_signature = "s";
                vwriter_string(w, str, len);
                return CODEC_OK;
        case 't':
        case 'f':
                *ret_signature = "b";
                vwriter_boolean(w, p[*i] == 't');
                *i += p[*i] == 't' ? 4 : 5;
                return CODEC_OK;
        default:
                return json_write_number(w, p, i, ret_signature);
        }
}

static void scratch_free(JsonScratch *s)
{
        g_string_free(s->key, TRUE);
        g_string_free(s->value, TRUE);
        g_string_free(s->type, TRUE);
        g_free(s);
}

/* The thread's scratch strings, kept from one event to the next (given back
 * when one grew past 64 KiB). */
static GPrivate scratch_key = G_PRIVATE_INIT((GDestroyNotify) scratch_free);

static JsonScratch *scratch_get(void)
{
        JsonScratch *s = g_private_get(&scratch_key);

        if (!s) {
                s = g_new0(JsonScratch, 1);
                s->key = g_string_new(NULL);
                s->value = g_string_new(NULL);
                s->type = g_string_new(NULL);
                g_private_set(&scratch_key, s);
        }
        return s;
}

static void scratch_trim(JsonScratch *s)
{
        GString **all[] = { &s->key, &s->value, &s->type };

        for (size_t k = 0; k < G_N_ELEMENTS(all); k++)
                if ((*all[k])->allocated_len > 65536) {
                        g_string_free(*all[k], TRUE);
                        *all[k] = g_string_new(NULL);
                }
}

CodecReason codec_decode_json(const CodecLimits *limits, const char *buf, size_t len,
                              CodecEvent *ret)
{
        JsonScratch *s;
        const char *type = NULL;
        size_t start = 0, end = 0, type_len = 0, i;
        VWriter *w;
        CodecReason r;

        while (start < len && is_ws(buf[start]))
                start++;
        if (start == len)
                return CODEC_E_EMPTY;

        r = json_scan(limits, buf, len, start, &end);
        if (r != CODEC_OK)
                return r;
        for (size_t k = end; k < len; k++)
                if (!is_ws(buf[k]))
                        return CODEC_E_TRAILING_DATA;
        if (buf[start] != '{')
                return CODEC_E_NOT_OBJECT;

        s = scratch_get();
        w = vwriter_acquire();
        i = start;
        r = json_write_object(limits, w, buf, &i, true, s, &type, &type_len);
        if (r == CODEC_OK)
                codec_event_take(ret, CODEC_FORMAT_JSON, w, type, type_len);
        else
                vwriter_reset(w);
        scratch_trim(s);
        return r;
}

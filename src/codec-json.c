/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * codec-json.c — strict RFC 8259 JSON object -> a{sv}.
 *
 * json-c builds the tree, but json-c 0.16 is lenient even with
 * JSON_TOKENER_STRICT: it accepts NaN, Infinity and nan, single-quoted
 * strings, "5.", raw control characters inside strings and \f or \v as
 * whitespace; it replaces lone UTF-16 surrogate escapes with U+FFFD and
 * silently clamps integers beyond int64/uint64. So a lexical pass
 * (json_scan) runs first. It rejects all of the above, measures nesting and
 * member counts before json-c allocates anything, and finds where the
 * top-level object ends, so trailing bytes get their own reason. json-c
 * then only ever sees lexically valid input, and its errors are structural
 * ("syntax").
 *
 * One more json-c 0.16 defect is worked around here: a surrogate-pair escape
 * whose code point has D800..DFFF in its low 16 bits (U+1D800..U+1DFFF,
 * U+2D800.. and so on, 32768 valid characters) comes out as U+FFFD, because
 * json-c tests the decoded code point against the surrogate range without
 * masking the plane. json_scan notices such pairs, and only then the input
 * is copied with every pair escape rewritten as raw UTF-8 (json_unescape_pairs),
 * which json-c passes through untouched.
 */
#include <json-c/json.h>
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

/* json-c 0.16 turns these supplementary code points into U+FFFD (see above) */
static bool json_c_mangles(unsigned cp)
{
        return cp >= 0x10000 && (cp & 0xf800) == 0xd800;
}

/*
 * p[*i] is the opening quote. On success *i is just past the closing quote;
 * *mangled is set when a pair escape json-c would corrupt was seen.
 */
static CodecReason scan_string(const char *p, size_t len, size_t *i, bool *mangled)
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
                                if (json_c_mangles(0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00)))
                                        *mangled = true;
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
static CodecReason json_scan(const CodecLimits *limits, const char *p, size_t len, size_t start,
                             size_t *ret_end, bool *ret_mangled)
{
        unsigned members[CODEC_DEPTH_CEILING + 1];
        bool after_number[CODEC_DEPTH_CEILING + 1] = { false };
        unsigned depth = 0;
        size_t i = start, wire = 0;
        CodecReason r;

        while (i < len) {
                char c = p[i];

                /* a value (or key) starts here: what it costs on the bus at least */
                if (depth > 0 && c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ',' &&
                    c != ':' && c != '}' && c != ']') {
                        bool number = c == '-' || (c >= '0' && c <= '9');
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
                        i++;
                        break;
                case '}':
                case ']':
                        i++;
                        if (depth == 0)
                                return CODEC_E_SYNTAX;
                        if (--depth == 0) {
                                *ret_end = i;
                                return CODEC_OK;
                        }
                        break;
                case ',':
                        if (depth == 0)
                                return CODEC_E_SYNTAX;
                        if (++members[depth] > limits->max_members)
                                return CODEC_E_TOO_MANY_MEMBERS;
                        i++;
                        break;
                case ':':
                        i++;
                        break;
                case '"':
                        r = scan_string(p, len, &i, ret_mangled);
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

/*
 * A copy of p[0..len) (lexically valid, as json_scan proved) with every
 * surrogate-pair escape replaced by its UTF-8 bytes. Other escapes stay.
 */
static GString *json_unescape_pairs(const char *p, size_t len)
{
        GString *out = g_string_sized_new(len);
        bool in_string = false;
        size_t i = 0;

        while (i < len) {
                char c = p[i];
                if (!in_string || c != '\\') {
                        if (c == '"')
                                in_string = !in_string;
                        g_string_append_c(out, c);
                        i++;
                        continue;
                }
                if (p[i + 1] == 'u') {
                        unsigned hi = 0, lo = 0;
                        size_t k = i + 2;
                        (void) scan_u4(p, len, &k, &hi);
                        if (hi >= 0xd800 && hi <= 0xdbff) {
                                k += 2;
                                (void) scan_u4(p, len, &k, &lo);
                                g_string_append_unichar(out, 0x10000 + ((hi - 0xd800) << 10) +
                                                                     (lo - 0xdc00));
                                i = k;
                                continue;
                        }
                        g_string_append_len(out, p + i, 6);
                        i += 6;
                        continue;
                }
                g_string_append_len(out, p + i, 2);
                i += 2;
        }
        return out;
}

static CodecReason json_write_value(const CodecLimits *limits, VWriter *w, struct json_object *o,
                                    const char **ret_signature);

/* Writes an object as a{sv}; at the top level, also finds the "type" member. */
static CodecReason json_write_object(const CodecLimits *limits, VWriter *w, struct json_object *o,
                                     bool top, const char **ret_type, size_t *ret_type_len)
{
        VFrame array;

        vwriter_array_begin(w, &array);
        json_object_object_foreach(o, key, val)
        {
                size_t klen = strlen(key); /* \u0000 in a key was refused by json_scan */
                const char *signature;
                VMember m;
                CodecReason r;

                r = codec_check_string(limits, key, klen);
                if (r != CODEC_OK)
                        return r;
                if (val == NULL)
                        continue; /* null member: left out (D-Bus has no null) */
                if (top && strcmp(key, "type") == 0) {
                        if (json_object_get_type(val) != json_type_string)
                                return CODEC_E_TYPE_NOT_STRING;
                        *ret_type = json_object_get_string(val);
                        *ret_type_len = (size_t) json_object_get_string_len(val);
                }
                vwriter_member_begin(w, &m, key, klen);
                r = json_write_value(limits, w, val, &signature);
                if (r != CODEC_OK)
                        return r;
                vwriter_member_end(w, &array, &m, signature);
        }
        vwriter_array_end(w, &array);
        return CODEC_OK;
}

static CodecReason json_write_array(const CodecLimits *limits, VWriter *w, struct json_object *o)
{
        size_t n = json_object_array_length(o);
        VFrame array;

        vwriter_array_begin(w, &array);
        for (size_t i = 0; i < n; i++) {
                struct json_object *e = json_object_array_get_idx(o, i);
                const char *signature;
                CodecReason r;

                if (e == NULL)
                        return CODEC_E_NULL_IN_ARRAY;
                vwriter_element_begin(w);
                r = json_write_value(limits, w, e, &signature);
                if (r != CODEC_OK)
                        return r;
                vwriter_element_end(w, &array, signature);
        }
        vwriter_array_end(w, &array);
        return CODEC_OK;
}

static CodecReason json_write_value(const CodecLimits *limits, VWriter *w, struct json_object *o,
                                    const char **ret_signature)
{
        CodecReason r;

        switch (json_object_get_type(o)) {
        case json_type_object:
                *ret_signature = "a{sv}";
                return json_write_object(limits, w, o, false, NULL, NULL);
        case json_type_array:
                *ret_signature = "av";
                return json_write_array(limits, w, o);
        case json_type_boolean:
                *ret_signature = "b";
                vwriter_boolean(w, json_object_get_boolean(o));
                return CODEC_OK;
        case json_type_int: {
                /* json_scan guaranteed the literal fits; json-c picked int64 or uint64 */
                int64_t v = json_object_get_int64(o);
                if (v == INT64_MAX && json_object_get_uint64(o) > (uint64_t) INT64_MAX) {
                        *ret_signature = "t";
                        vwriter_uint64(w, json_object_get_uint64(o));
                } else {
                        *ret_signature = "x";
                        vwriter_int64(w, v);
                }
                return CODEC_OK;
        }
        case json_type_double: {
                double d = json_object_get_double(o);
                if (!isfinite(d))
                        return CODEC_E_NUMBER_NOT_FINITE; /* 1e400: a valid literal, no double */
                *ret_signature = "d";
                vwriter_double(w, d);
                return CODEC_OK;
        }
        case json_type_string: {
                const char *s = json_object_get_string(o);
                size_t len = (size_t) json_object_get_string_len(o);
                r = codec_check_string(limits, s, len);
                if (r != CODEC_OK)
                        return r;
                *ret_signature = "s";
                vwriter_string(w, s, len);
                return CODEC_OK;
        }
        case json_type_null:
                break;
        }
        g_assert_not_reached(); /* null is handled by the container */
}

/*
 * One tokener per thread, reset between packets: allocating one (its parse
 * stack and print buffer) was a fifth of the decoding time. json_scan
 * enforces max_depth exactly; json-c's own limit is a backstop set to the
 * ceiling, plus the level json-c spends on a scalar at the deepest level.
 */
static GPrivate tokener_key = G_PRIVATE_INIT((GDestroyNotify) json_tokener_free);

static struct json_tokener *json_tokener_get(void)
{
        struct json_tokener *tok = g_private_get(&tokener_key);

        if (!tok) {
                tok = json_tokener_new_ex((int) CODEC_DEPTH_CEILING + 1);
                if (!tok)
                        g_error("json_tokener_new_ex: out of memory");
                json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
                g_private_set(&tokener_key, tok);
        }
        return tok;
}

CodecReason codec_decode_json(const CodecLimits *limits, const char *buf, size_t len,
                              CodecEvent *ret)
{
        g_autoptr(GString) fixed = NULL;
        struct json_tokener *tok;
        struct json_object *root;
        const char *type = NULL;
        size_t start = 0, end = 0, type_len = 0;
        VWriter *w;
        bool mangled = false;
        CodecReason r;

        while (start < len && is_ws(buf[start]))
                start++;
        if (start == len)
                return CODEC_E_EMPTY;

        r = json_scan(limits, buf, len, start, &end, &mangled);
        if (r != CODEC_OK)
                return r;
        for (size_t i = end; i < len; i++)
                if (!is_ws(buf[i]))
                        return CODEC_E_TRAILING_DATA;
        if (buf[start] != '{')
                return CODEC_E_NOT_OBJECT;

        if (mangled) {
                fixed = json_unescape_pairs(buf + start, end - start);
                buf = fixed->str;
                start = 0;
                end = fixed->len;
        }

        tok = json_tokener_get();
        root = json_tokener_parse_ex(tok, buf + start, (int) (end - start));
        if (!root) {
                enum json_tokener_error e = json_tokener_get_error(tok);
                json_tokener_reset(tok);
                if (e == json_tokener_error_depth)
                        return CODEC_E_TOO_DEEP;
                return e == json_tokener_continue ? CODEC_E_TRUNCATED : CODEC_E_SYNTAX;
        }
        json_tokener_reset(tok);

        w = vwriter_acquire();
        r = json_write_object(limits, w, root, true, &type, &type_len);
        if (r == CODEC_OK)
                codec_event_take(ret, CODEC_FORMAT_JSON, w, type, type_len);
        else
                vwriter_reset(w);
        json_object_put(root);
        return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-codec.c — the payload rules of doc/protocol.md, one test each.
 *
 * Every accepted value is also checked to be in normal form and to survive
 * a round trip through a serialised D-Bus message (codec-testutil.h).
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codec-testutil.h"
#include "cunit-tap.h"

static CodecLimits limits;

/* Per-test setup: every test starts from the default limits, whatever the
 * one before it set. */
static void reset_limits(void)
{
        limits = CODEC_LIMITS_DEFAULT;
}

/* The codec marks its output trusted; re-check the bytes as if they came from outside. */
static gboolean is_normal_form_untrusted(GVariant *v)
{
        g_autoptr(GBytes) bytes = g_bytes_new(g_variant_get_data(v), g_variant_get_size(v));
        g_autoptr(GVariant) copy =
                g_variant_ref_sink(g_variant_new_from_bytes(g_variant_get_type(v), bytes, FALSE));
        return g_variant_is_normal_form(copy) && g_variant_equal(copy, v);
}

static CodecReason decode_pinned(CodecFormat pin, const void *buf, size_t len, CodecEvent *ev)
{
        CodecEvent tmp = { 0 };
        CodecReason r = codec_decode(&limits, pin, buf, len, &tmp);

        if (r == CODEC_OK) {
                CU_ASSERT_PTR_NOT_NULL_FATAL(tmp.data);
                CU_ASSERT_TRUE(g_variant_is_of_type(tmp.data, G_VARIANT_TYPE("a{sv}")));
                CU_ASSERT_TRUE(g_variant_is_of_type(tmp.type, G_VARIANT_TYPE_STRING));
                CU_ASSERT_TRUE(is_normal_form_untrusted(tmp.data));
                CU_ASSERT_FALSE(g_variant_is_floating(tmp.data));
                CU_ASSERT_TRUE(value_survives_bus(tmp.type, tmp.data));
        }
        if (ev)
                *ev = tmp;
        else
                codec_event_clear(&tmp);
        return r;
}

static CodecReason decode(const void *buf, size_t len, CodecEvent *ev)
{
        return decode_pinned(CODEC_FORMAT_AUTO, buf, len, ev);
}

static CodecReason decode_str(const char *s)
{
        return decode(s, strlen(s), NULL);
}

#define ASSERT_REASON(expr, reason)                                                                \
        do {                                                                                       \
                CodecReason _r = (expr);                                                           \
                if (_r != (reason))                                                                \
                        printf("# got %s, want %s: %s\n", codec_reason_name(_r),                   \
                               codec_reason_name(reason), #expr);                                  \
                CU_ASSERT_EQUAL(_r, reason);                                                       \
        } while (0)

/* Decodes bytes and compares the data against GVariant text format and the type. */
static void assert_decodes_to(const void *buf, size_t len, CodecFormat want_format,
                              const char *want_text, const char *want_type)
{
        CodecEvent ev = { 0 };
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) want = NULL;

        ASSERT_REASON(decode(buf, len, &ev), CODEC_OK);
        if (!ev.data)
                return;
        CU_ASSERT_EQUAL(ev.format, want_format);
        want = g_variant_parse(G_VARIANT_TYPE("a{sv}"), want_text, NULL, NULL, &error);
        g_assert_no_error(error);
        if (!g_variant_equal(ev.data, want)) {
                g_autofree char *got = g_variant_print(ev.data, TRUE);
                printf("# got  %s\n# want %s\n", got, want_text);
                CU_FAIL("decoded value differs");
        }
        CU_ASSERT_STRING_EQUAL(g_variant_get_string(ev.type, NULL), want_type);
        codec_event_clear(&ev);
}

static void assert_json_decodes_to(const char *json, const char *want_text, const char *want_type)
{
        assert_decodes_to(json, strlen(json), CODEC_FORMAT_JSON, want_text, want_type);
}

static void test_json_object_maps_to_vardict(void)
{
        assert_json_decodes_to(
                "{\"type\":\"pending\",\"s\":\"héllo\",\"i\":-5,\"f\":1.5,\"b\":true,"
                "\"n\":false,\"arr\":[1,\"a\",[]],\"o\":{\"k\":{}}}",
                "{'type': <'pending'>, 's': <'héllo'>, 'i': <int64 -5>, 'f': <1.5>,"
                " 'b': <true>, 'n': <false>, 'arr': <[<int64 1>, <'a'>, <@av []>]>,"
                " 'o': <{'k': <@a{sv} {}>}>}",
                "pending");
}

static void test_json_missing_type_gives_empty_type(void)
{
        assert_json_decodes_to("{\"a\":1}", "{'a': <int64 1>}", "");
        assert_json_decodes_to("{}", "@a{sv} {}", "");
}

static void test_json_null_member_is_left_out(void)
{
        assert_json_decodes_to("{\"a\":null,\"b\":{\"c\":null},\"type\":null}",
                               "{'b': <@a{sv} {}>}", "");
}

static void test_json_null_in_array_is_rejected(void)
{
        ASSERT_REASON(decode_str("{\"a\":[1,null]}"), CODEC_E_NULL_IN_ARRAY);
        ASSERT_REASON(decode_str("{\"a\":[1,2]}"), CODEC_OK);
}

static void test_json_integer_range_boundaries(void)
{
        assert_json_decodes_to("{\"a\":-9223372036854775808}",
                               "{'a': <int64 -9223372036854775808>}", "");
        assert_json_decodes_to("{\"a\":9223372036854775807}",
                               "{'a': <int64 9223372036854775807>}", "");
        assert_json_decodes_to("{\"a\":9223372036854775808}",
                               "{'a': <uint64 9223372036854775808>}", "");
        assert_json_decodes_to("{\"a\":18446744073709551615}",
                               "{'a': <uint64 18446744073709551615>}", "");
        assert_json_decodes_to("{\"a\":-0}", "{'a': <int64 0>}", "");
        ASSERT_REASON(decode_str("{\"a\":18446744073709551616}"), CODEC_E_INTEGER_OUT_OF_RANGE);
        ASSERT_REASON(decode_str("{\"a\":-9223372036854775809}"), CODEC_E_INTEGER_OUT_OF_RANGE);
        ASSERT_REASON(decode_str("{\"a\":100000000000000000000000}"),
                      CODEC_E_INTEGER_OUT_OF_RANGE);
}

static void test_json_fraction_or_exponent_is_double(void)
{
        assert_json_decodes_to("{\"a\":1.0,\"b\":1e2,\"c\":-2.5E-1,\"d\":1e-400}",
                               "{'a': <1.0>, 'b': <100.0>, 'c': <-0.25>, 'd': <0.0>}", "");
}

static void test_json_float_overflow_is_not_finite(void)
{
        ASSERT_REASON(decode_str("{\"a\":1e400}"), CODEC_E_NUMBER_NOT_FINITE);
        ASSERT_REASON(decode_str("{\"a\":-1.5e999}"), CODEC_E_NUMBER_NOT_FINITE);
        ASSERT_REASON(decode_str("{\"a\":1e308}"), CODEC_OK);
}

static void test_json_non_rfc_syntax_is_rejected(void)
{
        static const char *const bad[] = {
                "{\"a\":NaN}",       "{\"a\":nan}",        "{\"a\":Infinity}",  "{\"a\":-Infinity}",
                "{\"a\":1,}",        "{\"a\":[1,]}",       "{'a':1}",           "{\"a\":'x'}",
                "{a:1}",             "{/*c*/\"a\":1}",     "{\"a\":1//c\n}",    "{\"a\":01}",
                "{\"a\":5.}",        "{\"a\":.5}",         "{\"a\":+1}",        "{\"a\":0x1}",
                "{\"a\":-}",         "{\"a\":1e}",         "{\"a\":True}",      "{\"a\":nul}",
                "{\"a\":truex}",     "{\"a\":\"\\x41\"}",  "{\"a\":\"\\'\"}",   "{\"a\" 1}",
                "{\"a\":1 \"b\":2}", "{\"a\":1\f}",        "{\"a\":1\v}",       "{,}",
                "{\"a\"::1}",        "{\"a\":1]",          "{\"a\":\"\\u12G4\"}", "{\"a\":1.e5}",
                NULL,
        };
        for (const char *const *s = bad; *s; s++) {
                CodecReason r = decode_str(*s);
                if (r != CODEC_E_SYNTAX)
                        printf("# %s -> %s\n", *s, codec_reason_name(r));
                CU_ASSERT_EQUAL(r, CODEC_E_SYNTAX);
        }
        ASSERT_REASON(decode_str("{\"a\":1}"), CODEC_OK);
}

static void test_json_raw_control_character_in_string_is_rejected(void)
{
        ASSERT_REASON(decode_str("{\"a\":\"x\ty\"}"), CODEC_E_SYNTAX);
        ASSERT_REASON(decode_str("{\"a\":\"x\ny\"}"), CODEC_E_SYNTAX);
        ASSERT_REASON(decode("{\"a\":\"x\0y\"}", 11, NULL), CODEC_E_SYNTAX);
        assert_json_decodes_to("{\"a\":\"x\\ty\\n\\u001f\"}", "{'a': <'x\\ty\\n\\u001f'>}", "");
}

static void test_json_whitespace_around_object_is_accepted(void)
{
        ASSERT_REASON(decode_str(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n"), CODEC_OK);
        ASSERT_REASON(decode_str("{\"a\":1}\r\n\n  "), CODEC_OK);
}

static void test_json_trailing_data_is_rejected(void)
{
        ASSERT_REASON(decode_str("{\"a\":1} x"), CODEC_E_TRAILING_DATA);
        ASSERT_REASON(decode_str("{\"a\":1}{\"b\":2}"), CODEC_E_TRAILING_DATA);
        ASSERT_REASON(decode("{\"a\":1}\n\0", 9, NULL), CODEC_E_TRAILING_DATA);
}

static void test_json_truncated_document_is_rejected(void)
{
        static const char *const cut[] = {
                "{",          "{\"a\"",       "{\"a\":",       "{\"a\":1",       "{\"a\":\"x",
                "{\"a\":[1,", "{\"a\":tr",    "{\"a\":\"\\u12", "{\"a\":\"\\",   "{\"a\":-",
                "{\"a\":1.",  "{\"a\":1e",    "{\"a\":\"\\ud83d", NULL,
        };
        for (const char *const *s = cut; *s; s++) {
                CodecReason r = decode_str(*s);
                if (r != CODEC_E_TRUNCATED)
                        printf("# %s -> %s\n", *s, codec_reason_name(r));
                CU_ASSERT_EQUAL(r, CODEC_E_TRUNCATED);
        }
}

static void test_json_nul_escape_is_rejected(void)
{
        ASSERT_REASON(decode_str("{\"a\":\"x\\u0000y\"}"), CODEC_E_NUL_IN_STRING);
        ASSERT_REASON(decode_str("{\"a\\u0000\":1}"), CODEC_E_NUL_IN_STRING);
        ASSERT_REASON(decode_str("{\"a\":\"x\\u0001y\"}"), CODEC_OK);
}

static void test_json_lone_surrogate_is_rejected(void)
{
        ASSERT_REASON(decode_str("{\"a\":\"\\ud800\"}"), CODEC_E_INVALID_UTF8);
        ASSERT_REASON(decode_str("{\"a\":\"\\udc00\"}"), CODEC_E_INVALID_UTF8);
        ASSERT_REASON(decode_str("{\"a\":\"\\ud800x\"}"), CODEC_E_INVALID_UTF8);
        ASSERT_REASON(decode_str("{\"a\":\"\\ud800\\u0041\"}"), CODEC_E_INVALID_UTF8);
        ASSERT_REASON(decode_str("{\"\\udfff\":1}"), CODEC_E_INVALID_UTF8);
        assert_json_decodes_to("{\"a\":\"\\ud83d\\ude00\"}", "{'a': <'\U0001F600'>}", "");
}

/* json-c 0.16 turns U+xD800..U+xDFFF of planes 1-16 into U+FFFD; the codec must not */
static void test_json_supplementary_escapes_are_decoded_exactly(void)
{
        assert_json_decodes_to("{\"a\":\"\\ud836\\udc00\\uD8F7\\uDE14x\\u00e9\\\\ud800\"}",
                               "{'a': <'\U0001D800\U0004DE14x\u00e9\\\\ud800'>}", "");
        assert_json_decodes_to("{\"\\udbff\\udfff\":\"\\\"\\ud83d\\ude00\"}",
                               "{'\U0010FFFF': <'\"\U0001F600'>}", "");
}

static void test_json_invalid_utf8_is_rejected(void)
{
        ASSERT_REASON(decode_str("{\"a\":\"\xc0\xaf\"}"), CODEC_E_INVALID_UTF8);     /* overlong */
        ASSERT_REASON(decode_str("{\"a\":\"\xe0\x80\xaf\"}"), CODEC_E_INVALID_UTF8); /* overlong */
        ASSERT_REASON(decode_str("{\"a\":\"\xed\xa0\x80\"}"), CODEC_E_INVALID_UTF8); /* CESU */
        ASSERT_REASON(decode_str("{\"a\":\"\xff\"}"), CODEC_E_INVALID_UTF8);
        ASSERT_REASON(decode_str("{\"a\":\"\xc3\"}"), CODEC_E_INVALID_UTF8);
        ASSERT_REASON(decode_str("{\"\x80\":1}"), CODEC_E_INVALID_UTF8);
        ASSERT_REASON(decode_str("{\"a\":\"\xf4\x90\x80\x80\"}"), CODEC_E_INVALID_UTF8);
        ASSERT_REASON(decode_str("{\"a\":\"\xc3\xa9\"}"), CODEC_OK);
}

static GString *nested_json(unsigned depth, char open, char close, const char *leaf)
{
        GString *s = g_string_new("{");
        for (unsigned i = 1; i < depth; i++) {
                if (open == '{')
                        g_string_append(s, "\"k\":{");
                else
                        g_string_append(s, i == 1 ? "\"k\":[" : "[");
        }
        if (open == '{')
                g_string_append_printf(s, "\"leaf\":%s", leaf);
        else
                g_string_append(s, leaf);
        for (unsigned i = 1; i < depth; i++)
                g_string_append_c(s, i == depth - 1 && open != '{' ? close : close);
        g_string_append_c(s, '}');
        return s;
}

static void test_json_depth_limit_boundary(void)
{
        g_autoptr(GString) at = nested_json(limits.max_depth, '{', '}', "1");
        g_autoptr(GString) over = nested_json(limits.max_depth + 1, '{', '}', "1");
        g_autoptr(GString) arr_at = nested_json(limits.max_depth, '[', ']', "1");
        g_autoptr(GString) arr_over = nested_json(limits.max_depth + 1, '[', ']', "1");

        ASSERT_REASON(decode_str(at->str), CODEC_OK);
        ASSERT_REASON(decode_str(over->str), CODEC_E_TOO_DEEP);
        ASSERT_REASON(decode_str(arr_at->str), CODEC_OK);
        ASSERT_REASON(decode_str(arr_over->str), CODEC_E_TOO_DEEP);
}

static void test_depth_ceiling_fits_the_bus(void)
{
        limits.max_depth = CODEC_DEPTH_CEILING;
        {
                g_autoptr(GString) at = nested_json(CODEC_DEPTH_CEILING, '{', '}', "1");
                g_autoptr(GString) over = nested_json(CODEC_DEPTH_CEILING + 1, '{', '}', "1");
                ASSERT_REASON(decode_str(at->str), CODEC_OK);
                ASSERT_REASON(decode_str(over->str), CODEC_E_TOO_DEEP);
        }
}

static GString *json_with_members(unsigned n, bool array)
{
        GString *s = g_string_new(array ? "{\"a\":[" : "{");
        for (unsigned i = 0; i < n; i++) {
                if (i)
                        g_string_append_c(s, ',');
                if (array)
                        g_string_append(s, "0");
                else
                        g_string_append_printf(s, "\"k%u\":0", i);
        }
        g_string_append(s, array ? "]}" : "}");
        return s;
}

static void test_json_member_limit_boundary(void)
{
        g_autoptr(GString) obj_at = json_with_members(limits.max_members, false);
        g_autoptr(GString) obj_over = json_with_members(limits.max_members + 1, false);
        g_autoptr(GString) arr_at = json_with_members(limits.max_members, true);
        g_autoptr(GString) arr_over = json_with_members(limits.max_members + 1, true);

        ASSERT_REASON(decode_str(obj_at->str), CODEC_OK);
        ASSERT_REASON(decode_str(obj_over->str), CODEC_E_TOO_MANY_MEMBERS);
        ASSERT_REASON(decode_str(arr_at->str), CODEC_OK);
        ASSERT_REASON(decode_str(arr_over->str), CODEC_E_TOO_MANY_MEMBERS);
}

static void test_json_string_limit_counts_decoded_bytes(void)
{
        g_autoptr(GString) at = g_string_new("{\"a\":\"");
        g_autoptr(GString) over = NULL;
        g_autoptr(GString) key_over = g_string_new("{\"");

        limits.max_string = 10;
        /* five \u00e9 escapes are 30 bytes of JSON but 10 bytes of UTF-8 */
        for (int i = 0; i < 5; i++)
                g_string_append(at, "\\u00e9");
        over = g_string_new(at->str);
        g_string_append(at, "\"}");
        g_string_append(over, "x\"}");
        g_string_append(key_over, "abcdefghijk\":1}");
        ASSERT_REASON(decode_str(at->str), CODEC_OK);
        ASSERT_REASON(decode_str(over->str), CODEC_E_STRING_TOO_LONG);
        ASSERT_REASON(decode_str(key_over->str), CODEC_E_STRING_TOO_LONG);
        ASSERT_REASON(decode_str("{\"abcdefghij\":\"abcdefghij\"}"), CODEC_OK);
}

static void test_json_duplicate_keys_last_wins(void)
{
        assert_json_decodes_to("{\"a\":1,\"b\":2,\"a\":3}", "{'a': <int64 3>, 'b': <int64 2>}",
                               "");
        assert_json_decodes_to("{\"type\":\"x\",\"type\":\"y\"}", "{'type': <'y'>}", "y");
}

static void test_type_member_must_be_a_string(void)
{
        ASSERT_REASON(decode_str("{\"type\":1}"), CODEC_E_TYPE_NOT_STRING);
        ASSERT_REASON(decode_str("{\"type\":{\"a\":1}}"), CODEC_E_TYPE_NOT_STRING);
        ASSERT_REASON(decode_str("{\"type\":[\"a\"]}"), CODEC_E_TYPE_NOT_STRING);
        /* only the top level's "type" is special */
        assert_json_decodes_to("{\"o\":{\"type\":1}}", "{'o': <{'type': <int64 1>}>}", "");
}

static void test_encoding_detection(void)
{
        ASSERT_REASON(decode("", 0, NULL), CODEC_E_EMPTY);
        ASSERT_REASON(decode_str(" \n\t"), CODEC_E_EMPTY);
        ASSERT_REASON(decode_str("[1]"), CODEC_E_UNKNOWN_ENCODING);
        ASSERT_REASON(decode_str("\"x\""), CODEC_E_UNKNOWN_ENCODING);
        ASSERT_REASON(decode_str("hello"), CODEC_E_UNKNOWN_ENCODING);
        ASSERT_REASON(decode("\x91\x01", 2, NULL), CODEC_E_UNKNOWN_ENCODING);
        /* whitespace is JSON's: never skipped before msgpack */
        ASSERT_REASON(decode(" \x80", 2, NULL), CODEC_E_UNKNOWN_ENCODING);
        ASSERT_REASON(decode("\x80", 1, NULL), CODEC_OK);
        ASSERT_REASON(decode("\xde\x00\x00", 3, NULL), CODEC_OK);
        ASSERT_REASON(decode("\xdf\x00\x00\x00\x00", 5, NULL), CODEC_OK);
}

static void test_pinned_codec(void)
{
        ASSERT_REASON(decode_pinned(CODEC_FORMAT_JSON, "\x80", 1, NULL),
                      CODEC_E_ENCODING_NOT_ALLOWED);
        ASSERT_REASON(decode_pinned(CODEC_FORMAT_MSGPACK, "{}", 2, NULL),
                      CODEC_E_ENCODING_NOT_ALLOWED);
        ASSERT_REASON(decode_pinned(CODEC_FORMAT_JSON, "[1]", 3, NULL), CODEC_E_NOT_OBJECT);
        ASSERT_REASON(decode_pinned(CODEC_FORMAT_JSON, " 12 ", 4, NULL), CODEC_E_NOT_OBJECT);
        ASSERT_REASON(decode_pinned(CODEC_FORMAT_JSON, "[1", 2, NULL), CODEC_E_TRUNCATED);
        ASSERT_REASON(decode_pinned(CODEC_FORMAT_MSGPACK, "\x91\x01", 2, NULL), CODEC_E_NOT_OBJECT);
        ASSERT_REASON(decode_pinned(CODEC_FORMAT_MSGPACK, "\x01", 1, NULL), CODEC_E_NOT_OBJECT);
        ASSERT_REASON(decode_pinned(CODEC_FORMAT_JSON, "{}", 2, NULL), CODEC_OK);
        ASSERT_REASON(decode_pinned(CODEC_FORMAT_MSGPACK, "\x80", 1, NULL), CODEC_OK);
}

/* ---- msgpack ---- */

static void assert_mp_decodes_to(const MpBuf *b, const char *want_text, const char *want_type)
{
        assert_decodes_to(b->sbuf.data, b->sbuf.size, CODEC_FORMAT_MSGPACK, want_text, want_type);
}

static void test_msgpack_map_maps_to_vardict(void)
{
        MpBuf b;
        mpbuf_init(&b);
        msgpack_pack_map(&b.pk, 10);
        mp_str(&b.pk, "type");
        mp_str(&b.pk, "pending");
        mp_str(&b.pk, "neg");
        msgpack_pack_int64(&b.pk, -5);
        mp_str(&b.pk, "pos");
        msgpack_pack_uint8(&b.pk, 7);
        mp_str(&b.pk, "big");
        msgpack_pack_uint64(&b.pk, UINT64_MAX);
        mp_str(&b.pk, "f32");
        msgpack_pack_float(&b.pk, 0.5f);
        mp_str(&b.pk, "f64");
        msgpack_pack_double(&b.pk, -1.25);
        mp_str(&b.pk, "bin");
        msgpack_pack_bin(&b.pk, 3);
        msgpack_pack_bin_body(&b.pk, "\x00\x01\xff", 3);
        mp_str(&b.pk, "t");
        msgpack_pack_true(&b.pk);
        mp_str(&b.pk, "arr");
        msgpack_pack_array(&b.pk, 2);
        msgpack_pack_false(&b.pk);
        mp_str(&b.pk, "x");
        mp_str(&b.pk, "nil");
        msgpack_pack_nil(&b.pk);
        assert_mp_decodes_to(&b,
                             "{'type': <'pending'>, 'neg': <int64 -5>, 'pos': <int64 7>,"
                             " 'big': <uint64 18446744073709551615>, 'f32': <0.5>, 'f64': <-1.25>,"
                             " 'bin': <[byte 0x00, 0x01, 0xff]>, 't': <true>,"
                             " 'arr': <[<false>, <'x'>]>}",
                             "pending");
        mpbuf_clear(&b);
}

static void test_msgpack_and_json_decode_alike(void)
{
        const char *json = "{\"type\":\"x\",\"a\":[1,-2,\"s\",{\"b\":true}],\"c\":0.5,\"a\":9}";
        CodecEvent ej = { 0 }, em = { 0 };
        MpBuf b;

        mpbuf_init(&b);
        msgpack_pack_map(&b.pk, 4);
        mp_str(&b.pk, "type");
        mp_str(&b.pk, "x");
        mp_str(&b.pk, "a");
        msgpack_pack_array(&b.pk, 4);
        msgpack_pack_int(&b.pk, 1);
        msgpack_pack_int(&b.pk, -2);
        mp_str(&b.pk, "s");
        msgpack_pack_map(&b.pk, 1);
        mp_str(&b.pk, "b");
        msgpack_pack_true(&b.pk);
        mp_str(&b.pk, "c");
        msgpack_pack_double(&b.pk, 0.5);
        mp_str(&b.pk, "a");
        msgpack_pack_int(&b.pk, 9);
        ASSERT_REASON(decode(json, strlen(json), &ej), CODEC_OK);
        ASSERT_REASON(decode(b.sbuf.data, b.sbuf.size, &em), CODEC_OK);
        if (ej.data && em.data) {
                CU_ASSERT_TRUE(g_variant_equal(ej.data, em.data));
                CU_ASSERT_TRUE(g_variant_equal(ej.type, em.type));
        }
        codec_event_clear(&ej);
        codec_event_clear(&em);
        mpbuf_clear(&b);
}

static void test_msgpack_ext_is_rejected(void)
{
        ASSERT_REASON(decode("\x81\xa1x\xd4\x01\x02", 6, NULL), CODEC_E_UNSUPPORTED_TYPE);
        ASSERT_REASON(decode("\x81\xa1x\xc7\x01\x05\x00", 7, NULL), CODEC_E_UNSUPPORTED_TYPE);
        /* timestamp: fixext 4, type -1 */
        ASSERT_REASON(decode("\x81\xa1t\xd6\xff\x00\x00\x00\x01", 9, NULL),
                      CODEC_E_UNSUPPORTED_TYPE);
        ASSERT_REASON(decode("\x81\xa1x\x01", 4, NULL), CODEC_OK);
}

static void test_msgpack_non_string_key_is_rejected(void)
{
        ASSERT_REASON(decode("\x81\x01\x01", 3, NULL), CODEC_E_KEY_NOT_STRING);
        ASSERT_REASON(decode("\x81\xc0\x01", 3, NULL), CODEC_E_KEY_NOT_STRING);
        ASSERT_REASON(decode("\x81\xc4\x01x\x01", 5, NULL), CODEC_E_KEY_NOT_STRING);
        ASSERT_REASON(decode("\x81\x90\x01", 3, NULL), CODEC_E_KEY_NOT_STRING);
        ASSERT_REASON(decode("\x81\xd4\x01\x02\x01", 5, NULL), CODEC_E_KEY_NOT_STRING);
        /* nested maps too */
        ASSERT_REASON(decode("\x81\xa1m\x81\xc3\x01", 6, NULL), CODEC_E_KEY_NOT_STRING);
}

static void test_msgpack_truncated_is_rejected(void)
{
        static const struct {
                const char *bytes;
                size_t len;
        } cut[] = {
                { "\x82\xa1x\x01", 4 },          /* second pair missing */
                { "\x81\xa5x", 3 },              /* str runs past the end */
                { "\x81\xa1x\xcd\x01", 5 },      /* uint16 cut */
                { "\x81\xa1x\xcb\x00\x00", 6 },  /* float64 cut */
                { "\x81\xa1x\xdc\x00", 5 },      /* array16 header cut */
                { "\x81\xa1x\xdc\x03\xe8", 6 },  /* 1000 elements promised, none there */
                { "\x81\xa1x\xda\x00\x10x", 7 }, /* str16 of 16 bytes, 1 there */
                { "\x81\xa1x\xc4\x05" "ab", 7 },    /* bin8 cut */
                { "\xde\x00\x05", 3 },           /* map16 promising 5 pairs */
                { "\x81", 1 },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cut); i++) {
                CodecReason r = decode(cut[i].bytes, cut[i].len, NULL);
                if (r != CODEC_E_TRUNCATED)
                        printf("# case %zu -> %s\n", i, codec_reason_name(r));
                CU_ASSERT_EQUAL(r, CODEC_E_TRUNCATED);
        }
}

static void test_msgpack_huge_counts_are_refused_before_allocation(void)
{
        /* array32 / map32 claiming 4 billion elements in a 9-byte packet */
        ASSERT_REASON(decode("\x81\xa1x\xdd\xff\xff\xff\xff", 8, NULL), CODEC_E_TOO_MANY_MEMBERS);
        ASSERT_REASON(decode("\xdf\xff\xff\xff\xff", 5, NULL), CODEC_E_TOO_MANY_MEMBERS);
        /* str32 claiming 4 GiB */
        ASSERT_REASON(decode("\x81\xa1x\xdb\xff\xff\xff\xff", 8, NULL), CODEC_E_STRING_TOO_LONG);
}

static void test_msgpack_reserved_byte_is_rejected(void)
{
        ASSERT_REASON(decode("\x81\xa1x\xc1", 4, NULL), CODEC_E_SYNTAX);
}

static void test_msgpack_trailing_data_is_rejected(void)
{
        ASSERT_REASON(decode("\x80\x00", 2, NULL), CODEC_E_TRAILING_DATA);
        ASSERT_REASON(decode("\x80\n", 2, NULL), CODEC_E_TRAILING_DATA);
        ASSERT_REASON(decode("\x80\x80", 2, NULL), CODEC_E_TRAILING_DATA);
}

static void mp_nested(MpBuf *b, unsigned depth, bool arrays)
{
        mpbuf_init(b);
        msgpack_pack_map(&b->pk, 1);
        mp_str(&b->pk, "k");
        for (unsigned i = 1; i < depth; i++) {
                if (arrays) {
                        msgpack_pack_array(&b->pk, 1);
                } else {
                        msgpack_pack_map(&b->pk, 1);
                        mp_str(&b->pk, "k");
                }
        }
        msgpack_pack_int(&b->pk, 1);
}

static void test_msgpack_depth_limit_boundary(void)
{
        for (int arrays = 0; arrays <= 1; arrays++) {
                MpBuf at, over;
                mp_nested(&at, limits.max_depth, arrays);
                mp_nested(&over, limits.max_depth + 1, arrays);
                ASSERT_REASON(decode(at.sbuf.data, at.sbuf.size, NULL), CODEC_OK);
                ASSERT_REASON(decode(over.sbuf.data, over.sbuf.size, NULL), CODEC_E_TOO_DEEP);
                mpbuf_clear(&at);
                mpbuf_clear(&over);
        }
}

static void test_msgpack_bin_at_depth_ceiling_fits_the_bus(void)
{
        MpBuf b;

        limits.max_depth = CODEC_DEPTH_CEILING;
        mpbuf_init(&b);
        for (unsigned i = 0; i < CODEC_DEPTH_CEILING; i++) {
                msgpack_pack_map(&b.pk, 1);
                mp_str(&b.pk, "k");
        }
        msgpack_pack_bin(&b.pk, 2);
        msgpack_pack_bin_body(&b.pk, "ab", 2);
        ASSERT_REASON(decode(b.sbuf.data, b.sbuf.size, NULL), CODEC_OK);
        mpbuf_clear(&b);
}

static void test_msgpack_member_limit_boundary(void)
{
        for (int extra = 0; extra <= 1; extra++) {
                MpBuf m, a;
                unsigned n = limits.max_members + (unsigned) extra;
                mpbuf_init(&m);
                mpbuf_init(&a);
                msgpack_pack_map(&m.pk, n);
                msgpack_pack_map(&a.pk, 1);
                mp_str(&a.pk, "a");
                msgpack_pack_array(&a.pk, n);
                for (unsigned i = 0; i < n; i++) {
                        char key[16];
                        g_snprintf(key, sizeof key, "k%u", i);
                        mp_str(&m.pk, key);
                        msgpack_pack_int(&m.pk, 0);
                        msgpack_pack_int(&a.pk, 0);
                }
                ASSERT_REASON(decode(m.sbuf.data, m.sbuf.size, NULL),
                              extra ? CODEC_E_TOO_MANY_MEMBERS : CODEC_OK);
                ASSERT_REASON(decode(a.sbuf.data, a.sbuf.size, NULL),
                              extra ? CODEC_E_TOO_MANY_MEMBERS : CODEC_OK);
                mpbuf_clear(&m);
                mpbuf_clear(&a);
        }
}

static void test_msgpack_string_and_bin_limit_boundary(void)
{
        limits.max_string = 4;
        ASSERT_REASON(decode("\x81\xa1x\xa4" "abcd", 8, NULL), CODEC_OK);
        ASSERT_REASON(decode("\x81\xa1x\xa5" "abcde", 9, NULL), CODEC_E_STRING_TOO_LONG);
        ASSERT_REASON(decode("\x81\xa1x\xc4\x04" "abcd", 9, NULL), CODEC_OK);
        ASSERT_REASON(decode("\x81\xa1x\xc4\x05" "abcde", 10, NULL), CODEC_E_STRING_TOO_LONG);
        ASSERT_REASON(decode("\x81\xa5" "abcde\x01", 8, NULL), CODEC_E_STRING_TOO_LONG);
}

static void test_msgpack_invalid_strings_are_rejected(void)
{
        ASSERT_REASON(decode("\x81\xa1x\xa2\xc0\xaf", 6, NULL), CODEC_E_INVALID_UTF8);
        ASSERT_REASON(decode("\x81\xa2\xc0\xaf\x01", 5, NULL), CODEC_E_INVALID_UTF8);
        ASSERT_REASON(decode("\x81\xa1x\xa3\xed\xa0\x80", 7, NULL), CODEC_E_INVALID_UTF8);
        ASSERT_REASON(decode("\x81\xa1x\xa3\x61\x00\x62", 7, NULL), CODEC_E_NUL_IN_STRING);
        ASSERT_REASON(decode("\x81\xa2\x00x\x01", 5, NULL), CODEC_E_NUL_IN_STRING);
        /* bin carries any bytes */
        ASSERT_REASON(decode("\x81\xa1x\xc4\x03\x00\xc0\xaf", 8, NULL), CODEC_OK);
}

/* A bad or multi-byte sequence at every offset of a 24-byte string: the
 * ASCII run before it is checked 8 bytes at a time, the rest byte by byte. */
static void test_strings_checked_at_every_offset(void)
{
        static const struct {
                const char *bytes;
                size_t len;
                CodecReason want;
        } cases[] = {
                { "\xc3\xa9", 2, CODEC_OK },           /* é */
                { "\xf0\x9f\x98\x80", 4, CODEC_OK },   /* U+1F600 */
                { "\x00", 1, CODEC_E_NUL_IN_STRING },
                { "\x80", 1, CODEC_E_INVALID_UTF8 },    /* a lone continuation byte */
                { "\xc3", 1, CODEC_E_INVALID_UTF8 },    /* a sequence cut short */
                { "\xed\xa0\x80", 3, CODEC_E_INVALID_UTF8 }, /* a surrogate */
                { "\x7f", 1, CODEC_OK },                /* DEL is ASCII */
        };

        for (size_t c = 0; c < G_N_ELEMENTS(cases); c++)
                for (size_t at = 0; at + cases[c].len <= 24; at++) {
                        char str[24], pkt[3 + 2 + 24];
                        size_t n = 0;
                        memset(str, 'a', sizeof(str));
                        memcpy(str + at, cases[c].bytes, cases[c].len);
                        /* {"x": str8 of 24 bytes} */
                        memcpy(pkt, "\x81\xa1x\xd9\x18", 5);
                        n = 5;
                        memcpy(pkt + n, str, sizeof(str));
                        n += sizeof(str);
                        ASSERT_REASON(decode(pkt, n, NULL), cases[c].want);
                        /* the same bytes as a key */
                        pkt[0] = (char) 0x81;
                        memcpy(pkt + 1, "\xb8", 1);
                        memcpy(pkt + 2, str, sizeof(str));
                        pkt[2 + sizeof(str)] = 0x01;
                        ASSERT_REASON(decode(pkt, 3 + sizeof(str), NULL), cases[c].want);
                }
}

static void test_msgpack_non_finite_floats_are_rejected(void)
{
        ASSERT_REASON(decode("\x81\xa1x\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 12, NULL),
                      CODEC_E_NUMBER_NOT_FINITE);
        ASSERT_REASON(decode("\x81\xa1x\xca\x7f\x80\x00\x00", 8, NULL), CODEC_E_NUMBER_NOT_FINITE);
        ASSERT_REASON(decode("\x81\xa1x\xca\xff\x80\x00\x00", 8, NULL), CODEC_E_NUMBER_NOT_FINITE);
        ASSERT_REASON(decode("\x81\xa1x\xca\x3f\x80\x00\x00", 8, NULL), CODEC_OK);
}

static void test_msgpack_nulls(void)
{
        MpBuf b;
        mpbuf_init(&b);
        msgpack_pack_map(&b.pk, 3);
        mp_str(&b.pk, "a");
        msgpack_pack_nil(&b.pk);
        mp_str(&b.pk, "type");
        msgpack_pack_nil(&b.pk);
        mp_str(&b.pk, "b");
        msgpack_pack_int(&b.pk, 1);
        assert_mp_decodes_to(&b, "{'b': <int64 1>}", "");
        mpbuf_clear(&b);
        ASSERT_REASON(decode("\x81\xa1x\x92\x01\xc0", 6, NULL), CODEC_E_NULL_IN_ARRAY);
}

static void test_msgpack_duplicate_keys_last_wins(void)
{
        MpBuf b;
        unsigned n = 40; /* past the linear-scan size: the hash path */

        mpbuf_init(&b);
        msgpack_pack_map(&b.pk, 3);
        mp_str(&b.pk, "a");
        msgpack_pack_int(&b.pk, 1);
        mp_str(&b.pk, "b");
        msgpack_pack_int(&b.pk, 2);
        mp_str(&b.pk, "a");
        msgpack_pack_int(&b.pk, 3);
        assert_mp_decodes_to(&b, "{'a': <int64 3>, 'b': <int64 2>}", "");
        mpbuf_clear(&b);

        mpbuf_init(&b);
        msgpack_pack_map(&b.pk, n);
        for (unsigned i = 0; i < n; i++) {
                char key[8];
                g_snprintf(key, sizeof key, "k%u", i % 20);
                mp_str(&b.pk, key);
                msgpack_pack_unsigned_int(&b.pk, i);
        }
        {
                CodecEvent ev = { 0 };
                gint64 v = -1;
                ASSERT_REASON(decode(b.sbuf.data, b.sbuf.size, &ev), CODEC_OK);
                if (ev.data) {
                        CU_ASSERT_EQUAL(g_variant_n_children(ev.data), 20);
                        CU_ASSERT_TRUE(g_variant_lookup(ev.data, "k3", "x", &v));
                        CU_ASSERT_EQUAL(v, 23);
                }
                codec_event_clear(&ev);
        }
        mpbuf_clear(&b);
}

/* ---- API ---- */

/*
 * The decoders write into one buffer per thread, kept between packets: a
 * value far larger than the buffer is kept for, then a packet refused half
 * way through its members, must leave nothing behind for the next packet.
 */
static void test_writer_is_reused_cleanly(void)
{
        const char *small = "{\"type\":\"t\",\"a\":1,\"b\":[\"x\",2.5]}";
        const char *want = "{'type': <'t'>, 'a': <int64 1>, 'b': <[<'x'>, <2.5>]>}";
        g_autoptr(GString) big = g_string_new("{\"type\":\"big\",\"s\":\"");
        CodecEvent ev = { 0 };

        limits.max_string = 300 * 1024;
        for (unsigned i = 0; i < limits.max_string; i++)
                g_string_append_c(big, (char) ('a' + i % 26));
        g_string_append(big, "\"}");

        assert_json_decodes_to(small, want, "t");
        ASSERT_REASON(decode(big->str, big->len, &ev), CODEC_OK);
        if (ev.data) {
                g_autoptr(GVariant) s = g_variant_lookup_value(ev.data, "s", G_VARIANT_TYPE_STRING);
                size_t len = 0;
                CU_ASSERT_PTR_NOT_NULL_FATAL(s);
                CU_ASSERT_EQUAL(strlen(g_variant_get_string(s, &len)), limits.max_string);
                CU_ASSERT_EQUAL(len, limits.max_string);
                CU_ASSERT_EQUAL(g_variant_get_string(s, NULL)[limits.max_string - 1],
                                'a' + (limits.max_string - 1) % 26);
        }
        codec_event_clear(&ev);
        assert_json_decodes_to(small, want, "t");
        /* refused after two members and an open array have been written */
        ASSERT_REASON(decode_str("{\"type\":\"t\",\"a\":1,\"b\":[\"x\",null]}"),
                      CODEC_E_NULL_IN_ARRAY);
        ASSERT_REASON(decode("\x83\xa4" "type" "\xa1" "t" "\xa1" "a" "\x01" "\xa1" "b" "\x92\xa1" "x" "\xc0",
                             17, NULL),
                      CODEC_E_NULL_IN_ARRAY);
        assert_json_decodes_to(small, want, "t");
}

static void test_limits_check(void)
{
        CodecLimits l = CODEC_LIMITS_DEFAULT;
        CU_ASSERT_PTR_NULL(codec_limits_check(&l));
        l.max_depth = CODEC_DEPTH_CEILING + 1;
        CU_ASSERT_PTR_NOT_NULL(codec_limits_check(&l));
        l.max_depth = 0;
        CU_ASSERT_PTR_NOT_NULL(codec_limits_check(&l));
        l = CODEC_LIMITS_DEFAULT;
        l.max_members = 0;
        CU_ASSERT_PTR_NOT_NULL(codec_limits_check(&l));
        l = CODEC_LIMITS_DEFAULT;
        l.max_string = CODEC_MAX_STRING_CEILING + 1;
        CU_ASSERT_PTR_NOT_NULL(codec_limits_check(&l));
}

static void test_reason_names_are_unique_and_round_trip(void)
{
        for (unsigned i = 0; i < _CODEC_REASON_MAX; i++) {
                const char *name = codec_reason_name((CodecReason) i);
                CU_ASSERT_PTR_NOT_NULL_FATAL(name);
                CU_ASSERT_EQUAL(codec_reason_from_name(name), (CodecReason) i);
        }
        CU_ASSERT_PTR_NULL(codec_reason_name(_CODEC_REASON_MAX));
        CU_ASSERT_EQUAL(codec_reason_from_name("no-such-reason"), _CODEC_REASON_MAX);
}

/*
 * tests/data: accept-*.{json,msgpack} must decode; reject-REASON--*.{json,msgpack}
 * must be refused with exactly REASON.
 */
static void test_hostile_corpus(void)
{
        const char *dir = g_getenv("INGESTER_TEST_DATA");
        g_autoptr(GDir) d = NULL;
        const char *name;
        unsigned n = 0;

        CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
        d = g_dir_open(dir, 0, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        while ((name = g_dir_read_name(d))) {
                g_autofree char *path = g_build_filename(dir, name, NULL);
                g_autofree char *bytes = NULL;
                gsize len = 0;
                CodecReason want, got;

                if (g_str_has_prefix(name, "accept-")) {
                        want = CODEC_OK;
                } else if (g_str_has_prefix(name, "reject-")) {
                        const char *sep = strstr(name, "--");
                        g_autofree char *reason = NULL;
                        CU_ASSERT_PTR_NOT_NULL_FATAL(sep);
                        reason = g_strndup(name + 7, (gsize) (sep - name - 7));
                        want = codec_reason_from_name(reason);
                        CU_ASSERT_NOT_EQUAL_FATAL(want, _CODEC_REASON_MAX);
                } else {
                        continue;
                }
                CU_ASSERT_TRUE_FATAL(g_file_get_contents(path, &bytes, &len, NULL));
                got = decode(bytes, len, NULL);
                if (got != want)
                        printf("# %s: got %s\n", name, codec_reason_name(got));
                CU_ASSERT_EQUAL(got, want);
                n++;
        }
        printf("# %u corpus files\n", n);
        CU_ASSERT_TRUE(n >= 20);
}

/* ---- randomised ---- */

/* Emits one random value as JSON text and msgpack at once. */
static void gen_value(GRand *rnd, unsigned depth, GString *json, msgpack_packer *pk);

static void gen_string(GRand *rnd, GString *json, msgpack_packer *pk)
{
        g_autoptr(GString) utf8 = g_string_new(NULL);
        unsigned n = (unsigned) g_rand_int_range(rnd, 0, 12);

        g_string_append_c(json, '"');
        for (unsigned i = 0; i < n; i++) {
                gunichar c;
                switch (g_rand_int_range(rnd, 0, 5)) {
                case 0:
                        c = (gunichar) g_rand_int_range(rnd, 1, 0x80);
                        break;
                case 1:
                        c = (gunichar) g_rand_int_range(rnd, 0x80, 0x800);
                        break;
                case 2:
                        c = (gunichar) g_rand_int_range(rnd, 0x800, 0xd800);
                        break;
                case 3:
                        c = (gunichar) g_rand_int_range(rnd, 0x10000, 0x110000);
                        break;
                default:
                        c = (gunichar) g_rand_int_range(rnd, 'a', 'z' + 1);
                        break;
                }
                g_string_append_unichar(utf8, c);
                if (c < 0x20 || c == '"' || c == '\\' || g_rand_boolean(rnd)) {
                        if (c >= 0x10000) {
                                gunichar v = c - 0x10000;
                                g_string_append_printf(json, "\\u%04x\\u%04X", 0xd800 + (v >> 10),
                                                       0xdc00 + (v & 0x3ff));
                        } else {
                                g_string_append_printf(json, "\\u%04x", c);
                        }
                } else {
                        g_string_append_unichar(json, c);
                }
        }
        g_string_append_c(json, '"');
        msgpack_pack_str(pk, utf8->len);
        msgpack_pack_str_body(pk, utf8->str, utf8->len);
}

static void gen_object(GRand *rnd, unsigned depth, GString *json, msgpack_packer *pk)
{
        unsigned n = (unsigned) g_rand_int_range(rnd, 0, depth < 3 ? 6 : 2);

        g_string_append_c(json, '{');
        msgpack_pack_map(pk, n);
        for (unsigned i = 0; i < n; i++) {
                char key[16];
                if (i)
                        g_string_append_c(json, ',');
                g_snprintf(key, sizeof key, "k%u", i); /* unique: no duplicate rule involved */
                g_string_append_printf(json, "\"%s\":", key);
                mp_str(pk, key);
                if (g_rand_int_range(rnd, 0, 8) == 0) {
                        g_string_append(json, "null");
                        msgpack_pack_nil(pk);
                } else {
                        gen_value(rnd, depth + 1, json, pk);
                }
        }
        g_string_append_c(json, '}');
}

static void gen_value(GRand *rnd, unsigned depth, GString *json, msgpack_packer *pk)
{
        int kind = g_rand_int_range(rnd, 0, depth >= 6 ? 5 : 7);

        switch (kind) {
        case 0: {
                gint64 v = (gint64) (((guint64) g_rand_int(rnd) << 32) | g_rand_int(rnd));
                if (g_rand_boolean(rnd))
                        v >>= g_rand_int_range(rnd, 0, 63);
                g_string_append_printf(json, "%" G_GINT64_FORMAT, v);
                msgpack_pack_int64(pk, v);
                break;
        }
        case 1: {
                guint64 v = ((guint64) g_rand_int(rnd) << 32) | g_rand_int(rnd) | (1ULL << 63);
                g_string_append_printf(json, "%" G_GUINT64_FORMAT, v);
                msgpack_pack_uint64(pk, v);
                break;
        }
        case 2: {
                char buf[G_ASCII_DTOSTR_BUF_SIZE];
                double d = (g_rand_double(rnd) - 0.5) * pow(10, g_rand_int_range(rnd, -30, 30));
                g_ascii_formatd(buf, sizeof buf, "%.17g", d);
                g_string_append(json, buf);
                if (!strpbrk(buf, ".eE"))
                        g_string_append(json, ".0");
                msgpack_pack_double(pk, d);
                break;
        }
        case 3:
                if (g_rand_boolean(rnd)) {
                        g_string_append(json, "true");
                        msgpack_pack_true(pk);
                } else {
                        g_string_append(json, "false");
                        msgpack_pack_false(pk);
                }
                break;
        case 4:
                gen_string(rnd, json, pk);
                break;
        case 5: {
                unsigned n = (unsigned) g_rand_int_range(rnd, 0, 5);
                g_string_append_c(json, '[');
                msgpack_pack_array(pk, n);
                for (unsigned i = 0; i < n; i++) {
                        if (i)
                                g_string_append_c(json, ',');
                        gen_value(rnd, depth + 1, json, pk);
                }
                g_string_append_c(json, ']');
                break;
        }
        default:
                gen_object(rnd, depth, json, pk);
                break;
        }
}

static void mutate(GRand *rnd, GString *s)
{
        if (s->len == 0)
                return;
        switch (g_rand_int_range(rnd, 0, 5)) {
        case 0: /* flip a bit */
                s->str[g_rand_int_range(rnd, 0, (gint32) s->len)] ^=
                        (char) (1 << g_rand_int_range(rnd, 0, 8));
                break;
        case 1: /* truncate */
                g_string_truncate(s, (gsize) g_rand_int_range(rnd, 0, (gint32) s->len));
                break;
        case 2: /* insert a random byte */
                g_string_insert_c(s, g_rand_int_range(rnd, 0, (gint32) s->len + 1),
                                  (char) g_rand_int_range(rnd, 0, 256));
                break;
        case 3: /* overwrite with an interesting byte */
                s->str[g_rand_int_range(rnd, 0, (gint32) s->len)] = (char) "\x00\"\\{}[]:,\xc1\xdd\xff\x7f"
                        [g_rand_int_range(rnd, 0, 14)];
                break;
        default: /* delete a byte */
                g_string_erase(s, g_rand_int_range(rnd, 0, (gint32) s->len), 1);
                break;
        }
}

static void test_random_documents_decode_or_are_rejected(void)
{
        const char *env = g_getenv("INGESTER_SEED");
        guint32 seed = env ? (guint32) g_ascii_strtoull(env, NULL, 10) : 20261121;
        g_autoptr(GRand) rnd = g_rand_new_with_seed(seed);
        unsigned accepted = 0, rejected = 0, iterations = 4000;

        printf("# seed %u (set INGESTER_SEED to replay)\n", seed);
        for (unsigned it = 0; it < iterations; it++) {
                g_autoptr(GString) json = g_string_new(NULL);
                g_autoptr(GString) mp = NULL;
                CodecEvent ej = { 0 }, em = { 0 };
                CodecReason rj, rm;
                MpBuf b;

                mpbuf_init(&b);
                gen_object(rnd, 0, json, &b.pk);
                mp = g_string_new_len(b.sbuf.data, (gssize) b.sbuf.size);
                mpbuf_clear(&b);

                /* a generated document is valid: both encodings decode, alike */
                rj = decode(json->str, json->len, &ej);
                rm = decode(mp->str, mp->len, &em);
                if (rj != CODEC_OK || rm != CODEC_OK)
                        printf("# iteration %u: json %s, msgpack %s: %s\n", it,
                               codec_reason_name(rj), codec_reason_name(rm), json->str);
                CU_ASSERT_EQUAL(rj, CODEC_OK);
                CU_ASSERT_EQUAL(rm, CODEC_OK);
                if (ej.data && em.data && !g_variant_equal(ej.data, em.data)) {
                        printf("# iteration %u: json and msgpack differ: %s\n", it, json->str);
                        CU_FAIL("json and msgpack decode differently");
                }
                codec_event_clear(&ej);
                codec_event_clear(&em);

                /* a mutated one decodes (normal form, bus-safe: checked in decode()) or is
                 * rejected with a named reason */
                for (int m = 0; m < 3; m++) {
                        GString *s = m == 2 ? mp : json;
                        CodecReason r;
                        mutate(rnd, s);
                        r = decode(s->str, s->len, NULL);
                        CU_ASSERT_PTR_NOT_NULL(codec_reason_name(r));
                        if (r == CODEC_OK)
                                accepted++;
                        else
                                rejected++;
                }
        }
        printf("# %u mutated documents accepted, %u rejected\n", accepted, rejected);
        CU_ASSERT_TRUE(rejected > 0 && accepted > 0);
}

int main(void)
{
        static const TapTest json_tests[] = {
                TAP_TEST(json_object_maps_to_vardict),
                TAP_TEST(json_missing_type_gives_empty_type),
                TAP_TEST(json_null_member_is_left_out),
                TAP_TEST(json_null_in_array_is_rejected),
                TAP_TEST(json_integer_range_boundaries),
                TAP_TEST(json_fraction_or_exponent_is_double),
                TAP_TEST(json_float_overflow_is_not_finite),
                TAP_TEST(json_non_rfc_syntax_is_rejected),
                TAP_TEST(json_raw_control_character_in_string_is_rejected),
                TAP_TEST(json_whitespace_around_object_is_accepted),
                TAP_TEST(json_trailing_data_is_rejected),
                TAP_TEST(json_truncated_document_is_rejected),
                TAP_TEST(json_nul_escape_is_rejected),
                TAP_TEST(json_lone_surrogate_is_rejected),
                TAP_TEST(json_supplementary_escapes_are_decoded_exactly),
                TAP_TEST(json_invalid_utf8_is_rejected),
                TAP_TEST(json_depth_limit_boundary),
                TAP_TEST(depth_ceiling_fits_the_bus),
                TAP_TEST(json_member_limit_boundary),
                TAP_TEST(json_string_limit_counts_decoded_bytes),
                TAP_TEST(json_duplicate_keys_last_wins),
                TAP_TEST(type_member_must_be_a_string),
                TAP_TEST(encoding_detection),
                TAP_TEST(pinned_codec),
                { NULL, NULL },
        };
        static const TapTest msgpack_tests[] = {
                TAP_TEST(msgpack_map_maps_to_vardict),
                TAP_TEST(msgpack_and_json_decode_alike),
                TAP_TEST(msgpack_ext_is_rejected),
                TAP_TEST(msgpack_non_string_key_is_rejected),
                TAP_TEST(msgpack_truncated_is_rejected),
                TAP_TEST(msgpack_huge_counts_are_refused_before_allocation),
                TAP_TEST(msgpack_reserved_byte_is_rejected),
                TAP_TEST(msgpack_trailing_data_is_rejected),
                TAP_TEST(msgpack_depth_limit_boundary),
                TAP_TEST(msgpack_bin_at_depth_ceiling_fits_the_bus),
                TAP_TEST(msgpack_member_limit_boundary),
                TAP_TEST(msgpack_string_and_bin_limit_boundary),
                TAP_TEST(msgpack_invalid_strings_are_rejected),
                TAP_TEST(msgpack_non_finite_floats_are_rejected),
                TAP_TEST(msgpack_nulls),
                TAP_TEST(msgpack_duplicate_keys_last_wins),
                { NULL, NULL },
        };
        static const TapTest api_tests[] = {
                TAP_TEST(limits_check),
                TAP_TEST(strings_checked_at_every_offset),
                TAP_TEST(writer_is_reused_cleanly),
                TAP_TEST(reason_names_are_unique_and_round_trip),
                TAP_TEST(hostile_corpus),
                TAP_TEST(random_documents_decode_or_are_rejected),
                { NULL, NULL },
        };

        tap_add_suite_full("codec-json", NULL, NULL, reset_limits, NULL, json_tests);
        tap_add_suite_full("codec-msgpack", NULL, NULL, reset_limits, NULL, msgpack_tests);
        tap_add_suite_full("codec", NULL, NULL, reset_limits, NULL, api_tests);
        return tap_run();
}

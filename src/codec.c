/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * codec.c — what both decoders share: the reasons' names, the limits, the
 * string check and finishing an event. The decoders (codec-json.c,
 * codec-msgpack.c) build on it; codec-detect.c, above them, picks one.
 */
#include <string.h>

#include "codec-internal.h"
#include "vwriter.h"

static const char *const reason_names[_CODEC_REASON_MAX] = {
        [CODEC_OK] = "ok",
        [CODEC_E_EMPTY] = "empty",
        [CODEC_E_UNKNOWN_ENCODING] = "unknown-encoding",
        [CODEC_E_ENCODING_NOT_ALLOWED] = "encoding-not-allowed",
        [CODEC_E_NOT_OBJECT] = "not-object",
        [CODEC_E_SYNTAX] = "syntax",
        [CODEC_E_TRUNCATED] = "truncated",
        [CODEC_E_TRAILING_DATA] = "trailing-data",
        [CODEC_E_TOO_DEEP] = "too-deep",
        [CODEC_E_TOO_MANY_MEMBERS] = "too-many-members",
        [CODEC_E_STRING_TOO_LONG] = "string-too-long",
        [CODEC_E_INVALID_UTF8] = "invalid-utf8",
        [CODEC_E_NUL_IN_STRING] = "nul-in-string",
        [CODEC_E_KEY_NOT_STRING] = "key-not-string",
        [CODEC_E_INTEGER_OUT_OF_RANGE] = "integer-out-of-range",
        [CODEC_E_NUMBER_NOT_FINITE] = "number-not-finite",
        [CODEC_E_UNSUPPORTED_TYPE] = "unsupported-type",
        [CODEC_E_TYPE_NOT_STRING] = "type-not-string",
        [CODEC_E_NULL_IN_ARRAY] = "null-in-array",
        [CODEC_E_TOO_LARGE] = "too-large",
};

const char *codec_reason_name(CodecReason r)
{
        if ((unsigned) r >= _CODEC_REASON_MAX)
                return NULL;
        return reason_names[r];
}

CodecReason codec_reason_from_name(const char *name)
{
        for (unsigned i = 0; i < _CODEC_REASON_MAX; i++)
                if (strcmp(reason_names[i], name) == 0)
                        return (CodecReason) i;
        return _CODEC_REASON_MAX;
}

const char *codec_format_name(CodecFormat f)
{
        switch (f) {
        case CODEC_FORMAT_JSON:
                return "json";
        case CODEC_FORMAT_MSGPACK:
                return "msgpack";
        case CODEC_FORMAT_AUTO:
                return "auto";
        }
        return NULL;
}

const char *codec_limits_check(const CodecLimits *limits)
{
        if (limits->max_depth < 1 || limits->max_depth > CODEC_DEPTH_CEILING)
                return "max-depth must be between 1 and 20 (the bus's nesting ceiling)";
        if (limits->max_members < 1)
                return "max-members must be at least 1";
        if (limits->max_string < 1 || limits->max_string > CODEC_MAX_STRING_CEILING)
                return "max-string must be between 1 and 16777216";
        return NULL;
}

void codec_event_clear(CodecEvent *ev)
{
        g_clear_pointer(&ev->type, g_variant_unref);
        g_clear_pointer(&ev->data, g_variant_unref);
        ev->format = CODEC_FORMAT_AUTO;
}

/*
 * The length of the leading run of bytes 0x01-0x7f: plain ASCII, valid as
 * it is. Keys and most values are ASCII, and this is cheaper than
 * g_utf8_validate_len()'s byte-by-byte decoding; it reads 8 bytes at a time.
 */
static size_t ascii_prefix(const char *s, size_t len)
{
        const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
        size_t i = 0;

        for (; len - i >= 8; i += 8) {
                uint64_t v;
                memcpy(&v, s + i, 8);
                /* any byte with its high bit set, or any zero byte (Mycroft's test) */
                if ((v | ((v - ones) & ~v)) & highs)
                        break;
        }
        while (i < len && (unsigned char) s[i] - 1u < 0x7fu)
                i++;
        return i;
}

CodecReason codec_check_string(const CodecLimits *limits, const char *s, size_t len)
{
        const char *end;
        size_t ascii;

        if (len > limits->max_string)
                return CODEC_E_STRING_TOO_LONG;
        ascii = ascii_prefix(s, len);
        if (ascii == len)
                return CODEC_OK;
        s += ascii;
        len -= ascii;
        /* g_utf8_validate_len() stops at a NUL byte, which it treats as invalid */
        if (!g_utf8_validate_len(s, len, &end))
                return *end == '\0' ? CODEC_E_NUL_IN_STRING : CODEC_E_INVALID_UTF8;
        return CODEC_OK;
}

void codec_event_take(CodecEvent *ret, CodecFormat format, VWriter *w, const char *type,
                      size_t type_len)
{
        ret->format = format;
        ret->data = vwriter_finish(w, G_VARIANT_TYPE_VARDICT);
        if (type) {
                g_autofree char *copy = g_strndup(type, type_len);
                ret->type = g_variant_ref_sink(g_variant_new_take_string(g_steal_pointer(&copy)));
        } else {
                ret->type = g_variant_ref_sink(g_variant_new_string(""));
        }
}

static gboolean pair_equal(gconstpointer a, gconstpointer b)
{
        const CodecPair *x = a, *y = b;

        /* an empty key's ptr may be anything: lengths first */
        return x->len == y->len && (x->len == 0 || memcmp(x->ptr, y->ptr, x->len) == 0);
}

static guint pair_hash(gconstpointer v)
{
        const CodecPair *k = v;
        guint h = 5381;

        for (size_t i = 0; i < k->len; i++)
                h = h * 33 + (unsigned char) k->ptr[i];
        return h;
}

bool codec_pair_seen(const CodecPair *pairs, size_t k, GHashTable **table)
{
        if (k < 16) {
                for (size_t j = 0; j < k; j++)
                        if (pair_equal(&pairs[j], &pairs[k]))
                                return true;
                return false;
        }
        if (!*table) {
                *table = g_hash_table_new(pair_hash, pair_equal);
                for (size_t j = 0; j < k; j++)
                        g_hash_table_add(*table, (gpointer) &pairs[j]);
        }
        if (g_hash_table_contains(*table, &pairs[k]))
                return true;
        g_hash_table_add(*table, (gpointer) &pairs[k]);
        return false;
}

void codec_pairs_winners(const CodecPair *pairs, size_t n, int64_t *winner)
{
        g_autoptr(GHashTable) first = g_hash_table_new(pair_hash, pair_equal);

        for (size_t k = 0; k < n; k++) {
                gpointer found;
                if (g_hash_table_lookup_extended(first, &pairs[k], NULL, &found)) {
                        winner[GPOINTER_TO_SIZE(found)] = (int64_t) k;
                        winner[k] = -1;
                } else {
                        g_hash_table_insert(first, (gpointer) &pairs[k], GSIZE_TO_POINTER(k));
                        winner[k] = (int64_t) k;
                }
        }
}

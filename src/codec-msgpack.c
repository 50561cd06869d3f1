/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * codec-msgpack.c — msgpack map -> a{sv}.
 *
 * A bounds pass (mp_scan) walks the bytes first, with no allocation: every
 * length and count is checked against the limits and against the bytes
 * actually left, ext types, non-string keys and the reserved byte 0xc1 are
 * refused, and what the event would cost on the bus at least is added up
 * (codec-internal.h), so an event that cannot fit is refused before
 * anything is built. Then the writer reads the proven bytes once more and
 * writes the serialised a{sv} straight into the thread's vwriter: no tree.
 * msgpack-c's unpacker built one first (a msgpack_object of 24 bytes per
 * value and its zone), which made a 2 MiB event of small integers cost the
 * daemon 110 MiB before its size was known (doc/performance.md, "Budgets").
 * msgpack-c stays the packer of the tools (ingester-send --msgpack).
 */
#include <math.h>
#include <string.h>

#include "buslimits.h"
#include "codec-internal.h"
#include "vwriter.h"

typedef struct {
        uint32_t left; /* elements (arrays) or pairs (maps) still to read */
        bool map;
        bool key_next;
        bool after_number; /* the last value read at this level was a number */
} ScanLevel;

static uint32_t read_be(const unsigned char *p, unsigned n)
{
        uint32_t v = 0;
        for (unsigned k = 0; k < n; k++)
                v = v << 8 | p[k];
        return v;
}

/* The bounds pass. On success *ret_end is one past the top-level value. */
static CodecReason mp_scan(const CodecLimits *limits, const unsigned char *p, size_t len,
                           size_t *ret_end)
{
        ScanLevel stack[CODEC_DEPTH_CEILING + 1];
        unsigned depth = 0;
        size_t i = 0, wire = 0;

        do {
                bool is_key = depth > 0 && stack[depth].map && stack[depth].key_next;
                bool is_str = false, is_container = false, is_map = false;
                size_t fixed = 0;  /* bytes of a fixed-size payload */
                unsigned lenbytes = 0; /* width of a length/count field */
                uint32_t count = 0;
                unsigned char c;

                if (i >= len)
                        return CODEC_E_TRUNCATED;
                c = p[i++];
                if (c <= 0x7f || c >= 0xe0) {
                        /* fixint */
                } else if (c <= 0x8f) {
                        is_container = is_map = true;
                        count = c & 0x0f;
                } else if (c <= 0x9f) {
                        is_container = true;
                        count = c & 0x0f;
                } else if (c <= 0xbf) {
                        is_str = true;
                        count = c & 0x1f;
                } else {
                        switch (c) {
                        case 0xc0: /* nil */
                        case 0xc2: /* false */
                        case 0xc3: /* true */
                                break;
                        case 0xc1:
                                return CODEC_E_SYNTAX; /* "never used" in the spec */
                        case 0xc4:
                        case 0xc5:
                        case 0xc6: /* bin 8/16/32 */
                                if (is_key)
                                        return CODEC_E_KEY_NOT_STRING;
                                lenbytes = 1U << (c - 0xc4);
                                break;
                        case 0xd9:
                        case 0xda:
                        case 0xdb: /* str 8/16/32 */
                                is_str = true;
                                lenbytes = 1U << (c - 0xd9);
                                break;
                        case 0xc7:
                        case 0xc8:
                        case 0xc9: /* ext 8/16/32 */
                        case 0xd4:
                        case 0xd5:
                        case 0xd6:
                        case 0xd7:
                        case 0xd8: /* fixext */
                                return is_key ? CODEC_E_KEY_NOT_STRING : CODEC_E_UNSUPPORTED_TYPE;
                        case 0xca:
                                fixed = 4;
                                break;
                        case 0xcb:
                                fixed = 8;
                                break;
                        case 0xcc:
                        case 0xcd:
                        case 0xce:
                        case 0xcf:
                                fixed = 1U << (c - 0xcc);
                                break;
                        case 0xd0:
                        case 0xd1:
                        case 0xd2:
                        case 0xd3:
                                fixed = 1U << (c - 0xd0);
                                break;
                        case 0xdc:
                        case 0xdd:
                                is_container = true;
                                lenbytes = c == 0xdc ? 2 : 4;
                                break;
                        case 0xde:
                        case 0xdf:
                                is_container = is_map = true;
                                lenbytes = c == 0xde ? 2 : 4;
                                break;
                        default:
                                g_assert_not_reached();
                        }
                }
                if (is_key && !is_str)
                        return CODEC_E_KEY_NOT_STRING;
                /* what it costs on the bus at least (codec-internal.h) */
                if (depth > 0) {
                        bool number = c <= 0x7f || c >= 0xe0 || (c >= 0xca && c <= 0xd3);
                        wire = codec_wire_add(wire, is_str        ? CODEC_WIRE_STRING
                                                    : c == 0xc0   ? CODEC_WIRE_NULL
                                                    : !number     ? CODEC_WIRE_OTHER
                                                    : stack[depth].after_number
                                                            ? CODEC_WIRE_NUMBER_AFTER_NUMBER
                                                            : CODEC_WIRE_NUMBER);
                        stack[depth].after_number = number;
                        if (wire > BUS_MAX_MESSAGE_SIZE)
                                return CODEC_E_TOO_LARGE;
                }
                if (lenbytes) {
                        if (len - i < lenbytes)
                                return CODEC_E_TRUNCATED;
                        count = read_be(p + i, lenbytes);
                        i += lenbytes;
                }
                if (is_container) {
                        /* each element needs a byte at least: a count past the end is a lie */
                        if (count > limits->max_members)
                                return CODEC_E_TOO_MANY_MEMBERS;
                        if ((uint64_t) count * (is_map ? 2 : 1) > len - i)
                                return CODEC_E_TRUNCATED;
                        if (depth + 1 > limits->max_depth)
                                return CODEC_E_TOO_DEEP;
                        if (count > 0) {
                                stack[++depth] = (ScanLevel){ .left = count,
                                                              .map = is_map,
                                                              .key_next = is_map };
                                continue;
                        }
                } else if (is_str || lenbytes) {
                        /* str or bin: count is its byte length */
                        if (count > limits->max_string)
                                return CODEC_E_STRING_TOO_LONG;
                        if (count > len - i)
                                return CODEC_E_TRUNCATED;
                        i += count;
                } else {
                        if (fixed > len - i)
                                return CODEC_E_TRUNCATED;
                        i += fixed;
                }

                /* One value completed: account it to the enclosing containers. */
                while (depth > 0) {
                        ScanLevel *l = &stack[depth];
                        if (l->map && l->key_next) {
                                l->key_next = false;
                                break;
                        }
                        l->key_next = l->map;
                        if (--l->left > 0)
                                break;
                        depth--;
                }
        } while (depth > 0);

        *ret_end = i;
        return CODEC_OK;
}

/* ---- the writer: straight from the bytes mp_scan proved whole ---- */

typedef enum {
        MP_NIL,
        MP_BOOL,
        MP_UINT,
        MP_INT, /* negative: msgpack's signed encodings of values >= 0 read as MP_UINT */
        MP_FLOAT,
        MP_STR,
        MP_BIN,
        MP_ARRAY,
        MP_MAP,
} MpKind;

typedef struct {
        MpKind kind;
        bool b;
        uint64_t u;
        int64_t i;
        double d;
        const char *ptr; /* str, bin */
        uint32_t n;      /* str/bin bytes, array elements, map pairs */
} MpItem;

static uint64_t read_be64(const unsigned char *p, unsigned n)
{
        uint64_t v = 0;
        for (unsigned k = 0; k < n; k++)
                v = v << 8 | p[k];
        return v;
}

/* The item at p[*i]; *i moves past its header, and past a str's or bin's bytes. */
static void mp_item(const unsigned char *p, size_t *i, MpItem *it)
{
        unsigned char c = p[(*i)++];
        unsigned w;

        *it = (MpItem){ 0 };
        if (c <= 0x7f) {
                it->kind = MP_UINT;
                it->u = c;
                return;
        }
        if (c >= 0xe0) {
                it->kind = MP_INT;
                it->i = (int8_t) c;
                return;
        }
        if (c <= 0x8f || (c >= 0x90 && c <= 0x9f)) {
                it->kind = c <= 0x8f ? MP_MAP : MP_ARRAY;
                it->n = c & 0x0f;
                return;
        }
        if (c <= 0xbf) {
                it->kind = MP_STR;
                it->n = c & 0x1f;
                goto bytes;
        }
        switch (c) {
        case 0xc0:
                it->kind = MP_NIL;
                return;
        case 0xc2:
        case 0xc3:
                it->kind = MP_BOOL;
                it->b = c == 0xc3;
                return;
        case 0xc4:
        case 0xc5:
        case 0xc6:
                it->kind = MP_BIN;
                w = 1U << (c - 0xc4);
                it->n = (uint32_t) read_be64(p + *i, w);
                *i += w;
                goto bytes;
        case 0xd9:
        case 0xda:
        case 0xdb:
                it->kind = MP_STR;
                w = 1U << (c - 0xd9);
                it->n = (uint32_t) read_be64(p + *i, w);
                *i += w;
                goto bytes;
        case 0xca: {
                uint32_t bits = (uint32_t) read_be64(p + *i, 4);
                float f;
                memcpy(&f, &bits, sizeof(f));
                it->kind = MP_FLOAT;
                it->d = f;
                *i += 4;
                return;
        }
        case 0xcb: {
                uint64_t bits = read_be64(p + *i, 8);
                it->kind = MP_FLOAT;
                memcpy(&it->d, &bits, sizeof(it->d));
                *i += 8;
                return;
        }
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
                w = 1U << (c - 0xcc);
                it->kind = MP_UINT;
                it->u = read_be64(p + *i, w);
                *i += w;
                return;
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3: {
                uint64_t raw;
                w = 1U << (c - 0xd0);
                raw = read_be64(p + *i, w);
                *i += w;
                /* sign-extend from w bytes */
                if (w < 8 && (raw >> (w * 8 - 1)) & 1)
                        raw |= ~UINT64_C(0) << (w * 8);
                it->i = (int64_t) raw;
                if (it->i >= 0) {
                        it->kind = MP_UINT;
                        it->u = (uint64_t) it->i;
                } else {
                        it->kind = MP_INT;
                }
                return;
        }
        case 0xdc:
        case 0xdd:
                w = c == 0xdc ? 2 : 4;
                it->kind = MP_ARRAY;
                it->n = (uint32_t) read_be64(p + *i, w);
                *i += w;
                return;
        case 0xde:
        case 0xdf:
                w = c == 0xde ? 2 : 4;
                it->kind = MP_MAP;
                it->n = (uint32_t) read_be64(p + *i, w);
                *i += w;
                return;
        default:
                g_assert_not_reached(); /* mp_scan refused ext and 0xc1 */
        }
bytes:
        it->ptr = (const char *) p + *i;
        *i += it->n;
}

/* Moves *i past the whole value there. */
static void mp_skip(const unsigned char *p, size_t *i)
{
        uint64_t left = 1;

        while (left > 0) {
                MpItem it;
                mp_item(p, i, &it);
                left--;
                if (it.kind == MP_ARRAY)
                        left += it.n;
                else if (it.kind == MP_MAP)
                        left += 2 * (uint64_t) it.n;
        }
}

static CodecReason mp_write_item(const CodecLimits *limits, VWriter *w, const unsigned char *p,
                                 size_t *i, const MpItem *it, const char **ret_signature);

/* One member, its value at p[*at] (*at moves past it): left out when null;
 * "type" at the top. */
static CodecReason mp_write_member(const CodecLimits *limits, VWriter *w, const VFrame *array,
                                   const unsigned char *p, const CodecPair *key, size_t *at,
                                   bool top, const char **ret_type, size_t *ret_type_len)
{
        const char *signature;
        VMember member;
        MpItem v;
        CodecReason r;

        mp_item(p, at, &v);
        if (v.kind == MP_NIL)
                return CODEC_OK; /* a null member is left out (D-Bus has no null) */
        if (top && key->len == 4 && memcmp(key->ptr, "type", 4) == 0) {
                if (v.kind != MP_STR)
                        return CODEC_E_TYPE_NOT_STRING;
                *ret_type = v.ptr;
                *ret_type_len = v.n;
        }
        vwriter_member_begin(w, &member, key->ptr, key->len);
        r = mp_write_item(limits, w, p, at, &v, &signature);
        if (r != CODEC_OK)
                return r;
        vwriter_member_end(w, array, &member, signature);
        return CODEC_OK;
}

/*
 * A map of n pairs at p[*i] as a{sv}. Duplicate keys decode as json-c
 * decodes JSON: the member sits where its key first appears and holds the
 * last value (a last null removes it). Written in one pass while no key
 * repeats; at the first repeat what was written of the map is taken back
 * and it is written again from all its pairs, each key with its last value.
 */
static CodecReason mp_write_map(const CodecLimits *limits, VWriter *w, const unsigned char *p,
                                size_t *i, uint32_t n, bool top, const char **ret_type,
                                size_t *ret_type_len)
{
        CodecPair stackbuf[16];
        g_autofree CodecPair *heap = NULL;
        g_autoptr(GHashTable) table = NULL;
        CodecPair *pairs = n <= G_N_ELEMENTS(stackbuf) ? stackbuf : (heap = g_new(CodecPair, n));
        size_t mark_len = w->len, mark_offsets = w->n_offsets, start = *i;
        VFrame array;
        CodecReason r;
        uint32_t k;

        vwriter_array_begin(w, &array);
        for (k = 0; k < n; k++) {
                MpItem key;

                mp_item(p, i, &key); /* a str (mp_scan) */
                r = codec_check_string(limits, key.ptr, key.n);
                if (r != CODEC_OK)
                        return r;
                pairs[k] = (CodecPair){ key.ptr, key.n, *i, NULL };
                if (codec_pair_seen(pairs, k, &table))
                        break;
                r = mp_write_member(limits, w, &array, p, &pairs[k], i, top, ret_type,
                                    ret_type_len);
                if (r != CODEC_OK) {
                        *i = pairs[k].value;
                        mp_skip(p, i);
                        /* unless a later pair repeats a key (its value may replace this
                         * one), this is the map's verdict */
                        CodecReason bad = r;
                        while (++k < n) {
                                mp_item(p, i, &key);
                                r = codec_check_string(limits, key.ptr, key.n);
                                if (r != CODEC_OK)
                                        return bad;
                                pairs[k] = (CodecPair){ key.ptr, key.n, *i, NULL };
                                mp_skip(p, i);
                                if (codec_pair_seen(pairs, k, &table))
                                        break;
                        }
                        if (k == n)
                                return bad;
                        break;
                }
        }
        if (k < n) {
                /* a repeated key: every pair first, then each key once */
                g_autofree int64_t *winner = g_new(int64_t, n);

                w->len = mark_len;
                w->n_offsets = mark_offsets;
                *i = start;
                vwriter_array_begin(w, &array);
                for (k = 0; k < n; k++) {
                        MpItem key;

                        mp_item(p, i, &key);
                        r = codec_check_string(limits, key.ptr, key.n);
                        if (r != CODEC_OK)
                                return r;
                        pairs[k] = (CodecPair){ key.ptr, key.n, *i, NULL };
                        mp_skip(p, i);
                }
                codec_pairs_winners(pairs, n, winner);
                for (k = 0; k < n; k++) {
                        size_t at;
                        if (winner[k] < 0)
                                continue;
                        at = pairs[winner[k]].value;
                        r = mp_write_member(limits, w, &array, p, &pairs[k], &at, top, ret_type,
                                            ret_type_len);
                        if (r != CODEC_OK)
                                return r;
                }
        }
        vwriter_array_end(w, &array);
        return CODEC_OK;
}

static CodecReason mp_write_array(const CodecLimits *limits, VWriter *w, const unsigned char *p,
                                  size_t *i, uint32_t n)
{
        VFrame array;

        vwriter_array_begin(w, &array);
        for (uint32_t k = 0; k < n; k++) {
                const char *signature;
                MpItem it;
                CodecReason r;

                mp_item(p, i, &it);
                if (it.kind == MP_NIL)
                        return CODEC_E_NULL_IN_ARRAY;
                vwriter_element_begin(w);
                r = mp_write_item(limits, w, p, i, &it, &signature);
                if (r != CODEC_OK)
                        return r;
                vwriter_element_end(w, &array, signature);
        }
        vwriter_array_end(w, &array);
        return CODEC_OK;
}

/* The item `it` read at p (*i is past its header) as its GVariant value. */
static CodecReason mp_write_item(const CodecLimits *limits, VWriter *w, const unsigned char *p,
                                 size_t *i, const MpItem *pit, const char **ret_signature)
{
        MpItem it = *pit;
        CodecReason r;

        switch (it.kind) {
        case MP_MAP:
                *ret_signature = "a{sv}";
                return mp_write_map(limits, w, p, i, it.n, false, NULL, NULL);
        case MP_ARRAY:
                *ret_signature = "av";
                return mp_write_array(limits, w, p, i, it.n);
        case MP_BOOL:
                *ret_signature = "b";
                vwriter_boolean(w, it.b);
                return CODEC_OK;
        case MP_UINT:
                if (it.u > (uint64_t) INT64_MAX) {
                        *ret_signature = "t";
                        vwriter_uint64(w, it.u);
                } else {
                        *ret_signature = "x";
                        vwriter_int64(w, (int64_t) it.u);
                }
                return CODEC_OK;
        case MP_INT:
                *ret_signature = "x";
                vwriter_int64(w, it.i);
                return CODEC_OK;
        case MP_FLOAT:
                if (!isfinite(it.d))
                        return CODEC_E_NUMBER_NOT_FINITE;
                *ret_signature = "d";
                vwriter_double(w, it.d);
                return CODEC_OK;
        case MP_STR:
                r = codec_check_string(limits, it.ptr, it.n);
                if (r != CODEC_OK)
                        return r;
                *ret_signature = "s";
                vwriter_string(w, it.ptr, it.n);
                return CODEC_OK;
        case MP_BIN:
                *ret_signature = "ay";
                vwriter_bytes(w, it.ptr, it.n);
                return CODEC_OK;
        case MP_NIL:
                break;
        }
        g_assert_not_reached(); /* nil is handled by the container */
}

CodecReason codec_decode_msgpack(const CodecLimits *limits, const char *buf, size_t len,
                                 CodecEvent *ret)
{
        const unsigned char *p = (const unsigned char *) buf;
        const char *type = NULL;
        size_t end = 0, i = 0, type_len = 0;
        MpItem root;
        CodecReason r;
        VWriter *w;

        r = mp_scan(limits, p, len, &end);
        if (r != CODEC_OK)
                return r;
        if (end != len)
                return CODEC_E_TRAILING_DATA;
        if (!(p[0] >= 0x80 && p[0] <= 0x8f) && p[0] != 0xde && p[0] != 0xdf)
                return CODEC_E_NOT_OBJECT;

        mp_item(p, &i, &root);
        w = vwriter_acquire();
        r = mp_write_map(limits, w, p, &i, root.n, true, &type, &type_len);
        if (r == CODEC_OK)
                codec_event_take(ret, CODEC_FORMAT_MSGPACK, w, type, type_len);
        else
                vwriter_reset(w);
        return r;
}

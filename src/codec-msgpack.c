/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * codec-msgpack.c — msgpack map -> a{sv}.
 *
 * msgpack-c allocates from the headers it reads: an array32 header claiming
 * 2^32-1 elements makes it ask for n * sizeof(msgpack_object) (about 100 GB)
 * before it notices that the 5-byte packet holds none of them, and a few
 * nested array16 headers in a 100-byte packet cost megabytes. So a bounds
 * pass (mp_scan) walks the bytes first, with no allocation: every length and
 * count is checked against the limits and against the bytes actually left,
 * ext types, non-string keys and the reserved byte 0xc1 are refused. Only
 * then does msgpack-c build its tree, whose size is now bounded by the
 * packet's (each element costs at least one byte of input), and the tree is
 * converted to GVariant.
 *
 * The tree is built with msgpack_unpack() into one zone per thread, cleared
 * after each packet (which keeps its first chunk). msgpack_unpack_next()
 * frees and allocates an 8 KiB zone on every call; in the daemon those
 * large allocations also made glibc consolidate its free lists each time.
 * msgpack-c calls msgpack_unpack() obsolete, but it is exported from 0.5 to
 * 6.x and does exactly this.
 */
#include <math.h>
#include <msgpack.h>
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

static CodecReason mp_write_value(const CodecLimits *limits, VWriter *w, const msgpack_object *o,
                                  const char **ret_signature);

/* msgpack-c leaves ptr NULL for an empty string, and memcmp(NULL, ..., 0) is
 * undefined (found by fuzz-listener: a map with two empty keys). */
static bool key_equal(const msgpack_object *a, const msgpack_object *b)
{
        return a->via.str.size == b->via.str.size &&
               (a->via.str.size == 0 || memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0);
}

static guint key_hash(gconstpointer p)
{
        const msgpack_object *k = p;
        guint h = 5381;
        for (uint32_t i = 0; i < k->via.str.size; i++)
                h = h * 33 + (unsigned char) k->via.str.ptr[i];
        return h;
}

static gboolean key_equal_func(gconstpointer a, gconstpointer b)
{
        return key_equal(a, b);
}

/*
 * For each pair, the index of the last pair with the same key, or -1 when an
 * earlier pair has the same key (that earlier pair is the one written).
 * Duplicate keys thus decode exactly as json-c decodes JSON: the member sits
 * where its key first appears and holds the last value (a last null removes it).
 */
static void map_resolve_duplicates(const msgpack_object_map *m, int64_t *winner)
{
        if (m->size <= 16) {
                for (uint32_t i = 0; i < m->size; i++) {
                        winner[i] = i;
                        for (uint32_t j = 0; j < i; j++)
                                if (winner[j] >= 0 && key_equal(&m->ptr[i].key, &m->ptr[j].key)) {
                                        winner[j] = i;
                                        winner[i] = -1;
                                        break;
                                }
                }
                return;
        }

        g_autoptr(GHashTable) first = g_hash_table_new(key_hash, key_equal_func);
        for (uint32_t i = 0; i < m->size; i++) {
                gpointer found;
                if (g_hash_table_lookup_extended(first, &m->ptr[i].key, NULL, &found)) {
                        winner[GPOINTER_TO_UINT(found)] = i;
                        winner[i] = -1;
                } else {
                        g_hash_table_insert(first, (gpointer) &m->ptr[i].key, GUINT_TO_POINTER(i));
                        winner[i] = i;
                }
        }
}

static CodecReason mp_write_map(const CodecLimits *limits, VWriter *w, const msgpack_object *o,
                                bool top, const char **ret_type, size_t *ret_type_len)
{
        const msgpack_object_map *m = &o->via.map;
        int64_t stackbuf[32];
        g_autofree int64_t *heap = NULL;
        int64_t *winner = stackbuf;
        VFrame array;

        if (m->size > G_N_ELEMENTS(stackbuf))
                winner = heap = g_new(int64_t, m->size);
        map_resolve_duplicates(m, winner);

        vwriter_array_begin(w, &array);
        for (uint32_t i = 0; i < m->size; i++) {
                const msgpack_object *k = &m->ptr[i].key, *v;
                const char *signature;
                VMember member;
                CodecReason r;

                g_assert(k->type == MSGPACK_OBJECT_STR); /* mp_scan */
                r = codec_check_string(limits, k->via.str.ptr, k->via.str.size);
                if (r != CODEC_OK)
                        return r;
                if (winner[i] < 0)
                        continue;
                v = &m->ptr[winner[i]].val;
                if (v->type == MSGPACK_OBJECT_NIL)
                        continue; /* a null member is left out (D-Bus has no null) */
                if (top && k->via.str.size == 4 && memcmp(k->via.str.ptr, "type", 4) == 0) {
                        if (v->type != MSGPACK_OBJECT_STR)
                                return CODEC_E_TYPE_NOT_STRING;
                        *ret_type = v->via.str.ptr;
                        *ret_type_len = v->via.str.size;
                }
                vwriter_member_begin(w, &member, k->via.str.ptr, k->via.str.size);
                r = mp_write_value(limits, w, v, &signature);
                if (r != CODEC_OK)
                        return r;
                vwriter_member_end(w, &array, &member, signature);
        }
        vwriter_array_end(w, &array);
        return CODEC_OK;
}

static CodecReason mp_write_array(const CodecLimits *limits, VWriter *w, const msgpack_object *o)
{
        const msgpack_object_array *a = &o->via.array;
        VFrame array;

        vwriter_array_begin(w, &array);
        for (uint32_t i = 0; i < a->size; i++) {
                const char *signature;
                CodecReason r;

                if (a->ptr[i].type == MSGPACK_OBJECT_NIL)
                        return CODEC_E_NULL_IN_ARRAY;
                vwriter_element_begin(w);
                r = mp_write_value(limits, w, &a->ptr[i], &signature);
                if (r != CODEC_OK)
                        return r;
                vwriter_element_end(w, &array, signature);
        }
        vwriter_array_end(w, &array);
        return CODEC_OK;
}

static CodecReason mp_write_value(const CodecLimits *limits, VWriter *w, const msgpack_object *o,
                                  const char **ret_signature)
{
        CodecReason r;

        switch (o->type) {
        case MSGPACK_OBJECT_MAP:
                *ret_signature = "a{sv}";
                return mp_write_map(limits, w, o, false, NULL, NULL);
        case MSGPACK_OBJECT_ARRAY:
                *ret_signature = "av";
                return mp_write_array(limits, w, o);
        case MSGPACK_OBJECT_BOOLEAN:
                *ret_signature = "b";
                vwriter_boolean(w, o->via.boolean);
                return CODEC_OK;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
                if (o->via.u64 > (uint64_t) INT64_MAX) {
                        *ret_signature = "t";
                        vwriter_uint64(w, o->via.u64);
                } else {
                        *ret_signature = "x";
                        vwriter_int64(w, (int64_t) o->via.u64);
                }
                return CODEC_OK;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
                *ret_signature = "x";
                vwriter_int64(w, o->via.i64);
                return CODEC_OK;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
                if (!isfinite(o->via.f64))
                        return CODEC_E_NUMBER_NOT_FINITE;
                *ret_signature = "d";
                vwriter_double(w, o->via.f64);
                return CODEC_OK;
        case MSGPACK_OBJECT_STR:
                r = codec_check_string(limits, o->via.str.ptr, o->via.str.size);
                if (r != CODEC_OK)
                        return r;
                *ret_signature = "s";
                vwriter_string(w, o->via.str.ptr, o->via.str.size);
                return CODEC_OK;
        case MSGPACK_OBJECT_BIN:
                *ret_signature = "ay";
                vwriter_bytes(w, o->via.bin.ptr, o->via.bin.size);
                return CODEC_OK;
        case MSGPACK_OBJECT_NIL:
        case MSGPACK_OBJECT_EXT:
                break;
        }
        g_assert_not_reached(); /* nil is handled by the container, ext by mp_scan */
}

static GPrivate zone_key = G_PRIVATE_INIT((GDestroyNotify) msgpack_zone_free);

static msgpack_zone *zone_get(void)
{
        msgpack_zone *zone = g_private_get(&zone_key);

        if (!zone) {
                zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
                if (!zone)
                        g_error("msgpack_zone_new: out of memory");
                g_private_set(&zone_key, zone);
        }
        return zone;
}

CodecReason codec_decode_msgpack(const CodecLimits *limits, const char *buf, size_t len,
                                 CodecEvent *ret)
{
        msgpack_zone *zone;
        msgpack_object root;
        const char *type = NULL;
        size_t end = 0, off = 0, type_len = 0;
        msgpack_unpack_return ur;
        CodecReason r;
        VWriter *w;

        r = mp_scan(limits, (const unsigned char *) buf, len, &end);
        if (r != CODEC_OK)
                return r;
        if (end != len)
                return CODEC_E_TRAILING_DATA;
        if (!((unsigned char) buf[0] >= 0x80 && (unsigned char) buf[0] <= 0x8f) &&
            (unsigned char) buf[0] != 0xde && (unsigned char) buf[0] != 0xdf)
                return CODEC_E_NOT_OBJECT;

        zone = zone_get();
        ur = msgpack_unpack(buf, end, &off, zone, &root);
        if (ur != MSGPACK_UNPACK_SUCCESS)
                /* mp_scan accepted it: only memory can fail here */
                g_error("msgpack_unpack: unexpected result %d", (int) ur);

        w = vwriter_acquire();
        r = mp_write_map(limits, w, &root, true, &type, &type_len);
        if (r == CODEC_OK)
                codec_event_take(ret, CODEC_FORMAT_MSGPACK, w, type, type_len);
        else
                vwriter_reset(w);
        msgpack_zone_clear(zone);
        return r;
}

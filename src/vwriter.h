/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vwriter.h — writes GVariant's serialised form directly, for the handful
 * of types the codec produces: a{sv}, av, {sv}, v, s, x, t, d, b, ay.
 *
 * Building a decoded event as a tree of GVariants costs one allocation,
 * one reference count and a locked type-info lookup per node; for a small
 * event that is most of the decoding time. The writer appends to one buffer
 * and the result becomes a single trusted GVariant (vwriter_finish()).
 *
 * Format (GVariant specification, "Serialisation"): values are aligned to
 * their type's alignment (8 for x, t, d, v and anything containing a v),
 * padding is zero; a container of variable-sized items ends with a table
 * of little-endian framing offsets (the end of each item), whose width (1,
 * 2, 4 or 8 bytes) is the smallest that can address the whole container;
 * a struct stores offsets only for non-last variable members; a variant is
 * its child, a zero byte, and the child's type string. Containers start at
 * multiples of their alignment, so offsets in the buffer align as the
 * specification requires. Byte order is the host's, as for any GVariant
 * built in memory; framing offsets are little-endian.
 *
 * The per-value steps are inline: a member of an a{sv} is a handful of
 * padding bytes, a key, a value, a type string and two framing offsets, and
 * calling out (and into memcpy/memset for 1-8 bytes) for each of them cost
 * more than the writing itself.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct VWriter {
        char *buf;
        size_t len, cap;
        size_t *offsets; /* framing offsets of the open containers, as a stack */
        size_t n_offsets, cap_offsets;
} VWriter;

typedef struct {
        size_t start;
        size_t base; /* index into the offsets stack */
} VFrame;

/*
 * The calling thread's writer, empty. Its buffers are kept from one value to
 * the next, so writing a value allocates nothing once they have grown to
 * size; buffers grown past VWRITER_KEEP bytes are given back at
 * vwriter_finish()/vwriter_reset(). One value at a time per thread: finish
 * or reset it before acquiring again.
 */
#define VWRITER_KEEP (64u * 1024u)
VWriter *vwriter_acquire(void);
/* Discards what was written (an error path). */
void vwriter_reset(VWriter *w);
/*
 * Copies what was written into a trusted GVariant of the given type (one
 * allocation of the exact size) and empties the writer. The type's GLib
 * type-info is kept alive for the life of the thread, see vwriter.c.
 */
GVariant *vwriter_finish(VWriter *w, const GVariantType *type);

/* out of line: growing the buffers, and a container's offset table */
void vwriter_grow(VWriter *w, size_t n);
void vwriter_grow_offsets(VWriter *w);
void vwriter_array_end(VWriter *w, const VFrame *f);

/* gvariant-serialiser.c: the smallest offset width that addresses the container */
static inline unsigned vwriter_offset_size(size_t body, size_t n)
{
        if (body + n <= G_MAXUINT8)
                return 1;
        if (body + 2 * n <= G_MAXUINT16)
                return 2;
        if (body + 4 * n <= G_MAXUINT32)
                return 4;
        return 8;
}

static inline char *vwriter_reserve(VWriter *w, size_t n)
{
        if (G_UNLIKELY(w->cap - w->len < n))
                vwriter_grow(w, n);
        return w->buf + w->len;
}

static inline void vwriter_align(VWriter *w, size_t a)
{
        size_t pad = (a - (w->len & (a - 1))) & (a - 1);
        char *p = vwriter_reserve(w, pad);

        for (size_t i = 0; i < pad; i++)
                p[i] = 0;
        w->len += pad;
}

static inline void vwriter_push_offset(VWriter *w, size_t offset)
{
        if (G_UNLIKELY(w->n_offsets == w->cap_offsets))
                vwriter_grow_offsets(w);
        w->offsets[w->n_offsets++] = offset;
}

static inline void vwriter_bytes(VWriter *w, const void *p, size_t len)
{
        if (len > 0)
                memcpy(vwriter_reserve(w, len), p, len);
        w->len += len;
}

static inline void vwriter_string(VWriter *w, const char *s, size_t len)
{
        char *p = vwriter_reserve(w, len + 1);

        if (len > 0)
                memcpy(p, s, len);
        p[len] = '\0';
        w->len += len + 1;
}

#define VWRITER_FIXED(name, ctype, align)                                                          \
        static inline void vwriter_##name(VWriter *w, ctype v)                                    \
        {                                                                                          \
                vwriter_align(w, align);                                                           \
                memcpy(vwriter_reserve(w, sizeof v), &v, sizeof v);                                \
                w->len += sizeof v;                                                                \
        }
VWRITER_FIXED(int32, int32_t, 4)
VWRITER_FIXED(uint32, uint32_t, 4)
VWRITER_FIXED(int64, int64_t, 8)
VWRITER_FIXED(uint64, uint64_t, 8)
VWRITER_FIXED(double, double, 8)
#undef VWRITER_FIXED

static inline void vwriter_boolean(VWriter *w, bool v)
{
        *vwriter_reserve(w, 1) = v ? 1 : 0;
        w->len += 1;
}

/* An array of variable-sized items (a{sv}, av): begin, then per item its
 * value followed by vwriter_item_end(), then vwriter_array_end(). */
static inline void vwriter_array_begin(VWriter *w, VFrame *f)
{
        vwriter_align(w, 8);
        f->start = w->len;
        f->base = w->n_offsets;
}

static inline void vwriter_item_end(VWriter *w, const VFrame *f)
{
        /* the next item of a{sv} or av is 8-aligned: it pads when it begins */
        vwriter_push_offset(w, w->len - f->start);
}

/* A struct of variable-sized members: vwriter_struct_begin(); each member
 * aligned and written, recording ends[i] = w->len - f->start for every one
 * but the last; vwriter_struct_end(ends, n). */
static inline void vwriter_struct_begin(VWriter *w, VFrame *f)
{
        vwriter_align(w, 8);
        f->start = w->len;
        f->base = w->n_offsets;
}

/* the framing offsets of the non-last members, in reverse order */
static inline void vwriter_struct_end(VWriter *w, const VFrame *f, const size_t *ends, size_t n)
{
        unsigned size = vwriter_offset_size(w->len - f->start, n);
        char *p = vwriter_reserve(w, size * n);

        for (size_t i = 0; i < n; i++) {
                uint64_t end = ends[n - 1 - i];
                for (unsigned b = 0; b < size; b++, end >>= 8)
                        *p++ = (char) (end & 0xff); /* little-endian */
        }
        w->len += size * n;
}

/* A {sv} entry: vwriter_entry_begin(key); the variant; vwriter_entry_end(). */
static inline void vwriter_entry_begin(VWriter *w, VFrame *f, const char *key, size_t len)
{
        vwriter_align(w, 8);
        f->start = w->len;
        f->base = w->n_offsets;
        vwriter_string(w, key, len);
        vwriter_push_offset(w, w->len - f->start); /* the key's end */
}

static inline void vwriter_entry_end(VWriter *w, const VFrame *f)
{
        /* one framing offset, the key's end, as wide as the entry needs */
        size_t body = w->len - f->start;
        uint64_t key_end = w->offsets[f->base];
        unsigned size = vwriter_offset_size(body, 1);
        char *p = vwriter_reserve(w, size);

        for (unsigned b = 0; b < size; b++, key_end >>= 8)
                p[b] = (char) (key_end & 0xff); /* little-endian */
        w->len += size;
        w->n_offsets = f->base;
}

/* A variant: vwriter_variant_begin(); its child; vwriter_variant_end(type).
 * It needs no frame: its child's end is where the type string starts. */
static inline void vwriter_variant_begin(VWriter *w)
{
        vwriter_align(w, 8);
}

static inline void vwriter_variant_end(VWriter *w, const char *type_string)
{
        size_t n = strlen(type_string);
        char *p = vwriter_reserve(w, n + 1);

        p[0] = '\0'; /* then the child's type string, not NUL-terminated */
        memcpy(p + 1, type_string, n);
        w->len += n + 1;
}

/*
 * The usual shapes, a member of an a{sv} and an element of an av:
 *   vwriter_member_begin(w, &m, key, len); <value>; vwriter_member_end(w, &array, &m, "x");
 *   vwriter_element_begin(w); <value>; vwriter_element_end(w, &array, "x");
 */
typedef struct {
        VFrame entry;
} VMember;

static inline void vwriter_member_begin(VWriter *w, VMember *m, const char *key, size_t len)
{
        vwriter_entry_begin(w, &m->entry, key, len);
        vwriter_variant_begin(w);
}

static inline void vwriter_member_end(VWriter *w, const VFrame *array, VMember *m,
                                      const char *type_string)
{
        vwriter_variant_end(w, type_string);
        vwriter_entry_end(w, &m->entry);
        vwriter_item_end(w, array);
}

static inline void vwriter_element_begin(VWriter *w)
{
        vwriter_variant_begin(w);
}

static inline void vwriter_element_end(VWriter *w, const VFrame *array, const char *type_string)
{
        vwriter_variant_end(w, type_string);
        vwriter_item_end(w, array);
}

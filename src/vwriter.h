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
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct VWriter {
        char *buf;
        size_t len, cap;
        GArray *offsets; /* framing offsets of the open containers, as a stack */
} VWriter;

typedef struct {
        size_t start;
        guint base; /* index into the offsets stack */
} VFrame;

void vwriter_init(VWriter *w, size_t hint);
void vwriter_clear(VWriter *w);
/* Hands the buffer to a trusted GVariant of the given type; resets the writer. */
GVariant *vwriter_finish(VWriter *w, const GVariantType *type);

/* An array of variable-sized items (a{sv}, av): begin, then per item its
 * value followed by vwriter_item_end(), then vwriter_array_end(). */
void vwriter_array_begin(VWriter *w, VFrame *f);
void vwriter_item_end(VWriter *w, const VFrame *f);
void vwriter_array_end(VWriter *w, const VFrame *f);

/* A {sv} entry: vwriter_entry_begin(key); the variant; vwriter_entry_end(). */
void vwriter_entry_begin(VWriter *w, VFrame *f, const char *key, size_t len);
void vwriter_entry_end(VWriter *w, const VFrame *f);

/* A variant: vwriter_variant_begin(); its child; vwriter_variant_end(type). */
void vwriter_variant_begin(VWriter *w, VFrame *f);
void vwriter_variant_end(VWriter *w, const VFrame *f, const char *type_string);

/*
 * The usual shapes, a member of an a{sv} and an element of an av:
 *   vwriter_member_begin(w, &m, key, len); <value>; vwriter_member_end(w, &array, &m, "x");
 *   vwriter_element_begin(w, &m); <value>; vwriter_element_end(w, &array, &m, "x");
 */
typedef struct {
        VFrame entry, variant;
} VMember;
void vwriter_member_begin(VWriter *w, VMember *m, const char *key, size_t len);
void vwriter_member_end(VWriter *w, const VFrame *array, VMember *m, const char *type_string);
void vwriter_element_begin(VWriter *w, VMember *m);
void vwriter_element_end(VWriter *w, const VFrame *array, VMember *m, const char *type_string);

void vwriter_string(VWriter *w, const char *s, size_t len);
void vwriter_int32(VWriter *w, int32_t v);
void vwriter_uint32(VWriter *w, uint32_t v);
void vwriter_int64(VWriter *w, int64_t v);
void vwriter_uint64(VWriter *w, uint64_t v);
void vwriter_double(VWriter *w, double v);
void vwriter_boolean(VWriter *w, bool v);
void vwriter_bytes(VWriter *w, const void *p, size_t len);

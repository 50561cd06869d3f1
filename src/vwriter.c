/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vwriter.c — see vwriter.h for the format and why this exists. */
#include <string.h>

#include "vwriter.h"

void vwriter_init(VWriter *w, size_t hint)
{
        w->cap = hint < 64 ? 64 : hint;
        w->buf = g_malloc(w->cap);
        w->len = 0;
        w->offsets = g_array_sized_new(FALSE, FALSE, sizeof(size_t), 64);
}

void vwriter_clear(VWriter *w)
{
        g_clear_pointer(&w->buf, g_free);
        if (w->offsets)
                g_array_unref(g_steal_pointer(&w->offsets));
        w->len = w->cap = 0;
}

GVariant *vwriter_finish(VWriter *w, const GVariantType *type)
{
        GBytes *bytes = g_bytes_new_take(g_steal_pointer(&w->buf), w->len);
        GVariant *v = g_variant_new_from_bytes(type, bytes, TRUE);

        g_bytes_unref(bytes);
        vwriter_clear(w);
        return g_variant_ref_sink(v);
}

static char *reserve(VWriter *w, size_t n)
{
        if (w->cap - w->len < n) {
                while (w->cap - w->len < n)
                        w->cap *= 2;
                w->buf = g_realloc(w->buf, w->cap);
        }
        return w->buf + w->len;
}

static void put(VWriter *w, const void *p, size_t n)
{
        memcpy(reserve(w, n), p, n);
        w->len += n;
}

static void align_to(VWriter *w, size_t a)
{
        size_t pad = (a - (w->len & (a - 1))) & (a - 1);
        memset(reserve(w, pad), 0, pad);
        w->len += pad;
}

static void align8(VWriter *w)
{
        align_to(w, 8);
}

/* gvariant-serialiser.c: the smallest offset width that addresses the container */
static unsigned offset_size(size_t body, size_t n)
{
        if (body + n <= G_MAXUINT8)
                return 1;
        if (body + 2 * n <= G_MAXUINT16)
                return 2;
        if (body + 4 * n <= G_MAXUINT32)
                return 4;
        return 8;
}

static void put_offsets(VWriter *w, const size_t *offsets, size_t n, size_t body)
{
        unsigned size;

        if (n == 0)
                return;
        size = offset_size(body, n);
        for (size_t i = 0; i < n; i++) {
                uint64_t le = GUINT64_TO_LE((uint64_t) offsets[i]);
                put(w, &le, size); /* the low bytes of a little-endian value */
        }
}

void vwriter_array_begin(VWriter *w, VFrame *f)
{
        align8(w);
        f->start = w->len;
        f->base = w->offsets->len;
}

void vwriter_item_end(VWriter *w, const VFrame *f)
{
        size_t end = w->len - f->start;
        g_array_append_val(w->offsets, end);
        /* the next item of a{sv} or av is 8-aligned: pad now, it is part of the body */
}

void vwriter_array_end(VWriter *w, const VFrame *f)
{
        size_t n = w->offsets->len - f->base;
        put_offsets(w, &g_array_index(w->offsets, size_t, f->base), n, w->len - f->start);
        g_array_set_size(w->offsets, f->base);
}

void vwriter_entry_begin(VWriter *w, VFrame *f, const char *key, size_t len)
{
        size_t key_end;

        align8(w);
        f->start = w->len;
        f->base = w->offsets->len;
        vwriter_string(w, key, len);
        key_end = w->len - f->start;
        g_array_append_val(w->offsets, key_end);
}

void vwriter_entry_end(VWriter *w, const VFrame *f)
{
        vwriter_array_end(w, f); /* one framing offset: the key's end */
}

void vwriter_variant_begin(VWriter *w, VFrame *f)
{
        align8(w);
        f->start = w->len;
        f->base = w->offsets->len;
}

void vwriter_variant_end(VWriter *w, const VFrame *f, const char *type_string)
{
        put(w, "", 1);
        put(w, type_string, strlen(type_string));
}

void vwriter_member_begin(VWriter *w, VMember *m, const char *key, size_t len)
{
        vwriter_entry_begin(w, &m->entry, key, len);
        vwriter_variant_begin(w, &m->variant);
}

void vwriter_member_end(VWriter *w, const VFrame *array, VMember *m, const char *type_string)
{
        vwriter_variant_end(w, &m->variant, type_string);
        vwriter_entry_end(w, &m->entry);
        vwriter_item_end(w, array);
}

void vwriter_element_begin(VWriter *w, VMember *m)
{
        vwriter_variant_begin(w, &m->variant);
}

void vwriter_element_end(VWriter *w, const VFrame *array, VMember *m, const char *type_string)
{
        vwriter_variant_end(w, &m->variant, type_string);
        vwriter_item_end(w, array);
}

void vwriter_string(VWriter *w, const char *s, size_t len)
{
        char *p = reserve(w, len + 1);
        memcpy(p, s, len);
        p[len] = '\0';
        w->len += len + 1;
}

void vwriter_int32(VWriter *w, int32_t v)
{
        align_to(w, 4);
        put(w, &v, sizeof v);
}

void vwriter_uint32(VWriter *w, uint32_t v)
{
        align_to(w, 4);
        put(w, &v, sizeof v);
}

void vwriter_int64(VWriter *w, int64_t v)
{
        align8(w);
        put(w, &v, sizeof v);
}

void vwriter_uint64(VWriter *w, uint64_t v)
{
        align8(w);
        put(w, &v, sizeof v);
}

void vwriter_double(VWriter *w, double v)
{
        align8(w);
        put(w, &v, sizeof v);
}

void vwriter_boolean(VWriter *w, bool v)
{
        put(w, v ? "\1" : "\0", 1);
}

void vwriter_bytes(VWriter *w, const void *p, size_t len)
{
        put(w, p, len);
}

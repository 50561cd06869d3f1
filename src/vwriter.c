/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vwriter.c — see vwriter.h for the format and why this exists. */
#include "vwriter.h"

/* Per thread: the writer, and an empty value of the type last finished. */
typedef struct {
        VWriter w;
        GVariant *pin;
} ThreadWriter;

static void thread_writer_free(ThreadWriter *t)
{
        g_free(t->w.buf);
        g_free(t->w.offsets);
        if (t->pin)
                g_variant_unref(t->pin);
        g_free(t);
}

static GPrivate writer_key = G_PRIVATE_INIT((GDestroyNotify) thread_writer_free);

static ThreadWriter *thread_writer(void)
{
        ThreadWriter *t = g_private_get(&writer_key);

        if (!t) {
                t = g_new0(ThreadWriter, 1);
                g_private_set(&writer_key, t);
        }
        return t;
}

VWriter *vwriter_acquire(void)
{
        VWriter *w = &thread_writer()->w;

        g_assert(w->len == 0 && w->n_offsets == 0); /* finished or reset */
        if (!w->buf) {
                w->cap = 256;
                w->buf = g_malloc(w->cap);
        }
        return w;
}

void vwriter_reset(VWriter *w)
{
        w->len = 0;
        w->n_offsets = 0;
        if (w->cap > VWRITER_KEEP) {
                g_clear_pointer(&w->buf, g_free);
                w->cap = 0;
        }
        if (w->cap_offsets * sizeof(size_t) > VWRITER_KEEP) {
                g_clear_pointer(&w->offsets, g_free);
                w->cap_offsets = 0;
        }
}

/*
 * GLib (2.74 here, gvarianttypeinfo.c) frees a container type's type-info
 * (and, when it was the last one, the whole type-info table) as soon as the
 * last value of that type is gone, and builds it again, under a global lock, for the next
 * value. For a daemon that decodes an event, emits it and frees it, that
 * was a quarter of the decoding time (callgrind). One empty value of the
 * type, kept per thread, keeps the type-info alive.
 */
static void pin_type(const GVariantType *type)
{
        ThreadWriter *t = thread_writer();

        if (t->pin && g_variant_type_equal(g_variant_get_type(t->pin), type))
                return;
        if (t->pin)
                g_variant_unref(t->pin);
        t->pin = g_variant_ref_sink(g_variant_new_from_data(type, NULL, 0, FALSE, NULL, NULL));
}

GVariant *vwriter_finish(VWriter *w, const GVariantType *type)
{
        GBytes *bytes;
        GVariant *v;

        g_assert(w->n_offsets == 0); /* every container closed */
        pin_type(type);
        bytes = g_bytes_new(w->buf, w->len);
        v = g_variant_new_from_bytes(type, bytes, TRUE);
        g_bytes_unref(bytes);
        vwriter_reset(w);
        return g_variant_ref_sink(v);
}

void vwriter_grow(VWriter *w, size_t n)
{
        size_t cap = MAX(w->cap, 256);

        while (cap - w->len < n)
                cap *= 2;
        w->buf = g_realloc(w->buf, cap);
        w->cap = cap;
}

void vwriter_grow_offsets(VWriter *w)
{
        w->cap_offsets = MAX(w->cap_offsets * 2, 64);
        w->offsets = g_renew(size_t, w->offsets, w->cap_offsets);
}

void vwriter_array_end(VWriter *w, const VFrame *f)
{
        size_t n = w->n_offsets - f->base;
        unsigned size;
        char *p;

        if (n == 0)
                return;
        size = vwriter_offset_size(w->len - f->start, n);
        p = vwriter_reserve(w, n * size);
        for (size_t i = 0; i < n; i++) {
                uint64_t v = w->offsets[f->base + i];
                for (unsigned b = 0; b < size; b++, v >>= 8)
                        *p++ = (char) (v & 0xff); /* little-endian */
        }
        w->len += n * size;
        w->n_offsets = f->base;
}

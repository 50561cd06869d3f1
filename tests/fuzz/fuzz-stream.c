/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-stream.c — libFuzzer target over a stream listener's path without
 * its sockets: any bytes, cut into reads of sizes the input chooses, framed
 * by linebuf with a limit the input chooses, each line decoded as JSON and,
 * when its type has a typed signal, converted by the schemas (the Shield1
 * example and one with every kind of arg). A line never holds a newline or
 * passes the limit, the buffer never passes limit + 2 bytes, and nothing
 * may crash, leak or read out of bounds. Built by `make fuzz` (clang) and
 * replayed over its corpus by make check.
 */
#include <glib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "linebuf.h"
#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char schema_xml[] =
        "<node name=\"/f\"><interface name=\"org.fuzz.F\">"
        "<signal name=\"All\"><annotation name=\"org.ingester.EventType\" value=\"all\"/>"
        "<arg name=\"y\" type=\"y\"/><arg name=\"n\" type=\"n\"/><arg name=\"q\" type=\"q\"/>"
        "<arg name=\"i\" type=\"i\"/><arg name=\"u\" type=\"u\"/><arg name=\"x\" type=\"x\"/>"
        "<arg name=\"t\" type=\"t\"/><arg name=\"d\" type=\"d\"/><arg name=\"b\" type=\"b\"/>"
        "<arg name=\"s\" type=\"s\"/><arg name=\"o\" type=\"o\"/><arg name=\"g\" type=\"g\"/>"
        "<arg name=\"v\" type=\"v\"/><arg name=\"au\" type=\"aau\"/>"
        "<arg name=\"m\" type=\"a{sas}\"/><arg name=\"ay\" type=\"ay\"/>"
        "<arg name=\"opt\" type=\"as\"><annotation name=\"org.ingester.Default\" value=\"@as []\"/>"
        "</arg><arg name=\"pid\" type=\"i\"><annotation name=\"org.ingester.Meta\" value=\"pid\"/>"
        "</arg><arg name=\"fds\" type=\"ah\"/></signal></interface></node>";

static Schemas schemas;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        g_autofree char *dir = g_dir_make_tmp("ingester-fuzz-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "f.xml", NULL);
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        const char *srcdir = g_getenv("INGESTER_TEST_DATA");
        g_autofree char *example =
                srcdir ? g_build_filename(srcdir, "..", "..", "doc", "examples",
                                          "org.terok.Shield1.xml", NULL)
                       : NULL;
        char *paths[3] = { path, example && g_file_test(example, G_FILE_TEST_EXISTS) ? example : NULL,
                           NULL };

        (void) argc;
        (void) argv;
        g_assert_true(g_file_set_contents(path, schema_xml, -1, NULL));
        schemas_init(&schemas);
        g_assert_true(schemas_load(&schemas, paths, errors));
        (void) unlink(path);
        (void) rmdir(dir);
        return 0;
}

static void take(const char *line, size_t len, size_t max)
{
        const CodecLimits limits = CODEC_LIMITS_DEFAULT;
        CodecEvent ev = { 0 };
        Event *e;
        const SchemaSignal *sig;
        const char *arg = NULL, *why = NULL;

        g_assert_true(len <= max);
        g_assert_null(memchr(line, '\n', len));
        if (codec_decode(&limits, CODEC_FORMAT_JSON, line, len, &ev) != CODEC_OK)
                return;
        e = event_new(&(EventMeta){ 0 }, ev.type, ev.data, NULL, 0);
        sig = schemas_lookup(&schemas, g_variant_get_string(e->type, NULL));
        if (sig) {
                GVariant *body = schema_build(sig, e, &arg, &why);
                g_assert_true(body || (arg && why));
                if (body) {
                        g_assert_true(schema_check(sig, e, &arg, &why));
                        g_variant_unref(body);
                }
        }
        event_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        LineBuf b;
        const char *line;
        size_t len, max, off = 2, step;
        LineKind k;

        if (size < 2)
                return 0;
        max = 1 + data[0] % 96; /* short limits reach the skipping paths */
        step = 1 + data[1] % 31;
        linebuf_init(&b, max);
        while (off < size) {
                size_t room, n;
                char *space = linebuf_space(&b, &room);

                g_assert_true(room > 0);
                n = MIN(MIN(room, step), size - off);
                memcpy(space, data + off, n);
                linebuf_commit(&b, n);
                off += n;
                step = 1 + (step * 7 + n) % 97;
                while ((k = linebuf_next(&b, &line, &len)) != LINE_NONE)
                        if (k == LINE_OK)
                                take(line, len, max);
                g_assert_true(b.len - b.start <= max + 2 && b.cap <= max + 2);
        }
        k = linebuf_finish(&b, &line, &len);
        g_assert_true(k == LINE_NONE || k == LINE_TOO_LONG || k == LINE_PARTIAL);
        linebuf_deinit(&b);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-schema.c — typed signals (issue "typed signals and stream listeners").
 *
 * On their own: every conversion rule at its boundary, defaults, Meta and
 * Fd args; every schema error as its own test, named with its file and
 * signal. End to end, on a real dbus-daemon with the built ingesterd: the
 * Shield1 example from a stream socket to a subscriber generated from the
 * same XML by gdbus-codegen (so the expectation is the file's, not restated
 * here), refusals as schema-mismatch, and the schema's bus name: taken
 * means exit 3, --replace takes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "codec.h"
#include "cunit-tap.h"
#include "harness.h"
#include "schema.h"
#include "shield1.h" /* gdbus-codegen, from doc/examples/org.terok.Shield1.xml */

static char *example_path(void)
{
        return g_build_filename(g_getenv("INGESTER_TEST_DATA"), "..", "..", "doc", "examples",
                                "org.terok.Shield1.xml", NULL);
}

static char *write_temp(const char *name, const char *text)
{
        g_autofree char *dir = g_dir_make_tmp("ingester-schema-XXXXXX", NULL);
        char *path = g_build_filename(dir, name, NULL);

        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        return path;
}

static void remove_temp(const char *path)
{
        g_autofree char *dir = g_path_get_dirname(path);

        (void) unlink(path);
        (void) rmdir(dir);
}

/* ---- conversions ---- */

#define CONVERSIONS                                                                                \
        "<node name=\"/t\"><interface name=\"org.test.T\">"                                        \
        "<signal name=\"Ints\"><annotation name=\"org.ingester.EventType\" value=\"ints\"/>"       \
        "<arg name=\"y\" type=\"y\"/><arg name=\"n\" type=\"n\"/><arg name=\"q\" type=\"q\"/>"     \
        "<arg name=\"i\" type=\"i\"/><arg name=\"u\" type=\"u\"/><arg name=\"x\" type=\"x\"/>"     \
        "<arg name=\"t\" type=\"t\"/><arg name=\"d\" type=\"d\"/></signal>"                        \
        "<signal name=\"U\"><annotation name=\"org.ingester.EventType\" value=\"u\"/>"             \
        "<arg name=\"v\" type=\"u\"/></signal>"                                                    \
        "<signal name=\"Strings\"><annotation name=\"org.ingester.EventType\" value=\"str\"/>"     \
        "<arg name=\"s\" type=\"s\"/><arg name=\"o\" type=\"o\"/><arg name=\"g\" type=\"g\"/>"     \
        "<arg name=\"b\" type=\"b\"/></signal>"                                                    \
        "<signal name=\"Containers\"><annotation name=\"org.ingester.EventType\" value=\"c\"/>"    \
        "<arg name=\"au\" type=\"au\"/><arg name=\"as\" type=\"as\"/>"                             \
        "<arg name=\"asv\" type=\"a{sv}\"/><arg name=\"asu\" type=\"a{su}\"/>"                     \
        "<arg name=\"v\" type=\"v\"/><arg name=\"ay\" type=\"ay\"/></signal>"                      \
        "<signal name=\"Defaults\"><annotation name=\"org.ingester.EventType\" value=\"def\"/>"    \
        "<arg name=\"need\" type=\"s\"/>"                                                          \
        "<arg name=\"opt\" type=\"u\"><annotation name=\"org.ingester.Default\" value=\"7\"/></arg>" \
        "<arg name=\"renamed\" type=\"s\"><annotation name=\"org.ingester.Member\" value=\"id\"/>" \
        "<annotation name=\"org.ingester.Default\" value=\"'none'\"/></arg></signal>"              \
        "<signal name=\"Meta\"><annotation name=\"org.ingester.EventType\" value=\"meta\"/>"       \
        "<arg name=\"pid\" type=\"i\"><annotation name=\"org.ingester.Meta\" value=\"pid\"/></arg>" \
        "<arg name=\"uid\" type=\"u\"><annotation name=\"org.ingester.Meta\" value=\"uid\"/></arg>" \
        "<arg name=\"seq\" type=\"t\"><annotation name=\"org.ingester.Meta\" value=\"seq\"/></arg>" \
        "<arg name=\"tr\" type=\"s\"><annotation name=\"org.ingester.Meta\" value=\"transport\"/>" \
        "</arg><arg name=\"second\" type=\"h\"><annotation name=\"org.ingester.Fd\" value=\"1\"/>" \
        "</arg><arg name=\"all\" type=\"ah\"/></signal>"                                           \
        "</interface></node>"

static Schemas schemas;
static char *conversions_path;

static int conversions_init(void)
{
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        char *paths[2];

        conversions_path = write_temp("t.xml", CONVERSIONS);
        paths[0] = conversions_path;
        paths[1] = NULL;
        schemas_init(&schemas);
        if (!schemas_load(&schemas, paths, errors)) {
                for (guint i = 0; i < errors->len; i++)
                        printf("# %s\n", (char *) errors->pdata[i]);
                return -1;
        }
        return 0;
}

static int conversions_cleanup(void)
{
        schemas_deinit(&schemas);
        remove_temp(conversions_path);
        g_clear_pointer(&conversions_path, g_free);
        return 0;
}

/* The event decoded from json, with n_fds descriptors of /dev/null. */
static Event *event_of(const char *json, unsigned n_fds)
{
        CodecLimits limits = CODEC_LIMITS_DEFAULT;
        CodecEvent ev = { 0 };
        int *fds = n_fds ? g_new(int, n_fds) : NULL;
        Event *e;

        g_assert_cmpint(codec_decode(&limits, CODEC_FORMAT_JSON, json, strlen(json), &ev), ==,
                        CODEC_OK);
        for (unsigned i = 0; i < n_fds; i++)
                fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        e = event_new(&(EventMeta){ .pid = 42, .uid = 1000, .transport = TRANSPORT_STREAM }, ev.type,
                      ev.data, fds, n_fds);
        g_free(fds);
        e->q.seq = 9;
        return e;
}

/* The body as GVariant text, or "refused: ARG WHY". */
static char *typed(const char *json, unsigned n_fds)
{
        g_autoptr(Event) e = event_of(json, n_fds);
        const char *type = g_variant_get_string(e->type, NULL);
        const SchemaSignal *sig = schemas_lookup(&schemas, type);
        const char *arg = NULL, *why = NULL;
        g_autoptr(GVariant) body = NULL;

        g_assert_nonnull(sig);
        if (!schema_check(sig, e, &arg, &why))
                return g_strdup_printf("refused: %s %s", arg, why);
        body = schema_body(sig, e);
        return g_variant_print(body, TRUE);
}

static void expect(const char *json, unsigned n_fds, const char *want)
{
        g_autofree char *got = typed(json, n_fds);

        if (strcmp(got, want) != 0)
                printf("# %s\n#   got  %s\n#   want %s\n", json, got, want);
        CU_ASSERT_STRING_EQUAL(got, want);
}

/* u at both ends, and one past each. */
static void test_u_at_its_boundaries(void)
{
        expect("{\"type\":\"u\",\"v\":0}", 0, "(uint32 0,)");
        expect("{\"type\":\"u\",\"v\":4294967295}", 0, "(uint32 4294967295,)");
        expect("{\"type\":\"u\",\"v\":-1}", 0, "refused: v out of range for u (0 to 4294967295)");
        expect("{\"type\":\"u\",\"v\":4294967296}", 0,
               "refused: v out of range for u (0 to 4294967295)");
        expect("{\"type\":\"u\",\"v\":1.0}", 0, "refused: v expects an integer");
        expect("{\"type\":\"u\",\"v\":\"1\"}", 0, "refused: v expects an integer");
}

/* Every integer type at its ends; d from an integer. */
static void test_integers_at_their_boundaries(void)
{
        expect("{\"type\":\"ints\",\"y\":255,\"n\":-32768,\"q\":65535,\"i\":-2147483648,"
               "\"u\":4294967295,\"x\":-9223372036854775808,\"t\":18446744073709551615,\"d\":3}",
               0,
               "(byte 0xff, int16 -32768, uint16 65535, -2147483648, uint32 4294967295, "
               "int64 -9223372036854775808, uint64 18446744073709551615, 3.0)");
        expect("{\"type\":\"ints\",\"y\":0,\"n\":32767,\"q\":0,\"i\":2147483647,\"u\":0,"
               "\"x\":9223372036854775807,\"t\":0,\"d\":-0.5}",
               0,
               "(byte 0x00, int16 32767, uint16 0, 2147483647, uint32 0, "
               "int64 9223372036854775807, uint64 0, -0.5)");
        expect("{\"type\":\"ints\",\"y\":256,\"n\":0,\"q\":0,\"i\":0,\"u\":0,\"x\":0,\"t\":0,"
               "\"d\":0}",
               0, "refused: y out of range for y (0 to 255)");
        expect("{\"type\":\"ints\",\"y\":0,\"n\":32768,\"q\":0,\"i\":0,\"u\":0,\"x\":0,\"t\":0,"
               "\"d\":0}",
               0, "refused: n out of range for n (-32768 to 32767)");
        expect("{\"type\":\"ints\",\"y\":0,\"n\":0,\"q\":-1,\"i\":0,\"u\":0,\"x\":0,\"t\":0,"
               "\"d\":0}",
               0, "refused: q out of range for q (0 to 65535)");
        expect("{\"type\":\"ints\",\"y\":0,\"n\":0,\"q\":0,\"i\":2147483648,\"u\":0,\"x\":0,"
               "\"t\":0,\"d\":0}",
               0, "refused: i out of range for i (32 bits, signed)");
        expect("{\"type\":\"ints\",\"y\":0,\"n\":0,\"q\":0,\"i\":0,\"u\":0,"
               "\"x\":9223372036854775808,\"t\":0,\"d\":0}",
               0, "refused: x out of range for x (64 bits, signed)");
        expect("{\"type\":\"ints\",\"y\":0,\"n\":0,\"q\":0,\"i\":0,\"u\":0,\"x\":0,\"t\":-1,"
               "\"d\":0}",
               0, "refused: t out of range for t (0 to 2^64-1)");
        expect("{\"type\":\"ints\",\"y\":0,\"n\":0,\"q\":0,\"i\":0,\"u\":0,\"x\":0,\"t\":0,"
               "\"d\":\"x\"}",
               0, "refused: d expects a number");
}

/* s, o and g only when valid; b. */
static void test_strings_paths_signatures(void)
{
        expect("{\"type\":\"str\",\"s\":\"x\",\"o\":\"/a/b\",\"g\":\"a{sv}\",\"b\":true}", 0,
               "('x', objectpath '/a/b', signature 'a{sv}', true)");
        expect("{\"type\":\"str\",\"s\":\"x\",\"o\":\"a/b\",\"g\":\"s\",\"b\":true}", 0,
               "refused: o is not a valid object path");
        expect("{\"type\":\"str\",\"s\":\"x\",\"o\":\"/\",\"g\":\"a{\",\"b\":true}", 0,
               "refused: g is not a valid D-Bus signature");
        /* signatures GLib takes and the bus does not (it would drop the relay's connection) */
        for (unsigned k = 0; k < 5; k++) {
                g_autofree char *arrays = g_strnfill(40, 'a');
                g_autofree char *opens = g_strnfill(33, '('), *closes = g_strnfill(33, ')');
                g_autofree char *structs = g_strdup_printf("%sy%s", opens, closes);
                g_autofree char *long_one = g_strnfill(256, 's');
                g_autofree char *deep = g_strdup_printf("%sy", arrays);
                const char *sig[] = { deep, structs, "{sv}", long_one, "a{vs}" };
                g_autofree char *ev = g_strdup_printf(
                        "{\"type\":\"str\",\"s\":\"x\",\"o\":\"/\",\"g\":\"%s\",\"b\":true}", sig[k]);
                g_autofree char *fits = g_strdup_printf(
                        "{\"type\":\"str\",\"s\":\"x\",\"o\":\"/\",\"g\":\"%.255s\",\"b\":true}",
                        long_one);

                CU_ASSERT_TRUE(g_variant_is_signature(sig[k]) || k == 4);
                expect(ev, 0, "refused: g is not a valid D-Bus signature");
                if (k == 3) {
                        /* 255 characters: the bus's limit, allowed */
                        g_autofree char *got = typed(fits, 0);
                        CU_ASSERT_TRUE(g_str_has_prefix(got, "('x', objectpath '/', signature 'sss"));
                }
        }
        expect("{\"type\":\"str\",\"s\":1,\"o\":\"/\",\"g\":\"s\",\"b\":true}", 0,
               "refused: s expects a string");
        expect("{\"type\":\"str\",\"s\":\"\",\"o\":\"/\",\"g\":\"\",\"b\":1}", 0,
               "refused: b expects true or false");
}

/* Arrays element by element, dictionaries value by value, v for anything. */
static void test_arrays_dicts_and_variants(void)
{
        expect("{\"type\":\"c\",\"au\":[1,2],\"as\":[\"a\"],\"asv\":{\"k\":1},\"asu\":{\"k\":5},"
               "\"v\":[1,\"x\"],\"ay\":[0,255]}",
               0,
               "([uint32 1, 2], ['a'], {'k': <int64 1>}, {'k': uint32 5}, "
               "<[<int64 1>, <'x'>]>, [byte 0x00, 0xff])");
        expect("{\"type\":\"c\",\"au\":[1,-2],\"as\":[],\"asv\":{},\"asu\":{},\"v\":1,\"ay\":[]}",
               0, "refused: au out of range for u (0 to 4294967295)");
        expect("{\"type\":\"c\",\"au\":[],\"as\":[],\"asv\":{},\"asu\":{\"k\":\"no\"},\"v\":1,"
               "\"ay\":[]}",
               0, "refused: asu expects an integer");
        expect("{\"type\":\"c\",\"au\":{},\"as\":[],\"asv\":{},\"asu\":{},\"v\":1,\"ay\":[]}", 0,
               "refused: au expects an array");
        expect("{\"type\":\"c\",\"au\":[],\"as\":[],\"asv\":[],\"asu\":{},\"v\":1,\"ay\":[]}", 0,
               "refused: asv expects an object");
}

/* A required member missing is refused; a missing or null member with a
 * default takes it; Member renames; members the schema does not name are
 * ignored. */
static void test_required_default_null_and_extra_members(void)
{
        expect("{\"type\":\"def\"}", 0, "refused: need is required, and the event has no such member");
        expect("{\"type\":\"def\",\"need\":\"a\"}", 0, "('a', uint32 7, 'none')");
        expect("{\"type\":\"def\",\"need\":\"a\",\"opt\":null,\"id\":\"r1\",\"extra\":[1]}", 0,
               "('a', uint32 7, 'r1')");
        expect("{\"type\":\"def\",\"need\":\"a\",\"opt\":3}", 0, "('a', uint32 3, 'none')");
}

/* Meta args from the kernel's word and the numbering; Fd and ah from the
 * event's descriptors (indexes into the message's own list). */
static void test_meta_and_fd_args(void)
{
        expect("{\"type\":\"meta\"}", 2, "(42, uint32 1000, uint64 9, 'stream', handle 1, [handle 0, 1])");
        expect("{\"type\":\"meta\"}", 1, "refused: second names a descriptor the event does not carry");
}

/* ---- schema errors: each its own test, named with its file and signal ---- */

typedef struct {
        const char *xml;
        const char *want; /* in the message, after the file's name */
} BadSchema;

#define NODE(body) "<node name=\"/t\"><interface name=\"org.test.T\">" body "</interface></node>"
#define SIG(name, type, args)                                                                      \
        "<signal name=\"" name "\"><annotation name=\"org.ingester.EventType\" value=\"" type      \
        "\"/>" args "</signal>"

static const BadSchema bad_schemas[] = {
        { "<node name=\"/t\"><interface", "not D-Bus introspection XML" },
        { "<node><interface name=\"org.test.T\"/></node>", "the <node> needs name=" },
        { "<node name=\"t\"><interface name=\"org.test.T\"/></node>", "the <node> needs name=" },
        { NODE("<annotation name=\"org.ingester.Bogus\" value=\"1\"/>"),
          "interface org.test.T: unknown annotation org.ingester.Bogus on an interface" },
        { NODE(SIG("A", "a", "<annotation name=\"org.ingester.Member\" value=\"x\"/>")),
          "interface org.test.T, signal A: unknown annotation org.ingester.Member on a signal" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"s\"><annotation name=\"org.ingester.Typo\" "
                             "value=\"1\"/></arg>")),
          "signal A, arg x: unknown annotation org.ingester.Typo on an arg" },
        { NODE(SIG("A", "same", "") SIG("B", "same", "")),
          "signal B: org.ingester.EventType 'same' is already the type of org.test.T.A" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"u\"><annotation name=\"org.ingester.Default\" "
                             "value=\"'text'\"/></arg>")),
          "signal A, arg x: org.ingester.Default \"'text'\" is not a u" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"s\"><annotation name=\"org.ingester.Fd\" "
                             "value=\"0\"/></arg>")),
          "signal A, arg x: org.ingester.Fd is for an arg of type h, not s" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"h\"/>")),
          "signal A, arg x: an arg of type h needs org.ingester.Fd" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"(ss)\"/>")),
          "signal A, arg x: type (ss) cannot be filled from an event" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"a{us}\"/>")),
          "signal A, arg x: type a{us} cannot be filled from an event" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"s\"><annotation name=\"org.ingester.Meta\" "
                             "value=\"host\"/></arg>")),
          "signal A, arg x: org.ingester.Meta 'host' is none of" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"s\"><annotation name=\"org.ingester.Meta\" "
                             "value=\"pid\"/></arg>")),
          "signal A, arg x: org.ingester.Meta 'pid' is of type i, the arg of type s" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"h\"><annotation name=\"org.ingester.Fd\" "
                             "value=\"99\"/></arg>")),
          "signal A, arg x: org.ingester.Fd '99' is not a descriptor index" },
        { "<node name=\"/t\"><interface name=\"org.test.T\">"
          "<annotation name=\"org.ingester.BusName\" value=\":1.5\"/></interface></node>",
          "interface org.test.T: org.ingester.BusName ':1.5' is not a well-known bus name" },
        { "<node name=\"/t\"><interface name=\"org.ingester.Ingester1\"/></node>",
          "interface org.ingester.Ingester1: the org.ingester namespace is the daemon's own" },
        /* types GLib has and the bus does not take */
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaas\"/>")),
          "signal A, arg x: type aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaas is not a D-Bus type: arrays nest "
          "deeper than 32" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"ms\"/>")),
          "signal A, arg x: type ms is not a D-Bus type: a type code D-Bus does not have" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"u\"/><arg name=\"y\" type=\"u\">"
                             "<annotation name=\"org.ingester.Member\" value=\"x\"/></arg>")),
          "signal A, arg y: takes the member 'x', which arg x takes already" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"u\"/><arg name=\"y\" type=\"u\">"
                             "<annotation name=\"org.ingester.Member\" value=\"x\"/>"
                             "<annotation name=\"org.ingester.Default\" value=\"0\"/></arg>")),
          "signal A, arg y: takes the member 'x', which arg x takes already" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"g\"><annotation name=\"org.ingester.Default\" "
                             "value=\"'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaay'\"/></arg>")),
          "signal A, arg x: org.ingester.Default \"'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaay'\" is not a "
          "D-Bus value: arrays nest deeper than 32" },
        { NODE(SIG("A", "a", "<arg name=\"x\" type=\"v\"><annotation name=\"org.ingester.Default\" "
                             "value=\"&lt;@ms 'x'&gt;\"/></arg>")),
          "signal A, arg x: org.ingester.Default \"<@ms 'x'>\" is not a D-Bus value: a type code "
          "D-Bus does not have" },
};

static void check_bad_schema(const BadSchema *b)
{
        g_autofree char *path = write_temp("bad.xml", b->xml);
        g_autofree char *want = g_strdup_printf("%s: ", path);
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        char *paths[] = { path, NULL };
        Schemas s;
        bool found = false;

        schemas_init(&s);
        CU_ASSERT_FALSE(schemas_load(&s, paths, errors));
        for (guint i = 0; i < errors->len; i++) {
                const char *e = errors->pdata[i];
                printf("# %s\n", e);
                found = found || (g_str_has_prefix(e, want) && strstr(e, b->want));
        }
        CU_ASSERT_TRUE(found);
        schemas_deinit(&s);
        remove_temp(path);
}

#define BAD(n)                                                                                     \
        static void test_bad_schema_##n(void)                                                     \
        {                                                                                          \
                check_bad_schema(&bad_schemas[n]);                                                \
        }
BAD(0) BAD(1) BAD(2) BAD(3) BAD(4) BAD(5) BAD(6) BAD(7) BAD(8) BAD(9) BAD(10) BAD(11) BAD(12)
BAD(13) BAD(14) BAD(15) BAD(16) BAD(17) BAD(18) BAD(19) BAD(20) BAD(21) BAD(22)
#undef BAD
G_STATIC_ASSERT(G_N_ELEMENTS(bad_schemas) == 23);

/* Generated: a signal of 300 args (its signature passes 255 characters), a
 * default of 70 nested variants (past 64 containers). */
static void test_signature_of_300_args(void)
{
        g_autoptr(GString) args = g_string_new(NULL);
        g_autofree char *sig = NULL, *xml = NULL;

        for (unsigned i = 0; i < 300; i++)
                g_string_append_printf(args, "<arg name=\"a%u\" type=\"s\"/>", i);
        sig = g_strdup_printf(SIG("A", "a", "%s"), args->str);
        xml = g_strdup_printf(NODE("%s"), sig);
        check_bad_schema(&(BadSchema){ xml, "signal A: the signature of its 300 args is not one "
                                            "D-Bus takes: longer than 255 characters" });
}

/* At the bus's limits, not past them: 32 nested arrays, a 255-character signature. */
static void test_signatures_at_the_limits_load(void)
{
        g_autoptr(GString) args = g_string_new(NULL);
        g_autofree char *arrays = g_strnfill(32, 'a'), *sig = NULL, *xml = NULL, *path = NULL;
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        char *paths[2] = { NULL, NULL };
        Schemas s;

        g_string_append_printf(args, "<arg name=\"deep\" type=\"%ss\"/>", arrays);
        for (unsigned i = 0; i < 255 - 33; i++)
                g_string_append_printf(args, "<arg name=\"a%u\" type=\"s\"/>", i);
        sig = g_strdup_printf(SIG("A", "a", "%s"), args->str);
        xml = g_strdup_printf(NODE("%s"), sig);
        path = write_temp("limits.xml", xml);
        paths[0] = path;
        schemas_init(&s);
        CU_ASSERT_TRUE(schemas_load(&s, paths, errors));
        for (guint i = 0; i < errors->len; i++)
                printf("# %s\n", (char *) errors->pdata[i]);
        CU_ASSERT_EQUAL(errors->len, 0);
        schemas_deinit(&s);
        remove_temp(path);
}

static void test_default_of_70_variants(void)
{
        g_autoptr(GString) v = g_string_new(NULL);
        g_autofree char *xml = NULL;

        for (unsigned i = 0; i < 69; i++)
                g_string_append(v, "&lt;");
        g_string_append(v, "1");
        for (unsigned i = 0; i < 69; i++)
                g_string_append(v, "&gt;");
        xml = g_strdup_printf(NODE(SIG("A", "a", "<arg name=\"x\" type=\"v\"><annotation "
                                                  "name=\"org.ingester.Default\" value=\"%s\"/></arg>")),
                              v->str);
        check_bad_schema(&(BadSchema){ xml, "is not a D-Bus value: containers nest deeper than 64" });
}

/* ---- end to end ---- */

static TestSuite suite; /* the suite's bus */
static TestFixture f;   /* this test's directory and daemon */

TESTSUITE_CALLBACKS(suite)
TESTSUITE_FIXTURE(suite, f)

/* ingesterd with argv (NULL-terminated) to completion: its status; *ret_err its stderr. */
static int run_daemon(const char *const *argv, char **ret_err)
{
        g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
                G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
        g_autoptr(GError) error = NULL;
        g_autoptr(GSubprocess) p = g_subprocess_launcher_spawnv(l, argv, &error);
        g_autofree char *err = NULL;

        g_assert_no_error(error);
        g_subprocess_communicate_utf8(p, NULL, NULL, NULL, &err, &error);
        g_assert_no_error(error);
        if (ret_err)
                *ret_err = g_steal_pointer(&err);
        return g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : 128;
}

/* --check-config: the example is valid (0); a bad file is 2, every error named. */
static void test_check_config(void)
{
        g_autofree char *example = example_path();
        g_autofree char *bad = write_temp("two-errors.xml",
                                          NODE(SIG("A", "a", "<arg name=\"x\" type=\"h\"/>")
                                                       SIG("B", "a", "")));
        g_autofree char *ok_arg = g_strdup_printf("--schema=%s", example);
        g_autofree char *bad_arg = g_strdup_printf("--schema=%s", bad);
        g_autofree char *err = NULL;

        CU_ASSERT_EQUAL(run_daemon((const char *const[]){ "ingesterd", "--check-config", ok_arg,
                                                           NULL },
                                   NULL),
                        0);
        CU_ASSERT_EQUAL(run_daemon((const char *const[]){ "ingesterd", "--check-config", bad_arg,
                                                           ok_arg, NULL },
                                   &err),
                        2);
        printf("# %s", err);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "signal A, arg x: an arg of type h needs"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "signal B: org.ingester.EventType 'a' is already"));
        remove_temp(bad);
}


typedef struct {
        char *container, *request_id, *dest, *domain;
        guint port, proto;
} Signal;

typedef struct {
        int count;
        Signal got[4];
} Blocked;

static void on_connection_blocked(TestShield1 *proxy, const char *container,
                                  const char *request_id, const char *dest, guint port,
                                  guint proto, const char *domain, gpointer user_data)
{
        Blocked *b = user_data;
        Signal *s;

        if (b->count >= (int) G_N_ELEMENTS(b->got)) {
                b->count++;
                return;
        }
        s = &b->got[b->count++];
        s->container = g_strdup(container);
        s->request_id = g_strdup(request_id);
        s->dest = g_strdup(dest);
        s->domain = g_strdup(domain);
        s->port = port;
        s->proto = proto;
}

static void blocked_clear(Blocked *b)
{
        for (int i = 0; i < MIN(b->count, (int) G_N_ELEMENTS(b->got)); i++) {
                g_free(b->got[i].container);
                g_free(b->got[i].request_id);
                g_free(b->got[i].dest);
                g_free(b->got[i].domain);
        }
}

/* A proxy for org.terok.Shield1 at its path, as a subscriber makes one. */
static TestShield1 *shield_proxy(GDBusConnection *c)
{
        g_autoptr(GError) error = NULL;
        TestShield1 *proxy = test_shield1_proxy_new_sync(c, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                                         "org.terok.Shield1", "/org/terok/Shield1",
                                                         NULL, &error);

        g_assert_no_error(error);
        return proxy;
}

static void wait_for(Blocked *b, int count, unsigned timeout_ms)
{
        gint64 end = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        while (b->count < count && g_get_monotonic_time() < end)
                g_main_context_iteration(NULL, FALSE) || (g_usleep(1000), TRUE);
}

/*
 * The seed deployment, end to end: a reader's line on a stream socket; a
 * subscriber generated from the example by gdbus-codegen gets
 * ConnectionBlocked with exactly those values, from the owner of
 * org.terok.Shield1, at /org/terok/Shield1. A line that does not fit is
 * refused as schema-mismatch, logged with its signal and arg, and goes out
 * as nothing (no typed signal, and no Event, typed-also-event being off).
 */
static void test_shield1_from_a_stream_to_a_codegen_subscriber(void)
{
        g_autofree char *example = example_path();
        g_autofree char *schema_arg = g_strdup_printf("--schema=%s", example);
        g_autofree char *stream = NULL, *listen = NULL, *owner = NULL;
        g_autoptr(GDBusConnection) c = NULL;
        TestShield1 *proxy = NULL;
        g_autoptr(GError) error = NULL;
        Blocked b = { 0 };
        const char *lines = "{\"type\":\"pending\",\"container\":\"web\",\"id\":\"r1\",\"dest\":"
                            "\"1.2.3.4\",\"port\":443,\"proto\":6}\n"
                            "{\"type\":\"pending\",\"container\":\"web\",\"id\":\"r2\",\"dest\":"
                            "\"1.2.3.4\",\"port\":70000000000,\"proto\":6}\n"
                            "{\"type\":\"pending\",\"container\":\"db\",\"id\":\"r3\",\"dest\":"
                            "\"::1\",\"port\":0,\"proto\":17,\"domain\":\"example.org\","
                            "\"extra\":true}\n";
        int fd;

        stream = g_build_filename(f.dir, "run", "shield.sock", NULL);
        listen = g_strdup_printf("--listen=stream:%s", stream);
        f.d = testdaemon_start(&suite.bus, f.dir, (const char *const[]){ schema_arg, listen, NULL }, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        c = testbus_connect(&suite.bus);
        proxy = shield_proxy(c);
        owner = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(proxy));
        CU_ASSERT_PTR_NOT_NULL_FATAL(owner); /* ingesterd owns the schema's name */
        g_signal_connect(proxy, "connection-blocked", G_CALLBACK(on_connection_blocked), &b);

        fd = stream_connect(stream);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        CU_ASSERT_EQUAL(write(fd, lines, strlen(lines)), (ssize_t) strlen(lines));
        wait_for(&b, 2, 5000);
        wait_for(&b, 3, 200); /* a third would be r2, which must not come */
        CU_ASSERT_EQUAL_FATAL(b.count, 2); /* r2 did not fit */
        CU_ASSERT_STRING_EQUAL(b.got[0].container, "web");
        CU_ASSERT_STRING_EQUAL(b.got[0].request_id, "r1");
        CU_ASSERT_STRING_EQUAL(b.got[0].dest, "1.2.3.4");
        CU_ASSERT_EQUAL(b.got[0].port, 443);
        CU_ASSERT_EQUAL(b.got[0].proto, 6);
        CU_ASSERT_STRING_EQUAL(b.got[0].domain, ""); /* its default */
        CU_ASSERT_STRING_EQUAL(b.got[1].container, "db");
        CU_ASSERT_STRING_EQUAL(b.got[1].request_id, "r3");
        CU_ASSERT_STRING_EQUAL(b.got[1].dest, "::1");
        CU_ASSERT_EQUAL(b.got[1].port, 0);
        CU_ASSERT_EQUAL(b.got[1].proto, 17);
        CU_ASSERT_STRING_EQUAL(b.got[1].domain, "example.org");
        /* the GDBusProxy only passes signals from its name's owner, at its path: that it
         * passed them says the sender and the path were right; and the owner is ingesterd */
        {
                g_autofree char *now = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(proxy));
                CU_ASSERT_STRING_EQUAL(owner, now ? now : "");
        }

        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected:schema-mismatch"), 1);
        CU_ASSERT_TRUE(testdaemon_count_in_log(
                               f.d, "schema-mismatch: a \"pending\" event for "
                                  "org.terok.Shield1.ConnectionBlocked: arg port out of range") == 1);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "emitted", 2), 2);
        {
                g_autoptr(GDBusMessage) m = testdaemon_next_event(f.d, 200);
                CU_ASSERT_PTR_NULL(m); /* no generic Event for typed ones */
        }
        /* exported: introspection shows the interface, its signals and its method */
        {
                g_autoptr(GVariant) xml = g_dbus_connection_call_sync(
                        c, "org.terok.Shield1", "/org/terok/Shield1",
                        "org.freedesktop.DBus.Introspectable", "Introspect", NULL,
                        G_VARIANT_TYPE("(s)"), 0, 5000, NULL, NULL);
                const char *text = "";
                CU_ASSERT_PTR_NOT_NULL_FATAL(xml);
                g_variant_get(xml, "(&s)", &text);
                CU_ASSERT_PTR_NOT_NULL(strstr(text, "<interface name=\"org.terok.Shield1\">"));
                CU_ASSERT_PTR_NOT_NULL(strstr(text, "<signal name=\"ShieldDownAll\">"));
                CU_ASSERT_PTR_NOT_NULL(strstr(text, "<method name=\"Verdict\">"));
        }
        /* the hub's method is declared, and answered with an error */
        CU_ASSERT_FALSE(test_shield1_call_verdict_sync(proxy, "r1", "allow", NULL, &error));
        CU_ASSERT_TRUE(error && g_dbus_error_is_remote_error(error));
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
        close(fd);
        blocked_clear(&b);
        g_object_unref(proxy);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

/*
 * Typed events read while the bus is away wait in the queue, and go out
 * only once the daemon owns the schema's name again on the new bus: a
 * proxy, which passes a signal only from its name's owner, gets them all.
 */
static void test_typed_signals_wait_for_the_name_after_a_bus_restart(void)
{
        g_autofree char *example = example_path();
        g_autofree char *schema_arg = g_strdup_printf("--schema=%s", example);
        g_autofree char *stream = g_build_filename(f.dir, "run", "shield.sock", NULL);
        g_autofree char *listen = g_strdup_printf("--listen=stream:%s", stream);
        g_autoptr(GDBusConnection) c = NULL;
        g_autoptr(GError) error = NULL;
        TestShield1 *proxy;
        Blocked b = { 0 };
        pid_t pid;
        int fd;

        f.d = testdaemon_start(&suite.bus, f.dir, (const char *const[]){ schema_arg, listen, NULL }, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        pid = (pid_t) atoi(g_subprocess_get_identifier(f.d->proc));
        fd = stream_connect(stream);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        testbus_stop(&suite.bus);
        CU_ASSERT_TRUE(testdaemon_wait_log(f.d, "lost the bus connection") > 0);
        for (int i = 0; i < 3; i++) {
                g_autofree char *line = g_strdup_printf(
                        "{\"type\":\"pending\",\"container\":\"c%d\",\"id\":\"r%d\","
                        "\"dest\":\"10.0.0.1\",\"port\":%d,\"proto\":6}\n",
                        i, i, 1000 + i);
                CU_ASSERT_EQUAL(write(fd, line, strlen(line)), (ssize_t) strlen(line));
        }
        g_usleep(200000); /* read into the queue; nothing can go out */
        kill(pid, SIGSTOP);
        CU_ASSERT_TRUE_FATAL(testbus_start(&suite.bus, suite.topdir));
        harness_unsubscribe(f.d->conn, f.d->sub_id, f.d->filter_id);
        f.d->conn = harness_subscribe(&suite.bus, f.d->events, &f.d->sub_id, &f.d->filter_id);
        c = testbus_connect(&suite.bus);
        proxy = shield_proxy(c);
        {
                g_autofree char *owner = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(proxy));
                CU_ASSERT_PTR_NULL(owner); /* not yet */
        }
        g_signal_connect(proxy, "connection-blocked", G_CALLBACK(on_connection_blocked), &b);
        kill(pid, SIGCONT);
        wait_for(&b, 3, 10000);
        CU_ASSERT_EQUAL_FATAL(b.count, 3);
        for (int i = 0; i < 3; i++) {
                g_autofree char *want = g_strdup_printf("r%d", i);
                CU_ASSERT_STRING_EQUAL(b.got[i].request_id, want);
                CU_ASSERT_EQUAL(b.got[i].port, 1000 + (guint) i);
        }
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
        close(fd);
        blocked_clear(&b);
        g_object_unref(proxy);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

/*
 * A typed event goes out as its signal, never batched, and with
 * typed-also-event=true as the generic form too: Event, or under
 * signal-form=batch an EventBatch of its own. An untyped event after it
 * takes the generic form alone.
 */
static void check_typed_form(const char *form, bool also)
{
        g_autofree char *example = example_path();
        g_autofree char *bus = g_strdup_printf("[bus]\nschemas=%s\ntyped-also-event=%s\n"
                                               "signal-form=%s\n",
                                               example, also ? "true" : "false", form);
        g_autofree char *arg = harness_config_arg(f.dir, bus);
        const char *member = strcmp(form, "batch") == 0 ? "EventBatch" : "Event";
        g_autoptr(GDBusConnection) c = NULL;
        const char *line = "{\"type\":\"container_exited\",\"container\":\"db\"}";
        const char *plain = "{\"type\":\"untyped\"}";
        TestShield1 *proxy;
        int exited = 0, fd;

        f.d = testdaemon_start(&suite.bus, f.dir, (const char *const[]){ arg, NULL }, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        c = testbus_connect(&suite.bus);
        proxy = shield_proxy(c);
        g_signal_connect_swapped(proxy, "container-exited", G_CALLBACK(g_atomic_int_inc), &exited);
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        CU_ASSERT_EQUAL(send_fd_packet(fd, line, strlen(line), NULL, 0), 0);
        CU_ASSERT_EQUAL(send_fd_packet(fd, plain, strlen(plain), NULL, 0), 0);
        for (int k = also ? 0 : 1; k < 2; k++) {
                g_autoptr(GDBusMessage) m = testdaemon_next_event(f.d, 5000);
                GVariant *body;
                g_autoptr(GVariant) ev = NULL;
                const char *type = NULL;

                CU_ASSERT_PTR_NOT_NULL_FATAL(m);
                CU_ASSERT_STRING_EQUAL(g_dbus_message_get_member(m), member);
                body = g_dbus_message_get_body(m);
                if (strcmp(member, "EventBatch") == 0) {
                        g_autoptr(GVariant) events = g_variant_get_child_value(body, 0);
                        CU_ASSERT_EQUAL_FATAL(g_variant_n_children(events), 1); /* its own */
                        ev = g_variant_get_child_value(events, 0);
                } else {
                        ev = g_variant_ref(body);
                }
                g_variant_get_child(ev, 0, "&s", &type);
                CU_ASSERT_STRING_EQUAL(type, k == 0 ? "container_exited" : "untyped");
        }
        for (int i = 0; i < 5000 && !g_atomic_int_get(&exited); i++)
                g_main_context_iteration(NULL, FALSE) || (g_usleep(1000), TRUE);
        CU_ASSERT_EQUAL(g_atomic_int_get(&exited), 1); /* and the typed one */
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "emitted", 2), 2);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "batches"),
                        strcmp(form, "batch") == 0 ? (also ? 2 : 1) : 0);
        CU_ASSERT_PTR_NULL(testdaemon_next_event(f.d, 200)); /* nothing else */
        close(fd);
        g_object_unref(proxy);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

static void test_typed_also_event(void)
{
        check_typed_form("event", true);
}

static void test_typed_never_batched(void)
{
        check_typed_form("batch", false);
        g_clear_pointer(&f.d, testdaemon_free);
        check_typed_form("batch", true);
}

/* The schema's bus name taken: exit 3 naming it; --replace takes it. */
static void test_schema_bus_name_taken_then_replaced(void)
{
        g_autofree char *example = example_path();
        g_autofree char *schema_arg = g_strdup_printf("--schema=%s", example);
        g_autofree char *addr = g_strdup_printf("--address=%s", suite.bus.address);
        g_autofree char *listen = g_strdup_printf("--listen=stream:%s/run/s.sock", f.dir);
        g_autoptr(GDBusConnection) hub = testbus_connect(&suite.bus);
        g_autofree char *err = NULL;
        g_autoptr(GVariant) r = g_dbus_connection_call_sync(
                hub, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                "RequestName", g_variant_new("(su)", "org.terok.Shield1", 0x1 /* allow replacement */),
                G_VARIANT_TYPE("(u)"), 0, -1, NULL, NULL);
        guint32 reply = 0;

        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        g_variant_get(r, "(u)", &reply);
        CU_ASSERT_EQUAL(reply, 1); /* primary owner: the old hub */
        CU_ASSERT_EQUAL(run_daemon((const char *const[]){ "ingesterd", addr, schema_arg, listen,
                                                           NULL },
                                   &err),
                        3);
        printf("# %s", err);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "org.terok.Shield1 is owned by another connection"));
        f.d = testdaemon_start(&suite.bus, f.dir,
                             (const char *const[]){ schema_arg, listen, "--replace", NULL }, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        /* The daemon's own name comes first; the schema's follows a moment later. */
        CU_ASSERT_EQUAL(testdaemon_wait_log(f.d, "owning org.terok.Shield1"), 1);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

int main(void)
{
        static const TapTest conversion_tests[] = {
                TAP_TEST(u_at_its_boundaries),
                TAP_TEST(integers_at_their_boundaries),
                TAP_TEST(strings_paths_signatures),
                TAP_TEST(arrays_dicts_and_variants),
                TAP_TEST(required_default_null_and_extra_members),
                TAP_TEST(meta_and_fd_args),
                { NULL, NULL },
        };
        static const TapTest error_tests[] = {
                { "not_xml", test_bad_schema_0 },
                { "node_without_a_path", test_bad_schema_1 },
                { "node_path_not_an_object_path", test_bad_schema_2 },
                { "unknown_annotation_on_an_interface", test_bad_schema_3 },
                { "arg_annotation_on_a_signal", test_bad_schema_4 },
                { "unknown_annotation_on_an_arg", test_bad_schema_5 },
                { "one_event_type_on_two_signals", test_bad_schema_6 },
                { "default_not_of_the_arg_type", test_bad_schema_7 },
                { "fd_on_an_arg_not_h", test_bad_schema_8 },
                { "h_without_fd", test_bad_schema_9 },
                { "struct_arg", test_bad_schema_10 },
                { "dict_with_non_string_keys", test_bad_schema_11 },
                { "unknown_meta_key", test_bad_schema_12 },
                { "meta_of_another_type", test_bad_schema_13 },
                { "fd_index_out_of_range", test_bad_schema_14 },
                { "bus_name_not_well_known", test_bad_schema_15 },
                { "the_daemons_own_namespace", test_bad_schema_16 },
                { "arg_type_of_33_nested_arrays", test_bad_schema_17 },
                { "arg_of_a_maybe_type", test_bad_schema_18 },
                { "two_args_from_one_member", test_bad_schema_19 },
                { "two_args_from_one_member_one_with_a_default", test_bad_schema_20 },
                { "default_signature_the_bus_refuses", test_bad_schema_21 },
                { "default_variant_of_a_maybe_type", test_bad_schema_22 },
                TAP_TEST(signature_of_300_args),
                TAP_TEST(default_of_70_variants),
                TAP_TEST(signatures_at_the_limits_load),
                { NULL, NULL },
        };
        static const TapTest bus_tests[] = {
                TAP_TEST(check_config),
                TAP_TEST(shield1_from_a_stream_to_a_codegen_subscriber),
                TAP_TEST(schema_bus_name_taken_then_replaced),
                TAP_TEST(typed_also_event),
                TAP_TEST(typed_never_batched),
                TAP_TEST(typed_signals_wait_for_the_name_after_a_bus_restart),
                { NULL, NULL },
        };
        tap_add_suite("conversions", conversions_init, conversions_cleanup, conversion_tests);
        tap_add_suite("schema-errors", NULL, NULL, error_tests);
        tap_add_suite_full("typed", suite_init, suite_cleanup, setup, teardown, bus_tests);
        return tap_run();
}

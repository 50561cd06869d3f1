/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* schema.c — typed signals from introspection XML (see schema.h). */
#include <string.h>

#include "config.h"
#include "dbusrules.h"
#include "schema.h"

#define ANNOTATION_PREFIX "org.ingester."

typedef enum {
        ARG_MEMBER, /* from the event's data */
        ARG_META,   /* from the kernel's word and the daemon's numbering */
        ARG_FD,     /* h: one descriptor */
        ARG_FDS,    /* ah: all of them */
} ArgSource;

typedef enum {
        META_PID,
        META_UID,
        META_GID,
        META_SEQ,
        META_RECEIVED_USEC,
        META_TRANSPORT,
        META_CODEC,
} MetaKey;

static const struct {
        const char *name;
        const char *type;
} meta_keys[] = {
        [META_PID] = { "pid", "i" },
        [META_UID] = { "uid", "u" },
        [META_GID] = { "gid", "u" },
        [META_SEQ] = { "seq", "t" },
        [META_RECEIVED_USEC] = { "received-usec", "x" },
        [META_TRANSPORT] = { "transport", "s" },
        [META_CODEC] = { "codec", "s" },
};

/*
 * For the relay's quarantine test only (tests/test-poison.c): with
 * INGESTER_TEST_UNCHECKED_SIGNATURES set, a g value GLib accepts is not
 * checked against D-Bus's rules, so a message the bus refuses gets through
 * to the relay. Read once, at load, and logged as a warning.
 */
static bool unchecked_signatures;

typedef struct {
        char *name;
        GVariantType *type;
        ArgSource source;
        char *member; /* ARG_MEMBER */
        GVariant *def; /* ARG_MEMBER: used when the member is absent; NULL: required */
        MetaKey meta;
        unsigned fd;
} SchemaArg;

struct SchemaSignal {
        char *event_type;
        char *path, *iface, *name;
        char *file;
        SchemaArg *args;
        unsigned n_args;
};

static void signal_free(SchemaSignal *sig)
{
        for (unsigned i = 0; i < sig->n_args; i++) {
                SchemaArg *a = &sig->args[i];
                g_free(a->name);
                g_free(a->member);
                g_clear_pointer(&a->type, g_variant_type_free);
                g_clear_pointer(&a->def, g_variant_unref);
        }
        g_free(sig->args);
        g_free(sig->event_type);
        g_free(sig->path);
        g_free(sig->iface);
        g_free(sig->name);
        g_free(sig->file);
        g_free(sig);
}

void schemas_init(Schemas *s)
{
        s->signals = g_ptr_array_new_with_free_func((GDestroyNotify) signal_free);
        s->by_type = g_hash_table_new(g_str_hash, g_str_equal);
        s->nodes = g_ptr_array_new_with_free_func((GDestroyNotify) g_dbus_node_info_unref);
        s->bus_names = g_ptr_array_new_with_free_func(g_free);
}

void schemas_deinit(Schemas *s)
{
        g_clear_pointer(&s->by_type, g_hash_table_unref);
        g_clear_pointer(&s->signals, g_ptr_array_unref);
        g_clear_pointer(&s->nodes, g_ptr_array_unref);
        g_clear_pointer(&s->bus_names, g_ptr_array_unref);
}

const SchemaSignal *schemas_lookup(const Schemas *s, const char *type)
{
        return s->by_type ? g_hash_table_lookup(s->by_type, type) : NULL;
}

const char *schema_signal_path(const SchemaSignal *sig)
{
        return sig->path;
}

const char *schema_signal_interface(const SchemaSignal *sig)
{
        return sig->iface;
}

const char *schema_signal_name(const SchemaSignal *sig)
{
        return sig->name;
}

/* ---- loading ---- */

typedef struct {
        GPtrArray *errors;
        const char *file;
        const char *iface, *signal, *arg;
        bool failed;
} Where;

static void fail(Where *w, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void fail(Where *w, const char *fmt, ...)
{
        g_autoptr(GString) msg = g_string_new(w->file);
        va_list ap;

        if (w->iface)
                g_string_append_printf(msg, ": interface %s", w->iface);
        if (w->signal)
                g_string_append_printf(msg, ", signal %s", w->signal);
        if (w->arg)
                g_string_append_printf(msg, ", arg %s", w->arg);
        g_string_append(msg, ": ");
        va_start(ap, fmt);
        g_string_append_vprintf(msg, fmt, ap);
        va_end(ap);
        g_ptr_array_add(w->errors, g_string_free(g_steal_pointer(&msg), FALSE));
        w->failed = true;
}

/*
 * The arg types a decoded event can fill: basic types, arrays of them,
 * dictionaries with string keys, variants. h only where org.ingester.Fd (or
 * ah) says which descriptors.
 */
static bool type_supported(const GVariantType *t, bool top)
{
        if (g_variant_type_is_basic(t))
                return !g_variant_type_equal(t, G_VARIANT_TYPE_HANDLE) || top;
        if (g_variant_type_is_variant(t))
                return true;
        if (g_variant_type_is_array(t)) {
                const GVariantType *e = g_variant_type_element(t);
                if (g_variant_type_is_dict_entry(e))
                        return g_variant_type_equal(g_variant_type_key(e), G_VARIANT_TYPE_STRING) &&
                               type_supported(g_variant_type_value(e), false);
                if (top && g_variant_type_equal(e, G_VARIANT_TYPE_HANDLE))
                        return true; /* ah: the event's descriptors */
                return type_supported(e, false);
        }
        return false; /* structs, maybe types */
}

static const char *annotation(GDBusAnnotationInfo **annotations, const char *name)
{
        return g_dbus_annotation_info_lookup(annotations, name);
}

/* Every org.ingester.* annotation here must be one of allowed (NULL-terminated). */
static void check_annotations(Where *w, GDBusAnnotationInfo **annotations,
                              const char *const *allowed, const char *on)
{
        for (GDBusAnnotationInfo **a = annotations; a && *a; a++) {
                g_autofree char *known = NULL;
                bool ok = false;
                if (!g_str_has_prefix((*a)->key, ANNOTATION_PREFIX))
                        continue;
                for (const char *const *k = allowed; *k; k++)
                        ok = ok || strcmp((*a)->key, *k) == 0;
                if (ok)
                        continue;
                known = g_strjoinv(", ", (char **) allowed);
                fail(w, "unknown annotation %s on %s (known there: %s)", (*a)->key, on, known);
        }
}

static void load_arg(Where *w, GDBusArgInfo *info, SchemaArg *a)
{
        static const char *const allowed[] = { "org.ingester.Member", "org.ingester.Default",
                                                "org.ingester.Meta", "org.ingester.Fd", NULL };
        const char *member = annotation(info->annotations, "org.ingester.Member");
        const char *def = annotation(info->annotations, "org.ingester.Default");
        const char *meta = annotation(info->annotations, "org.ingester.Meta");
        const char *fd = annotation(info->annotations, "org.ingester.Fd");
        const char *why;

        w->arg = info->name;
        a->name = g_strdup(info->name);
        check_annotations(w, info->annotations, allowed, "an arg");
        if (!g_variant_type_string_is_valid(info->signature)) {
                fail(w, "'%s' is not a D-Bus type", info->signature);
                return;
        }
        if (!dbusrules_signature_valid(info->signature, &why)) {
                fail(w, "type %s is not a D-Bus type: %s", info->signature, why);
                return;
        }
        a->type = g_variant_type_new(info->signature);
        if (!g_variant_type_is_definite(a->type) || !type_supported(a->type, true)) {
                fail(w, "type %s cannot be filled from an event (basic types, arrays, "
                        "a{sT} dictionaries and v are; h and ah only with descriptors)",
                     info->signature);
                return;
        }
        if ((meta != NULL) + (fd != NULL) > 1 || ((meta || fd) && (member || def))) {
                fail(w, "org.ingester.Meta and org.ingester.Fd stand alone: no Member or "
                        "Default with them, nor each other");
                return;
        }
        if (meta) {
                a->source = ARG_META;
                for (a->meta = META_PID; a->meta <= META_CODEC; a->meta++)
                        if (strcmp(meta, meta_keys[a->meta].name) == 0)
                                break;
                if (a->meta > META_CODEC)
                        fail(w, "org.ingester.Meta '%s' is none of pid, uid, gid, seq, "
                                "received-usec, transport, codec",
                             meta);
                else if (strcmp(info->signature, meta_keys[a->meta].type) != 0)
                        fail(w, "org.ingester.Meta '%s' is of type %s, the arg of type %s", meta,
                             meta_keys[a->meta].type, info->signature);
                return;
        }
        if (fd) {
                guint64 index;
                a->source = ARG_FD;
                if (strcmp(info->signature, "h") != 0)
                        fail(w, "org.ingester.Fd is for an arg of type h, not %s",
                             info->signature);
                else if (!g_ascii_string_to_unsigned(fd, 10, 0, CONFIG_MAX_FDS_CEILING - 1, &index,
                                                     NULL))
                        fail(w, "org.ingester.Fd '%s' is not a descriptor index (0 to %u)", fd,
                             CONFIG_MAX_FDS_CEILING - 1);
                else
                        a->fd = (unsigned) index;
                return;
        }
        if (strcmp(info->signature, "h") == 0) {
                fail(w, "an arg of type h needs org.ingester.Fd, the index of the event's "
                        "descriptor");
                return;
        }
        if (strcmp(info->signature, "ah") == 0) {
                a->source = ARG_FDS;
                return;
        }
        a->source = ARG_MEMBER;
        a->member = g_strdup(member ? member : info->name);
        if (def) {
                g_autoptr(GError) error = NULL;
                /* g_variant_parse() returns a reference of our own, not a floating one */
                a->def = g_variant_parse(a->type, def, NULL, NULL, &error);
                if (!a->def)
                        fail(w, "org.ingester.Default \"%s\" is not a %s: %s", def,
                             info->signature, error->message);
                else if (!dbusrules_value_valid(a->def, 0, &why))
                        fail(w, "org.ingester.Default \"%s\" is not a D-Bus value: %s", def, why);
        }
}

/*
 * What holds for the signal as a whole: its signature (the args' types
 * together) is one the bus takes, 255 characters at most; no two args take
 * the same member (the first would take it and the second would never be
 * filled, or be filled from its default only).
 */
static void check_signal(Where *w, const SchemaSignal *sig)
{
        g_autoptr(GString) signature = g_string_new(NULL);
        const char *why;

        for (unsigned i = 0; i < sig->n_args; i++) {
                const SchemaArg *a = &sig->args[i];
                if (a->type)
                        g_string_append(signature, g_variant_type_peek_string(a->type));
                for (unsigned j = 0; a->source == ARG_MEMBER && a->member && j < i; j++)
                        if (sig->args[j].source == ARG_MEMBER && sig->args[j].member &&
                            strcmp(sig->args[j].member, a->member) == 0) {
                                w->arg = a->name;
                                fail(w, "takes the member '%s', which arg %s takes already "
                                        "(each member fills one arg)",
                                     a->member, sig->args[j].name);
                        }
        }
        w->arg = NULL;
        if (!dbusrules_signature_valid(signature->str, &why))
                fail(w, "the signature of its %u args is not one D-Bus takes: %s", sig->n_args,
                     why);
}

static void load_signal(Schemas *s, Where *w, const char *path, const char *iface,
                        GDBusSignalInfo *info)
{
        static const char *const allowed[] = { "org.ingester.EventType", NULL };
        const char *type = annotation(info->annotations, "org.ingester.EventType");
        SchemaSignal *sig, *other;
        unsigned n = 0;

        w->signal = info->name;
        check_annotations(w, info->annotations, allowed, "a signal");
        for (GDBusArgInfo **a = info->args; a && *a; a++)
                n++;
        sig = g_new0(SchemaSignal, 1);
        sig->args = g_new0(SchemaArg, MAX(n, 1));
        sig->n_args = n;
        sig->path = g_strdup(path);
        sig->iface = g_strdup(iface);
        sig->name = g_strdup(info->name);
        sig->file = g_strdup(w->file);
        for (unsigned i = 0; i < n; i++)
                load_arg(w, info->args[i], &sig->args[i]);
        check_signal(w, sig);
        w->arg = NULL;
        if (!type) {
                signal_free(sig); /* checked, never emitted */
                return;
        }
        if ((other = g_hash_table_lookup(s->by_type, type))) {
                fail(w, "org.ingester.EventType '%s' is already the type of %s.%s (%s)", type,
                     other->iface, other->name, other->file);
                signal_free(sig);
                return;
        }
        sig->event_type = g_strdup(type);
        g_ptr_array_add(s->signals, sig);
        g_hash_table_insert(s->by_type, sig->event_type, sig);
}

static void load_interface(Schemas *s, Where *w, const char *path, GDBusInterfaceInfo *info)
{
        static const char *const allowed[] = { "org.ingester.BusName", NULL };
        const char *name = annotation(info->annotations, "org.ingester.BusName");

        w->iface = info->name;
        w->signal = w->arg = NULL;
        check_annotations(w, info->annotations, allowed, "an interface");
        if (g_str_has_prefix(info->name, "org.ingester.") || strcmp(info->name, "org.ingester") == 0)
                fail(w, "the org.ingester namespace is the daemon's own");
        if (name) {
                bool seen = false;
                if (!g_dbus_is_name(name) || g_dbus_is_unique_name(name))
                        fail(w, "org.ingester.BusName '%s' is not a well-known bus name", name);
                for (guint i = 0; i < s->bus_names->len; i++)
                        seen = seen || strcmp(s->bus_names->pdata[i], name) == 0;
                if (!seen)
                        g_ptr_array_add(s->bus_names, g_strdup(name));
        }
        for (GDBusSignalInfo **sig = info->signals; sig && *sig; sig++)
                load_signal(s, w, path, info->name, *sig);
        /* methods and properties are allowed, and answered with an error (the daemon
         * does not serve them); their args are not the daemon's business */
        w->iface = w->signal = NULL;
}

/* The interfaces already exported at path, by another file. */
static GDBusInterfaceInfo *exported(Schemas *s, const char *path, const char *iface)
{
        for (guint i = 0; i < s->nodes->len; i++) {
                GDBusNodeInfo *n = s->nodes->pdata[i];
                if (strcmp(n->path, path) == 0 && g_dbus_node_info_lookup_interface(n, iface))
                        return g_dbus_node_info_lookup_interface(n, iface);
        }
        return NULL;
}

static void load_file(Schemas *s, const char *file, GPtrArray *errors, bool *ok)
{
        g_autofree char *text = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusNodeInfo) node = NULL;
        Where w = { .errors = errors, .file = file };

        if (!g_file_get_contents(file, &text, NULL, &error)) {
                fail(&w, "%s", error->message);
                *ok = false;
                return;
        }
        node = g_dbus_node_info_new_for_xml(text, &error);
        if (!node) {
                fail(&w, "not D-Bus introspection XML: %s", error->message);
                *ok = false;
                return;
        }
        if (!node->path || !g_variant_is_object_path(node->path)) {
                fail(&w, "the <node> needs name=\"/an/object/path\" (the signals' path), not %s",
                     node->path ? node->path : "none");
                *ok = false;
                return;
        }
        if (node->nodes && node->nodes[0])
                fail(&w, "nested <node> elements are not supported: one file, one object path");
        if (!node->interfaces || !node->interfaces[0])
                fail(&w, "no <interface> in it");
        for (GDBusInterfaceInfo **i = node->interfaces; i && *i; i++) {
                if (exported(s, node->path, (*i)->name)) {
                        w.iface = (*i)->name;
                        fail(&w, "another file already declares this interface at %s",
                             node->path);
                        w.iface = NULL;
                        continue;
                }
                load_interface(s, &w, node->path, *i);
        }
        if (w.failed)
                *ok = false;
        g_ptr_array_add(s->nodes, g_steal_pointer(&node));
}

static int compare_strings(gconstpointer a, gconstpointer b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

bool schemas_load(Schemas *s, char *const *paths, GPtrArray *errors)
{
        bool ok = true;

        unchecked_signatures = g_getenv("INGESTER_TEST_UNCHECKED_SIGNATURES") != NULL;
        if (unchecked_signatures && paths && *paths)
                g_warning("INGESTER_TEST_UNCHECKED_SIGNATURES is set: signature values are "
                          "checked against GLib's rules only (for tests of the relay's quarantine)");

        for (char *const *p = paths; p && *p; p++) {
                g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);

                if (g_file_test(*p, G_FILE_TEST_IS_DIR)) {
                        g_autoptr(GError) error = NULL;
                        g_autoptr(GDir) d = g_dir_open(*p, 0, &error);
                        const char *name;
                        if (!d) {
                                g_ptr_array_add(errors, g_strdup_printf("%s: %s", *p, error->message));
                                ok = false;
                                continue;
                        }
                        while ((name = g_dir_read_name(d)))
                                if (g_str_has_suffix(name, ".xml"))
                                        g_ptr_array_add(files, g_build_filename(*p, name, NULL));
                        g_ptr_array_sort(files, compare_strings);
                        if (files->len == 0) {
                                g_ptr_array_add(errors, g_strdup_printf("%s: no *.xml file in it", *p));
                                ok = false;
                        }
                } else {
                        g_ptr_array_add(files, g_strdup(*p));
                }
                for (guint i = 0; i < files->len; i++)
                        load_file(s, files->pdata[i], errors, &ok);
        }
        return ok;
}

/* ---- converting an event ---- */

/* The integer in v (x or t), widened; false when v is not one. */
static bool integer_of(GVariant *v, bool *neg, guint64 *mag, gint64 *sv)
{
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT64)) {
                *sv = g_variant_get_int64(v);
                *neg = *sv < 0;
                *mag = *neg ? (guint64) 0 - (guint64) *sv : (guint64) *sv;
                return true;
        }
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64)) {
                *mag = g_variant_get_uint64(v);
                *neg = false;
                *sv = *mag > G_MAXINT64 ? G_MAXINT64 : (gint64) *mag;
                return true;
        }
        return false;
}

/* One converted element (x, a new reference, or NULL: the conversion failed)
 * into the container being built: a dict entry under key, else an item.
 * On failure the builder is cleared. */
static bool add_converted(GVariantBuilder *b, bool build, const char *key, GVariant *x)
{
        if (!x) {
                if (build)
                        g_variant_builder_clear(b);
                return false;
        }
        if (build && key)
                g_variant_builder_add(b, "{s@*}", key, x);
        else if (build)
                g_variant_builder_add_value(b, x);
        g_variant_unref(x);
        return true;
}

/*
 * v (a decoded value: a{sv}, av, s, x, t, d, b, ay) as type t: a new
 * reference (never floating), or NULL with *why. build false: only the
 * check (the result is then a reference to a marker).
 */
/*
 * No depth check is needed here: a typed arg's containers follow the
 * value's own (an array for an array, a dictionary for an object) and the
 * generic Event wraps every level in a variant besides, so a typed body
 * nests no deeper than the generic one, which the codec's depth ceiling
 * keeps within the bus's 64 (codec.h). Defaults are checked at load.
 */
static GVariant *convert(GVariant *v, const GVariantType *t, bool build, const char **why)
{
        static GVariant *ok_marker;
        const char c = *(const char *) t;
        bool neg;
        guint64 mag;
        gint64 sv;

        if (!ok_marker)
                ok_marker = g_variant_ref_sink(g_variant_new_boolean(TRUE));
#define OK(expr) return build ? g_variant_ref_sink(expr) : g_variant_ref(ok_marker)
        switch (c) {
        case 'y':
        case 'n':
        case 'q':
        case 'i':
        case 'u':
        case 'x':
        case 't': {
                static const struct {
                        char c;
                        gint64 min;
                        guint64 max;
                        const char *why;
                } r[] = {
                        { 'y', 0, G_MAXUINT8, "out of range for y (0 to 255)" },
                        { 'n', G_MININT16, G_MAXINT16, "out of range for n (-32768 to 32767)" },
                        { 'q', 0, G_MAXUINT16, "out of range for q (0 to 65535)" },
                        { 'i', G_MININT32, G_MAXINT32, "out of range for i (32 bits, signed)" },
                        { 'u', 0, G_MAXUINT32, "out of range for u (0 to 4294967295)" },
                        { 'x', G_MININT64, G_MAXINT64, "out of range for x (64 bits, signed)" },
                        { 't', 0, G_MAXUINT64, "out of range for t (0 to 2^64-1)" },
                };
                unsigned k = 0;
                while (r[k].c != c)
                        k++;
                if (!integer_of(v, &neg, &mag, &sv)) {
                        *why = "expects an integer";
                        return NULL;
                }
                if (neg ? (r[k].min == 0 || mag > (guint64) 0 - (guint64) r[k].min) : mag > r[k].max) {
                        *why = r[k].why;
                        return NULL;
                }
                switch (c) {
                case 'y':
                        OK(g_variant_new_byte((guchar) mag));
                case 'n':
                        OK(g_variant_new_int16((gint16) sv));
                case 'q':
                        OK(g_variant_new_uint16((guint16) mag));
                case 'i':
                        OK(g_variant_new_int32((gint32) sv));
                case 'u':
                        OK(g_variant_new_uint32((guint32) mag));
                case 'x':
                        OK(g_variant_new_int64(sv));
                default:
                        OK(g_variant_new_uint64(mag));
                }
        }
        case 'd':
                if (g_variant_is_of_type(v, G_VARIANT_TYPE_DOUBLE))
                        OK(v);
                if (integer_of(v, &neg, &mag, &sv))
                        OK(g_variant_new_double(neg ? (double) sv : (double) mag));
                *why = "expects a number";
                return NULL;
        case 'b':
                if (g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN))
                        OK(v);
                *why = "expects true or false";
                return NULL;
        case 's':
        case 'o':
        case 'g': {
                const char *str;
                if (!g_variant_is_of_type(v, G_VARIANT_TYPE_STRING)) {
                        *why = "expects a string";
                        return NULL;
                }
                str = g_variant_get_string(v, NULL);
                if (c == 'o' && !g_variant_is_object_path(str)) {
                        *why = "is not a valid object path";
                        return NULL;
                }
                if (c == 'g' && !(g_variant_is_signature(str) &&
                                  (unchecked_signatures || dbusrules_signature_valid(str, NULL)))) {
                        *why = "is not a valid D-Bus signature";
                        return NULL;
                }
                if (c == 's')
                        OK(v);
                OK(c == 'o' ? g_variant_new_object_path(str) : g_variant_new_signature(str));
        }
        case 'v':
                OK(g_variant_new_variant(v));
        case 'a': {
                const GVariantType *e = g_variant_type_element(t);
                GVariantBuilder b;
                GVariantIter it;
                GVariant *item;

                if (g_variant_type_is_dict_entry(e)) {
                        const GVariantType *vt = g_variant_type_value(e);
                        const char *key;
                        if (!g_variant_is_of_type(v, G_VARIANT_TYPE_VARDICT)) {
                                *why = "expects an object";
                                return NULL;
                        }
                        if (g_variant_type_is_variant(vt))
                                OK(v); /* a{sv}: as decoded */
                        if (build)
                                g_variant_builder_init(&b, t);
                        g_variant_iter_init(&it, v);
                        while (g_variant_iter_next(&it, "{&sv}", &key, &item)) {
                                GVariant *x = convert(item, vt, build, why);
                                g_variant_unref(item);
                                if (!add_converted(&b, build, key, x))
                                        return NULL;
                        }
                        OK(g_variant_builder_end(&b));
                }
                if (g_variant_is_of_type(v, G_VARIANT_TYPE_BYTESTRING) &&
                    g_variant_type_equal(e, G_VARIANT_TYPE_BYTE))
                        OK(v); /* msgpack bin into ay */
                if (!g_variant_is_of_type(v, G_VARIANT_TYPE("av"))) {
                        *why = "expects an array";
                        return NULL;
                }
                if (build)
                        g_variant_builder_init(&b, t);
                g_variant_iter_init(&it, v);
                while ((item = g_variant_iter_next_value(&it))) {
                        GVariant *inner = g_variant_get_variant(item);
                        GVariant *x = convert(inner, e, build, why);
                        g_variant_unref(inner);
                        g_variant_unref(item);
                        if (!add_converted(&b, build, NULL, x))
                                return NULL;
                }
                OK(g_variant_builder_end(&b));
        }
        default:
                *why = "has a type the schema check refused";
                return NULL;
        }
#undef OK
}

static GVariant *meta_value(const SchemaArg *a, const Event *ev)
{
        switch (a->meta) {
        case META_PID:
                return g_variant_new_int32(ev->meta.pid);
        case META_UID:
                return g_variant_new_uint32(ev->meta.uid);
        case META_GID:
                return g_variant_new_uint32(ev->meta.gid);
        case META_SEQ:
                return g_variant_new_uint64(event_seq(ev));
        case META_RECEIVED_USEC:
                return g_variant_new_int64(ev->meta.received_usec);
        case META_TRANSPORT:
                return g_variant_new_string(transport_name(ev->meta.transport));
        case META_CODEC:
                break;
        }
        return g_variant_new_string(codec_format_name(ev->meta.codec));
}

/* An arg that does not come from the event's data: a new reference, or NULL with *why. */
static GVariant *other_value(const SchemaArg *a, const Event *ev, const char **why)
{
        switch (a->source) {
        case ARG_META:
                return g_variant_ref_sink(meta_value(a, ev));
        case ARG_FD:
                if (a->fd >= ev->n_fds) {
                        *why = "names a descriptor the event does not carry";
                        return NULL;
                }
                return g_variant_ref_sink(g_variant_new_handle((gint32) a->fd));
        case ARG_FDS: {
                gint32 h[BUS_MAX_MESSAGE_FDS];
                unsigned n = MIN(ev->n_fds, G_N_ELEMENTS(h));
                for (unsigned i = 0; i < n; i++)
                        h[i] = (gint32) i;
                return g_variant_ref_sink(
                        g_variant_new_fixed_array(G_VARIANT_TYPE_HANDLE, h, n, sizeof(gint32)));
        }
        case ARG_MEMBER:
                break;
        }
        g_assert_not_reached();
}

/*
 * The body, or NULL with the arg and what is wrong. One pass over the
 * event's members (a lookup per arg would walk the dictionary once each),
 * then each arg converted from its member, its default, or the daemon's
 * word. build false: the same checks, nothing built (*ret NULL).
 */
static bool build(const SchemaSignal *sig, const Event *ev, bool make, GVariant **ret,
                  const char **ret_arg, const char **ret_why)
{
        GVariant *stack[16], **c = sig->n_args <= G_N_ELEMENTS(stack)
                                           ? stack
                                           : g_new(GVariant *, sig->n_args);
        GVariantIter it;
        GVariant *value;
        const char *key;
        unsigned done = 0;
        bool ok = true;

        memset(c, 0, sizeof(GVariant *) * sig->n_args);
        /* the members the args name (the rest are ignored) */
        g_variant_iter_init(&it, ev->data);
        while (g_variant_iter_next(&it, "{&sv}", &key, &value)) {
                for (unsigned i = 0; i < sig->n_args; i++)
                        if (sig->args[i].source == ARG_MEMBER && !c[i] &&
                            strcmp(sig->args[i].member, key) == 0) {
                                c[i] = g_variant_ref(value);
                                break;
                        }
                g_variant_unref(value);
        }
        for (done = 0; done < sig->n_args && ok; done++) {
                const SchemaArg *a = &sig->args[done];
                const char *why = NULL;
                GVariant *x;

                if (a->source != ARG_MEMBER) {
                        x = other_value(a, ev, &why);
                } else if (!c[done]) {
                        x = a->def ? g_variant_ref(a->def) : NULL;
                        why = "is required, and the event has no such member";
                } else {
                        x = convert(c[done], a->type, make, &why);
                        g_variant_unref(c[done]);
                }
                c[done] = x;
                if (!x) {
                        *ret_arg = a->name;
                        *ret_why = why;
                        ok = false;
                }
        }
        if (ok && make)
                *ret = g_variant_ref_sink(g_variant_new_tuple(c, sig->n_args));
        for (unsigned i = 0; i < sig->n_args; i++)
                if (c[i])
                        g_variant_unref(c[i]);
        if (c != stack)
                g_free(c);
        return ok;
}

GVariant *schema_build(const SchemaSignal *sig, const Event *ev, const char **ret_arg,
                       const char **ret_why)
{
        GVariant *body = NULL;

        return build(sig, ev, true, &body, ret_arg, ret_why) ? body : NULL;
}

bool schema_check(const SchemaSignal *sig, const Event *ev, const char **ret_arg,
                  const char **ret_why)
{
        return build(sig, ev, false, NULL, ret_arg, ret_why);
}

GVariant *schema_body(const SchemaSignal *sig, const Event *ev)
{
        const char *arg, *why;
        GVariant *body = schema_build(sig, ev, &arg, &why);

        g_assert(body); /* schema_check() passed */
        return body;
}

bool schema_uses_seq(const SchemaSignal *sig)
{
        for (unsigned i = 0; i < sig->n_args; i++)
                if (sig->args[i].source == ARG_META && sig->args[i].meta == META_SEQ)
                        return true;
        return false;
}

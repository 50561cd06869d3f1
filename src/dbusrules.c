/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dbusrules.c — the bus's own validity rules (see dbusrules.h): D-Bus
 * signatures and the nesting depth of a value. No state, no allocation.
 */
#include <string.h>

#include "dbusrules.h"

static bool is_basic(char c)
{
        return c != '\0' && strchr("ybnqiuxtdhsog", c) != NULL;
}

/* One complete type at *p, within `arrays` arrays and `structs` structs. */
static bool complete_type(const char **p, unsigned arrays, unsigned structs, const char **why)
{
        char c = **p;

        if (is_basic(c) || c == 'v') {
                (*p)++;
                return true;
        }
        switch (c) {
        case 'a':
                if (arrays + 1 > DBUS_MAX_ARRAY_NESTING) {
                        *why = "arrays nest deeper than 32";
                        return false;
                }
                (*p)++;
                if (**p != '{')
                        return complete_type(p, arrays + 1, structs, why);
                if (structs + 1 > DBUS_MAX_STRUCT_NESTING) {
                        *why = "structs and dict entries nest deeper than 32";
                        return false;
                }
                (*p)++;
                if (!is_basic(**p)) {
                        *why = "a dict entry's key is not a basic type";
                        return false;
                }
                (*p)++;
                if (!complete_type(p, arrays + 1, structs + 1, why))
                        return false;
                if (**p != '}') {
                        *why = "a dict entry has more or less than a key and a value";
                        return false;
                }
                (*p)++;
                return true;
        case '(':
                if (structs + 1 > DBUS_MAX_STRUCT_NESTING) {
                        *why = "structs and dict entries nest deeper than 32";
                        return false;
                }
                (*p)++;
                if (**p == ')') {
                        *why = "an empty struct";
                        return false;
                }
                while (**p != ')') {
                        if (**p == '\0') {
                                *why = "a struct is not closed";
                                return false;
                        }
                        if (!complete_type(p, arrays, structs + 1, why))
                                return false;
                }
                (*p)++;
                return true;
        case '{':
                *why = "a dict entry outside an array";
                return false;
        case '}':
        case ')':
                *why = "a closing bracket without its opening one";
                return false;
        case '\0':
                *why = "a type is not complete";
                return false;
        default:
                *why = "a type code D-Bus does not have (maybe types and GLib's "
                       "indefinite types are GVariant's only)";
                return false;
        }
}

bool dbusrules_signature_valid(const char *sig, const char **ret_why)
{
        const char *why = NULL, *p = sig;

        if (strlen(sig) > DBUS_SIGNATURE_MAX_LENGTH) {
                why = "longer than 255 characters";
        } else {
                while (*p && complete_type(&p, 0, 0, &why))
                        ;
        }
        if (ret_why)
                *ret_why = why;
        return why == NULL;
}

bool dbusrules_value_valid(GVariant *v, unsigned depth, const char **why)
{
        const GVariantType *t = g_variant_get_type(v);
        GVariantIter it;
        GVariant *child;
        bool ok = true;

        if (g_variant_is_of_type(v, G_VARIANT_TYPE_SIGNATURE))
                return dbusrules_signature_valid(g_variant_get_string(v, NULL), why);
        if (g_variant_type_is_basic(t))
                return true;
        if (depth + 1 > DBUS_MAX_TOTAL_NESTING) {
                *why = "containers nest deeper than 64";
                return false;
        }
        if (g_variant_type_is_variant(t)) {
                g_autoptr(GVariant) inner = g_variant_get_variant(v);
                if (!dbusrules_signature_valid(g_variant_get_type_string(inner), why))
                        return false;
                return dbusrules_value_valid(inner, depth + 1, why);
        }
        if (g_variant_type_is_array(t) && g_variant_type_is_basic(g_variant_type_element(t)) &&
            !g_variant_type_equal(g_variant_type_element(t), G_VARIANT_TYPE_SIGNATURE))
                return true; /* as, ay, at...: nothing to look at in the elements */
        g_variant_iter_init(&it, v);
        while (ok && (child = g_variant_iter_next_value(&it))) {
                ok = dbusrules_value_valid(child, depth + 1, why);
                g_variant_unref(child);
        }
        return ok;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dbusrules.h — what the bus itself accepts, where GLib is more lenient.
 *
 * GLib's GVariant is a superset of D-Bus's type system: it takes
 * signatures with maybe types, 40 nested arrays or 256 characters, and
 * GDBus serialises them without complaint. A bus (dbus-daemon, dbus-broker)
 * validates every message it receives and disconnects a sender whose
 * message breaks the specification's limits ("Valid Signatures",
 * "Marshaling"). For a relay whose whole state is its bus connection, one
 * such message costs every event in flight, and sending it again after the
 * reconnect costs them again: whatever the daemon sends must pass these
 * checks first. Limits as in the specification and libdbus's
 * dbus-marshal-validate.c.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

/* The D-Bus specification's limits. */
#define DBUS_SIGNATURE_MAX_LENGTH 255u
#define DBUS_MAX_ARRAY_NESTING 32u  /* in one signature */
#define DBUS_MAX_STRUCT_NESTING 32u /* structs and dict entries, in one signature */
#define DBUS_MAX_TOTAL_NESTING 64u  /* containers in a message body, variants included */

/*
 * Whether sig is a valid D-Bus signature (zero or more complete types):
 * only D-Bus's type codes, at most 255 characters, arrays and structs each
 * nested at most 32 deep, no empty struct, dict entries only as an array's
 * element with a basic key. When it is not, *why (if not NULL) says why, a
 * static string.
 */
bool dbusrules_signature_valid(const char *sig, const char **why);

/*
 * Whether v's D-Bus form is one the bus takes, placed under `depth`
 * containers: its containers nest at most 64 deep in all (variants count),
 * every variant holds a type D-Bus has, every signature (g) is valid.
 * When it is not, *why says why (a static string).
 */
bool dbusrules_value_valid(GVariant *v, unsigned depth, const char **why);

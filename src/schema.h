/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * schema.h — typed signals: D-Bus introspection XML with org.ingester.*
 * annotations, turned into an emission plan (doc/protocol.md, section 7).
 *
 * A schema file is what gdbus-codegen and busctl read: a <node name="/path">
 * with interfaces, their signals and args. The annotations say which event
 * type becomes which signal and where each arg comes from:
 *
 *   org.ingester.BusName   (interface) a well-known name the daemon owns too
 *   org.ingester.EventType (signal)    events of this "type" go out as it
 *   org.ingester.Member    (arg)       the member that fills it (default: its name)
 *   org.ingester.Default   (arg)       a GVariant text literal for a missing member
 *   org.ingester.Meta      (arg)       pid, uid, gid, seq, received-usec, transport, codec
 *   org.ingester.Fd        (arg, h)    the event's descriptor at this index
 *
 * An `ah` arg without annotations carries all of the event's descriptors.
 * Everything is checked when the files are loaded; every problem is named
 * (file, interface, signal, arg, what), so --check-config can list them all.
 *
 * Pure: no I/O beyond reading the files, no bus.
 */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>

#include "event.h"

typedef struct SchemaSignal SchemaSignal;

typedef struct Schemas {
        GPtrArray *signals;   /* SchemaSignal* */
        GHashTable *by_type;  /* event type -> SchemaSignal* (borrowed) */
        GPtrArray *nodes;     /* GDBusNodeInfo*, one per file, for exporting */
        GPtrArray *bus_names; /* char*, each once */
} Schemas;
/* (config.h refers to it as struct Schemas) */

void schemas_init(Schemas *s);
void schemas_deinit(Schemas *s);

/*
 * Loads every path: a file, or a directory whose *.xml files are loaded in
 * name order. Each problem found is appended to errors (char*, freed by the
 * array); returns whether there was none. Loading goes on after an error,
 * so that all of them are reported at once.
 */
bool schemas_load(Schemas *s, char *const *paths, GPtrArray *errors);

/* The signal events of this type go out as, or NULL. */
const SchemaSignal *schemas_lookup(const Schemas *s, const char *type);

/* Its object path, interface and member, for the message and the log. */
const char *schema_signal_path(const SchemaSignal *sig);
const char *schema_signal_interface(const SchemaSignal *sig);
const char *schema_signal_name(const SchemaSignal *sig);

/*
 * Whether ev converts to the signal's args (the receive-time check). When
 * it does not, *ret_arg names the arg and *ret_why says what is wrong (both
 * static or owned by sig).
 */
bool schema_check(const SchemaSignal *sig, const Event *ev, const char **ret_arg,
                  const char **ret_why);

/* The signal's body for ev (which passed schema_check()), a new reference.
 * Its h values index the event's descriptors in order. */
GVariant *schema_body(const SchemaSignal *sig, const Event *ev);

/* schema_check() and schema_body() in one: the body, or NULL with the arg
 * and what is wrong. The listener builds it once, at receive. */
GVariant *schema_build(const SchemaSignal *sig, const Event *ev, const char **ret_arg,
                       const char **ret_why);

/* Whether an arg is Meta seq: such a body can only be built when the event
 * is picked (seq is given then, doc/protocol.md 5.1). */
bool schema_uses_seq(const SchemaSignal *sig);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * statsobj.h — the daemon's figures as the bus shows them: GetStats()'s
 * dictionary (doc/protocol.md, section 4.3) and the read-only properties of
 * org.ingester.Ingester1, and the vtable that serves them. Reads Stats and
 * the Queue, writes nothing; busconn.c exports the object.
 */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>

#include "queue.h"
#include "stats.h"

/* What the object reads: the counters, the queue, and whether the relay
 * sends events without their descriptors until a probe gets through (the
 * relay's flag, read when asked). */
typedef struct {
        const Stats *stats;
        const Queue *queue;
        const bool *fds_withheld;
} StatsObj;

/* The org.ingester.Ingester1 vtable: GetStats() and the properties; its
 * user_data is a StatsObj. Other methods answer UnknownMethod. */
extern const GDBusInterfaceVTable statsobj_vtable;

/* GetStats()'s a{sv}, floating. */
GVariant *statsobj_stats(const Stats *s, const Queue *q, bool fds_withheld);

/* A property's value, or NULL with G_DBUS_ERROR_UNKNOWN_PROPERTY. */
GVariant *statsobj_property(const Stats *s, const Queue *q, const char *prop, GError **error);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * statsobj.h — the daemon's figures as the bus shows them: GetStats()'s
 * dictionary (doc/protocol.md, section 4.3) and the read-only properties of
 * org.ingester.Ingester1. Reads Stats and the Queue, writes nothing; the
 * relay serves them.
 */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>

#include "queue.h"
#include "stats.h"

/* GetStats()'s a{sv}, floating. fds_withheld: the relay sends events without
 * their descriptors until a probe gets through. */
GVariant *statsobj_stats(const Stats *s, const Queue *q, bool fds_withheld);

/* A property's value, or NULL with G_DBUS_ERROR_UNKNOWN_PROPERTY. */
GVariant *statsobj_property(const Stats *s, const Queue *q, const char *prop, GError **error);

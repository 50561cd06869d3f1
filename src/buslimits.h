/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * buslimits.h — what the bus accepts, defined once: every limit derived
 * from the bus (the configuration's ceilings, the relay's cuts, busmsg's
 * size checks) names these, and none defines its own. Values of
 * dbus-daemon's defaults; dbus-broker enforces the same message limits.
 */
#pragma once

/*
 * dbus-daemon's default max_message_size: 32 MiB (bus/config-parser.c sets
 * limits.max_message_size = _DBUS_ONE_MEGABYTE * 32; Debian's system.conf
 * quotes it as 33554432). The session bus's configuration raises it, the
 * system bus keeps it, and a message over it gets its sender disconnected.
 */
#define BUS_MAX_MESSAGE_SIZE (32U * 1024U * 1024U)

/* dbus-daemon's default max_message_unix_fds: a message carrying more makes
 * the bus disconnect its sender. */
#define BUS_MAX_MESSAGE_FDS 16U

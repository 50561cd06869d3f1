/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * busmsg.h — the Event and EventBatch signals as D-Bus messages: the meta
 * dictionary, the bodies, whether an event fits under the bus's message
 * size ceiling, and what the copy GDBus keeps costs while it is written.
 *
 * Shared by the listener (which refuses, at receive time, an event the bus
 * would refuse: dbus-daemon disconnects the sender of an oversized message,
 * and the relay must never be the one thrown off) and the relay (which
 * sends it). No I/O.
 */
#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "buslimits.h"
#include "event.h"

/* Room kept under it for the header the bus sees: path, interface, member,
 * signature, the unix-fds count and the sender the bus adds (a unique name
 * of at most 255 bytes); each field is padded to 8. */
#define BUSMSG_HEADER_RESERVE 2048U
/* An EventBatch's body may take this much: the message ceiling less its
 * header. */
#define BUSMSG_BODY_CEILING (BUS_MAX_MESSAGE_SIZE - BUSMSG_HEADER_RESERVE)
/* What a batch of one adds to the same event's Event message: the member
 * name and signature, and the array's length word and padding. */
#define BUSMSG_BATCH_EXTRA 32U
/* What a message costs GDBus beyond its body while queued for writing:
 * the GDBusMessage, its header GVariants, the blob and its bookkeeping. */
#define BUSMSG_OVERHEAD 1024U

/* The signal `Event (s type, a{sv} data, a{sv} meta, ah fds)`; fds holds the
 * descriptors it carries (NULL: none), fds_dropped how many it goes without. */
GDBusMessage *busmsg_event(const char *object_path, const Event *ev, GUnixFDList *fds,
                           unsigned fds_dropped);

/* One element of an EventBatch: the event, and the handles it carries,
 * fd_base .. fd_base + n_fds - 1 in the message's descriptor list. */
typedef struct {
        const Event *ev;
        unsigned fd_base, n_fds;
        unsigned fds_dropped; /* meta fds-dropped */
} BusmsgItem;

/* The signal `EventBatch (a(sa{sv}a{sv}ah) events)`, in the items' order;
 * fds (NULL: none) is the descriptor list their handles index. */
GDBusMessage *busmsg_batch(const char *object_path, const BusmsgItem *items, size_t n,
                           GUnixFDList *fds);

/* A bound on what ev adds to an EventBatch's marshalled body: a batch is
 * cut before the sum passes BUSMSG_BODY_CEILING (a batch of one always
 * fits, see busmsg_fits()). */
size_t busmsg_batch_size(const Event *ev);

/* Whether ev's message, as Event or as a batch of one, stays under
 * BUS_MAX_MESSAGE_SIZE. Cheap for any
 * event whose serialised data is far below it; a large one is serialised
 * once to be measured exactly. */
bool busmsg_fits(const char *object_path, const Event *ev);

/* Bytes GDBus holds for ev's message until it is written (queue_mark_sent). */
size_t busmsg_cost(const Event *ev);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * peer.h — who may send: a listener's allow-lists, and the credentials
 * the kernel could not attribute. Rules of intake (intake.h) and of
 * accept (listener.c); no state, and no I/O but reading the kernel's
 * overflow ids once.
 */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>

#include "config.h"

/* The listener's allow-lists admit this uid or gid (or anyone, allow-uids=*). */
bool peer_allowed(const ListenSpec *spec, uid_t uid, gid_t gid);

/* Credentials that name nobody: pid 0 with the kernel's overflow uid and gid. */
bool peer_unattributed(const struct ucred *c);

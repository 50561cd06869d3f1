/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * peer.h — who sent a packet, and what came with it: the allow-lists, the
 * credentials the kernel could not attribute, a SEQPACKET hang-up told
 * from a zero-length packet, and the descriptors and credentials of a
 * message's control data. The listener's receive path; no state.
 */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>

#include "config.h"

/* The listener's allow-lists admit this uid or gid (or anyone, allow-uids=*). */
bool peer_allowed(const ListenSpec *spec, uid_t uid, gid_t gid);

/* Credentials that name nobody: pid 0 with the kernel's overflow uid and gid. */
bool peer_unattributed(const struct ucred *c);

/* A zero-length read on a SEQPACKET connection was the peer's hang-up (not
 * a zero-length packet). */
bool peer_seqpacket_hung_up(int fd);

/* Every fd of every SCM_RIGHTS message into fds (at most cap; the rest are
 * closed), and the SCM_CREDENTIALS if any. Returns how many fds. */
unsigned peer_collect_cmsgs(struct msghdr *msg, int *fds, unsigned cap, struct ucred *cred,
                            bool *has_cred);

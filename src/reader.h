/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reader.h — the next unit from a socket: a packet from a DGRAM socket or a
 * SEQPACKET connection, or a line from a stream connection. The socket I/O
 * of the receive path and nothing else: what a unit means is intake.h's,
 * which connection or socket to read next is listener.c's.
 *
 * Each reader answers "the next unit, or why not" and never blocks (every
 * call is MSG_DONTWAIT). Descriptors that arrive are the unit's (or, on a
 * stream, handed back as strays); the caller passes them on, and intake
 * closes or keeps them. No state of its own beyond the caller's LineBuf.
 */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>

#include "config.h"
#include "intake.h"
#include "linebuf.h"

typedef enum {
        READER_UNIT,   /* *u holds the next unit */
        READER_AGAIN,  /* nothing more now */
        READER_MORE,   /* stream: bytes were buffered, no complete line yet; call again */
        READER_LAST,   /* stream: *u is what was left at the hang-up; the peer is gone */
        READER_HANGUP, /* the connection's peer is gone */
        READER_FAILED, /* DGRAM: recv failed with errno (not EAGAIN); nothing consumed */
} ReaderResult;

/* Descriptors one recvmsg() can bring: SCM_MAX_FD in the kernel. */
#define READER_MAX_FDS CONFIG_SCM_MAX_FD

/*
 * The next packet of fd (a DGRAM socket, or a SEQPACKET connection when
 * `connected`), sized with MSG_PEEK|MSG_TRUNC first and read into buf
 * (max bytes): one over max is read with a zero-length buffer, so the kernel
 * discards it without our allocating its size (u->flaw then says so). u's
 * descriptors are stored in fds (READER_MAX_FDS).
 */
ReaderResult reader_packet(int fd, bool connected, char *buf, size_t max, int *fds,
                           IntakeUnit *u);

/*
 * The next line of a stream connection: buffered already, or read into
 * lines first (READER_MORE). Descriptors cannot be tied to a line on a
 * stream: any that came with the bytes are put in strays (READER_MAX_FDS)
 * and *ret_n_strays is set, with *ret_stray true also when the kernel
 * truncated them (MSG_CTRUNC); the bytes are read as usual. At the hang-up,
 * a line left without its newline (or inside one over the limit) is
 * READER_LAST.
 */
ReaderResult reader_stream(int fd, LineBuf *lines, IntakeUnit *u, int *strays,
                           unsigned *ret_n_strays, bool *ret_stray);

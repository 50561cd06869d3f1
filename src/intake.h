/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * intake.h — what turns one unit a sender put into a socket (a packet, or a
 * stream's line) into a queued Event or a counted refusal: the rules of the
 * receive path, with no socket in them (journald's cut between
 * manager_process_datagram() and manager_process_native_message()).
 *
 * A reader (listener.c: packets; reader.c: a stream's lines) hands over the
 * unit's bytes, the descriptors that came with it, the kernel's credentials
 * and what the reader already knows is wrong with it (IntakeFlaw). Intake
 * then applies the refusal order of doc/protocol.md 2, each step counted
 * under its reason and logged through Stats:
 *
 *   the "!ack" control; a flaw (fds-truncated, then too-large, or a line cut
 *   off at the hang-up); a large event's memfd (largefd.h); no credentials;
 *   the allow-lists (DGRAM: per packet; a connection was checked at
 *   accept); too many descriptors; the sender's rate limit; decoding; the
 *   bus's message ceiling; the event type's typed signal.
 *
 * An accepted event is queued in its sender's lane. Every descriptor is the
 * event's or closed, on every path. Acknowledgements are numbered here (one
 * number per attempt on an acknowledged source); writing the answers is the
 * listener's, so the verdict says what to answer.
 *
 * Never fails and never does socket I/O: the only descriptors it reads are
 * a large event's memfd.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "queue.h"
#include "stats.h"

struct Schemas; /* schema.h */

/* The text of the control unit that turns acknowledgements on (doc/protocol.md 1.7). */
#define INTAKE_ACK_CONTROL "!ack"

typedef struct {
        const Config *config;
        const struct Schemas *schemas; /* may be NULL: no typed signals */
        Queue *queue;
        Stats *stats;
} Intake;

void intake_init(Intake *in, const Config *config, const struct Schemas *schemas, Queue *queue,
                 Stats *stats);

/* Where units come from: a DGRAM socket, or one connection. */
typedef struct {
        const ListenSpec *spec; /* its listener: path, transport, codec, allow-lists */
        Lane *lane;             /* a connection's own lane; NULL on a DGRAM socket */
        struct ucred cred;      /* a connection's SO_PEERCRED, taken at accept */
        bool ack;               /* "!ack" came: every attempt is answered */
        uint64_t ack_next;      /* the number of the last attempt */
} IntakeSource;

/* Sets src up for a DGRAM socket (lane NULL), or a connection and its lane. */
void intake_source_init(IntakeSource *src, const ListenSpec *spec, Lane *lane,
                        const struct ucred *cred);

/* What the reader found wrong with a unit before intake sees its bytes. */
typedef enum {
        INTAKE_FLAW_NONE = 0,
        INTAKE_FLAW_CTRUNC,    /* MSG_CTRUNC: the kernel or an LSM withheld control data */
        INTAKE_FLAW_TOO_LARGE, /* over max-event-size: its bytes were not read */
        INTAKE_FLAW_PARTIAL,   /* a line cut off by the hang-up */
} IntakeFlaw;

typedef struct {
        const char *bytes; /* NULL when the flaw says they were not read */
        size_t len;
        int *fds; /* owned by the call from here on: the event's, or closed */
        unsigned n_fds;
        struct ucred cred; /* DGRAM: SCM_CREDENTIALS (when has_cred) */
        bool has_cred;
        IntakeFlaw flaw;
} IntakeUnit;

typedef enum {
        INTAKE_QUEUED,  /* an event was queued */
        INTAKE_BLOCKED, /* ... and its lane is at its share: stop reading that source (block) */
        INTAKE_REFUSED, /* counted under verdict->reason */
        INTAKE_CONTROL, /* "!ack": not an event, nothing counted but the unit */
} IntakeResult;

typedef struct {
        Reason reason; /* INTAKE_REFUSED */
        uint64_t ack_n;     /* INTAKE_REFUSED on an acknowledged source: the answer's number */
        Lane *lane;         /* INTAKE_QUEUED, INTAKE_BLOCKED: the event's lane */
} IntakeVerdict;

/*
 * One unit: counted (Stats.packets), then queued, refused or taken as the
 * control. The unit's descriptors are consumed on every path.
 */
IntakeResult intake_take(Intake *in, IntakeSource *src, IntakeUnit *u, IntakeVerdict *ret);

/*
 * A connection's peer at accept: whether the listener's allow-lists admit
 * it. One refused is one attempt, counted as not-allowed, whatever it had
 * already sent (its sends fail from then on).
 */
bool intake_admit_connection(Intake *in, const ListenSpec *spec, const struct ucred *cred);

/*
 * Descriptors that came on a stream, where they cannot be tied to a line:
 * closed and counted (fds-on-stream, an attempt of its own to pass
 * descriptors); the bytes are read as usual. Not answered: it has no
 * number among the connection's lines.
 */
void intake_stream_fds(Intake *in, const IntakeSource *src, int *fds, unsigned n_fds);

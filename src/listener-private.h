/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener-private.h — what listener.c and listener-stream.c share: the
 * listener's state and the receive path's steps. Nothing outside the two
 * includes it.
 */
#pragma once

#include <string.h>
#include <sys/socket.h>

#include "answers.h"
#include "linebuf.h"
#include "listener.h"

typedef struct Endpoint Endpoint;

typedef struct {
        Endpoint *ep;
        int fd;
        guint watch;
        struct ucred cred; /* SO_PEERCRED, taken at accept */
        Lane *lane;        /* its own, in the queue */
        bool blocked;      /* block policy: its lane is at its share (l->blocked_conns) */
        bool stream;       /* SOCK_STREAM: lines, framed in `lines` */
        LineBuf lines;
        guint idle;        /* stream: complete lines are buffered, to be taken without a read */
        /* acknowledgements (doc/protocol.md 1.7): after "!ack", one answer per event */
        bool ack;
        uint64_t ack_next; /* the number of the last event attempt */
        Answers answers;
} Conn;

#define ACK_CONTROL "!ack"

/* A connection's "!ack" (packet or line): a control message, not an event. */
static inline bool is_ack_control(const char *buf, size_t len)
{
        return len == sizeof(ACK_CONTROL) - 1 && memcmp(buf, ACK_CONTROL, len) == 0;
}

struct Endpoint {
        Listener *l;
        const ListenSpec *spec;
        BoundSocket sock;
        guint watch;
        guint retry_timer; /* re-arms accept() after the descriptors ran out */
        bool starved;      /* accept() failed with EMFILE/ENFILE: wait for the timer */
        bool input_done;   /* shutting down: nothing more can arrive, all read */
        Lane *blocked_on;  /* DGRAM, block policy: the lane at its share (l->blocked_eps) */
        GPtrArray *conns; /* Conn*, SEQPACKET only */
};

struct Listener {
        const Config *config;
        Queue *queue;
        Stats *stats;
        ListenerCallbacks cb;
        gpointer user_data;
        GPtrArray *endpoints; /* Endpoint* */
        bool paused;
        bool stopping; /* listener_stop_input() was called */
        GPtrArray *blocked_conns; /* Conn* whose lane is at its share */
        GPtrArray *blocked_eps;   /* Endpoint* waiting for a DGRAM lane */
        char *buf; /* max-event-size bytes, reused for every packet */
};


typedef enum {
        READ_AGAIN,  /* nothing queued */
        READ_DONE,   /* one packet consumed (accepted or refused) */
        READ_HANGUP, /* SEQPACKET peer gone */
        READ_BLOCKED, /* block policy: the packet's lane reached its share */
} ReadResult;

/* listener.c */
ReadResult take_event(Listener *l, Endpoint *ep, Conn *conn, struct ucred cred, bool has_cred,
                      const char *bytes, size_t n, int *fds, unsigned n_fds, Lane **ret_lane);
void endpoint_drop_conn(Endpoint *ep, Conn *c);
void conn_watch(Conn *c);
void conn_ack_enable(Conn *c);
void ack_refused(Conn *c, StatsReason r);
/* A refusal: what came with it (fds, may be NULL) is closed, the reason counted,
 * logged and, on an acknowledged connection, answered. Returns READ_DONE. */
ReadResult refuse(Listener *l, Conn *conn, StatsReason r, int *fds, unsigned n_fds,
                  const struct ucred *cred, const char *where);
/* Block policy: the lane this source feeds is at its share; stop reading the
 * connection (conn), or the DGRAM socket (ep), until listener_space() finds room. */
void listener_block(Endpoint *ep, Conn *conn, Lane *lane);

/* listener-stream.c: up to `batch` lines of a stream connection; FALSE when
 * it is gone or no longer watched (paused, blocked, its answers full) */
gboolean listener_stream_drain(Endpoint *ep, Conn *c);
/* complete lines are buffered: take them without waiting for the socket */
void listener_stream_kick(Conn *c);

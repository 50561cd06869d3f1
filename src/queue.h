/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * queue.h — the bounded queue between receiving and emitting.
 *
 * One FIFO of Events per sender ("lane"), served in turn, with three
 * capacities, events, bytes and descriptors, fair shares of them, per-sender
 * rate limits and an explicit overflow policy. Fairness is two-level, as
 * dbus-broker accounts per user: the uids with events are served in turn
 * and the capacities split between the active uids, then within a uid
 * between its senders, so a uid with 500 connections (or DGRAM senders
 * from 500 pids) gets the turns and the share of one uid, not of 500. Only queue.c
 * writes a Queue: the other modules read its fields and change it through
 * these functions.
 *
 * The queue owns every event in it, including the ones the relay has handed
 * to GDBus but the bus has not yet confirmed ("in flight", in Queue.out): an
 * event leaves only when the relay confirms it (queue_confirm()), so a bus
 * that goes away loses nothing, and what GDBus holds is bounded by the
 * queue itself. drop-oldest never drops an in-flight event.
 *
 * Nothing here allocates per event: lanes are made per sender, their rings
 * grow by doubling, and the scheduler and the drop victim are O(1) (the
 * victim falls back to a walk over the lanes with waiting events only when
 * the lane that last grew past its share is not over it any more).
 *
 * What is counted is what an event really costs the process, not its
 * payload: `bytes` is the event's footprint (event.h, Event.bytes) plus,
 * while it is in flight, the copy GDBus keeps of its message; `fds` is the
 * descriptors its events hold plus the duplicates handed to GDBus. Both are
 * bounded, so neither memory nor the descriptor table can be exhausted by a
 * stalled bus (doc/protocol.md, "Queue").
 *
 * The queue writes only its own bookkeeping of an event (Event.q); the
 * event itself is event.c's.
 *
 * Pure data structure: no I/O, no GLib main loop; int/enum returns.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec.h"
#include "event.h"

typedef enum {
        QUEUE_POLICY_BLOCK = 0, /* the listener stops reading while the queue is full */
        QUEUE_POLICY_DROP_NEWEST,
        QUEUE_POLICY_DROP_OLDEST,
} QueuePolicy;

/* How many of the busiest senders GetStats lists (queue_busiest()). */
#define QUEUE_BUSIEST_MAX 8U

/* A growable ring of events (FIFO with both ends); queue.c's. */
typedef struct {
        Event **slots;
        size_t size, head, len;
} EventRing;

/* One uid's senders (queue.c writes it, others read it). */
typedef struct QueueUser {
        uid_t uid;
        size_t lanes;       /* its lanes (it goes with the last) */
        size_t n_active;    /* of them, holding events or of an open connection */
        size_t connections; /* its open connections */
        size_t events, bytes, fds; /* what its lanes hold */
        uint64_t received, emitted, dropped, quarantined, rate_limited;
        uint64_t max_wait;  /* the most of its lanes' max_wait */
        GQueue rr;          /* its lanes with waiting events, in turn */
        GList rr_link;      /* in Queue.rr while rr is not empty */
        GList all_link;     /* in Queue.users */
} QueueUser;

/*
 * A sender: one SEQPACKET connection, or on a DGRAM socket the pair (pid,
 * uid) of the kernel's credentials. The queue keeps one FIFO per sender
 * and the scheduler takes from them in turn. Other modules read the fields;
 * queue.c writes them.
 */
struct Lane {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        Transport transport;
        const char *where; /* the listener's path or name (not owned) */
        bool connection;   /* a connection's lane (queue_lane_attach()) */
        bool attached;     /* ... and the connection is open */
        bool shared;       /* the lane of the DGRAM senders past max-dgram-senders */
        bool blocked;      /* block policy: its reader stopped at its share */

        EventRing waiting; /* not yet picked by the scheduler */
        size_t events;     /* held: waiting, picked and in flight */
        size_t bytes, fds; /* their footprint, with GDBus's copies (queue.h) */

        int64_t rate_start; /* monotonic usec: the current rate-limit interval began */
        unsigned rate_count;
        uint64_t rate_suppressed; /* in the current interval */

        uint64_t received, emitted, dropped, quarantined, rate_limited;
        /* the most events that went out ahead of one of its events once it was
         * queued (those in flight then included): its worst wait, in positions */
        uint64_t max_wait;

        QueueUser *user; /* its uid's */
        GList rr_link;   /* in user->rr while it has waiting events */
        GList idle_link; /* in Queue.idle: a DGRAM lane with nothing queued */
        GList all_link;  /* in Queue.all */
        uint64_t key[2];
        void *ack_sink; /* the listener's: where this lane's acknowledgements go, or NULL */
        void *line_owner; /* the listener's: whose unfinished line `pending` is, or NULL */
        size_t pending;   /* bytes of an unfinished line, counted in bytes too */
};

/* An acknowledged event left the queue: emitted (its seq), or dropped. */
/* What became of an event that leaves the queue without the sender's say. */
typedef enum {
        QUEUE_DONE_EMITTED,    /* the bus confirmed it */
        QUEUE_DONE_DROPPED,    /* the overflow policy dropped it */
        QUEUE_DONE_QUARANTINED, /* the bus would not take it (queue_quarantine()) */
} QueueOutcome;

typedef void (*QueueDoneFunc)(Lane *lane, const Event *ev, QueueOutcome outcome, void *user_data);
/* Throw away the unfinished line of line_owner (queue_lane_set_pending());
 * false when it cannot be now (a complete line came in front of it). */
typedef bool (*QueueEvictFunc)(void *line_owner, void *user_data);

typedef struct {
        EventRing out;     /* picked, in bus order: the first in_flight are being written */
        size_t in_flight;
        size_t len;        /* every event held, in the lanes and in out */
        size_t capacity;
        size_t bytes, capacity_bytes;
        size_t fds, capacity_fds;
        size_t high_water;
        QueuePolicy policy;
        uint64_t dropped;
        uint64_t quarantined; /* queue_quarantine() */
        uint64_t seq; /* the last one assigned */

        size_t share_floor;  /* events a lane may always hold (queue_set_share_floor()) */
        size_t n_active;     /* lanes holding events, or of an open connection */
        size_t max_dgram;    /* DGRAM lanes before senders share one */
        size_t n_dgram;      /* DGRAM lanes now (not counting the shared one) */
        int64_t rate_interval_usec; /* 0: no rate limit */
        unsigned rate_burst;
        GHashTable *dgram;   /* key[] -> Lane* */
        Lane *shared_lane;
        Lane *fattest;       /* the lane that last grew past it: the drop victim to try first */
        GQueue rr;           /* users with waiting events, in turn (QueueUser.rr_link) */
        GHashTable *users_by_uid; /* uid -> QueueUser* */
        GQueue users;        /* every QueueUser */
        size_t n_users_active; /* users with an active lane */
        GQueue idle;         /* DGRAM lanes holding nothing, oldest first */
        GQueue all;
        size_t pending;     /* unfinished lines' bytes, all lanes (in bytes too) */
        QueueEvictFunc evict;
        void *evict_data;
        QueueDoneFunc done; /* for events with an ack_n, on a lane with an ack_sink */
        void *done_data;
} Queue;

void queue_init(Queue *q, size_t capacity, size_t capacity_bytes, size_t capacity_fds,
                QueuePolicy policy);
void queue_deinit(Queue *q);

/* A reload: new capacities and policy. Nothing queued is dropped for them:
 * a queue above a lowered capacity is full until enough has been emitted. */
void queue_set_limits(Queue *q, size_t capacity, size_t capacity_bytes, size_t capacity_fds,
                      QueuePolicy policy);

/*
 * Fair shares (doc/protocol.md, "Queue"). Every active lane may hold
 * capacity / n of each capacity, n the active lanes, but n counts at most
 * capacity / floor lanes: a lane may always hold `floor` events (the relay's
 * window and a read batch, so one sender alone keeps the bus busy).
 * max_dgram bounds the DGRAM lanes; past it, and when no idle one can be
 * reused, new DGRAM senders share one lane.
 */
void queue_set_shares(Queue *q, size_t floor, size_t max_dgram);

/* Who hears of an acknowledged event's end (the listener). */
void queue_set_done(Queue *q, QueueDoneFunc done, void *user_data);

/* Per-sender rate limit: at most burst events per interval (0: none). */
void queue_set_rate_limit(Queue *q, int64_t interval_usec, unsigned burst);

/* A connection's lane, attached until queue_lane_detach() (at its close);
 * it is freed once detached and empty. */
Lane *queue_lane_attach(Queue *q, Transport t, pid_t pid, uid_t uid, gid_t gid,
                        const char *where);
void queue_lane_detach(Queue *q, Lane *lane);

/* Where the ends of this lane's acknowledged events are reported (the
 * listener's connection; NULL: nowhere any more). */
void queue_lane_set_ack_sink(Queue *q, Lane *lane, void *sink);

/*
 * Unfinished lines (a stream connection's buffer): what the lane's line
 * buffer holds now, charged to the lane and counted in the queue's bytes,
 * so what senders make the daemon hold is bounded by capacity-bytes
 * whether it is events or lines. Lines use only the room events do not
 * need: when the queue's bytes would pass capacity-bytes (a line growing,
 * an event coming), the largest unfinished line is thrown away through the
 * evict callback (its owner refuses it as too-large when it ends), until
 * the rest fits. owner: passed to the callback (NULL: the lane holds no
 * line that can be thrown away now, e.g. complete lines wait behind it).
 */
void queue_set_evict(Queue *q, QueueEvictFunc evict, void *user_data);
void queue_lane_set_pending(Queue *q, Lane *lane, size_t bytes, void *owner);

/* The lane of a datagram from (pid, uid) on the listener `owner`: found,
 * made, an idle one reused, or the shared one. */
Lane *queue_lane_dgram(Queue *q, const void *owner, pid_t pid, uid_t uid, gid_t gid,
                       const char *where);

/*
 * The rate limit, journald's way: the first event after an interval has
 * passed starts a new one, and up to `burst` events are admitted in it.
 * Returns false for an event over the budget (counted in the lane). When an
 * interval that suppressed events has ended, *ret_suppressed is how many
 * (for the one log line per interval), else 0.
 */
bool queue_lane_admit(Queue *q, Lane *lane, int64_t now_usec, uint64_t *ret_suppressed);

/* The lane holds its share of a capacity (block: stop reading it). */
bool queue_lane_at_share(const Queue *q, const Lane *lane);
/* A blocked lane may be read again: a quarter of its share is free. */
bool queue_lane_has_room(const Queue *q, const Lane *lane);
/* The listener stopped (or resumed) reading for this lane; a blocked lane is
 * never freed or reused. */
void queue_lane_block(Queue *q, Lane *lane, bool blocked);

/* Full in events, bytes or descriptors. Under the block policy the listener
 * reads nothing while this is true, so a capacity may be passed by the one
 * event that was being read when it filled up. */
bool queue_is_full(const Queue *q);

/* The block policy's resume rule: a quarter of every capacity is free again
 * (so the listener does not flap on every single event). */
bool queue_has_room(const Queue *q);

/*
 * Takes ownership of ev, queued in lane (NULL: the shared lane). Returns
 * the number of events dropped to make the decision. When the queue is
 * full, the victim is the lane most over its share (ev's own lane when it
 * is over, or when none is): under drop-newest its newest event (ev itself
 * when it is the victim's), under drop-oldest its oldest one not yet picked.
 * Events that have been picked are never dropped. Under the block policy
 * the caller guarantees the queue is not full in events (it stopped
 * reading), and nothing is ever dropped.
 */
size_t queue_push(Queue *q, Lane *lane, Event *ev);

/* The i-th picked event (0 = the oldest in flight), or NULL. */
Event *queue_peek(const Queue *q, size_t i);
/*
 * The next event to send: one picked but not in flight (after a lost
 * connection, in the order it was first sent), else the scheduler picks one
 * from the lanes in turn, one event per lane per round, and gives it the
 * next seq. Picking is final: a picked event is next until it is sent.
 * NULL when nothing waits.
 */
Event *queue_next_unsent(Queue *q);

/*
 * The k-th picked event not yet in flight (0: queue_next_unsent()), the
 * scheduler picking more as needed: what one message of several events
 * will carry. NULL when nothing more waits. Picking stays final.
 */
Event *queue_unsent(Queue *q, size_t k);

/* Whether the next event may go in flight at a cost of sent_bytes and
 * sent_fds: in-flight events cannot be dropped, so their copies must fit in
 * the capacities (one is always allowed, or nothing would move). */
bool queue_can_send(const Queue *q, size_t sent_bytes, unsigned sent_fds);
/* The same for the next k + 1 events at once (one message), their copies
 * costing sent_bytes and sent_fds together; the first is always allowed
 * when nothing is in flight. */
bool queue_can_send_n(const Queue *q, size_t k, size_t sent_bytes, unsigned sent_fds);

/* The relay handed queue_next_unsent() to GDBus, which keeps a copy costing
 * sent_bytes and sent_fds duplicated descriptors until the write is done. */
void queue_mark_sent(Queue *q, size_t sent_bytes, unsigned sent_fds);

/* The bus has confirmed the n oldest in-flight events: they leave the queue
 * and are freed. Returns how many did (at most in_flight). */
size_t queue_confirm(Queue *q, size_t n);

/* The connection they were written to is gone: every in-flight event goes
 * back to waiting, first in line, to be sent again in the same order. */
void queue_unsend_all(Queue *q);

/* Removes and returns the next event in bus order (the caller frees it). */
Event *queue_pop(Queue *q);

/*
 * The next event in bus order, with nothing in flight, is taken out and
 * freed as one the bus will not take: counted (quarantined, in the queue
 * and its lane) and reported to the done callback. The relay's verdict
 * (relay.c, "poison").
 */
void queue_quarantine(Queue *q);

/* The n busiest lanes by events offered (received and rate-limited),
 * busiest first; returns how many were written to out. */
size_t queue_busiest(const Queue *q, const Lane **out, size_t n);
/* The same for uids: the n busiest by events offered (received and rate-limited). */
size_t queue_busiest_users(const Queue *q, const QueueUser **out, size_t n);

/* Open connections of uid (0 when it has none). */
size_t queue_user_connections(const Queue *q, uid_t uid);

const char *queue_policy_name(QueuePolicy p);
/* Returns false when name is not a policy. */
bool queue_policy_from_name(const char *name, QueuePolicy *ret);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* queue.c — the bounded event queue (see queue.h). */
#include <string.h>

#include "queue.h"
#include "util.h"

/* ---- rings ---- */

#define RING_INITIAL 8U
/* An empty lane keeps its slots up to this size (a paced sender allocates
 * nothing per event); a drained flood's ring is given back. */
#define RING_KEEP 64U

static inline Event **ring_slot(const EventRing *r, size_t i)
{
        return &r->slots[(r->head + i) % r->size];
}

static void ring_push_back(EventRing *r, Event *ev)
{
        if (r->len == r->size) {
                size_t size = MAX(r->size * 2, RING_INITIAL);
                Event **slots = g_new(Event *, size);

                for (size_t i = 0; i < r->len; i++)
                        slots[i] = *ring_slot(r, i);
                g_free(r->slots);
                r->slots = slots;
                r->size = size;
                r->head = 0;
        }
        *ring_slot(r, r->len) = ev;
        r->len++;
}

static Event *ring_pop_front(EventRing *r)
{
        Event *ev;

        if (r->len == 0)
                return NULL;
        ev = *ring_slot(r, 0);
        r->head = (r->head + 1) % r->size;
        r->len--;
        return ev;
}

static Event *ring_pop_back(EventRing *r)
{
        if (r->len == 0)
                return NULL;
        r->len--;
        return *ring_slot(r, r->len);
}

static Event *ring_at(const EventRing *r, size_t i)
{
        return i < r->len ? *ring_slot(r, i) : NULL;
}

static void ring_release(EventRing *r)
{
        g_assert(r->len == 0);
        g_clear_pointer(&r->slots, g_free);
        r->size = 0;
        r->head = 0;
}

static guint lane_key_hash(gconstpointer p)
{
        const uint64_t *k = p;
        uint64_t h = k[0] * UINT64_C(0x9e3779b97f4a7c15) ^ k[1];

        return (guint) (h ^ (h >> 32));
}

static gboolean lane_key_equal(gconstpointer a, gconstpointer b)
{
        const uint64_t *x = a, *y = b;

        return x[0] == y[0] && x[1] == y[1];
}

/* ---- users (uids) ---- */

static QueueUser *user_ref(Queue *q, uid_t uid)
{
        QueueUser *u = g_hash_table_lookup(q->users_by_uid, GUINT_TO_POINTER(uid));

        if (!u) {
                u = g_new0(QueueUser, 1);
                u->uid = uid;
                u->rr_link.data = u;
                u->all_link.data = u;
                g_queue_init(&u->rr);
                g_hash_table_insert(q->users_by_uid, GUINT_TO_POINTER(uid), u);
                g_queue_push_tail_link(&q->users, &u->all_link);
        }
        u->lanes++;
        return u;
}

static void user_unref(Queue *q, QueueUser *u)
{
        if (--u->lanes > 0)
                return;
        g_assert(u->n_active == 0 && u->rr.length == 0 && u->connections == 0);
        g_hash_table_remove(q->users_by_uid, GUINT_TO_POINTER(u->uid));
        g_queue_unlink(&q->users, &u->all_link);
        g_free(u);
}

/* A lane holds events or is of an open connection now: it shares. */
static void activate(Queue *q, Lane *lane)
{
        q->n_active++;
        if (lane->user->n_active++ == 0)
                q->n_users_active++;
}

static void deactivate(Queue *q, Lane *lane)
{
        q->n_active--;
        if (--lane->user->n_active == 0)
                q->n_users_active--;
}

/* lane has an event waiting now (its first): in turn, and its user too. */
static void rr_join(Queue *q, Lane *lane)
{
        QueueUser *u = lane->user;

        g_queue_push_tail_link(&u->rr, &lane->rr_link);
        if (u->rr.length == 1)
                g_queue_push_tail_link(&q->rr, &u->rr_link);
}

/* lane has no event waiting any more. */
static void rr_leave(Queue *q, Lane *lane)
{
        QueueUser *u = lane->user;

        g_queue_unlink(&u->rr, &lane->rr_link);
        if (u->rr.length == 0)
                g_queue_unlink(&q->rr, &u->rr_link);
}

/* ---- lanes ---- */

static Lane *lane_new(Queue *q, Transport t, pid_t pid, uid_t uid, gid_t gid, const char *where)
{
        Lane *lane = g_new0(Lane, 1);

        lane->transport = t;
        lane->pid = pid;
        lane->uid = uid;
        lane->gid = gid;
        lane->where = where;
        lane->user = user_ref(q, uid);
        lane->rr_link.data = lane;
        lane->all_link.data = lane;
        g_queue_push_tail_link(&q->all, &lane->all_link);
        return lane;
}

static void idle_remove(Queue *q, Lane *lane)
{
        if (lane->idle_link.data) {
                g_queue_unlink(&q->idle, &lane->idle_link);
                lane->idle_link.data = NULL;
        }
}

static void lane_free(Queue *q, Lane *lane)
{
        g_assert(lane->events == 0 && lane->waiting.len == 0);
        idle_remove(q, lane);
        g_queue_unlink(&q->all, &lane->all_link);
        if (!lane->connection && !lane->shared) {
                g_hash_table_remove(q->dgram, lane->key);
                q->n_dgram--;
        }
        if (q->fattest == lane)
                q->fattest = NULL;
        ring_release(&lane->waiting);
        user_unref(q, lane->user);
        g_free(lane);
}

/* A lane that holds nothing: a closed connection's goes, a DGRAM sender's
 * waits in the idle list to be found again (or reused for another). */
static void lane_settle(Queue *q, Lane *lane)
{
        if (lane->events > 0 || lane->blocked || lane->shared)
                return;
        if (lane->waiting.size > RING_KEEP)
                ring_release(&lane->waiting);
        if (lane->connection) {
                if (!lane->attached)
                        lane_free(q, lane);
                return;
        }
        if (!lane->idle_link.data) {
                lane->idle_link.data = lane;
                g_queue_push_tail_link(&q->idle, &lane->idle_link);
        }
}

static bool lane_active(const Lane *lane)
{
        return lane->events > 0 || lane->attached;
}

typedef struct {
        size_t events, bytes, fds;
} Share;

/*
 * lane's shares, with lane active: its uid's, the capacities split between
 * the active uids, and its own, the uid's split between its active lanes.
 * Each level counts at most capacity / share-floor sharers, so a lane may
 * always hold share-floor events. A lane is at its share when it or its uid
 * is: a uid's 200 connections together hold no more than another uid's one.
 */
typedef struct {
        Share user, lane;
        bool users; /* more than one uid shares: the uid level counts */
} Shares;

static Shares shares_of(const Queue *q, const Lane *lane)
{
        const QueueUser *u = lane->user;
        size_t floor = MIN(MAX(q->share_floor, 1), q->capacity);
        size_t users = q->n_users_active + (u->n_active == 0 ? 1 : 0);
        size_t lanes = u->n_active + (lane_active(lane) ? 0 : 1);
        Shares s;

        users = MIN(MAX(users, 1), MAX(q->capacity / floor, 1));
        s.users = users > 1;
        s.user = (Share){ .events = MAX(q->capacity / users, 1),
                          .bytes = MAX(q->capacity_bytes / users, 1),
                          .fds = MAX(q->capacity_fds / users, 1) };
        lanes = MIN(lanes, MAX(s.user.events / floor, 1));
        s.lane = (Share){ .events = MAX(s.user.events / lanes, 1),
                          .bytes = MAX(s.user.bytes / lanes, 1),
                          .fds = MAX(s.user.fds / lanes, 1) };
        return s;
}

/* Holding events, bytes and fds, with (events, bytes, fds) more: over s? */
static bool over(const Share *s, size_t events, size_t bytes, size_t fds)
{
        return events > s->events || bytes > s->bytes || fds > s->fds;
}

static bool at(const Share *s, size_t events, size_t bytes, size_t fds)
{
        return events >= s->events || bytes >= s->bytes || fds >= s->fds;
}

static bool room(const Share *s, size_t events, size_t bytes, size_t fds)
{
        return events <= s->events - s->events / 4 && bytes <= s->bytes - s->bytes / 4 &&
               fds <= s->fds - s->fds / 4;
}

/* Over its share (or its uid over the uid's) once it holds ev too (ev may be NULL). */
static bool lane_over(const Queue *q, const Lane *lane, const Event *ev)
{
        Shares s = shares_of(q, lane);
        size_t e = ev ? 1 : 0, b = ev ? ev->bytes : 0, f = ev ? ev->n_fds : 0;
        const QueueUser *u = lane->user;

        return over(&s.lane, lane->events + e, lane->bytes + b, lane->fds + f) ||
               (s.users && over(&s.user, u->events + e, u->bytes + b, u->fds + f));
}

bool queue_lane_at_share(const Queue *q, const Lane *lane)
{
        Shares s = shares_of(q, lane);
        const QueueUser *u = lane->user;

        return at(&s.lane, lane->events, lane->bytes, lane->fds) ||
               (s.users && at(&s.user, u->events, u->bytes, u->fds));
}

bool queue_lane_has_room(const Queue *q, const Lane *lane)
{
        Shares s = shares_of(q, lane);
        const QueueUser *u = lane->user;

        return room(&s.lane, lane->events, lane->bytes, lane->fds) &&
               (!s.users || room(&s.user, u->events, u->bytes, u->fds));
}

void queue_lane_block(Queue *q, Lane *lane, bool blocked)
{
        lane->blocked = blocked;
        if (!blocked)
                lane_settle(q, lane);
}

Lane *queue_lane_attach(Queue *q, Transport t, pid_t pid, uid_t uid, gid_t gid,
                        const char *where)
{
        Lane *lane = lane_new(q, t, pid, uid, gid, where);

        lane->connection = true;
        lane->attached = true;
        lane->user->connections++;
        activate(q, lane);
        return lane;
}

static void set_pending(Queue *q, Lane *lane, size_t bytes)
{
        q->bytes = q->bytes - lane->pending + bytes;
        lane->bytes = lane->bytes - lane->pending + bytes;
        lane->user->bytes = lane->user->bytes - lane->pending + bytes;
        q->pending = q->pending - lane->pending + bytes;
        lane->pending = bytes;
}

void queue_lane_detach(Queue *q, Lane *lane)
{
        g_assert(lane->connection && lane->attached);
        set_pending(q, lane, 0); /* its line buffer goes with the connection */
        lane->line_owner = NULL;
        lane->attached = false;
        lane->blocked = false;
        lane->user->connections--;
        if (lane->events == 0)
                deactivate(q, lane);
        lane_settle(q, lane);
}

void queue_set_evict(Queue *q, QueueEvictFunc evict, void *user_data)
{
        q->evict = evict;
        q->evict_data = user_data;
}

/* Unfinished lines give way until `need` more bytes fit (queue.h). */
static void evict_lines(Queue *q, size_t need)
{
        while (q->pending > 0 && q->evict && q->bytes + need > q->capacity_bytes) {
                Lane *largest = NULL;

                for (GList *l = q->all.head; l; l = l->next) {
                        Lane *c = l->data;
                        if (c->line_owner && c->pending > 0 &&
                            (!largest || c->pending > largest->pending))
                                largest = c;
                }
                if (!largest)
                        return; /* none can go now: complete lines wait behind them */
                if (q->evict(largest->line_owner, q->evict_data))
                        set_pending(q, largest, 0);
                largest->line_owner = NULL; /* charged again at its next read */
        }
}

void queue_lane_set_pending(Queue *q, Lane *lane, size_t bytes, void *owner)
{
        lane->line_owner = owner;
        if (bytes == lane->pending)
                return;
        set_pending(q, lane, bytes);
        evict_lines(q, 0);
}

void queue_lane_set_ack_sink(Queue *q, Lane *lane, void *sink)
{
        (void) q;
        lane->ack_sink = sink;
}

Lane *queue_lane_dgram(Queue *q, const void *owner, pid_t pid, uid_t uid, gid_t gid,
                       const char *where)
{
        uint64_t key[2] = { (uint64_t) (uintptr_t) owner,
                            ((uint64_t) uid << 32) | (uint32_t) pid };
        Lane *lane = g_hash_table_lookup(q->dgram, key);

        if (lane)
                return lane;
        if (q->n_dgram >= q->max_dgram) {
                /* reuse the lane idle the longest; with none, this sender shares */
                if (!q->idle.head)
                        return q->shared_lane;
                lane_free(q, q->idle.head->data);
        }
        lane = lane_new(q, TRANSPORT_DGRAM, pid, uid, gid, where);
        memcpy(lane->key, key, sizeof(key));
        g_hash_table_insert(q->dgram, lane->key, lane);
        q->n_dgram++;
        lane_settle(q, lane);
        return lane;
}

bool queue_lane_admit(Queue *q, Lane *lane, int64_t now_usec, uint64_t *ret_suppressed)
{
        *ret_suppressed = 0;
        if (q->rate_interval_usec <= 0 || q->rate_burst == 0)
                return true;
        if (lane->rate_start == 0 || now_usec - lane->rate_start >= q->rate_interval_usec) {
                *ret_suppressed = lane->rate_suppressed;
                lane->rate_suppressed = 0;
                lane->rate_start = now_usec;
                lane->rate_count = 0;
        }
        if (lane->rate_count < q->rate_burst) {
                lane->rate_count++;
                return true;
        }
        lane->rate_suppressed++;
        lane->rate_limited++;
        lane->user->rate_limited++;
        return false;
}

/* ---- the queue ---- */

void queue_init(Queue *q, size_t capacity, size_t capacity_bytes, size_t capacity_fds,
                QueuePolicy policy)
{
        *q = (Queue){ 0 };
        g_queue_init(&q->rr);
        g_queue_init(&q->users);
        q->users_by_uid = g_hash_table_new(NULL, NULL);
        g_queue_init(&q->idle);
        g_queue_init(&q->all);
        q->dgram = g_hash_table_new(lane_key_hash, lane_key_equal);
        q->shared_lane = lane_new(q, TRANSPORT_DGRAM, 0, (uid_t) -1, (gid_t) -1, "(shared)");
        q->shared_lane->shared = true;
        q->max_dgram = 1024;
        queue_set_limits(q, capacity, capacity_bytes, capacity_fds, policy);
}

void queue_set_limits(Queue *q, size_t capacity, size_t capacity_bytes, size_t capacity_fds,
                      QueuePolicy policy)
{
        g_assert(capacity > 0 && capacity_bytes > 0 && capacity_fds > 0);
        q->capacity = capacity;
        q->capacity_bytes = capacity_bytes;
        q->capacity_fds = capacity_fds;
        q->policy = policy;
}

void queue_set_shares(Queue *q, size_t floor, size_t max_dgram)
{
        q->share_floor = floor;
        q->max_dgram = max_dgram;
}

void queue_set_done(Queue *q, QueueDoneFunc done, void *user_data)
{
        q->done = done;
        q->done_data = user_data;
}

void queue_set_rate_limit(Queue *q, int64_t interval_usec, unsigned burst)
{
        q->rate_interval_usec = interval_usec;
        q->rate_burst = burst;
}

void queue_deinit(Queue *q)
{
        Event *ev;

        queue_unsend_all(q);
        while ((ev = queue_pop(q)))
                event_free(ev);
        while (q->all.head) {
                Lane *lane = q->all.head->data;
                lane->shared = false;
                lane->connection = true; /* no hash table entry to remove any more */
                lane->blocked = false;
                lane->user->connections = 0; /* the connections go with the queue */
                lane->user->n_active = 0;
                lane_free(q, lane);
        }
        g_clear_pointer(&q->dgram, g_hash_table_unref);
        g_clear_pointer(&q->users_by_uid, g_hash_table_unref);
        ring_release(&q->out);
}

bool queue_is_full(const Queue *q)
{
        return q->len >= q->capacity || q->bytes >= q->capacity_bytes ||
               q->fds >= q->capacity_fds;
}

bool queue_has_room(const Queue *q)
{
        /* x - x/4 rather than x*3/4: capacity-bytes may be near SIZE_MAX/2 */
        return q->len <= q->capacity - q->capacity / 4 &&
               q->bytes <= q->capacity_bytes - q->capacity_bytes / 4 &&
               q->fds <= q->capacity_fds - q->capacity_fds / 4;
}

static void charge(Queue *q, Lane *lane, Event *ev)
{
        if (!lane_active(lane))
                activate(q, lane);
        idle_remove(q, lane);
        ev->q.lane = lane;
        lane->events++;
        lane->bytes += ev->bytes;
        lane->fds += ev->n_fds;
        lane->user->events++;
        lane->user->bytes += ev->bytes;
        lane->user->fds += ev->n_fds;
        q->len++;
        q->bytes += ev->bytes;
        q->fds += ev->n_fds;
        if (q->len > q->high_water)
                q->high_water = q->len;
}

/* What GDBus's copy of an in-flight event cost the queue is released. */
static void uncharge_sent(Queue *q, Event *ev)
{
        q->bytes -= ev->q.sent_bytes;
        q->fds -= ev->q.sent_fds;
        ev->q.lane->bytes -= ev->q.sent_bytes;
        ev->q.lane->fds -= ev->q.sent_fds;
        ev->q.lane->user->bytes -= ev->q.sent_bytes;
        ev->q.lane->user->fds -= ev->q.sent_fds;
        ev->q.sent_bytes = 0;
        ev->q.sent_fds = 0;
}

/* ev leaves the queue; its lane may go with it (lane_settle()). */
static void uncharge(Queue *q, Event *ev)
{
        Lane *lane = ev->q.lane;

        uncharge_sent(q, ev);
        q->len--;
        q->bytes -= ev->bytes;
        q->fds -= ev->n_fds;
        lane->events--;
        lane->bytes -= ev->bytes;
        lane->fds -= ev->n_fds;
        lane->user->events--;
        lane->user->bytes -= ev->bytes;
        lane->user->fds -= ev->n_fds;
        ev->q.lane = NULL;
        if (lane->events == 0) {
                if (!lane->attached)
                        deactivate(q, lane);
                lane_settle(q, lane);
        }
}

/* Takes the oldest or newest of the lane's waiting events out of turn. */
static Event *take_waiting(Queue *q, Lane *lane, bool newest)
{
        Event *ev = newest ? ring_pop_back(&lane->waiting) : ring_pop_front(&lane->waiting);

        if (ev && lane->waiting.len == 0)
                rr_leave(q, lane);
        return ev;
}

/*
 * Whom the policy drops from: ev's own lane when it is over its share (with
 * ev); else the lane most over its share, tried first where it was last
 * found and looked for among the lanes with waiting events only when that
 * one is not over any more; NULL when no other lane is over (then the floor
 * let the shares add up past a capacity, and ev's own lane pays).
 */
static Lane *drop_victim(Queue *q, Lane *lane, const Event *ev)
{
        Lane *best = NULL;

        if (lane_over(q, lane, ev))
                return lane;
        if (q->fattest && q->fattest != lane && q->fattest->waiting.len > 0 &&
            lane_over(q, q->fattest, NULL))
                return q->fattest;
        for (GList *ul = q->rr.head; ul; ul = ul->next) {
                const QueueUser *u = ul->data;
                for (GList *l = u->rr.head; l; l = l->next) {
                        Lane *c = l->data;
                        if (c != lane && lane_over(q, c, NULL) &&
                            (!best || c->events > best->events))
                                best = c;
                }
        }
        if (best)
                q->fattest = best;
        return best;
}

static void drop(Queue *q, Lane *lane, Event *ev)
{
        lane->dropped++;
        lane->user->dropped++;
        q->dropped++;
        if (ev->ack_n && lane->ack_sink && q->done)
                q->done(lane, ev, QUEUE_DONE_DROPPED, q->done_data);
        if (ev->q.lane)
                uncharge(q, ev);
        event_free(ev);
}

size_t queue_push(Queue *q, Lane *lane, Event *ev)
{
        size_t dropped = 0;

        if (!lane)
                lane = q->shared_lane;
        lane->received++;
        lane->user->received++;
        evict_lines(q, ev->bytes); /* events come first */
        while (q->policy != QUEUE_POLICY_BLOCK && queue_is_full(q)) {
                Lane *victim = drop_victim(q, lane, ev);
                Event *old = NULL;

                if (!victim)
                        victim = lane;
                if (q->policy == QUEUE_POLICY_DROP_OLDEST || victim != lane)
                        old = take_waiting(q, victim, q->policy == QUEUE_POLICY_DROP_NEWEST);
                if (!old) {
                        /* ev is the newest, or all its lane holds is picked already */
                        drop(q, lane, ev);
                        return dropped + 1;
                }
                drop(q, victim, old);
                dropped++;
        }
        charge(q, lane, ev);
        ev->q.ahead = q->seq - q->out.len; /* every picked event after it is ahead of it */
        ring_push_back(&lane->waiting, ev);
        if (lane->waiting.len == 1)
                rr_join(q, lane);
        if (!q->fattest || (lane != q->fattest && lane->events > q->fattest->events))
                q->fattest = lane;
        return dropped;
}

Event *queue_peek(const Queue *q, size_t i)
{
        return ring_at(&q->out, i);
}

Event *queue_next_unsent(Queue *q)
{
        return queue_unsent(q, 0);
}

Event *queue_unsent(Queue *q, size_t k)
{
        QueueUser *u;
        Lane *lane;
        Event *ev;

        g_assert(q->in_flight + k <= q->out.len);
        if (q->out.len > q->in_flight + k)
                return ring_at(&q->out, q->in_flight + k);
        if (!q->rr.head)
                return NULL;
        /* round robin, one event per uid per turn, and within a uid per lane */
        u = q->rr.head->data;
        lane = u->rr.head->data;
        ev = ring_pop_front(&lane->waiting);
        if (lane->waiting.len > 0 && u->rr.length > 1) {
                g_queue_unlink(&u->rr, &lane->rr_link);
                g_queue_push_tail_link(&u->rr, &lane->rr_link);
        } else if (lane->waiting.len == 0) {
                g_queue_unlink(&u->rr, &lane->rr_link);
        }
        if (q->rr.length > 1 || u->rr.length == 0) {
                g_queue_unlink(&q->rr, &u->rr_link);
                if (u->rr.length > 0)
                        g_queue_push_tail_link(&q->rr, &u->rr_link);
        }
        ev->q.seq = ++q->seq;
        lane->max_wait = MAX(lane->max_wait, ev->q.seq - 1 - ev->q.ahead);
        u->max_wait = MAX(u->max_wait, lane->max_wait);
        ring_push_back(&q->out, ev);
        return ev;
}

bool queue_can_send(const Queue *q, size_t sent_bytes, unsigned sent_fds)
{
        return queue_can_send_n(q, 0, sent_bytes, sent_fds);
}

bool queue_can_send_n(const Queue *q, size_t k, size_t sent_bytes, unsigned sent_fds)
{
        return (q->in_flight == 0 && k == 0) || (q->bytes + sent_bytes <= q->capacity_bytes &&
                                                 q->fds + sent_fds <= q->capacity_fds);
}

void queue_mark_sent(Queue *q, size_t sent_bytes, unsigned sent_fds)
{
        Event *ev = queue_next_unsent(q);

        g_assert(ev);
        ev->q.sent_bytes = sent_bytes;
        ev->q.sent_fds = sent_fds;
        q->bytes += sent_bytes;
        q->fds += sent_fds;
        ev->q.lane->bytes += sent_bytes;
        ev->q.lane->fds += sent_fds;
        ev->q.lane->user->bytes += sent_bytes;
        ev->q.lane->user->fds += sent_fds;
        q->in_flight++;
}

size_t queue_confirm(Queue *q, size_t n)
{
        size_t done;

        n = MIN(n, q->in_flight);
        for (done = 0; done < n; done++) {
                Event *ev = ring_pop_front(&q->out);
                q->in_flight--;
                ev->q.lane->emitted++;
                ev->q.lane->user->emitted++;
                if (ev->ack_n && ev->q.lane->ack_sink && q->done)
                        q->done(ev->q.lane, ev, QUEUE_DONE_EMITTED, q->done_data);
                uncharge(q, ev);
                event_free(ev);
        }
        return done;
}

void queue_unsend_all(Queue *q)
{
        for (size_t i = 0; i < q->in_flight; i++)
                uncharge_sent(q, ring_at(&q->out, i));
        q->in_flight = 0;
}

Event *queue_pop(Queue *q)
{
        Event *ev;

        if (q->out.len == 0 && !queue_next_unsent(q))
                return NULL;
        ev = ring_pop_front(&q->out);
        if (q->in_flight > 0)
                q->in_flight--;
        uncharge(q, ev);
        return ev;
}

void queue_quarantine(Queue *q)
{
        Event *ev = queue_next_unsent(q);
        Lane *lane;

        g_assert(ev && q->in_flight == 0);
        ring_pop_front(&q->out);
        lane = ev->q.lane;
        lane->quarantined++;
        lane->user->quarantined++;
        q->quarantined++;
        if (ev->ack_n && lane->ack_sink && q->done)
                q->done(lane, ev, QUEUE_DONE_QUARANTINED, q->done_data);
        uncharge(q, ev);
        event_free(ev);
}

static uint64_t lane_offered(const void *p)
{
        const Lane *lane = p;
        return lane->received + lane->rate_limited;
}

static uint64_t user_offered(const void *p)
{
        const QueueUser *u = p;
        return u->received + u->rate_limited;
}

/* The n items of a list (lanes or users) that offered the most events, busiest
 * first, by insertion into the sorted top n. */
static size_t busiest(const GList *head, uint64_t (*offered_of)(const void *), const void **out,
                      size_t n)
{
        size_t k = 0;

        for (const GList *l = head; l && n > 0; l = l->next) {
                uint64_t offered = offered_of(l->data);
                size_t i;

                if (offered == 0)
                        continue;
                for (i = k; i > 0 && offered_of(out[i - 1]) < offered; i--)
                        if (i < n)
                                out[i] = out[i - 1];
                if (i < n) {
                        out[i] = l->data;
                        if (k < n)
                                k++;
                }
        }
        return k;
}

size_t queue_busiest(const Queue *q, const Lane **out, size_t n)
{
        return busiest(q->all.head, lane_offered, (const void **) out, n);
}

size_t queue_busiest_users(const Queue *q, const QueueUser **out, size_t n)
{
        return busiest(q->users.head, user_offered, (const void **) out, n);
}

size_t queue_user_connections(const Queue *q, uid_t uid)
{
        const QueueUser *u = g_hash_table_lookup(q->users_by_uid, GUINT_TO_POINTER(uid));

        return u ? u->connections : 0;
}

const char *queue_policy_name(QueuePolicy p)
{
        switch (p) {
        case QUEUE_POLICY_BLOCK:
                return "block";
        case QUEUE_POLICY_DROP_NEWEST:
                return "drop-newest";
        case QUEUE_POLICY_DROP_OLDEST:
                return "drop-oldest";
        }
        return NULL;
}

bool queue_policy_from_name(const char *name, QueuePolicy *ret)
{
        for (QueuePolicy p = QUEUE_POLICY_BLOCK; p <= QUEUE_POLICY_DROP_OLDEST; p++)
                if (strcmp(name, queue_policy_name(p)) == 0) {
                        *ret = p;
                        return true;
                }
        return false;
}

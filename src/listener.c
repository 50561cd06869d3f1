/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener.c — the daemon's sockets at run time (see listener.h): accept,
 * connections, pause and resume, shutdown, and the one drain loop.
 *
 * The loop serves a DGRAM socket or one connection at a time: it asks the
 * transport's reader (reader.h: a packet, or a stream's line) for the next
 * unit and hands each to intake (intake.h), which queues it or refuses it.
 * What comes back to the listener is what only the listener can do: answer
 * an acknowledged connection, stop reading a source whose lane is at its
 * share, and drop a connection that hung up. It never decides whether an
 * event is good, and never talks to the bus.
 *
 * Every callback here (socket watches, idle sources, the accept retry
 * timer) runs in the default main context, the daemon's only thread that
 * touches a Listener.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "answers.h"
#include "intake.h"
#include "linebuf.h"
#include "listener.h"
#include "reader.h"
#include "util.h"

/* How long accept() rests after EMFILE/ENFILE before it is tried again
 * (sooner when a connection closes and frees a descriptor). */
#define ACCEPT_RETRY_MSEC 250

/* ---- connections and their answers ---- */

typedef struct Endpoint Endpoint;
typedef struct Conn Conn;

/*
 * A connection: its socket, its lane, its intake state (credentials and
 * acknowledgements), its line buffer (stream) and its unwritten answers.
 */
struct Conn {
        Endpoint *ep;
        int fd;
        guint watch;
        IntakeSource src; /* its SO_PEERCRED, its lane, its acknowledgements */
        bool blocked;     /* block policy: its lane is at its share (l->blocked_conns) */
        bool stream;      /* SOCK_STREAM: lines, framed in `lines` */
        LineBuf lines;
        guint idle;       /* stream: complete lines are buffered, to be taken without a read */
        Answers answers;
        uint64_t answered; /* answers given (of src.ack_next attempts) */
        /* The peer shut down its write side: nothing more to read, but the
         * answers it is owed are still written (doc/protocol.md 1.7) */
        bool hung_up;
        guint gone_watch;  /* hung up: the peer's full close (POLLHUP) */
        guint finish_idle; /* hung up and nothing more owed: drop it */
};

struct Endpoint {
        Listener *l;
        const ListenSpec *spec;
        BoundSocket sock;
        IntakeSource src;  /* DGRAM: the socket's intake state */
        guint watch;
        guint retry_timer; /* re-arms accept() after the descriptors ran out */
        bool starved;      /* accept() failed with EMFILE/ENFILE: wait for the timer */
        bool input_done;   /* shutting down: nothing more can arrive, all read */
        Lane *blocked_on;  /* DGRAM, block policy: the lane at its share (l->blocked_eps) */
        GPtrArray *conns; /* Conn*, connected transports only */
};

struct Listener {
        const Config *config;
        Queue *queue;
        Stats *stats;
        Intake intake;
        ListenerCallbacks cb;
        gpointer user_data;
        GPtrArray *endpoints; /* Endpoint* */
        bool paused;
        bool stopping; /* listener_stop_input() was called */
        GPtrArray *blocked_conns; /* Conn* whose lane is at its share */
        GPtrArray *blocked_eps;   /* Endpoint* waiting for a DGRAM lane */
        Conn *paused_at; /* the connection whose read filled the queue (listener_resume()) */
        char *buf; /* max-event-size bytes, reused for every packet */
};

static void conn_watch(Conn *c);
static void endpoint_arm(Endpoint *ep);
static void check_input_done(Listener *l);
static void endpoint_drop_conn(Endpoint *ep, Conn *c);

/* Whether the connection is to be read: not paused, not at its share, its
 * answers not full, and not hung up. */
static bool conn_readable(const Conn *c)
{
        return !c->ep->l->paused && !c->blocked && !c->answers.full && !c->hung_up;
}

/* ... and is not watched yet. */
static bool conn_may_read(const Conn *c)
{
        return !c->watch && conn_readable(c);
}

/* Answers the connection is still owed: attempts not answered yet, or
 * answered but not yet written. */
static bool conn_owes(const Conn *c)
{
        return (c->src.ack && c->answered < c->src.ack_next) || answers_pending(&c->answers);
}

static gboolean on_conn_finish(gpointer user_data)
{
        Conn *c = user_data;

        c->finish_idle = 0;
        endpoint_drop_conn(c->ep, c);
        return G_SOURCE_REMOVE;
}

/* A hung-up connection that is owed nothing more goes, from an idle source:
 * the callers are in the middle of the queue's or the answers' work. */
static void conn_check_finished(Conn *c)
{
        if (c->hung_up && !c->finish_idle && !conn_owes(c))
                c->finish_idle = g_idle_add(on_conn_finish, c);
}

/* The connection's answers drained below half: read it again. */
static void on_answers_room(void *user_data)
{
        Conn *c = user_data;

        if (conn_may_read(c))
                conn_watch(c);
}

/* Every answer is written. */
static void on_answers_written(void *user_data)
{
        conn_check_finished(user_data);
}

/* One answer; at ANSWERS_MAX unwritten the connection is not read until they
 * drain, so a sender that never reads them blocks in send(), and nobody else
 * notices. */
static void conn_ack(Conn *c, uint64_t n, const char *what, const char *detail)
{
        c->answered++;
        if (answers_push(&c->answers, n, what, detail)) {
                g_clear_handle_id(&c->watch, g_source_remove);
                g_clear_handle_id(&c->idle, g_source_remove);
        }
        conn_check_finished(c);
}

/* The queue's word on an acknowledged event: on the bus, dropped, or quarantined
 * (refused after all: the bus would not take it). */
static void on_event_done(Lane *lane, const Event *ev, QueueOutcome outcome, void *user_data)
{
        Conn *c = lane->ack_sink;
        char seq[24];

        if (!c)
                return;
        switch (outcome) {
        case QUEUE_DONE_EMITTED:
                g_snprintf(seq, sizeof(seq), "%" G_GUINT64_FORMAT, event_seq(ev));
                conn_ack(c, ev->ack_n, "ok", seq);
                break;
        case QUEUE_DONE_DROPPED:
                conn_ack(c, ev->ack_n, "dropped", NULL);
                break;
        case QUEUE_DONE_QUARANTINED:
                conn_ack(c, ev->ack_n, "refused", "quarantined");
                break;
        }
}

/* The queue needs the room an unfinished line takes (queue_lane_set_pending()):
 * the line goes; what is left of it is refused as too-large when it ends. */
static bool on_line_evicted(void *owner, void *user_data)
{
        Conn *c = owner;

        if (linebuf_has_line(&c->lines))
                return false; /* being read: its complete lines come first */
        log_limited(LOG_KIND_LINE_EVICTED, G_LOG_LEVEL_WARNING, NULL, c->src.cred.pid,
                    c->src.cred.uid,
                    "threw away the unfinished line of pid %d uid %u on %s (%zu bytes): the "
                    "queue needed the room; it is refused as too-large when it ends",
                    (int) c->src.cred.pid, (unsigned) c->src.cred.uid, c->ep->spec->path,
                    c->src.lane->pending);
        linebuf_discard(&c->lines);
        return true;
}

/* A stream connection's unfinished line, charged to its lane (queue.h); only a
 * buffer that holds no complete line can be thrown away. */
static void conn_charge_line(Conn *c)
{
        if (c && c->stream)
                queue_lane_set_pending(c->ep->l->queue, c->src.lane, linebuf_held(&c->lines),
                                       linebuf_has_line(&c->lines) ? NULL : c);
}

/* ---- receive ---- */

static bool queue_blocks(const Listener *l)
{
        return l->queue->policy == QUEUE_POLICY_BLOCK && queue_is_full(l->queue);
}

/* Block policy: the lane this source feeds is at its share; stop reading the
 * connection (conn), or the DGRAM socket (ep), until listener_space() finds room. */
static void listener_block(Endpoint *ep, Conn *conn, Lane *lane)
{
        Listener *l = ep->l;

        queue_lane_block(l->queue, lane, true);
        if (conn) {
                conn->blocked = true;
                g_ptr_array_add(l->blocked_conns, conn);
                g_clear_handle_id(&conn->watch, g_source_remove);
                g_clear_handle_id(&conn->idle, g_source_remove);
        } else {
                ep->blocked_on = lane;
                g_ptr_array_add(l->blocked_eps, ep);
                g_clear_handle_id(&ep->watch, g_source_remove);
        }
}

/* One unit to intake, and what its verdict asks of the listener. Returns
 * false when the source must not be read any more for now (blocked). */
static bool take(Endpoint *ep, Conn *c, IntakeUnit *u)
{
        Listener *l = ep->l;
        IntakeVerdict v;

        switch (intake_take(&l->intake, c ? &c->src : &ep->src, u, &v)) {
        case INTAKE_CONTROL:
                queue_lane_set_ack_sink(l->queue, c->src.lane, c); /* answers go to c */
                return true;
        case INTAKE_REFUSED:
                if (v.ack_n)
                        conn_ack(c, v.ack_n, "refused", reason_name(v.reason));
                return true;
        case INTAKE_QUEUED:
                if (l->cb.queued)
                        l->cb.queued(l->user_data);
                return true;
        case INTAKE_BLOCKED:
                if (l->cb.queued)
                        l->cb.queued(l->user_data);
                listener_block(ep, c, v.lane);
                return false;
        }
        g_assert_not_reached();
}

/* The next unit of a source: a packet of the socket or connection, or a line. */
static ReaderResult next_unit(Endpoint *ep, Conn *c, int *fds, IntakeUnit *u)
{
        Listener *l = ep->l;
        unsigned n_strays;
        bool stray;
        ReaderResult r;

        if (!c || !c->stream)
                return reader_packet(c ? c->fd : ep->sock.fd, c != NULL, l->buf,
                                     l->config->max_event_size, fds, u);
        r = reader_stream(c->fd, &c->lines, u, fds, &n_strays, &stray);
        if (stray)
                intake_stream_fds(&l->intake, &c->src, fds, n_strays);
        return r;
}

/* A connection ended: its slot and its descriptor are free (listener_fds_freed()). */
static void endpoint_drop_conn(Endpoint *ep, Conn *c)
{
        Listener *l = ep->l;

        stats_connection_closed(l->stats);
        g_ptr_array_remove_fast(ep->conns, c); /* frees c and its sources */
        listener_fds_freed(l);
        check_input_done(l);
}

static gboolean on_conn_idle(gpointer user_data);

/* The peer gave up its half too: what it is owed can no longer be written. */
static gboolean on_conn_gone(gint fd, GIOCondition cond, gpointer user_data)
{
        Conn *c = user_data;

        c->gone_watch = 0;
        endpoint_drop_conn(c->ep, c);
        return G_SOURCE_REMOVE;
}

/*
 * The peer shut down its write side (or closed). A connection owed answers
 * stays open for them, not read any more, until they are written or the
 * peer closes its side too: a sender that half-closes and then reads (what
 * socat does when its input ends) gets every answer. Others go at once.
 */
static void conn_hung_up(Endpoint *ep, Conn *c)
{
        if (!conn_owes(c)) {
                endpoint_drop_conn(ep, c);
                return;
        }
        c->hung_up = true;
        g_clear_handle_id(&c->watch, g_source_remove);
        g_clear_handle_id(&c->idle, g_source_remove);
        c->gone_watch = g_unix_fd_add(c->fd, G_IO_HUP | G_IO_ERR, on_conn_gone, c);
        check_input_done(ep->l); /* its input is done */
}

/* Complete lines are buffered and the socket may have nothing more to say:
 * take them from an idle callback rather than wait for it. */
static void conn_kick(Conn *c)
{
        if (c->stream && !c->idle && linebuf_has_line(&c->lines))
                c->idle = g_idle_add(on_conn_idle, c);
}

/*
 * The one drain loop: up to `batch` units of a DGRAM socket (c NULL) or of a
 * connection, each handed to intake. A complete line is delivered even when
 * the hang-up follows at once. Returns FALSE when the source must go: the
 * connection is gone (and freed), or the source is no longer watched
 * (paused, blocked, its answers full, or shut down and read to the end).
 */
static gboolean drain(Endpoint *ep, Conn *c)
{
        Listener *l = ep->l;

        for (unsigned i = 0; i < l->config->batch; i++) {
                int fds[READER_MAX_FDS];
                IntakeUnit u;

                if (queue_blocks(l)) {
                        listener_pause(l); /* the kernel now pushes back on the senders */
                        l->paused_at = c;
                        return FALSE;
                }
                if (c && c->answers.full)
                        return FALSE; /* conn_ack() removed its watch */
                conn_charge_line(c); /* what the last read left buffered */
                switch (next_unit(ep, c, fds, &u)) {
                case READER_MORE:
                        continue;
                case READER_FAILED:
                        log_limited(LOG_KIND_RECV_FAILED, G_LOG_LEVEL_WARNING, NULL, -1,
                                  -1, "recv on %s: %s", ep->spec->path, g_strerror(errno));
                        return TRUE;
                case READER_AGAIN:
                        conn_charge_line(c);
                        if (!c && l->stopping) {
                                /* shut down for reading: nothing can arrive any more (and
                                 * the socket polls readable for good) */
                                ep->input_done = true;
                                check_input_done(l);
                                return FALSE;
                        }
                        return TRUE;
                case READER_LAST:
                        (void) take(ep, c, &u);
                        conn_hung_up(ep, c);
                        return FALSE;
                case READER_HANGUP:
                        conn_hung_up(ep, c);
                        return FALSE;
                case READER_UNIT:
                        if (!take(ep, c, &u))
                                return FALSE;
                        break;
                }
        }
        if (c) {
                conn_charge_line(c);
                conn_kick(c); /* the batch is used up */
        }
        return TRUE;
}

static gboolean on_conn_idle(gpointer user_data)
{
        Conn *c = user_data;

        c->idle = 0;
        if (c->watch && conn_readable(c))
                drain(c->ep, c); /* what it stops, it stops itself */
        return G_SOURCE_REMOVE;
}

static void conn_free(Conn *c)
{
        Listener *l = c->ep->l;

        g_clear_handle_id(&c->watch, g_source_remove);
        g_clear_handle_id(&c->idle, g_source_remove);
        g_clear_handle_id(&c->gone_watch, g_source_remove);
        g_clear_handle_id(&c->finish_idle, g_source_remove);
        answers_deinit(&c->answers);
        queue_lane_set_ack_sink(l->queue, c->src.lane, NULL); /* its events' ends go unanswered now */
        linebuf_deinit(&c->lines);
        if (c->blocked)
                g_ptr_array_remove_fast(l->blocked_conns, c);
        if (l->paused_at == c)
                l->paused_at = NULL;
        queue_lane_detach(l->queue, c->src.lane); /* what it sent stays queued */
        safe_close(c->fd);
        g_free(c);
}

static bool at_connection_limit(const Listener *l)
{
        return !l->stopping && stats_connections(l->stats) >= l->config->max_connections;
}

static gboolean on_conn_readable(gint fd, GIOCondition cond, gpointer user_data)
{
        Conn *c = user_data;

        /* G_SOURCE_REMOVE: c hung up and is freed, or is no longer watched */
        return drain(c->ep, c);
}

static void conn_watch(Conn *c)
{
        c->watch = g_unix_fd_add(c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_conn_readable, c);
        conn_kick(c);
}

static gboolean on_accept_retry(gpointer user_data)
{
        Endpoint *ep = user_data;

        ep->retry_timer = 0;
        ep->starved = false;
        endpoint_arm(ep);
        return G_SOURCE_REMOVE;
}

typedef enum {
        ACCEPT_MORE,  /* one accepted or refused; there may be more */
        ACCEPT_EMPTY, /* the backlog is empty (or, shut down, gone) */
        ACCEPT_STOP,  /* the watch was disarmed */
} AcceptResult;

static void endpoint_disarm(Endpoint *ep)
{
        g_clear_handle_id(&ep->watch, g_source_remove);
}

static AcceptResult accept_one(Endpoint *ep)
{
        Listener *l = ep->l;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        _cleanup_close_ int fd = -1;
        Conn *c;

        if (at_connection_limit(l)) {
                /* Never accept a connection only to close it with its packets unread: at
                 * the limit, new connects wait in the kernel's backlog (a blocking connect
                 * sleeps, a non-blocking one gets EAGAIN once the backlog is full) until a
                 * connection ends (doc/protocol.md §1.4). */
                endpoint_disarm(ep);
                stats_count_accept_pause(l->stats);
                return ACCEPT_STOP;
        }
        fd = accept4(ep->sock.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
                int e = errno;
                if (e == EAGAIN || e == EWOULDBLOCK || (l->stopping && e == EINVAL))
                        return ACCEPT_EMPTY;
                if (e == EINTR || e == ECONNABORTED)
                        return ACCEPT_MORE;
                if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                        /* the connection stays in the backlog; do not spin on it */
                        stats_count_accept_failure(l->stats); /* and a pause */
                        log_limited(LOG_KIND_ACCEPT_FAILED, G_LOG_LEVEL_WARNING, NULL,
                                  -1, -1,
                                  "cannot accept connections on %s: %s; trying again in %u ms "
                                  "or when a connection closes",
                                  ep->spec->path, g_strerror(e), ACCEPT_RETRY_MSEC);
                        endpoint_disarm(ep);
                        ep->starved = true;
                        if (!ep->retry_timer)
                                ep->retry_timer =
                                        g_timeout_add(ACCEPT_RETRY_MSEC, on_accept_retry, ep);
                        return ACCEPT_STOP;
                }
                log_limited(LOG_KIND_ACCEPT_FAILED, G_LOG_LEVEL_WARNING, NULL, -1, -1,
                          "accept on %s: %s", ep->spec->path, g_strerror(e));
                return ACCEPT_EMPTY;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                log_limited(LOG_KIND_ACCEPT_FAILED, G_LOG_LEVEL_WARNING, NULL, -1, -1,
                          "SO_PEERCRED on %s: %s", ep->spec->path, g_strerror(errno));
                return ACCEPT_MORE;
        }
        if (!intake_admit_connection(&l->intake, ep->spec, &cred))
                return ACCEPT_MORE;
        if (l->stopping)
                (void) shutdown(fd, SHUT_RD); /* read what it sent; further sends fail */
        socket_set_rcvbuf(fd, l->config->receive_buffer);
        c = g_new0(Conn, 1);
        c->ep = ep;
        c->fd = steal_fd(&fd);
        intake_source_init(&c->src, ep->spec,
                           queue_lane_attach(l->queue, ep->spec->transport, cred.pid, cred.uid,
                                             cred.gid, ep->spec->path),
                           &cred);
        c->stream = ep->spec->transport == TRANSPORT_STREAM;
        linebuf_init(&c->lines, l->config->max_event_size);
        answers_init(&c->answers, c->fd, c->stream, on_answers_room, on_answers_written, c);
        g_ptr_array_add(ep->conns, c);
        stats_connection_opened(l->stats);
        if (!l->paused)
                conn_watch(c);
        return ACCEPT_MORE;
}

static gboolean on_endpoint_readable(gint fd, GIOCondition cond, gpointer user_data)
{
        Endpoint *ep = user_data;

        if (transport_is_connected(ep->spec->transport)) {
                /* until the backlog is empty: a connection left in it would wake us again at
                 * once; the batch only bounds one wakeup's work */
                for (unsigned i = 0; i < ep->l->config->batch; i++) {
                        AcceptResult r = accept_one(ep);
                        if (r == ACCEPT_STOP)
                                return G_SOURCE_REMOVE; /* ep->watch is already cleared */
                        if (r == ACCEPT_EMPTY) {
                                if (ep->l->stopping) {
                                        ep->input_done = true;
                                        ep->watch = 0;
                                        check_input_done(ep->l);
                                        return G_SOURCE_REMOVE;
                                }
                                break;
                        }
                }
                return G_SOURCE_CONTINUE;
        }
        if (drain(ep, NULL) == G_SOURCE_REMOVE) {
                ep->watch = 0;
                return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
}

/* Watches the socket unless paused, done, out of descriptors or (SEQPACKET) at the limit. */
static void endpoint_arm(Endpoint *ep)
{
        Listener *l = ep->l;

        if (l->paused || ep->watch || ep->starved || ep->sock.fd < 0 || ep->input_done ||
            ep->blocked_on)
                return;
        if (transport_is_connected(ep->spec->transport) && at_connection_limit(l))
                return;
        ep->watch = g_unix_fd_add(ep->sock.fd, G_IO_IN, on_endpoint_readable, ep);
}

/* ---- lifecycle ---- */

static void endpoint_free(Endpoint *ep)
{
        g_clear_pointer(&ep->conns, g_ptr_array_unref);
        endpoint_disarm(ep);
        g_clear_handle_id(&ep->retry_timer, g_source_remove);
        socket_unlink(&ep->sock);
        safe_close(ep->sock.fd);
        g_free(ep);
}

Listener *listener_new(const Config *config, const struct Schemas *schemas, Queue *queue,
                       Stats *stats, const ListenerCallbacks *cb, gpointer user_data,
                       GError **error)
{
        g_autoptr(Listener) l = g_new0(Listener, 1);

        l->config = config;
        intake_init(&l->intake, config, schemas, queue, stats);
        l->queue = queue;
        l->stats = stats;
        l->cb = *cb;
        l->user_data = user_data;
        l->paused = true;
        l->buf = g_malloc(config->max_event_size ? config->max_event_size : 1);
        queue_set_done(queue, on_event_done, l);
        queue_set_evict(queue, on_line_evicted, l);
        l->blocked_conns = g_ptr_array_new();
        l->blocked_eps = g_ptr_array_new();
        l->endpoints = g_ptr_array_new_with_free_func((GDestroyNotify) endpoint_free);
        for (guint i = 0; i < config->listens->len; i++) {
                Endpoint *ep = g_new0(Endpoint, 1);
                ep->l = l;
                ep->spec = config->listens->pdata[i];
                intake_source_init(&ep->src, ep->spec, NULL, NULL);
                ep->sock.fd = -1;
                ep->sock.path = ep->spec->path;
                ep->conns = g_ptr_array_new_with_free_func((GDestroyNotify) conn_free);
                g_ptr_array_add(l->endpoints, ep);
                if (!(ep->spec->fd >= 0
                              ? socket_adopt(ep->spec, &ep->sock, error)
                              : socket_bind(ep->spec, config->receive_buffer, config->backlog,
                                            &ep->sock, error)))
                        return NULL;
        }
        return g_steal_pointer(&l);
}

void listener_pause(Listener *l)
{
        if (l->paused)
                return;
        l->paused = true;
        for (guint i = 0; i < l->endpoints->len; i++) {
                Endpoint *ep = l->endpoints->pdata[i];
                endpoint_disarm(ep);
                for (guint k = 0; k < ep->conns->len; k++) {
                        Conn *c = ep->conns->pdata[k];
                        g_clear_handle_id(&c->watch, g_source_remove);
                }
        }
}

/*
 * Connections are read in turn across pauses. GLib dispatches ready sources
 * of one priority in the order they were attached, and a full queue pauses
 * the listener in the middle of a round: watched again in the same order,
 * the first connections would fill the queue again every time and the last
 * ones would never be read (100 flooding connections held a paced sender's
 * packets in the kernel for seconds). So the watches are attached again
 * starting after the connection whose read filled the queue.
 */
void listener_resume(Listener *l)
{
        guint n = 0, start = 0;

        if (!l->paused)
                return;
        l->paused = false;
        for (guint i = 0; i < l->endpoints->len; i++) {
                Endpoint *ep = l->endpoints->pdata[i];
                endpoint_arm(ep);
                for (guint k = 0; k < ep->conns->len; k++, n++)
                        if (ep->conns->pdata[k] == l->paused_at)
                                start = n + 1;
        }
        l->paused_at = NULL;
        for (guint turn = 0; turn < n; turn++) {
                guint want = (start + turn) % n;
                for (guint i = 0, base = 0; i < l->endpoints->len; i++) {
                        Endpoint *ep = l->endpoints->pdata[i];
                        if (want < base + ep->conns->len) {
                                Conn *c = ep->conns->pdata[want - base];
                                if (conn_may_read(c))
                                        conn_watch(c);
                                break;
                        }
                        base += ep->conns->len;
                }
        }
}

bool listener_is_paused(const Listener *l)
{
        return l->paused;
}

/* Also what a closed connection does: a slot and a descriptor are free, so an
 * endpoint that stopped accepting (at the limit, or out of descriptors) is
 * armed again; endpoint_arm() leaves the others as they are. */
void listener_fds_freed(Listener *l)
{
        for (guint i = 0; i < l->endpoints->len; i++) {
                Endpoint *ep = l->endpoints->pdata[i];
                if (ep->starved) {
                        g_clear_handle_id(&ep->retry_timer, g_source_remove);
                        ep->starved = false;
                }
                endpoint_arm(ep);
        }
}

void listener_space(Listener *l)
{
        Queue *q = l->queue;
        bool any = q->policy != QUEUE_POLICY_BLOCK; /* a reload may have left block */

        for (guint i = l->blocked_conns->len; i-- > 0;) {
                Conn *c = l->blocked_conns->pdata[i];
                if (!any && !queue_lane_has_room(q, c->src.lane))
                        continue;
                g_ptr_array_remove_index_fast(l->blocked_conns, i);
                c->blocked = false;
                queue_lane_block(q, c->src.lane, false);
                if (conn_may_read(c))
                        conn_watch(c);
        }
        for (guint i = l->blocked_eps->len; i-- > 0;) {
                Endpoint *ep = l->blocked_eps->pdata[i];
                if (!any && !queue_lane_has_room(q, ep->blocked_on))
                        continue;
                g_ptr_array_remove_index_fast(l->blocked_eps, i);
                queue_lane_block(q, ep->blocked_on, false);
                ep->blocked_on = NULL;
                endpoint_arm(ep);
        }
}

void listener_reconfigure(Listener *l)
{
        const Config *c = l->config;

        /* between two reads: nothing is in the buffer */
        l->buf = g_realloc(l->buf, MAX(c->max_event_size, 1));
        for (guint i = 0; i < l->endpoints->len; i++) {
                Endpoint *ep = l->endpoints->pdata[i];
                for (guint k = 0; k < ep->conns->len; k++) {
                        Conn *conn = ep->conns->pdata[k];
                        linebuf_set_max(&conn->lines, c->max_event_size); /* from its next line */
                }
                if (ep->spec->fd >= 0 || ep->sock.fd < 0)
                        continue; /* systemd's: ReceiveBuffer= and Backlog= are the unit's */
                socket_set_rcvbuf(ep->sock.fd, c->receive_buffer);
                if (transport_is_connected(ep->spec->transport) && !l->stopping)
                        (void) listen(ep->sock.fd, (int) c->backlog); /* updates the backlog */
        }
        listener_fds_freed(l); /* re-arms what a raised limit allows */
        listener_space(l);     /* and what larger shares (or another policy) let read */
}

static void check_input_done(Listener *l)
{
        if (!l->stopping)
                return;
        for (guint i = 0; i < l->endpoints->len; i++) {
                Endpoint *ep = l->endpoints->pdata[i];
                if (!ep->input_done)
                        return;
                for (guint k = 0; k < ep->conns->len; k++)
                        if (!((Conn *) ep->conns->pdata[k])->hung_up)
                                return; /* still to be read (a hung-up one only writes) */
        }
        l->stopping = false; /* report once */
        if (l->cb.input_done)
                l->cb.input_done(l->user_data);
}

void listener_stop_input(Listener *l)
{
        l->stopping = true;
        for (guint i = 0; i < l->endpoints->len; i++) {
                Endpoint *ep = l->endpoints->pdata[i];
                if (ep->spec->fd >= 0) {
                        /* systemd's socket: what waits in it is the next instance's */
                        endpoint_disarm(ep);
                        ep->input_done = true;
                } else {
                        /* a new instance may bind the path at once; a sender's next send
                         * (or connect) fails, so it retries there, and what the kernel
                         * already holds is still ours to read */
                        socket_unlink(&ep->sock);
                        (void) shutdown(ep->sock.fd, SHUT_RD);
                        g_clear_handle_id(&ep->retry_timer, g_source_remove);
                        ep->starved = false;
                        endpoint_arm(ep);
                }
                for (guint k = 0; k < ep->conns->len; k++) {
                        Conn *c = ep->conns->pdata[k];
                        (void) shutdown(c->fd, SHUT_RD);
                }
        }
        check_input_done(l);
}

void listener_free(Listener *l)
{
        if (!l)
                return;
        queue_set_done(l->queue, NULL, NULL);
        queue_set_evict(l->queue, NULL, NULL);
        g_clear_pointer(&l->endpoints, g_ptr_array_unref);
        g_clear_pointer(&l->blocked_conns, g_ptr_array_unref);
        g_clear_pointer(&l->blocked_eps, g_ptr_array_unref);
        g_free(l->buf);
        g_free(l);
}

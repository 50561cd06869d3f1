/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener.c — accept, recvmsg, credentials, fds, shutdown (see listener.h).
 *
 * The receive path, per packet:
 *
 *  1. recv(fd, NULL, 0, MSG_PEEK|MSG_TRUNC) returns the size of the next
 *     packet without reading it (systemd's next_datagram_size_fd()).
 *     FIONREAD/SIOCINQ is no substitute: on SOCK_SEQPACKET it returns the
 *     bytes of all queued packets together.
 *  2. recvmsg() with MSG_CMSG_CLOEXEC and a control buffer sized for the
 *     kernel's maximum (SCM_MAX_FD descriptors plus credentials), so that
 *     MSG_CTRUNC only ever means the kernel or a security module withheld
 *     something. A packet over max-event-size is received into a zero-length
 *     buffer: the kernel discards its bytes, and nothing of its size is
 *     ever allocated. Its fds still arrive and are closed.
 *  3. Every fd that arrived is closed on every refusal path; an accepted
 *     event owns its fds until the bus has confirmed it.
 *
 * A zero-length SEQPACKET read means either a zero-length packet or the
 * peer's hang-up: one with control data is a packet, else see
 * peer_seqpacket_hung_up().
 *
 * Every callback here (socket watches, the accept retry timer) runs in the
 * default main context, the daemon's only thread that touches a Listener.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "busmsg.h"
#include "answers.h"
#include "largefd.h"
#include "linebuf.h"
#include "listener.h"
#include "listener-private.h"
#include "peer.h"
#include "schema.h"
#include "util.h"

/* How long accept() rests after EMFILE/ENFILE before it is tried again
 * (sooner when a connection closes and frees a descriptor). */
#define ACCEPT_RETRY_MSEC 250

/* ---- receive ---- */

/*
 * An event whose type has a typed signal must fit it (schema_check()): else
 * it is refused as schema-mismatch, logged with the signal and the arg, and
 * not emitted at all. Returns whether it may be queued.
 */
static bool typed(Listener *l, Event *event, const char *where)
{
        const char *type = g_variant_get_string(event->type, NULL);
        const SchemaSignal *sig = schemas_lookup(l->config->schemas, type);
        const char *arg = NULL, *why = NULL;

        if (!sig)
                return true;
        event->typed = schema_build(sig, event, &arg, &why);
        if (event->typed) {
                event->sig = sig;
                /* its tree of children, which GDBus marshals from: about as much again */
                event->bytes += g_variant_get_size(event->data);
                if (schema_uses_seq(sig))
                        g_clear_pointer(&event->typed, g_variant_unref); /* built when picked */
                return true;
        }
        l->stats->rejected[STATS_R_SCHEMA_MISMATCH]++;
        stats_log(l->stats, (StatsLog) (STATS_LOG_REJECT + STATS_R_SCHEMA_MISMATCH),
                  G_LOG_LEVEL_INFO, "schema-mismatch", event->pid, event->uid,
                  "rejected packet on %s from pid=%d uid=%u: schema-mismatch: a \"%s\" event "
                  "for %s.%s: arg %s %s",
                  where, (int) event->pid, (unsigned) event->uid, type,
                  schema_signal_interface(sig), schema_signal_name(sig), arg, why);
        return false;
}

/* The sender's budget (queue_lane_admit()); logs the interval that ended. */
static bool rate_admit(Listener *l, Lane *lane)
{
        uint64_t suppressed;
        bool ok;

        if (l->queue->rate_burst == 0 || l->queue->rate_interval_usec <= 0)
                return true; /* off (the default): no clock read per packet */
        ok = queue_lane_admit(l->queue, lane, g_get_monotonic_time(), &suppressed);

        if (suppressed > 0)
                stats_log(l->stats, STATS_LOG_RATE_LIMITED, G_LOG_LEVEL_INFO, "rate-limited",
                          lane->pid, lane->uid,
                          "rate limit: suppressed %" G_GUINT64_FORMAT
                          " events from pid=%d uid=%u on %s (over %u per %.3g s)",
                          suppressed, (int) lane->pid, (unsigned) lane->uid, lane->where,
                          l->queue->rate_burst, (double) l->queue->rate_interval_usec / 1e6);
        return ok;
}

/* The connection's answers drained below half: read it again. */
static void on_answers_room(void *user_data)
{
        Conn *c = user_data;

        if (!c->ep->l->paused && !c->blocked && !c->watch)
                conn_watch(c);
}

/* One answer; at ANSWERS_MAX unwritten the connection is not read until they
 * drain, so a sender that never reads them blocks in send(), and nobody else
 * notices. */
static void conn_ack(Conn *c, uint64_t n, const char *what, const char *detail)
{
        if (answers_push(&c->answers, n, what, detail)) {
                g_clear_handle_id(&c->watch, g_source_remove);
                g_clear_handle_id(&c->idle, g_source_remove);
        }
}

/* An event attempt on an acknowledged connection was refused. */
void ack_refused(Conn *c, StatsReason r)
{
        if (c && c->ack)
                conn_ack(c, ++c->ack_next, "refused", stats_reason_name(r));
}

/* The queue's word on an acknowledged event: on the bus, or dropped. */
static void on_event_done(Lane *lane, const Event *ev, bool emitted, void *user_data)
{
        Conn *c = lane->ack_sink;
        char seq[24];

        if (!c)
                return;
        g_snprintf(seq, sizeof(seq), "%" G_GUINT64_FORMAT, ev->seq);
        conn_ack(c, ev->ack_n, emitted ? "ok" : "dropped", emitted ? seq : NULL);
}

/* "!ack": from now on every event attempt on c is answered. */
void conn_ack_enable(Conn *c)
{
        c->ack = true;
        c->lane->ack_sink = c;
}

ReadResult refuse(Listener *l, Conn *conn, StatsReason r, int *fds, unsigned n_fds,
                  const struct ucred *cred, const char *where)
{
        close_many(fds, n_fds);
        stats_reject(l->stats, r, cred->pid, cred->uid, where);
        ack_refused(conn, r);
        return READ_DONE;
}

static ReadResult read_one(Listener *l, Endpoint *ep, Conn *conn, int fd, Lane **ret_lane)
{
        const Config *cfg = l->config;
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(struct ucred)) +
                         CMSG_SPACE(sizeof(int) * CONFIG_SCM_MAX_FD)];
        } control;
        int fds[CONFIG_SCM_MAX_FD];
        struct ucred cred = { .pid = -1, .uid = (uid_t) -1, .gid = (gid_t) -1 };
        bool has_cred = false, too_large;
        struct iovec iov;
        struct msghdr msg = { 0 };
        unsigned n_fds;
        ssize_t size, n;
        const char *where = ep->spec->path;

        /* 1. size the packet without reading it */
        do
                size = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
        while (size < 0 && errno == EINTR);
        if (size < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        return READ_AGAIN;
                if (conn)
                        return READ_HANGUP; /* ECONNRESET and friends */
                stats_log(l->stats, STATS_LOG_RECV_FAILED, G_LOG_LEVEL_WARNING, NULL, -1, -1,
                          "recv on %s: %s", where, g_strerror(errno));
                return READ_AGAIN;
        }

        /* 2. read it, or only its control data when it is too large */
        too_large = (size_t) size > cfg->max_event_size;
        iov.iov_base = l->buf;
        iov.iov_len = too_large ? 0 : (size_t) size;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = &control;
        msg.msg_controllen = sizeof(control);
        do
                n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        return READ_AGAIN;
                return conn ? READ_HANGUP : READ_AGAIN;
        }
        /* SEQPACKET: nothing read and no control data is the hang-up, or an empty
         * packet; an empty packet with a descriptor is a large event (largefd.h) */
        if (n == 0 && conn && msg.msg_controllen == 0 && peer_seqpacket_hung_up(fd))
                return READ_HANGUP;
        l->stats->packets++;
        n_fds = peer_collect_cmsgs(&msg, fds, G_N_ELEMENTS(fds), &cred, &has_cred);
        if (conn) {
                cred = conn->cred; /* SO_PEERCRED: the kernel's word at connect time */
                has_cred = true;
                if (n_fds == 0 && !too_large && is_ack_control(l->buf, (size_t) n)) {
                        conn_ack_enable(conn); /* a control packet, not an event */
                        return READ_DONE;
                }
        }

        /* 3. refusals: close what came with the packet, count, log */
#define REFUSE(r) return refuse(l, conn, (r), fds, n_fds, &cred, where)

        if (msg.msg_flags & MSG_CTRUNC)
                /* the kernel (or an LSM) withheld descriptors or credentials: never pass on an
                 * event with part of its fds */
                REFUSE(STATS_R_FDS_TRUNCATED);
        if (too_large || (msg.msg_flags & MSG_TRUNC))
                REFUSE(STATS_R_TOO_LARGE);
        if (largefd_kind(l->buf, (size_t) n, n_fds) != LARGEFD_NONE) {
                /* the payload is in the first descriptor; the event's own come after it */
                g_autofree char *large = NULL;
                size_t len = 0;
                StatsReason r = largefd_read(fds[0], cfg->max_large_event_size, &large, &len);
                if (r != 0)
                        REFUSE(r);
                safe_close(fds[0]);
                return take_event(l, ep, conn, cred, has_cred, large, len, fds + 1, n_fds - 1,
                                  ret_lane);
        }
#undef REFUSE
        return take_event(l, ep, conn, cred, has_cred, l->buf, (size_t) n, fds, n_fds, ret_lane);
}

/*
 * One event's bytes (a packet, or a stream's line) with its descriptors and
 * credentials: checked, decoded and queued, or refused. The descriptors are
 * the event's or closed, on every path.
 */
ReadResult take_event(Listener *l, Endpoint *ep, Conn *conn, struct ucred cred,
                             bool has_cred, const char *bytes, size_t n, int *fds,
                             unsigned n_fds, Lane **ret_lane)
{
        const Config *cfg = l->config;
        const char *where = ep->spec->path;
        CodecEvent ev = { 0 };
        CodecReason reason;
        Event *event;
        Lane *lane;

#define REFUSE(r) return refuse(l, conn, (r), fds, n_fds, &cred, where)

        if (!conn && (!has_cred || peer_unattributed(&cred))) {
                /* not "uid 65534 is not allowed": there is no such sender to look for */
                cred = (struct ucred){ .pid = -1, .uid = (uid_t) -1, .gid = (gid_t) -1 };
                REFUSE(STATS_R_NO_CREDENTIALS);
        }
        if (!conn && !peer_allowed(ep->spec, cred.uid, cred.gid))
                REFUSE(STATS_R_NOT_ALLOWED);
        if (n_fds > cfg->max_fds)
                REFUSE(STATS_R_TOO_MANY_FDS);

        lane = conn ? conn->lane
                    : queue_lane_dgram(l->queue, ep, cred.pid, cred.uid, cred.gid, where);
        if (!rate_admit(l, lane)) {
                /* counted, not logged one by one: rate_admit() says how many per interval */
                close_many(fds, n_fds);
                l->stats->rejected[STATS_R_RATE_LIMITED]++;
                ack_refused(conn, STATS_R_RATE_LIMITED);
                return READ_DONE;
        }

        reason = codec_decode(&cfg->limits, ep->spec->codec, bytes, n, &ev);
        if (reason != CODEC_OK)
                REFUSE((StatsReason) reason);
#undef REFUSE

        event = event_new(ev.type, ev.data, n_fds ? g_new(int, n_fds) : NULL, n_fds);
        if (n_fds)
                memcpy(event->fds, fds, n_fds * sizeof(int));
        if (!busmsg_fits(cfg->object_path, event)) {
                /* it decoded, but its message would pass the bus's ceiling: the bus would
                 * disconnect the relay for it */
                event_free(event); /* closes its fds */
                return refuse(l, conn, STATS_R_TOO_LARGE, NULL, 0, &cred, where);
        }
        event->received_usec = g_get_real_time();
        event->pid = cred.pid;
        event->uid = cred.uid;
        event->gid = cred.gid;
        event->transport = ep->spec->transport;
        event->codec = ev.format;
        if (cfg->schemas && !typed(l, event, where)) {
                event_free(event); /* closes its fds */
                ack_refused(conn, STATS_R_SCHEMA_MISMATCH);
                return READ_DONE;
        }
        if (conn && conn->ack)
                event->ack_n = ++conn->ack_next;
        l->stats->received++;
        if (G_UNLIKELY(stats_debug_enabled()))
                g_debug("event from pid=%d uid=%u on %s: %zu bytes, %u fds",
                        (int) cred.pid, (unsigned) cred.uid, where, (size_t) n, n_fds);
        l->stats->dropped += queue_push(l->queue, lane, event);
        if (l->cb.queued)
                l->cb.queued(l->user_data);
        if (l->queue->policy == QUEUE_POLICY_BLOCK && queue_lane_at_share(l->queue, lane)) {
                *ret_lane = lane;
                return READ_BLOCKED;
        }
        return READ_DONE;
}

static void conn_free(Conn *c)
{
        Listener *l = c->ep->l;

        if (c->watch)
                g_source_remove(c->watch);
        if (c->idle)
                g_source_remove(c->idle);
        answers_deinit(&c->answers);
        c->lane->ack_sink = NULL; /* its events' ends go unanswered now */
        linebuf_deinit(&c->lines);
        if (c->blocked)
                g_ptr_array_remove_fast(l->blocked_conns, c);
        queue_lane_detach(l->queue, c->lane); /* what it sent stays queued */
        safe_close(c->fd);
        g_free(c);
}

static void endpoint_arm(Endpoint *ep);
static void check_input_done(Listener *l);

static bool at_connection_limit(const Listener *l)
{
        return !l->stopping && l->stats->connections >= l->config->max_connections;
}

void listener_block(Endpoint *ep, Conn *conn, Lane *lane)
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

/* A connection ended: its slot and its descriptor are free (listener_fds_freed()). */
void endpoint_drop_conn(Endpoint *ep, Conn *c)
{
        Listener *l = ep->l;

        l->stats->connections--;
        g_ptr_array_remove_fast(ep->conns, c); /* frees */
        listener_fds_freed(l);
        check_input_done(l);
}

/* Reads up to `batch` packets; returns FALSE when the source must go. */
static gboolean drain_fd(Endpoint *ep, Conn *conn, int fd)
{
        Listener *l = ep->l;

        for (unsigned i = 0; i < l->config->batch; i++) {
                ReadResult r;
                Lane *lane = NULL;

                if (l->queue->policy == QUEUE_POLICY_BLOCK && queue_is_full(l->queue)) {
                        listener_pause(l); /* the kernel now pushes back on the senders */
                        return G_SOURCE_REMOVE;
                }
                if (conn && conn->answers.full)
                        return G_SOURCE_REMOVE; /* conn_ack() removed its watch */
                r = read_one(l, ep, conn, fd, &lane);
                if (r == READ_BLOCKED) {
                        listener_block(ep, conn, lane);
                        return G_SOURCE_REMOVE;
                }
                if (r == READ_AGAIN) {
                        if (!conn && l->stopping) {
                                /* shut down for reading: nothing can arrive any more (and
                                 * the socket polls readable for good) */
                                ep->input_done = true;
                                check_input_done(l);
                                return G_SOURCE_REMOVE;
                        }
                        break;
                }
                if (r == READ_HANGUP) {
                        conn->watch = 0; /* removed by returning G_SOURCE_REMOVE */
                        endpoint_drop_conn(ep, conn);
                        return G_SOURCE_REMOVE;
                }
        }
        return G_SOURCE_CONTINUE;
}

static gboolean on_conn_readable(gint fd, GIOCondition cond, gpointer user_data)
{
        Conn *c = user_data;

        /* G_SOURCE_REMOVE: c hung up and is freed, or the listener paused */
        if (c->stream)
                return listener_stream_drain(c->ep, c) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
        return drain_fd(c->ep, c, fd);
}

void conn_watch(Conn *c)
{
        c->watch = g_unix_fd_add(c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_conn_readable, c);
        listener_stream_kick(c);
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
                l->stats->accept_pauses++;
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
                        l->stats->accept_failures++;
                        l->stats->accept_pauses++;
                        stats_log(l->stats, STATS_LOG_ACCEPT_FAILED, G_LOG_LEVEL_WARNING, NULL,
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
                stats_log(l->stats, STATS_LOG_ACCEPT_FAILED, G_LOG_LEVEL_WARNING, NULL, -1, -1,
                          "accept on %s: %s", ep->spec->path, g_strerror(e));
                return ACCEPT_EMPTY;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                stats_log(l->stats, STATS_LOG_ACCEPT_FAILED, G_LOG_LEVEL_WARNING, NULL, -1, -1,
                          "SO_PEERCRED on %s: %s", ep->spec->path, g_strerror(errno));
                return ACCEPT_MORE;
        }
        if (!peer_allowed(ep->spec, cred.uid, cred.gid)) {
                stats_reject(l->stats, STATS_R_NOT_ALLOWED, cred.pid, cred.uid, ep->spec->path);
                return ACCEPT_MORE;
        }
        if (l->stopping)
                (void) shutdown(fd, SHUT_RD); /* read what it sent; further sends fail */
        socket_set_rcvbuf(fd, l->config->receive_buffer);
        c = g_new0(Conn, 1);
        c->ep = ep;
        c->fd = steal_fd(&fd);
        c->cred = cred;
        c->lane = queue_lane_attach(l->queue, ep->spec->transport, cred.pid, cred.uid, cred.gid,
                                    ep->spec->path);
        c->stream = ep->spec->transport == TRANSPORT_STREAM;
        linebuf_init(&c->lines, l->config->max_event_size);
        answers_init(&c->answers, c->fd, c->stream, on_answers_room, c);
        g_ptr_array_add(ep->conns, c);
        l->stats->connections++;
        l->stats->connections_accepted++;
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
        if (drain_fd(ep, NULL, fd) == G_SOURCE_REMOVE) {
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

Listener *listener_new(const Config *config, Queue *queue, Stats *stats,
                       const ListenerCallbacks *cb, gpointer user_data, GError **error)
{
        g_autoptr(Listener) l = g_new0(Listener, 1);

        l->config = config;
        l->queue = queue;
        l->stats = stats;
        l->cb = *cb;
        l->user_data = user_data;
        l->paused = true;
        l->buf = g_malloc(config->max_event_size ? config->max_event_size : 1);
        queue_set_done(queue, on_event_done, l);
        l->blocked_conns = g_ptr_array_new();
        l->blocked_eps = g_ptr_array_new();
        l->endpoints = g_ptr_array_new_with_free_func((GDestroyNotify) endpoint_free);
        for (guint i = 0; i < config->listens->len; i++) {
                Endpoint *ep = g_new0(Endpoint, 1);
                ep->l = l;
                ep->spec = config->listens->pdata[i];
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

void listener_resume(Listener *l)
{
        if (!l->paused)
                return;
        l->paused = false;
        for (guint i = 0; i < l->endpoints->len; i++) {
                Endpoint *ep = l->endpoints->pdata[i];
                endpoint_arm(ep);
                for (guint k = 0; k < ep->conns->len; k++) {
                        Conn *c = ep->conns->pdata[k];
                        if (!c->watch && !c->blocked && !c->answers.full)
                                conn_watch(c);
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
                if (!any && !queue_lane_has_room(q, c->lane))
                        continue;
                g_ptr_array_remove_index_fast(l->blocked_conns, i);
                c->blocked = false;
                queue_lane_block(q, c->lane, false);
                if (!l->paused && !c->watch && !c->answers.full)
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
                if (!ep->input_done || ep->conns->len > 0)
                        return;
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
        g_clear_pointer(&l->endpoints, g_ptr_array_unref);
        g_clear_pointer(&l->blocked_conns, g_ptr_array_unref);
        g_clear_pointer(&l->blocked_eps, g_ptr_array_unref);
        g_free(l->buf);
        g_free(l);
}

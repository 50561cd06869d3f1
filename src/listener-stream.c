/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener-stream.c — stream connections (doc/protocol.md 1.5): bytes in as
 * they come, framed into lines by linebuf, each line an event through the
 * receive path's take_event().
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "listener-private.h"
#include "peer.h"
#include "util.h"

/*
 * Reads what a stream connection has into its line buffer. Descriptors
 * cannot be tied to a line on a stream: they are closed and counted
 * (fds-on-stream), and the bytes are read as usual.
 */
static ReadResult read_stream(Listener *l, Conn *c)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * CONFIG_SCM_MAX_FD)];
        } control;
        int fds[CONFIG_SCM_MAX_FD];
        struct ucred ignored;
        bool has_cred = false;
        struct iovec iov;
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        unsigned n_fds;
        ssize_t n;

        iov.iov_base = linebuf_space(&c->lines, &iov.iov_len);
        msg.msg_control = &control;
        msg.msg_controllen = sizeof(control);
        do
                n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK ? READ_AGAIN : READ_HANGUP;
        n_fds = peer_collect_cmsgs(&msg, fds, G_N_ELEMENTS(fds), &ignored, &has_cred);
        if (n_fds > 0 || (msg.msg_flags & MSG_CTRUNC)) {
                close_many(fds, n_fds);
                stats_reject(l->stats, STATS_R_FDS_ON_STREAM, c->cred.pid, c->cred.uid,
                             c->ep->spec->path);
        }
        if (n == 0)
                return READ_HANGUP;
        linebuf_commit(&c->lines, (size_t) n);
        return READ_DONE;
}

static gboolean on_conn_idle(gpointer user_data);

/* Complete lines are buffered and the socket may have nothing more to say:
 * take them from an idle callback rather than wait for it. */
void listener_stream_kick(Conn *c)
{
        if (c->stream && !c->idle && linebuf_has_line(&c->lines))
                c->idle = g_idle_add(on_conn_idle, c);
}

/*
 * Up to `batch` lines of a stream connection, read when none is buffered.
 * A complete line is delivered even when the hang-up follows at once; what
 * is left of a line at the hang-up is refused as truncated. Returns FALSE
 * when the connection is gone or no longer watched (paused, blocked).
 */
gboolean listener_stream_drain(Endpoint *ep, Conn *c)
{
        Listener *l = ep->l;
        const char *where = ep->spec->path;

        for (unsigned i = 0; i < l->config->batch; i++) {
                const char *line = NULL;
                size_t len = 0;
                Lane *lane = NULL;
                LineKind k;

                if (l->queue->policy == QUEUE_POLICY_BLOCK && queue_is_full(l->queue)) {
                        listener_pause(l);
                        return FALSE;
                }
                if (c->answers.full)
                        return FALSE; /* conn_ack() removed its watch */
                k = linebuf_next(&c->lines, &line, &len);
                if (k == LINE_NONE) {
                        ReadResult r = read_stream(l, c);
                        if (r == READ_AGAIN)
                                return TRUE;
                        if (r == READ_HANGUP) {
                                k = linebuf_finish(&c->lines, &line, &len);
                                if (k != LINE_NONE) {
                                        l->stats->packets++;
                                        refuse(l, c,
                                               k == LINE_TOO_LONG ? STATS_R_TOO_LARGE
                                                                  : (StatsReason) CODEC_E_TRUNCATED,
                                               NULL, 0, &c->cred, where);
                                }
                                endpoint_drop_conn(ep, c); /* frees c and its sources */
                                return FALSE;
                        }
                        continue;
                }
                l->stats->packets++; /* a line is a stream's packet */
                if (k == LINE_TOO_LONG) {
                        refuse(l, c, STATS_R_TOO_LARGE, NULL, 0, &c->cred, where);
                        continue;
                }
                if (is_ack_control(line, len)) {
                        conn_ack_enable(c); /* a control line, not an event */
                        continue;
                }
                if (take_event(l, ep, c, c->cred, true, line, len, NULL, 0, &lane) ==
                    READ_BLOCKED) {
                        listener_block(ep, c, lane);
                        return FALSE;
                }
        }
        listener_stream_kick(c); /* the batch is used up */
        return TRUE;
}

static gboolean on_conn_idle(gpointer user_data)
{
        Conn *c = user_data;

        c->idle = 0;
        if (c->watch && !c->blocked && !c->answers.full && !c->ep->l->paused)
                listener_stream_drain(c->ep, c); /* what it stops, it stops itself */
        return G_SOURCE_REMOVE;
}


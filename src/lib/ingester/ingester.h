/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <ingester/ingester.h> — libingester, the senders' side of ingesterd.
 *
 * A reader sends one event per packet to ingesterd's AF_UNIX socket: one
 * JSON object or one msgpack map (see the protocol, doc/protocol.md), and
 * optionally file descriptors that ride along with it. This library owns the
 * socket: it finds the daemon's socket and its type, sends packets with their
 * descriptors, and, when asked to, reconnects with backoff after the daemon
 * restarts. It does not encode events; the caller hands it finished bytes.
 *
 * Plain C on libc alone. No global state: every call works on the handle it
 * is given, so one handle per thread needs no locking. A handle itself must
 * not be used from two threads at once. Descriptors are created O_CLOEXEC and
 * sends never raise SIGPIPE (MSG_NOSIGNAL).
 *
 * Every call that can fail returns a negative errno value. The values a
 * caller should expect, and what they mean here:
 *
 *   -ENOENT        nothing at the socket path: ingesterd is not running (or
 *                  listens elsewhere).
 *   -ECONNREFUSED  a socket file is there but nobody listens on it: the daemon
 *                  has exited (its socket was left behind) or has just
 *                  restarted and the connection points at the old socket.
 *   -EPIPE         the daemon is stopping (it shuts its sockets down for
 *                  reading at SIGTERM, so that a retry reaches the next
 *                  instance) or closed the SOCK_SEQPACKET connection. A packet
 *                  whose send succeeded is relayed even across a graceful
 *                  restart; this one was not sent.
 *   -EMSGSIZE      the packet is larger than the socket can carry, and could
 *                  not go as a memfd either (more than INGESTER_MAX_FDS - 1
 *                  descriptors with it). A packet the socket refuses as too
 *                  large goes by itself as a sealed memfd (the daemon reads
 *                  up to max-large-event-size from it; doc/protocol.md 1.6).
 *                  The daemon has its own limit for packets (max-event-size);
 *                  a packet between the two is sent and then refused by the
 *                  daemon, which counts it.
 *   -EAGAIN        only with INGESTER_CLIENT_NONBLOCK: the daemon's receive
 *                  queue is full. Wait for POLLOUT on ingester_client_get_fd()
 *                  and send again. From connecting: the daemon is at its
 *                  connection limit and its backlog is full (a blocking
 *                  handle waits in connect() instead; below that, a new
 *                  connection waits in the backlog and what it sends is
 *                  relayed once the daemon accepts it).
 *   -EPROTOTYPE    a transport was forced and the socket is of the other type.
 *   -EINTR         a signal arrived while waiting between reconnect attempts.
 *   -EINVAL        an argument is out of range (an empty packet, more than
 *                  INGESTER_MAX_FDS descriptors, a bad retry policy).
 *   -ENAMETOOLONG  the socket path does not fit in sockaddr_un.sun_path.
 *   -EBADF         one of the descriptors to pass is not open.
 *   -ENOMEM        out of memory.
 * Other values come straight from socket(2), connect(2) and sendmsg(2).
 *
 * A packet for which ingester_client_send() returned 0 is in the daemon's
 * receive queue. What the daemon does with it (relay it, or count and refuse
 * it) is not reported back to the sender: see the daemon's counters
 * (GetStats on the bus) for that.
 */
#ifndef INGESTER_INGESTER_H
#define INGESTER_INGESTER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel's own bound on descriptors in one SCM_RIGHTS message (SCM_MAX_FD).
 * The daemon accepts fewer (max-fds: 8 by default, 16 at most); see ingesterd.conf(5). */
#define INGESTER_MAX_FDS 253

/* For ingester_client_set_retry(): keep retrying as long as it takes. */
#define INGESTER_RETRY_FOREVER UINT_MAX

typedef enum IngesterTransport {
        /* Connect, SOCK_SEQPACKET if the socket is one, else SOCK_STREAM,
         * else SOCK_DGRAM. */
        INGESTER_TRANSPORT_AUTO = 0,
        /* Connect with SOCK_SEQPACKET; -EPROTOTYPE if the socket is not one. */
        INGESTER_TRANSPORT_SEQPACKET = 1,
        /* Connect with SOCK_DGRAM; -EPROTOTYPE if the socket is not one. */
        INGESTER_TRANSPORT_DGRAM = 2,
        /* SOCK_DGRAM without connecting: every packet is addressed to the
         * path (sendto), so a restarted daemon is reached without any
         * reconnect. Costs a path lookup per packet. */
        INGESTER_TRANSPORT_DGRAM_UNCONNECTED = 3,
        /* Connect with SOCK_STREAM (ingesterd's stream listeners, or any
         * hub that reads newline-delimited JSON); -EPROTOTYPE if the socket
         * is not one. Each event is written as one line: the library adds
         * the '\n' when the event does not end with one. An event must be
         * one line (no '\n' before its end) and JSON; no descriptors. */
        INGESTER_TRANSPORT_STREAM = 4,
} IngesterTransport;

/* Flags for ingester_client_new(). */
enum {
        /* Sends never block: a full receive queue is -EAGAIN. Reconnect
         * attempts are made at most once per call and never sleep. */
        INGESTER_CLIENT_NONBLOCK = 1u << 0,
};

typedef struct IngesterClient IngesterClient;

/*
 * Creates a handle for the socket at @path. No I/O is done yet: the first
 * ingester_client_connect() or ingester_client_send() opens the socket.
 *
 * @path NULL means the default: $INGESTER_SOCKET if set and not empty; else
 * ingesterd's default directory ($XDG_RUNTIME_DIR/ingester, /run/ingester
 * for root without XDG_RUNTIME_DIR, else /run/user/UID/ingester) and in it
 * seqpacket.sock (if it exists, or the transport asks for it) or dgram.sock.
 *
 * @flags is 0 or INGESTER_CLIENT_NONBLOCK. Reconnecting is off until
 * ingester_client_set_retry() turns it on.
 *
 * Returns 0 and stores the handle in *ret, or -EINVAL (@ret NULL, unknown
 * transport or flag), -ENAMETOOLONG, -ENOMEM.
 */
int ingester_client_new(IngesterClient **ret, const char *path, IngesterTransport transport,
                        unsigned int flags);

/* Closes the socket and frees the handle. Accepts NULL. Returns NULL, so that
 * `c = ingester_client_free(c);` leaves no dangling pointer. */
IngesterClient *ingester_client_free(IngesterClient *c);

/*
 * Reconnect with backoff. When connecting fails or the connection turns out
 * to be gone (-ENOENT, -ECONNREFUSED, -EPIPE, -ECONNRESET, -ENOTCONN), the
 * handle waits @interval_ms, then tries again, the wait growing by @factor
 * each time up to @max_interval_ms, for at most @max_retries further
 * attempts (INGESTER_RETRY_FOREVER: no bound). The packet that met the lost
 * connection is sent on the new one: a failed sendmsg() sent nothing, so
 * nothing is duplicated. Packets the old connection had already delivered to
 * a daemon that then died are lost with that daemon.
 *
 * @max_retries 0 (the default) means no waiting: a failed attempt is
 * reported at once. Even then, a send over a connection opened by an earlier
 * call that meets a stale socket connects once more, at once, before giving
 * up: the daemon may simply have been restarted since.
 *
 * In blocking mode the waits sleep inside ingester_client_connect() and
 * ingester_client_send(). With INGESTER_CLIENT_NONBLOCK nothing sleeps: each
 * call makes at most one attempt, and a call made before the next attempt is
 * due (the backoff since the last failure) returns that failure's error;
 * @max_retries then only needs to be non-zero.
 *
 * Returns 0, or -EINVAL (@interval_ms 0 with @max_retries > 0, @factor below
 * 1.0 or not a number, @max_interval_ms below @interval_ms).
 */
int ingester_client_set_retry(IngesterClient *c, unsigned int max_retries,
                              unsigned int interval_ms, double factor,
                              unsigned int max_interval_ms);

/*
 * Opens the socket now (following the retry policy), rather than at the
 * first send. Returns 0 if connected (or already connected), else a negative
 * errno (see the top of this header). For
 * INGESTER_TRANSPORT_DGRAM_UNCONNECTED it only creates the socket and checks
 * that something is bound at the path.
 */
int ingester_client_connect(IngesterClient *c);

/*
 * Sends one packet of @size bytes (one event) with @n_fds descriptors from
 * @fds (may be NULL when @n_fds is 0). The descriptors stay the caller's: the
 * daemon receives duplicates. Connects first if needed, and on a lost
 * connection reconnects and resends per the retry policy.
 *
 * Blocks while the daemon's receive queue is full, unless the handle is
 * INGESTER_CLIENT_NONBLOCK (-EAGAIN).
 *
 * On a stream (INGESTER_TRANSPORT_STREAM) the event is one line: a write
 * the kernel takes only in part is finished before the call returns, or,
 * with INGESTER_CLIENT_NONBLOCK, kept by the handle and finished by the next
 * call (which returns -EAGAIN while it cannot), so lines never interleave.
 * A line cut short by a lost connection is written whole on the next one.
 *
 * Returns 0 when the whole packet was queued to the daemon, else a negative
 * errno: -EINVAL for @size 0 (an empty packet is never an event, and on
 * SOCK_SEQPACKET it would read as a hang-up) or @n_fds > INGESTER_MAX_FDS,
 * or on a stream for descriptors or a '\n' before the event's end, and the
 * others listed at the top of this header.
 */
int ingester_client_send(IngesterClient *c, const void *data, size_t size, const int *fds,
                         size_t n_fds);

/*
 * Sends one event, like ingester_client_send(), and waits until ingesterd
 * answers for it (doc/protocol.md 1.7), at most @timeout_ms. The first call
 * makes the handle ask for answers on every connection from then on (it
 * reconnects once to do so). Connected transports only: SEQPACKET and
 * stream; not on an INGESTER_CLIENT_NONBLOCK handle (-EINVAL).
 *
 * Returns 0 when the event is on the bus (its D-Bus message written and
 * confirmed by the bus), with its seq in *@ret_seq (may be NULL); or
 *   -EBADMSG     ingesterd refused it; the reason ("syntax", "too-large",
 *                ...: doc/protocol.md section 3; "quarantined" when the bus
 *                would not take it after all, section 7.1) in @reason;
 *   -ENOBUFS     its overflow policy dropped it ("dropped" in @reason);
 *   -ETIMEDOUT   no answer in time: the event may still go out;
 *   -ECONNRESET  the connection closed before the answer: likewise;
 *   -EOPNOTSUPP  the socket is a datagram one, which cannot answer (the
 *                event was sent);
 * or an error of ingester_client_send(). A sender that uses
 * ingester_client_send() too on the same handle gets answers for those
 * events as well, which this call skips: read them, or ingesterd stops
 * reading a connection that leaves 1024 answers unread.
 */
int ingester_client_send_wait(IngesterClient *c, const void *data, size_t size, const int *fds,
                              size_t n_fds, int timeout_ms, uint64_t *ret_seq, char *reason,
                              size_t reason_size);

/* Closes the connection, if any. The next connect or send opens a new one. */
void ingester_client_disconnect(IngesterClient *c);

/* The socket's descriptor (for poll(2) on POLLOUT), or -1 when not connected.
 * It stays the handle's: do not close it or read from it. */
int ingester_client_get_fd(const IngesterClient *c);

/* The transport in use: the detected one once connected, otherwise the one
 * asked for (INGESTER_TRANSPORT_AUTO before the first connection). */
IngesterTransport ingester_client_get_transport(const IngesterClient *c);

/* The socket path the handle sends to (the resolved default for NULL). */
const char *ingester_client_get_path(const IngesterClient *c);

/* How many connections this handle has opened after its first one (after a
 * lost connection or a failed attempt). For logging and tests. */
unsigned long ingester_client_get_reconnects(const IngesterClient *c);

#ifdef __cplusplus
}
#endif

#endif /* INGESTER_INGESTER_H */

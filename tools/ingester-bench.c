/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ingester-bench — how fast and how lean the relay is, measured against the
 * bus's own limit in the same run.
 *
 * One program, several roles (each a separate process, started by the
 * orchestrator from this same binary):
 *   orchestrator  starts a private dbus-daemon, the subscriber, and per
 *                 phase ingesterd / the emitter / the sink and K senders;
 *                 prints a table and, last, one JSON line with every figure.
 *   subscriber    its own bus connection; counts the events of Event and
 *                 EventBatch signals, checks meta "seq" for gaps, and takes send-to-receipt latency from the
 *                 "ts" (CLOCK_MONOTONIC, µs) each event carries.
 *   sender        libingester; sends its share of the events, paced if
 *                 --rate is given, each with a fresh ts.
 *   emitter       the baselines: bare GDBus sending the identical signal
 *                 (same signature, same members). L: the body built once
 *                 and re-sent. F: a new serialised body per message and
 *                 the relay's window of 512 unconfirmed, which is what
 *                 GDBus can do at all for distinct messages (the relay's
 *                 floor).
 *   sink          the plain loop: receives (MSG_PEEK|MSG_TRUNC sizing, as
 *                 ingesterd does) and parses (json-c or msgpack-c) the same
 *                 packets from the same socket type, and nothing else.
 *
 * Phases: baseline (L and F: emitter -> bus -> subscriber), relay (senders
 * -> ingesterd -> bus -> subscriber), batch (the same with
 * --signal-form=batch, once to the subscriber's filter and once to a
 * signal_subscribe() handler: "batch" and "batch-gdbus"), ingest (senders
 * -> ingesterd with --bench-no-emit: receive, decode, queue, discard),
 * plain (senders -> sink).
 * Every phase's clock starts when the orchestrator releases the senders (or
 * the emitter) and stops at the last event seen at the far end.
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <ingester/ingester.h>
#include <json-c/json.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define IFACE "org.ingester.Ingester1"
#define OBJ_PATH "/org/ingester/Ingester1"

typedef struct {
        char *transport, *codec, *policy, *phases, *ingesterd, *sender_tool, *schema;
        int events, senders, size, queue, rate, idle_ms, repeat;
        int batch_max; /* ingesterd's --batch-max-events; 0: its default */
        gboolean fds;
} Options;

static Options opt = {
        .events = 200000, .senders = 4, .size = 200, .queue = 4096, .idle_ms = 5000, .repeat = 1,
        .batch_max = 0,
};

static gint64 now_us(void)
{
        return g_get_monotonic_time(); /* CLOCK_MONOTONIC, shared by every process */
}

static void die(const char *fmt, ...) G_GNUC_PRINTF(1, 2) G_GNUC_NORETURN;
static void die(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs("ingester-bench: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(1);
}

/* ---------------------------------------------------------------- events */

/* Its "type": the fairness phase's flooders send "flood", so that its
 * subscriber can ask the bus for the paced sender's events alone. */
static const char *event_type = "bench";

/* The event every sender sends: 8 members like a typical reader's event;
 * "pad" brings it to about --size bytes of JSON. */
static size_t event_json(char *buf, size_t size, int sender, unsigned i, gint64 ts, int pad)
{
        static const char padding[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
        int n;

        if (strcmp(event_type, "pending") == 0) {
                /* the typed phase's: the Shield1 example's ConnectionBlocked event */
                n = snprintf(buf, size,
                             "{\"type\":\"pending\",\"container\":\"web\",\"id\":\"r%u\","
                             "\"dest\":\"1.2.3.4\",\"port\":443,\"proto\":6,\"sender\":%d,"
                             "\"ts\":%" G_GINT64_FORMAT "}",
                             i, sender, ts);
                return (size_t) n;
        }
        n = snprintf(buf, size,
                         "{\"type\":\"%s\",\"sender\":%d,\"i\":%u,\"ts\":%" G_GINT64_FORMAT
                         ",\"host\":\"bench-host\",\"tags\":[\"a\",\"b\"],\"ok\":true,"
                         "\"pad\":\"",
                         event_type, sender, i, ts);
        while (pad > 0 && (size_t) n + 3 < size) {
                int k = MIN(pad, (int) sizeof(padding) - 1);
                k = MIN(k, (int) (size - (size_t) n - 3));
                memcpy(buf + n, padding, (size_t) k);
                n += k;
                pad -= k;
        }
        memcpy(buf + n, "\"}", 3);
        return (size_t) n + 2;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
        msgpack_pack_str_with_body(pk, s, n);
}

static void event_msgpack(msgpack_sbuffer *sb, int sender, unsigned i, gint64 ts, int pad)
{
        static char padding[4096];
        msgpack_packer pk;

        if (!padding[0])
                memset(padding, 'x', sizeof(padding));
        sb->size = 0;
        msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 8);
        pack_str(&pk, "type", 4), pack_str(&pk, event_type, strlen(event_type));
        pack_str(&pk, "sender", 6), msgpack_pack_int(&pk, sender);
        pack_str(&pk, "i", 1), msgpack_pack_unsigned_int(&pk, i);
        pack_str(&pk, "ts", 2), msgpack_pack_int64(&pk, ts);
        pack_str(&pk, "host", 4), pack_str(&pk, "bench-host", 10);
        pack_str(&pk, "tags", 4), msgpack_pack_array(&pk, 2);
        pack_str(&pk, "a", 1), pack_str(&pk, "b", 1);
        pack_str(&pk, "ok", 2), msgpack_pack_true(&pk);
        pack_str(&pk, "pad", 3), pack_str(&pk, padding, (size_t) MIN(MAX(pad, 0), 4096));
}

/* Padding that makes the JSON form about --size bytes. */
static int pad_for_size(int size)
{
        char buf[512];
        size_t base = event_json(buf, sizeof(buf), 0, 100000, 1000000000000, 0);
        return MAX(size - (int) base, 0);
}

/* A message-bus connection of this process's own. */
static GDBusConnection *bus_connect(const char *address, GError **error)
{
        return g_dbus_connection_new_for_address_sync(
                address,
                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                NULL, NULL, error);
}

/* ---------------------------------------------------------------- sender */

static int role_sender(const char *path, int id, unsigned count, double rate,
                       const char *transport)
{
        IngesterTransport t = g_str_equal(transport, "dgram") ? INGESTER_TRANSPORT_DGRAM
                                                              : INGESTER_TRANSPORT_SEQPACKET;
        IngesterClient *c = NULL;
        int pad = pad_for_size(opt.size), devnull = -1, r;
        char buf[8192], line[16];
        msgpack_sbuffer sb;
        unsigned sent = 0, failed = 0;
        gint64 start, interval_ns = rate > 0 ? (gint64) (1e9 / rate) : 0;
        struct timespec next;

        msgpack_sbuffer_init(&sb);
        if (opt.fds)
                devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        r = ingester_client_new(&c, path, t, 0);
        if (r == 0)
                r = ingester_client_set_retry(c, 50, 20, 1.5, 200);
        if (r == 0)
                r = ingester_client_connect(c);
        if (r < 0)
                die("sender %d: %s: %s", id, path, g_strerror(-r));
        printf("ready\n");
        fflush(stdout);
        if (!fgets(line, sizeof(line), stdin)) /* "go" */
                return 1;
        start = now_us();
        clock_gettime(CLOCK_MONOTONIC, &next);
        for (unsigned i = 0; i < count; i++) {
                const void *p;
                size_t n;

                if (interval_ns) {
                        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
                        next.tv_nsec += interval_ns;
                        while (next.tv_nsec >= 1000000000L) {
                                next.tv_nsec -= 1000000000L;
                                next.tv_sec++;
                        }
                }
                if (g_str_equal(opt.codec, "msgpack")) {
                        event_msgpack(&sb, id, i, now_us(), pad);
                        p = sb.data;
                        n = sb.size;
                } else {
                        n = event_json(buf, sizeof(buf), id, i, now_us(), pad);
                        p = buf;
                }
                r = ingester_client_send(c, p, n, devnull >= 0 ? &devnull : NULL, devnull >= 0);
                if (r < 0)
                        failed++;
                else
                        sent++;
        }
        printf("%u %u %" G_GINT64_FORMAT "\n", sent, failed, now_us() - start);
        ingester_client_free(c);
        msgpack_sbuffer_destroy(&sb);
        return 0;
}

/* ------------------------------------------------------------ subscriber */

typedef struct {
        gboolean check_seq;
        gboolean fair;          /* fairness: latency of sender 0's events only */
        gint paced;             /* atomic: sender 0's events seen */
        gint expected;          /* atomic; G_MAXINT until known */
        gint count;             /* atomic */
        gint gdbus;             /* atomic: events go to the signal_subscribe() handler */
        gint64 last_us;         /* atomic via g_atomic_pointer? written by one thread */
        guint64 last_seq, gaps, out_of_order;
        guint32 *lat;           /* µs, one per event */
        gsize lat_len, lat_cap;
} Sub;

/* One event (s a{sv} a{sv} ah), from an Event body or a batch element:
 * the same reads in every phase, so the subscriber costs the same per
 * event whatever sent it. */
static void sub_event(Sub *s, GVariant *tuple)
{
        g_autoptr(GVariant) data = g_variant_get_child_value(tuple, 1);
        g_autoptr(GVariant) meta = g_variant_get_child_value(tuple, 2);
        /* g_variant_lookup_value(), not g_variant_lookup(): the latter
         * serialises the whole dictionary first ("flatten", GLib 2.74), for
         * a parsed message a tree of ~30 values, and that was the biggest
         * cost of this subscriber (perf, doc/performance.md "Batches") */
        g_autoptr(GVariant) vts = g_variant_lookup_value(data, "ts", G_VARIANT_TYPE_INT64);
        g_autoptr(GVariant) vseq = g_variant_lookup_value(meta, "seq", G_VARIANT_TYPE_UINT64);
        gint64 ts = vts ? g_variant_get_int64(vts) : 0, now = now_us();
        guint64 seq = vseq ? g_variant_get_uint64(vseq) : 0;
        gboolean has_ts = vts != NULL, has_seq = vseq != NULL;

        if (!s->check_seq)
                has_ts = has_seq = FALSE; /* the baselines' are constant */
        if (s->fair) {
                g_autoptr(GVariant) vs = g_variant_lookup_value(data, "sender", G_VARIANT_TYPE_INT64);
                if (!vs || g_variant_get_int64(vs) != 0)
                        has_ts = FALSE;
                else
                        g_atomic_int_inc(&s->paced);
        }
        if (has_ts && s->lat_len < s->lat_cap)
                s->lat[s->lat_len++] = (guint32) MIN(MAX(now - ts, 0), G_MAXUINT32);
        if (has_seq) {
                if (s->last_seq && seq != s->last_seq + 1) {
                        if (seq > s->last_seq)
                                s->gaps += seq - s->last_seq - 1;
                        else
                                s->out_of_order++;
                }
                s->last_seq = seq;
        }
        s->last_us = now_us();
        g_atomic_int_inc(&s->count);
}

/* An Event or EventBatch body: its events. */
static void sub_body(Sub *s, const char *member, GVariant *body)
{
        if (!body)
                return;
        if (g_str_equal(member, "Event")) {
                sub_event(s, body);
                return;
        }
        {
                g_autoptr(GVariant) events = g_variant_get_child_value(body, 0);
                gsize n = g_variant_n_children(events);
                for (gsize i = 0; i < n; i++) {
                        g_autoptr(GVariant) ev = g_variant_get_child_value(events, i);
                        sub_event(s, ev);
                }
        }
}

static GDBusMessage *sub_filter(GDBusConnection *c, GDBusMessage *m, gboolean incoming,
                                gpointer user_data)
{
        Sub *s = user_data;
        const char *member;
        GVariant *body;

        if (!incoming || g_dbus_message_get_message_type(m) != G_DBUS_MESSAGE_TYPE_SIGNAL)
                return m;
        member = g_dbus_message_get_member(m);
        if (g_strcmp0(member, "ConnectionBlocked") == 0) {
                /* the typed phase: its args are the hub's, no ts or seq to read */
                body = g_dbus_message_get_body(m);
                if (body) {
                        g_autoptr(GVariant) port = g_variant_get_child_value(body, 3);
                        (void) g_variant_get_uint32(port);
                }
                s->last_us = now_us();
                g_atomic_int_inc(&s->count);
                g_object_unref(m);
                return NULL;
        }
        if (g_strcmp0(member, "Event") != 0 && g_strcmp0(member, "EventBatch") != 0)
                return m;
        /* the GDBus subscriber's phase: signal_subscribe() dispatches it */
        if (g_atomic_int_get(&s->gdbus))
                return m;
        sub_body(s, member, g_dbus_message_get_body(m));
        g_object_unref(m);
        return NULL; /* consumed here, in GDBus's worker thread */
}

/* The GDBus subscriber: what an application's signal_subscribe() handler
 * costs, dispatched to a main loop of its own. */
static void sub_on_signal(GDBusConnection *c, const char *sender, const char *path,
                          const char *iface, const char *member, GVariant *params,
                          gpointer user_data)
{
        Sub *s = user_data;

        if (g_atomic_int_get(&s->gdbus))
                sub_body(s, member, params);
}

typedef struct {
        GDBusConnection *c;
        Sub *s;
        GMainContext *ctx;
} SubThread;

static gpointer sub_thread(gpointer user_data)
{
        SubThread *t = user_data;
        g_autoptr(GMainLoop) loop = g_main_loop_new(t->ctx, FALSE);

        g_main_context_push_thread_default(t->ctx);
        g_dbus_connection_signal_subscribe(t->c, NULL, IFACE, NULL, OBJ_PATH, NULL,
                                           G_DBUS_SIGNAL_FLAGS_NONE, sub_on_signal, t->s, NULL);
        g_main_loop_run(loop);
        return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
        guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;
        return x < y ? -1 : x > y;
}

#define MATCH_ALL "type='signal',interface='" IFACE "',member='Event'"
#define MATCH_BATCHES "type='signal',interface='" IFACE "',member='EventBatch'"
#define MATCH_BENCH MATCH_ALL ",arg0='bench'"

static void sub_match(GDBusConnection *c, const char *method, const char *rule)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = g_dbus_connection_call_sync(
                c, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", method,
                g_variant_new("(s)", rule), NULL, 0, -1, NULL, &error);

        if (!r)
                die("subscriber: %s: %s", method, error->message);
}

static int role_subscriber(const char *address, unsigned capacity)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusConnection) c = bus_connect(address, &error);
        Sub s = { .lat_cap = capacity };
        char line[128];

        if (!c)
                die("subscriber: %s", error->message);
        s.lat = g_new(guint32, capacity);
        g_dbus_connection_add_filter(c, sub_filter, &s, NULL);
        sub_match(c, "AddMatch", MATCH_ALL);
        sub_match(c, "AddMatch", MATCH_BATCHES);
        {
                SubThread *t = g_new0(SubThread, 1);
                t->c = c;
                t->s = &s;
                t->ctx = g_main_context_new();
                g_thread_unref(g_thread_new("gdbus-subscriber", sub_thread, t));
        }
        sub_match(c, "AddMatch", "type='signal',interface='org.terok.Shield1',member='ConnectionBlocked'");
        printf("ready\n");
        fflush(stdout);

        /* "run relay|baseline" arms; "expect N" then waits for N (or idle) */
        while (fgets(line, sizeof(line), stdin)) {
                unsigned n;
                if (g_str_has_prefix(line, "run ")) {
                        gboolean fair = g_str_has_prefix(line + 4, "fairness");
                        /* fairness: the bus routes the paced sender's events alone to this
                         * subscriber, which could not read a flood as fast as the relay
                         * writes it (doc/performance.md) */
                        if (fair != s.fair) {
                                sub_match(c, "AddMatch", fair ? MATCH_BENCH : MATCH_ALL);
                                sub_match(c, "RemoveMatch", fair ? MATCH_ALL : MATCH_BENCH);
                        }
                        s.fair = fair;
                        s.check_seq = s.fair || g_str_has_prefix(line + 4, "relay");
                        /* "run relay-gdbus": an application's handler, not the filter */
                        g_atomic_int_set(&s.gdbus, g_str_has_prefix(line + 4, "relay-gdbus"));
                        g_atomic_int_set(&s.paced, 0);
                        s.last_seq = s.gaps = s.out_of_order = 0;
                        s.lat_len = 0;
                        s.last_us = 0;
                        g_atomic_int_set(&s.count, 0);
                        printf("armed\n");
                        fflush(stdout);
                } else if (sscanf(line, "expect %u", &n) == 1) {
                        gint64 idle_since = now_us();
                        int seen = 0;
                        guint32 p50 = 0, p99 = 0, max = 0;
                                /* fairness: sender 0's events are the ones awaited */
                        gint *counter = s.fair ? &s.paced : &s.count;

                        while (g_atomic_int_get(counter) < (gint) n) {
                                int k = g_atomic_int_get(counter);
                                if (k != seen) {
                                        seen = k;
                                        idle_since = now_us();
                                } else if (now_us() - idle_since > opt.idle_ms * 1000) {
                                        break;
                                }
                                g_usleep(1000);
                        }
                        g_usleep(20000); /* the filter may still be writing last_us */
                        if (s.lat_len) {
                                qsort(s.lat, s.lat_len, sizeof(guint32), cmp_u32);
                                p50 = s.lat[s.lat_len / 2];
                                p99 = s.lat[MIN(s.lat_len - 1, s.lat_len * 99 / 100)];
                                max = s.lat[s.lat_len - 1];
                        }
                        printf("%d %" G_GINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                               " %u %u %u %d\n",
                               g_atomic_int_get(&s.count), s.last_us, s.gaps, s.out_of_order, p50,
                               p99, max, g_atomic_int_get(&s.paced));
                        fflush(stdout);
                }
        }
        g_free(s.lat);
        return 0;
}

/* --------------------------------------------------------------- emitter */

static GVariant *baseline_body(int pad, gboolean fds)
{
        GVariantBuilder data, meta;
        g_autofree char *padding = g_strnfill((gsize) pad, 'x');

        g_variant_builder_init(&data, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&data, "{sv}", "type", g_variant_new_string("bench"));
        g_variant_builder_add(&data, "{sv}", "sender", g_variant_new_int64(0));
        g_variant_builder_add(&data, "{sv}", "i", g_variant_new_int64(100000));
        g_variant_builder_add(&data, "{sv}", "ts", g_variant_new_int64(now_us()));
        g_variant_builder_add(&data, "{sv}", "host", g_variant_new_string("bench-host"));
        {
                GVariant *tags[] = { g_variant_new_variant(g_variant_new_string("a")),
                                     g_variant_new_variant(g_variant_new_string("b")) };
                g_variant_builder_add(&data, "{sv}", "tags",
                                      g_variant_new_array(G_VARIANT_TYPE_VARIANT, tags, 2));
        }
        g_variant_builder_add(&data, "{sv}", "ok", g_variant_new_boolean(TRUE));
        g_variant_builder_add(&data, "{sv}", "pad", g_variant_new_string(padding));
        g_variant_builder_init(&meta, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&meta, "{sv}", "seq", g_variant_new_uint64(1));
        g_variant_builder_add(&meta, "{sv}", "received-usec", g_variant_new_int64(g_get_real_time()));
        g_variant_builder_add(&meta, "{sv}", "pid", g_variant_new_int32(getpid()));
        g_variant_builder_add(&meta, "{sv}", "uid", g_variant_new_uint32(getuid()));
        g_variant_builder_add(&meta, "{sv}", "gid", g_variant_new_uint32(getgid()));
        g_variant_builder_add(&meta, "{sv}", "transport", g_variant_new_string(opt.transport));
        g_variant_builder_add(&meta, "{sv}", "codec", g_variant_new_string(opt.codec));
        {
                gint32 h = 0;
                GVariant *handles = g_variant_new_fixed_array(G_VARIANT_TYPE_HANDLE, &h,
                                                              fds ? 1 : 0, sizeof(gint32));
                return g_variant_ref_sink(g_variant_new("(s@a{sv}@a{sv}@ah)", "bench",
                                                        g_variant_builder_end(&data),
                                                        g_variant_builder_end(&meta), handles));
        }
}

/* The floor emitter's confirmation requests, as the relay makes them. */
typedef struct {
        unsigned unconfirmed, outstanding;
} Window;

static void on_emitter_confirmed(GObject *source, GAsyncResult *res, gpointer user_data)
{
        Window *w = user_data;
        g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, NULL);

        w->unconfirmed -= MIN(w->unconfirmed, 256u);
        w->outstanding--;
}

/*
 * L (floor = FALSE): the body is built once and the same GVariant re-sent;
 * GDBus walks a tree it has walked before. F (floor = TRUE): a new
 * serialised body per message, as the relay must send (its events differ),
 * with at most 512 messages unconfirmed and a GetId every 256, as the
 * relay's window: what GDBus can do at all for distinct messages.
 */
static int role_emitter(const char *address, unsigned count, gboolean floor)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusConnection) c = bus_connect(address, &error);
        g_autoptr(GVariant) body = NULL;
        g_autoptr(GBytes) serialised = NULL;
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        Window w = { 0 };
        char line[16];
        gint64 start;

        if (!c)
                die("emitter: %s", error->message);
        body = baseline_body(pad_for_size(opt.size), opt.fds);
        serialised = g_variant_get_data_as_bytes(body);
        printf("ready\n");
        fflush(stdout);
        if (!fgets(line, sizeof(line), stdin))
                return 1;
        start = now_us();
        for (unsigned i = 0; i < count; i++) {
                g_autoptr(GDBusMessage) m = g_dbus_message_new_signal(OBJ_PATH, IFACE, "Event");
                g_autoptr(GVariant) fresh = NULL;

                if (floor) {
                        gsize n = 0;
                        const void *p = g_bytes_get_data(serialised, &n);
                        g_autoptr(GBytes) copy = g_bytes_new(p, n);
                        fresh = g_variant_ref_sink(
                                g_variant_new_from_bytes(g_variant_get_type(body), copy, TRUE));
                        while (w.unconfirmed >= 512)
                                g_main_context_iteration(NULL, TRUE);
                }
                g_dbus_message_set_body(m, floor ? fresh : body);
                if (opt.fds) {
                        g_autoptr(GUnixFDList) list = g_unix_fd_list_new();
                        g_unix_fd_list_append(list, devnull, NULL);
                        g_dbus_message_set_unix_fd_list(m, list);
                }
                g_dbus_connection_send_message(c, m, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
                if (floor && ++w.unconfirmed % 256 == 0) {
                        w.outstanding++;
                        g_dbus_connection_call(c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                               "org.freedesktop.DBus", "GetId", NULL,
                                               G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE, -1,
                                               NULL, on_emitter_confirmed, &w);
                }
        }
        g_dbus_connection_flush_sync(c, NULL, NULL);
        while (w.outstanding > 0)
                g_main_context_iteration(NULL, TRUE);
        {
                struct rusage ru;
                getrusage(RUSAGE_SELF, &ru); /* both threads: GDBus writes from its worker */
                printf("%u 0 %" G_GINT64_FORMAT " %.3f\n", count, now_us() - start,
                       (double) ru.ru_utime.tv_sec + (double) ru.ru_stime.tv_sec +
                               (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
        }
        close(devnull);
        return 0;
}

/* ------------------------------------------------------------------ sink */

static int role_sink(const char *path, unsigned expected)
{
        int type = g_str_equal(opt.transport, "dgram") ? SOCK_DGRAM : SOCK_SEQPACKET;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int lfd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int ep = epoll_create1(EPOLL_CLOEXEC), rcvbuf = 1 << 20;
        struct epoll_event ev = { .events = EPOLLIN };
        gboolean mp = g_str_equal(opt.codec, "msgpack");
        json_tokener *tok = json_tokener_new();
        msgpack_unpacked up;
        unsigned count = 0, bad = 0;
        gint64 last = 0;
        char *buf = g_malloc(1 << 16);

        g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
        (void) unlink(path); /* left by the previous repetition */
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            (type == SOCK_SEQPACKET && listen(lfd, 128) < 0))
                die("sink: %s: %s", path, g_strerror(errno));
        setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        ev.data.fd = lfd;
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
        msgpack_unpacked_init(&up);
        printf("ready\n");
        fflush(stdout);

        while (count < expected) {
                struct epoll_event evs[16];
                int n = epoll_wait(ep, evs, 16, opt.idle_ms);
                if (n <= 0)
                        break;
                for (int i = 0; i < n; i++) {
                        int fd = evs[i].data.fd;
                        if (type == SOCK_SEQPACKET && fd == lfd) {
                                int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                                if (cfd >= 0) {
                                        setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
                                        ev.data.fd = cfd;
                                        epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
                                }
                                continue;
                        }
                        for (int batch = 0; batch < 64; batch++) {
                                union {
                                        struct cmsghdr align;
                                        char b[CMSG_SPACE(sizeof(int) * 253)];
                                } control;
                                struct iovec iov;
                                struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                                                      .msg_control = control.b,
                                                      .msg_controllen = sizeof(control.b) };
                                ssize_t size = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
                                ssize_t got;
                                if (size < 0)
                                        break;
                                if (size == 0) { /* hang-up */
                                        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                                        close(fd);
                                        break;
                                }
                                iov.iov_base = buf;
                                iov.iov_len = MIN((size_t) size, (size_t) 1 << 16);
                                got = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                                if (got <= 0)
                                        break;
                                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
                                     cm = CMSG_NXTHDR(&msg, cm))
                                        if (cm->cmsg_type == SCM_RIGHTS) {
                                                int *fds = (int *) CMSG_DATA(cm);
                                                size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                                                for (size_t j = 0; j < k; j++)
                                                        close(fds[j]);
                                        }
                                if (mp) {
                                        size_t off = 0;
                                        if (msgpack_unpack_next(&up, buf, (size_t) got, &off) !=
                                            MSGPACK_UNPACK_SUCCESS)
                                                bad++;
                                } else {
                                        json_object *o;
                                        json_tokener_reset(tok);
                                        o = json_tokener_parse_ex(tok, buf, (int) got);
                                        if (!o)
                                                bad++;
                                        json_object_put(o);
                                }
                                count++;
                                last = now_us();
                        }
                }
        }
        printf("%u %" G_GINT64_FORMAT " %u\n", count, last, bad);
        msgpack_unpacked_destroy(&up);
        json_tokener_free(tok);
        g_free(buf);
        return 0;
}

/* ---------------------------------------------------------- orchestrator */

typedef struct {
        GSubprocess *proc;
        GDataInputStream *out;
        GOutputStream *in;
} Child;

static char *self_exe;

static void child_spawn(Child *ch, GSubprocessFlags extra, const char *first, ...)
{
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        va_list ap;

        g_ptr_array_add(argv, g_strdup(self_exe));
        va_start(ap, first);
        for (const char *a = first; a; a = va_arg(ap, const char *))
                g_ptr_array_add(argv, g_strdup(a));
        va_end(ap);
        g_ptr_array_add(argv, g_strdup_printf("--transport=%s", opt.transport));
        g_ptr_array_add(argv, g_strdup_printf("--codec=%s", opt.codec));
        g_ptr_array_add(argv, g_strdup_printf("--size=%d", opt.size));
        g_ptr_array_add(argv, g_strdup_printf("--idle-ms=%d", opt.idle_ms));
        if (opt.fds)
                g_ptr_array_add(argv, g_strdup("--fds"));
        g_ptr_array_add(argv, NULL);
        ch->proc = g_subprocess_newv((const char *const *) argv->pdata,
                                     G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                             extra,
                                     &error);
        if (!ch->proc)
                die("%s", error->message);
        ch->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(ch->proc));
        ch->in = g_subprocess_get_stdin_pipe(ch->proc);
}

static char *child_line(Child *ch)
{
        g_autoptr(GError) error = NULL;
        char *l = g_data_input_stream_read_line(ch->out, NULL, NULL, &error);
        if (!l)
                die("a child process ended early%s%s", error ? ": " : "",
                    error ? error->message : "");
        return l;
}

static void child_say(Child *ch, const char *text)
{
        g_output_stream_write_all(ch->in, text, strlen(text), NULL, NULL, NULL);
        g_output_stream_flush(ch->in, NULL, NULL);
}

static void child_expect(Child *ch, const char *word)
{
        g_autofree char *l = child_line(ch);
        if (!g_str_equal(l, word))
                die("child said '%s', not '%s'", l, word);
}

static void child_finish(Child *ch)
{
        g_output_stream_close(ch->in, NULL, NULL);
        g_subprocess_wait(ch->proc, NULL, NULL);
        g_clear_object(&ch->out);
        g_clear_object(&ch->proc);
}

/* The daemon under test */
typedef struct {
        GSubprocess *proc;
        GDBusConnection *bus;
        long ticks0;
} Daemon;

static long proc_cpu_ticks(GSubprocess *p)
{
        g_autofree char *path = g_strdup_printf("/proc/%s/stat", g_subprocess_get_identifier(p));
        g_autofree char *text = NULL;
        const char *s;
        unsigned long ut = 0, st = 0;

        if (!g_file_get_contents(path, &text, NULL, NULL) || !(s = strrchr(text, ')')))
                return 0;
        /* after "pid (comm)": state is field 3; utime 14, stime 15 */
        if (sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
                return 0;
        return (long) (ut + st);
}

static long proc_status_kib(GSubprocess *p, const char *key)
{
        g_autofree char *path = g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(p));
        g_autofree char *text = NULL;
        const char *s;

        if (!g_file_get_contents(path, &text, NULL, NULL) || !(s = strstr(text, key)))
                return -1;
        return strtol(s + strlen(key) + 1, NULL, 10);
}

static guint64 daemon_stat(Daemon *d, const char *key)
{
        g_autoptr(GVariant) r = g_dbus_connection_call_sync(
                d->bus, IFACE, OBJ_PATH, IFACE, "GetStats", NULL, G_VARIANT_TYPE("(a{sv})"), 0,
                10000, NULL, NULL);
        g_autoptr(GVariant) stats = NULL, v = NULL;

        if (!r)
                return G_MAXUINT64;
        stats = g_variant_get_child_value(r, 0);
        v = g_variant_lookup_value(stats, key, NULL);
        if (!v)
                return G_MAXUINT64;
        return g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32) ? g_variant_get_uint32(v)
                                                               : g_variant_get_uint64(v);
}

/* ingesterd on sock (opt.transport), and on a dgram socket too when dgram_sock is set. */
static void daemon_start_with(Daemon *d, const char *address, const char *sock,
                              const char *dgram_sock, const char *policy_name, gboolean no_emit,
                              const char *extra)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *listen = g_strdup_printf("--listen=%s:%s", opt.transport, sock);
        g_autofree char *listen2 = dgram_sock ? g_strdup_printf("--listen=dgram:%s", dgram_sock)
                                              : g_strdup("--max-fds=16");
        g_autofree char *addr = g_strdup_printf("--address=%s", address);
        g_autofree char *queue = g_strdup_printf("--queue-capacity=%d", opt.queue);
        g_autofree char *policy = g_strdup_printf("--policy=%s", policy_name);
        g_autofree char *batch_max = g_strdup_printf("--batch-max-events=%d", opt.batch_max);
        const char *argv[] = { opt.ingesterd, addr, listen, listen2, queue, policy, "--max-fds=16",
                               opt.batch_max > 0 ? batch_max : "--max-fds=16",
                               no_emit ? "--bench-no-emit" : extra, no_emit ? extra : NULL, NULL };
        gint64 deadline = now_us() + 10 * G_USEC_PER_SEC;

        d->proc = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
        if (!d->proc)
                die("%s: %s", opt.ingesterd, error->message);
        d->bus = bus_connect(address, &error);
        if (!d->bus)
                die("bus: %s", error->message);
        while (daemon_stat(d, "received") == G_MAXUINT64) {
                if (now_us() > deadline)
                        die("ingesterd did not come up");
                g_usleep(10000);
        }
        d->ticks0 = proc_cpu_ticks(d->proc);
}

static void daemon_start(Daemon *d, const char *address, const char *sock, gboolean no_emit)
{
        daemon_start_with(d, address, sock, NULL, opt.policy, no_emit, NULL);
}

static void daemon_stop(Daemon *d)
{
        g_subprocess_send_signal(d->proc, SIGTERM);
        g_subprocess_wait(d->proc, NULL, NULL);
        g_clear_object(&d->proc);
        g_dbus_connection_close_sync(d->bus, NULL, NULL);
        g_clear_object(&d->bus);
}

typedef struct {
        const char *name;
        gboolean ran;
        GArray *rates;          /* every repetition's events/s */
        guint64 sent, failed, delivered, dropped, gaps, out_of_order;
        double seconds, rate;
        unsigned p50, p99, max;
        long rss_kib, hwm_kib;
        double cpu_s;
        int paced; /* fairness: the paced sender's events seen */
        guint64 batches, batched; /* the daemon's EventBatch signals and their events */
} Result;

/* The senders' event type, when a phase wants another than "bench". */
static const char *senders_type;

/* Starts K senders toward sock; returns them ready. */
static Child *senders_start(const char *sock)
{
        Child *s = g_new0(Child, (gsize) opt.senders);

        for (int k = 0; k < opt.senders; k++) {
                unsigned share = (unsigned) (opt.events / opt.senders) +
                                 (k < opt.events % opt.senders ? 1 : 0);
                g_autofree char *role = g_strdup_printf(
                        "--role=sender:%s:%d:%u:%f%s%s%s%s", sock, k, share,
                        opt.rate > 0 ? (double) opt.rate / opt.senders : 0.0,
                        senders_type ? ":" : "", senders_type ? opt.transport : "",
                        senders_type ? ":" : "", senders_type ? senders_type : "");
                child_spawn(&s[k], 0, role, NULL);
        }
        for (int k = 0; k < opt.senders; k++)
                child_expect(&s[k], "ready");
        return s;
}

static gint64 senders_go(Child *s)
{
        gint64 t0 = now_us();
        for (int k = 0; k < opt.senders; k++)
                child_say(&s[k], "go\n");
        return t0;
}

/* Collects the senders' counts. When the far end came up short, a sender
 * may be blocked for good on a stalled daemon: @stalled kills them first,
 * and what they had sent is then unknown (counted as sent = delivered). */
static void senders_finish(Child *s, Result *r, gboolean stalled)
{
        for (int k = 0; k < opt.senders; k++) {
                if (stalled) {
                        g_subprocess_force_exit(s[k].proc);
                        child_finish(&s[k]);
                        continue;
                }
                {
                        g_autofree char *l = child_line(&s[k]);
                        unsigned sent = 0, failed = 0;
                        sscanf(l, "%u %u", &sent, &failed);
                        r->sent += sent;
                        r->failed += failed;
                }
                child_finish(&s[k]);
        }
        if (stalled) {
                fprintf(stderr, "ingester-bench: STALLED: %" G_GUINT64_FORMAT " of %d events "
                        "arrived before %d ms without progress\n", r->delivered, opt.events,
                        opt.idle_ms);
                r->sent = r->delivered;
                r->failed = (guint64) opt.events - r->delivered;
        }
        g_free(s);
}

static void subscriber_collect(Child *sub, Result *r, gint64 t0, guint64 expected)
{
        g_autofree char *cmd = g_strdup_printf("expect %" G_GUINT64_FORMAT "\n", expected);
        g_autofree char *l = NULL;
        int count = 0;
        gint64 last = 0;

        child_say(sub, cmd);
        l = child_line(sub);
        sscanf(l, "%d %" G_GINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %u %u %u %d",
               &count, &last, &r->gaps, &r->out_of_order, &r->p50, &r->p99, &r->max, &r->paced);
        r->delivered = (guint64) count;
        r->seconds = (double) (last - t0) / 1e6;
        r->rate = r->seconds > 0 ? (double) r->delivered / r->seconds : 0;
}

static Result phase_baseline(const char *address, Child *sub, gboolean floor)
{
        Result run = { 0 }, *r = &run;
        Child em = { 0 };
        g_autofree char *role = g_strdup_printf("--role=%s:%s:%d", floor ? "emitter-floor" : "emitter",
                                                address, opt.events);
        gint64 t0;

        child_say(sub, "run baseline\n");
        child_expect(sub, "armed");
        child_spawn(&em, 0, role, NULL);
        child_expect(&em, "ready");
        t0 = now_us();
        child_say(&em, "go\n");
        {
                g_autofree char *l = child_line(&em);
                /* "sent 0 elapsed-us cpu-s" */
                sscanf(l, "%" G_GUINT64_FORMAT " %*u %*d %lf", &r->sent, &r->cpu_s);
        }
        child_finish(&em);
        subscriber_collect(sub, r, t0, r->sent);
        r->p50 = r->p99 = r->max = 0; /* the body is built once: no per-event timestamp */
        r->ran = TRUE;
        return run;
}

static void daemon_figures(Daemon *d, Result *r)
{
        r->hwm_kib = proc_status_kib(d->proc, "VmHWM:");
        r->rss_kib = proc_status_kib(d->proc, "VmRSS:");
        r->cpu_s = (double) (proc_cpu_ticks(d->proc) - d->ticks0) / (double) sysconf(_SC_CLK_TCK);
        r->dropped = daemon_stat(d, "dropped");
        r->batches = daemon_stat(d, "batches");
        r->batched = daemon_stat(d, "batched");
}

/*
 * Senders -> ingesterd -> bus -> subscriber. mode is what the subscriber is
 * told ("relay": check seq and latency); type the senders' event type (NULL:
 * the bench's own); extra one more daemon argument (NULL: none).
 */
static Result run_relay(const char *address, const char *dir, Child *sub, const char *mode,
                        const char *type, const char *extra)
{
        Result run = { 0 }, *r = &run;
        g_autofree char *sock = g_build_filename(dir, "relay.sock", NULL);
        g_autofree char *say = g_strdup_printf("run %s\n", mode);
        Daemon d = { 0 };
        Child *s;
        gint64 t0;

        daemon_start_with(&d, address, sock, NULL, opt.policy, FALSE, extra);
        child_say(sub, say);
        child_expect(sub, "armed");
        senders_type = type;
        s = senders_start(sock);
        senders_type = NULL;
        t0 = senders_go(s);
        subscriber_collect(sub, r, t0, (guint64) opt.events);
        senders_finish(s, r, r->delivered < (guint64) opt.events);
        daemon_figures(&d, r);
        daemon_stop(&d);
        r->ran = TRUE;
        return run;
}

static Result phase_relay(const char *address, const char *dir, Child *sub)
{
        return run_relay(address, dir, sub, "relay", NULL, NULL);
}

/* signal-form=batch, to the filter subscriber or to a signal_subscribe() handler */
static Result phase_batch(const char *address, const char *dir, Child *sub, gboolean gdbus)
{
        return run_relay(address, dir, sub, gdbus ? "relay-gdbus" : "relay", NULL,
                         "--signal-form=batch");
}

/* ---- fairness: a paced sender against K flooders ---- */

#define PACED_RATE 200
#define PACED_EVENTS 600

typedef struct {
        const char *policy, *flood; /* flood: the flooders' transport, NULL for none */
        guint64 paced_sent, flood_delivered, dropped;
        int paced_seen;
        unsigned p50, p99, max;
} FairRow;

/*
 * One row: ingesterd with the policy, listening on seqpacket and dgram; K
 * flooders (ids 1..K) on row->flood sending as fast as they can; once they
 * have had 300 ms to fill the queue, sender 0 sends PACED_EVENTS at
 * PACED_RATE on its own seqpacket connection. Its events' send-to-receipt
 * latency and loss are what the row reports.
 */
static void phase_fairness_row(const char *address, const char *dir, Child *sub, FairRow *row)
{
        g_autofree char *sock = g_build_filename(dir, "fair.sock", NULL);
        g_autofree char *dsock = g_build_filename(dir, "fair-dgram.sock", NULL);
        g_autofree char *paced_role =
                g_strdup_printf("--role=sender:%s:0:%u:%d:seqpacket", sock, PACED_EVENTS, PACED_RATE);
        Result r = { 0 };
        Child paced = { 0 }, *flood = NULL;
        int k = row->flood ? opt.senders : 0;
        Daemon d = { 0 };
        char *saved = opt.transport;

        opt.transport = (char *) "seqpacket";
        daemon_start_with(&d, address, sock, dsock, row->policy, FALSE, NULL);
        opt.transport = saved;
        child_say(sub, "run fairness\n");
        child_expect(sub, "armed");
        if (k > 0) {
                flood = g_new0(Child, (gsize) k);
                for (int i = 0; i < k; i++) {
                        g_autofree char *role = g_strdup_printf(
                                "--role=sender:%s:%d:%u:0:%s:flood",
                                g_str_equal(row->flood, "dgram") ? dsock : sock, i + 1,
                                G_MAXINT32, row->flood);
                        child_spawn(&flood[i], 0, role, NULL);
                }
                for (int i = 0; i < k; i++)
                        child_expect(&flood[i], "ready");
                for (int i = 0; i < k; i++)
                        child_say(&flood[i], "go\n");
                g_usleep(300000);
        }
        child_spawn(&paced, 0, paced_role, NULL);
        child_expect(&paced, "ready");
        child_say(&paced, "go\n");
        subscriber_collect(sub, &r, now_us(), PACED_EVENTS);
        {
                g_autofree char *l = child_line(&paced);
                unsigned sent = 0;
                sscanf(l, "%u", &sent);
                row->paced_sent = sent;
        }
        child_finish(&paced);
        for (int i = 0; i < k; i++) {
                g_subprocess_force_exit(flood[i].proc);
                child_finish(&flood[i]);
        }
        g_free(flood);
        row->paced_seen = r.paced;
        row->p50 = r.p50;
        row->p99 = r.p99;
        row->max = r.max;
        /* the flood went to the bus, not to this subscriber */
        row->flood_delivered = daemon_stat(&d, "emitted") - (guint64) r.paced;
        row->dropped = daemon_stat(&d, "dropped");
        daemon_stop(&d);
}

static FairRow fair_rows[] = {
        { "block", NULL },        { "block", "seqpacket" },       { "block", "dgram" },
        { "drop-newest", "seqpacket" }, { "drop-oldest", "seqpacket" },
};

static void phase_fairness(const char *address, const char *dir, Child *sub)
{
        for (gsize i = 0; i < G_N_ELEMENTS(fair_rows); i++)
                phase_fairness_row(address, dir, sub, &fair_rows[i]);
}

static void print_fairness(GString *j)
{
        printf("fairness: a sender at %d events/s on its own seqpacket connection, against %d "
               "flooders\n",
               PACED_RATE, opt.senders);
        printf("%-12s %-10s %11s %6s %8s %8s %8s %14s %10s\n", "policy", "flood", "paced sent",
               "lost", "p50 µs", "p99 µs", "max µs", "flood emitted", "dropped");
        g_string_append(j, ",\"fairness\":[");
        for (gsize i = 0; i < G_N_ELEMENTS(fair_rows); i++) {
                const FairRow *f = &fair_rows[i];
                gint64 lost = (gint64) f->paced_sent - f->paced_seen;
                printf("%-12s %-10s %11" G_GUINT64_FORMAT " %6" G_GINT64_FORMAT " %8u %8u %8u %14"
                       G_GUINT64_FORMAT " %10" G_GUINT64_FORMAT "\n",
                       f->policy, f->flood ? f->flood : "none", f->paced_sent, lost, f->p50, f->p99,
                       f->max, f->flood_delivered, f->dropped);
                g_string_append_printf(j,
                                       "%s{\"policy\":\"%s\",\"flood\":\"%s\",\"paced_sent\":%"
                                       G_GUINT64_FORMAT ",\"paced_lost\":%" G_GINT64_FORMAT
                                       ",\"latency_us\":{\"p50\":%u,\"p99\":%u,\"max\":%u},"
                                       "\"flood_delivered\":%" G_GUINT64_FORMAT
                                       ",\"dropped\":%" G_GUINT64_FORMAT "}",
                                       i ? "," : "", f->policy, f->flood ? f->flood : "none",
                                       f->paced_sent, lost, f->p50, f->p99, f->max,
                                       f->flood_delivered, f->dropped);
        }
        g_string_append_c(j, ']');
}

/* The Shield1 example's events through the relay: as the generic Event
 * (schema NULL), or as its typed ConnectionBlocked signal. */
static Result phase_typed(const char *address, const char *dir, Child *sub, const char *schema)
{
        g_autofree char *arg = schema ? g_strdup_printf("--schema=%s", schema) : NULL;

        return run_relay(address, dir, sub, "typed", "pending", arg);
}

static Result phase_ingest(const char *address, const char *dir)
{
        Result run = { 0 }, *r = &run;
        g_autofree char *sock = g_build_filename(dir, "ingest.sock", NULL);
        Daemon d = { 0 };
        Child *s;
        gint64 t0, last = 0, idle_since;
        guint64 seen = 0, n;

        daemon_start(&d, address, sock, TRUE);
        s = senders_start(sock);
        t0 = senders_go(s);
        idle_since = now_us();
        /* "emitted" counts the discarded events in this mode. Each GetStats
         * call costs ingesterd's main thread a D-Bus round trip, so it is
         * asked every 10 ms, and every 1 ms only for the last 2% (the end
         * time is then exact to ~1 ms). */
        while ((n = daemon_stat(&d, "emitted")) < (guint64) opt.events) {
                if (n != seen) {
                        seen = n;
                        idle_since = now_us();
                } else if (now_us() - idle_since > opt.idle_ms * 1000) {
                        break;
                }
                g_usleep(n < (guint64) opt.events / 50 * 49 ? 10000 : 1000);
        }
        last = now_us();
        r->delivered = MIN(n, (guint64) opt.events);
        senders_finish(s, r, r->delivered < (guint64) opt.events);
        r->seconds = (double) (last - t0) / 1e6;
        r->rate = (double) r->delivered / r->seconds;
        daemon_figures(&d, r);
        daemon_stop(&d);
        r->ran = TRUE;
        return run;
}

static Result phase_plain(const char *dir)
{
        Result run = { 0 }, *r = &run;
        g_autofree char *sock = g_build_filename(dir, "plain.sock", NULL);
        g_autofree char *role = g_strdup_printf("--role=sink:%s:%d", sock, opt.events);
        g_autofree char *l = NULL;
        Child sink = { 0 };
        Child *s;
        gint64 t0, last = 0;
        unsigned count = 0, bad = 0;

        child_spawn(&sink, 0, role, NULL);
        child_expect(&sink, "ready");
        s = senders_start(sock);
        t0 = senders_go(s);
        l = child_line(&sink);
        sscanf(l, "%u %" G_GINT64_FORMAT " %u", &count, &last, &bad);
        child_finish(&sink);
        r->delivered = count;
        senders_finish(s, r, count < (guint64) opt.events);
        if (bad)
                die("the plain loop could not parse %u packets", bad);
        r->delivered = count;
        r->seconds = (double) (last - t0) / 1e6;
        r->rate = r->seconds > 0 ? (double) count / r->seconds : 0;
        r->ran = TRUE;
        return run;
}

/* ingester-send reading @count lines from a file, against one libingester
 * sender process: both into the plain sink, so what is compared is the
 * sending side alone. */
static Result phase_tool(const char *dir, gboolean use_tool)
{
        g_autofree char *sock = g_build_filename(dir, "tool.sock", NULL);
        g_autofree char *file = g_build_filename(dir, "events.jsonl", NULL);
        g_autofree char *role = g_strdup_printf("--role=sink:%s:%d", sock, opt.events);
        g_autofree char *l = NULL;
        Result run = { 0 }, *r = &run;
        Child sink = { 0 };
        gint64 t0, last = 0;
        unsigned count = 0, bad = 0;

        child_spawn(&sink, 0, role, NULL);
        child_expect(&sink, "ready");
        if (use_tool) {
                g_autoptr(GSubprocessLauncher) la = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
                g_autoptr(GSubprocess) p = NULL;
                g_autoptr(GError) error = NULL;
                g_autoptr(GString) text = g_string_sized_new((gsize) opt.events * (gsize) (opt.size + 2));
                char buf[8192];
                int pad = pad_for_size(opt.size);

                for (int i = 0; i < opt.events; i++) {
                        g_string_append_len(text, buf,
                                            (gssize) event_json(buf, sizeof(buf), 0, (unsigned) i,
                                                                now_us(), pad));
                        g_string_append_c(text, '\n');
                }
                if (!g_file_set_contents(file, text->str, (gssize) text->len, &error))
                        die("%s", error->message);
                g_subprocess_launcher_set_stdin_file_path(la, file);
                t0 = now_us();
                p = g_subprocess_launcher_spawn(la, &error, opt.sender_tool, "--quiet", "--socket",
                                                sock,
                                                g_str_equal(opt.transport, "dgram") ? "--dgram"
                                                                                    : "--seqpacket",
                                                g_str_equal(opt.codec, "msgpack") ? "--msgpack"
                                                                                  : NULL,
                                                NULL);
                if (!p)
                        die("%s: %s", opt.sender_tool, error->message);
                g_subprocess_wait(p, NULL, NULL);
                r->sent = (guint64) opt.events;
                if (g_subprocess_get_exit_status(p) != 0)
                        die("%s exited with status %d", opt.sender_tool,
                            g_subprocess_get_exit_status(p));
        } else {
                int k = opt.senders;
                Child *s;
                opt.senders = 1;
                s = senders_start(sock);
                t0 = senders_go(s);
                l = child_line(&sink);
                sscanf(l, "%u %" G_GINT64_FORMAT " %u", &count, &last, &bad);
                r->delivered = count;
                senders_finish(s, r, count < (guint64) opt.events);
                opt.senders = k;
        }
        if (!l) {
                l = child_line(&sink);
                sscanf(l, "%u %" G_GINT64_FORMAT " %u", &count, &last, &bad);
        }
        child_finish(&sink);
        r->delivered = count;
        r->seconds = (double) (last - t0) / 1e6;
        r->rate = r->seconds > 0 ? (double) count / r->seconds : 0;
        r->ran = TRUE;
        return run;
}

/* Every run of a phase is kept; the one with the median rate is reported. */
static const char *const phase_names[] = { "baseline", "floor", "relay", "ingest", "plain",
                                           "lib-1", "tool", "event-pending", "typed", "batch",
                                           "batch-gdbus" };
static GArray *runs[G_N_ELEMENTS(phase_names)];

static int phase_index(const char *name)
{
        for (int i = 0; i < (int) G_N_ELEMENTS(phase_names); i++)
                if (g_str_equal(phase_names[i], name))
                        return i;
        g_assert_not_reached();
}

static void keep_run(Result *into, Result run)
{
        int i = phase_index(into->name);
        if (!runs[i])
                runs[i] = g_array_new(FALSE, FALSE, sizeof(Result));
        run.name = into->name;
        g_array_append_val(runs[i], run);
}

static int cmp_rate(const void *a, const void *b)
{
        double x = ((const Result *) a)->rate, y = ((const Result *) b)->rate;
        return x < y ? -1 : x > y;
}

static void pick_median(Result *r)
{
        GArray *all = runs[phase_index(r->name)];
        GArray *rates;

        if (!all)
                return;
        rates = g_array_new(FALSE, FALSE, sizeof(double));
        for (guint i = 0; i < all->len; i++)
                g_array_append_val(rates, g_array_index(all, Result, i).rate);
        g_array_sort(all, cmp_rate);
        *r = g_array_index(all, Result, all->len / 2);
        r->rates = rates;
}

static char *bus_start(GSubprocess **ret, const char *dir)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *conf = g_build_filename(dir, "bus.conf", NULL);
        g_autofree char *text = g_strdup_printf(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration "
                "1.0//EN\" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig><type>session</type><listen>unix:path=%s/bus.sock</listen>"
                "<auth>EXTERNAL</auth><policy context=\"default\"><allow send_destination=\"*\" "
                "eavesdrop=\"true\"/><allow eavesdrop=\"true\"/><allow own=\"*\"/></policy>"
                /* the session bus's own limits (session.conf) */
                "<limit name=\"max_incoming_bytes\">1000000000</limit>"
                "<limit name=\"max_outgoing_bytes\">1000000000</limit>"
                "<limit name=\"max_message_size\">1000000000</limit>"
                "</busconfig>\n",
                dir);
        GDataInputStream *out;
        char *address;

        if (!g_file_set_contents(conf, text, -1, &error))
                die("%s", error->message);
        *ret = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                                &error, "dbus-daemon", "--nofork", "--nopidfile", "--print-address",
                                "--config-file", conf, NULL);
        if (!*ret)
                die("dbus-daemon: %s", error->message);
        out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(*ret));
        address = g_data_input_stream_read_line(out, NULL, NULL, &error);
        g_object_unref(out);
        if (!address)
                die("dbus-daemon gave no address");
        return address;
}

static void print_row(const Result *r)
{
        if (!r->ran)
                return;
        printf("%-11s %10.0f %9.2f %8" G_GUINT64_FORMAT "/%-8" G_GUINT64_FORMAT " %7" G_GUINT64_FORMAT,
               r->name, r->rate, r->seconds, r->delivered, r->sent, r->dropped);
        if (r->p99)
                printf(" %7u %7u %7u", r->p50, r->p99, r->max);
        else
                printf(" %7s %7s %7s", "-", "-", "-");
        if (r->hwm_kib > 0)
                printf(" %8.1f", (double) r->hwm_kib / 1024.0);
        else
                printf(" %8s", "-");
        /* CPU: ingesterd's in relay and ingest, the bare emitter's in baseline */
        if (r->cpu_s > 0 && r->delivered > 0)
                printf(" %6.2f %6.1f", r->cpu_s, r->cpu_s * 1e6 / (double) r->delivered);
        if (r->batches > 0 && r->batches != G_MAXUINT64)
                printf("  (%.1f events/batch)", (double) r->batched / (double) r->batches);
        printf("\n");
}

static void json_result(GString *j, const Result *r)
{
        if (!r->ran)
                return;
        g_string_append_printf(j,
                               ",\"%s\":{\"events_per_s\":%.0f,\"seconds\":%.3f,\"sent\":%" G_GUINT64_FORMAT
                               ",\"send_failed\":%" G_GUINT64_FORMAT ",\"delivered\":%" G_GUINT64_FORMAT
                               ",\"dropped\":%" G_GUINT64_FORMAT ",\"seq_gaps\":%" G_GUINT64_FORMAT
                               ",\"out_of_order\":%" G_GUINT64_FORMAT,
                               r->name, r->rate, r->seconds, r->sent, r->failed, r->delivered,
                               r->dropped, r->gaps, r->out_of_order);
        if (r->rates && r->rates->len > 1) {
                g_string_append(j, ",\"runs_events_per_s\":[");
                for (guint i = 0; i < r->rates->len; i++)
                        g_string_append_printf(j, "%s%.0f", i ? "," : "",
                                               g_array_index(r->rates, double, i));
                g_string_append_c(j, ']');
        }
        if (r->p99)
                g_string_append_printf(j, ",\"latency_us\":{\"p50\":%u,\"p99\":%u,\"max\":%u}",
                                       r->p50, r->p99, r->max);
        if (r->hwm_kib > 0)
                g_string_append_printf(j, ",\"peak_rss_kib\":%ld,\"rss_end_kib\":%ld", r->hwm_kib,
                                       r->rss_kib);
        if (r->cpu_s > 0 && r->delivered > 0)
                g_string_append_printf(j, ",\"cpu_s\":%.2f,\"cpu_us_per_event\":%.1f", r->cpu_s,
                                       r->cpu_s * 1e6 / (double) r->delivered);
        if (r->batches > 0 && r->batches != G_MAXUINT64)
                g_string_append_printf(j, ",\"batches\":%" G_GUINT64_FORMAT
                                       ",\"events_per_batch\":%.1f",
                                       r->batches, (double) r->batched / (double) r->batches);
        g_string_append_c(j, '}');
}

/* How many datagrams a DGRAM socket queues before senders block: 10 by
 * default, 512 where systemd has set it. It bounds the dgram figures. */
static int max_dgram_qlen(void)
{
        g_autofree char *text = NULL;

        if (!g_file_get_contents("/proc/sys/net/unix/max_dgram_qlen", &text, NULL, NULL))
                return -1;
        return atoi(text);
}

/* A ratio of two phases' rates, printed and kept for the JSON line. */
typedef struct {
        const char *num, *den, *label, *key;
} Ratio;

static const Ratio ratios[] = {
        { "relay", "baseline", "relay / L       ", "relay_over_baseline" },
        { "relay", "floor", "relay / F       ", "relay_over_floor" },
        { "floor", "baseline", "F / L           ", "floor_over_baseline" },
        { "batch", "baseline", "batch / L       ", "batch_over_baseline" },
        { "batch-gdbus", "baseline", "batch-gdbus / L ", "batch_gdbus_over_baseline" },
        { "batch", "relay", "batch / relay   ", "batch_over_relay" },
        { "ingest", "plain", "ingest / plain  ", "ingest_over_plain" },
        { "tool", "lib-1", "tool / lib-1    ", "tool_over_lib" },
        { "typed", "event-pending", "typed / event   ", "typed_over_event" },
};

static int orchestrate(void)
{
        int dgram_qlen = max_dgram_qlen();
        g_autofree char *dir = g_dir_make_tmp("ingester-bench-XXXXXX", NULL);
        g_autofree char *address = NULL;
        g_autoptr(GSubprocess) bus = NULL;
        g_autoptr(GString) j = g_string_new(NULL);
        g_auto(GStrv) phases = g_strsplit(opt.phases, ",", -1);
        const char *const *want = (const char *const *) phases;
        Child sub = { 0 };
        Result res[G_N_ELEMENTS(phase_names)] = { 0 };
        g_autofree char *role = NULL;

        if (!dir)
                die("no temporary directory");
        for (guint i = 0; i < G_N_ELEMENTS(res); i++)
                res[i].name = phase_names[i];
        address = bus_start(&bus, dir);
        role = g_strdup_printf("--role=subscriber:%s:%d", address, opt.events);
        child_spawn(&sub, 0, role, NULL);
        child_expect(&sub, "ready");

        printf("ingester-bench: transport=%s codec=%s events=%d senders=%d size=%d fds=%s "
               "policy=%s queue=%d rate=%d repeat=%d max_dgram_qlen=%d batch_max_events=%d\n",
               opt.transport, opt.codec, opt.events, opt.senders, opt.size, opt.fds ? "yes" : "no",
               opt.policy, opt.queue, opt.rate, opt.repeat, dgram_qlen, opt.batch_max);
        fflush(stdout);
#define RES(name) (&res[phase_index(name)])
        /* Repetitions interleave the phases, so a slow spell of the machine
         * touches all of them; each phase reports its median run. */
        for (int rep = 0; rep < opt.repeat; rep++) {
                if (g_strv_contains(want, "baseline")) {
                        keep_run(RES("baseline"), phase_baseline(address, &sub, FALSE));
                        keep_run(RES("floor"), phase_baseline(address, &sub, TRUE));
                }
                if (g_strv_contains(want, "relay"))
                        keep_run(RES("relay"), phase_relay(address, dir, &sub));
                if (g_strv_contains(want, "batch")) {
                        keep_run(RES("batch"), phase_batch(address, dir, &sub, FALSE));
                        keep_run(RES("batch-gdbus"), phase_batch(address, dir, &sub, TRUE));
                }
                if (g_strv_contains(want, "ingest"))
                        keep_run(RES("ingest"), phase_ingest(address, dir));
                if (g_strv_contains(want, "plain"))
                        keep_run(RES("plain"), phase_plain(dir));
                if (g_strv_contains(want, "tool")) {
                        keep_run(RES("lib-1"), phase_tool(dir, FALSE));
                        keep_run(RES("tool"), phase_tool(dir, TRUE));
                }
                if (g_strv_contains(want, "typed")) {
                        if (!opt.schema)
                                die("the typed phase needs --schema (doc/examples/org.terok.Shield1.xml)");
                        keep_run(RES("event-pending"), phase_typed(address, dir, &sub, NULL));
                        keep_run(RES("typed"), phase_typed(address, dir, &sub, opt.schema));
                }
        }
        /* once: its figures are latencies under a flood, not a rate to take the median of */
        if (g_strv_contains(want, "fairness"))
                phase_fairness(address, dir, &sub);
        for (guint i = 0; i < G_N_ELEMENTS(res); i++)
                pick_median(&res[i]);
        child_finish(&sub);
        g_subprocess_send_signal(bus, SIGTERM);
        g_subprocess_wait(bus, NULL, NULL);
        {
                g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
                if (system(cmd) != 0)
                        g_printerr("ingester-bench: could not remove %s\n", dir);
        }

        printf("%-11s %10s %9s %17s %7s %7s %7s %7s %8s %6s %6s\n", "phase", "events/s", "seconds",
               "delivered/sent", "dropped", "p50 µs", "p99 µs", "max µs", "RSS MiB", "CPU s",
               "µs/ev");
        for (guint i = 0; i < G_N_ELEMENTS(res); i++)
                print_row(&res[i]);
        for (guint i = 0; i < G_N_ELEMENTS(ratios); i++)
                if (RES(ratios[i].num)->ran && RES(ratios[i].den)->ran)
                        printf("%s = %.3f\n", ratios[i].label,
                               RES(ratios[i].num)->rate / RES(ratios[i].den)->rate);
        if (RES("typed")->ran)
                printf("(typed: the same events, as ConnectionBlocked / as Event)\n");

        g_string_append_printf(j,
                               "{\"transport\":\"%s\",\"codec\":\"%s\",\"events\":%d,\"senders\":%d,"
                               "\"size\":%d,\"fds\":%s,\"policy\":\"%s\",\"queue\":%d,\"rate\":%d,"
                               "\"repeat\":%d,\"max_dgram_qlen\":%d,\"batch_max_events\":%d",
                               opt.transport, opt.codec, opt.events, opt.senders, opt.size,
                               opt.fds ? "true" : "false", opt.policy, opt.queue, opt.rate,
                               opt.repeat, dgram_qlen, opt.batch_max);
        for (guint i = 0; i < G_N_ELEMENTS(res); i++)
                json_result(j, &res[i]);
        for (guint i = 0; i < G_N_ELEMENTS(ratios); i++)
                if (RES(ratios[i].num)->ran && RES(ratios[i].den)->ran)
                        g_string_append_printf(j, ",\"%s\":%.3f", ratios[i].key,
                                               RES(ratios[i].num)->rate / RES(ratios[i].den)->rate);
#undef RES
        if (g_strv_contains(want, "fairness"))
                print_fairness(j);
        g_string_append_c(j, '}');
        printf("%s\n", j->str);
        return 0;
}

int main(int argc, char **argv)
{
        g_autofree char *role = NULL;
        const GOptionEntry entries[] = {
                { "transport", 't', 0, G_OPTION_ARG_STRING, &opt.transport,
                  "seqpacket (default) or dgram", "T" },
                { "codec", 'c', 0, G_OPTION_ARG_STRING, &opt.codec, "json (default) or msgpack",
                  "C" },
                { "events", 'n', 0, G_OPTION_ARG_INT, &opt.events, "Events per phase (200000)",
                  "N" },
                { "senders", 'k', 0, G_OPTION_ARG_INT, &opt.senders, "Sender processes (4)", "K" },
                { "size", 0, 0, G_OPTION_ARG_INT, &opt.size, "Event size in bytes of JSON (200)",
                  "BYTES" },
                { "fds", 0, 0, G_OPTION_ARG_NONE, &opt.fds, "One fd with every event", NULL },
                { "policy", 0, 0, G_OPTION_ARG_STRING, &opt.policy,
                  "ingesterd's overflow policy (block)", "P" },
                { "queue", 0, 0, G_OPTION_ARG_INT, &opt.queue, "ingesterd's queue capacity (4096)",
                  "N" },
                { "rate", 0, 0, G_OPTION_ARG_INT, &opt.rate,
                  "Total events/s, paced (default 0: as fast as possible)", "R" },
                { "phases", 0, 0, G_OPTION_ARG_STRING, &opt.phases,
                  "Comma-separated: baseline (L and F),relay,ingest,plain; also batch (the relay "
                  "with signal-form=batch, to the filter and to a GDBus handler), tool (ingester-send "
                  "against one libingester sender), fairness (a paced sender against "
                  "--senders flooders, per policy) and typed (the Shield1 events as Event and "
                  "as ConnectionBlocked, needs --schema) (default: the first four)", "LIST" },
                { "batch-max-events", 0, 0, G_OPTION_ARG_INT, &opt.batch_max,
                  "ingesterd's --batch-max-events in the batch phase (default: its own)", "N" },
                { "repeat", 'r', 0, G_OPTION_ARG_INT, &opt.repeat,
                  "Run the phases this many times, interleaved; report medians (1)", "N" },
                { "idle-ms", 0, 0, G_OPTION_ARG_INT, &opt.idle_ms,
                  "Give up waiting after this long without progress (5000)", "MS" },
                { "ingesterd", 0, 0, G_OPTION_ARG_FILENAME, &opt.ingesterd,
                  "The daemon to measure (default: ingesterd on PATH)", "PATH" },
                { "schema", 0, 0, G_OPTION_ARG_FILENAME, &opt.schema,
                  "The schema of the typed phase (doc/examples/org.terok.Shield1.xml)", "PATH" },
                { "ingester-send", 0, 0, G_OPTION_ARG_FILENAME, &opt.sender_tool,
                  "The tool for the 'tool' phase (default: ingester-send on PATH)", "PATH" },
                { "role", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &role, NULL, NULL },
                { NULL },
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("- measure ingesterd against the bus");
        g_autoptr(GError) error = NULL;

        signal(SIGPIPE, SIG_IGN);
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                fprintf(stderr, "ingester-bench: %s\n", error->message);
                return 2;
        }
        opt.transport = opt.transport ? opt.transport : g_strdup("seqpacket");
        opt.codec = opt.codec ? opt.codec : g_strdup("json");
        opt.policy = opt.policy ? opt.policy : g_strdup("block");
        opt.phases = opt.phases ? opt.phases : g_strdup("baseline,relay,ingest,plain");
        opt.ingesterd = opt.ingesterd ? opt.ingesterd : g_strdup("ingesterd");
        opt.sender_tool = opt.sender_tool ? opt.sender_tool : g_strdup("ingester-send");
        if (!g_str_equal(opt.transport, "seqpacket") && !g_str_equal(opt.transport, "dgram"))
                die("--transport: seqpacket or dgram");
        if (!g_str_equal(opt.codec, "json") && !g_str_equal(opt.codec, "msgpack"))
                die("--codec: json or msgpack");
        if (opt.repeat < 1)
                die("--repeat: at least 1");
        if (opt.events < 1 || opt.senders < 1 || opt.size < 0 || opt.size > 4000 || opt.rate < 0)
                die("--events and --senders at least 1, --size 0..4000, --rate >= 0");

        if (role) {
                g_auto(GStrv) f = g_strsplit(role, ":", -1);
                guint n = g_strv_length(f);
                /* sender:PATH:ID:COUNT:RATE[:TRANSPORT[:TYPE]] */
                if (g_str_equal(f[0], "sender") && n >= 5 && n <= 7) {
                        if (n == 7)
                                event_type = f[6];
                        return role_sender(f[1], atoi(f[2]), (unsigned) strtoul(f[3], NULL, 10),
                                           g_ascii_strtod(f[4], NULL), n >= 6 ? f[5] : opt.transport);
                }
                /* bus addresses contain ':' — everything after the role name */
                if (g_str_equal(f[0], "subscriber") || g_str_equal(f[0], "emitter") ||
                    g_str_equal(f[0], "emitter-floor")) {
                        const char *rest = role + strlen(f[0]) + 1;
                        const char *last = strrchr(rest, ':');
                        g_autofree char *addr = g_strndup(rest, (gsize) (last - rest));
                        unsigned k = (unsigned) strtoul(last + 1, NULL, 10);
                        return g_str_equal(f[0], "subscriber") ? role_subscriber(addr, k)
                                                               : role_emitter(addr, k, g_str_equal(f[0], "emitter-floor"));
                }
                if (g_str_equal(f[0], "sink") && n == 3)
                        return role_sink(f[1], (unsigned) strtoul(f[2], NULL, 10));
                die("bad --role");
        }
        self_exe = g_file_read_link("/proc/self/exe", NULL);
        return orchestrate();
}

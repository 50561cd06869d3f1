/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-ack.c — acknowledged sends (issue "acknowledged sends"), on a real
 * dbus-daemon: a connection that sends "!ack" hears of every event it sends
 * after that, "N ok SEQ" once the bus has it, "N refused REASON" at once,
 * "N dropped" when the policy drops it; over SEQPACKET and stream, by
 * hand, through libingester and ingester-send --wait; after a bus restart
 * the answer comes after the re-send; a sender that never reads its answers
 * is only stopped itself.
 */
#include <errno.h>
#include <ingester/ingester.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cunit-tap.h"
#include "harness.h"

static TestSuite suite; /* the suite's bus */
static TestFixture f;   /* this test's directory and daemon */

TESTSUITE_CALLBACKS(suite)
TESTSUITE_FIXTURE(suite, f)

static void send_str(int fd, const char *s)
{
        CU_ASSERT_EQUAL(send_fd_packet(fd, s, strlen(s), NULL, 0), 0);
}

/* SEQPACKET by hand: ok with the seq the bus saw, refused with the reason,
 * nothing for what came before "!ack". */
static void test_seqpacket_answers(void)
{
        char buf[128];
        guint64 n = 0, seq = 0;
        g_autoptr(GDBusMessage) m = NULL;
        int fd;

        f.d = testdaemon_start(&suite.bus, f.dir, NULL, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        send_str(fd, "{\"type\":\"before\"}");
        g_object_unref(testdaemon_next_event(f.d, 5000));
        CU_ASSERT_EQUAL(harness_recv(fd, buf, sizeof(buf), 200), -1); /* not acknowledged */
        send_str(fd, "!ack");
        send_str(fd, "{\"type\":\"one\"}");
        send_str(fd, "{bad");
        send_str(fd, "{\"type\":\"two\"}");
        m = testdaemon_next_event(f.d, 5000);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        {
                g_autoptr(GVariant) meta = g_variant_get_child_value(g_dbus_message_get_body(m), 2);
                g_variant_lookup(meta, "seq", "t", &seq);
        }
        /* the refusal comes at once, the confirmations when the bus has them */
        CU_ASSERT_TRUE(harness_recv(fd, buf, sizeof(buf), 5000) > 0);
        CU_ASSERT_STRING_EQUAL(buf, "2 refused syntax");
        CU_ASSERT_TRUE(harness_recv(fd, buf, sizeof(buf), 5000) > 0);
        CU_ASSERT_EQUAL(sscanf(buf, "%" G_GUINT64_FORMAT " ok %" G_GUINT64_FORMAT, &n, &seq), 2);
        CU_ASSERT_EQUAL(n, 1);
        CU_ASSERT_EQUAL(seq, 2);
        CU_ASSERT_TRUE(harness_recv(fd, buf, sizeof(buf), 5000) > 0);
        CU_ASSERT_STRING_EQUAL(buf, "3 ok 3");
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected:syntax"), 1);
        close(fd);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

/* A stream: the same, one line each way. */
static void test_stream_answers(void)
{
        g_autofree char *stream = NULL;
        const char *lines = "!ack\n{\"type\":\"a\"}\n{\"type\":1}\n";
        char buf[256];
        size_t got = 0;
        int fd;

        f.d = testdaemon_start_stream(&suite.bus, f.dir, &stream);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = stream_connect(stream);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        CU_ASSERT_EQUAL(write(fd, lines, strlen(lines)), (ssize_t) strlen(lines));
        while (got < sizeof(buf) - 1 && !(strstr(buf, "ok") && strstr(buf, "refused"))) {
                ssize_t n = harness_recv(fd, buf + got, sizeof(buf) - got, 5000);
                if (n <= 0)
                        break;
                got += (size_t) n;
        }
        printf("# %s", buf);
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, "2 refused type-not-string\n"));
        CU_ASSERT_PTR_NOT_NULL(strstr(buf, "1 ok 1\n"));
        close(fd);
        /* the library and the tool over the stream */
        {
                IngesterClient *c = NULL;
                uint64_t seq = 0;
                char reason[64] = "";
                g_autoptr(GSubprocess) p = NULL;

                CU_ASSERT_EQUAL_FATAL(ingester_client_new(&c, stream, INGESTER_TRANSPORT_AUTO, 0), 0);
                CU_ASSERT_EQUAL(ingester_client_send_wait(c, "{\"type\":\"lib\"}", 14, NULL, 0,
                                                          5000, &seq, reason, sizeof(reason)),
                                0);
                CU_ASSERT_EQUAL(seq, 2);
                CU_ASSERT_EQUAL(ingester_client_send_wait(c, "[1]", 3, NULL, 0, 5000, &seq, reason,
                                                          sizeof(reason)),
                                -EBADMSG);
                CU_ASSERT_STRING_EQUAL(reason, "not-object");
                ingester_client_free(c);
                p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL, "ingester-send",
                                     "--quiet", "--wait", "--socket", stream, "type=tool", NULL);
                CU_ASSERT_EQUAL(harness_wait_subprocess(p, 20000), 0);
                CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "emitted", 3), 3);
        }
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

/* Dropped by the policy: answered as dropped (drop-newest, capacity 2, bus away). */
static void test_dropped_is_answered(void)
{
        const char *extra[] = { "--policy=drop-newest", "--queue-capacity=2", NULL };
        char buf[128];
        int fd, dropped = 0;

        f.d = testdaemon_start(&suite.bus, f.dir, extra, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        send_str(fd, "!ack");
        testbus_stop(&suite.bus);
        CU_ASSERT_TRUE(testdaemon_wait_log(f.d, "lost the bus") > 0);
        for (int i = 0; i < 5; i++)
                send_str(fd, "{\"type\":\"x\"}");
        for (int i = 0; i < 3; i++)
                if (harness_recv(fd, buf, sizeof(buf), 5000) > 0 && strstr(buf, " dropped"))
                        dropped++;
        CU_ASSERT_EQUAL(dropped, 3); /* 2 queued, 3 dropped */
        CU_ASSERT_TRUE_FATAL(testbus_start(&suite.bus, suite.topdir));
        harness_unsubscribe(f.d->conn, f.d->sub_id, f.d->filter_id);
        f.d->conn = harness_subscribe(&suite.bus, f.d->events, &f.d->sub_id, &f.d->filter_id);
        for (int i = 0; i < 2; i++) {
                CU_ASSERT_TRUE(harness_recv(fd, buf, sizeof(buf), 10000) > 0);
                CU_ASSERT_PTR_NOT_NULL(strstr(buf, " ok "));
        }
        close(fd);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

typedef struct {
        IngesterClient *c;
        const char *event;
        int r;
        uint64_t seq;
        char reason[64];
} Waiter;

static gpointer wait_send(gpointer user_data)
{
        Waiter *w = user_data;

        w->r = ingester_client_send_wait(w->c, w->event, strlen(w->event), NULL, 0, 30000,
                                         &w->seq, w->reason, sizeof(w->reason));
        return NULL;
}

/* libingester: the seq once on the bus; a refusal's reason; across a bus
 * restart the answer comes only after the re-send. */
static void test_library_waits(void)
{
        IngesterClient *c = NULL;
        uint64_t seq = 0;
        char reason[64] = "";
        Waiter w = { .event = "{\"type\":\"across\"}" };
        GThread *t;
        pid_t pid;

        f.d = testdaemon_start(&suite.bus, f.dir, NULL, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        pid = (pid_t) atoi(g_subprocess_get_identifier(f.d->proc));
        CU_ASSERT_EQUAL_FATAL(ingester_client_new(&c, f.d->seq_path, INGESTER_TRANSPORT_AUTO, 0), 0);
        CU_ASSERT_EQUAL(ingester_client_send_wait(c, "{\"type\":\"w\"}", 12, NULL, 0, 5000, &seq,
                                                  reason, sizeof(reason)),
                        0);
        CU_ASSERT_EQUAL(seq, 1);
        CU_ASSERT_EQUAL(ingester_client_send_wait(c, "{bad", 4, NULL, 0, 5000, &seq, reason,
                                                  sizeof(reason)),
                        -EBADMSG);
        CU_ASSERT_STRING_EQUAL(reason, "syntax");

        testbus_stop(&suite.bus);
        CU_ASSERT_TRUE(testdaemon_wait_log(f.d, "lost the bus") > 0);
        w.c = c;
        t = g_thread_new("waiter", wait_send, &w);
        g_usleep(300000);
        CU_ASSERT_EQUAL(g_atomic_int_get(&w.r), 0); /* still waiting: nothing answered */
        CU_ASSERT_EQUAL(w.seq, 0);
        kill(pid, SIGSTOP);
        CU_ASSERT_TRUE_FATAL(testbus_start(&suite.bus, suite.topdir));
        harness_unsubscribe(f.d->conn, f.d->sub_id, f.d->filter_id);
        f.d->conn = harness_subscribe(&suite.bus, f.d->events, &f.d->sub_id, &f.d->filter_id);
        kill(pid, SIGCONT);
        g_thread_join(t);
        CU_ASSERT_EQUAL(w.r, 0);
        CU_ASSERT_TRUE(w.seq >= 1);
        {
                g_autoptr(GDBusMessage) m = NULL;
                for (int i = 0; i < 3 && (m = testdaemon_next_event(f.d, 5000)); i++) {
                        const char *type = NULL;
                        g_variant_get_child(g_dbus_message_get_body(m), 0, "&s", &type);
                        if (strcmp(type, "across") == 0)
                                break;
                        g_clear_object(&m);
                }
                CU_ASSERT_PTR_NOT_NULL(m); /* the answered event is on the new bus */
        }
        ingester_client_free(c);
        /* a non-blocking handle cannot wait */
        CU_ASSERT_EQUAL_FATAL(ingester_client_new(&c, f.d->seq_path, INGESTER_TRANSPORT_AUTO,
                                                  INGESTER_CLIENT_NONBLOCK),
                              0);
        CU_ASSERT_EQUAL(ingester_client_send_wait(c, "{}", 2, NULL, 0, 1000, &seq, reason,
                                                  sizeof(reason)),
                        -EINVAL);
        ingester_client_free(c);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

/* ingester-send --wait: 0 when every event was answered ok, 1 when one was refused. */
static void test_ingester_send_wait(void)
{
        g_autoptr(GSubprocess) ok = NULL, bad = NULL;

        f.d = testdaemon_start(&suite.bus, f.dir, NULL, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        ok = g_subprocess_new(G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL, "ingester-send", "--quiet",
                              "--wait", "--socket", f.d->seq_path, "{\"type\":\"a\"}",
                              "{\"type\":\"b\"}", NULL);
        CU_ASSERT_EQUAL(harness_wait_subprocess(ok, 20000), 0);
        {
                /* a string over the daemon's max-string (64 KiB): ingester-send's own
                 * check passes it, ingesterd refuses it */
                g_autofree char *pad = g_strnfill(66000, 'x');
                g_autofree char *event = g_strdup_printf("{\"type\":\"a\",\"s\":\"%s\"}", pad);
                bad = g_subprocess_new(G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL, "ingester-send",
                                       "--quiet", "--wait", "--socket", f.d->seq_path, event, NULL);
        }
        CU_ASSERT_EQUAL(harness_wait_subprocess(bad, 20000), 1);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "emitted", 2), 2);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

/*
 * A sender that asks for answers and never reads them: after ACK_MAX
 * unwritten answers its connection is not read any more (its send()s block
 * once the socket buffers fill), while another sender's events flow; once
 * it reads, every answer is there, each once, and it is read again.
 */
static void test_unread_answers_stop_only_their_sender(void)
{
        enum { N = 20000 };
        g_autofree guint8 *seen = g_new0(guint8, N + 1);
        char buf[128];
        int fd, other, sent = 0, answered = 0;

        f.d = testdaemon_start(&suite.bus, f.dir, NULL, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fd = seq_connect_flags(f.d->seq_path, SOCK_NONBLOCK);
        other = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0 && other >= 0);
        send_str(fd, "!ack");
        /* send until the socket stays full for half a second: the daemon has
         * stopped reading this connection */
        while (sent < N) {
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                if (send(fd, "{\"type\":\"mute\"}", 15, MSG_NOSIGNAL) == 15) {
                        sent++;
                        continue;
                }
                if (poll(&p, 1, 500) != 1)
                        break;
        }
        printf("# %d of %d sent before the daemon stopped reading\n", sent, N);
        /* it read until its ACK_MAX answers were unwritten (and the socket buffers full) */
        CU_ASSERT_TRUE(sent >= 1024);
        CU_ASSERT_TRUE(sent < N);
        send_str(other, "{\"type\":\"other\"}");
        {
                g_autoptr(GDBusMessage) m = NULL;
                const char *type = NULL;
                for (int i = 0; i < 5000 && (m = testdaemon_next_event(f.d, 5000)); i++) {
                        g_variant_get_child(g_dbus_message_get_body(m), 0, "&s", &type);
                        if (strcmp(type, "other") == 0)
                                break;
                        g_clear_object(&m);
                }
                CU_ASSERT_PTR_NOT_NULL(m); /* the other sender was not held up */
        }
        /* now it reads: every answer, each once; and it is read again */
        for (;;) {
                guint64 k, seq;
                ssize_t n = harness_recv(fd, buf, sizeof(buf), 2000);
                if (n <= 0)
                        break;
                if (sscanf(buf, "%" G_GUINT64_FORMAT " ok %" G_GUINT64_FORMAT, &k, &seq) == 2 &&
                    k >= 1 && k <= N && !seen[k]) {
                        seen[k] = 1;
                        answered++;
                }
                if (sent < N && send(fd, "{\"type\":\"mute\"}", 15, MSG_NOSIGNAL) == 15)
                        sent++;
        }
        printf("# %d sent, %d answered ok\n", sent, answered);
        CU_ASSERT_EQUAL(answered, sent);
        CU_ASSERT_TRUE(testdaemon_counts_add_up(f.d));
        close(fd);
        close(other);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(seqpacket_answers),
                TAP_TEST(stream_answers),
                TAP_TEST(dropped_is_answered),
                TAP_TEST(library_waits),
                TAP_TEST(ingester_send_wait),
                TAP_TEST(unread_answers_stop_only_their_sender),
                { NULL, NULL },
        };
        signal(SIGPIPE, SIG_IGN);
        tap_add_suite_full("ack", suite_init, suite_cleanup, setup, teardown, tests);
        return tap_run();
}

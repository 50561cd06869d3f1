/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness.h — real parts for end-to-end tests: a private dbus-daemon on a
 * fixed socket path (so it can be killed and started again at the same
 * address), the built ingesterd as a child process, a subscriber that
 * keeps every Event message with its fds, and raw senders.
 */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct {
        char *dir;
        char *address;
        GSubprocess *proc;
} TestBus;

bool testbus_start(TestBus *b, const char *dir);
/* The same with extra elements in the bus configuration (<limit>s, say). */
bool testbus_start_with(TestBus *b, const char *dir, const char *extra_config);
/* The limits of the stock session bus (/usr/share/dbus-1/session.conf), which
 * lift dbus-daemon's per-connection fd and byte throttling. */
#define TESTBUS_SESSION_LIMITS                                                                     \
        "<limit name=\"max_incoming_bytes\">1000000000</limit>"                                    \
        "<limit name=\"max_incoming_unix_fds\">250000000</limit>"                                  \
        "<limit name=\"max_outgoing_bytes\">1000000000</limit>"                                    \
        "<limit name=\"max_outgoing_unix_fds\">250000000</limit>"                                  \
        "<limit name=\"max_message_size\">1000000000</limit>"
/* The same with the whole configuration but <listen> given: type, auth,
 * policies, service directories. */
bool testbus_start_config(TestBus *b, const char *dir, const char *body);
void testbus_stop(TestBus *b);
/* A client connection to the bus (closing it does not exit the process). */
GDBusConnection *testbus_connect(const TestBus *b);

typedef struct {
        char *dir;
        char *seq_path, *dgram_path, *log_path;
        GSubprocess *proc;
        GDBusConnection *conn; /* the subscriber */
        GAsyncQueue *events;   /* GDBusMessage*, Event and EventBatch signals */
        guint sub_id, filter_id;
} TestDaemon;

/* An end-to-end suite: one private bus in a temporary directory, and one
 * fresh subdirectory per test. */
typedef struct {
        char *topdir;
        TestBus bus;
        unsigned counter;
} TestSuite;

int testsuite_init(TestSuite *s);     /* CUnit: 0, or -1 when the bus did not start */
/* suite_init() and suite_cleanup() for CUnit over the TestSuite s (CUnit's
 * callbacks take no arguments, so each suite file has its own statics). */
#define TESTSUITE_CALLBACKS(s)                                                                     \
        static int suite_init(void)                                                                \
        {                                                                                          \
                return testsuite_init(&(s));                                                       \
        }                                                                                          \
        static int suite_cleanup(void)                                                             \
        {                                                                                          \
                return testsuite_cleanup(&(s));                                                    \
        }
int testsuite_cleanup(TestSuite *s);  /* stops the bus, removes the directory */
/*
 * The per-test fixture of an end-to-end suite (GLib's g_test_add() idea;
 * CUnit's setup and teardown take no argument, so each suite file keeps
 * one TestFixture `f`): a fresh directory before each test, and after it
 * the daemon the test may have started is stopped and freed, then the
 * directory name. TESTSUITE_FIXTURE_WITH runs `cleanup` first.
 */
typedef struct {
        char *dir;     /* this test's directory, topdir/tN */
        TestDaemon *d; /* the daemon it started, or NULL */
} TestFixture;
#define TESTSUITE_FIXTURE_WITH(s, f, cleanup)                                                      \
        static void setup(void)                                                                    \
        {                                                                                          \
                (f) = (TestFixture){ .dir = testsuite_new_dir(&(s)) };                             \
        }                                                                                          \
        static void teardown(void)                                                                 \
        {                                                                                          \
                cleanup;                                                                           \
                g_clear_pointer(&(f).d, testdaemon_free);                                          \
                g_clear_pointer(&(f).dir, g_free);                                                 \
        }
#define TESTSUITE_FIXTURE(s, f) TESTSUITE_FIXTURE_WITH(s, f, (void) 0)
char *testsuite_new_dir(TestSuite *s); /* topdir/tN, created 0700 */

/* A fresh temporary directory (removed by harness_rmtree). */
char *harness_tmpdir(void);
void harness_rmtree(const char *dir);

/* Starts ingesterd on bus with sockets in dir plus extra argv (NULL-terminated), and waits
 * until it owns its name. rlimit_nofile > 0 lowers its fd limit. */
TestDaemon *testdaemon_start(TestBus *bus, const char *dir, const char *const *extra,
                             unsigned rlimit_nofile);
/* The same with --listen=stream:dir/run/stream.sock, whose path is *ret_path
 * (g_free() it) and no other argument. */
TestDaemon *testdaemon_start_stream(TestBus *bus, const char *dir, char **ret_path);
/* Connects the subscriber only (for tests that start the daemon themselves). */
GDBusConnection *harness_subscribe(TestBus *bus, GAsyncQueue *events, guint *sub_id,
                                   guint *filter_id);
/* Drops a harness_subscribe() connection (closes and unrefs it). */
void harness_unsubscribe(GDBusConnection *c, guint sub_id, guint filter_id);
/* The bus was restarted: drops d's subscriber connection (gone with the old
 * bus) and subscribes again on bus, the match in place when it returns. */
void testdaemon_resubscribe(TestDaemon *d, TestBus *bus);
/* Whether org.ingester.Ingester1 has an owner on c's bus. */
bool harness_name_owned(GDBusConnection *c);
/* SIGTERM and wait; returns the exit status, or -1. */
int testdaemon_stop(TestDaemon *d);
void testdaemon_free(TestDaemon *d);

/* An Event message's type (interned: valid for the process's life). */
const char *harness_event_type(GDBusMessage *m);
/* Next Event or EventBatch within timeout_ms, or NULL. */
GDBusMessage *testdaemon_next_event(TestDaemon *d, unsigned timeout_ms);
/* GetStats()["key"] as uint64 (u or t), or rejected[reason] when key is "rejected:REASON";
 * G_MAXUINT64 when there is no such figure or no answer. */
guint64 harness_stat(GDBusConnection *c, const char *key);
/* The whole GetStats() dictionary, or NULL (the error is printed). */
GVariant *harness_stats(GDBusConnection *c);
/* harness_stat() on the daemon's subscriber connection. */
guint64 testdaemon_stat(TestDaemon *d, const char *key);
/* Polls testdaemon_stat() until it reads want (up to 5 s); returns the last value. */
guint64 testdaemon_wait_stat(TestDaemon *d, const char *key, guint64 want);
int testdaemon_count_fds(TestDaemon *d);
/* A "kB" line of the daemon's /proc/PID/status (VmRSS, VmHWM), or -1. */
long testdaemon_status_kib(TestDaemon *d, const char *field);
char *testdaemon_log(TestDaemon *d);
/* Writes dir/ingesterd.conf with the harness's two sockets as [listen:*]
 * sections, then extra (starting with its own [group]); returns "--config=PATH". */
char *harness_config_arg(const char *dir, const char *extra);
/* How many times needle occurs in the daemon's log. */
unsigned testdaemon_count_in_log(TestDaemon *d, const char *needle);
/* Polls the log until needle occurs (up to 5 s); returns its count then. */
unsigned testdaemon_wait_log(TestDaemon *d, const char *needle);
/* The books of one GetStats() answer (doc/protocol.md 4.3): attempts =
 * received + rejected, received = emitted + dropped + held. Prints them when
 * they do not balance. testdaemon_stop() and testdaemon_free() check them
 * before the daemon goes, and fail the test program when they do not. */
bool harness_books_balance(GVariant *stats);
/* Waits for the queue to drain (testdaemon_wait_stat()), prints the figures,
 * and says whether received = emitted + dropped + queued and the books
 * balance. */
bool testdaemon_counts_add_up(TestDaemon *d);

/* Senders: return 0 or -errno. */
int send_dgram(const char *path, const void *buf, size_t len, const int *fds, unsigned n_fds);
int seq_connect(const char *path);
/* The same with extra socket() flags (SOCK_NONBLOCK: EAGAIN when the backlog is full). */
int seq_connect_flags(const char *path, int flags);
/* What fd has within timeout_ms (one packet on SEQPACKET), NUL-terminated
 * into buf; its length, or -1 when nothing came. */
ssize_t harness_recv(int fd, char *buf, size_t size, int timeout_ms);
/* A stream connection (a stream: listener), or -errno. */
int stream_connect(const char *path);
int send_fd_packet(int fd, const void *buf, size_t len, const int *fds, unsigned n_fds);

/* qsort-style comparison of two gint64. */
int harness_compare_i64(const void *a, const void *b);

/* Waits for a child started by g_spawn (or GSubprocess) with timeout; returns exit status. */
int harness_wait_subprocess(GSubprocess *p, unsigned timeout_ms);

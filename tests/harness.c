/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* harness.c — see harness.h. */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

char *harness_tmpdir(void)
{
        g_autoptr(GError) error = NULL;
        char *dir = g_dir_make_tmp("ingester-test-XXXXXX", &error);
        g_assert_no_error(error);
        return dir;
}

void harness_rmtree(const char *dir)
{
        g_autofree char *cmd = NULL;
        if (!dir)
                return;
        cmd = g_strdup_printf("rm -rf '%s'", dir);
        if (system(cmd) != 0)
                g_printerr("# could not remove %s\n", dir);
}

int harness_wait_subprocess(GSubprocess *p, unsigned timeout_ms)
{
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        /* GLib's worker thread reaps the child and then clears the identifier */
        while (g_subprocess_get_identifier(p) != NULL) {
                if (g_get_monotonic_time() >= deadline)
                        return -1;
                g_usleep(2000);
        }
        g_subprocess_wait(p, NULL, NULL);
        if (g_subprocess_get_if_exited(p))
                return g_subprocess_get_exit_status(p);
        return 128 + g_subprocess_get_term_sig(p);
}

bool testbus_start(TestBus *b, const char *dir)
{
        return testbus_start_with(b, dir, "");
}

bool testbus_start_with(TestBus *b, const char *dir, const char *extra_config)
{
        g_autofree char *body = g_strdup_printf(
                "<type>session</type><auth>EXTERNAL</auth>"
                "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>"
                "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy>%s",
                extra_config);
        return testbus_start_config(b, dir, body);
}

bool testbus_start_config(TestBus *b, const char *dir, const char *body)
{
        g_autofree char *conf = g_build_filename(dir, "bus.conf", NULL);
        g_autofree char *sock = g_build_filename(dir, "bus.sock", NULL);
        g_autofree char *text = g_strdup_printf(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\""
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig><listen>unix:path=%s</listen>%s</busconfig>\n",
                sock, body);
        g_autoptr(GError) error = NULL;
        gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

        g_assert_true(g_file_set_contents(conf, text, -1, NULL));
        b->dir = g_strdup(dir);
        b->address = g_strdup_printf("unix:path=%s", sock);
        b->proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                                   &error, "dbus-daemon",
                                   "--nofork", "--nopidfile", "--config-file", conf, NULL);
        g_assert_no_error(error);
        /* ready when its socket accepts a client */
        while (g_get_monotonic_time() < deadline) {
                g_autoptr(GDBusConnection) c = g_dbus_connection_new_for_address_sync(
                        b->address,
                        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                        NULL, NULL, NULL);
                if (c)
                        return true;
                g_usleep(10000);
        }
        return false;
}

int testsuite_init(TestSuite *s)
{
        s->topdir = harness_tmpdir();
        return testbus_start(&s->bus, s->topdir) ? 0 : -1;
}

int testsuite_cleanup(TestSuite *s)
{
        testbus_stop(&s->bus);
        harness_rmtree(s->topdir);
        g_clear_pointer(&s->topdir, g_free);
        return 0;
}

char *testsuite_new_dir(TestSuite *s)
{
        char *dir = g_strdup_printf("%s/t%u", s->topdir, ++s->counter);
        g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
        return dir;
}

void testbus_stop(TestBus *b)
{
        if (b->proc) {
                g_subprocess_send_signal(b->proc, SIGTERM);
                harness_wait_subprocess(b->proc, 5000);
                g_clear_object(&b->proc);
        }
        g_clear_pointer(&b->address, g_free);
        g_clear_pointer(&b->dir, g_free);
}

static GDBusMessage *event_filter(GDBusConnection *c, GDBusMessage *m, gboolean incoming,
                                  gpointer user_data)
{
        if (incoming && g_dbus_message_get_message_type(m) == G_DBUS_MESSAGE_TYPE_SIGNAL &&
            g_strcmp0(g_dbus_message_get_interface(m), "org.ingester.Ingester1") == 0 &&
            (g_strcmp0(g_dbus_message_get_member(m), "Event") == 0 ||
             g_strcmp0(g_dbus_message_get_member(m), "EventBatch") == 0))
                g_async_queue_push(user_data, g_object_ref(m));
        return m;
}

static void ignore_signal(GDBusConnection *c, const char *s, const char *p, const char *i,
                          const char *n, GVariant *v, gpointer u)
{
}

GDBusConnection *testbus_connect(const TestBus *b)
{
        g_autoptr(GError) error = NULL;
        GDBusConnection *c = g_dbus_connection_new_for_address_sync(
                b->address,
                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                NULL, NULL, &error);
        g_assert_no_error(error);
        g_dbus_connection_set_exit_on_close(c, FALSE);
        return c;
}

GDBusConnection *harness_subscribe(TestBus *bus, GAsyncQueue *events, guint *sub_id,
                                   guint *filter_id)
{
        g_autoptr(GError) error = NULL;
        GDBusConnection *c = testbus_connect(bus);

        /* the filter sees every message with its fd list; the subscription installs the
         * match rule on the bus (the interface's signals: Event and EventBatch) */
        *filter_id = g_dbus_connection_add_filter(c, event_filter, g_async_queue_ref(events),
                                                  (GDestroyNotify) g_async_queue_unref);
        *sub_id = g_dbus_connection_signal_subscribe(c, NULL, "org.ingester.Ingester1", NULL,
                                                     NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                                     ignore_signal, NULL, NULL);
        /* a round trip so the match is in place before anything is sent */
        g_variant_unref(g_dbus_connection_call_sync(c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                    "org.freedesktop.DBus", "GetId", NULL, NULL,
                                                    0, 5000, NULL, &error));
        g_assert_no_error(error);
        return c;
}

void harness_unsubscribe(GDBusConnection *c, guint sub_id, guint filter_id)
{
        g_dbus_connection_signal_unsubscribe(c, sub_id);
        g_dbus_connection_remove_filter(c, filter_id);
        g_dbus_connection_close_sync(c, NULL, NULL);
        g_object_unref(c);
}

void testdaemon_resubscribe(TestDaemon *d, TestBus *bus)
{
        g_dbus_connection_signal_unsubscribe(d->conn, d->sub_id);
        g_dbus_connection_remove_filter(d->conn, d->filter_id);
        g_clear_object(&d->conn);
        d->conn = harness_subscribe(bus, d->events, &d->sub_id, &d->filter_id);
}

static void child_setup(gpointer user_data)
{
        unsigned n = GPOINTER_TO_UINT(user_data);
        struct rlimit rl = { n, n };
        if (n)
                setrlimit(RLIMIT_NOFILE, &rl);
}

bool harness_name_owned(GDBusConnection *c)
{
        g_autoptr(GVariant) r = g_dbus_connection_call_sync(
                c, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                "NameHasOwner", g_variant_new("(s)", "org.ingester.Ingester1"),
                G_VARIANT_TYPE("(b)"), 0, 5000, NULL, NULL);
        gboolean owned = FALSE;
        if (r)
                g_variant_get(r, "(b)", &owned);
        return owned;
}

TestDaemon *testdaemon_start(TestBus *bus, const char *dir, const char *const *extra,
                             unsigned rlimit_nofile)
{
        g_autoptr(GSubprocessLauncher) l =
                g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        TestDaemon *d = g_new0(TestDaemon, 1);
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        bool has_config = false;

        d->dir = g_strdup(dir);
        d->seq_path = g_build_filename(dir, "run", "seqpacket.sock", NULL);
        d->dgram_path = g_build_filename(dir, "run", "dgram.sock", NULL);
        d->log_path = g_build_filename(dir, "ingesterd.log", NULL);
        d->events = g_async_queue_new_full(g_object_unref);
        d->conn = harness_subscribe(bus, d->events, &d->sub_id, &d->filter_id);

        g_ptr_array_add(argv, g_strdup("ingesterd"));
        g_ptr_array_add(argv, g_strdup_printf("--address=%s", bus->address));
        for (const char *const *e = extra; e && *e; e++) {
                if (g_str_has_prefix(*e, "--config"))
                        has_config = true;
                g_ptr_array_add(argv, g_strdup(*e));
        }
        if (!has_config) {
                /* --listen replaces a config file's listeners: those name the same paths */
                g_ptr_array_add(argv, g_strdup_printf("--listen=seqpacket:%s", d->seq_path));
                g_ptr_array_add(argv, g_strdup_printf("--listen=dgram:%s", d->dgram_path));
        }
        g_ptr_array_add(argv, NULL);
        g_subprocess_launcher_set_stderr_file_path(l, d->log_path);
        /* The daemon logs external failures (descriptors exhausted, the bus throwing it
         * off) as warnings, which the fault tests provoke on purpose; GLib's criticals
         * stay fatal. */
        g_subprocess_launcher_setenv(l, "G_DEBUG", "fatal-criticals", TRUE);
        g_subprocess_launcher_set_child_setup(l, child_setup, GUINT_TO_POINTER(rlimit_nofile),
                                              NULL);
        d->proc = g_subprocess_launcher_spawnv(l, (const char *const *) argv->pdata, &error);
        g_assert_no_error(error);
        while (!harness_name_owned(d->conn)) {
                if (g_get_monotonic_time() > deadline ||
                    harness_wait_subprocess(d->proc, 1) >= 0) {
                        g_autofree char *log = testdaemon_log(d);
                        g_printerr("# ingesterd did not start:\n%s\n", log);
                        testdaemon_free(d);
                        return NULL;
                }
                g_usleep(5000);
        }
        return d;
}

bool harness_books_balance(GVariant *stats)
{
        guint64 attempts = 0, received = 0, emitted = 0, dropped = 0, held = 0, rejected = 0;
        guint64 quarantined = 0;

        if (!g_variant_lookup(stats, "attempts", "t", &attempts) ||
            !g_variant_lookup(stats, "received", "t", &received) ||
            !g_variant_lookup(stats, "emitted", "t", &emitted) ||
            !g_variant_lookup(stats, "dropped", "t", &dropped) ||
            !g_variant_lookup(stats, "held", "t", &held) ||
            !g_variant_lookup(stats, "quarantined", "t", &quarantined) ||
            !g_variant_lookup(stats, "rejected-total", "t", &rejected))
                return false;
        if (attempts == received + rejected && received == emitted + dropped + quarantined + held)
                return true;
        printf("# the books do not balance: attempts %" G_GUINT64_FORMAT " received %" G_GUINT64_FORMAT
               " rejected %" G_GUINT64_FORMAT " emitted %" G_GUINT64_FORMAT
               " dropped %" G_GUINT64_FORMAT " quarantined %" G_GUINT64_FORMAT
               " held %" G_GUINT64_FORMAT "\n",
               attempts, received, rejected, emitted, dropped, quarantined, held);
        return false;
}

/* Before a daemon goes: when it answers GetStats at once, its books must
 * balance (a daemon stopped, or a bus that is gone, is not asked twice). A
 * test that leaves them unbalanced fails loudly: G_DEBUG=fatal-warnings. */
static void check_books(TestDaemon *d)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL, stats = NULL;

        if (!d->conn || g_dbus_connection_is_closed(d->conn))
                return;
        r = g_dbus_connection_call_sync(d->conn, "org.ingester.Ingester1",
                                        "/org/ingester/Ingester1", "org.ingester.Ingester1",
                                        "GetStats", NULL, G_VARIANT_TYPE("(a{sv})"), 0, 1000, NULL,
                                        &error);
        if (!r)
                return;
        stats = g_variant_get_child_value(r, 0);
        if (!harness_books_balance(stats))
                g_critical("the daemon's books do not balance (doc/protocol.md 4.3)");
}

int testdaemon_stop(TestDaemon *d)
{
        int status;
        if (!d->proc)
                return -1;
        check_books(d);
        g_subprocess_send_signal(d->proc, SIGTERM);
        status = harness_wait_subprocess(d->proc, 10000);
        g_clear_object(&d->proc);
        return status;
}

void testdaemon_free(TestDaemon *d)
{
        if (!d)
                return;
        if (d->proc) {
                check_books(d);
                g_subprocess_force_exit(d->proc);
                harness_wait_subprocess(d->proc, 5000);
                g_clear_object(&d->proc);
        }
        if (d->conn)
                harness_unsubscribe(g_steal_pointer(&d->conn), d->sub_id, d->filter_id);
        g_async_queue_unref(d->events);
        g_free(d->seq_path);
        g_free(d->dgram_path);
        g_free(d->log_path);
        g_free(d->dir);
        g_free(d);
}

const char *harness_event_type(GDBusMessage *m)
{
        g_autoptr(GVariant) t = g_variant_get_child_value(g_dbus_message_get_body(m), 0);

        return g_intern_string(g_variant_get_string(t, NULL));
}

GDBusMessage *testdaemon_next_event(TestDaemon *d, unsigned timeout_ms)
{
        return g_async_queue_timeout_pop(d->events, (guint64) timeout_ms * 1000);
}

guint64 testdaemon_stat(TestDaemon *d, const char *key)
{
        return harness_stat(d->conn, key);
}

GVariant *harness_stats(GDBusConnection *c)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = g_dbus_connection_call_sync(
                c, "org.ingester.Ingester1", "/org/ingester/Ingester1",
                "org.ingester.Ingester1", "GetStats", NULL, G_VARIANT_TYPE("(a{sv})"), 0, 5000,
                NULL, &error);

        if (!r) {
                g_printerr("# GetStats: %s\n", error->message);
                return NULL;
        }
        return g_variant_get_child_value(r, 0);
}

guint64 harness_stat(GDBusConnection *c, const char *key)
{
        g_autoptr(GVariant) stats = harness_stats(c), v = NULL;

        if (!stats)
                return G_MAXUINT64;
        if (g_str_has_prefix(key, "rejected:")) {
                g_autoptr(GVariant) by = g_variant_lookup_value(stats, "rejected", NULL);
                guint64 n = G_MAXUINT64;
                if (!by || !g_variant_lookup(by, key + 9, "t", &n))
                        return G_MAXUINT64;
                return n;
        }
        v = g_variant_lookup_value(stats, key, NULL);
        if (!v)
                return G_MAXUINT64;
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
                return g_variant_get_uint32(v);
        return g_variant_get_uint64(v);
}

guint64 testdaemon_wait_stat(TestDaemon *d, const char *key, guint64 want)
{
        guint64 v = testdaemon_stat(d, key);
        for (int i = 0; i < 500 && v != want; i++) {
                g_usleep(10000);
                v = testdaemon_stat(d, key);
        }
        return v;
}

int harness_compare_i64(const void *a, const void *b)
{
        gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

        return x < y ? -1 : x > y;
}

long testdaemon_status_kib(TestDaemon *d, const char *field)
{
        g_autofree char *path =
                g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(d->proc));
        g_autofree char *text = NULL, *key = g_strdup_printf("\n%s:", field);
        const char *p;

        if (!g_file_get_contents(path, &text, NULL, NULL) || !(p = strstr(text, key)))
                return -1;
        return atol(p + strlen(key));
}

int testdaemon_count_fds(TestDaemon *d)
{
        g_autofree char *path =
                g_strdup_printf("/proc/%s/fd", g_subprocess_get_identifier(d->proc));
        g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
        int n = 0;

        if (!dir)
                return -1;
        while (g_dir_read_name(dir))
                n++;
        return n;
}

char *testdaemon_log(TestDaemon *d)
{
        char *text = NULL;
        if (!g_file_get_contents(d->log_path, &text, NULL, NULL))
                return g_strdup("");
        return text;
}

char *harness_config_arg(const char *dir, const char *extra)
{
        g_autofree char *path = g_build_filename(dir, "ingesterd.conf", NULL);
        g_autofree char *text = g_strdup_printf("[listen:seq]\ntransport=seqpacket\npath=%s/run/"
                                                "seqpacket.sock\n\n[listen:dgram]\ntransport="
                                                "dgram\npath=%s/run/dgram.sock\n\n%s",
                                                dir, dir, extra);
        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        return g_strdup_printf("--config=%s", path);
}

unsigned testdaemon_count_in_log(TestDaemon *d, const char *needle)
{
        g_autofree char *log = testdaemon_log(d);
        unsigned n = 0;

        for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

unsigned testdaemon_wait_log(TestDaemon *d, const char *needle)
{
        unsigned n = 0;

        for (int i = 0; i < 500 && (n = testdaemon_count_in_log(d, needle)) == 0; i++)
                g_usleep(10000);
        return n;
}

bool testdaemon_counts_add_up(TestDaemon *d)
{
        guint64 received = testdaemon_stat(d, "received");
        guint64 emitted = testdaemon_wait_stat(d, "emitted", received - testdaemon_stat(d, "dropped"));
        guint64 dropped = testdaemon_stat(d, "dropped");
        guint64 queued = testdaemon_stat(d, "queue-depth");

        g_autoptr(GVariant) stats = NULL;

        printf("# received %" G_GUINT64_FORMAT " = emitted %" G_GUINT64_FORMAT
               " + dropped %" G_GUINT64_FORMAT " + queued %" G_GUINT64_FORMAT "\n",
               received, emitted, dropped, queued);
        if (received == G_MAXUINT64 || received != emitted + dropped + queued)
                return false;
        stats = harness_stats(d->conn);
        return stats && harness_books_balance(stats);
}

static int send_msg(int fd, const struct sockaddr_un *to, socklen_t tolen, const void *buf,
                    size_t len, const int *fds, unsigned n_fds)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 253)];
        } control;
        struct iovec iov = { (void *) buf, len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (to) {
                msg.msg_name = (void *) to;
                msg.msg_namelen = tolen;
        }
        if (n_fds) {
                struct cmsghdr *c;
                memset(&control, 0, sizeof(control));
                msg.msg_control = &control;
                msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        return sendmsg(fd, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int send_dgram(const char *path, const void *buf, size_t len, const int *fds, unsigned n_fds)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int r;

        g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
        r = send_msg(fd, &sa, sizeof(sa), buf, len, fds, n_fds);
        close(fd);
        return r;
}

int seq_connect(const char *path)
{
        return seq_connect_flags(path, 0);
}

/* A connection of `type` (and socket() flags) to path, or -errno. */
static int unix_connect(const char *path, int type)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

        g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        return fd;
}

int seq_connect_flags(const char *path, int flags)
{
        return unix_connect(path, SOCK_SEQPACKET | flags);
}

TestDaemon *testdaemon_start_stream(TestBus *bus, const char *dir, char **ret_path)
{
        g_autofree char *listen = NULL;

        *ret_path = g_build_filename(dir, "run", "stream.sock", NULL);
        listen = g_strdup_printf("--listen=stream:%s", *ret_path);
        return testdaemon_start(bus, dir, (const char *const[]){ listen, NULL }, 0);
}

ssize_t harness_recv(int fd, char *buf, size_t size, int timeout_ms)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, timeout_ms) != 1)
                return -1;
        n = recv(fd, buf, size - 1, 0);
        if (n >= 0)
                buf[n] = '\0';
        return n;
}

int stream_connect(const char *path)
{
        return unix_connect(path, SOCK_STREAM);
}

int send_fd_packet(int fd, const void *buf, size_t len, const int *fds, unsigned n_fds)
{
        return send_msg(fd, NULL, 0, buf, len, fds, n_fds);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-listener.c — libFuzzer target over the listener's packet handling:
 * each input is sent as one packet, over a real DGRAM socket or a real
 * SEQPACKET connection (one that stays, or one of its own that closes at
 * once, half-closes, or sends "!ack" first), with 0-3 real descriptors
 * attached, and read by
 * the real listener (peek sizing, recvmsg, control messages, credentials,
 * limits, codec, the bus ceiling, queueing). The first byte chooses the
 * transport and the descriptors; the rest is the payload. After every
 * input the queue is emptied and the process must hold exactly the
 * descriptors it held before: none leaked on any path; the packet is
 * counted as exactly one attempt, and the books balance.
 * Built by `make fuzz` (clang) and replayed over its corpus by make check.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Config config;
static Stats stats;
static Queue queue;
static Listener *listener;
static char *dgram_path, *seq_path;
static int dgram_fd = -1, seq_fd = -1;
static int spare_fd = -1;

/* How many descriptors refer to the marker file whose duplicates ride along with the
 * packets: only the listener can hold extra ones, so any other count is a leak (the
 * fuzzer and its sanitizers open descriptors of their own at any time). */
static char marker[256];

static int count_marked(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        int n = 0;

        if (!d)
                return -1;
        while ((e = readdir(d))) {
                char link[300], target[256];
                ssize_t len;
                snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
                len = readlink(link, target, sizeof(target) - 1);
                if (len <= 0)
                        continue;
                target[len] = '\0';
                n += strcmp(target, marker) == 0;
        }
        closedir(d);
        return n;
}

/*
 * The persistent connection's answers, read and thrown away. Once an input
 * sent "!ack" on it, every later packet there is answered; a sender that
 * never reads its answers is stopped by design (its answers fill up and the
 * daemon stops reading it), which the books' check below would take for a
 * packet the listener missed (it did, 1 in ~300 000 inputs).
 */
static void drain_answers(void)
{
        char buf[256];

        while (recv(seq_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                ;
}

static void on_queued(gpointer user_data)
{
}

static void cleanup(void)
{
        Event *ev;

        g_clear_pointer(&listener, listener_free);
        while ((ev = queue_pop(&queue)))
                event_free(ev);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        static const ListenerCallbacks cb = { .queued = on_queued };
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = g_dir_make_tmp("ingester-fuzz-XXXXXX", NULL);
        g_autofree char *sock_dir = g_build_filename(dir, "run", NULL);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        g_assert_nonnull(dir);
        dgram_path = g_build_filename(sock_dir, "dgram.sock", NULL);
        seq_path = g_build_filename(sock_dir, "seq.sock", NULL);
        config_init(&config);
        config.max_event_size = 4096;
        config.max_fds = 2;
        config.batch = 16;
        g_ptr_array_add(config.listens, listen_spec_new(TRANSPORT_DGRAM, dgram_path));
        g_ptr_array_add(config.listens, listen_spec_new(TRANSPORT_SEQPACKET, seq_path));
        stats_init(&stats);
        log_set_limits(1, 3600);
        queue_init(&queue, 64, 1 << 20, 256, QUEUE_POLICY_DROP_OLDEST);
        listener = listener_new(&config, NULL, &queue, &stats, &cb, NULL, &error);
        g_assert_no_error(error);
        listener_resume(listener);

        dgram_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        g_strlcpy(sa.sun_path, dgram_path, sizeof(sa.sun_path));
        g_assert_cmpint(connect(dgram_fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        seq_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        g_strlcpy(sa.sun_path, seq_path, sizeof(sa.sun_path));
        g_assert_cmpint(connect(seq_fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        {
                char link[64];
                ssize_t len;
                spare_fd = g_file_open_tmp("ingester-fuzz-marker-XXXXXX", NULL, NULL);
                g_assert_cmpint(spare_fd, >=, 0);
                snprintf(link, sizeof(link), "/proc/self/fd/%d", spare_fd);
                len = readlink(link, marker, sizeof(marker) - 1);
                g_assert_cmpint(len, >, 0);
                marker[len] = '\0';
        }
        while (g_main_context_iteration(NULL, FALSE))
                ; /* accept the connection */
        atexit(cleanup);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 3)];
        } control;
        int fds[3] = { spare_fd, spare_fd, spare_fd };
        unsigned n_fds = size ? (data[0] >> 1) % 4 : 0;
        bool seq = size && (data[0] & 1);
        /* SEQPACKET only: 0 the connection that stays; else a connection of its
         * own, closed at once (1), half-closed then closed (2), or after "!ack"
         * closed at once (3) */
        unsigned close_mode = seq ? (data[0] >> 3) % 4 : 0;
        uint64_t attempts, controls;
        int fd = seq ? seq_fd : dgram_fd;
        struct iovec iov = { (void *) (data + (size ? 1 : 0)), size ? size - 1 : 0 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        Event *ev;

        /* what the last inputs left: answers the persistent connection owes nothing to */
        drain_answers();
        while (g_main_context_iteration(NULL, FALSE))
                ;
        attempts = stats.attempts;
        controls = stats.controls;
        if (seq && iov.iov_len == 0)
                return 0; /* a zero-length SEQPACKET packet: covered by test-daemon */
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
        if (close_mode) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                g_strlcpy(sa.sun_path, seq_path, sizeof(sa.sun_path));
                g_assert_cmpint(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
                if (close_mode == 3)
                        g_assert_cmpint(send(fd, "!ack", 4, MSG_NOSIGNAL), ==, 4);
        }
        if (sendmsg(fd, &msg, MSG_NOSIGNAL) < 0) {
                if (close_mode)
                        close(fd);
                while (g_main_context_iteration(NULL, FALSE))
                        ;
                return 0; /* too large for the socket: the kernel's business */
        }
        if (close_mode == 2) {
                shutdown(fd, SHUT_WR);
                while (g_main_context_iteration(NULL, FALSE))
                        ;
        }
        if (close_mode)
                close(fd);
        while (g_main_context_iteration(NULL, FALSE))
                ;
        /* the books: the packet is one attempt, counted once, however its sender
         * left; "!ack" is a control */
        {
                /* a connection's "!ack" is the control, not an attempt */
                bool is_ack = seq && n_fds == 0 && iov.iov_len == 4 &&
                               memcmp(iov.iov_base, "!ack", 4) == 0;
                /* a packet may be read a little later than the loop first runs dry (CI
                 * saw it once in ~60 000 inputs, not reproducible alone): wait for it,
                 * up to 50 ms; one that never comes is still a failure */
                for (int i = 0; i < 50 && stats.attempts != attempts + (is_ack ? 0 : 1); i++) {
                        g_usleep(1000);
                        drain_answers();
                        while (g_main_context_iteration(NULL, FALSE))
                                ;
                }
                g_assert_cmpuint(stats.attempts, ==, attempts + (is_ack ? 0 : 1));
                g_assert_cmpuint(stats.controls, ==,
                                 controls + (close_mode == 3) + (is_ack ? 1 : 0));
        }
        g_assert_cmpuint(stats.attempts, ==, stats.received + stats_rejected_total(&stats));
        g_assert_cmpuint(stats.connections, ==, 1); /* the one that stays */
        while ((ev = queue_pop(&queue))) {
                g_assert_true(g_variant_is_of_type(ev->data, G_VARIANT_TYPE_VARDICT));
                g_assert_cmpuint(ev->n_fds, <=, config.max_fds);
                event_free(ev);
        }
        g_assert_cmpuint(queue.bytes, ==, 0);
        g_assert_cmpuint(queue.fds, ==, 0);
        g_assert_cmpint(count_marked(), ==, 1);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-intake.c — the receive path's rules without a socket (intake.h): each
 * unit is built here, as a reader would hand it over, with real descriptors
 * (pipes, memfds) so that "closed on every refusal path" is checked on the
 * process's own descriptor table. Every refusal is followed by a good unit
 * from the same source, which must still be queued.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "cunit-tap.h"
#include "intake.h"
#include "queue.h"
#include "schema.h"
#include "stats.h"

#define GOOD "{\"type\":\"t\",\"a\":1}"

/* Per-test state, made afresh by setup(). */
typedef struct {
        Config config;
        Stats stats;
        Queue queue;
        Schemas schemas;
        Intake intake;
        ListenSpec *dgram, *seqpacket;
        IntakeSource dgram_src, conn_src;
        Lane *conn_lane;
} Fixture;

static Fixture f;

static void setup(void)
{
        struct ucred me = { .pid = getpid(), .uid = getuid(), .gid = getgid() };

        config_init(&f.config);
        stats_init(&f.stats);
        log_set_limits(1000, 1);
        queue_init(&f.queue, 64, 1 << 20, 64, QUEUE_POLICY_DROP_NEWEST);
        schemas_init(&f.schemas);
        intake_init(&f.intake, &f.config, &f.schemas, &f.queue, &f.stats);
        f.dgram = listen_spec_new(TRANSPORT_DGRAM, "/nonexistent/dgram.sock");
        f.seqpacket = listen_spec_new(TRANSPORT_SEQPACKET, "/nonexistent/seqpacket.sock");
        intake_source_init(&f.dgram_src, f.dgram, NULL, NULL);
        f.conn_lane = queue_lane_attach(&f.queue, TRANSPORT_SEQPACKET, me.pid, me.uid, me.gid,
                                        f.seqpacket->path);
        intake_source_init(&f.conn_src, f.seqpacket, f.conn_lane, &me);
}

static void teardown(void)
{
        Event *ev;

        while ((ev = queue_pop(&f.queue)))
                event_free(ev);
        queue_lane_detach(&f.queue, f.conn_lane);
        queue_deinit(&f.queue);
        listen_spec_free(f.dgram);
        listen_spec_free(f.seqpacket);
        schemas_deinit(&f.schemas);
        config_deinit(&f.config);
        memset(&f, 0, sizeof(f));
}

/* A unit of text from this process, as a DGRAM reader hands it over. */
static IntakeUnit unit(const char *text, int *fds, unsigned n_fds)
{
        return (IntakeUnit){
                .bytes = text,
                .len = text ? strlen(text) : 0,
                .fds = fds,
                .n_fds = n_fds,
                .cred = { .pid = getpid(), .uid = getuid(), .gid = getgid() },
                .has_cred = true,
        };
}

static IntakeResult take(IntakeSource *src, IntakeUnit u, IntakeVerdict *v)
{
        return intake_take(&f.intake, src, &u, v);
}

static bool is_open(int fd)
{
        return fcntl(fd, F_GETFD) >= 0;
}

/* Both ends of a new pipe. */
static void pipe_fds(int fds[2])
{
        CU_ASSERT_EQUAL_FATAL(pipe2(fds, O_CLOEXEC), 0);
}

/* A good unit from the same source is still queued after a refusal. */
static void good_follows(IntakeSource *src)
{
        IntakeVerdict v;
        uint64_t received = f.stats.received;

        CU_ASSERT_EQUAL(take(src, unit(GOOD, NULL, 0), &v), INTAKE_QUEUED);
        CU_ASSERT_EQUAL(f.stats.received, received + 1);
}

/* The refusal is counted under r, and only there. */
static void refused_as(IntakeResult got, const IntakeVerdict *v, Reason r)
{
        CU_ASSERT_EQUAL(got, INTAKE_REFUSED);
        CU_ASSERT_EQUAL(v->reason, r);
        CU_ASSERT_EQUAL(f.stats.rejected[r], 1);
        CU_ASSERT_EQUAL(stats_rejected_total(&f.stats), 1);
        CU_ASSERT_EQUAL(f.stats.received, 0);
}

static void test_good_unit_is_queued_with_the_kernels_meta(void)
{
        IntakeVerdict v;
        Event *ev;

        CU_ASSERT_EQUAL(take(&f.dgram_src, unit(GOOD, NULL, 0), &v), INTAKE_QUEUED);
        CU_ASSERT_EQUAL(f.stats.packets, 1);
        CU_ASSERT_EQUAL(f.stats.received, 1);
        CU_ASSERT_PTR_NOT_NULL(v.lane);
        ev = queue_pop(&f.queue);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
        CU_ASSERT_EQUAL(ev->meta.pid, getpid());
        CU_ASSERT_EQUAL(ev->meta.uid, getuid());
        CU_ASSERT_EQUAL(ev->meta.gid, getgid());
        CU_ASSERT_EQUAL(ev->meta.transport, TRANSPORT_DGRAM);
        CU_ASSERT_EQUAL(ev->meta.codec, CODEC_FORMAT_JSON);
        CU_ASSERT_STRING_EQUAL(g_variant_get_string(ev->type, NULL), "t");
        CU_ASSERT_EQUAL(ev->ack_n, 0);
        event_free(ev);
}

/* A connection's units carry its SO_PEERCRED, whatever the unit says. */
static void test_connection_units_carry_the_connections_credentials(void)
{
        IntakeUnit u = unit(GOOD, NULL, 0);
        IntakeVerdict v;
        Event *ev;

        u.cred = (struct ucred){ .pid = 1, .uid = 0, .gid = 0 };
        CU_ASSERT_EQUAL(intake_take(&f.intake, &f.conn_src, &u, &v), INTAKE_QUEUED);
        CU_ASSERT_PTR_EQUAL(v.lane, f.conn_lane);
        ev = queue_pop(&f.queue);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
        CU_ASSERT_EQUAL(ev->meta.pid, getpid());
        CU_ASSERT_EQUAL(ev->meta.transport, TRANSPORT_SEQPACKET);
        event_free(ev);
}

static void test_datagram_without_credentials_is_refused(void)
{
        int fds[2];
        IntakeUnit u;
        IntakeVerdict v;

        pipe_fds(fds);
        u = unit(GOOD, fds, 2);
        u.has_cred = false;
        refused_as(intake_take(&f.intake, &f.dgram_src, &u, &v), &v,
                   REASON_NO_CREDENTIALS);
        CU_ASSERT_FALSE(is_open(fds[0]));
        CU_ASSERT_FALSE(is_open(fds[1]));
        good_follows(&f.dgram_src);
}

/* pid 0 with the kernel's overflow ids: credentials that name nobody. */
static void test_unattributed_credentials_are_no_credentials(void)
{
        IntakeUnit u = unit(GOOD, NULL, 0);
        IntakeVerdict v;

        u.cred = (struct ucred){ .pid = 0, .uid = 65534, .gid = 65534 };
        refused_as(intake_take(&f.intake, &f.dgram_src, &u, &v), &v,
                   REASON_NO_CREDENTIALS);
        good_follows(&f.dgram_src);
}

static void test_datagram_of_a_uid_not_allowed_is_refused(void)
{
        uid_t other = getuid() + 4242;
        int fds[2];
        IntakeUnit u;
        IntakeVerdict v;

        pipe_fds(fds);
        u = unit(GOOD, fds, 2);
        u.cred.uid = other;
        u.cred.gid = getgid() + 4242;
        refused_as(intake_take(&f.intake, &f.dgram_src, &u, &v), &v, REASON_NOT_ALLOWED);
        CU_ASSERT_FALSE(is_open(fds[0]));
        CU_ASSERT_FALSE(is_open(fds[1]));
        good_follows(&f.dgram_src); /* from an allowed uid */
        g_array_append_val(f.dgram->allow_uids, other); /* a reload that allows it */
        u = unit(GOOD, NULL, 0);
        u.cred.uid = other;
        CU_ASSERT_EQUAL(intake_take(&f.intake, &f.dgram_src, &u, &v), INTAKE_QUEUED);
}

static void test_too_many_fds_are_closed_and_counted(void)
{
        int a[2], b[2], fds[4];
        IntakeVerdict v;

        f.config.max_fds = 3;
        pipe_fds(a);
        pipe_fds(b);
        memcpy(fds, a, sizeof(a));
        memcpy(fds + 2, b, sizeof(b));
        refused_as(take(&f.dgram_src, unit(GOOD, fds, 4), &v), &v, REASON_TOO_MANY_FDS);
        for (int i = 0; i < 4; i++)
                CU_ASSERT_FALSE(is_open(fds[i]));
        /* max-fds itself is taken */
        pipe_fds(a);
        pipe_fds(b);
        memcpy(fds, a, sizeof(a));
        fds[2] = b[0];
        CU_ASSERT_EQUAL(take(&f.dgram_src, unit(GOOD, fds, 3), &v), INTAKE_QUEUED);
        CU_ASSERT_TRUE(is_open(a[0]) && is_open(a[1]) && is_open(b[0])); /* the event's now */
        close(b[1]);
}

/* What the reader found: each flaw is its own reason, and wins over the bytes. */
static void test_reader_flaws_are_refusals(void)
{
        static const struct {
                IntakeFlaw flaw;
                Reason reason;
        } cases[] = {
                { INTAKE_FLAW_CTRUNC, REASON_FDS_TRUNCATED },
                { INTAKE_FLAW_TOO_LARGE, REASON_TOO_LARGE },
                { INTAKE_FLAW_PARTIAL, (Reason) CODEC_E_TRUNCATED },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                int fds[2];
                IntakeUnit u;
                IntakeVerdict v;

                teardown();
                setup();
                pipe_fds(fds);
                u = unit(GOOD, fds, 2);
                u.flaw = cases[i].flaw;
                refused_as(intake_take(&f.intake, &f.conn_src, &u, &v), &v, cases[i].reason);
                CU_ASSERT_FALSE(is_open(fds[0]));
                CU_ASSERT_FALSE(is_open(fds[1]));
                good_follows(&f.conn_src);
        }
}

static void test_bad_payload_is_refused_under_the_codecs_reason(void)
{
        IntakeVerdict v;

        refused_as(take(&f.dgram_src, unit("{\"type\":", NULL, 0), &v), &v,
                   (Reason) CODEC_E_TRUNCATED);
        CU_ASSERT_EQUAL(f.stats.packets, 1);
        good_follows(&f.dgram_src);
        CU_ASSERT_EQUAL(f.stats.packets, 2);
}

/* "!ack" on a connection turns answers on; every attempt after it has the
 * next number, refused or queued; the control itself has none. */
static void test_ack_control_numbers_every_attempt(void)
{
        IntakeVerdict v;
        Event *ev;

        CU_ASSERT_EQUAL(take(&f.conn_src, unit(INTAKE_ACK_CONTROL, NULL, 0), &v),
                        INTAKE_CONTROL);
        CU_ASSERT_TRUE(f.conn_src.ack);
        CU_ASSERT_EQUAL(f.stats.received, 0);
        CU_ASSERT_EQUAL(stats_rejected_total(&f.stats), 0);
        CU_ASSERT_EQUAL(take(&f.conn_src, unit("nope", NULL, 0), &v), INTAKE_REFUSED);
        CU_ASSERT_EQUAL(v.ack_n, 1);
        CU_ASSERT_EQUAL(take(&f.conn_src, unit(GOOD, NULL, 0), &v), INTAKE_QUEUED);
        ev = queue_pop(&f.queue);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
        CU_ASSERT_EQUAL(ev->ack_n, 2);
        event_free(ev);
        /* descriptors on stream bytes are no attempt of their own */
        {
                int fds[2];
                pipe_fds(fds);
                intake_stream_fds(&f.intake, &f.conn_src, fds, 2);
                CU_ASSERT_FALSE(is_open(fds[0]));
                CU_ASSERT_FALSE(is_open(fds[1]));
                CU_ASSERT_EQUAL(f.stats.rejected[REASON_FDS_ON_STREAM], 1);
        }
        CU_ASSERT_EQUAL(take(&f.conn_src, unit("{", NULL, 0), &v), INTAKE_REFUSED);
        CU_ASSERT_EQUAL(v.ack_n, 3);
}

/* Only a connection has answers; "!ack" with descriptors, cut off, or on a
 * DGRAM socket is a payload like any other. */
static void test_ack_control_only_where_it_can_be_answered(void)
{
        int fds[2];
        IntakeUnit u;
        IntakeVerdict v;

        CU_ASSERT_EQUAL(take(&f.dgram_src, unit(INTAKE_ACK_CONTROL, NULL, 0), &v),
                        INTAKE_REFUSED);
        CU_ASSERT_EQUAL(v.reason, (Reason) CODEC_E_UNKNOWN_ENCODING);
        CU_ASSERT_EQUAL(v.ack_n, 0);
        pipe_fds(fds);
        CU_ASSERT_EQUAL(take(&f.conn_src, unit(INTAKE_ACK_CONTROL, fds, 2), &v),
                        INTAKE_REFUSED);
        CU_ASSERT_FALSE(is_open(fds[0]));
        CU_ASSERT_FALSE(is_open(fds[1]));
        u = unit(INTAKE_ACK_CONTROL, NULL, 0);
        u.flaw = INTAKE_FLAW_PARTIAL;
        CU_ASSERT_EQUAL(intake_take(&f.intake, &f.conn_src, &u, &v), INTAKE_REFUSED);
        CU_ASSERT_EQUAL(v.reason, (Reason) CODEC_E_TRUNCATED);
        CU_ASSERT_FALSE(f.conn_src.ack);
        CU_ASSERT_EQUAL(f.stats.packets, 3);
}

static void test_rate_limit_refuses_past_the_burst(void)
{
        int fds[2];
        IntakeVerdict v;

        queue_set_rate_limit(&f.queue, (int64_t) 3600 * G_USEC_PER_SEC, 2);
        CU_ASSERT_EQUAL(take(&f.conn_src, unit(INTAKE_ACK_CONTROL, NULL, 0), &v),
                        INTAKE_CONTROL);
        CU_ASSERT_EQUAL(take(&f.conn_src, unit(GOOD, NULL, 0), &v), INTAKE_QUEUED);
        CU_ASSERT_EQUAL(take(&f.conn_src, unit(GOOD, NULL, 0), &v), INTAKE_QUEUED);
        pipe_fds(fds);
        CU_ASSERT_EQUAL(take(&f.conn_src, unit(GOOD, fds, 2), &v), INTAKE_REFUSED);
        CU_ASSERT_EQUAL(v.reason, REASON_RATE_LIMITED);
        CU_ASSERT_EQUAL(v.ack_n, 3);
        CU_ASSERT_FALSE(is_open(fds[0]));
        CU_ASSERT_EQUAL(f.stats.rejected[REASON_RATE_LIMITED], 1);
        CU_ASSERT_EQUAL(f.conn_lane->rate_limited, 1);
        /* another sender has a budget of its own */
        good_follows(&f.dgram_src);
}

static int memfd_with(const char *text)
{
        int fd = memfd_create("intake-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, text, strlen(text)), ==, (ssize_t) strlen(text));
        return fd;
}

/* journald's convention: an empty unit with one memfd; the memfd is read and
 * closed, and the event's own descriptors are what follows it (jsoncomm's). */
static void test_large_event_is_read_from_its_memfd(void)
{
        int fds[3], p[2];
        IntakeVerdict v;
        Event *ev;

        fds[0] = memfd_with(GOOD);
        CU_ASSERT_EQUAL(take(&f.conn_src, unit("", fds, 1), &v), INTAKE_QUEUED);
        CU_ASSERT_FALSE(is_open(fds[0]));
        pipe_fds(p);
        fds[0] = memfd_with("{\"type\":\"big\"}");
        fds[1] = p[0];
        fds[2] = p[1];
        CU_ASSERT_EQUAL(take(&f.conn_src, unit("<args-via-fd>", fds, 3), &v), INTAKE_QUEUED);
        CU_ASSERT_FALSE(is_open(fds[0]));
        event_free(queue_pop(&f.queue));
        ev = queue_pop(&f.queue);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
        CU_ASSERT_STRING_EQUAL(g_variant_get_string(ev->type, NULL), "big");
        CU_ASSERT_EQUAL(ev->n_fds, 2);
        CU_ASSERT_EQUAL(ev->fds[0], p[0]);
        event_free(ev);
        CU_ASSERT_FALSE(is_open(p[0]));
}

static void test_large_event_that_is_no_memfd_is_refused(void)
{
        int fds[2];
        IntakeVerdict v;

        pipe_fds(fds);
        refused_as(take(&f.conn_src, unit("", fds, 1), &v), &v, REASON_LARGE_NOT_MEMFD);
        CU_ASSERT_FALSE(is_open(fds[0]));
        close(fds[1]);
        good_follows(&f.conn_src);
}

static void test_large_event_over_its_limit_is_refused(void)
{
        int fd;
        IntakeVerdict v;

        f.config.max_large_event_size = 8;
        fd = memfd_with(GOOD);
        refused_as(take(&f.conn_src, unit("", &fd, 1), &v), &v, REASON_LARGE_TOO_LARGE);
        CU_ASSERT_FALSE(is_open(fd));
        good_follows(&f.conn_src);
}

/* Under block, the verdict says when the lane reached its share. */
static void test_block_reports_the_lane_at_its_share(void)
{
        IntakeVerdict v;
        IntakeResult r = INTAKE_QUEUED;
        unsigned n = 0;

        queue_set_limits(&f.queue, 4, 1 << 20, 64, QUEUE_POLICY_BLOCK);
        queue_set_shares(&f.queue, 1, 16);
        while (r == INTAKE_QUEUED && n < 10) {
                r = take(&f.conn_src, unit(GOOD, NULL, 0), &v);
                n++;
        }
        CU_ASSERT_EQUAL(r, INTAKE_BLOCKED);
        CU_ASSERT_PTR_EQUAL(v.lane, f.conn_lane);
        CU_ASSERT_TRUE(queue_lane_at_share(&f.queue, f.conn_lane));
        CU_ASSERT_EQUAL(f.stats.received, n); /* the unit that reached it is queued too */
}

static const char shield[] =
        "<node name=\"/org/example/Hub1\"><interface name=\"org.example.Hub1\">"
        "<signal name=\"Blocked\">"
        "<annotation name=\"org.ingester.EventType\" value=\"blocked\"/>"
        "<arg name=\"port\" type=\"u\"/></signal>"
        "<signal name=\"Counted\">"
        "<annotation name=\"org.ingester.EventType\" value=\"counted\"/>"
        "<arg name=\"seq\" type=\"t\"><annotation name=\"org.ingester.Meta\" value=\"seq\"/>"
        "</arg><arg name=\"port\" type=\"u\"/></signal>"
        "</interface></node>";

/* An event of a typed type must fit its signal: the body is built at
 * receive, or (meta seq) only checked then and built when picked. */
static void test_typed_events_must_fit_their_signal(void)
{
        g_autofree char *dir = g_dir_make_tmp("ingester-intake-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "hub.xml", NULL);
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        char *paths[] = { path, NULL };
        int fds[2];
        IntakeVerdict v;
        Event *ev;

        CU_ASSERT_TRUE_FATAL(g_file_set_contents(path, shield, -1, NULL));
        CU_ASSERT_TRUE_FATAL(schemas_load(&f.schemas, paths, errors));
        pipe_fds(fds);
        refused_as(take(&f.conn_src, unit("{\"type\":\"blocked\",\"port\":-1}", fds, 2), &v), &v,
                   REASON_SCHEMA_MISMATCH);
        CU_ASSERT_FALSE(is_open(fds[0]));
        CU_ASSERT_FALSE(is_open(fds[1]));
        CU_ASSERT_EQUAL(take(&f.conn_src, unit("{\"type\":\"blocked\",\"port\":80}", NULL, 0), &v),
                        INTAKE_QUEUED);
        CU_ASSERT_EQUAL(take(&f.conn_src, unit("{\"type\":\"counted\",\"port\":8}", NULL, 0), &v),
                        INTAKE_QUEUED);
        CU_ASSERT_EQUAL(take(&f.conn_src, unit("{\"type\":\"counted\"}", NULL, 0), &v),
                        INTAKE_REFUSED);
        CU_ASSERT_EQUAL(f.stats.rejected[REASON_SCHEMA_MISMATCH], 2);
        ev = queue_pop(&f.queue);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
        CU_ASSERT_PTR_NOT_NULL(ev->sig);
        CU_ASSERT_PTR_NOT_NULL(ev->typed);
        event_free(ev);
        ev = queue_pop(&f.queue);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
        CU_ASSERT_PTR_NOT_NULL(ev->sig);
        CU_ASSERT_PTR_NULL(ev->typed); /* needs its seq */
        event_free(ev);
        unlink(path);
        rmdir(dir);
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(good_unit_is_queued_with_the_kernels_meta),
                TAP_TEST(connection_units_carry_the_connections_credentials),
                TAP_TEST(datagram_without_credentials_is_refused),
                TAP_TEST(unattributed_credentials_are_no_credentials),
                TAP_TEST(datagram_of_a_uid_not_allowed_is_refused),
                TAP_TEST(too_many_fds_are_closed_and_counted),
                TAP_TEST(reader_flaws_are_refusals),
                TAP_TEST(bad_payload_is_refused_under_the_codecs_reason),
                TAP_TEST(ack_control_numbers_every_attempt),
                TAP_TEST(ack_control_only_where_it_can_be_answered),
                TAP_TEST(rate_limit_refuses_past_the_burst),
                TAP_TEST(large_event_is_read_from_its_memfd),
                TAP_TEST(large_event_that_is_no_memfd_is_refused),
                TAP_TEST(large_event_over_its_limit_is_refused),
                TAP_TEST(block_reports_the_lane_at_its_share),
                TAP_TEST(typed_events_must_fit_their_signal),
                { NULL, NULL },
        };

        tap_add_suite_full("intake", NULL, NULL, setup, teardown, tests);
        return tap_run();
}

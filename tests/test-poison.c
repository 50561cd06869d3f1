/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-poison.c — no single message wedges the relay (issue 27, symptom 4),
 * on a real dbus-daemon.
 *
 * A value GLib takes and the bus does not (a signature of 40 nested arrays)
 * is refused at receive as schema-mismatch. When one gets past that check
 * anyway (forced here with INGESTER_TEST_UNCHECKED_SIGNATURES), the bus
 * closes the relay's connection after it; the relay sends what was in
 * flight again one event at a time, and the event after which the bus
 * closes it twice, alone, is quarantined: counted, logged once with its
 * type and sender, answered "refused quarantined", and the 20 events behind
 * it are delivered.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cunit-tap.h"
#include "harness.h"

static TestSuite suite; /* the suite's bus */
static TestFixture f;   /* this test's directory and daemon */

TESTSUITE_CALLBACKS(suite)
TESTSUITE_FIXTURE(suite, f)

#define SCHEMA                                                                                     \
        "<node name=\"/org/test/Poison\"><interface name=\"org.test.Poison\">"                    \
        "<signal name=\"Sig\"><annotation name=\"org.ingester.EventType\" value=\"sig\"/>"        \
        "<arg name=\"g\" type=\"g\"/></signal></interface></node>"

#define INNOCENTS 20

static char *schema_arg(void)
{
        g_autofree char *path = g_build_filename(f.dir, "poison.xml", NULL);

        g_assert_true(g_file_set_contents(path, SCHEMA, -1, NULL));
        return g_strdup_printf("--schema=%s", path);
}

/* {"type":"sig","g":"aaaa...y"}: 40 nested arrays, GLib's signature and not the bus's */
static char *poison(void)
{
        g_autofree char *arrays = g_strnfill(40, 'a');

        return g_strdup_printf("{\"type\":\"sig\",\"g\":\"%sy\"}", arrays);
}

static void send_str(int fd, const char *s)
{
        CU_ASSERT_EQUAL(send_fd_packet(fd, s, strlen(s), NULL, 0), 0);
}

/* The answers on fd until `want` have come (or 20 s), concatenated. */
static char *answers(int fd, unsigned want)
{
        g_autoptr(GString) all = g_string_new(NULL);
        char buf[128];

        for (unsigned got = 0; got < want;) {
                ssize_t n = harness_recv(fd, buf, sizeof(buf), 20000);
                if (n < 0)
                        break;
                g_string_append_printf(all, "%s\n", buf);
                got++;
        }
        return g_string_free(g_steal_pointer(&all), FALSE);
}

/* Without the forcing: refused at receive, counted, the next event goes. */
static void test_bad_signature_value_refused_at_receive(void)
{
        g_autofree char *schema = schema_arg();
        g_autofree char *bad = poison();
        g_autoptr(GDBusMessage) m = NULL;
        int fds_before;

        g_autofree char *config = harness_config_arg(f.dir, "[bus]\ntyped-also-event = true\n");

        f.d = testdaemon_start(&suite.bus, f.dir, (const char *const[]){ config, schema, NULL }, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, bad, strlen(bad), NULL, 0), 0);
        CU_ASSERT_EQUAL(send_dgram(f.d->dgram_path, "{\"type\":\"sig\",\"g\":\"a{sv}\"}", 26, NULL, 0),
                        0);
        m = testdaemon_next_event(f.d, 5000);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        CU_ASSERT_STRING_EQUAL(harness_event_type(m), "sig");
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "rejected:schema-mismatch"), 1);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "quarantined"), 0);
        CU_ASSERT_TRUE(testdaemon_wait_log(f.d, "is not a valid D-Bus signature") == 1);
        CU_ASSERT_EQUAL(testdaemon_count_in_log(f.d, "lost the bus"), 0);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

/* One innocent event's data, seen for the first time: 1. */
static unsigned innocent(GVariant *data, bool *seen)
{
        gint64 v = -1;

        CU_ASSERT_TRUE(g_variant_lookup(data, "i", "x", &v));
        CU_ASSERT_TRUE_FATAL(v >= 0 && v < INNOCENTS);
        CU_ASSERT_FALSE(seen[v]);
        seen[v] = true;
        return 1;
}

/* Forced past the check: quarantined after two lone closes; 20 innocents delivered. */
static void check_quarantine(const char *form)
{
        g_autofree char *schema = schema_arg();
        g_autofree char *form_arg = g_strdup_printf("--signal-form=%s", form);
        g_autofree char *bad = poison();
        g_autofree char *got = NULL;
        g_auto(GStrv) lines = NULL;
        bool seen[INNOCENTS] = { false };
        unsigned delivered = 0;
        int fd, fds_before;

        g_setenv("INGESTER_TEST_UNCHECKED_SIGNATURES", "1", TRUE);
        f.d = testdaemon_start(&suite.bus, f.dir, (const char *const[]){ schema, form_arg, NULL },
                               0);
        g_unsetenv("INGESTER_TEST_UNCHECKED_SIGNATURES");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.d);
        fds_before = testdaemon_count_fds(f.d);
        fd = seq_connect(f.d->seq_path);
        CU_ASSERT_TRUE_FATAL(fd >= 0);
        send_str(fd, "!ack");
        send_str(fd, bad);
        for (unsigned i = 0; i < INNOCENTS; i++) {
                g_autofree char *ev = g_strdup_printf("{\"type\":\"innocent\",\"i\":%u}", i);
                send_str(fd, ev);
        }
        while (delivered < INNOCENTS) {
                g_autoptr(GDBusMessage) m = testdaemon_next_event(f.d, 20000);
                GVariant *body;

                if (!m) {
                        g_autofree char *log = testdaemon_log(f.d);
                        printf("# %u of %u delivered; the daemon's log:\n%s", delivered, INNOCENTS,
                               log);
                }
                CU_ASSERT_PTR_NOT_NULL_FATAL(m);
                body = g_dbus_message_get_body(m);
                if (strcmp(g_dbus_message_get_member(m), "Event") == 0) {
                        g_autoptr(GVariant) data = g_variant_get_child_value(body, 1);
                        delivered += innocent(data, seen);
                } else {
                        g_autoptr(GVariant) events = g_variant_get_child_value(body, 0);
                        GVariantIter it;
                        GVariant *data;

                        g_variant_iter_init(&it, events);
                        while (g_variant_iter_next(&it, "(&s@a{sv}@a{sv}@ah)", NULL, &data, NULL,
                                                   NULL)) {
                                delivered += innocent(data, seen);
                                g_variant_unref(data);
                        }
                }
        }
        got = answers(fd, 1 + INNOCENTS);
        lines = g_strsplit(got, "\n", -1);
        for (char **k = lines; *k && **k; k++)
                printf("# answer: %s\n", *k);
        CU_ASSERT_PTR_NOT_NULL(strstr(got, "1 refused quarantined\n"));
        CU_ASSERT_PTR_NOT_NULL(strstr(got, "21 ok "));
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "quarantined"), 1);
        CU_ASSERT_EQUAL(testdaemon_stat(f.d, "emitted"), INNOCENTS);
        CU_ASSERT_EQUAL(testdaemon_count_in_log(f.d, "quarantined event seq"), 1);
        CU_ASSERT_EQUAL(testdaemon_count_in_log(f.d, "of type 'sig' from pid"), 1);
        /* the first close with everything in flight, then two with it alone */
        printf("# lost the bus %u times\n", testdaemon_count_in_log(f.d, "lost the bus"));
        CU_ASSERT_TRUE(testdaemon_count_in_log(f.d, "lost the bus") <= 3);
        close(fd);
        CU_ASSERT_EQUAL(testdaemon_wait_stat(f.d, "connections", 0), 0);
        CU_ASSERT_EQUAL(testdaemon_count_fds(f.d), fds_before);
        CU_ASSERT_EQUAL(testdaemon_stop(f.d), 0);
}

static void test_quarantine_event_form(void)
{
        check_quarantine("event");
}

static void test_quarantine_batch_form(void)
{
        check_quarantine("batch");
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(bad_signature_value_refused_at_receive),
                TAP_TEST(quarantine_event_form),
                TAP_TEST(quarantine_batch_form),
                { NULL, NULL },
        };
        signal(SIGPIPE, SIG_IGN);
        tap_add_suite_full("poison", suite_init, suite_cleanup, setup, teardown, tests);
        return tap_run();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-config.c — the configuration: the shipped example must parse and
 * state exactly the built-in defaults; listeners, the system instance,
 * reload, the fd budget, and every bad value named.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "cunit-tap.h"
#include "queue.h"

static void test_fd_budget_at_its_boundaries(void)
{
        const rlim_t reserve = CONFIG_FD_RESERVE + 2;
        Config c;

        config_init(&c);
        g_ptr_array_add(c.listens, listen_spec_new(TRANSPORT_SEQPACKET, "/run/x/s"));
        g_ptr_array_add(c.listens, listen_spec_new(TRANSPORT_DGRAM, "/run/x/d"));
        /* a stock soft limit: (1024 - 319 - 256) / 2, as doc/protocol.md says */
        CU_ASSERT_EQUAL(config_fd_budget_for(&c, 1024), 224);
        CU_ASSERT_EQUAL(c.max_connections, 256);
        /* 256 connections take exactly half of what the reserve leaves: kept */
        CU_ASSERT_EQUAL(config_fd_budget_for(&c, reserve + 512), 128);
        CU_ASSERT_EQUAL(c.max_connections, 256);
        /* one descriptor less: lowered to half, the queue gets half of the rest */
        CU_ASSERT_EQUAL(config_fd_budget_for(&c, reserve + 511), 128);
        CU_ASSERT_EQUAL(c.max_connections, 255);
        /* a limit below the reserve still leaves one connection and one descriptor */
        CU_ASSERT_EQUAL(config_fd_budget_for(&c, 100), 1);
        CU_ASSERT_EQUAL(c.max_connections, 1);
        /* capacity-fds, when set, is what the queue gets */
        c.max_connections = 256;
        c.queue_capacity_fds = 50;
        CU_ASSERT_EQUAL(config_fd_budget_for(&c, 1024), 50);
        config_deinit(&c);
}

static void test_config_example_states_the_defaults(void)
{
        g_autofree char *path = g_build_filename(g_getenv("INGESTER_TEST_DATA"), "..", "..",
                                                 "doc", "ingesterd.conf.example", NULL);
        g_autoptr(GError) error = NULL;
        Config def, ex;

        config_init(&def);
        config_init(&ex);
        CU_ASSERT_TRUE(config_load_file(&ex, path, &error));
        if (error)
                printf("# %s\n", error->message);
        CU_ASSERT_STRING_EQUAL(ex.bus_address, def.bus_address);
        CU_ASSERT_STRING_EQUAL(ex.bus_name, def.bus_name);
        CU_ASSERT_STRING_EQUAL(ex.object_path, def.object_path);
        CU_ASSERT_EQUAL(ex.max_unflushed, def.max_unflushed);
        CU_ASSERT_EQUAL(ex.signal_form, def.signal_form);
        CU_ASSERT_EQUAL(ex.batch_max_events, def.batch_max_events);
        CU_ASSERT_EQUAL(ex.max_event_size, def.max_event_size);
        CU_ASSERT_EQUAL(ex.max_large_event_size, def.max_large_event_size);
        CU_ASSERT_EQUAL(ex.max_fds, def.max_fds);
        CU_ASSERT_EQUAL(ex.limits.max_depth, def.limits.max_depth);
        CU_ASSERT_EQUAL(ex.limits.max_members, def.limits.max_members);
        CU_ASSERT_EQUAL(ex.limits.max_string, def.limits.max_string);
        CU_ASSERT_EQUAL(ex.max_connections, def.max_connections);
        CU_ASSERT_EQUAL(ex.backlog, def.backlog);
        CU_ASSERT_EQUAL(ex.batch, def.batch);
        CU_ASSERT_EQUAL(ex.receive_buffer, def.receive_buffer);
        CU_ASSERT_EQUAL(ex.queue_capacity, def.queue_capacity);
        CU_ASSERT_EQUAL(ex.queue_capacity_bytes, def.queue_capacity_bytes);
        CU_ASSERT_EQUAL(ex.queue_capacity_fds, def.queue_capacity_fds);
        CU_ASSERT_EQUAL(ex.policy, def.policy);
        CU_ASSERT_EQUAL(ex.drain_timeout_sec, def.drain_timeout_sec);
        CU_ASSERT_EQUAL(ex.max_dgram_senders, def.max_dgram_senders);
        CU_ASSERT_EQUAL(ex.typed_also_event, def.typed_also_event);
        CU_ASSERT_EQUAL(ex.schema_paths->len, 0);
        CU_ASSERT_EQUAL(ex.rate_interval_msec, def.rate_interval_msec);
        CU_ASSERT_EQUAL(ex.rate_burst, def.rate_burst);
        CU_ASSERT_EQUAL(ex.log_burst, def.log_burst);
        CU_ASSERT_EQUAL(ex.log_interval_sec, def.log_interval_sec);
        CU_ASSERT_EQUAL(ex.listens->len, 0);
        config_deinit(&def);
        config_deinit(&ex);
}

static void test_listen_argument_is_checked(void)
{
        g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
        ListenSpec *ok = listen_spec_parse("seqpacket:/run/x.sock", NULL);

        CU_ASSERT_PTR_NOT_NULL_FATAL(ok);
        CU_ASSERT_EQUAL(ok->transport, TRANSPORT_SEQPACKET);
        CU_ASSERT_EQUAL(ok->mode, 0600);
        listen_spec_free(ok);
        ok = listen_spec_parse("stream:/run/x.sock", NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ok);
        CU_ASSERT_EQUAL(ok->transport, TRANSPORT_STREAM);
        CU_ASSERT_EQUAL(ok->codec, CODEC_FORMAT_JSON); /* lines of JSON, always */
        listen_spec_free(ok);
        CU_ASSERT_PTR_NULL(listen_spec_parse("raw:/run/x.sock", &e1));
        CU_ASSERT_PTR_NULL(listen_spec_parse("dgram:relative.sock", &e2));
        CU_ASSERT_PTR_NULL(listen_spec_parse("/run/x.sock", &e3));
}

static void test_no_runtime_dir_is_an_error_not_tmp(void)
{
        g_autofree char *saved = g_strdup(g_getenv("XDG_RUNTIME_DIR"));
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = NULL;
        g_autofree char *run_user = g_strdup_printf("/run/user/%u", (unsigned) geteuid());

        Config c;

        config_init(&c);
        g_unsetenv("XDG_RUNTIME_DIR");
        dir = config_default_socket_dir(&c, &error);
        if (geteuid() == 0) {
                CU_ASSERT_STRING_EQUAL(dir, "/run/ingester");
        } else if (g_file_test(run_user, G_FILE_TEST_IS_DIR)) {
                CU_ASSERT_TRUE(g_str_has_prefix(dir, run_user));
        } else {
                CU_ASSERT_PTR_NULL(dir);
        }
        if (dir)
                CU_ASSERT_FALSE(g_str_has_prefix(dir, "/tmp"));
        g_setenv("XDG_RUNTIME_DIR", "/run/user/4242", TRUE);
        g_clear_pointer(&dir, g_free);
        dir = config_default_socket_dir(&c, NULL);
        CU_ASSERT_STRING_EQUAL(dir, "/run/user/4242/ingester");
        config_deinit(&c);
        if (saved)
                g_setenv("XDG_RUNTIME_DIR", saved, TRUE);
        else
                g_unsetenv("XDG_RUNTIME_DIR");
}

static char *write_temp(const char *text)
{
        g_autoptr(GError) error = NULL;
        char *path = NULL;
        int fd = g_file_open_tmp("ingester-conf-XXXXXX", &path, &error);

        g_assert_no_error(error);
        close(fd);
        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        return path;
}

static void test_system_instance_defaults(void)
{
        g_autofree char *saved = g_strdup(g_getenv("RUNTIME_DIRECTORY"));
        g_autofree char *saved_xdg = g_strdup(g_getenv("XDG_RUNTIME_DIR"));
        g_autoptr(GError) error = NULL;
        Config c;

        config_init(&c);
        CU_ASSERT_FALSE(config_is_system(&c));
        g_free(c.bus_address);
        c.bus_address = g_strdup("system");
        CU_ASSERT_TRUE(config_is_system(&c));
        g_setenv("RUNTIME_DIRECTORY", "/run/ingester-x:/run/other", TRUE);
        CU_ASSERT_TRUE(config_finish_listens(&c, &error));
        CU_ASSERT_EQUAL_FATAL(c.listens->len, 2);
        for (guint i = 0; i < c.listens->len; i++) {
                const ListenSpec *s = c.listens->pdata[i];
                CU_ASSERT_TRUE(g_str_has_prefix(s->path, "/run/ingester-x/"));
                CU_ASSERT_EQUAL(s->mode, 0660);
                CU_ASSERT_TRUE(s->allow_any); /* the socket's mode and group are the gate */
                CU_ASSERT_TRUE(s->implicit);
        }
        g_unsetenv("RUNTIME_DIRECTORY");
        g_ptr_array_set_size(c.listens, 0);
        CU_ASSERT_TRUE(config_finish_listens(&c, &error));
        CU_ASSERT_STRING_EQUAL(((ListenSpec *) c.listens->pdata[0])->path,
                               "/run/ingester/seqpacket.sock");
        config_deinit(&c);

        /* a session instance: the daemon's own uid and root, 0600 */
        config_init(&c);
        g_setenv("XDG_RUNTIME_DIR", "/run/user/4242", TRUE);
        CU_ASSERT_TRUE(config_finish_listens(&c, &error));
        CU_ASSERT_EQUAL(((ListenSpec *) c.listens->pdata[0])->mode, 0600);
        CU_ASSERT_FALSE(((ListenSpec *) c.listens->pdata[0])->allow_any);
        config_deinit(&c);
        if (saved)
                g_setenv("RUNTIME_DIRECTORY", saved, TRUE);
        if (saved_xdg)
                g_setenv("XDG_RUNTIME_DIR", saved_xdg, TRUE);
        else
                g_unsetenv("XDG_RUNTIME_DIR");
}

static void test_sections_allow_any_and_need_a_path_or_a_socket(void)
{
        g_autofree char *path = write_temp("[listen:a]\ntransport=dgram\n\n"
                                           "[listen:b]\ntransport=seqpacket\npath=/run/x/b.sock\n"
                                           "allow-uids=*\n");
        g_autoptr(GError) error = NULL;
        Config c;

        config_init(&c);
        CU_ASSERT_TRUE_FATAL(config_load_file(&c, path, &error));
        CU_ASSERT_EQUAL_FATAL(c.listens->len, 2);
        CU_ASSERT_STRING_EQUAL(((ListenSpec *) c.listens->pdata[0])->name, "a");
        CU_ASSERT_TRUE(((ListenSpec *) c.listens->pdata[1])->allow_any);
        CU_ASSERT_TRUE(((ListenSpec *) c.listens->pdata[1])->allow_set);
        /* [listen:a] has no path and systemd passed no socket named a */
        CU_ASSERT_FALSE(config_finish_listens(&c, &error));
        CU_ASSERT_PTR_NOT_NULL(error && strstr(error->message, "[listen:a] path"));
        config_deinit(&c);
        (void) unlink(path);

        /* '*' stands alone: beside a uid it is a user name, and there is none */
        {
                g_autofree char *bad = write_temp("[listen:a]\ntransport=dgram\npath=/run/x/a\n"
                                                  "allow-uids=*;0\n");
                g_autoptr(GError) e = NULL;
                config_init(&c);
                CU_ASSERT_FALSE(config_load_file(&c, bad, &e));
                CU_ASSERT_PTR_NOT_NULL(e && strstr(e->message, "[listen:a] allow-uids"));
                config_deinit(&c);
                (void) unlink(bad);
        }
}

static void test_reload_moves_what_can_change_and_names_the_rest(void)
{
        g_autofree char *v1 = write_temp("[queue]\ncapacity=10\n\n[listen:a]\ntransport=dgram\n"
                                         "path=/run/x/a.sock\nallow-uids=1\n\n"
                                         "[listen:gone]\ntransport=dgram\npath=/run/x/g.sock\n");
        g_autofree char *v2 = write_temp(
                "[bus]\nobject-path=/x\nsignal-form=batch\nbatch-max-events=7\n\n"
                "[queue]\ncapacity=20\npolicy=drop-oldest\n\n"
                "[limits]\nmax-fds=2\n\n[log]\nburst=3\n\n"
                "[listen:a]\ntransport=dgram\npath=/run/x/a.sock\nmode=0660\nallow-uids=*\n"
                "codec=msgpack\n\n[listen:new]\ntransport=dgram\npath=/run/x/n.sock\n");
        g_autoptr(GPtrArray) fixed = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        g_autofree char *names = NULL;
        Config c, next;
        const ListenSpec *a;

        config_init(&c);
        config_init(&next);
        CU_ASSERT_TRUE_FATAL(config_load_file(&c, v1, &error));
        CU_ASSERT_TRUE_FATAL(config_finish_listens(&c, &error));
        CU_ASSERT_TRUE_FATAL(config_load_file(&next, v2, &error));
        a = c.listens->pdata[0];
        config_reload(&c, &next, fixed);
        CU_ASSERT_EQUAL(c.queue_capacity, 20);
        CU_ASSERT_EQUAL(c.policy, QUEUE_POLICY_DROP_OLDEST);
        CU_ASSERT_EQUAL(c.max_fds, 2);
        CU_ASSERT_EQUAL(c.log_burst, 3);
        CU_ASSERT_EQUAL(c.signal_form, SIGNAL_FORM_BATCH);
        CU_ASSERT_EQUAL(c.batch_max_events, 7);
        CU_ASSERT_STRING_EQUAL(c.object_path, "/org/ingester/Ingester1"); /* stays */
        CU_ASSERT_PTR_EQUAL(c.listens->pdata[0], a); /* the running listener, changed */
        CU_ASSERT_TRUE(a->allow_any);
        CU_ASSERT_EQUAL(a->codec, CODEC_FORMAT_MSGPACK);
        CU_ASSERT_EQUAL(a->mode, 0600); /* stays */
        g_ptr_array_add(fixed, NULL);
        names = g_strjoinv(", ", (char **) fixed->pdata);
        CU_ASSERT_STRING_EQUAL(names, "[bus] object-path, [listen:a] mode, [listen:new] added, "
                                      "[listen:gone] removed");
        config_deinit(&c);
        config_deinit(&next);
        (void) unlink(v1);
        (void) unlink(v2);
}

/* The fairness keys: a time span with its unit, a burst, the lane limit;
 * each bad value named with its key. */
static void test_rate_limit_and_lane_keys(void)
{
        static const struct {
                const char *interval;
                guint64 msec; /* 0: refused */
        } spans[] = {
                { "500ms", 500 }, { "2s", 2000 },  { "1min", 60000 }, { "3", 3000 },
                { "0", 0 },       { " 7 s", 7000 }, { "abc", 0 },       { "5m", 0 },
                { "2h", 0 },      { "61min", 0 },   { "-1s", 0 },       { "ms", 0 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(spans); i++) {
                g_autofree char *text = g_strdup_printf(
                        "[queue]\nrate-limit-interval=%s\nrate-limit-burst=10\n"
                        "max-dgram-senders=7\n",
                        spans[i].interval);
                g_autofree char *path = write_temp(text);
                g_autoptr(GError) error = NULL;
                gboolean ok, want_ok = spans[i].msec > 0 || strcmp(spans[i].interval, "0") == 0;
                Config c;

                config_init(&c);
                ok = config_load_file(&c, path, &error);
                if (ok != want_ok)
                        printf("# '%s': %s\n", spans[i].interval, ok ? "accepted" : error->message);
                CU_ASSERT_EQUAL(ok, want_ok);
                if (ok) {
                        CU_ASSERT_EQUAL(c.rate_interval_msec, spans[i].msec);
                        CU_ASSERT_EQUAL(c.rate_burst, 10);
                        CU_ASSERT_EQUAL(c.max_dgram_senders, 7);
                } else {
                        CU_ASSERT_PTR_NOT_NULL(strstr(error->message, "[queue] rate-limit-interval"));
                }
                config_deinit(&c);
                (void) unlink(path);
        }
        {
                g_autofree char *path = write_temp("[queue]\nmax-dgram-senders=0\n");
                g_autoptr(GError) error = NULL;
                Config c;

                config_init(&c);
                CU_ASSERT_FALSE(config_load_file(&c, path, &error));
                CU_ASSERT_PTR_NOT_NULL(error && strstr(error->message, "max-dgram-senders"));
                config_deinit(&c);
                (void) unlink(path);
        }
}

/* A stream section: JSON only; codec=msgpack (or auto) is refused, naming the key. */
static void test_stream_section_carries_json_only(void)
{
        static const char *const codecs[] = { "json", "msgpack", "auto" };

        for (size_t i = 0; i < G_N_ELEMENTS(codecs); i++) {
                g_autofree char *text = g_strdup_printf(
                        "[listen:lines]\ntransport=stream\npath=/run/x/l.sock\ncodec=%s\n",
                        codecs[i]);
                g_autofree char *path = write_temp(text);
                g_autoptr(GError) error = NULL;
                Config c;
                gboolean ok;

                config_init(&c);
                ok = config_load_file(&c, path, &error);
                CU_ASSERT_EQUAL(ok, i == 0);
                if (ok) {
                        const ListenSpec *s = c.listens->pdata[0];
                        CU_ASSERT_EQUAL(s->transport, TRANSPORT_STREAM);
                        CU_ASSERT_EQUAL(s->codec, CODEC_FORMAT_JSON);
                } else {
                        CU_ASSERT_PTR_NOT_NULL(strstr(error->message, "[listen:lines] codec"));
                        CU_ASSERT_PTR_NOT_NULL(strstr(error->message, "JSON only"));
                }
                config_deinit(&c);
                (void) unlink(path);
        }
}

int main(void)
{
        static const TapTest tests[] = {
                TAP_TEST(config_example_states_the_defaults),
                TAP_TEST(listen_argument_is_checked),
                TAP_TEST(no_runtime_dir_is_an_error_not_tmp),
                TAP_TEST(fd_budget_at_its_boundaries),
                TAP_TEST(system_instance_defaults),
                TAP_TEST(sections_allow_any_and_need_a_path_or_a_socket),
                TAP_TEST(reload_moves_what_can_change_and_names_the_rest),
                TAP_TEST(rate_limit_and_lane_keys),
                TAP_TEST(stream_section_carries_json_only),
                { NULL, NULL },
        };

        tap_add_suite("config", NULL, NULL, tests);
        return tap_run();
}

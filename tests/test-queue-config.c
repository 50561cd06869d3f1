/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-queue-config.c — the bounded queue on its own, and the configuration:
 * the shipped example must parse and state exactly the built-in defaults.
 */
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "busmsg.h"
#include "config.h"
#include "cunit-tap.h"
#include "queue.h"

static Event *ev(void)
{
        return event_new(&(EventMeta){ 0 }, g_variant_ref_sink(g_variant_new_string("t")),
                         g_variant_ref_sink(g_variant_new_parsed("@a{sv} {}")), NULL, 0);
}

static void test_drop_newest_refuses_when_full(void)
{
        Queue q;
        queue_init(&q, 2, 1 << 20, 1024, QUEUE_POLICY_DROP_NEWEST);
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 0);
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 0);
        CU_ASSERT_TRUE(queue_is_full(&q));
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 1);
        CU_ASSERT_EQUAL(q.len, 2);
        CU_ASSERT_EQUAL(q.dropped, 1);
        queue_deinit(&q);
}

static void test_drop_oldest_spares_in_flight_events(void)
{
        Queue q;
        Event *first, *second, *third;

        queue_init(&q, 3, 1 << 20, 1024, QUEUE_POLICY_DROP_OLDEST);
        queue_push(&q, NULL, first = ev());
        queue_push(&q, NULL, second = ev());
        queue_push(&q, NULL, third = ev());
        queue_mark_sent(&q, 0, 0); /* the first is being written */
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 1);
        CU_ASSERT_PTR_EQUAL(queue_peek(&q, 0), first);
        CU_ASSERT_PTR_EQUAL(queue_next_unsent(&q), third); /* the second went */
        CU_ASSERT_EQUAL(q.len, 3);
        /* everything in flight: the newcomer is the one dropped */
        queue_mark_sent(&q, 0, 0);
        queue_mark_sent(&q, 0, 0);
        CU_ASSERT_EQUAL(q.in_flight, 3);
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 1);
        CU_ASSERT_PTR_EQUAL(queue_peek(&q, 0), first);
        CU_ASSERT_EQUAL(q.dropped, 2);
        queue_deinit(&q);
}

/* A reload lowers the capacity under what is queued: nothing queued goes;
 * the queue is full until it drains below the new capacity, then grows
 * again up to a raised one. */
static void test_lowered_capacity_drops_nothing_queued(void)
{
        Queue q;
        Event *e;

        queue_init(&q, 8, 1 << 20, 1024, QUEUE_POLICY_DROP_NEWEST);
        for (int i = 0; i < 6; i++)
                queue_push(&q, NULL, ev());
        queue_set_limits(&q, 2, 1 << 20, 1024, QUEUE_POLICY_DROP_OLDEST);
        CU_ASSERT_EQUAL(q.len, 6);
        CU_ASSERT_TRUE(queue_is_full(&q));
        CU_ASSERT_FALSE(queue_has_room(&q));
        /* drop-oldest now: waiting events make room, down to the new capacity */
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 5);
        CU_ASSERT_EQUAL(q.len, 2);
        queue_set_limits(&q, 64, 1 << 20, 1024, QUEUE_POLICY_BLOCK);
        for (int i = 0; i < 40; i++)
                CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 0);
        CU_ASSERT_EQUAL(q.len, 42);
        while ((e = queue_pop(&q)))
                event_free(e);
        queue_deinit(&q);
}

static void test_byte_capacity_counts_as_full(void)
{
        Queue q;
        Event *e = ev();
        queue_init(&q, 100, e->bytes * 2, 1024, QUEUE_POLICY_DROP_NEWEST);
        queue_push(&q, NULL, e);
        CU_ASSERT_FALSE(queue_is_full(&q));
        queue_push(&q, NULL, ev());
        CU_ASSERT_TRUE(queue_is_full(&q));
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev()), 1);
        event_free(queue_pop(&q));
        CU_ASSERT_FALSE(queue_is_full(&q));
        CU_ASSERT_EQUAL(q.high_water, 2);
        queue_deinit(&q);
}

static void test_fifo_order_and_wraparound(void)
{
        Queue q;
        queue_init(&q, 3, 1 << 20, 1024, QUEUE_POLICY_BLOCK);
        for (int64_t i = 1; i <= 10; i++) {
                Event *e = ev(), *out;
                e->meta.received_usec = i;
                queue_push(&q, NULL, e);
                out = queue_pop(&q);
                CU_ASSERT_EQUAL(out->meta.received_usec, i);
                CU_ASSERT_EQUAL(out->q.seq, (uint64_t) i); /* given when it is picked */
                event_free(out);
        }
        CU_ASSERT_PTR_NULL(queue_pop(&q));
        queue_deinit(&q);
}

static void test_event_free_closes_its_fds(void)
{
        int p[2];
        int fds[2];
        Event *e;

        CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
        fds[0] = p[0];
        fds[1] = p[1];
        e = event_new(&(EventMeta){ 0 }, g_variant_ref_sink(g_variant_new_string("")),
                      g_variant_ref_sink(g_variant_new_parsed("@a{sv} {}")), fds, 2);
        event_free(e);
        CU_ASSERT_EQUAL(fcntl(p[0], F_GETFD), -1);
        CU_ASSERT_EQUAL(fcntl(p[1], F_GETFD), -1);
}

static Event *ev_with_fds(unsigned n)
{
        int fds[CONFIG_SCM_MAX_FD];
        for (unsigned i = 0; i < n; i++)
                fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        return event_new(&(EventMeta){ 0 }, g_variant_ref_sink(g_variant_new_string("t")),
                         g_variant_ref_sink(g_variant_new_parsed("@a{sv} {}")), fds, n);
}

/* Descriptors are a capacity like bytes: the events' own and GDBus's duplicates. */
static void test_descriptor_capacity_counts_as_full(void)
{
        Queue q;

        queue_init(&q, 100, 1 << 20, 10, QUEUE_POLICY_DROP_NEWEST);
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev_with_fds(4)), 0);
        CU_ASSERT_EQUAL(q.fds, 4);
        CU_ASSERT_FALSE(queue_is_full(&q));
        queue_mark_sent(&q, 1000, 4); /* its duplicates are in GDBus's hands */
        CU_ASSERT_EQUAL(q.fds, 8);
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev_with_fds(2)), 0);
        CU_ASSERT_TRUE(queue_is_full(&q));
        CU_ASSERT_EQUAL(queue_push(&q, NULL, ev_with_fds(1)), 1); /* dropped: full in fds */
        /* the connection was lost: the duplicates are gone, the event waits again */
        queue_unsend_all(&q);
        CU_ASSERT_EQUAL(q.fds, 6);
        CU_ASSERT_EQUAL(q.in_flight, 0);
        queue_mark_sent(&q, 1000, 4);
        CU_ASSERT_EQUAL(queue_confirm(&q, 5), 1); /* only one was in flight */
        CU_ASSERT_EQUAL(q.fds, 2);
        CU_ASSERT_EQUAL(q.len, 1);
        queue_deinit(&q);
}

/* What GDBus holds for an in-flight event is charged to the queue until confirmed. */
static void test_in_flight_copy_is_charged_until_confirmed(void)
{
        Queue q;
        Event *e = ev();
        size_t one = e->bytes;

        queue_init(&q, 100, one * 3, 1024, QUEUE_POLICY_DROP_NEWEST);
        queue_push(&q, NULL, e);
        queue_mark_sent(&q, one, 0);
        CU_ASSERT_EQUAL(q.bytes, 2 * one);
        queue_push(&q, NULL, ev());
        CU_ASSERT_TRUE(queue_is_full(&q));
        CU_ASSERT_EQUAL(queue_confirm(&q, 1), 1);
        CU_ASSERT_EQUAL(q.bytes, one);
        CU_ASSERT_FALSE(queue_is_full(&q));
        queue_deinit(&q);
}

/* The resume rule holds at capacities where x * 3 / 4 would wrap. */
static void test_resume_rule_does_not_overflow(void)
{
        Queue q;

        queue_init(&q, 8, G_MAXSIZE / 2, 1024, QUEUE_POLICY_BLOCK);
        CU_ASSERT_TRUE(queue_has_room(&q));
        for (int i = 0; i < 7; i++)
                queue_push(&q, NULL, ev());
        CU_ASSERT_FALSE(queue_has_room(&q)); /* 7 > 8 - 2 */
        event_free(queue_pop(&q));
        CU_ASSERT_TRUE(queue_has_room(&q));
        queue_deinit(&q);
}

/* The ring grows as it fills and keeps FIFO order across the growth. */
static void test_ring_grows_in_order(void)
{
        Queue q;

        queue_init(&q, 1000, G_MAXSIZE / 4, 1024, QUEUE_POLICY_BLOCK);
        for (int64_t i = 0; i < 30; i++) {
                Event *e = ev();
                e->meta.received_usec = i;
                queue_push(&q, NULL, e);
        }
        CU_ASSERT_TRUE(q.shared_lane->waiting.size < 1000);
        event_free(queue_pop(&q)); /* move the head off slot 0 before growing */
        for (int64_t i = 30; i < 1000; i++) {
                Event *e = ev();
                e->meta.received_usec = i;
                queue_push(&q, NULL, e);
        }
        CU_ASSERT_TRUE(q.shared_lane->waiting.size >= 999);
        for (int64_t i = 1; i < 1000; i++) {
                Event *e = queue_pop(&q);
                CU_ASSERT_EQUAL_FATAL(e->meta.received_usec, i);
                event_free(e);
        }
        queue_deinit(&q);
}

/* The descriptor budget at its boundaries: 2 listeners, so a reserve of CONFIG_FD_RESERVE + 2. */
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

static Event *event_of_bytes(size_t n)
{
        g_autofree guint8 *buf = g_malloc0(n);
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", "b",
                              g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, buf, n, 1));
        return event_new(&(EventMeta){ 0 }, g_variant_ref_sink(g_variant_new_string("big")),
                         g_variant_ref_sink(g_variant_builder_end(&b)), NULL, 0);
}

/* The bus's message ceiling: both sides of the measured path and of the quick one. */
static void test_message_ceiling_at_its_boundary(void)
{
        const size_t ceiling = BUS_MAX_MESSAGE_SIZE - BUSMSG_HEADER_RESERVE;
        const char *path = "/org/ingester/Ingester1";
        /* the message is its data plus a few hundred bytes of header, type and meta */
        const size_t sizes[] = { ceiling / 4 - 4096, ceiling - 8192, ceiling - 64,
                                 BUS_MAX_MESSAGE_SIZE + 1 };
        const bool fits[] = { true, true, false, false };

        for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
                g_autoptr(Event) e = event_of_bytes(sizes[i]);
                if (busmsg_fits(path, e) != fits[i])
                        printf("# %zu bytes of data: fits should be %d\n", sizes[i], fits[i]);
                CU_ASSERT_EQUAL(busmsg_fits(path, e), fits[i]);
        }
}

/* An event whose data holds one string of `len` bytes; fds as given. */
static Event *event_with_string(unsigned i, size_t len, unsigned n_fds)
{
        g_autofree char *text = g_strnfill(len, (char) ('a' + i % 26));
        GVariantBuilder b;
        Event *e;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", "i", g_variant_new_int64(i));
        g_variant_builder_add(&b, "{sv}", "s", g_variant_new_string(text));
        e = event_new(&(EventMeta){ 0 }, g_variant_ref_sink(g_variant_new_string(i % 2 ? "odd" : "")),
                      g_variant_ref_sink(g_variant_builder_end(&b)), NULL, 0);
        e->n_fds = n_fds; /* only counted here: the handles are what is compared */
        e->q.seq = 1000 + i;
        e->meta.received_usec = 1764000000000000 + i;
        e->meta.pid = (pid_t) (100 + i);
        e->meta.uid = 1000;
        e->meta.gid = 1000;
        e->meta.transport = TRANSPORT_SEQPACKET;
        e->meta.codec = CODEC_FORMAT_JSON;
        return e;
}

/* What GLib itself makes of the same batch: the reference. */
static GVariant *batch_reference(Event **evs, const BusmsgItem *items, size_t n)
{
        GVariantBuilder array;

        g_variant_builder_init(&array, G_VARIANT_TYPE("a(sa{sv}a{sv}ah)"));
        for (size_t k = 0; k < n; k++) {
                GVariantBuilder meta, handles;
                g_variant_builder_init(&meta, G_VARIANT_TYPE_VARDICT);
                g_variant_builder_add(&meta, "{sv}", "seq", g_variant_new_uint64(evs[k]->q.seq));
                g_variant_builder_add(&meta, "{sv}", "received-usec",
                                      g_variant_new_int64(evs[k]->meta.received_usec));
                g_variant_builder_add(&meta, "{sv}", "pid", g_variant_new_int32(evs[k]->meta.pid));
                g_variant_builder_add(&meta, "{sv}", "uid", g_variant_new_uint32(evs[k]->meta.uid));
                g_variant_builder_add(&meta, "{sv}", "gid", g_variant_new_uint32(evs[k]->meta.gid));
                g_variant_builder_add(&meta, "{sv}", "transport", g_variant_new_string("seqpacket"));
                g_variant_builder_add(&meta, "{sv}", "codec", g_variant_new_string("json"));
                if (items[k].fds_dropped)
                        g_variant_builder_add(&meta, "{sv}", "fds-dropped",
                                              g_variant_new_uint32(items[k].fds_dropped));
                g_variant_builder_init(&handles, G_VARIANT_TYPE("ah"));
                for (unsigned h = 0; h < items[k].n_fds; h++)
                        g_variant_builder_add(&handles, "h", (gint32) (items[k].fd_base + h));
                g_variant_builder_add(&array, "(@s@a{sv}a{sv}ah)", evs[k]->type, evs[k]->data, &meta,
                                      &handles);
        }
        return g_variant_ref_sink(g_variant_new("(a(sa{sv}a{sv}ah))", &array));
}

/*
 * busmsg_batch() writes the body's serialised form itself and hands it to
 * GLib as trusted: it must be byte for byte the normal form GLib would
 * make, at every framing-offset width (structs past 255 bytes, the array
 * past 65 535), with and without handles and fds-dropped.
 */
static void test_batch_body_is_the_normal_form(void)
{
        static const struct {
                size_t n, len;
        } shapes[] = { { 1, 0 }, { 3, 10 }, { 2, 300 }, { 5, 200 }, { 3, 30000 }, { 1, 70000 },
                       { 64, 40 } };

        for (size_t s = 0; s < G_N_ELEMENTS(shapes); s++) {
                Event *evs[64];
                BusmsgItem items[64];
                unsigned fd_base = 0;
                g_autoptr(GDBusMessage) m = NULL;
                g_autoptr(GVariant) ref = NULL;
                GVariant *body;

                for (size_t k = 0; k < shapes[s].n; k++) {
                        unsigned nfds = k % 3 == 1 ? 2 : 0;
                        evs[k] = event_with_string((unsigned) k, shapes[s].len + k, nfds);
                        items[k] = (BusmsgItem){ .ev = evs[k], .fd_base = fd_base };
                        if (k % 5 == 4)
                                items[k].fds_dropped = 1; /* went without its fds */
                        else
                                items[k].n_fds = nfds;
                        fd_base += items[k].n_fds;
                }
                m = busmsg_batch("/org/ingester/Ingester1", items, shapes[s].n, NULL);
                body = g_dbus_message_get_body(m);
                ref = batch_reference(evs, items, shapes[s].n);
                CU_ASSERT_STRING_EQUAL(g_variant_get_type_string(body), "(a(sa{sv}a{sv}ah))");
                CU_ASSERT_TRUE(g_variant_is_normal_form(body));
                CU_ASSERT_EQUAL_FATAL(g_variant_get_size(body), g_variant_get_size(ref));
                if (memcmp(g_variant_get_data(body), g_variant_get_data(ref),
                           g_variant_get_size(ref)) != 0) {
                        printf("# shape %zu: %zu events of %zu bytes differ from GLib's\n", s,
                               shapes[s].n, shapes[s].len);
                        CU_FAIL("not GLib's serialisation");
                }
                for (size_t k = 0; k < shapes[s].n; k++) {
                        evs[k]->n_fds = 0; /* it had none to close */
                        event_free(evs[k]);
                }
        }
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
        static const TapTest queue_tests[] = {
                { "drop_newest_refuses_when_full", test_drop_newest_refuses_when_full },
                { "drop_oldest_spares_in_flight_events", test_drop_oldest_spares_in_flight_events },
                { "descriptor_capacity_counts_as_full", test_descriptor_capacity_counts_as_full },
                { "in_flight_copy_is_charged_until_confirmed",
                  test_in_flight_copy_is_charged_until_confirmed },
                { "resume_rule_does_not_overflow", test_resume_rule_does_not_overflow },
                { "ring_grows_in_order", test_ring_grows_in_order },
                { "lowered_capacity_drops_nothing_queued",
                  test_lowered_capacity_drops_nothing_queued },
                { "byte_capacity_counts_as_full", test_byte_capacity_counts_as_full },
                { "fifo_order_and_wraparound", test_fifo_order_and_wraparound },
                { "event_free_closes_its_fds", test_event_free_closes_its_fds },
                { "message_ceiling_at_its_boundary", test_message_ceiling_at_its_boundary },
                { "batch_body_is_the_normal_form", test_batch_body_is_the_normal_form },
                { NULL, NULL },
        };
        static const TapTest config_tests[] = {
                { "config_example_states_the_defaults", test_config_example_states_the_defaults },
                { "listen_argument_is_checked", test_listen_argument_is_checked },
                { "no_runtime_dir_is_an_error_not_tmp", test_no_runtime_dir_is_an_error_not_tmp },
                { "fd_budget_at_its_boundaries", test_fd_budget_at_its_boundaries },
                { "system_instance_defaults", test_system_instance_defaults },
                { "sections_allow_any_and_need_a_path_or_a_socket",
                  test_sections_allow_any_and_need_a_path_or_a_socket },
                { "reload_moves_what_can_change_and_names_the_rest",
                  test_reload_moves_what_can_change_and_names_the_rest },
                { "rate_limit_and_lane_keys", test_rate_limit_and_lane_keys },
                { "stream_section_carries_json_only", test_stream_section_carries_json_only },
                { NULL, NULL },
        };
        tap_add_suite("queue", NULL, NULL, queue_tests);
        tap_add_suite("config", NULL, NULL, config_tests);
        return tap_run();
}

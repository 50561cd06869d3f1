# CUnit suites, one per module, reported to automake's harness as TAP so the
# totals count behaviours (CUnit tests), not executables.
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
AM_TESTS_ENVIRONMENT = \
	G_DEBUG=fatal-warnings \
	G_SLICE=always-malloc \
	INGESTER_TEST_DATA=$(abs_top_srcdir)/tests/data \
	INGESTER_BUILDDIR=$(abs_top_builddir) \
	SYSTEMD_ANALYZE='$(SYSTEMD_ANALYZE)' \
	CC='$(CC)' \
	PATH=$(abs_top_builddir)/src:$(abs_top_builddir)/tools:$(abs_top_builddir)/doc/examples:$$PATH \
	$(NULL)
if ENABLE_SANITIZERS
AM_TESTS_ENVIRONMENT += \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS=suppressions=$(abs_top_srcdir)/tests/lsan.supp:print_suppressions=0 \
	$(NULL)
endif

check_LTLIBRARIES += tests/libcunit-tap.la
tests_libcunit_tap_la_SOURCES = tests/cunit-tap.c tests/cunit-tap.h
tests_libcunit_tap_la_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(GLIB_CFLAGS)
tests_libcunit_tap_la_LIBADD = $(CUNIT_LIBS) $(GLIB_LIBS)

TEST_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(GLIB_CFLAGS) $(JSONC_CFLAGS) $(MSGPACK_CFLAGS)
TEST_LIBS = tests/libcunit-tap.la src/libingesterd-core.la $(CUNIT_LIBS) $(GLIB_LIBS) $(JSONC_LIBS) $(MSGPACK_LIBS)

check_PROGRAMS += tests/test-codec
tests_test_codec_SOURCES = tests/test-codec.c tests/codec-testutil.h
tests_test_codec_CFLAGS = $(TEST_CFLAGS)
tests_test_codec_LDADD = $(TEST_LIBS)

TESTS += tests/test-codec

EXTRA_DIST += \
	tests/data \
	tests/lsan.supp \
	$(NULL)

check_LTLIBRARIES += tests/libharness.la
tests_libharness_la_SOURCES = tests/harness.c tests/harness.h
tests_libharness_la_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tests_libharness_la_LIBADD = $(GLIB_LIBS)

check_PROGRAMS += tests/test-daemon
tests_test_daemon_SOURCES = tests/test-daemon.c
tests_test_daemon_CFLAGS = $(TEST_CFLAGS)
tests_test_daemon_LDADD = tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-daemon

check_PROGRAMS += tests/test-queue
tests_test_queue_SOURCES = tests/test-queue.c
tests_test_queue_CFLAGS = $(TEST_CFLAGS)
tests_test_queue_LDADD = $(TEST_LIBS)
TESTS += tests/test-queue

check_PROGRAMS += tests/test-busmsg
tests_test_busmsg_SOURCES = tests/test-busmsg.c
tests_test_busmsg_CFLAGS = $(TEST_CFLAGS)
tests_test_busmsg_LDADD = $(TEST_LIBS)
TESTS += tests/test-busmsg

check_PROGRAMS += tests/test-config
tests_test_config_SOURCES = tests/test-config.c
tests_test_config_CFLAGS = $(TEST_CFLAGS)
tests_test_config_LDADD = $(TEST_LIBS)
TESTS += tests/test-config

check_PROGRAMS += tests/test-intake
tests_test_intake_SOURCES = tests/test-intake.c
tests_test_intake_CFLAGS = $(TEST_CFLAGS)
tests_test_intake_LDADD = $(TEST_LIBS)
TESTS += tests/test-intake

check_PROGRAMS += tests/test-books
tests_test_books_SOURCES = tests/test-books.c
tests_test_books_CFLAGS = $(TEST_CFLAGS)
tests_test_books_LDADD = tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-books

check_PROGRAMS += tests/test-poison
tests_test_poison_SOURCES = tests/test-poison.c
tests_test_poison_CFLAGS = $(TEST_CFLAGS)
tests_test_poison_LDADD = tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-poison

check_PROGRAMS += tests/test-budgets
tests_test_budgets_SOURCES = tests/test-budgets.c
tests_test_budgets_CFLAGS = $(TEST_CFLAGS)
tests_test_budgets_LDADD = tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-budgets

check_PROGRAMS += tests/test-lanes
tests_test_lanes_SOURCES = tests/test-lanes.c
tests_test_lanes_CFLAGS = $(TEST_CFLAGS)
tests_test_lanes_LDADD = $(TEST_LIBS)
TESTS += tests/test-lanes

check_PROGRAMS += tests/test-linebuf
tests_test_linebuf_SOURCES = tests/test-linebuf.c
tests_test_linebuf_CFLAGS = $(TEST_CFLAGS)
tests_test_linebuf_LDADD = $(TEST_LIBS)
TESTS += tests/test-linebuf

check_PROGRAMS += tests/test-stream
tests_test_stream_SOURCES = tests/test-stream.c
tests_test_stream_CFLAGS = $(TEST_CFLAGS)
tests_test_stream_LDADD = tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-stream

# A subscriber's code generated from the shipped example, as a deployment's
# subscribers would have it: test-schema's expectation comes from the file.
tests/shield1.c tests/shield1.h: doc/examples/org.terok.Shield1.xml
	$(AM_V_GEN)$(MKDIR_P) tests && $(GDBUS_CODEGEN) --interface-prefix org.terok. \
		--c-namespace Test --generate-c-code tests/shield1 $(srcdir)/doc/examples/org.terok.Shield1.xml
BUILT_SOURCES += tests/shield1.c tests/shield1.h
CLEANFILES += tests/shield1.c tests/shield1.h
check_LTLIBRARIES += tests/libshield1.la
nodist_tests_libshield1_la_SOURCES = tests/shield1.c tests/shield1.h
# (the generated code includes "config.h" under HAVE_CONFIG_H; ours is build-config.h)
tests_libshield1_la_CPPFLAGS = -UHAVE_CONFIG_H -I$(top_builddir)/tests
tests_libshield1_la_CFLAGS = $(GLIB_CFLAGS) -w
tests_libshield1_la_LIBADD = $(GLIB_LIBS)

check_PROGRAMS += tests/test-schema
tests_test_schema_SOURCES = tests/test-schema.c
tests_test_schema_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_builddir)/tests
tests_test_schema_CFLAGS = $(TEST_CFLAGS)
tests_test_schema_LDADD = tests/libshield1.la tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-schema

check_PROGRAMS += tests/test-ack
tests_test_ack_SOURCES = tests/test-ack.c
tests_test_ack_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/lib
tests_test_ack_CFLAGS = $(TEST_CFLAGS)
tests_test_ack_LDADD = src/lib/libingester.la tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-ack

check_PROGRAMS += tests/test-large
tests_test_large_SOURCES = tests/test-large.c
tests_test_large_CFLAGS = $(TEST_CFLAGS)
tests_test_large_LDADD = tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-large

check_PROGRAMS += tests/test-fairness
tests_test_fairness_SOURCES = tests/test-fairness.c
tests_test_fairness_CFLAGS = $(TEST_CFLAGS)
tests_test_fairness_LDADD = tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-fairness

check_PROGRAMS += tests/test-batch
tests_test_batch_SOURCES = tests/test-batch.c
tests_test_batch_CFLAGS = $(TEST_CFLAGS)
tests_test_batch_LDADD = tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-batch

check_PROGRAMS += tests/test-lib
tests_test_lib_SOURCES = tests/test-lib.c
tests_test_lib_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/lib
tests_test_lib_CFLAGS = $(TEST_CFLAGS)
tests_test_lib_LDADD = src/lib/libingester.la tests/libharness.la $(TEST_LIBS) -lm
TESTS += tests/test-lib

check_PROGRAMS += tests/test-send
tests_test_send_SOURCES = tests/test-send.c
tests_test_send_CFLAGS = $(TEST_CFLAGS)
tests_test_send_LDADD = tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-send

# The example reader, built in-tree against libingester so test-send can run
# it; installcheck builds it again the way its comment says, with pkg-config.
check_PROGRAMS += doc/examples/example-reader
doc_examples_example_reader_SOURCES = doc/examples/reader.c
doc_examples_example_reader_CPPFLAGS = -I$(top_srcdir)/src/lib
doc_examples_example_reader_LDADD = src/lib/libingester.la

# The example subscriber (both signal forms), so test-batch can run it.
check_PROGRAMS += doc/examples/example-subscriber
doc_examples_example_subscriber_SOURCES = doc/examples/subscriber.c
doc_examples_example_subscriber_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
doc_examples_example_subscriber_LDADD = $(GLIB_LIBS)

TESTS += tests/test-abi.sh tests/test-units.sh
EXTRA_DIST += tests/test-abi.sh tests/test-units.sh

check_PROGRAMS += tests/test-packaging
tests_test_packaging_SOURCES = tests/test-packaging.c
tests_test_packaging_CFLAGS = $(TEST_CFLAGS)
tests_test_packaging_LDADD = tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-packaging

check_PROGRAMS += tests/test-faults
tests_test_faults_SOURCES = tests/test-faults.c
tests_test_faults_CFLAGS = $(TEST_CFLAGS)
tests_test_faults_LDADD = tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-faults

# Fuzzing. make check replays each target over the hostile corpus and its
# own corpus (tests/data/fuzz/NAME: what fuzzing found worth keeping, and
# every crash it ever found) with the project's compiler; `make fuzz` builds
# the targets with clang's libFuzzer and runs each for FUZZ_SECONDS.
FUZZ_CORE = \
	src/codec.c src/codec-detect.c src/codec-json.c src/codec-msgpack.c src/vwriter.c \
	src/reason.c src/log.c src/stats.c src/event.c src/queue.c src/config.c src/config-listen.c src/socket.c src/listener.c src/busmsg.c \
	src/intake.c src/reader.c \
	src/linebuf.c src/schema.c src/dbusrules.c src/statsobj.c src/peer.c src/largefd.c src/answers.c \
	$(NULL)
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_COMPILE = $(FUZZ_CC) $(FUZZ_FLAGS) $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(CPPFLAGS) \
	$(GLIB_CFLAGS) $(JSONC_CFLAGS) $(MSGPACK_CFLAGS) $(SYSTEMD_CFLAGS)
FUZZ_LINK = $(addprefix $(srcdir)/,$(FUZZ_CORE)) \
	$(GLIB_LIBS) $(JSONC_LIBS) $(MSGPACK_LIBS) $(SYSTEMD_LIBS) -lm

check_PROGRAMS += tests/fuzz/replay-codec tests/fuzz/replay-listener tests/fuzz/replay-stream
tests_fuzz_replay_codec_SOURCES = tests/fuzz/fuzz-codec.c tests/fuzz/replay.c
tests_fuzz_replay_codec_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME=\"codec\"
tests_fuzz_replay_codec_CFLAGS = $(TEST_CFLAGS)
tests_fuzz_replay_codec_LDADD = $(TEST_LIBS)
tests_fuzz_replay_listener_SOURCES = tests/fuzz/fuzz-listener.c tests/fuzz/replay.c
tests_fuzz_replay_listener_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME=\"listener\"
tests_fuzz_replay_listener_CFLAGS = $(TEST_CFLAGS)
tests_fuzz_replay_listener_LDADD = $(TEST_LIBS)
tests_fuzz_replay_stream_SOURCES = tests/fuzz/fuzz-stream.c tests/fuzz/replay.c
tests_fuzz_replay_stream_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME=\"stream\"
tests_fuzz_replay_stream_CFLAGS = $(TEST_CFLAGS)
tests_fuzz_replay_stream_LDADD = $(TEST_LIBS)
TESTS += tests/fuzz/replay-codec tests/fuzz/replay-listener tests/fuzz/replay-stream

tests/fuzz/fuzz-codec: tests/fuzz/fuzz-codec.c $(addprefix $(srcdir)/,$(FUZZ_CORE))
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CCLD)$(FUZZ_COMPILE) -o $@ $(srcdir)/tests/fuzz/fuzz-codec.c $(FUZZ_LINK)

tests/fuzz/fuzz-listener: tests/fuzz/fuzz-listener.c $(addprefix $(srcdir)/,$(FUZZ_CORE))
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CCLD)$(FUZZ_COMPILE) -o $@ $(srcdir)/tests/fuzz/fuzz-listener.c $(FUZZ_LINK)

tests/fuzz/fuzz-stream: tests/fuzz/fuzz-stream.c $(addprefix $(srcdir)/,$(FUZZ_CORE))
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CCLD)$(FUZZ_COMPILE) -o $@ $(srcdir)/tests/fuzz/fuzz-stream.c $(FUZZ_LINK)

fuzz: tests/fuzz/fuzz-codec tests/fuzz/fuzz-listener tests/fuzz/fuzz-stream
	INGESTER_TEST_DATA=$(abs_top_srcdir)/tests/data $(SHELL) $(srcdir)/tools/fuzz-run \
		$(FUZZ_SECONDS) $(srcdir)/tests/data \
		tests/fuzz/fuzz-codec tests/fuzz/fuzz-listener tests/fuzz/fuzz-stream
.PHONY: fuzz
CLEANFILES += tests/fuzz/fuzz-codec tests/fuzz/fuzz-listener tests/fuzz/fuzz-stream
EXTRA_DIST += tools/fuzz-run

check_PROGRAMS += tests/test-listen
tests_test_listen_SOURCES = tests/test-listen.c
tests_test_listen_CFLAGS = $(TEST_CFLAGS)
tests_test_listen_LDADD = tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-listen

check_PROGRAMS += tests/test-activation
tests_test_activation_SOURCES = tests/test-activation.c
tests_test_activation_CFLAGS = $(TEST_CFLAGS)
tests_test_activation_LDADD = tests/libharness.la $(TEST_LIBS)
TESTS += tests/test-activation

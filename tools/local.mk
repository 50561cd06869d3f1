# Codec micro-benchmark (make bench runs it; never part of make check).
noinst_PROGRAMS += tools/bench-codec
tools_bench_codec_SOURCES = tools/bench-codec.c
tools_bench_codec_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(MSGPACK_CFLAGS)
tools_bench_codec_LDADD = src/libingesterd-core.la $(GLIB_LIBS) $(MSGPACK_LIBS)

# What decoding one large event costs: time, peak RSS (make bench).
noinst_PROGRAMS += tools/bench-budget
tools_bench_budget_SOURCES = tools/bench-budget.c
tools_bench_budget_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(MSGPACK_CFLAGS)
tools_bench_budget_LDADD = src/libingesterd-core.la $(GLIB_LIBS) $(MSGPACK_LIBS)

# What GDBus spends per signal by the form of its body (make bench).
noinst_PROGRAMS += tools/bench-body
tools_bench_body_SOURCES = tools/bench-body.c
tools_bench_body_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tools_bench_body_LDADD = src/libingesterd-core.la $(GLIB_LIBS)

dist_noinst_SCRIPTS += \
	tools/bootstrap \
	tools/check \
	$(NULL)

# make bench: the codec micro-benchmark, then the relay against the bus
# (doc/performance.md lists the targets and the recorded figures). Each line
# of ingester-bench ends with one JSON object holding every figure.
BENCH = $(top_builddir)/tools/ingester-bench --ingesterd=$(abs_top_builddir)/src/ingesterd \
	--ingester-send=$(abs_top_builddir)/tools/ingester-send
BENCH_REPEAT = 3
BOOKS_SECONDS = 180
.PHONY: bench
bench: all
	$(AM_V_at)echo "== codec: ns/event"
	$(AM_V_at)$(top_builddir)/tools/bench-codec
	$(AM_V_at)echo "== decode budget: one large event's time and peak RSS (target <= 4x its size + 1 MiB)"
	$(AM_V_at)$(top_builddir)/tools/bench-budget
	$(AM_V_at)echo "== GDBus: one Event signal to bytes, by the form of its body"
	$(AM_V_at)$(top_builddir)/tools/bench-body
	$(AM_V_at)for t in seqpacket dgram; do for c in json msgpack; do \
		echo "== relay vs bus, ingest vs plain: $$t $$c, 200k events, 4 senders"; \
		$(BENCH) --transport=$$t --codec=$$c --events=200000 --repeat=$(BENCH_REPEAT) || exit 1; \
	done; done
	$(AM_V_at)echo "== batch: signal-form=batch against L (body built once), F (a new body per message) and the per-event relay, 200k"
	$(AM_V_at)$(BENCH) --phases=baseline,relay,batch --events=200000 --repeat=$(BENCH_REPEAT)
	$(AM_V_at)echo "== batch flood: 1M events, signal-form=batch (loss, peak RSS)"
	$(AM_V_at)$(BENCH) --events=1000000 --phases=batch
	$(AM_V_at)echo "== flood: 1M events, 4 senders, block policy (loss, peak RSS)"
	$(AM_V_at)$(BENCH) --events=1000000 --phases=relay
	$(AM_V_at)echo "== steady 5k events/s (latency)"
	$(AM_V_at)$(BENCH) --events=50000 --rate=5000 --phases=relay
	$(AM_V_at)echo "== typed: the Shield1 example's events as ConnectionBlocked vs as Event, 100k"
	$(AM_V_at)$(BENCH) --phases=typed --schema=$(srcdir)/doc/examples/org.terok.Shield1.xml \
		--events=100000 --repeat=$(BENCH_REPEAT)
	$(AM_V_at)echo "== fairness: a sender at 200 events/s against 4 flooders, per policy (latency, loss)"
	$(AM_V_at)$(BENCH) --phases=fairness --senders=4
	$(AM_V_at)echo "== ingester-send: 100k lines from stdin vs one libingester sender"
	$(AM_V_at)$(BENCH) --events=100000 --phases=tool --repeat=$(BENCH_REPEAT)
	$(AM_V_at)echo "== ingester-listen: does it keep up with the relay? 100k events"
	$(AM_V_at)PATH=$(abs_top_builddir)/src:$(abs_top_builddir)/tools:$$PATH $(top_srcdir)/tools/bench-listen --events=100000
	$(AM_V_at)echo "== under faults: a stalled bus (RSS) and a restart under load (loss)"
	$(AM_V_at)$(top_srcdir)/tools/bench-faults --ingesterd=$(abs_top_builddir)/src/ingesterd \
		--ingester-send=$(abs_top_builddir)/tools/ingester-send
	$(AM_V_at)echo "== per-uid budgets: amplification refused, unfinished lines, hoarded connections, a paced uid against 200 flooding connections and 200 DGRAM pids"
	$(AM_V_at)$(MAKE) $(AM_MAKEFLAGS) check TESTS="tests/test-large tests/test-stream tests/test-budgets"
	$(AM_V_at)grep -h '^# .*\(values\|unfinished\|flood from\|came after\)' tests/test-large.log tests/test-stream.log tests/test-budgets.log
	$(AM_V_at)echo "== the books: the randomized adversary for $(BOOKS_SECONDS) s, a fresh seed (test-books)"
	$(AM_V_at)INGESTER_BOOKS_SECONDS=$(BOOKS_SECONDS) $(MAKE) $(AM_MAKEFLAGS) check TESTS=tests/test-books

# ingester-send: the shell's sender, on libingester (validates with the
# daemon's own codec)
bin_PROGRAMS += tools/ingester-send
tools_ingester_send_SOURCES = tools/ingester-send.c
tools_ingester_send_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/lib
tools_ingester_send_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(MSGPACK_CFLAGS)
tools_ingester_send_LDADD = src/lib/libingester.la src/libingesterd-core.la $(GLIB_LIBS) $(MSGPACK_LIBS)

# ingester-listen: the consumer's tool, events as JSON lines
bin_PROGRAMS += tools/ingester-listen
tools_ingester_listen_SOURCES = tools/ingester-listen.c
tools_ingester_listen_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tools_ingester_listen_LDADD = $(GLIB_LIBS)

dist_noinst_SCRIPTS += tools/demo tools/bench-faults tools/bench-listen tools/bench-callgrind

# The relay benchmark (make bench; never part of make check). -no-install:
# a real binary, not a libtool wrapper, since it re-executes itself for its
# sender, subscriber, emitter and sink processes.
noinst_PROGRAMS += tools/ingester-bench
tools_ingester_bench_SOURCES = tools/ingester-bench.c
tools_ingester_bench_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/lib
tools_ingester_bench_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(JSONC_CFLAGS) $(MSGPACK_CFLAGS)
tools_ingester_bench_LDFLAGS = $(AM_LDFLAGS) -no-install
tools_ingester_bench_LDADD = src/lib/libingester.la $(GLIB_LIBS) $(JSONC_LIBS) $(MSGPACK_LIBS)

# The daemon's modules, as a convenience library the tests link too.
noinst_LTLIBRARIES += src/libingesterd-core.la
src_libingesterd_core_la_SOURCES = \
	src/util.h \
	src/codec.h \
	src/codec-internal.h \
	src/codec.c \
	src/codec-detect.c \
	src/codec-json.c \
	src/codec-msgpack.c \
	src/vwriter.h \
	src/vwriter.c \
	$(NULL)
src_libingesterd_core_la_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(SYSTEMD_CFLAGS)
src_libingesterd_core_la_LIBADD = $(GLIB_LIBS) $(SYSTEMD_LIBS) -lm

src_libingesterd_core_la_SOURCES += \
	src/reason.h \
	src/reason.c \
	src/log.h \
	src/log.c \
	src/stats.h \
	src/stats.c \
	src/event.h \
	src/event.c \
	src/queue.h \
	src/queue.c \
	src/config.h \
	src/config-internal.h \
	src/config-listen.c \
	src/config.c \
	src/socket.h \
	src/socket.c \
	src/statsobj.h \
	src/statsobj.c \
	src/schema.h \
	src/schema.c \
	src/dbusrules.h \
	src/dbusrules.c \
	src/answers.h \
	src/answers.c \
	src/largefd.h \
	src/largefd.c \
	src/peer.h \
	src/peer.c \
	src/linebuf.h \
	src/linebuf.c \
	src/listener.h \
	src/intake.h \
	src/intake.c \
	src/reader.h \
	src/reader.c \
	src/listener.c \
	src/busconn.h \
	src/busconn.c \
	src/relay.h \
	src/relay.c \
	src/buslimits.h \
	src/busmsg.h \
	src/busmsg.c \
	$(NULL)
nodist_src_libingesterd_core_la_SOURCES = src/ingester-iface.h src/ingester-iface.c

bin_PROGRAMS += src/ingesterd
src_ingesterd_SOURCES = src/main.c
src_ingesterd_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(SYSTEMD_CFLAGS)
src_ingesterd_LDADD = src/libingesterd-core.la $(GLIB_LIBS) $(SYSTEMD_LIBS)

# libingester: the senders' library. libc only (plus libm for the backoff).
lib_LTLIBRARIES += src/lib/libingester.la
ingesterincludedir = $(includedir)/ingester
ingesterinclude_HEADERS = src/lib/ingester/ingester.h
src_lib_libingester_la_SOURCES = src/lib/ingester.c
src_lib_libingester_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/lib
src_lib_libingester_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden
src_lib_libingester_la_LDFLAGS = \
	$(AM_LDFLAGS) \
	-version-info $(LIBINGESTER_LT_VERSION) \
	-Wl,--version-script=$(top_srcdir)/src/lib/libingester.sym \
	-Wl,--no-undefined \
	$(NULL)
src_lib_libingester_la_LIBADD = -lm
EXTRA_src_lib_libingester_la_DEPENDENCIES = src/lib/libingester.sym
EXTRA_DIST += src/lib/libingester.sym

pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = src/lib/ingester.pc

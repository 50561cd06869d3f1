dist_man_MANS += \
	doc/ingester-send.1 \
	doc/ingester-listen.1 \
	doc/ingesterd.8 \
	doc/ingesterd.conf.5 \
	$(NULL)

dist_doc_DATA = \
	doc/protocol.md \
	doc/ingesterd.conf.example \
	doc/performance.md \
	$(NULL)

# systemd user units (socket activation)
systemduserunit_DATA = doc/ingesterd.service doc/ingesterd.socket
doc/ingesterd.service: doc/ingesterd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) doc && sed -e 's|@bindir[@]|$(bindir)|g' $< > $@
CLEANFILES += doc/ingesterd.service
EXTRA_DIST += \
	doc/ingesterd.service.in \
	doc/ingesterd.socket \
	$(NULL)

# The example reader, as its comment says to build it: against the installed
# header and library, found with pkg-config (make distcheck runs this).
EXTRA_DIST += doc/examples/reader.c
exampledir = $(docdir)/examples
example_DATA = doc/examples/reader.c
installcheck-local:
	$(AM_V_at)tmp=$$(mktemp -d) && \
	PKG_CONFIG_PATH="$(DESTDIR)$(libdir)/pkgconfig$${PKG_CONFIG_PATH:+:$$PKG_CONFIG_PATH}" && \
	export PKG_CONFIG_PATH && \
	$(CC) $(SANITIZER_CFLAGS) -o "$$tmp/reader" $(srcdir)/doc/examples/reader.c \
		$$($(PKG_CONFIG) --cflags --libs ingester) && \
	echo "reader built with pkg-config against $(DESTDIR)$(libdir)" && \
	LD_LIBRARY_PATH="$(DESTDIR)$(libdir)" "$$tmp/reader" "$$tmp/none.sock" </dev/null && \
	rm -rf "$$tmp"

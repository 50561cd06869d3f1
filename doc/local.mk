dist_man_MANS += \
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

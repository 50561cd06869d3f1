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
	doc/architecture.md \
	$(NULL)

# Packaging: systemd units (user and system instance), the system bus
# policy, D-Bus activation files and the system user. Each installs under
# the directory configure found (pkg-config systemd / dbus-1, or --with-...).
systemduserunit_DATA = doc/user/ingesterd.service doc/user/ingesterd.socket
systemdsystemunit_DATA = doc/system/ingesterd.service doc/system/ingesterd.socket
dbuspolicy_DATA = doc/dbus/org.ingester.Ingester1.conf
dbussessionservice_DATA = doc/dbus/session/org.ingester.Ingester1.service
dbussystemservice_DATA = doc/dbus/system/org.ingester.Ingester1.service
sysusers_DATA = doc/sysusers.d/ingester.conf

ing_generated_packaging = \
	doc/user/ingesterd.service \
	doc/system/ingesterd.service \
	doc/dbus/session/org.ingester.Ingester1.service \
	doc/dbus/system/org.ingester.Ingester1.service \
	$(NULL)
$(ing_generated_packaging): %: %.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && sed -e 's|@bindir[@]|$(bindir)|g' $< > $@
CLEANFILES += $(ing_generated_packaging)
EXTRA_DIST += \
	$(ing_generated_packaging:=.in) \
	doc/user/ingesterd.socket \
	doc/system/ingesterd.socket \
	doc/dbus/org.ingester.Ingester1.conf \
	doc/sysusers.d/ingester.conf \
	$(NULL)

# make distcheck installs as a user would, under its own prefix: nothing may
# go to the running system's directories that pkg-config reports
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir='$${prefix}/lib/systemd/system' \
	--with-systemduserunitdir='$${prefix}/lib/systemd/user' \
	--with-sysusersdir='$${prefix}/lib/sysusers.d' \
	--with-dbussessionservicedir='$${datadir}/dbus-1/services' \
	--with-dbussystemservicedir='$${datadir}/dbus-1/system-services' \
	--with-dbusinterfacedir='$${datadir}/dbus-1/interfaces' \
	--with-dbuspolicydir='$${datadir}/dbus-1/system.d' \
	$(NULL)

# The example reader, as its comment says to build it: against the installed
# header and library, found with pkg-config (make distcheck runs this).
EXTRA_DIST += doc/examples/reader.c doc/examples/org.terok.Shield1.xml doc/examples/reader.py \
	doc/examples/reader.sh doc/examples/reader.go doc/examples/reader.rs \
	doc/examples/subscriber.c doc/examples/subscriber.py
exampledir = $(docdir)/examples
example_DATA = doc/examples/reader.c doc/examples/org.terok.Shield1.xml doc/examples/reader.py \
	doc/examples/reader.sh doc/examples/reader.go doc/examples/reader.rs \
	doc/examples/subscriber.c doc/examples/subscriber.py
installcheck-local:
	$(AM_V_at)tmp=$$(mktemp -d) && \
	PKG_CONFIG_PATH="$(DESTDIR)$(libdir)/pkgconfig$${PKG_CONFIG_PATH:+:$$PKG_CONFIG_PATH}" && \
	export PKG_CONFIG_PATH && \
	$(CC) $(SANITIZER_CFLAGS) -o "$$tmp/reader" $(srcdir)/doc/examples/reader.c \
		$$($(PKG_CONFIG) --cflags --libs ingester) && \
	echo "reader built with pkg-config against $(DESTDIR)$(libdir)" && \
	LD_LIBRARY_PATH="$(DESTDIR)$(libdir)" "$$tmp/reader" "$$tmp/none.sock" </dev/null && \
	rm -rf "$$tmp"

# The interface XML is compiled into the daemon and installed for introspection.
dbusinterface_DATA = proto/org.ingester.Ingester1.xml
EXTRA_DIST += $(dbusinterface_DATA)

src/ingester-iface.h: proto/org.ingester.Ingester1.xml
	$(AM_V_GEN)$(MKDIR_P) src && $(GDBUS_CODEGEN) --interface-info-header --output $@ $<
src/ingester-iface.c: proto/org.ingester.Ingester1.xml
	$(AM_V_GEN)$(MKDIR_P) src && $(GDBUS_CODEGEN) --interface-info-body --output $@ $<
BUILT_SOURCES += src/ingester-iface.h src/ingester-iface.c
CLEANFILES += src/ingester-iface.h src/ingester-iface.c

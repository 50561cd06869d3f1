EXTRA_DIST += \
	doc/protocol.md \
	$(NULL)

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the codec tests: decoding with checks, msgpack building. */
#pragma once

#include <gio/gio.h>
#include <msgpack.h>

#include "codec.h"

/* Serialise (s a{sv} a{sv} ah) as a D-Bus signal and parse it back: TRUE when
 * the value survives the wire unchanged. */
static inline gboolean value_survives_bus(GVariant *type, GVariant *data)
{
        g_autoptr(GDBusMessage) m = g_dbus_message_new_signal("/org/ingester/Ingester1",
                                                               "org.ingester.Ingester1", "Event");
        g_autoptr(GDBusMessage) back = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree guchar *blob = NULL;
        GVariant *body = g_variant_new("(@s@a{sv}a{sv}ah)", type, data, NULL, NULL);
        gsize size = 0;

        g_dbus_message_set_body(m, body);
        blob = g_dbus_message_to_blob(m, &size, G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING, &error);
        if (!blob) {
                g_printerr("# to_blob: %s\n", error->message);
                return FALSE;
        }
        back = g_dbus_message_new_from_blob(blob, size, G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING,
                                            &error);
        if (!back) {
                g_printerr("# from_blob: %s\n", error->message);
                return FALSE;
        }
        return g_variant_equal(g_dbus_message_get_body(back), body);
}

typedef struct {
        msgpack_sbuffer sbuf;
        msgpack_packer pk;
} MpBuf;

static inline void mpbuf_init(MpBuf *b)
{
        msgpack_sbuffer_init(&b->sbuf);
        msgpack_packer_init(&b->pk, &b->sbuf, msgpack_sbuffer_write);
}

static inline void mpbuf_clear(MpBuf *b)
{
        msgpack_sbuffer_destroy(&b->sbuf);
}

static inline void mp_str(msgpack_packer *pk, const char *s)
{
        msgpack_pack_str(pk, strlen(s));
        msgpack_pack_str_body(pk, s, strlen(s));
}

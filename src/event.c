/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* event.c — building, measuring and freeing an event (see event.h). */
#include <string.h>

#include "event.h"
#include "util.h"

Event *event_new(const EventMeta *meta, GVariant *type, GVariant *data, const int *fds,
                 unsigned n_fds)
{
        Event *ev = g_new0(Event, 1);

        ev->meta = *meta;
        ev->type = type;
        ev->data = data;
        if (n_fds > 0)
                ev->fds = g_memdup(fds, n_fds * sizeof(int));
        ev->n_fds = n_fds;
        ev->bytes = EVENT_OVERHEAD + g_variant_get_size(data) + g_variant_get_size(type) +
                    n_fds * sizeof(int);
        return ev;
}

void event_free(Event *ev)
{
        if (!ev)
                return;
        g_clear_pointer(&ev->type, g_variant_unref);
        g_clear_pointer(&ev->data, g_variant_unref);
        g_clear_pointer(&ev->typed, g_variant_unref);
        close_many(ev->fds, ev->n_fds);
        g_free(ev->fds);
        g_free(ev);
}

void event_set_typed(Event *ev, const struct SchemaSignal *sig, GVariant *typed)
{
        ev->sig = sig;
        ev->typed = typed;
        /* its tree of children, which GDBus marshals from: about as much again */
        ev->bytes += g_variant_get_size(ev->data);
}

void event_set_ack(Event *ev, uint64_t n)
{
        ev->ack_n = n;
}

static const char *const transports[] = {
        [TRANSPORT_DGRAM] = "dgram",
        [TRANSPORT_SEQPACKET] = "seqpacket",
        [TRANSPORT_STREAM] = "stream",
};

const char *transport_name(Transport t)
{
        return (size_t) t < G_N_ELEMENTS(transports) ? transports[t] : NULL;
}

bool transport_from_name(const char *name, Transport *ret)
{
        for (size_t i = 0; i < G_N_ELEMENTS(transports); i++)
                if (strcmp(name, transports[i]) == 0) {
                        *ret = (Transport) i;
                        return true;
                }
        return false;
}

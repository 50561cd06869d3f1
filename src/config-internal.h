/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config-internal.h — what config.c takes from config-listen.c. Nothing
 * outside the two includes it.
 */
#pragma once

#include "config.h"

/* A whole number from min to max; the error names `where`. */
gboolean config_parse_uint(const char *where, const char *text, guint64 min, guint64 max,
                           guint64 *ret, GError **error);

/* The keys a [listen:NAME] section may hold, NULL-terminated. */
extern const char *const config_listen_keys[];

/* A [listen:NAME] section of kf into c->listens. */
gboolean config_listen_load(Config *c, GKeyFile *kf, const char *group, GError **error);

/* config_reload()'s part for the listeners (see there). */
void config_listen_reload(Config *c, Config *next, GPtrArray *fixed);

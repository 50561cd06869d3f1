/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-budget.c — what decoding one large event costs (issue 27, symptom
 * 1): the time and the peak RSS growth of codec_decode() for the
 * amplification events (millions of small values in an 18 MiB memfd, which
 * must be refused before a tree is built) and for large legitimate events.
 * Each case runs in a child of its own, so its VmHWM starts clean. The
 * target: peak growth <= 4 x the payload + 1 MiB. Prints; never fails.
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec.h"

static long hwm_kib(void)
{
        g_autofree char *text = NULL;
        const char *p;

        if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL) ||
            !(p = strstr(text, "VmHWM:")))
                return -1;
        return atol(p + 6);
}

/* {"type":"amp","v":[[[1 x inner] x 1024] x outer]} as JSON or msgpack */
static GString *many_ints(bool msgpack, unsigned outer, unsigned inner)
{
        GString *s = g_string_new(NULL);

        if (!msgpack) {
                g_string_append(s, "{\"type\":\"amp\",\"v\":[");
                for (unsigned a = 0; a < outer; a++) {
                        g_string_append(s, a ? ",[" : "[");
                        for (unsigned b = 0; b < 1024; b++) {
                                g_string_append(s, b ? ",[" : "[");
                                for (unsigned c = 0; c < inner; c++)
                                        g_string_append(s, c ? ",1" : "1");
                                g_string_append_c(s, ']');
                        }
                        g_string_append_c(s, ']');
                }
                g_string_append(s, "]}");
                return s;
        }
        g_string_append_len(s, "\x82\xa4" "type" "\xa3" "amp" "\xa1" "v" "\xdc", 13);
        g_string_append_c(s, (char) (outer >> 8));
        g_string_append_c(s, (char) (outer & 0xff));
        for (unsigned a = 0; a < outer; a++) {
                g_string_append_len(s, "\xdc\x04\x00", 3);
                for (unsigned b = 0; b < 1024; b++) {
                        g_string_append_c(s, (char) (0x90 | inner));
                        for (unsigned c = 0; c < inner; c++)
                                g_string_append_c(s, 1);
                }
        }
        return s;
}

/* {"type":"big","parts":["aaa...", ...]}: strings of 60000 bytes */
static GString *many_strings(bool msgpack, size_t size)
{
        GString *s = g_string_new(NULL);
        size_t chunk = 60000, n = size / chunk;

        if (!msgpack) {
                g_string_append(s, "{\"type\":\"big\",\"parts\":[");
                for (size_t i = 0; i < n; i++) {
                        g_string_append(s, i ? ",\"" : "\"");
                        for (size_t k = 0; k < chunk; k++)
                                g_string_append_c(s, (char) ('a' + k % 26));
                        g_string_append_c(s, '"');
                }
                g_string_append(s, "]}");
                return s;
        }
        g_string_append_len(s, "\x82\xa4" "type" "\xa3" "big" "\xa5" "parts" "\xdc", 17);
        g_string_append_c(s, (char) (n >> 8));
        g_string_append_c(s, (char) (n & 0xff));
        for (size_t i = 0; i < n; i++) {
                g_string_append_c(s, (char) 0xda); /* str16 */
                g_string_append_c(s, (char) (chunk >> 8));
                g_string_append_c(s, (char) (chunk & 0xff));
                for (size_t k = 0; k < chunk; k++)
                        g_string_append_c(s, (char) ('a' + k % 26));
        }
        return s;
}

static void run(const char *name, GString *(*make)(void))
{
        pid_t pid;

        fflush(stdout);
        pid = fork();
        if (pid < 0) {
                perror("fork");
                exit(1);
        }
        if (pid == 0) {
                g_autoptr(GString) buf = make();
                CodecLimits limits = CODEC_LIMITS_DEFAULT;
                CodecEvent ev = { 0 };
                long before = hwm_kib(), grown;
                gint64 t0 = g_get_monotonic_time(), usec;
                CodecReason r = codec_decode(&limits, CODEC_FORMAT_AUTO, buf->str, buf->len, &ev);

                usec = g_get_monotonic_time() - t0;
                grown = hwm_kib() - before;
                printf("%-34s %9zu  %-12s %8.1f  %9ld  %6.1f  %s\n", name, buf->len,
                       r == CODEC_OK ? "ok" : codec_reason_name(r), usec / 1000.0, grown,
                       (double) grown * 1024 / (double) buf->len,
                       grown <= (long) (4 * buf->len / 1024 + 1024) ? "within" : "OVER");
                if (r == CODEC_OK)
                        codec_event_clear(&ev);
                fflush(stdout);
                _exit(0);
        }
        (void) waitpid(pid, NULL, 0);
}

static GString *json_amp(void)
{
        return many_ints(false, 1000, 9); /* 9.2 M values, 18 MiB */
}
static GString *mp_amp(void)
{
        return many_ints(true, 1000, 15); /* 15.4 M values, 15 MiB */
}
static GString *json_ints_past(void)
{
        return many_ints(false, 300, 9); /* 2.8 M values: past the bound, refused */
}
static GString *json_ints_under(void)
{
        return many_ints(false, 200, 9); /* 1.8 M values: within it, decoded */
}
static GString *mp_ints_under(void)
{
        return many_ints(true, 200, 9);
}
static GString *json_strings(void)
{
        return many_strings(false, 16u << 20);
}
static GString *mp_strings(void)
{
        return many_strings(true, 16u << 20);
}

int main(void)
{
        printf("%-34s %9s  %-12s %8s  %9s  %6s  %s\n", "event", "bytes", "result", "ms",
               "peak KiB", "x size", "4x+1MiB");
        run("json: 9.2M ints in 18 MiB", json_amp);
        run("msgpack: 15.4M ints in 15 MiB", mp_amp);
        run("json: 2.8M ints in 5.9 MiB", json_ints_past);
        run("json: 1.8M ints in 3.9 MiB", json_ints_under);
        run("msgpack: 1.8M ints in 2.0 MiB", mp_ints_under);
        run("json: 16 MiB of 60 kB strings", json_strings);
        run("msgpack: 16 MiB of 60 kB strings", mp_strings);
        return 0;
}

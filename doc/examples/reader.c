/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reader.c — a minimal long-lived reader on libingester.
 *
 * It turns every line of its standard input into one event,
 *   {"type":"example.line","n":LINE-NUMBER,"line":"TEXT"}
 * and keeps going across daemon restarts: the handle reconnects with backoff
 * (100 ms, doubling, at most 5 s between attempts, forever).
 *
 * Build it against the installed library:
 *   cc -o reader reader.c $(pkg-config --cflags --libs ingester)
 * Try it:
 *   journalctl -f -o cat | ./reader            (socket from $INGESTER_SOCKET
 *   ./reader /run/user/1000/ingester/dgram.sock   or ingesterd's default)
 */
#include <errno.h>
#include <ingester/ingester.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends @s to @out as a JSON string body; returns the new length, or 0 if
 * it does not fit. Control characters are escaped; UTF-8 passes as it is
 * (ingesterd refuses invalid UTF-8 and counts it). */
static size_t append_escaped(char *out, size_t len, size_t size, const char *s)
{
        for (; *s; s++) {
                unsigned char ch = (unsigned char) *s;
                int n;

                if (ch == '"' || ch == '\\')
                        n = snprintf(out + len, size - len, "\\%c", ch);
                else if (ch < 0x20)
                        n = snprintf(out + len, size - len, "\\u%04x", ch);
                else
                        n = snprintf(out + len, size - len, "%c", ch);
                if (n < 0 || (size_t) n >= size - len)
                        return 0;
                len += (size_t) n;
        }
        return len;
}

int main(int argc, char **argv)
{
        IngesterClient *client = NULL;
        char line[4096], event[6 * sizeof(line) + 128];
        unsigned long n = 0;
        int r;

        r = ingester_client_new(&client, argc > 1 ? argv[1] : NULL, INGESTER_TRANSPORT_AUTO, 0);
        if (r == 0)
                r = ingester_client_set_retry(client, INGESTER_RETRY_FOREVER, 100, 2.0, 5000);
        if (r < 0) {
                fprintf(stderr, "reader: %s\n", strerror(-r));
                return 1;
        }

        while (fgets(line, sizeof(line), stdin)) {
                size_t len;
                int head;

                line[strcspn(line, "\n")] = '\0';
                head = snprintf(event, sizeof(event), "{\"type\":\"example.line\",\"n\":%lu,\"line\":\"",
                                ++n);
                len = append_escaped(event, (size_t) head, sizeof(event) - 2, line);
                if (len == 0)
                        continue; /* cannot happen with these buffer sizes */
                memcpy(event + len, "\"}", 3);

                r = ingester_client_send(client, event, len + 2, NULL, 0);
                if (r == -EMSGSIZE) {
                        fprintf(stderr, "reader: line %lu too large, skipped\n", n);
                        continue;
                }
                if (r < 0) {
                        /* with retries forever, only a signal (EINTR) or a
                         * non-transient error (EPROTOTYPE, EACCES...) gets here */
                        fprintf(stderr, "reader: %s: %s\n", ingester_client_get_path(client),
                                strerror(-r));
                        break;
                }
        }
        client = ingester_client_free(client);
        return r < 0 ? 1 : 0;
}

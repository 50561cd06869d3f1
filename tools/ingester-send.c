/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ingester-send — send events to ingesterd from the shell.
 *
 *   ingester-send [OPTIONS] '{"type":"x"}' ...     one event per argument
 *   ingester-send [OPTIONS] type=x port:=443        one event from fields
 *   ingester-send [OPTIONS] < events.jsonl          one event per line
 *
 * The socket work is libingester's (one connection for the whole run,
 * reconnect with backoff when asked). Each event is first checked with the
 * daemon's own decoder (src/codec.c) at the widest limits any ingesterd
 * configuration allows, so what this tool refuses no daemon would accept;
 * with --msgpack the decoded event is what gets encoded, so JSON and msgpack
 * carry the same values. Exit statuses are in doc/ingester-send.1.
 */
#include <locale.h>
#include <errno.h>
#include <fcntl.h>
#include <ingester/ingester.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "config.h"

enum {
        EXIT_SENT = 0,        /* every event was sent */
        EXIT_NOT_SENT = 1,    /* some events were refused here; the others were sent */
        EXIT_USAGE = 2,       /* bad options or fields; nothing was sent */
        EXIT_UNREACHABLE = 3, /* no daemon, or the connection was lost for good */
        EXIT_DROPPED = 4,     /* --wait: the daemon's overflow policy dropped one */
        EXIT_NO_ANSWER = 5,   /* --wait: an answer did not come in time */
};

static void client_freep(IngesterClient **c)
{
        *c = ingester_client_free(*c);
}

typedef struct {
        IngesterClient *client;
        gboolean msgpack;
        gboolean stream; /* connected to a stream socket: one line per event */
        gboolean wait;   /* --wait: each event answered by the daemon */
        int wait_timeout_ms;
        GArray *fds;
        CodecLimits limits;
        unsigned sent, refused;
        int status;
} Sender;

/* a{sv}/av/s/x/t/d/b/ay (the codec's normal form) -> msgpack */
static void pack_variant(msgpack_packer *pk, GVariant *v)
{
        GVariantIter it;
        const char *t = g_variant_get_type_string(v);

        switch (t[0]) {
        case 'v': {
                g_autoptr(GVariant) inner = g_variant_get_variant(v);
                pack_variant(pk, inner);
                break;
        }
        case 'b':
                g_variant_get_boolean(v) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
                break;
        case 'x':
                msgpack_pack_int64(pk, g_variant_get_int64(v));
                break;
        case 't':
                msgpack_pack_uint64(pk, g_variant_get_uint64(v));
                break;
        case 'd':
                msgpack_pack_double(pk, g_variant_get_double(v));
                break;
        case 's': {
                gsize n;
                const char *s = g_variant_get_string(v, &n);
                msgpack_pack_str_with_body(pk, s, n);
                break;
        }
        case 'a':
                if (t[1] == 'y') {
                        gsize n;
                        const void *p = g_variant_get_fixed_array(v, &n, 1);
                        msgpack_pack_bin_with_body(pk, p, n);
                } else if (t[1] == '{') {
                        const char *key;
                        GVariant *value;
                        msgpack_pack_map(pk, g_variant_iter_init(&it, v));
                        while (g_variant_iter_loop(&it, "{&sv}", &key, &value)) {
                                msgpack_pack_str_with_body(pk, key, strlen(key));
                                pack_variant(pk, value);
                        }
                } else {
                        GVariant *e;
                        msgpack_pack_array(pk, g_variant_iter_init(&it, v));
                        while (g_variant_iter_loop(&it, "v", &e))
                                pack_variant(pk, e);
                }
                break;
        default:
                g_assert_not_reached();
        }
}

static void report_lost(Sender *s, int r)
{
        const char *path = ingester_client_get_path(s->client);

        if (r == -ENOENT || r == -ECONNREFUSED)
                fprintf(stderr, "ingester-send: cannot reach ingesterd at %s: %s (is it running?)\n",
                        path, g_strerror(-r));
        else
                fprintf(stderr, "ingester-send: %s: %s\n", path, g_strerror(-r));
        s->status = EXIT_UNREACHABLE;
}

/* Checks and sends one event; @where names it in messages ("line 3"). */
static void send_event(Sender *s, const char *json, size_t len, const char *where)
{
        CodecEvent ev = { 0 };
        CodecReason reason = codec_decode(&s->limits, CODEC_FORMAT_JSON, json, len, &ev);
        msgpack_sbuffer sb;
        const void *packet = json;
        size_t size = len;
        int r;

        if (reason != CODEC_OK) {
                fprintf(stderr, "ingester-send: %s: not sent: %s\n", where,
                        codec_reason_name(reason));
                s->refused++;
                s->status = MAX(s->status, EXIT_NOT_SENT);
                return;
        }
        msgpack_sbuffer_init(&sb);
        if (s->stream && (memchr(json, '\n', len) || memchr(json, '\r', len))) {
                /* valid JSON holds a raw line break only as whitespace between
                 * tokens (in a string it must be escaped): a space does as well,
                 * and the event is one line */
                char *line = g_strndup(json, len);
                g_strdelimit(line, "\r\n", ' ');
                msgpack_sbuffer_write(&sb, line, len);
                g_free(line);
                packet = sb.data;
        }
        if (s->msgpack) {
                msgpack_packer pk;
                msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
                pack_variant(&pk, ev.data);
                packet = sb.data;
                size = sb.size;
        }
        if (s->wait) {
                char why[64] = "";
                r = ingester_client_send_wait(s->client, packet, size, (const int *) s->fds->data,
                                              s->fds->len, s->wait_timeout_ms, NULL, why,
                                              sizeof(why));
                if (r == -EBADMSG || r == -ENOBUFS || r == -ETIMEDOUT || r == -EOPNOTSUPP) {
                        fprintf(stderr, "ingester-send: %s: %s%s\n", where,
                                r == -EBADMSG      ? "refused by ingesterd: "
                                : r == -ENOBUFS    ? "dropped by ingesterd's overflow policy"
                                : r == -ETIMEDOUT  ? "sent, but no answer in time"
                                                   : "sent to a datagram socket, which cannot answer",
                                r == -EBADMSG ? why : "");
                        s->refused += r == -EBADMSG;
                        s->sent += r != -EBADMSG;
                        s->status = MAX(s->status, r == -EBADMSG    ? EXIT_NOT_SENT
                                                   : r == -ENOBUFS  ? EXIT_DROPPED
                                                                    : EXIT_NO_ANSWER);
                        msgpack_sbuffer_destroy(&sb);
                        codec_event_clear(&ev);
                        return;
                }
        } else {
                r = ingester_client_send(s->client, packet, size, (const int *) s->fds->data,
                                         s->fds->len);
        }
        msgpack_sbuffer_destroy(&sb);
        codec_event_clear(&ev);

        if (r == 0)
                s->sent++;
        else if (r == -EMSGSIZE) {
                fprintf(stderr, "ingester-send: %s: not sent: too large for the socket (%zu bytes)\n",
                        where, size);
                s->refused++;
                s->status = MAX(s->status, EXIT_NOT_SENT);
        } else
                report_lost(s, r);
}

/* @s as a JSON string literal. Bytes >= 0x80 pass as they are: the codec
 * checks the whole event's UTF-8 afterwards. */
static void append_json_string(GString *out, const char *s, size_t len)
{
        g_string_append_c(out, '"');
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char) s[i];
                if (ch == '"' || ch == '\\')
                        g_string_append_c(out, '\\');
                if (ch < 0x20)
                        g_string_append_printf(out, "\\u%04x", ch);
                else
                        g_string_append_c(out, (char) ch);
        }
        g_string_append_c(out, '"');
}

/* httpie-style fields: key=string, key:=raw-json. NULL (reported) on error. */
static char *object_from_fields(char **fields, int n)
{
        g_autoptr(GString) out = g_string_new("{");

        for (int i = 0; i < n; i++) {
                const char *f = fields[i], *eq = strchr(f, '=');
                gboolean raw = eq && eq > f && eq[-1] == ':';
                const char *key_end = raw ? eq - 1 : eq;

                if (!eq || key_end == f) {
                        fprintf(stderr, "ingester-send: '%s' is neither a JSON object nor a "
                                        "key=value or key:=json field\n", f);
                        return NULL;
                }
                if (i > 0)
                        g_string_append_c(out, ',');
                append_json_string(out, f, (size_t) (key_end - f));
                g_string_append_c(out, ':');
                if (raw)
                        g_string_append(out, eq + 1);
                else
                        append_json_string(out, eq + 1, strlen(eq + 1));
        }
        g_string_append_c(out, '}');
        return g_string_free(g_steal_pointer(&out), FALSE);
}

static int parse_retry(const char *arg, unsigned *ret)
{
        guint64 n;

        if (g_strcmp0(arg, "forever") == 0) {
                *ret = INGESTER_RETRY_FOREVER;
                return 0;
        }
        if (!g_ascii_string_to_unsigned(arg, 10, 0, UINT_MAX - 1, &n, NULL))
                return -EINVAL;
        *ret = (unsigned) n;
        return 0;
}

static void send_stdin(Sender *s)
{
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        unsigned long lineno = 0;

        while (s->status != EXIT_UNREACHABLE && (n = getline(&line, &cap, stdin)) >= 0) {
                char where[48];
                size_t start = 0, end = (size_t) n;

                lineno++;
                while (start < end && g_ascii_isspace(line[start]))
                        start++;
                while (end > start && g_ascii_isspace(line[end - 1]))
                        end--;
                if (start == end)
                        continue; /* blank lines are skipped */
                g_snprintf(where, sizeof(where), "line %lu", lineno);
                send_event(s, line + start, end - start, where);
        }
        free(line);
}

int main(int argc, char **argv)
{
        g_autofree char *socket_path = NULL, *retry = NULL, *fields_json = NULL;
        g_auto(GStrv) files = NULL, fd_args = NULL, json_files = NULL;
        gboolean dgram = FALSE, seqpacket = FALSE, stream = FALSE, version = FALSE, quiet = FALSE;
        int retry_interval = 100, retry_max_interval = 5000;
        double retry_factor = 2.0;
        unsigned max_retries = 0;
        g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(int));
        __attribute__((cleanup(client_freep))) IngesterClient *client = NULL;
        Sender s = {
                .fds = fds,
                .wait_timeout_ms = 30000,
                .limits = { .max_depth = CODEC_DEPTH_CEILING,
                            .max_members = CODEC_MAX_MEMBERS_CEILING,
                            .max_string = CODEC_MAX_STRING_CEILING },
        };
        const GOptionEntry entries[] = {
                { "socket", 's', 0, G_OPTION_ARG_FILENAME, &socket_path,
                  "Socket to send to (default: $INGESTER_SOCKET, else ingesterd's default "
                  "seqpacket socket, else its dgram socket)", "PATH" },
                { "dgram", 0, 0, G_OPTION_ARG_NONE, &dgram, "Use SOCK_DGRAM", NULL },
                { "seqpacket", 0, 0, G_OPTION_ARG_NONE, &seqpacket, "Use SOCK_SEQPACKET", NULL },
                { "stream", 0, 0, G_OPTION_ARG_NONE, &stream,
                  "Use SOCK_STREAM: one JSON line per event (found by itself otherwise)", NULL },
                { "msgpack", 'm', 0, G_OPTION_ARG_NONE, &s.msgpack,
                  "Send each event encoded as msgpack", NULL },
                { "fd", 0, 0, G_OPTION_ARG_STRING_ARRAY, &fd_args,
                  "Pass inherited descriptor N with every event (repeatable)", "N" },
                { "file", 'f', 0, G_OPTION_ARG_FILENAME_ARRAY, &files,
                  "Open PATH read-only and pass it with every event (repeatable)", "PATH" },
                { "file-json", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &json_files,
                  "Send the JSON object in PATH as one event, whatever its size or layout "
                  "(repeatable)",
                  "PATH" },
                { "retry", 'r', 0, G_OPTION_ARG_STRING, &retry,
                  "Retry connecting N times, or forever (default 0)", "N" },
                { "retry-interval", 0, 0, G_OPTION_ARG_INT, &retry_interval,
                  "First wait between attempts (default 100)", "MS" },
                { "retry-factor", 0, 0, G_OPTION_ARG_DOUBLE, &retry_factor,
                  "Growth of the wait per attempt (default 2)", "F" },
                { "retry-max-interval", 0, 0, G_OPTION_ARG_INT, &retry_max_interval,
                  "Longest wait between attempts (default 5000)", "MS" },
                { "wait", 'w', 0, G_OPTION_ARG_NONE, &s.wait,
                  "Wait until ingesterd answers for each event: on the bus, refused or dropped "
                  "(SEQPACKET and stream)",
                  NULL },
                { "wait-timeout", 0, 0, G_OPTION_ARG_INT, &s.wait_timeout_ms,
                  "How long to wait for each answer (default 30000)", "MS" },
                { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet,
                  "No summary line; only errors are printed", NULL },
                { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
                { NULL },
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("[EVENT...|FIELD...]");
        g_autoptr(GError) error = NULL;
        IngesterTransport transport = INGESTER_TRANSPORT_AUTO;
        int n_events = 0, n_fields = 0, r;

        /* the user's language for GLib's messages and help (UTF-8 "[OPTION…]");
         * numbers stay the C locale's, as JSON and the configuration write them */
        setlocale(LC_ALL, "");
        setlocale(LC_NUMERIC, "C");
        g_option_context_set_summary(
                ctx, "Sends events to ingesterd: each EVENT a JSON object, or FIELDs key=string "
                     "and key:=json\nmaking one object; with neither, one JSON object per line "
                     "of standard input.");
        g_option_context_set_description(
                ctx, "Exit status: 0 every event sent (with --wait: on the bus), 1 some events "
                     "refused\n(invalid or too large, here or by ingesterd; the others were sent), "
                     "2 usage error,\n3 ingesterd unreachable, 4 (--wait) one was dropped by its "
                     "overflow policy,\n5 (--wait) an answer did not come in time.\n"
                     "See ingester-send(1).");
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                fprintf(stderr, "ingester-send: %s\n", error->message);
                return EXIT_USAGE;
        }
        if (version) {
                printf("ingester-send %s\n", PACKAGE_VERSION);
                return EXIT_SENT;
        }
        if (dgram + seqpacket + stream > 1) {
                fprintf(stderr, "ingester-send: --dgram, --seqpacket and --stream exclude each "
                                "other\n");
                return EXIT_USAGE;
        }
        transport = dgram       ? INGESTER_TRANSPORT_DGRAM
                    : seqpacket ? INGESTER_TRANSPORT_SEQPACKET
                    : stream    ? INGESTER_TRANSPORT_STREAM
                                : INGESTER_TRANSPORT_AUTO;
        if (retry && parse_retry(retry, &max_retries) < 0) {
                fprintf(stderr, "ingester-send: --retry %s: not a count or 'forever'\n", retry);
                return EXIT_USAGE;
        }

        for (char **f = fd_args; f && *f; f++) {
                guint64 n;
                int fd;
                if (!g_ascii_string_to_unsigned(*f, 10, 0, G_MAXINT, &n, NULL) ||
                    fcntl((int) n, F_GETFD) < 0) {
                        fprintf(stderr, "ingester-send: --fd %s: not an open descriptor\n", *f);
                        return EXIT_USAGE;
                }
                fd = (int) n;
                g_array_append_val(s.fds, fd);
        }
        for (char **f = files; f && *f; f++) {
                int fd = open(*f, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        fprintf(stderr, "ingester-send: --file %s: %s\n", *f, g_strerror(errno));
                        return EXIT_USAGE;
                }
                g_array_append_val(s.fds, fd);
        }
        if (s.fds->len > CONFIG_MAX_FDS_CEILING) {
                fprintf(stderr, "ingester-send: at most %u descriptors per event\n",
                        CONFIG_MAX_FDS_CEILING);
                return EXIT_USAGE;
        }

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                while (g_ascii_isspace(*a))
                        a++;
                if (*a == '{')
                        n_events++;
                else
                        n_fields++;
        }
        if (json_files && (n_events > 0 || n_fields > 0)) {
                fprintf(stderr, "ingester-send: give --file-json or events on the command line, "
                                "not both\n");
                return EXIT_USAGE;
        }
        if (n_events > 0 && n_fields > 0) {
                fprintf(stderr, "ingester-send: give either JSON objects or fields, not both\n");
                return EXIT_USAGE;
        }

        r = ingester_client_new(&client, socket_path, transport, 0);
        s.client = client;
        if (r == 0 && max_retries > 0)
                r = ingester_client_set_retry(s.client, max_retries, (unsigned) MAX(retry_interval, 0),
                                              retry_factor, (unsigned) MAX(retry_max_interval, 0));
        if (r < 0) {
                fprintf(stderr, "ingester-send: %s\n",
                        r == -ENAMETOOLONG ? "socket path too long"
                                           : "bad retry settings (interval > 0, factor >= 1, "
                                             "max interval >= interval)");
                return EXIT_USAGE;
        }

        if (n_fields > 0) {
                fields_json = object_from_fields(argv + 1, argc - 1);
                if (!fields_json)
                        return EXIT_USAGE;
        }
        r = ingester_client_connect(s.client);
        if (r == 0 && ingester_client_get_transport(s.client) == INGESTER_TRANSPORT_STREAM) {
                if (s.msgpack || s.fds->len > 0) {
                        fprintf(stderr, "ingester-send: %s is a stream socket: it carries JSON "
                                        "lines, without descriptors\n",
                                ingester_client_get_path(s.client));
                        return EXIT_USAGE;
                }
                s.stream = TRUE;
        }
        if (r < 0)
                report_lost(&s, r);
        else if (json_files)
                for (char **f = json_files; *f && s.status != EXIT_UNREACHABLE; f++) {
                        g_autofree char *text = NULL;
                        g_autoptr(GError) e = NULL;
                        gsize len = 0;
                        if (!g_file_get_contents(*f, &text, &len, &e)) {
                                fprintf(stderr, "ingester-send: --file-json %s\n", e->message);
                                s.refused++;
                                s.status = MAX(s.status, EXIT_NOT_SENT);
                                continue;
                        }
                        send_event(&s, text, len, *f);
                }
        else if (fields_json)
                send_event(&s, fields_json, strlen(fields_json), "fields");
        else if (n_events > 0)
                for (int i = 1; i < argc && s.status != EXIT_UNREACHABLE; i++) {
                        char where[32];
                        g_snprintf(where, sizeof(where), "argument %d", i);
                        send_event(&s, argv[i], strlen(argv[i]), where);
                }
        else
                send_stdin(&s);

        if (!quiet)
                fprintf(stderr, "ingester-send: %u event%s sent, %u refused\n", s.sent,
                        s.sent == 1 ? "" : "s", s.refused);
        return s.status;
}

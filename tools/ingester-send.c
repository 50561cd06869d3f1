/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ingester-send — send events to ingesterd from the shell.
 *
 *   ingester-send [OPTIONS] '{"type":"x"}' ...     one event per argument
 *   ingester-send [OPTIONS] type=x port:=443        one event from fields
 *   ingester-send [OPTIONS] < events.jsonl          one event per line
 *
 * Each event is checked with the daemon's own codec (src/codec.c) before it
 * is sent, so what this tool accepts is exactly what ingesterd accepts. One
 * connection serves every event of a run. Exit status: 0 every event sent,
 * 1 some events were invalid (the others were sent), 2 usage, 3 the daemon
 * could not be reached or a send failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "codec.h"
#include "config.h"

enum { EXIT_SENT = 0, EXIT_INVALID = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

typedef struct {
        int fd;
        int type;
        gboolean msgpack, quiet; /* GOption writes gboolean, not bool */
        GArray *fds;
} Sender;

static int open_socket(const char *path, int type)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        return fd;
}

/* JSON tree -> msgpack, for --msgpack */
static void pack(msgpack_packer *pk, struct json_object *o)
{
        switch (json_object_get_type(o)) {
        case json_type_null:
                msgpack_pack_nil(pk);
                break;
        case json_type_boolean:
                json_object_get_boolean(o) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
                break;
        case json_type_int:
                if (json_object_get_int64(o) == INT64_MAX)
                        msgpack_pack_uint64(pk, json_object_get_uint64(o));
                else
                        msgpack_pack_int64(pk, json_object_get_int64(o));
                break;
        case json_type_double:
                msgpack_pack_double(pk, json_object_get_double(o));
                break;
        case json_type_string:
                msgpack_pack_str_with_body(pk, json_object_get_string(o),
                                           (size_t) json_object_get_string_len(o));
                break;
        case json_type_array:
                msgpack_pack_array(pk, json_object_array_length(o));
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        pack(pk, json_object_array_get_idx(o, i));
                break;
        case json_type_object:
                msgpack_pack_map(pk, (size_t) json_object_object_length(o));
                json_object_object_foreach(o, k, v)
                {
                        msgpack_pack_str_with_body(pk, k, strlen(k));
                        pack(pk, v);
                }
                break;
        }
}

static int send_packet(Sender *s, const char *buf, size_t len)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * CONFIG_MAX_FDS_CEILING)];
        } control;
        struct iovec iov = { (void *) buf, len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (s->fds->len) {
                struct cmsghdr *c;
                memset(&control, 0, sizeof(control));
                msg.msg_control = &control;
                msg.msg_controllen = CMSG_SPACE(sizeof(int) * s->fds->len);
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * s->fds->len);
                memcpy(CMSG_DATA(c), s->fds->data, sizeof(int) * s->fds->len);
        }
        return sendmsg(s->fd, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* Returns EXIT_SENT, EXIT_INVALID (reported) or EXIT_UNREACHABLE (reported). */
static int send_event(Sender *s, const char *json, const char *where)
{
        CodecLimits limits = CODEC_LIMITS_DEFAULT;
        CodecEvent ev = { 0 };
        CodecReason r = codec_decode(&limits, CODEC_FORMAT_JSON, json, strlen(json), &ev);
        int e;

        if (r != CODEC_OK) {
                fprintf(stderr, "ingester-send: %s: not sent: %s\n", where, codec_reason_name(r));
                return EXIT_INVALID;
        }
        codec_event_clear(&ev);
        if (s->msgpack) {
                struct json_object *o = json_tokener_parse(json);
                msgpack_sbuffer sb;
                msgpack_packer pk;
                msgpack_sbuffer_init(&sb);
                msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
                pack(&pk, o);
                json_object_put(o);
                e = send_packet(s, sb.data, sb.size);
                msgpack_sbuffer_destroy(&sb);
        } else {
                e = send_packet(s, json, strlen(json));
        }
        if (e < 0) {
                fprintf(stderr, "ingester-send: %s: %s\n", where, g_strerror(-e));
                return EXIT_UNREACHABLE;
        }
        return EXIT_SENT;
}

/* httpie-style fields: key=string, key:=raw-json */
static char *object_from_fields(char **fields, int n)
{
        struct json_object *o = json_object_new_object();
        char *out;

        for (int i = 0; i < n; i++) {
                char *eq = strchr(fields[i], '=');
                g_autofree char *key = NULL;
                struct json_object *v;
                if (!eq || eq == fields[i]) {
                        fprintf(stderr, "ingester-send: '%s' is neither a JSON object nor a "
                                        "key=value or key:=json field\n", fields[i]);
                        json_object_put(o);
                        return NULL;
                }
                if (eq > fields[i] && eq[-1] == ':') {
                        key = g_strndup(fields[i], (gsize) (eq - 1 - fields[i]));
                        v = json_tokener_parse(eq + 1);
                        if (!v && strcmp(eq + 1, "null") != 0) {
                                fprintf(stderr, "ingester-send: field %s: '%s' is not JSON\n",
                                        key, eq + 1);
                                json_object_put(o);
                                return NULL;
                        }
                } else {
                        key = g_strndup(fields[i], (gsize) (eq - fields[i]));
                        v = json_object_new_string(eq + 1);
                }
                json_object_object_add(o, key, v);
        }
        out = g_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        return out;
}

static char *default_socket(int *type)
{
        const char *env = g_getenv("INGESTER_SOCKET");
        g_autofree char *dir = NULL;
        char *seq;

        if (env && *env)
                return g_strdup(env);
        dir = config_default_socket_dir(NULL);
        if (!dir)
                return NULL;
        seq = g_build_filename(dir, "seqpacket.sock", NULL);
        if (g_file_test(seq, G_FILE_TEST_EXISTS))
                return seq;
        g_free(seq);
        *type = SOCK_DGRAM;
        return g_build_filename(dir, "dgram.sock", NULL);
}

int main(int argc, char **argv)
{
        g_autofree char *socket_path = NULL;
        g_auto(GStrv) files = NULL, fd_args = NULL;
        gboolean dgram = FALSE, seqpacket = FALSE, version = FALSE;
        Sender s = { .fd = -1, .type = 0 };
        const GOptionEntry entries[] = {
                { "socket", 's', 0, G_OPTION_ARG_FILENAME, &socket_path,
                  "Socket to send to (default: $INGESTER_SOCKET, else the default seqpacket, "
                  "else dgram socket)", "PATH" },
                { "dgram", 0, 0, G_OPTION_ARG_NONE, &dgram, "Use SOCK_DGRAM", NULL },
                { "seqpacket", 0, 0, G_OPTION_ARG_NONE, &seqpacket, "Use SOCK_SEQPACKET", NULL },
                { "msgpack", 'm', 0, G_OPTION_ARG_NONE, &s.msgpack,
                  "Send each event as msgpack", NULL },
                { "fd", 0, 0, G_OPTION_ARG_STRING_ARRAY, &fd_args,
                  "Pass inherited descriptor N with every event (repeatable)", "N" },
                { "file", 'f', 0, G_OPTION_ARG_FILENAME_ARRAY, &files,
                  "Open PATH read-only and pass it with every event (repeatable)", "PATH" },
                { "quiet", 'q', 0, G_OPTION_ARG_NONE, &s.quiet, "Print nothing but errors", NULL },
                { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
                { NULL },
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("[EVENT...|FIELD...]");
        g_autoptr(GError) error = NULL;
        int status = EXIT_SENT, sent = 0;

        g_option_context_set_summary(
                ctx, "Sends events to ingesterd: each EVENT a JSON object, or FIELDs key=string "
                     "and key:=json\nmaking one object; with neither, one JSON object per line "
                     "of standard input.");
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                fprintf(stderr, "ingester-send: %s\n", error->message);
                return EXIT_USAGE;
        }
        if (version) {
                printf("ingester-send %s\n", PACKAGE_VERSION);
                return EXIT_SENT;
        }
        if (dgram && seqpacket) {
                fprintf(stderr, "ingester-send: --dgram and --seqpacket exclude each other\n");
                return EXIT_USAGE;
        }
        s.fds = g_array_new(FALSE, FALSE, sizeof(int));
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
                int fd = open(*f, O_RDONLY | O_CLOEXEC);
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

        s.type = SOCK_SEQPACKET;
        if (!socket_path && !(socket_path = default_socket(&s.type))) {
                fprintf(stderr, "ingester-send: no socket: set INGESTER_SOCKET, "
                                "XDG_RUNTIME_DIR, or give --socket\n");
                return EXIT_USAGE;
        }
        if (dgram)
                s.type = SOCK_DGRAM;
        s.fd = open_socket(socket_path, seqpacket || dgram ? s.type : SOCK_SEQPACKET);
        if (s.fd == -EPROTOTYPE && !seqpacket)
                s.fd = open_socket(socket_path, SOCK_DGRAM);
        if (s.fd < 0) {
                fprintf(stderr, "ingester-send: cannot reach ingesterd at %s: %s\n", socket_path,
                        g_strerror(-s.fd));
                return EXIT_UNREACHABLE;
        }

        if (argc > 1 && argv[1][0] == '{') {
                for (int i = 1; i < argc && status != EXIT_UNREACHABLE; i++) {
                        g_autofree char *where = g_strdup_printf("argument %d", i);
                        int r = send_event(&s, argv[i], where);
                        status = MAX(status, r);
                        sent += r == EXIT_SENT;
                }
        } else if (argc > 1) {
                g_autofree char *json = object_from_fields(argv + 1, argc - 1);
                if (!json)
                        return EXIT_USAGE;
                status = send_event(&s, json, "fields");
                sent += status == EXIT_SENT;
        } else {
                char *line = NULL;
                size_t cap = 0;
                ssize_t n;
                unsigned lineno = 0;
                while (status != EXIT_UNREACHABLE && (n = getline(&line, &cap, stdin)) >= 0) {
                        g_autofree char *where = NULL;
                        int r;
                        lineno++;
                        if (n > 0 && line[n - 1] == '\n')
                                line[--n] = '\0';
                        if (g_strstrip(line)[0] == '\0')
                                continue; /* blank lines are skipped */
                        where = g_strdup_printf("line %u", lineno);
                        r = send_event(&s, line, where);
                        status = MAX(status, r);
                        sent += r == EXIT_SENT;
                }
                free(line);
        }
        if (!s.quiet)
                fprintf(stderr, "ingester-send: %d event%s sent\n", sent, sent == 1 ? "" : "s");
        close(s.fd);
        return status;
}

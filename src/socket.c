/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * socket.c — binding the daemon's AF_UNIX sockets safely, and adopting
 * systemd's (see socket.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "socket.h"
#include "util.h"

GQuark listener_error_quark(void)
{
        return g_quark_from_static_string("ingester-listener-error-quark");
}


/* The socket's directory: created 0700 (0711 when the socket is for others
 * too: they need to reach it, not to list it), else it must be ours and not
 * group/world writable. */
static gboolean prepare_directory(const char *dir, mode_t socket_mode, GError **error)
{
        struct stat st;

        if (mkdir(dir, socket_mode & 0077 ? 0711 : 0700) < 0 && errno != EEXIST) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "cannot create socket directory %s: %s", dir, g_strerror(errno));
                return FALSE;
        }
        if (lstat(dir, &st) < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", dir,
                            g_strerror(errno));
                return FALSE;
        }
        if (!S_ISDIR(st.st_mode)) {
                g_set_error(error, LISTENER_ERROR, LISTENER_ERROR_UNSAFE_PATH,
                            "socket directory %s is not a directory (a symlink is refused)", dir);
                return FALSE;
        }
        if (st.st_uid != geteuid()) {
                g_set_error(error, LISTENER_ERROR, LISTENER_ERROR_UNSAFE_PATH,
                            "socket directory %s belongs to uid %u, not to us (uid %u)", dir,
                            (unsigned) st.st_uid, (unsigned) geteuid());
                return FALSE;
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                g_set_error(error, LISTENER_ERROR, LISTENER_ERROR_UNSAFE_PATH,
                            "socket directory %s is writable by group or others (mode %04o)", dir,
                            (unsigned) (st.st_mode & 07777));
                return FALSE;
        }
        return TRUE;
}

static int socket_type(Transport t)
{
        switch (t) {
        case TRANSPORT_DGRAM:
                return SOCK_DGRAM;
        case TRANSPORT_SEQPACKET:
                return SOCK_SEQPACKET;
        case TRANSPORT_STREAM:
                break;
        }
        return SOCK_STREAM;
}

static gboolean fill_sockaddr(const char *path, struct sockaddr_un *sa, socklen_t *len,
                              GError **error)
{
        size_t n = strlen(path);

        if (n >= sizeof(sa->sun_path)) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                            "socket path %s is longer than the %zu bytes AF_UNIX allows", path,
                            sizeof(sa->sun_path) - 1);
                return FALSE;
        }
        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        memcpy(sa->sun_path, path, n + 1);
        *len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1);
        return TRUE;
}

/*
 * What is at the path now? Nothing: fine. A symlink or a non-socket: refuse.
 * A socket: if something answers a connect() it is another daemon's (refuse);
 * if the kernel says ECONNREFUSED nobody listens there and it is stale.
 */
static gboolean clear_path(const char *path, Transport t, GError **error)
{
        _cleanup_close_ int probe = -1;
        struct sockaddr_un sa;
        socklen_t salen;
        struct stat st;

        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return TRUE;
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", path,
                            g_strerror(errno));
                return FALSE;
        }
        if (S_ISLNK(st.st_mode)) {
                g_set_error(error, LISTENER_ERROR, LISTENER_ERROR_UNSAFE_PATH,
                            "%s is a symbolic link; refusing to replace it", path);
                return FALSE;
        }
        if (!S_ISSOCK(st.st_mode)) {
                g_set_error(error, LISTENER_ERROR, LISTENER_ERROR_UNSAFE_PATH,
                            "%s exists and is not a socket; refusing to replace it", path);
                return FALSE;
        }
        if (!fill_sockaddr(path, &sa, &salen, error))
                return FALSE;
        probe = socket(AF_UNIX, socket_type(t) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (probe < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s",
                            g_strerror(errno));
                return FALSE;
        }
        if (connect(probe, (struct sockaddr *) &sa, salen) == 0 || errno == EAGAIN ||
            errno == EPROTOTYPE) {
                /* EAGAIN: a live SEQPACKET listener with a full backlog; EPROTOTYPE: a live
                 * socket of the other type. Either way somebody answers. */
                g_set_error(error, LISTENER_ERROR, LISTENER_ERROR_ADDRESS_IN_USE,
                            "%s is in use: another process is listening on it", path);
                return FALSE;
        }
        if (errno != ECONNREFUSED) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "cannot tell whether %s is in use: %s", path, g_strerror(errno));
                return FALSE;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "cannot remove stale socket %s: %s", path, g_strerror(errno));
                return FALSE;
        }
        g_message("replaced stale socket %s", path);
        return TRUE;
}

void socket_set_rcvbuf(int fd, int size)
{
        /* SO_RCVBUFFORCE passes net.core.rmem_max when we may (CAP_NET_ADMIN) */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

gboolean socket_bind(const ListenSpec *spec, int receive_buffer, unsigned backlog,
                     BoundSocket *ret, GError **error)
{
        g_autofree char *dir = g_path_get_dirname(spec->path);
        _cleanup_close_ int fd = -1;
        struct sockaddr_un sa;
        socklen_t salen;
        struct stat st;
        mode_t old_umask;
        int r, one = 1;

        if (!fill_sockaddr(spec->path, &sa, &salen, error))
                return FALSE;
        if (!prepare_directory(dir, spec->mode, error))
                return FALSE;
        if (!clear_path(spec->path, spec->transport, error))
                return FALSE;

        fd = socket(AF_UNIX, socket_type(spec->transport) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s",
                            g_strerror(errno));
                return FALSE;
        }
        /* the mode is right from the first moment: no window between bind() and chmod() */
        old_umask = umask(~spec->mode & 0777);
        r = bind(fd, (struct sockaddr *) &sa, salen);
        umask(old_umask);
        if (r < 0) {
                int e = errno;
                g_set_error(error, e == EADDRINUSE ? LISTENER_ERROR : G_IO_ERROR,
                            e == EADDRINUSE ? LISTENER_ERROR_ADDRESS_IN_USE
                                            : g_io_error_from_errno(e),
                            "cannot bind %s: %s", spec->path, g_strerror(e));
                return FALSE;
        }
        /* The inode we unlink at exit is the one lstat() finds now, by path: nobody
         * else can have put another file there since bind(), as the directory is
         * ours and writable by nobody else (prepare_directory()). Still, what we
         * record must be a socket of ours, or we would later unlink a stranger's
         * file as our own. */
        if (lstat(spec->path, &st) < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s",
                            spec->path, g_strerror(errno));
                return FALSE;
        }
        if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
                g_set_error(error, LISTENER_ERROR, LISTENER_ERROR_UNSAFE_PATH,
                            "%s changed under us after bind(): not our socket any more",
                            spec->path);
                return FALSE;
        }
        ret->owned = true;
        ret->dev = st.st_dev;
        ret->ino = st.st_ino;
        if (spec->group != (gid_t) -1 && lchown(spec->path, (uid_t) -1, spec->group) < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "cannot give %s to group %u: %s", spec->path, (unsigned) spec->group,
                            g_strerror(errno));
                ret->fd = steal_fd(&fd);
                return FALSE;
        }
        if (spec->transport == TRANSPORT_DGRAM &&
            setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "SO_PASSCRED on %s: %s", spec->path, g_strerror(errno));
                ret->fd = steal_fd(&fd);
                return FALSE;
        }
        socket_set_rcvbuf(fd, receive_buffer);
        if (transport_is_connected(spec->transport) && listen(fd, (int) backlog) < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "listen on %s: %s",
                            spec->path, g_strerror(errno));
                ret->fd = steal_fd(&fd);
                return FALSE;
        }
        ret->fd = steal_fd(&fd);
        return TRUE;
}

gboolean socket_adopt(const ListenSpec *spec, BoundSocket *ret, GError **error)
{
        int one = 1;
        int flags = fcntl(spec->fd, F_GETFL);

        ret->fd = spec->fd;
        ret->owned = false; /* systemd's: used as it is, never unlinked */
        if (flags < 0 || fcntl(ret->fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
            fcntl(ret->fd, F_SETFD, FD_CLOEXEC) < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "activated socket %d: %s", ret->fd, g_strerror(errno));
                return FALSE;
        }
        if (spec->transport == TRANSPORT_DGRAM &&
            setsockopt(ret->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "SO_PASSCRED on activated socket: %s", g_strerror(errno));
                return FALSE;
        }
        return TRUE;
}

void socket_activated_free(ActivatedSocket *a, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                g_free(a[i].name);
                g_free(a[i].path);
        }
        g_free(a);
}

ssize_t socket_activated(ActivatedSocket **ret, GError **error)
{
#ifdef HAVE_SYSTEMD
        g_auto(GStrv) names = NULL;
        /* unsets LISTEN_FDS and LISTEN_FDNAMES so children do not inherit them */
        int n = sd_listen_fds_with_names(1, &names);
        ActivatedSocket *a;

        *ret = NULL;
        if (n < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-n),
                            "systemd socket activation: %s", g_strerror(-n));
                return -1;
        }
        a = g_new0(ActivatedSocket, MAX(n, 1));
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                /* systemd's name for an fd without FileDescriptorName= */
                const char *name = names && names[i] && strcmp(names[i], "unknown") != 0
                                           ? names[i]
                                           : NULL;
                struct sockaddr_un sa;
                socklen_t salen = sizeof(sa);

                if (sd_is_socket(fd, AF_UNIX, SOCK_DGRAM, -1) > 0)
                        a[i].transport = TRANSPORT_DGRAM;
                else if (sd_is_socket(fd, AF_UNIX, SOCK_SEQPACKET, 1) > 0)
                        a[i].transport = TRANSPORT_SEQPACKET;
                else if (sd_is_socket(fd, AF_UNIX, SOCK_STREAM, 1) > 0)
                        a[i].transport = TRANSPORT_STREAM;
                else {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                    "activated fd %d%s%s%s is not an AF_UNIX datagram socket "
                                    "nor a listening seqpacket or stream socket",
                                    fd, name ? " (" : "", name ? name : "", name ? ")" : "");
                        socket_activated_free(a, (size_t) n);
                        return -1;
                }
                if (getsockname(fd, (struct sockaddr *) &sa, &salen) < 0 ||
                    salen <= offsetof(struct sockaddr_un, sun_path))
                        sa.sun_path[0] = '\0';
                sa.sun_path[sizeof(sa.sun_path) - 1] = '\0';
                a[i].fd = fd;
                a[i].name = g_strdup(name);
                a[i].path = sa.sun_path[0] ? g_strdup(sa.sun_path) : NULL;
        }
        *ret = a;
        return n;
#else
        (void) error;
        *ret = NULL;
        return 0;
#endif
}

void socket_unlink(BoundSocket *s)
{
        struct stat st;

        if (s->owned && lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
                (void) unlink(s->path); /* only while it is still the one we bound */
        s->owned = false;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* largefd.c — large events in a memfd (see largefd.h). */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "largefd.h"

LargeFdKind largefd_kind(const char *buf, size_t len, unsigned n_fds)
{
        if (len == 0 && n_fds == 1)
                return LARGEFD_JOURNAL;
        if (n_fds >= 1 && len == strlen(LARGEFD_ARGS_VIA_FD) &&
            memcmp(buf, LARGEFD_ARGS_VIA_FD, len) == 0)
                return LARGEFD_JSONCOMM;
        return LARGEFD_NONE;
}

Reason largefd_read(int fd, size_t max, char **ret, size_t *ret_len)
{
        struct stat st;
        size_t size, got = 0;
        char *buf;

        /* shmem only: F_GET_SEALS answers for memfds and tmpfs files alone */
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fcntl(fd, F_GET_SEALS) < 0)
                return REASON_LARGE_NOT_MEMFD;
        if (st.st_size <= 0)
                return reason_of_codec(CODEC_E_EMPTY);
        if ((guint64) st.st_size > max)
                return REASON_LARGE_TOO_LARGE;
        size = (size_t) st.st_size;
        buf = g_try_malloc(size);
        if (!buf)
                return REASON_LARGE_TOO_LARGE;
        while (got < size) {
                ssize_t n = pread(fd, buf + got, size - got, (off_t) got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        g_free(buf);
                        return REASON_LARGE_UNREADABLE;
                }
                if (n == 0) {
                        /* it shrank while it was read */
                        g_free(buf);
                        return reason_of_codec(CODEC_E_TRUNCATED);
                }
                got += (size_t) n;
        }
        *ret = buf;
        *ret_len = size;
        return 0;
}

#include "resolver/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads up to cap bytes, fewer at EOF. */
static int readfile_fd(int fd, char *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	while (n < cap) {
		ssize_t got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		n += (size_t)got;
	}
	*len = n;
	return 0;
}

static int readfile_open(const char *path, size_t max, struct stat *st)
{
	/* O_NONBLOCK: opening a FIFO returns at once, then fstat refuses it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	int rc = fstat(fd, st) < 0 ? -errno : 0;
	if (!rc && S_ISDIR(st->st_mode))
		rc = -EISDIR;
	else if (!rc && !S_ISREG(st->st_mode))
		rc = -EINVAL;
	else if (!rc && (st->st_size < 0 || (uint64_t)st->st_size > max))
		rc = -EFBIG;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int readfile(const char *path, size_t max, char **out, size_t *len, int64_t *mtime_ms)
{
	struct stat st;
	int fd = readfile_open(path, max, &st);
	if (fd < 0)
		return fd;
	size_t cap = (size_t)st.st_size; /* what it holds now, never more than max */
	char *buf = malloc(cap + 1);
	int rc = buf ? readfile_fd(fd, buf, cap, len) : -ENOMEM;
	close(fd);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	buf[*len] = '\0';
	if (mtime_ms)
		*mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	*out = buf;
	return 0;
}

const char *readfile_strerror(int rc)
{
	if (rc == -EINVAL)
		return "not a regular file";
	if (rc == -EFBIG)
		return "too large";
	return strerror(-rc);
}

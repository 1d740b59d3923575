#include "resolver/sync/cachefile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resolver/config.h"
#include "resolver/random.h"
#include "zones/nacos/nacos.h"

/* A fresh temporary file beside path, mode 0600. Not mkstemp: glibc's mkstemp opens through an
 * internal call that ThreadSanitizer cannot see, and libuv closes its sockets with a raw
 * syscall, so a descriptor number the loop thread once used and this worker thread reuses
 * looks to it like a race on a socket. open() is intercepted and starts the descriptor anew. */
static int cachefile_open_temp(const char *path, char *tmp, size_t tmplen)
{
	uint64_t st[2];
	random_seed(st);
	for (int tries = 0; tries < 16; tries++) {
		snprintf(tmp, tmplen, "%s.%016" PRIx64, path, random_next(st));
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	return -EEXIST;
}

static int cachefile_write_atomic(const char *path, const char *text)
{
	char tmp[CONFIG_PATH_LEN + 24];
	int fd = cachefile_open_temp(path, tmp, sizeof(tmp));
	if (fd < 0)
		return fd;
	size_t len = strlen(text), off = 0;
	int rc = 0;
	while (off < len && rc == 0) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno != EINTR)
			rc = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int cachefile_store(const char *path, const struct nacos_registry *r)
{
	char *text = nacos_registry_dump(r);
	int rc = text ? cachefile_write_atomic(path, text) : -ENOMEM;
	free(text);
	return rc;
}

#include "resolver/sync/cachefile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resolver/config.h"
#include "zones/nacos/nacos.h"

static int cachefile_write_atomic(const char *path, const char *text)
{
	char tmp[CONFIG_PATH_LEN + 16];
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	int fd = mkstemp(tmp); /* mode 0600 */
	if (fd < 0)
		return -errno;
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

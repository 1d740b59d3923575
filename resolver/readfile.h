/* Whole files from disk (configuration, password file, registry file, cache file): regular
 * files only, never more than a cap, so a directory, /dev/zero or a FIFO cannot hang or exhaust
 * the daemon. Blocking: call before the loop or off it. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* The most any reader accepts: a registry or cache file of 256 MiB is far beyond 100,000
 * instances. Callers may pass a smaller cap. */
#define READFILE_MAX_SIZE (256u << 20)

/*
 * Reads the regular file at path (symlinks followed) into a malloc'ed, NUL-terminated buffer
 * (*out, owned by the caller; *len excludes the NUL; *mtime_ms its modification time, may be
 * NULL). 0, or -errno: -EINVAL when it is not a regular file, -EFBIG beyond max bytes.
 */
int readfile(const char *path, size_t max, char **out, size_t *len, int64_t *mtime_ms);
/* The reason behind readfile's rc, for a log line. */
const char *readfile_strerror(int rc);

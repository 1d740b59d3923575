/* The cache file: the registry as JSON (nacos_registry_dump), replaced atomically. Blocking
 * I/O: the sync calls it on the thread pool, and at close. */
#pragma once

struct nacos_registry;

/* Writes r to path: a temp file (mode 0600: it names hosts of the whole registry) in the same
 * directory, fsync, rename. 0 or a negative errno; on error path keeps what it held. */
int cachefile_store(const char *path, const struct nacos_registry *r);

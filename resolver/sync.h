/* Keeps the registry in step with a Nacos cluster over HTTP, and the cache file. */
#pragma once
#include <stdbool.h>
#include <uv.h>

struct config;
struct registry;
struct sync;

typedef void (*sync_fetch_cb)(void *arg);

/* Loads cfg->cache_file when set, publishes it, and starts syncing. 0 or negative errno. */
int sync_new(uv_loop_t *loop, const struct config *cfg, struct registry *reg, struct sync **out);
/* A query hit a catalog service that is not tracked yet: start tracking it. cb runs once, when
 * its first fetch ends (success or not) or after cfg->fetch_wait_ms, whichever is first; never
 * inside this call. <0: cb will not run. */
int sync_track(struct sync *s, const char *namespace_id, const char *group, const char *service,
	       sync_fetch_cb cb, void *arg);
/* A query was answered from this service: it stays tracked (cheap; called per answer). */
void sync_touch(struct sync *s, const char *namespace_id, const char *group, const char *service);
bool sync_ready(const struct sync *s); /* first catalog sync or cache load done */
void sync_close(struct sync *s);

/* The registry source "file:PATH": a snapshot file served as it is, reloaded on demand. */
#pragma once
#include <uv.h>

struct config;
struct snapstore;
struct filesrc;

/* Loads path now (blocking: call before uv_run) and publishes it into reg. NULL on error, after
 * logging why. cfg is borrowed until filesrc_reload gives another. */
struct filesrc *filesrc_new(uv_loop_t *loop, const char *path, const struct config *cfg,
			    struct snapstore *reg);
/* Re-reads the file off the loop (uv_queue_work) and publishes on success; a bad file is logged
 * and the old data stays. cfg: the configuration to build with from now on. */
void filesrc_reload(struct filesrc *f, const struct config *cfg);
void filesrc_close(struct filesrc *f); /* frees once nothing is in flight */

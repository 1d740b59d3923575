/* When the cache file is written: after a publish, at most once per SYNCCACHE_PERIOD_MS, on
 * libuv's thread pool from services the owner lends (cachefile.c does the writing), and once
 * more at close; and reading it back at start. Knows no tracked services: the owner lends them
 * as a registry. Everything here runs on the sync's loop thread, the writes on the pool. */
#pragma once
#include <stdint.h>
#include <uv.h>

struct config;
struct lending;
struct nacos_registry;
struct synccache;
struct syncio;

#define SYNCCACHE_PERIOD_MS 1000 /* the file is written at most this often */

struct synccache_hooks {
	void *owner;
	/* Every service held, borrowed (not copied) into a registry made for the write and freed
	 * with nacos_registry_free_lent. NULL on ENOMEM. */
	struct nacos_registry *(*lend)(void *owner);
	/* The timer and any write in flight ended after synccache_close. */
	void (*closed)(void *owner);
};

struct synccache_stats {
	uint64_t writes, failures;
};

/* The cache file of cfg (borrowed, read live: a reload may change or clear cache-file); io
 * tells the time; a write holds a ticket of lent. NULL on ENOMEM; h is copied. */
struct synccache *synccache_new(uv_loop_t *loop, const struct syncio *io, const struct config *cfg,
				struct lending *lent, const struct synccache_hooks *h);
/* Makes the room's timer: from here on synccache_close must come before synccache_free. */
void synccache_start(struct synccache *c);
/* A snapshot was published: the file is written soon. */
void synccache_schedule(struct synccache *c);
/* Changes not published yet: the write at close must have them too. */
void synccache_dirty(struct synccache *c);
/* Writes what is not written yet at once, blocking the loop (it serves nothing any more), or
 * after the write in flight; the closed hook follows once everything has ended. */
void synccache_close(struct synccache *c);
void synccache_free(struct synccache *c); /* NULL-safe; after the closed hook or before the start */
void synccache_get_stats(const struct synccache *c, struct synccache_stats *out);

/* Blocking, before the loop: the registry in path (*out, owned by the caller), or a negative
 * errno with the reason logged (a missing file at info level). */
int synccache_load(const char *path, struct nacos_registry **out);

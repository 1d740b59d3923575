/* Publishing snapshots: builds on libuv's thread pool from the services the owner lends, one at
 * a time, changes within a short window sharing one build, then the atomic swap in the
 * snapstore. Knows no services: the owner makes each build's job. Everything here runs on the
 * sync's loop thread (the builds themselves on the pool, see snapjob.h). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct lending;
struct snapjob;
struct snapstore;
struct syncpub;

#define SYNCPUB_DELAY_MS 100 /* changes within this window share one snapshot */

struct syncpub_hooks {
	void *owner;
	/* A job for a snapshot of everything held now, its services lent (NULL on ENOMEM);
	 * *complete: it lists every catalog of every zone. */
	struct snapjob *(*job)(void *owner, bool *complete);
	/* A snapshot was published: the cache file is due. */
	void (*published)(void *owner);
	/* A build on the pool ended, not cancelled, the room not closing; complete as the job
	 * said, and false when the build failed. */
	void (*built)(void *owner, bool complete);
	/* The room's timer and build ended after syncpub_close. */
	void (*closed)(void *owner);
};

struct syncpub_stats {
	uint64_t publishes;
	double build_ms, build_cpu_ms; /* of the last build */
};

/* Publishes into reg; builds begin and end tickets of lent. NULL on ENOMEM; h is copied. */
struct syncpub *syncpub_new(uv_loop_t *loop, struct snapstore *reg, struct lending *lent,
			    const struct syncpub_hooks *h);
/* Makes the room's timer: from here on syncpub_close must come before syncpub_free. */
void syncpub_start(struct syncpub *p);
/* Something changed: a build within SYNCPUB_DELAY_MS. */
void syncpub_soon(struct syncpub *p);
/* A build now (the pending window ends), or right after the one in flight. */
void syncpub_now(struct syncpub *p);
/* A query waits for data that just came in: build now, and if one is in flight, another right
 * after it rather than SYNCPUB_DELAY_MS later. */
void syncpub_urgent(struct syncpub *p);
/* Builds and publishes on this thread: before uv_run, where nothing is served yet. */
void syncpub_blocking(struct syncpub *p);
/* Whether the last snapshot published listed every catalog. */
bool syncpub_complete(const struct syncpub *p);
/* Whether changes wait for their build (the window is open). */
bool syncpub_pending(const struct syncpub *p);
/* Cancels the build not yet started; the closed hook follows once everything has ended. */
void syncpub_close(struct syncpub *p);
void syncpub_free(struct syncpub *p); /* NULL-safe; after the closed hook, or before the start */
void syncpub_get_stats(const struct syncpub *p, struct syncpub_stats *out);

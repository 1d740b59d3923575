/* Names below a group whose catalog cannot be listed (refused, or failing from the start): the
 * services a query's name may belong to are fetched by name, within a rate, and the query is
 * answered once every fetch has ended; names found absent are remembered for the negative TTL,
 * so that random names do not reach Nacos again and again. Everything here runs on the sync's
 * loop thread. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "resolver/sync/syncwait.h"

struct config;
struct query_miss;
struct snapshot;
struct syncmiss;
struct synctrack;
struct synctrack_entry;

#define SYNCMISS_RATE  50.0  /* fetches of unknown names per second... */
#define SYNCMISS_BURST 100.0 /* ...after a burst of this many */

struct syncmiss_hooks {
	void *owner;
	int64_t (*now)(void *owner);
	/* Fetches e at once: a query waits. */
	void (*fetch)(void *owner, struct synctrack_entry *e);
	/* A snapshot of e's data alone (freed by the caller), or NULL. */
	struct snapshot *(*snap)(void *owner, struct synctrack_entry *e);
	/* cb runs soon, never inside this call, and at once when the sync closes. 0 or <0. */
	int (*later)(void *owner, syncwait_cb cb, void *arg);
	/* A query is answered from data just fetched: it should be published now. */
	void (*found)(void *owner);
	bool (*closing)(void *owner);
};

/* Entries come from t, waiters from w; cfg (borrowed, read live) gives fetch-wait and the
 * negative TTL. NULL on ENOMEM; h is copied. */
struct syncmiss *syncmiss_new(struct synctrack *t, struct syncwait *w, const struct config *cfg,
			      const struct syncmiss_hooks *h);
void syncmiss_free(struct syncmiss *m); /* NULL-safe */
/* A query named q, below a group that cannot be listed. cb runs once, never inside this call:
 * with the service found, or absent when every name it may be is known empty. 0, or -EBUSY
 * (nothing could be waited for), -ENOMEM: cb will not run. */
int syncmiss_wait(struct syncmiss *m, const struct query_miss *q, syncwait_cb cb, void *arg);
uint64_t syncmiss_refused(const struct syncmiss *m); /* fetches refused by the rate */

/* The forward cache's I/O glue: answers from the cache on any thread, forwarded replies stored on
 * the main loop, stale answers when every upstream fails, background refreshes. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resolver/serve/forward.h"

struct config;
struct fwdcache;
struct query_info;
struct snapstore;

/* The cache of cfg (its cache-* keys); *out NULL when cache = off. Entries retire under reg's
 * reader epochs, which the worker threads announce around each batch. 0 or -ENOMEM. */
int fwdcache_new(const struct config *cfg, struct snapstore *reg, struct fwdcache **out);
/* No query may be in flight, no reader inside. NULL-safe. */
void fwdcache_free(struct fwdcache *fc);

/* Milliseconds of the monotonic clock the cache times entries by. */
int64_t fwdcache_now_ms(void);

enum fwdcache_result {
	FWDCACHE_MISS = 0,
	FWDCACHE_HIT,   /* out holds the answer */
	FWDCACHE_STALE, /* out holds an expired answer (TTL 30, EDE 3) */
};

/* Any thread, inside its registry reader's epoch (or on the main loop): the answer to the
 * client's query (qi as query_answer() filled it) from the cache. *refresh: hand the query to
 * fwdcache_refresh() on the main loop. */
enum fwdcache_result fwdcache_lookup(struct fwdcache *fc, const uint8_t *query, size_t len,
				     const struct query_info *qi, int64_t now_ms, uint8_t *out,
				     size_t cap, size_t *out_len, bool *refresh);

/* Main loop. forward_query() through the cache: the reply is stored, and when every upstream
 * fails an expired answer goes to the client instead of SERVFAIL. Same contract as
 * forward_query(). */
int fwdcache_query(struct fwdcache *fc, struct forward *f, const uint8_t *query, size_t len,
		   size_t max_reply, forward_cb cb, void *arg);
/* Main loop. Refreshes the entry of query in the background; nobody is answered. */
void fwdcache_refresh(struct fwdcache *fc, struct forward *f, const uint8_t *query, size_t len);
/* Main loop. Drops every entry (the upstreams changed). */
void fwdcache_flush(struct fwdcache *fc);

struct fwdcache_stats {
	uint64_t entries, bytes, evictions;
	uint64_t misses_forwarded; /* queries forwarded through the cache */
	uint64_t prefetches;       /* background refreshes started */
	uint64_t stale;            /* stale answers sent after the upstreams failed */
};
void fwdcache_stats_get(const struct fwdcache *fc, struct fwdcache_stats *out);

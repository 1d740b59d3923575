/* Counters the query path updates, and their rendering in the Prometheus text format. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resolver/dnstap.h"
#include "resolver/serve/forward.h"
#include "resolver/serve/fwdcache.h"
#include "resolver/sync/sync.h"
#include "zones/data/snapshot.h"

/* Upper bounds of the answer latency histogram, in microseconds (+Inf is implicit). */
#define METRICS_LATENCY_BUCKETS 14

struct metrics;

/* NULL on ENOMEM. Each counter has one writer, the main loop or a shard's worker thread, and the
 * HTTP endpoint renders them on the main loop. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m); /* NULL-safe; a shard's counts go to its parent */
/* A shard of parent for a worker thread, which counts into it without a lock while the loop of
 * parent renders; metrics_render(parent) adds every shard in. Shards are created and freed on
 * parent's loop, before parent is freed. NULL on ENOMEM. */
struct metrics *metrics_shard_new(struct metrics *parent);

/* One reply sent: its question type, transport, rcode, whether an upstream gave it (else it was
 * answered here: the zones or the cache) and the time since the query arrived. */
void metrics_observe_reply(struct metrics *m, uint16_t qtype, bool tcp, uint8_t rcode,
			   bool forwarded, uint64_t usec);
void metrics_count_rate_limited(struct metrics *m);
void metrics_count_axfr(struct metrics *m, bool allowed);

/* How a SIGHUP ended: every change applied, applied but some keys wait for a restart, or the
 * configuration rejected (the old one kept). */
enum metrics_reload { METRICS_RELOAD_OK, METRICS_RELOAD_RESTART_NEEDED, METRICS_RELOAD_REJECTED };
#define METRICS_RELOAD_RESULTS 3
void metrics_count_reload(struct metrics *m, enum metrics_reload r);

/* Services grouped by the Nacos server and API their data came from. */
struct metrics_origin {
	const char *server;
	const char *api;
	size_t services;
};

struct servestats;

/* The other modules' counters and the snapshot's figures, gathered by the caller. */
struct metrics_input {
	const struct servestats *server;     /* NULL: not running */
	const struct forward_stats *forward; /* NULL: no forwarder */
	const struct fwdcache_stats *cache;  /* NULL: no forward cache */
	const struct sync_stats *sync;       /* NULL: no Nacos sync */
	const struct dnstap_stats *dnstap;   /* NULL: no dnstap output */
	struct snapshot_stats snap;
	uint32_t generation;
	double data_age_s;   /* since the newest fetch; < 0 when unknown */
	double oldest_age_s; /* since the oldest service's last fetch; < 0 when unknown */
	size_t stale_services;
	bool ready;
	const struct metrics_origin *origins;
	size_t n_origins;
};

/* The exposition text; malloc'ed, NUL-terminated, *len without the NUL. NULL on ENOMEM. */
char *metrics_render(const struct metrics *m, const struct metrics_input *in, size_t *len);

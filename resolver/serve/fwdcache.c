/*
 * The forward cache around the forwarder. Lookups run on whichever thread read the query, inside
 * the epoch its registry reader announced for the batch; everything that changes the cache runs
 * on the main loop, where forwarded replies arrive, and retires unlinked entries under the
 * registry's epochs, so a worker never waits for the main loop nor the main loop for a worker.
 */
#include "resolver/serve/fwdcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "resolver/clock.h"
#include "resolver/config.h"
#include "resolver/log.h"
#include "resolver/serve/snapstore.h"
#include "zones/dns/fwdmsg.h"
#include "zones/dns/msgcache.h"
#include "zones/dns/query.h"
#include "zones/dns/wire.h"

#define FWDCACHE_FAILURE_TTL 5     /* seconds a SERVFAIL or timeout is remembered */
#define FWDCACHE_MSG_MAX     65535 /* what a cached answer is asked of the forwarder */

struct fwdcache {
	struct msgcache *cache;
	struct snapstore *reg;
	uint16_t edns_size;
	struct fwdcache_stats stats; /* main loop */
	uint8_t out[FWDCACHE_MSG_MAX + 64];
};

/* A query forwarded through the cache: who gets the reply (cb NULL: a background refresh). */
struct fwdcache_pending {
	struct fwdcache *fc;
	forward_cb cb;
	void *arg;
	size_t max_reply, len;
	struct msgcache_key key;
	uint8_t query[];
};

int64_t fwdcache_now_ms(void)
{
	return clock_mono_ms();
}

int fwdcache_new(const struct config *cfg, struct snapstore *reg, struct fwdcache **out)
{
	struct msgcache_limits lim = {.min_ttl = cfg->cache_min_ttl,
				      .max_ttl = cfg->cache_max_ttl,
				      .max_negative_ttl = cfg->cache_max_negative_ttl,
				      .failure_ttl = FWDCACHE_FAILURE_TTL,
				      .stale_max = cfg->cache_stale_max,
				      .max_bytes = cfg->cache_size};
	struct fwdcache *fc;

	*out = NULL;
	if (!cfg->cache)
		return 0;
	if (!(fc = calloc(1, sizeof(*fc))) || !(fc->cache = msgcache_new(&lim))) {
		free(fc);
		return -ENOMEM;
	}
	fc->reg = reg;
	fc->edns_size = cfg->edns_buffer >= 512 ? cfg->edns_buffer : 1232;
	*out = fc;
	return 0;
}

void fwdcache_free(struct fwdcache *fc)
{
	if (!fc)
		return;
	msgcache_free(fc->cache);
	free(fc);
}

/* After a change: what was unlinked waits for the readers of the epoch after it. */
static void fwdcache_retire(struct fwdcache *fc)
{
	if (msgcache_seal(fc->cache, snapstore_epoch_advance(fc->reg)))
		msgcache_reclaim(fc->cache, snapstore_epoch_min_seen(fc->reg));
}

enum fwdcache_result fwdcache_lookup(struct fwdcache *fc, const uint8_t *query, size_t len,
				     const struct query_info *qi, int64_t now_ms, uint8_t *out,
				     size_t cap, size_t *out_len, bool *refresh)
{
	struct msgcache_key k;
	struct msgcache_ask a = {.query = query,
				 .len = len,
				 .qend = qi->question_end,
				 .edns = qi->edns,
				 .edns_size = fc->edns_size,
				 .max_reply = qi->tcp ? FWDCACHE_MSG_MAX : qi->client_udp,
				 .now_ms = now_ms};

	*refresh = false;
	if (msgcache_key_make(query, len, qi->do_bit, &k) < 0)
		return FWDCACHE_MISS;
	switch (msgcache_answer(fc->cache, &k, &a, out, cap, out_len, refresh)) {
	case MSGCACHE_HIT:
		return FWDCACHE_HIT;
	case MSGCACHE_STALE:
		return FWDCACHE_STALE;
	default:
		return FWDCACHE_MISS;
	}
}

/* The client's query: its key and how to answer it from the cache. */
static int fwdcache_ask(const struct fwdcache_pending *p, int64_t now_ms, bool stale_ok,
			struct msgcache_ask *a)
{
	struct fwdmsg_info qi;

	if (fwdmsg_parse_query(p->query, p->len, &qi) < 0)
		return -EBADMSG;
	*a = (struct msgcache_ask){.query = p->query,
				   .len = p->len,
				   .qend = qi.question_end,
				   .edns = qi.opt != 0,
				   .edns_size = p->fc->edns_size,
				   .max_reply = p->max_reply,
				   .now_ms = now_ms,
				   .stale_ok = stale_ok};
	return 0;
}

/* Answers p's client from its entry when that gives want (a fresh or a stale answer). */
static bool fwdcache_answer_pending(struct fwdcache_pending *p, int64_t now,
				    enum msgcache_result want)
{
	struct fwdcache *fc = p->fc;
	struct msgcache_ask a;
	size_t n;
	bool refresh;

	if (fwdcache_ask(p, now, want == MSGCACHE_STALE, &a) < 0 ||
	    msgcache_answer(fc->cache, &p->key, &a, fc->out, sizeof(fc->out), &n, &refresh) != want)
		return false;
	p->cb(p->arg, fc->out, n);
	return true;
}

/* Every upstream failed: an expired answer if the cache has one, else the forwarder's SERVFAIL. */
static void fwdcache_on_failure(struct fwdcache_pending *p, const uint8_t *reply, size_t len,
				int64_t now)
{
	struct fwdcache *fc = p->fc;

	msgcache_store_failure(fc->cache, &p->key, now);
	fwdcache_retire(fc);
	if (!p->cb)
		return;
	if (fwdcache_answer_pending(p, now, MSGCACHE_STALE))
		fc->stats.stale++;
	else
		p->cb(p->arg, reply, len);
}

/* A reply: stored when it may be, and the client answered from the entry (the same bytes any
 * later hit gets), else relayed as the forwarder would have. */
static void fwdcache_on_reply(struct fwdcache_pending *p, const uint8_t *reply, size_t len,
			      int64_t now)
{
	struct fwdcache *fc = p->fc;
	size_t n;
	int rc = msgcache_store(fc->cache, &p->key, reply, len, now);

	fwdcache_retire(fc);
	if (rc < 0 && !p->cb)
		msgcache_refresh_done(fc->cache, &p->key);
	if (!p->cb)
		return;
	if (rc == 0 && fwdcache_answer_pending(p, now, MSGCACHE_HIT))
		return;
	if (fwdmsg_finish(p->query, p->len, reply, len, p->max_reply, fc->edns_size, fc->out,
			  sizeof(fc->out), &n) == 0)
		p->cb(p->arg, fc->out, n);
	else
		p->cb(p->arg, reply, len);
}

static void fwdcache_on_forward(void *arg, const uint8_t *reply, size_t len)
{
	struct fwdcache_pending *p = arg;
	int64_t now = fwdcache_now_ms();

	if (!reply) {
		msgcache_refresh_done(p->fc->cache, &p->key);
		if (p->cb)
			p->cb(p->arg, NULL, 0);
	} else if (fwdmsg_rcode(reply, len) == DNS_RCODE_SERVFAIL) {
		fwdcache_on_failure(p, reply, len, now); /* upstream SERVFAILs are never relayed */
	} else {
		fwdcache_on_reply(p, reply, len, now);
	}
	free(p);
}

static struct fwdcache_pending *fwdcache_pending_new(struct fwdcache *fc, const uint8_t *query,
						     size_t len, size_t max_reply, forward_cb cb,
						     void *arg)
{
	struct fwdmsg_info qi;
	struct fwdcache_pending *p;

	if (fwdmsg_parse_query(query, len, &qi) < 0 || !(p = malloc(sizeof(*p) + len)))
		return NULL;
	if (msgcache_key_make(query, len, qi.opt && (query[qi.opt + 7] & DNS_OPT_FLAG_DO),
			      &p->key) < 0) {
		free(p);
		return NULL;
	}
	p->fc = fc;
	p->cb = cb;
	p->arg = arg;
	p->max_reply = max_reply;
	p->len = len;
	memcpy(p->query, query, len);
	return p;
}

int fwdcache_query(struct fwdcache *fc, struct forward *f, const uint8_t *query, size_t len,
		   size_t max_reply, forward_cb cb, void *arg)
{
	struct fwdcache_pending *p = fwdcache_pending_new(fc, query, len, max_reply, cb, arg);
	int rc;

	if (!p)
		return -ENOMEM;
	rc = forward_query(f, query, len, FWDCACHE_MSG_MAX, fwdcache_on_forward, p);
	if (rc < 0) {
		free(p);
		return rc;
	}
	fc->stats.misses_forwarded++;
	return 0;
}

void fwdcache_refresh(struct fwdcache *fc, struct forward *f, const uint8_t *query, size_t len)
{
	struct fwdcache_pending *p =
		fwdcache_pending_new(fc, query, len, FWDCACHE_MSG_MAX, NULL, NULL);

	if (!p)
		return;
	if (!f || forward_query(f, query, len, FWDCACHE_MSG_MAX, fwdcache_on_forward, p) < 0) {
		msgcache_refresh_done(fc->cache, &p->key);
		free(p);
		return;
	}
	fc->stats.prefetches++;
}

void fwdcache_flush(struct fwdcache *fc)
{
	msgcache_flush(fc->cache);
	fwdcache_retire(fc);
	log_info("forward", "cache flushed");
}

void fwdcache_stats_get(const struct fwdcache *fc, struct fwdcache_stats *out)
{
	struct msgcache_stats ms;

	msgcache_stats_get(fc->cache, &ms);
	*out = fc->stats;
	out->entries = ms.entries;
	out->bytes = ms.bytes;
	out->evictions = ms.evictions;
}

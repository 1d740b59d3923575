#include "resolver/serve/dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/clock.h"
#include "resolver/dnstap.h"
#include "resolver/log.h"
#include "resolver/metrics.h"
#include "resolver/qlog.h"
#include "resolver/random.h"
#include "resolver/serve/forward.h"
#include "resolver/serve/fwdcache.h"
#include "resolver/serve/handoff.h"
#include "resolver/serve/servestats.h"
#include "resolver/serve/snapstore.h"
#include "resolver/serve/tcp.h"
#include "resolver/sync/sync.h"
#include "zones/base/hash.h"
#include "zones/dns/axfr.h"
#include "zones/dns/query.h"
#include "zones/dns/rrl.h"
#include "zones/dns/wire.h"
#include "zones/net/acl.h"
#include "zones/net/addr.h"

#define DISPATCH_MSG_MAX     65535
#define DISPATCH_RRL_TC_MAX  512  /* a slipped reply: header and question */
#define DISPATCH_OBS_MAX     64   /* replies of a batch timed at its end */
#define DISPATCH_TOUCH_SLOTS 1024 /* per worker: services whose use was reported this second */
#define DISPATCH_MAX_WAITS   3

/* A reply sent in a batch: its metric is taken when the batch ends, with one clock read. */
struct dispatch_obs {
	uint64_t t0;
	uint16_t qtype;
	uint8_t rcode;
};

/* The services a worker reported as used, by hash: at most one report per service per second. */
struct dispatch_touch {
	uint64_t hash;
	int64_t second;
};

struct dispatch {
	uv_loop_t *loop;
	const struct dispatch_env *env;
	struct dispatch_owner owner; /* the main loop's */
	bool closing;
	unsigned batches; /* UDP batches open on this loop; a worker holds lock while > 0 */
	/* A worker's: */
	struct handoff *handoff; /* NULL: this is the main loop */
	uv_mutex_t *lock;
	struct snapstore_reader *reader;
	int64_t miss_second;
	struct dispatch_touch touched[DISPATCH_TOUCH_SLOTS];
	/* The message being answered: */
	uint64_t rng[2];             /* xorshift128+ */
	uint64_t t0;                 /* uv_hrtime() when it arrived */
	int64_t now_ms;              /* Unix ms, read once per batch */
	const struct snapshot *snap; /* what it is answered from */
	bool forwarded;              /* the reply being sent came from an upstream */
	unsigned n_obs;
	struct dispatch_obs obs[DISPATCH_OBS_MAX];
	uint8_t out[DISPATCH_MSG_MAX]; /* the reply being built */
};

/* A query waiting for the forwarder or the sync; holds the owner and its connection. */
struct dispatch_pending {
	struct dispatch_port *port;
	struct tcp_conn *c; /* NULL for UDP */
	struct sockaddr_storage peer;
	bool ra;
	uint8_t waits; /* for the sync so far: a name may need its zone's catalog, then its group's,
			  then its own fetch */
	bool tracked;  /* one of them waited for its service's fetch */
	uint64_t t0;   /* arrival, for the latency metric and the query log */
	size_t len;
	uint8_t query[]; /* fetch: the query, to answer again from the new snapshot */
};

/* ---- the context ---- */

struct dispatch *dispatch_new(uv_loop_t *loop, const struct dispatch_env *env,
			      const struct dispatch_owner *owner)
{
	struct dispatch *d = malloc(sizeof(*d));

	if (!d)
		return NULL;
	memset(d, 0, offsetof(struct dispatch, out));
	d->loop = loop;
	d->env = env;
	if (owner)
		d->owner = *owner;
	d->miss_second = -1;
	random_seed(d->rng);
	return d;
}

struct dispatch *dispatch_new_worker(uv_loop_t *loop, const struct dispatch_env *env,
				     uv_mutex_t *lock, struct snapstore_reader *reader,
				     struct handoff *handoff)
{
	struct dispatch *d = dispatch_new(loop, env, NULL);

	if (!d)
		return NULL;
	d->lock = lock;
	d->reader = reader;
	d->handoff = handoff;
	return d;
}

void dispatch_free(struct dispatch *d)
{
	free(d);
}

void dispatch_shutdown(struct dispatch *d)
{
	d->closing = true;
}

static uint64_t dispatch_rand(uint64_t st[2])
{
	uint64_t x = st[0], y = st[1];
	st[0] = y;
	x ^= x << 23;
	st[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
	return st[1] + y;
}

/* A message answered on its own (TCP, handed over): fresh clock and snapshot. */
static void dispatch_stamp(struct dispatch *d)
{
	d->t0 = uv_hrtime();
	d->now_ms = clock_wall_ms();
	d->snap = snapstore_get(d->env->registry);
}

/* ---- replies ---- */

/* Response rate limiting. false: drop the reply; a slipped one is rewritten into tc. */
static bool dispatch_rate_limit(struct dispatch_port *port, const struct sockaddr *peer,
				const uint8_t **wire, size_t *len, uint8_t tc[DISPATCH_RRL_TC_MAX])
{
	enum rrl_action a = rrl_check(port->rrl, peer, uv_now(port->d->loop));
	size_t n = *len < DISPATCH_RRL_TC_MAX ? *len : DISPATCH_RRL_TC_MAX;

	if (a == RRL_SEND)
		return true;
	metrics_count_rate_limited(port->d->env->metrics);
	if (a == RRL_SLIP) {
		memcpy(tc, *wire, n);
		if ((n = rrl_slip_reply(tc, n)) > 0) {
			SERVESTATS_INC(port->stats->rrl_slipped);
			*wire = tc;
			*len = n;
			return true;
		}
	}
	SERVESTATS_INC(port->stats->rrl_dropped);
	return false;
}

static void dispatch_send_udp(struct dispatch_port *port, const struct sockaddr *peer,
			      const uint8_t *wire, size_t len)
{
	uint8_t tc[DISPATCH_RRL_TC_MAX];

	if (dispatch_rate_limit(port, peer, &wire, &len, tc))
		udp_send(port->udp, peer, wire, len);
}

/* The question type of a reply that echoes its question, or 0. */
static uint16_t dispatch_reply_qtype(const uint8_t *wire, size_t len)
{
	size_t end = wire_question_end(wire, len);

	return end ? wire_qtype(wire, end) : 0;
}

/* Metrics and the query log of one reply. A UDP reply in a batch is timed when the batch ends,
 * so a batch reads the clock twice rather than twice per query (the query log times each). */
static void dispatch_observe(struct dispatch_port *port, bool tcp, const struct sockaddr *peer,
			     const uint8_t *wire, size_t len)
{
	struct dispatch *d = port->d;
	const struct dispatch_env *env = d->env;
	uint16_t qtype;
	uint64_t usec;

	dnstap_client(env->dnstap, true, peer, port->name, tcp, wire, len);
	if (len < DNS_HDR_LEN || (!env->metrics && !env->query_log))
		return;
	qtype = dispatch_reply_qtype(wire, len);
	if (!tcp && udp_in_batch(port->udp) && !env->query_log && !d->forwarded &&
	    d->n_obs < DISPATCH_OBS_MAX) {
		d->obs[d->n_obs++] = (struct dispatch_obs){d->t0, qtype, wire_rcode(wire)};
		return;
	}
	usec = (uv_hrtime() - d->t0) / 1000;
	metrics_observe_reply(env->metrics, qtype, tcp, wire_rcode(wire), d->forwarded, usec);
	if (env->query_log)
		qlog_reply(peer, tcp, wire, len, usec);
}

static void dispatch_observe_batch(struct dispatch *d)
{
	uint64_t now;

	if (d->n_obs == 0)
		return;
	now = uv_hrtime();
	for (unsigned i = 0; i < d->n_obs; i++)
		metrics_observe_reply(d->env->metrics, d->obs[i].qtype, false, d->obs[i].rcode,
				      false, (now - d->obs[i].t0) / 1000);
	d->n_obs = 0;
}

static void dispatch_send(struct dispatch_port *port, struct tcp_conn *c,
			  const struct sockaddr *peer, const uint8_t *wire, size_t len)
{
	dispatch_observe(port, c != NULL, peer, wire, len);
	if (c)
		tcp_send(c, wire, len);
	else
		dispatch_send_udp(port, peer, wire, len);
}

/* ---- queries that wait: forwarded, or for the sync ---- */

static void dispatch_query_init(struct dispatch *d, struct query_info *qi,
				const struct sockaddr *peer, bool tcp)
{
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)peer;
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)peer;

	memset(qi, 0, sizeof(*qi));
	qi->tcp = tcp;
	/* the client's address, not its port, so a client keeps its hash across queries */
	qi->client_hash = peer->sa_family == AF_INET6
				  ? hash_fnv32(HASH_FNV32_INIT, v6->sin6_addr.s6_addr, 16)
				  : hash_fnv32(HASH_FNV32_INIT, &v4->sin_addr, 4);
	qi->random = dispatch_rand(d->rng);
	qi->now_ms = d->now_ms;
}

static struct dispatch_pending *dispatch_pending_new(struct dispatch_port *port, struct tcp_conn *c,
						     const struct sockaddr *peer, bool ra,
						     const uint8_t *query, size_t len)
{
	struct dispatch *d = port->d;
	struct dispatch_pending *p = malloc(sizeof(*p) + len);

	if (!p)
		return NULL;
	p->port = port;
	p->c = c;
	memset(&p->peer, 0, sizeof(p->peer));
	memcpy(&p->peer, peer, addr_len(peer));
	p->ra = ra;
	p->waits = 0;
	p->tracked = false;
	p->t0 = d->t0;
	p->len = len;
	if (len)
		memcpy(p->query, query, len);
	if (d->owner.hold)
		d->owner.hold(d->owner.arg);
	if (c)
		tcp_hold(c);
	return p;
}

static void dispatch_pending_free(struct dispatch_pending *p)
{
	struct dispatch *d = p->port->d;
	struct tcp_conn *c = p->c;

	free(p);
	if (c)
		tcp_release(c);
	if (d->owner.release)
		d->owner.release(d->owner.arg);
}

/* Whether the pending query's client can still be answered. */
static bool dispatch_pending_live(const struct dispatch_pending *p)
{
	return !p->port->d->closing && !(p->c && tcp_conn_closing(p->c));
}

static void dispatch_on_forward(void *arg, const uint8_t *reply, size_t len)
{
	struct dispatch_pending *p = arg;
	struct dispatch *d = p->port->d;

	if (reply && len >= DNS_HDR_LEN && len <= sizeof(d->out) && dispatch_pending_live(p)) {
		d->t0 = p->t0;
		memcpy(d->out, reply, len);
		if (p->ra)
			wire_set_ra(d->out);
		d->forwarded = true;
		dispatch_send(p->port, p->c, (const struct sockaddr *)&p->peer, d->out, len);
		d->forwarded = false;
	}
	dispatch_pending_free(p);
}

/* Outside every zone: forward when this client may recurse, else the REFUSED in out. */
static void dispatch_outside(struct dispatch_port *port, struct tcp_conn *c,
			     const struct sockaddr *peer, bool ra, const struct query_info *qi,
			     const uint8_t *in, size_t len, size_t out_len)
{
	struct dispatch *d = port->d;
	const struct dispatch_env *env = d->env;

	if (ra && wire_rd(in)) {
		size_t max_reply = c ? DISPATCH_MSG_MAX : qi->client_udp;
		struct dispatch_pending *p = dispatch_pending_new(port, c, peer, ra, NULL, 0);
		int rc = !p           ? -ENOMEM
			 : env->cache ? fwdcache_query(env->cache, env->forward, in, len, max_reply,
						       dispatch_on_forward, p)
				      : forward_query(env->forward, in, len, max_reply,
						      dispatch_on_forward, p);
		if (rc == 0) {
			SERVESTATS_INC(port->stats->forwarded);
			return;
		}
		if (p)
			dispatch_pending_free(p);
		if (forward_refusal(env->forward, rc, in, len, d->out, sizeof(d->out), &out_len) <
			    0 &&
		    out_len >= 4)
			wire_set_rcode(d->out, DNS_RCODE_SERVFAIL);
	}
	dispatch_send(port, c, peer, d->out, out_len);
}

static void dispatch_on_fetched(void *arg, const struct snapshot *snap, bool absent);

/* Starts p's wait for what the sync must do before qi's question (read from snap) can be
 * answered. 0, or <0 when p is not waiting. */
static int dispatch_wait(struct dispatch_pending *p, const struct query_info *qi,
			 const struct snapshot *snap)
{
	struct sync *sync = p->port->d->env->sync;
	struct query_miss m;

	if (p->waits >= DISPATCH_MAX_WAITS || (qi->service_name && p->tracked))
		return -EAGAIN;
	p->waits++;
	if (qi->service_name) {
		p->tracked = true;
		return sync_track(sync, qi->service_namespace, qi->service_group, qi->service_name,
				  dispatch_on_fetched, p);
	}
	if (query_miss(snap, p->query, p->len, &m) < 0)
		return -EINVAL;
	return sync_wait_miss(sync, &m, dispatch_on_fetched, p);
}

static void dispatch_on_fetched(void *arg, const struct snapshot *snap, bool absent)
{
	struct dispatch_pending *p = arg;
	struct dispatch *d = p->port->d;
	const struct sockaddr *peer = (const struct sockaddr *)&p->peer;
	struct query_info qi;
	size_t out_len = 0;

	if (dispatch_pending_live(p)) {
		const struct snapshot *from = snap ? snap : snapstore_get(d->env->registry);
		d->t0 = p->t0;
		d->now_ms = clock_wall_ms();
		dispatch_query_init(d, &qi, peer, p->c != NULL);
		qi.settled = absent;
		int st =
			query_answer(from, &qi, p->query, p->len, d->out, sizeof(d->out), &out_len);
		if (st == QUERY_FETCH && dispatch_wait(p, &qi, from) == 0)
			return;
		/* Still not settled (timeout, Nacos down): out holds the SERVFAIL. */
		if (st != QUERY_DROP) {
			if (p->ra)
				wire_set_ra(d->out);
			dispatch_send(p->port, p->c, peer, d->out, out_len);
		}
	}
	dispatch_pending_free(p);
}

/* A catalog service not fetched yet, or a name only the sync can settle: answer once the sync
 * has done what it needs, else the SERVFAIL in out. */
static void dispatch_fetch(struct dispatch_port *port, struct tcp_conn *c,
			   const struct sockaddr *peer, bool ra, const struct query_info *qi,
			   const uint8_t *in, size_t len, size_t out_len)
{
	struct dispatch *d = port->d;
	uint8_t keep[QUERY_COMPACT_MAX];
	size_t keep_len = query_compact(in, len, keep);

	if (d->env->sync && keep_len) {
		/* Only what the answer depends on waits: 10,000 waiters of padded 64 KiB TCP
		 * queries would otherwise hold 640 MB. */
		struct dispatch_pending *p =
			dispatch_pending_new(port, c, peer, ra, keep, keep_len);
		if (p && dispatch_wait(p, qi, d->snap) == 0) {
			if (qi->service_name)
				SERVESTATS_INC(port->stats->fetched);
			return;
		}
		if (p)
			dispatch_pending_free(p);
	}
	dispatch_send(port, c, peer, d->out, out_len);
}

static int dispatch_on_axfr_msg(void *arg, const uint8_t *wire, size_t len)
{
	struct tcp_conn *c = arg;

	if (tcp_conn_closing(c))
		return -EPIPE;
	tcp_send(c, wire, len);
	return 0;
}

/* AXFR (RFC 5936): over TCP to clients in allow-transfer; REFUSED over UDP and to others,
 * NOTAUTH for a name that is no zone apex. */
static void dispatch_axfr(struct dispatch_port *port, struct tcp_conn *c,
			  const struct sockaddr *peer, const uint8_t *in, size_t len)
{
	struct dispatch *d = port->d;
	const struct dispatch_env *env = d->env;
	bool allowed = c && acl_match(env->allow_transfer, peer);
	uint8_t rcode = DNS_RCODE_REFUSED;
	int n, rc;

	metrics_count_axfr(env->metrics, allowed);
	if (allowed) {
		rc = axfr_transfer(snapstore_get(env->registry), in, len, clock_wall_ms(),
				   dispatch_on_axfr_msg, c);
		if (rc == 0) {
			dispatch_observe(port, true, peer, in,
					 len); /* counted once, as a NOERROR */
			return;
		}
		rcode = rc == -ENOENT ? DNS_RCODE_NOTAUTH : DNS_RCODE_SERVFAIL;
		if (rc == -EAGAIN)
			log_info("server", "zone transfer refused until the catalog is listed");
		else if (rc != -ENOENT)
			log_warn("server", "zone transfer failed: %s", strerror(-rc));
	}
	if ((n = axfr_error(in, len, rcode, d->out, sizeof(d->out))) < 0) {
		SERVESTATS_INC(port->stats->dropped);
		return;
	}
	dispatch_send(port, c, peer, d->out, (size_t)n);
}

/* ---- what a worker hands to the main loop ---- */

static void dispatch_handoff(struct dispatch_port *port, enum handoff_kind kind,
			     const struct sockaddr *peer, const uint8_t *data, size_t len)
{
	struct dispatch *d = port->d;
	struct handoff_item *it = handoff_item_new(kind, port->index, peer, d->t0, data, len);

	if ((!it || !handoff_push(d->handoff, it)) && kind == HANDOFF_QUERY)
		SERVESTATS_INC(port->stats->dropped);
}

/* The sync hears of a service's use at most once a second per worker: it only keeps it tracked. */
static void dispatch_touch(struct dispatch_port *port, const struct query_info *qi)
{
	struct dispatch *d = port->d;
	uint64_t h = HASH_FNV64_INIT;
	int64_t second = d->now_ms / 1000;
	char names[3 * 256];
	int n;

	h = hash_fnv64_str(
		hash_fnv64_str(hash_fnv64_str(h, qi->service_namespace), qi->service_group),
		qi->service_name);
	struct dispatch_touch *t = &d->touched[h % DISPATCH_TOUCH_SLOTS];
	if (t->hash == h && t->second == second)
		return;
	n = snprintf(names, sizeof(names), "%s%c%s%c%s", qi->service_namespace, '\0',
		     qi->service_group, '\0', qi->service_name);
	if (n < 0 || (size_t)n >= sizeof(names))
		return;
	t->hash = h;
	t->second = second;
	dispatch_handoff(port, HANDOFF_TOUCH, NULL, (const uint8_t *)names, (size_t)n + 1);
}

static void dispatch_catalog_miss(struct dispatch_port *port)
{
	struct dispatch *d = port->d;
	int64_t second = d->now_ms / 1000;

	if (d->miss_second == second)
		return;
	d->miss_second = second;
	dispatch_handoff(port, HANDOFF_MISS, NULL, NULL, 0);
}

/* Tells the sync which service an answer came from, or that a zone name was missing. */
static void dispatch_note_use(struct dispatch_port *port, const struct query_info *qi)
{
	struct dispatch *d = port->d;
	struct sync *sync = d->env->sync;

	if (!sync)
		return;
	if (qi->service_name) {
		if (d->handoff)
			dispatch_touch(port, qi);
		else
			sync_touch(sync, qi->service_namespace, qi->service_group,
				   qi->service_name);
	} else if (qi->rcode == DNS_RCODE_NXDOMAIN) { /* in a zone: the catalog may be behind */
		if (d->handoff)
			dispatch_catalog_miss(port);
		else
			sync_catalog_miss(sync);
	}
}

/* ---- the query path ---- */

/* A name outside the zones answered from the forward cache on this thread, the way a zone name is
 * answered: false on a miss. A hit that is due for a refresh hands that to the main loop. */
static bool dispatch_cached(struct dispatch_port *port, struct tcp_conn *c,
			    const struct sockaddr *peer, const struct query_info *qi,
			    const uint8_t *in, size_t len)
{
	struct dispatch *d = port->d;
	struct fwdcache *fc = d->env->cache;
	size_t out_len = 0;
	bool refresh = false;

	if (!fc)
		return false;
	enum fwdcache_result r = fwdcache_lookup(fc, in, len, qi, (int64_t)(d->t0 / 1000000),
						 d->out, sizeof(d->out), &out_len, &refresh);
	if (r == FWDCACHE_MISS)
		return false; /* counted where it is forwarded */
	SERVESTATS_INC(port->stats->cache_hits);
	if (r == FWDCACHE_STALE)
		SERVESTATS_INC(port->stats->cache_stale);
	if (refresh && d->handoff)
		dispatch_handoff(port, HANDOFF_REFRESH, NULL, in, len);
	else if (refresh && d->env->forward)
		fwdcache_refresh(fc, d->env->forward, in, len);
	wire_set_ra(d->out); /* RA: only clients allowed to recurse get here */
	dispatch_send(port, c, peer, d->out, out_len);
	return true;
}

/* Forwarding, first fetches and zone transfers happen on the main loop. */
static bool dispatch_needs_main(const struct dispatch *d, int st, bool ra, const uint8_t *in)
{
	if (!d->handoff)
		return false;
	if (st == QUERY_OUTSIDE)
		return ra && wire_rd(in);
	return st == QUERY_FETCH && d->env->sync;
}

/* One DNS message from a client (c == NULL: UDP). The caller has set t0, now_ms and snap. */
static void dispatch_query(struct dispatch_port *port, struct tcp_conn *c,
			   const struct sockaddr *peer, const uint8_t *in, size_t len)
{
	struct dispatch *d = port->d;
	const struct dispatch_env *env = d->env;
	struct query_info qi;
	size_t out_len = 0;

	if (axfr_is_request(in, len)) {
		if (d->handoff)
			dispatch_handoff(port, HANDOFF_QUERY, peer, in, len);
		else
			dispatch_axfr(port, c, peer, in, len);
		return;
	}
	dispatch_query_init(d, &qi, peer, c != NULL);
	int st = query_answer(d->snap, &qi, in, len, d->out, sizeof(d->out), &out_len);
	if (st == QUERY_DROP || out_len < DNS_HDR_LEN || out_len > sizeof(d->out)) {
		SERVESTATS_INC(port->stats->dropped);
		return;
	}
	bool ra = env->forward && acl_match(env->allow_recursion, peer);
	if (st == QUERY_OUTSIDE && ra && wire_rd(in) &&
	    dispatch_cached(port, c, peer, &qi, in, len))
		return;
	if (dispatch_needs_main(d, st, ra, in)) {
		dispatch_handoff(port, HANDOFF_QUERY, peer, in, len);
		return;
	}
	if (ra)
		wire_set_ra(d->out);
	if (st == QUERY_OUTSIDE) {
		dispatch_outside(port, c, peer, ra, &qi, in, len, out_len);
		return;
	}
	if (st == QUERY_FETCH) {
		dispatch_fetch(port, c, peer, ra, &qi, in, len, out_len);
		return;
	}
	dispatch_note_use(port, &qi);
	dispatch_send(port, c, peer, d->out, out_len);
}

/* ---- the entries ---- */

/* The clock is read, the snapshot entered and a worker's env locked once for a whole batch. A
 * loop's sockets may have batches open together (libuv stopped reading one, the check phase has
 * not ended it yet): the first takes the lock and the last lets go of it. */
static void dispatch_batch_begin(void *arg)
{
	struct dispatch *d = ((struct dispatch_port *)arg)->d;

	d->t0 = uv_hrtime();
	d->now_ms = clock_wall_ms();
	if (d->batches++ > 0 && d->handoff)
		return;
	if (d->handoff) {
		uv_mutex_lock(d->lock);
		d->snap = snapstore_reader_enter(d->reader);
	} else {
		d->snap = snapstore_get(d->env->registry);
	}
}

static void dispatch_datagram(void *arg, const struct sockaddr *peer, const uint8_t *msg,
			      size_t len)
{
	struct dispatch_port *port = arg;

	dnstap_client(port->d->env->dnstap, false, peer, port->name, false, msg, len);
	dispatch_query(port, NULL, peer, msg, len);
}

static void dispatch_batch_end(void *arg)
{
	struct dispatch *d = ((struct dispatch_port *)arg)->d;

	dispatch_observe_batch(d);
	if (--d->batches > 0)
		return;
	d->snap = NULL;
	if (d->handoff) {
		snapstore_reader_leave(d->reader);
		uv_mutex_unlock(d->lock);
	}
}

const struct udp_cb dispatch_udp_cb = {
	.batch_begin = dispatch_batch_begin,
	.datagram = dispatch_datagram,
	.batch_end = dispatch_batch_end,
};

void dispatch_tcp_message(void *arg, struct tcp_conn *c, const struct sockaddr *peer,
			  const uint8_t *msg, size_t len)
{
	struct dispatch_port *port = arg;

	dispatch_stamp(port->d);
	dnstap_client(port->d->env->dnstap, false, peer, port->name, true, msg, len);
	dispatch_query(port, c, peer, msg, len);
}

void dispatch_take(struct dispatch_port *port, const struct handoff_item *it)
{
	const struct dispatch_env *env = port->d->env;
	const char *ns = (const char *)it->data;
	const char *group = it->len ? ns + strlen(ns) + 1 : NULL;
	const char *name = group ? group + strlen(group) + 1 : NULL;

	switch (it->kind) {
	case HANDOFF_QUERY:
		dispatch_stamp(port->d);
		port->d->t0 = it->t0;
		dispatch_query(port, NULL, (const struct sockaddr *)&it->peer, it->data, it->len);
		break;
	case HANDOFF_TOUCH:
		if (env->sync)
			sync_touch(env->sync, ns, group, name);
		break;
	case HANDOFF_MISS:
		if (env->sync)
			sync_catalog_miss(env->sync);
		break;
	case HANDOFF_REFRESH:
		if (env->cache)
			fwdcache_refresh(env->cache, env->forward, it->data, it->len);
		break;
	}
}

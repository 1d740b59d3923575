#include "resolver/sync/sync.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "build_config.h"
#include "resolver/bgwork.h"
#include "resolver/config.h"
#include "resolver/log.h"
#include "resolver/readfile.h"
#include "resolver/serve/snapstore.h"
#include "resolver/sync/cachefile.h"
#include "resolver/sync/grpcsub.h"
#include "resolver/sync/http.h"
#include "resolver/sync/pushsock.h"
#include "resolver/sync/snapjob.h"
#include "resolver/sync/syncio.h"
#include "zones/data/lending.h"
#include "zones/data/snapshot.h"
#include "zones/dns/query.h"
#include "zones/nacos/nacos.h"
#include "zones/nacos/nacosapi.h"
#include "zones/nacos/push.h"
#include "zones/nacos/syncabsent.h"
#include "zones/nacos/synccatalog.h"
#include "zones/nacos/syncpolicy.h"

#define SYNC_PUBLISH_DELAY_MS 100  /* changes within this window share one snapshot */
#define SYNC_CACHE_PERIOD_MS  1000 /* cache file written at most this often */
#define SYNC_MISS_PERIOD_MS   5000 /* catalog re-list on a miss at most this often */
#define SYNC_MAX_PAGES        200  /* 100,000 names per group */
/* A catalog that failed this many listings in a row, never listed, counts as unlistable: its
 * names are then fetched by name rather than waiting for it. */
#define SYNC_UNLISTABLE_STREAK 3
#define SYNC_DIRECT_RATE       50.0  /* fetches of unknown names per second... */
#define SYNC_DIRECT_BURST      100.0 /* ...after a burst of this many */
#define SYNC_HOLD_MS           30000
#define SYNC_PEERS             4 /* addresses remembered per server: pushes come from these */
/* A push's lastRefTime is the pushing node's wall clock (ms): one far ahead of ours is a clock
 * gone wrong or a forgery, and would outrank every answer until the next poll. */
#define SYNC_PUSH_MAX_AHEAD_MS 60000
/* Polls of a service subscribed over gRPC come this many poll intervals apart. */
#define SYNC_GRPC_POLL_FACTOR 10
#define SYNC_GRPC_PAGE_SIZE   1000 /* names per ServiceListRequest page */

struct sync_waiter {
	uv_timer_t timer;
	struct sync *s;
	struct sync_entry *e; /* waits for its fetch; NULL: for the catalog */
	bool linked;          /* still on e->waiters or s->catalog_waiters */
	bool absent;          /* what cb is told when the timer fires first */
	/* A catalog waiter for one group's listing: it runs at a publish once that group is
	 * settled (sync_catalog_settled), not at every one. NULL: at the next complete one. */
	const struct sync_catalog *cat;
	sync_fetch_cb cb;
	void *arg;
	struct sync_waiter *next;
};

/* A query for a name below a group whose catalog cannot be listed: the services it may name are
 * fetched by name, and it is answered once every fetch has ended. */
struct sync_miss {
	struct sync *s;
	char ns[128], group[64];
	char names[QUERY_MISS_NAMES][256];
	size_t n_names;
	unsigned pending; /* fetches not ended yet */
	bool limited;     /* a fetch was not made: --direct rate reached */
	sync_fetch_cb cb;
	void *arg;
};

/* A run of failures: logged when it starts, then at most once a minute with how many failed
 * meanwhile and the latest reason, so that a reason that changes (a catalog that turned
 * invalid) is seen. */
struct sync_streak {
	int64_t logged_ms;
	unsigned unlogged;
};

/* A tracked service: polled while it is queried (or always with track = all). */
struct sync_entry {
	struct sync_entry *hnext;
	uint32_t hash;
	char *ns, *group, *name;
	struct nacos_service *svc; /* last good copy (owned); NULL: never fetched */
	int64_t last_used_ms, next_poll_ms;
	bool inflight;   /* a call holds this entry */
	bool doomed;     /* untracked while in flight: freed when the call ends */
	bool failing;    /* the last fetch failed (logged once per change) */
	bool held;       /* the last answer was held back by the guard */
	bool subscribed; /* the last poll carried udpPort: Nacos pushes changes of it */
	bool push_ok;    /* a push for it arrived since: polls may slow down */
	/* The server its calls go to: lastRefTime is the answering node's wall clock
	 * (naming/utils/ServiceUtil.java), data reaches other nodes later (Distro), and each node
	 * keeps its own push subscribers, so one service talks to one node until it fails. */
	size_t server;             /* SIZE_MAX: none yet */
	int64_t ref_ms;            /* that server's lastRefTime (ms) of the data held; 0: unknown */
	int64_t pushed_ms;         /* loop time a push was last applied */
	int64_t polled_ms;         /* loop time the poll in flight was sent */
	struct sync_streak streak; /* failures, for the log */
	size_t skipped_logged;     /* instances the last answer logged as skipped */
	struct sync_waiter *waiters;
};

/* The service names of one group of one zone's namespace. */
struct sync_catalog {
	char *ns, *group;
	char **names;
	size_t n;
	bool valid; /* listed successfully at least once */
	bool inflight, failing;
	bool dynamic;         /* added because a query named its group: expires when unused */
	bool refused;         /* the last listing was refused (403, or no list API) */
	unsigned fail_streak; /* listings failed in a row */
	struct sync_streak streak;
	int64_t last_used_ms; /* dynamic: when a query last named the group */
	char **acc;           /* the listing being paged in */
	size_t n_acc, first_total;
	size_t n_raw; /* items of the pages so far, of every group the server matched */
};

struct sync_server {
	char url[256];
	enum nacosapi_version api;      /* instance lists and login */
	enum nacosapi_version list_api; /* catalog: v1 service/list, or the v3 admin list */
	unsigned failures;
	int64_t retry_at_ms;
	char *token;
	int64_t token_refresh_ms;
	bool login_inflight;
	bool login_failing;              /* logged once per change */
	struct sync_call *auth_wait;     /* calls waiting for a token */
	struct syncpolicy_logins logins; /* this minute's, bounded */
	char local_ip[INET6_ADDRSTRLEN]; /* our end of the last connection to it */
	/* Its addresses: [0] from the URL when it names an IP, then those connected to. */
	char peers[SYNC_PEERS][INET6_ADDRSTRLEN];
	uint64_t results[2][SYNC_RESULT_COUNT]; /* v1 (and not yet detected), v3 */
};

enum sync_call_kind { SYNC_CALL_INSTANCES, SYNC_CALL_CATALOG, SYNC_CALL_LOGIN };

struct sync_call {
	struct sync *s;
	enum sync_call_kind kind;
	struct sync_entry *e;     /* INSTANCES */
	struct sync_catalog *cat; /* CATALOG */
	unsigned page;            /* CATALOG, from 1 */
	size_t server;
	uint32_t tried; /* bit per server */
	bool auth_retried;
	bool urgent;            /* a query waits: ask even a server that is backing off */
	bool refused;           /* it failed on an answer saying no (4xx, API missing) */
	struct sync_call *next; /* on a server's auth_wait */
};

struct sync {
	uv_loop_t *loop;
	struct config cfg;
	struct snapshot_config snapcfg;
	struct snapstore *reg;
	const struct syncio *io;
	void *http; /* io's */
	struct sync_server servers[NACOSAPI_MAX_SERVERS];
	size_t n_servers, rr;
	bool pinned;
	struct sync_entry **buckets;
	size_t n_buckets, n_entries;
	struct sync_catalog *cats; /* ns NULL: a free slot; never moved while calls run */
	size_t n_cats, cats_cap;
	struct syncabsent *negative;     /* names of unlistable groups found absent */
	struct syncpolicy_bucket direct; /* fetches of unknown names */
	size_t total_instances;
	struct syncpolicy_guard guard;
	struct pushsock *push; /* NULL: push off */
	struct grpcsub *grpc;  /* gRPC hook: subscriptions and catalogs; NULL: HTTP only */
	uv_timer_t tick, catalog_timer, publish_timer, cache_timer;
	/* Snapshots are built on the thread pool from the services lent to the build. */
	struct lending *lent;
	struct bgwork_trim *trim; /* the previous snapshot is freed at each publish */
	struct snapjob *build;    /* in flight, or NULL */
	uint64_t build_ticket;
	bool build_again, build_urgent; /* another build is due when the one in flight ends */
	int64_t last_miss_ms, last_cache_ms;
	size_t last_skipped;
	int cache_rc; /* result of the last cache write, to log changes only */
	/* Queries for names missing from a zone whose catalog is not listed yet. */
	struct sync_waiter *catalog_waiters;
	size_t n_waiting;        /* waiters not run yet: a run one may wait again at once */
	bool build_complete;     /* the build in flight lists every catalog */
	bool published_complete; /* so did the snapshot published last */
	bool ready, dirty_cache, cache_inflight, closing;
	uint64_t network; /* counts resets of the servers (reloads) */
	int open_handles;
	uint64_t rnd;
	struct sync_stats stats;
};

static void sync_call_send(struct sync_call *c);
static void sync_schedule_publish(struct sync *s);
static void sync_fetch(struct sync *s, struct sync_entry *e, bool urgent);
static void sync_publish_urgent(struct sync *s);
/* gRPC hooks (--nacos-transport): the glue is in the "gRPC transport" section below. */
static void sync_grpc_start(struct sync *s);
static void sync_grpc_stop(struct sync *s);
static void sync_grpc_track(struct sync *s, const struct sync_entry *e, bool on);
static bool sync_grpc_covers(const struct sync *s, const struct sync_entry *e);
static bool sync_grpc_list(struct sync *s, struct sync_catalog *cat);
static void sync_grpc_token(struct sync *s, size_t server);
static void sync_grpc_stats(const struct sync *s, struct sync_stats *out);

/* ---- small helpers ----------------------------------------------------------------------- */

static int64_t sync_now(struct sync *s)
{
	return s->io->now_ms(s->io->ctx, s->loop);
}

static int64_t sync_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t sync_rand(struct sync *s)
{
	s->rnd ^= s->rnd << 13;
	s->rnd ^= s->rnd >> 7;
	s->rnd ^= s->rnd << 17;
	return (uint32_t)(s->rnd >> 16);
}

/* FNV-1a over namespace, group and name, for the tracked table and the absent names. */
static uint64_t sync_hash(const char *ns, const char *group, const char *name)
{
	uint64_t h = 1469598103934665603ull;
	const char *parts[3] = {ns, group, name};
	for (int i = 0; i < 3; i++) {
		for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
			h = (h ^ *p) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull; /* separator */
	}
	return h;
}

/* ---- tracked entries --------------------------------------------------------------------- */

static struct sync_entry *sync_entry_find(struct sync *s, const char *ns, const char *group,
					  const char *name)
{
	uint32_t h = (uint32_t)sync_hash(ns, group, name);
	for (struct sync_entry *e = s->buckets[h & (s->n_buckets - 1)]; e; e = e->hnext)
		if (e->hash == h && strcmp(e->name, name) == 0 && strcmp(e->group, group) == 0 &&
		    strcmp(e->ns, ns) == 0)
			return e;
	return NULL;
}

static void sync_grow(struct sync *s)
{
	size_t n = s->n_buckets * 2;
	struct sync_entry **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct sync_entry *e, *next;
		for (e = s->buckets[i]; e; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->n_buckets = n;
}

static struct sync_entry *sync_entry_add(struct sync *s, const char *ns, const char *group,
					 const char *name)
{
	struct sync_entry *e;
	if (s->n_entries >= s->cfg.max_tracked) {
		if (s->stats.over_tracked++ == 0)
			log_warn("nacos", "not tracking %s/%s/%s: max-tracked (%u) reached", ns,
				 group, name, s->cfg.max_tracked);
		return NULL;
	}
	if (!(e = calloc(1, sizeof(*e))))
		return NULL;
	e->ns = strdup(ns);
	e->group = strdup(group);
	e->name = strdup(name);
	if (!e->ns || !e->group || !e->name) {
		free(e->ns);
		free(e->group);
		free(e->name);
		free(e);
		return NULL;
	}
	if (s->n_entries >= s->n_buckets)
		sync_grow(s);
	e->hash = (uint32_t)sync_hash(ns, group, name);
	e->server = SIZE_MAX;
	e->last_used_ms = sync_now(s);
	e->hnext = s->buckets[e->hash & (s->n_buckets - 1)];
	s->buckets[e->hash & (s->n_buckets - 1)] = e;
	s->n_entries++;
	return e;
}

static void sync_entry_free(struct sync_entry *e)
{
	nacos_service_free(e->svc);
	free(e->ns);
	free(e->group);
	free(e->name);
	free(e);
}

static void sync_waiters_run(struct sync *s, struct sync_entry *e);

/* Stops tracking e: its data goes (the catalog, if it lists e, makes it pending again). */
static void sync_entry_remove(struct sync *s, struct sync_entry *e)
{
	struct sync_entry **p = &s->buckets[e->hash & (s->n_buckets - 1)];
	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	s->n_entries--;
	sync_grpc_track(s, e, false); /* gRPC hook: unsubscribe */
	if (e->svc)
		s->total_instances -= e->svc->n_instances;
	sync_waiters_run(s, e);
	lending_retire(s->lent, e->svc);
	e->svc = NULL;
	if (e->inflight) {
		e->doomed = true; /* the call frees it */
		return;
	}
	sync_entry_free(e);
}

/* ---- catalogs: the service names of one group ------------------------------------------ */

static struct sync_catalog *sync_catalog_in(struct sync_catalog *cats, size_t n, const char *ns,
					    const char *group)
{
	for (size_t i = 0; i < n; i++)
		if (cats[i].ns && strcmp(cats[i].ns, ns) == 0 && strcmp(cats[i].group, group) == 0)
			return &cats[i];
	return NULL;
}

static struct sync_catalog *sync_catalog_find(struct sync *s, const char *ns, const char *group)
{
	return sync_catalog_in(s->cats, s->n_cats, ns, group);
}

/* Never listed, and refused or failing: queries for its names fetch them by name. */
static bool sync_catalog_unlistable(const struct sync_catalog *cat)
{
	return !cat->valid && (cat->refused || cat->fail_streak >= SYNC_UNLISTABLE_STREAK);
}

/* Listed, or known not to be: what is missing from it is settled one way or the other. */
static bool sync_catalog_settled(const struct sync_catalog *cat)
{
	return cat->valid || sync_catalog_unlistable(cat);
}

/* ---- waiters: the first query of a service waits for its fetch ---------------------------- */

static void sync_handle_closed(struct sync *s);

static void sync_waiter_on_close(uv_handle_t *h)
{
	struct sync_waiter *w = h->data;
	struct sync *s = w->s;
	free(w);
	sync_handle_closed(s);
}

/* A snapshot of e's data alone, so that its waiters are answered as soon as the data is in,
 * however long the full build takes on a busy node. Small: one service. NULL when there is no
 * data (or no memory): the waiters then answer from the registry. */
static struct snapshot *sync_entry_snapshot(struct sync *s, const struct sync_entry *e)
{
	if (!e || !e->svc || s->closing)
		return NULL;
	struct nacos_diag d = {0};
	struct snapshot_builder *b =
		snapshot_builder_new(&s->snapcfg, snapshot_generation(snapstore_get(s->reg)), &d);
	if (!b || snapshot_builder_add_service(b, e->ns, e->svc, &d) <= 0) {
		snapshot_builder_free(b);
		return NULL;
	}
	return snapshot_build(b);
}

static void sync_waiter_fire(struct sync_waiter *w, const struct snapshot *snap, bool absent)
{
	uv_timer_stop(&w->timer);
	w->s->n_waiting--;
	w->cb(w->arg, snap, absent);
	uv_close((uv_handle_t *)&w->timer, sync_waiter_on_close);
}

static struct sync_waiter **sync_waiter_list(struct sync_waiter *w)
{
	return w->e ? &w->e->waiters : &w->s->catalog_waiters;
}

/* Runs the waiters on list, but for those waiting for a group still being listed. The list is
 * taken first: a callback may add waiters to it, for the next run. */
static void sync_waiter_list_run(struct sync *s, struct sync_waiter **list, struct sync_entry *e)
{
	struct sync_waiter *w, *run = *list;
	struct snapshot *snap = run ? sync_entry_snapshot(s, e) : NULL;
	*list = NULL;
	while ((w = run)) {
		run = w->next;
		if (w->cat && !sync_catalog_settled(w->cat) && !s->closing) {
			w->next = *list;
			*list = w;
			continue;
		}
		w->linked = false;
		sync_waiter_fire(w, snap, false);
	}
	snapshot_free(snap);
}

static void sync_waiters_run(struct sync *s, struct sync_entry *e)
{
	sync_waiter_list_run(s, &e->waiters, e);
}

static void on_waiter_timeout(uv_timer_t *t)
{
	struct sync_waiter *w = t->data;
	struct snapshot *snap = NULL;
	if (w->linked) {
		struct sync_waiter **p = sync_waiter_list(w);
		while (*p != w)
			p = &(*p)->next;
		*p = w->next;
		w->linked = false;
		snap = sync_entry_snapshot(w->s, w->e);
	}
	sync_waiter_fire(w, snap, w->absent);
	snapshot_free(snap);
}

/* cb runs after timeout_ms (told absent) unless e's (or the catalog's, e NULL) waiters are run
 * first. */
static int sync_waiter_add(struct sync *s, struct sync_entry *e, uint64_t timeout_ms, bool absent,
			   sync_fetch_cb cb, void *arg)
{
	if (s->n_waiting >= s->cfg.fetch_max_waiting) { /* a flood of names: answer SERVFAIL */
		if (s->stats.over_waiting++ == 0)
			log_warn("sync",
				 "fetch-max-waiting (%u) reached: queries for data not in "
				 "yet get SERVFAIL at once",
				 s->cfg.fetch_max_waiting);
		return -EBUSY;
	}
	struct sync_waiter *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	s->n_waiting++;
	uv_timer_init(s->loop, &w->timer);
	s->open_handles++;
	w->timer.data = w;
	w->s = s;
	w->e = e;
	w->linked = true;
	w->absent = absent;
	w->cb = cb;
	w->arg = arg;
	w->next = *sync_waiter_list(w);
	*sync_waiter_list(w) = w;
	uv_timer_start(&w->timer, on_waiter_timeout, timeout_ms, 0);
	return 0;
}

/* ---- servers ----------------------------------------------------------------------------- */

/* The next server to ask, spreading calls and skipping servers in backoff while others are
 * not; SIZE_MAX when every server was tried. */
static size_t sync_pick_server(struct sync *s, uint32_t tried)
{
	int64_t retry_at[NACOSAPI_MAX_SERVERS];
	for (size_t i = 0; i < s->n_servers; i++)
		retry_at[i] = s->servers[i].retry_at_ms;
	return syncpolicy_pick_server(retry_at, s->n_servers, &s->rr, tried, sync_now(s));
}

static void sync_server_failed(struct sync *s, struct sync_server *srv, const char *why)
{
	srv->failures++;
	srv->retry_at_ms = sync_now(s) + syncpolicy_backoff_ms(srv->failures, sync_rand(s));
	if (srv->failures == 1)
		log_warn("nacos", "server %s failing: %s; backing off", srv->url, why);
}

static void sync_server_ok(struct sync_server *srv)
{
	if (srv->failures)
		log_info("nacos", "server %s answers again after %u failures", srv->url,
			 srv->failures);
	srv->failures = 0;
	srv->retry_at_ms = 0;
}

/* The server lacks the API just used (nacosapi_api_missing). true: retry with v3. A server
 * without v1 naming is 3.2 or later, where v1 service/list is gone with it. */
static bool sync_switch_api(struct sync *s, struct sync_call *c, struct sync_server *srv, long st)
{
	enum nacosapi_version used = c->kind == SYNC_CALL_CATALOG ? srv->list_api : srv->api;
	if (s->pinned || used == NACOSAPI_V3)
		return false;
	if (srv->api != NACOSAPI_V3)
		log_info("nacos", "server %s has no v1 API (HTTP %ld): using the v3 client API",
			 srv->url, st);
	srv->api = srv->list_api = NACOSAPI_V3;
	return true;
}

/* ---- UDP push: who may push, and where to ----------------------------------------------- */

/* Canonical text of an address, IPv4-mapped IPv6 as IPv4; "" when in is no address. */
static void sync_ip_canon(const char *in, char out[INET6_ADDRSTRLEN])
{
	struct in6_addr a6;
	struct in_addr a4;
	out[0] = '\0';
	if (inet_pton(AF_INET, in, &a4) == 1)
		inet_ntop(AF_INET, &a4, out, INET6_ADDRSTRLEN);
	else if (inet_pton(AF_INET6, in, &a6) == 1 && IN6_IS_ADDR_V4MAPPED(&a6))
		inet_ntop(AF_INET, &a6.s6_addr[12], out, INET6_ADDRSTRLEN);
	else if (inet_pton(AF_INET6, in, &a6) == 1)
		inet_ntop(AF_INET6, &a6, out, INET6_ADDRSTRLEN);
}

static void sync_sockaddr_ip(const struct sockaddr *sa, char out[INET6_ADDRSTRLEN])
{
	char ip[INET6_ADDRSTRLEN] = "";
	if (sa->sa_family == AF_INET)
		uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof(ip));
	else if (sa->sa_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof(ip));
	sync_ip_canon(ip, out);
}

/* The host of "http://host:port/..." when it is an IP address, canonical; "" otherwise. */
static void sync_url_ip(const char *url, char out[INET6_ADDRSTRLEN])
{
	const char *h = strstr(url, "://");
	char host[INET6_ADDRSTRLEN + 1];
	size_t n;
	out[0] = '\0';
	if (!h)
		return;
	h += 3;
	if (*h == '[')
		n = strcspn(++h, "]");
	else
		n = strcspn(h, ":/");
	if (n >= sizeof(host))
		return;
	memcpy(host, h, n);
	host[n] = '\0';
	sync_ip_canon(host, out);
}

/* A connection to srv tells our address towards it, and one of its own: pushes come from the
 * addresses of the servers we talk to (a host name may have several). */
static void sync_server_learn(struct sync_server *srv, const struct http_response *resp)
{
	char ip[INET6_ADDRSTRLEN];
	if (resp->local_ip && resp->local_ip[0])
		sync_ip_canon(resp->local_ip, srv->local_ip);
	sync_ip_canon(resp->primary_ip ? resp->primary_ip : "", ip);
	if (!ip[0])
		return;
	for (size_t i = 0; i < SYNC_PEERS; i++)
		if (strcmp(srv->peers[i], ip) == 0)
			return;
	memmove(srv->peers[2], srv->peers[1], (SYNC_PEERS - 2) * sizeof(srv->peers[0]));
	memcpy(srv->peers[1], ip, sizeof(ip));
}

/* The configured server a datagram from peer comes from (any port); NULL: none. */
static struct sync_server *sync_push_server(struct sync *s, const struct sockaddr *peer)
{
	char ip[INET6_ADDRSTRLEN];
	sync_sockaddr_ip(peer, ip);
	for (size_t i = 0; ip[0] && i < s->n_servers; i++)
		for (size_t k = 0; k < SYNC_PEERS; k++)
			if (strcmp(s->servers[i].peers[k], ip) == 0)
				return &s->servers[i];
	return NULL;
}

/* The clientIP that polls sent to srv ask pushes for: --push-advertise, else the address the
 * push socket is bound to, else ours on the connection to srv. NULL: no push (off, the v3
 * API, no address known yet, or one of a family the socket cannot receive). */
static const char *sync_push_ip(const struct sync *s, const struct sync_server *srv)
{
	const char *ip, *bound;
	if (!s->push || srv->api == NACOSAPI_V3)
		return NULL;
	bound = pushsock_address(s->push);
	if (s->cfg.push_advertise[0])
		ip = s->cfg.push_advertise;
	else if (strcmp(bound, "0.0.0.0") != 0 && strcmp(bound, "::") != 0)
		ip = bound;
	else
		ip = srv->local_ip;
	return ip[0] && pushsock_can_receive(s->push, ip) ? ip : NULL;
}

/* The poll period of e: while pushes reach it, stretched towards Nacos's cacheMillis, but to
 * no more than twice poll-interval (a lost push, UDP being best effort, waits at most that
 * long) and below the 10 s after which 1.x forgets the subscription (jitter adds 10 %). */
static int64_t sync_poll_ms(const struct sync *s, const struct sync_entry *e)
{
	if (sync_grpc_covers(s, e)) /* gRPC hook: pushed at once; a poll is a safety net */
		return SYNC_GRPC_POLL_FACTOR * (int64_t)s->cfg.poll_interval_ms;
	return syncpolicy_poll_ms(s->cfg.poll_interval_ms, e->subscribed && e->push_ok,
				  e->svc ? e->svc->cache_millis : 0);
}

/* A poll of e goes out with (on) or without a push subscription. */
static void sync_entry_subscribe(struct sync *s, struct sync_entry *e, bool on)
{
	bool stretched = e->subscribed && e->push_ok;
	e->subscribed = on;
	e->push_ok = e->push_ok && on;
	if (stretched && !on) /* the next poll was planned for pushes that stop here */
		e->next_poll_ms =
			sync_now(s) + syncpolicy_jitter_ms(s->cfg.poll_interval_ms, sync_rand(s));
}

/* ---- calls: one logical request, failed over across servers ------------------------------- */

static struct sync_call *sync_call_new(struct sync *s, enum sync_call_kind kind)
{
	struct sync_call *c = calloc(1, sizeof(*c));
	if (c) {
		c->s = s;
		c->kind = kind;
	}
	return c;
}

static void sync_fetch_failed(struct sync *s, struct sync_entry *e, const char *why);
static void sync_catalog_failed(struct sync *s, struct sync_catalog *cat, const char *why,
				bool refused);
static void sync_login_finish(struct sync *s, size_t server, const char *why);
static void sync_call_succeeded(struct sync_call *c, const char *body, size_t len);

/* The call ends without an answer (why: logged by the handler once per state change). */
static void sync_call_failed(struct sync_call *c, const char *why)
{
	struct sync *s = c->s;
	if (c->kind == SYNC_CALL_INSTANCES)
		sync_fetch_failed(s, c->e, why);
	else if (c->kind == SYNC_CALL_CATALOG)
		sync_catalog_failed(s, c->cat, why, c->refused);
	else
		sync_login_finish(s, c->server, why);
	free(c);
}

/* The server an instance list goes to: its entry's own while that one is not backing off (or a
 * query waits), else the next that answers, which becomes its own. */
static size_t sync_call_server(struct sync_call *c)
{
	struct sync *s = c->s;
	size_t own = c->kind == SYNC_CALL_INSTANCES ? c->e->server : SIZE_MAX;
	if (own < s->n_servers && !(c->tried & (1u << own)) &&
	    (c->urgent || s->servers[own].retry_at_ms <= sync_now(s)))
		return own;
	return sync_pick_server(s, c->tried);
}

/* Sends c to a server not tried yet; why: what to report when none is left. */
static void sync_call_start(struct sync_call *c, const char *why)
{
	size_t idx = sync_call_server(c);
	if (idx == SIZE_MAX) {
		sync_call_failed(c, why);
		return;
	}
	if (c->s->servers[idx].retry_at_ms > sync_now(c->s) && !c->urgent) {
		sync_call_failed(c, c->tried ? why : "every Nacos server is backing off");
		return;
	}
	c->server = idx;
	c->tried |= 1u << idx;
	c->auth_retried = false;
	sync_call_send(c);
}

static void sync_catalog_drop_acc(struct sync_catalog *cat)
{
	nacos_strv_free(cat->acc, cat->n_acc);
	cat->acc = NULL;
	cat->n_acc = 0;
	cat->first_total = 0;
	cat->n_raw = 0;
}

/* The server failed this call: the next server, or give up. Logins stay on their server. */
static void sync_call_retry(struct sync_call *c, const char *why)
{
	if (c->kind == SYNC_CALL_LOGIN || c->s->closing) {
		sync_call_failed(c, why);
		return;
	}
	if (c->kind == SYNC_CALL_CATALOG && c->page > 1) {
		c->page = 1; /* the pages of one listing come from one server */
		sync_catalog_drop_acc(c->cat);
	}
	sync_call_start(c, why);
}

static char *sync_call_url(struct sync_call *c, struct sync_server *srv)
{
	const char *tok = srv->token && srv->token[0] ? srv->token : NULL;
	if (c->kind == SYNC_CALL_LOGIN)
		return nacosapi_login_url(srv->url,
					  srv->api == NACOSAPI_V3 ? NACOSAPI_V3 : NACOSAPI_V1);
	if (c->kind == SYNC_CALL_CATALOG)
		return nacosapi_service_list_url(srv->url, srv->list_api, c->cat->ns, c->cat->group,
						 c->page, NACOSAPI_PAGE_SIZE, tok);
	c->e->polled_ms = sync_now(c->s);
	if (srv->api == NACOSAPI_V3) {
		sync_entry_subscribe(c->s, c->e, false);
		return nacosapi_instance_list_url(srv->url, NACOSAPI_V3, c->e->ns, c->e->group,
						  c->e->name, NULL);
	}
	char *url = nacosapi_instance_list_url(srv->url, NACOSAPI_V1, c->e->ns, c->e->group,
					       c->e->name, tok);
	const char *ip = sync_push_ip(c->s, srv);
	sync_entry_subscribe(c->s, c->e, ip != NULL);
	return ip ? nacosapi_subscribe_take(url, ip, pushsock_port(c->s->push)) : url;
}

static void on_call_done(void *arg, const struct http_response *resp);

static bool sync_needs_login(struct sync *s, const struct sync_call *c,
			     const struct sync_server *srv)
{
	if (c->kind == SYNC_CALL_LOGIN || !s->cfg.username[0])
		return false;
	return !srv->token || sync_now(s) >= srv->token_refresh_ms;
}

static void sync_login_start(struct sync *s, size_t server);

static void sync_call_send(struct sync_call *c)
{
	struct sync *s = c->s;
	struct sync_server *srv = &s->servers[c->server];
	if (sync_needs_login(s, c, srv)) {
		c->next = srv->auth_wait;
		srv->auth_wait = c;
		if (!srv->login_inflight)
			sync_login_start(s, c->server);
		return;
	}
	char *url = sync_call_url(c, srv);
	char *form = c->kind == SYNC_CALL_LOGIN
			     ? nacosapi_login_form(s->cfg.username, s->cfg.password)
			     : NULL;
	char *header = srv->token && srv->token[0] && c->kind != SYNC_CALL_LOGIN
			       ? nacosapi_token_header(srv->token)
			       : NULL;
	struct http_request req = {.url = url, .form = form, .header = header};
	int rc = url && (form || c->kind != SYNC_CALL_LOGIN)
			 ? s->io->submit(s->http, &req, on_call_done, c)
			 : -ENOMEM;
	free(url);
	if (form)
		explicit_bzero(form, strlen(form));
	free(form);
	free(header);
	if (rc < 0)
		sync_call_failed(c, strerror(-rc));
	else
		s->stats.requests++;
}

static void sync_call_cancel(struct sync_call *c)
{
	struct sync *s = c->s;
	if (c->kind == SYNC_CALL_INSTANCES) {
		c->e->inflight = false;
		if (c->e->doomed)
			sync_entry_free(c->e);
	} else if (c->kind == SYNC_CALL_CATALOG) {
		c->cat->inflight = false;
		sync_catalog_drop_acc(c->cat);
	} else {
		struct sync_server *srv = &s->servers[c->server];
		struct sync_call *w;
		srv->login_inflight = false;
		while ((w = srv->auth_wait)) {
			srv->auth_wait = w->next;
			sync_call_cancel(w);
		}
	}
	free(c);
}

static void sync_describe(char *buf, size_t cap, const struct http_response *resp)
{
	if (resp->error) {
		snprintf(buf, cap, "%s%s", resp->answering ? "answer stalled after it began: " : "",
			 resp->reason[0] ? resp->reason : strerror(-resp->error));
		return;
	}
	int n = (int)(resp->len < 160 ? resp->len : 160);
	snprintf(buf, cap, "HTTP %ld: %.*s", resp->status, n, resp->body);
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '"')
			*p = ' ';
}

/* The same tests as on_call_done's, in its order, for the per-server counters. */
static enum sync_result sync_classify(const struct sync *s, const struct sync_call *c,
				      const struct http_response *resp)
{
	if (resp->error == -EMSGSIZE)
		return SYNC_RESULT_REJECTED;
	if (resp->error)
		return SYNC_RESULT_ERROR;
	if (nacosapi_api_missing(resp->status, resp->body))
		return SYNC_RESULT_API_MISSING;
	if (nacosapi_server_error(resp->status))
		return SYNC_RESULT_ERROR;
	if (c->kind != SYNC_CALL_LOGIN && s->cfg.username[0] &&
	    nacosapi_auth_failed(resp->status, resp->body))
		return SYNC_RESULT_AUTH;
	return resp->status == 200 ? SYNC_RESULT_OK : SYNC_RESULT_REJECTED;
}

const char *sync_result_name(enum sync_result r)
{
	static const char *const names[SYNC_RESULT_COUNT] = {"ok", "error", "api_missing", "auth",
							     "rejected"};
	return r < SYNC_RESULT_COUNT ? names[r] : "unknown";
}

static void on_call_done(void *arg, const struct http_response *resp)
{
	struct sync_call *c = arg;
	struct sync *s = c->s;
	struct sync_server *srv = &s->servers[c->server];
	char why[256];
	if (resp->error == -ECANCELED || s->closing) {
		sync_call_cancel(c);
		return;
	}
	sync_describe(why, sizeof(why), resp);
	srv->results[srv->api == NACOSAPI_V3][sync_classify(s, c, resp)]++;
	if (!resp->error)
		sync_server_learn(srv, resp);
	if (resp->error == -EMSGSIZE) {
		/* Every server holds the same data: no retry elsewhere, and no backoff. */
		s->stats.over_response_size++;
		snprintf(why, sizeof(why), "answer larger than max-response-size (%u bytes)",
			 s->cfg.max_response_size);
		sync_call_failed(c, why);
	} else if (!resp->error && nacosapi_api_missing(resp->status, resp->body)) {
		/* Not a failing server: one without this API (a 501 or 500 here says so). */
		if (sync_switch_api(s, c, srv, resp->status)) {
			sync_call_send(c);
		} else {
			c->refused = true;
			sync_call_failed(c, why);
		}
	} else if (resp->error && resp->answering) {
		/* An answer that began and stalled: too slow for this request (a large answer), not
		 * a sick server, which the server's other calls need not pay for with a backoff. */
		sync_call_retry(c, why);
	} else if (resp->error || nacosapi_server_error(resp->status)) {
		sync_server_failed(s, srv, why);
		sync_call_retry(c, why);
	} else if (c->kind != SYNC_CALL_LOGIN && s->cfg.username[0] && !c->auth_retried &&
		   nacosapi_auth_failed(resp->status, resp->body)) {
		c->auth_retried = true; /* log in again, then retry once */
		free(srv->token);
		srv->token = NULL;
		sync_call_send(c);
	} else if (resp->status != 200) {
		c->refused = true;
		sync_call_failed(c, why);
	} else {
		sync_server_ok(srv);
		sync_call_succeeded(c, resp->body, resp->len);
	}
}

/* ---- login ------------------------------------------------------------------------------- */

static void sync_login_start(struct sync *s, size_t server)
{
	struct sync_server *srv = &s->servers[server];
	if (!syncpolicy_login_take(&srv->logins, sync_now(s))) {
		sync_login_finish(s, server, "too many logins in a minute");
		return;
	}
	struct sync_call *c = sync_call_new(s, SYNC_CALL_LOGIN);
	if (!c) {
		sync_login_finish(s, server, "out of memory");
		return;
	}
	srv->login_inflight = true;
	c->server = server;
	c->tried = 1u << server;
	s->stats.logins++;
	sync_call_send(c);
}

/* A login ended: why == NULL on success. The calls waiting for it go on, or fail over. */
static void sync_login_finish(struct sync *s, size_t server, const char *why)
{
	struct sync_server *srv = &s->servers[server];
	struct sync_call *list = srv->auth_wait, *c;
	srv->login_inflight = false;
	srv->auth_wait = NULL;
	if (why && !srv->login_failing)
		log_warn("nacos", "login as %s at %s failed: %s", s->cfg.username, srv->url, why);
	srv->login_failing = why != NULL;
	while ((c = list)) {
		list = c->next;
		if (why)
			sync_call_retry(c, why);
		else
			sync_call_send(c);
	}
}

static void sync_login_done(struct sync *s, size_t server, const char *body, size_t len)
{
	struct sync_server *srv = &s->servers[server];
	char *token = NULL;
	int64_t ttl = 0;
	if (nacos_parse_login(body, len, NULL, &token, &ttl) < 0) {
		sync_login_finish(s, server, "malformed login answer");
		return;
	}
	free(srv->token);
	srv->token = token;
	srv->token_refresh_ms = syncpolicy_token_refresh_at(sync_now(s), ttl);
	log_debug("nacos", "logged in at %s as %s, token valid %llds", srv->url, s->cfg.username,
		  (long long)ttl);
	sync_grpc_token(s, server); /* gRPC hook: the same token in metadata.headers */
	sync_login_finish(s, server, NULL);
}

/* ---- instance lists ---------------------------------------------------------------------- */

static void sync_fetch(struct sync *s, struct sync_entry *e, bool urgent)
{
	struct sync_call *c = sync_call_new(s, SYNC_CALL_INSTANCES);
	sync_grpc_track(s, e, true); /* gRPC hook: subscribe (a no-op when it is) */
	e->next_poll_ms = sync_now(s) + syncpolicy_jitter_ms(sync_poll_ms(s, e), sync_rand(s));
	if (!c)
		return;
	e->inflight = true;
	c->e = e;
	c->urgent = urgent;
	sync_call_start(c, "no Nacos server to ask");
}

/* e's data, safe to change: while a job on the thread pool may read it, a copy takes its place.
 * NULL on ENOMEM. */
static struct nacos_service *sync_svc_edit(struct sync *s, struct sync_entry *e)
{
	if (!e->svc || !lending_active(s->lent))
		return e->svc;
	struct nacos_service *c = nacos_service_clone(e->svc);
	if (!c)
		return NULL;
	lending_retire(s->lent, e->svc);
	e->svc = c;
	return c;
}

/* Marks e's data as served stale, or not. true when that changed. */
static bool sync_mark_stale(struct sync *s, struct sync_entry *e, bool stale)
{
	if (!e->svc || e->svc->origin.stale == stale)
		return false;
	struct nacos_service *svc = sync_svc_edit(s, e);
	if (!svc)
		return false;
	svc->origin.stale = stale;
	return true;
}

/* Ends a call on e; false when e was untracked meanwhile (and is now freed). */
static bool sync_entry_settle(struct sync_entry *e)
{
	e->inflight = false;
	if (!e->doomed)
		return true;
	sync_entry_free(e);
	return false;
}

#define SYNC_STREAK_LOG_MS 60000

/* Whether a failure (the first of a run when first) is to be logged now; *n: how many went
 * unlogged before it. */
static bool sync_streak_due(struct sync *s, struct sync_streak *k, bool first, unsigned *n)
{
	int64_t now = sync_now(s);
	if (!first && now - k->logged_ms < SYNC_STREAK_LOG_MS) {
		k->unlogged++;
		return false;
	}
	*n = first ? 0 : k->unlogged;
	k->unlogged = 0;
	k->logged_ms = now;
	return true;
}

static void sync_fetch_failed(struct sync *s, struct sync_entry *e, const char *why)
{
	unsigned n;
	if (!sync_entry_settle(e))
		return;
	s->stats.fetch_failed++;
	if (sync_streak_due(s, &e->streak, !e->failing, &n))
		log_warn("nacos", "fetching %s/%s/%s failed (%u more since the last line): %s; %s",
			 e->ns, e->group, e->name, n, why,
			 e->svc ? "serving the last good copy" : "no data yet");
	e->failing = true;
	if (sync_mark_stale(s, e, true))
		sync_schedule_publish(s);
	sync_waiters_run(s, e);
}

static void sync_origin_set(struct nacos_service *svc, const struct sync_server *srv)
{
	free(svc->origin.server);
	free(svc->origin.api);
	svc->origin.server = strdup(srv->url);
	svc->origin.api =
		strdup(nacosapi_version_name(srv->api == NACOSAPI_V3 ? NACOSAPI_V3 : NACOSAPI_V1));
	svc->origin.fetched_ms = sync_wall_ms();
	svc->origin.stale = false;
}

/* The answer names the service as Nacos spells it; keep the name the entry was asked by. */
static void sync_name_set(struct nacos_service *svc, const struct sync_entry *e)
{
	char *g, *n;
	if (strcmp(svc->group, e->group) == 0 && strcmp(svc->name, e->name) == 0)
		return;
	if (!(g = strdup(e->group)) || !(n = strdup(e->name))) {
		free(g);
		return;
	}
	free(svc->group);
	free(svc->name);
	svc->group = g;
	svc->name = n;
}

/* Whether an answer that takes e from old_n to new_n instances may be applied now. */
static bool sync_removal_allowed(struct sync *s, const struct sync_entry *e, size_t old_n,
				 size_t new_n)
{
	bool started = false;
	bool allow = syncpolicy_guard_allow(&s->guard, sync_now(s), s->total_instances,
					    old_n - new_n, &started);
	if (started)
		log_warn("nacos",
			 "answers would remove over half of all %zu instances at once: holding "
			 "removals back for %ds unless Nacos recovers",
			 s->total_instances, SYNC_HOLD_MS / 1000);
	/* An empty list is what a Nacos restarting empty answers for every service: take it only
	 * when the next answer says it again, so that the guard has counted the whole round
	 * before the first service is emptied. */
	return allow && (new_n > 0 || e->held);
}

/* Keeps e's data, served stale, instead of svc (freed). true when the snapshot must change. */
static bool sync_hold(struct sync *s, struct sync_entry *e, struct nacos_service *svc)
{
	s->stats.held_back++;
	e->held = true;
	nacos_service_free(svc);
	return sync_mark_stale(s, e, true);
}

/* Applies a fresh answer for e (svc taken). true when the snapshot must change. */
static bool sync_apply(struct sync *s, struct sync_entry *e, struct nacos_service *svc)
{
	enum syncpolicy_change ch = syncpolicy_compare(e->svc, svc);
	size_t old_n = e->svc ? e->svc->n_instances : 0;
	if (e->held && svc->n_instances >= old_n && s->guard.holding) {
		log_info("nacos",
			 "%s/%s/%s: Nacos answers with the data held back again: removals "
			 "are no longer held",
			 e->ns, e->group, e->name);
		syncpolicy_guard_recovered(&s->guard);
	}
	if (ch == SYNCPOLICY_SAME) {
		/* The same data, with where it came from now: shown in _info when that changed. */
		bool shown = e->svc->origin.stale ||
			     e->svc->origin.uncatalogued != svc->origin.uncatalogued;
		lending_retire(s->lent, e->svc);
		e->svc = svc;
		e->held = false;
		return shown;
	}
	if (old_n > svc->n_instances && !sync_removal_allowed(s, e, old_n, svc->n_instances))
		return sync_hold(s, e, svc);
	s->total_instances = s->total_instances - old_n + svc->n_instances;
	lending_retire(s->lent, e->svc);
	e->svc = svc;
	e->held = false;
	return true;
}

/* A polled answer (svc taken) from server `server` with its lastRefTime ref. The answer of the
 * entry's own server wins, as in the Nacos SDKs, unless a push from that server brought newer
 * data while this poll was out: so neither a clock running ahead nor a node that lags can pin
 * old data. An answer from another server (failover) starts the comparison afresh. true when
 * the snapshot must change. */
static bool sync_take_answer(struct sync *s, struct sync_entry *e, struct nacos_service *svc,
			     size_t server, int64_t ref)
{
	bool own = e->server == server;
	if (own && e->svc && ref && ref < e->ref_ms && e->pushed_ms >= e->polled_ms) {
		nacos_service_free(svc);
		return sync_mark_stale(s, e, false); /* Nacos answered */
	}
	if (!own) {
		e->server = server;
		e->push_ok = false;
	}
	e->ref_ms = ref;
	return sync_apply(s, e, svc);
}

/* The first reason a parser gave: what a log line about its answer says. */
struct sync_reason {
	char text[240];
};

static void sync_on_reason(void *arg, const char *msg)
{
	struct sync_reason *r = arg;
	if (!r->text[0])
		snprintf(r->text, sizeof(r->text), "%s", msg);
}

/* An instance list answer being parsed: on the loop when small, else on the thread pool, as
 * snapshots are built, so that a 65,536-instance answer (a second of CPU) stalls no query. */
struct sync_parse {
	uv_work_t work;
	struct sync *s;
	struct sync_entry *e; /* inflight until parsed: kept alive (doomed at most) */
	size_t server;
	uint64_t network; /* s->network when it was asked: servers renumbered since: dropped */
	bool v3;
	char *body; /* owned when on the pool */
	size_t len;
	int rc;
	struct nacos_service *svc;
	struct sync_reason why;
	size_t skipped;
	int64_t ref; /* Nacos's lastRefTime (ms) of a v1 answer; 0: none */
};

#define SYNC_PARSE_INLINE (64 * 1024) /* answers up to this size are parsed on the loop */

/* Touches nothing shared: the body, the entry's immutable names, and its own results. */
static void sync_parse_run(struct sync_parse *j)
{
	struct nacos_diag d = {.warn = sync_on_reason, .arg = &j->why};
	j->rc = j->v3 ? nacos_parse_v3_instances(j->body, j->len, j->e->group, j->e->name, &d,
						 &j->svc)
		      : nacos_parse_instance_list(j->body, j->len, j->e->group, &d, &j->svc);
	j->skipped = d.skipped;
	if (j->v3 || push_ref_time(j->body, j->len, &j->ref) < 0)
		j->ref = 0;
}

static void sync_fetch_parsed(struct sync *s, struct sync_parse *j)
{
	struct sync_entry *e = j->e;
	struct nacos_service *svc = j->svc;
	const struct sync_server *srv = &s->servers[j->server];
	if (j->rc == -EFBIG) { /* more hosts than any service may have: refused whole */
		s->stats.over_instances++;
		sync_fetch_failed(s, e, "more instances than max-instances");
		return;
	}
	if (j->rc == 0 && svc->n_instances > s->cfg.max_instances) {
		char over[96];
		snprintf(over, sizeof(over), "%zu instances, over max-instances (%u)",
			 svc->n_instances, s->cfg.max_instances);
		nacos_service_free(svc);
		s->stats.over_instances++;
		sync_fetch_failed(s, e, over);
		return;
	}
	if (j->rc < 0) {
		char text[300];
		snprintf(text, sizeof(text), "malformed answer (%s)",
			 j->why.text[0] ? j->why.text : "?");
		sync_fetch_failed(s, e, j->rc == -ENOMEM ? "out of memory" : text);
		return;
	}
	if (j->skipped != e->skipped_logged) /* logged when the count changes, not per poll */
		log_warn("nacos", "%s/%s/%s: %zu instances skipped (%s)", e->ns, e->group, e->name,
			 j->skipped, j->why.text[0] ? j->why.text : "none now");
	e->skipped_logged = j->skipped;
	if (!sync_entry_settle(e)) {
		nacos_service_free(svc);
		return;
	}
	s->stats.fetch_ok++;
	if (e->failing)
		log_info("nacos", "fetching %s/%s/%s works again", e->ns, e->group, e->name);
	e->failing = false;
	sync_name_set(svc, e);
	sync_origin_set(svc, srv);
	const struct sync_catalog *cat = sync_catalog_find(s, e->ns, e->group);
	svc->origin.uncatalogued = cat && sync_catalog_unlistable(cat);
	if (sync_take_answer(s, e, svc, j->server, j->ref))
		sync_schedule_publish(s);
	if (e->waiters) { /* first queries: answered now, and the next ones from the registry */
		sync_waiters_run(s, e);
		sync_publish_urgent(s);
	}
}

static void on_parse_work(uv_work_t *w)
{
	bgwork_lower_priority();
	sync_parse_run(w->data);
}

static void on_parse_done(uv_work_t *w, int status)
{
	struct sync_parse *j = w->data;
	struct sync *s = j->s;
	if (s->closing || j->network != s->network) {
		nacos_service_free(j->svc);
		sync_entry_settle(j->e); /* frees it when it was untracked meanwhile */
	} else {
		sync_fetch_parsed(s, j);
	}
	free(j->body);
	free(j);
	sync_handle_closed(s); /* the job counted as an open handle */
}

static void sync_fetch_done(struct sync *s, struct sync_entry *e, size_t server, const char *body,
			    size_t len)
{
	struct sync_parse local = {.s = s,
				   .e = e,
				   .server = server,
				   .network = s->network,
				   .v3 = s->servers[server].api == NACOSAPI_V3,
				   .body = (char *)body,
				   .len = len};
	struct sync_parse *j = len > SYNC_PARSE_INLINE ? malloc(sizeof(*j)) : NULL;
	char *copy = j ? malloc(len + 1) : NULL;
	if (copy) {
		memcpy(copy, body, len + 1); /* NUL-terminated, as the parsers take it */
		*j = local;
		j->body = copy;
		j->work.data = j;
		if (uv_queue_work(s->loop, &j->work, on_parse_work, on_parse_done) == 0) {
			s->open_handles++;
			return;
		}
	}
	free(copy);
	free(j);
	sync_parse_run(&local);
	sync_fetch_parsed(s, &local);
}

/* ---- UDP push: datagrams ------------------------------------------------------------------ */

static void sync_on_diag(void *arg, const char *msg);

static void sync_push_reject(struct sync *s, const struct sockaddr *peer, const char *why)
{
	char ip[INET6_ADDRSTRLEN];
	s->stats.push_rejected++;
	sync_sockaddr_ip(peer, ip);
	log_debug("push", "datagram from %s rejected: %s", ip[0] ? ip : "?", why);
}

/* The tracked entry a push of group/name is for. A push names no namespace: when several
 * zones' namespaces track the name, it is ambiguous, and those entries are polled now. */
static struct sync_entry *sync_push_target(struct sync *s, const char *group, const char *name)
{
	struct sync_entry *found = NULL, *e;
	bool ambiguous = false;
	for (size_t z = 0; z < s->cfg.n_zones; z++) {
		if (!(e = sync_entry_find(s, s->cfg.zones[z].namespace_id, group, name)) ||
		    e == found)
			continue;
		ambiguous = found != NULL;
		if (found && !found->inflight && !found->waiters)
			sync_fetch(s, found, false);
		if (found && !e->inflight && !e->waiters)
			sync_fetch(s, e, false);
		found = e;
	}
	return ambiguous ? NULL : found;
}

/* A "dom" push from srv: applied when it is newer than the data held (Nacos's lastRefTime). */
static void sync_push_apply(struct sync *s, const struct sync_server *srv, const struct push_msg *m,
			    const struct sockaddr *peer)
{
	struct nacos_diag d = {.warn = sync_on_diag, .arg = s};
	struct nacos_service *svc = NULL;
	struct sync_entry *e;
	int64_t ref = 0;
	if (m->data_len > s->cfg.max_response_size) { /* the caps on answers hold for pushes */
		s->stats.over_response_size++;
		sync_push_reject(s, peer, "data over max-response-size");
		return;
	}
	if (push_service(m, &d, &svc, &ref) < 0 || svc->n_instances > s->cfg.max_instances) {
		s->stats.over_instances += svc != NULL;
		nacos_service_free(svc);
		sync_push_reject(s, peer, "bad service data, or over max-instances");
		return;
	}
	if (ref > sync_wall_ms() + SYNC_PUSH_MAX_AHEAD_MS) {
		nacos_service_free(svc);
		sync_push_reject(s, peer, "lastRefTime far ahead of our clock");
		return;
	}
	e = sync_push_target(s, svc->group, svc->name);
	if (!e || (size_t)(srv - s->servers) != e->server || (e->svc && ref <= e->ref_ms)) {
		log_debug("push", "%s@@%s: %s", svc->group, svc->name,
			  !e ? "not tracked here"
			  : (size_t)(srv - s->servers) != e->server
				  ? "not from its server"
				  : "no newer than the data held");
		nacos_service_free(svc);
		s->stats.push_stale++;
		return;
	}
	log_debug("push", "%s/%s/%s: %zu instances pushed by %s", e->ns, e->group, e->name,
		  svc->n_instances, srv->url);
	s->stats.push_applied++;
	e->ref_ms = ref;
	e->pushed_ms = sync_now(s);
	e->push_ok = true;
	sync_name_set(svc, e);
	sync_origin_set(svc, srv);
	if (sync_apply(s, e, svc))
		sync_schedule_publish(s);
}

/* Every datagram is either acked and used, or rejected; the ack goes from this socket to the
 * sender, which Nacos matches on (address, port, lastRefTime). */
static void on_push(void *arg, const uint8_t *data, size_t len, const struct sockaddr *peer)
{
	struct sync *s = arg;
	struct sync_server *srv = sync_push_server(s, peer);
	struct push_msg m;
	char ack[128];
	int rc, n;
	if (s->closing)
		return;
	s->stats.push_received++;
	if (!srv) {
		sync_push_reject(s, peer, "not from a configured Nacos server");
		return;
	}
	if ((rc = push_parse(data, len, &m)) < 0) {
		sync_push_reject(s, peer, rc == -EMSGSIZE ? "inflates too far" : "malformed");
		return;
	}
	if ((n = push_ack(&m, ack, sizeof(ack))) > 0)
		pushsock_send(s->push, peer, ack, (size_t)n);
	if (m.type == PUSH_DOM)
		sync_push_apply(s, srv, &m, peer);
	else
		sync_push_reject(s, peer, "not a \"dom\" push");
	push_msg_deinit(&m);
}

/* Opens the push socket when push is on. <0 only when an explicit --push-listen cannot be
 * bound; without one, a failure leaves polling alone (logged). */
static int sync_push_start(struct sync *s)
{
	const char *where = s->cfg.push_listen[0] ? s->cfg.push_listen : "an ephemeral port";
	int rc;
	if (!s->cfg.push)
		return 0;
	if ((rc = pushsock_new(s->loop, s->cfg.push_listen, on_push, s, &s->push)) < 0) {
		s->push = NULL;
		log_msg(s->cfg.push_listen[0] ? LOG_LEVEL_ERR : LOG_LEVEL_WARN, "push",
			"cannot receive Nacos pushes on %s: %s; polling only", where,
			uv_strerror(rc));
		return s->cfg.push_listen[0] ? rc : 0;
	}
	log_info("push", "receiving Nacos pushes on %s port %u", pushsock_address(s->push),
		 pushsock_port(s->push));
	return 0;
}

static void sync_push_stop(struct sync *s)
{
	pushsock_close(s->push);
	s->push = NULL;
	for (size_t i = 0; i < s->n_buckets; i++)
		for (struct sync_entry *e = s->buckets[i]; e; e = e->hnext)
			e->push_ok = false;
}

/* ---- catalog ----------------------------------------------------------------------------- */

static void sync_catalog_list(struct sync *s, struct sync_catalog *cat)
{
	if (sync_grpc_list(s, cat)) /* gRPC hook: ServiceListRequest while connected */
		return;
	struct sync_call *c = sync_call_new(s, SYNC_CALL_CATALOG);
	if (!c)
		return;
	cat->inflight = true;
	c->cat = cat;
	c->page = 1;
	sync_call_start(c, "no Nacos server to ask");
}

static void sync_catalog_round(struct sync *s)
{
	for (size_t i = 0; i < s->n_cats; i++)
		if (s->cats[i].ns && !s->cats[i].inflight)
			sync_catalog_list(s, &s->cats[i]);
}

static void sync_catalog_failed(struct sync *s, struct sync_catalog *cat, const char *why,
				bool refused)
{
	bool was = sync_catalog_unlistable(cat);
	unsigned n;
	cat->inflight = false;
	sync_catalog_drop_acc(cat);
	s->stats.catalog_failed++;
	cat->refused = refused;
	cat->fail_streak++;
	if (sync_streak_due(s, &cat->streak, !cat->failing, &n))
		log_warn("nacos",
			 "listing services of %s/%s failed (%u more since the last line): %s; "
			 "keeping %zu known names",
			 cat->ns, cat->group, n, why, cat->n);
	cat->failing = true;
	if (!was && sync_catalog_unlistable(cat)) {
		log_warn("nacos",
			 "no catalog of %s/%s: names queried in it are fetched by name, and "
			 "absent ones are NXDOMAIN",
			 cat->ns, cat->group);
		sync_publish_urgent(s); /* its zone may stop being partial: queries wait for that */
	}
}

struct sync_gone {
	struct sync *s;
	struct sync_catalog *cat;
	size_t lost; /* instances of the names gone */
};

static void sync_gone_count(void *arg, const char *name)
{
	struct sync_gone *g = arg;
	struct sync_entry *e = sync_entry_find(g->s, g->cat->ns, g->cat->group, name);
	g->lost += e && e->svc ? e->svc->n_instances : 0;
}

static void sync_gone_remove(void *arg, const char *name)
{
	struct sync_gone *g = arg;
	struct sync_entry *e = sync_entry_find(g->s, g->cat->ns, g->cat->group, name);
	log_info("nacos", "service %s/%s/%s left the catalog", g->cat->ns, g->cat->group, name);
	if (e)
		sync_entry_remove(g->s, e);
}

/* Names of old missing from fresh (both sorted) leave the catalog with their data, all or
 * none: a listing that would take most instances away is held back whole. true: changed. */
static bool sync_catalog_diff(struct sync *s, struct sync_catalog *cat, char **fresh, size_t n)
{
	struct sync_gone g = {.s = s, .cat = cat, .lost = 0};
	size_t gone = synccatalog_gone(cat->names, cat->n, fresh, n, sync_gone_count, &g);
	size_t lost = g.lost;
	bool started = false;
	if (gone == 0)
		return cat->n != n || !cat->valid;
	if (lost &&
	    !syncpolicy_guard_allow(&s->guard, sync_now(s), s->total_instances, lost, &started)) {
		s->stats.held_back++;
		if (started)
			log_warn("nacos",
				 "the catalog of %s/%s would remove %zu of all %zu instances "
				 "at once: holding it back",
				 cat->ns, cat->group, lost, s->total_instances);
		return false; /* the caller keeps the old names too */
	}
	synccatalog_gone(cat->names, cat->n, fresh, n, sync_gone_remove, &g);
	return true;
}

static void sync_catalog_track_all(struct sync *s, struct sync_catalog *cat)
{
	for (size_t i = 0; i < cat->n; i++) {
		if (sync_entry_find(s, cat->ns, cat->group, cat->names[i]))
			continue;
		struct sync_entry *e = sync_entry_add(s, cat->ns, cat->group, cat->names[i]);
		if (e)
			e->next_poll_ms = 0; /* fetched on the next tick */
	}
}

static void sync_catalog_finish(struct sync *s, struct sync_catalog *cat, size_t last_total)
{
	char **fresh = cat->acc;
	size_t n = cat->n_acc, old_n = cat->n;
	/* Pages of a changing (or reshuffled) set skip names: such a listing adds, never removes.
	 * Counted in items as the server counts them, whatever group they are of. */
	bool partial = synccatalog_partial(cat->first_total, last_total, cat->n_raw);
	cat->acc = NULL;
	cat->n_acc = 0;
	cat->n_raw = 0;
	cat->inflight = false;
	synccatalog_normalise(fresh, &n);
	if (partial && cat->valid)
		synccatalog_union(&fresh, &n, cat->names, cat->n);
	bool first = !cat->valid, changed = sync_catalog_diff(s, cat, fresh, n);
	if (!changed && cat->valid) /* held back, or the same names */
		synccatalog_union(&fresh, &n, cat->names, cat->n);
	changed = changed || n != old_n;
	nacos_strv_free(cat->names, cat->n);
	cat->names = fresh;
	cat->n = n;
	if (cat->failing)
		log_info("nacos", "listing services of %s/%s works again", cat->ns, cat->group);
	cat->failing = cat->refused = false;
	cat->fail_streak = 0;
	cat->valid = true;
	s->stats.catalog_ok++;
	if (s->cfg.track_all)
		sync_catalog_track_all(s, cat);
	if (first) /* its zone stops being partial: queries may be waiting for that */
		sync_publish_urgent(s);
	else if (changed)
		sync_schedule_publish(s);
}

static int sync_catalog_page_parse(struct sync_call *c, const char *body, size_t len,
				   struct nacos_diag *d, size_t *total, size_t *got)
{
	struct sync_server *srv = &c->s->servers[c->server];
	char **names = NULL;
	size_t n = 0;
	int rc = srv->list_api == NACOSAPI_V3
			 ? nacosapi_parse_v3_service_list(body, len, c->cat->group, &names, &n, got,
							  total)
			 : nacos_parse_service_list(body, len, d, &names, &n, total);
	if (rc < 0)
		return rc;
	if (srv->list_api != NACOSAPI_V3)
		*got = n;
	c->cat->n_raw += *got;
	rc = synccatalog_append(&c->cat->acc, &c->cat->n_acc, names, n, c->s->cfg.max_services);
	if (rc == -E2BIG)
		c->s->stats.over_services++;
	return rc;
}

static void sync_catalog_page_done(struct sync_call *c, const char *body, size_t len)
{
	struct sync *s = c->s;
	size_t total = 0, got = 0;
	struct sync_reason why = {""};
	struct nacos_diag d = {.warn = sync_on_reason, .arg = &why};
	int rc = sync_catalog_page_parse(c, body, len, &d, &total, &got);
	if (rc < 0) {
		char text[300];
		snprintf(text, sizeof(text), "malformed answer (%s)", why.text[0] ? why.text : "?");
		sync_call_failed(c, rc == -ENOMEM  ? "out of memory"
				    : rc == -E2BIG ? "more names than max-services"
						   : text);
		return;
	}
	if (c->page == 1)
		c->cat->first_total = total;
	/* A short page is the last (naming/utils/ServiceUtil.java pageServiceName,
	 * core/utils/PageUtil.java): a totalCount that says otherwise is not believed. */
	if (synccatalog_more(got, c->page, NACOSAPI_PAGE_SIZE, total, SYNC_MAX_PAGES)) {
		c->page++;
		sync_call_send(c);
		return;
	}
	struct sync_catalog *cat = c->cat;
	free(c);
	sync_catalog_finish(s, cat, total);
}

static void sync_call_succeeded(struct sync_call *c, const char *body, size_t len)
{
	struct sync *s = c->s;
	if (c->kind == SYNC_CALL_CATALOG) {
		sync_catalog_page_done(c, body, len);
	} else if (c->kind == SYNC_CALL_LOGIN) {
		size_t server = c->server;
		free(c);
		sync_login_done(s, server, body, len);
	} else {
		struct sync_entry *e = c->e;
		size_t server = c->server;
		free(c);
		sync_fetch_done(s, e, server, body, len);
	}
}

/* ---- gRPC transport: the glue between grpcsub.c and the entries and catalogs ---------------
 * Everything the sync does over gRPC (--nacos-transport auto|grpc) goes through these
 * functions, called from small marked hooks: a tracked service is subscribed, its answers and
 * pushes are applied as polled answers are (the removal guard, max-instances, lastRefTime), a
 * catalog is listed with ServiceListRequest while connected, and the HTTP login's token goes
 * into metadata.headers. */

static void sync_grpc_on_state(void *owner, size_t server, bool up)
{
	struct sync *s = owner;
	int64_t now = sync_now(s);
	if (!up) { /* nothing is pushed any more: polls stretched for pushes come back in */
		for (size_t i = 0; i < s->n_buckets; i++)
			for (struct sync_entry *e = s->buckets[i]; e; e = e->hnext) {
				int64_t next = now + syncpolicy_jitter_ms(s->cfg.poll_interval_ms,
									  sync_rand(s));
				if (e->next_poll_ms > next)
					e->next_poll_ms = next;
			}
		return;
	}
	struct sync_server *srv = &s->servers[server];
	if (s->cfg.username[0] && !srv->token && !srv->login_inflight)
		sync_login_start(s, server); /* its end hands the token over */
	else
		sync_grpc_token(s, server);
	for (size_t i = 0; i < s->n_cats; i++) /* the catalog over gRPC, for any reader */
		if (s->cats[i].ns && !s->cats[i].inflight)
			sync_catalog_list(s, &s->cats[i]);
}

static void sync_grpc_on_denied(void *owner, size_t server)
{
	struct sync *s = owner;
	struct sync_server *srv = &s->servers[server];
	if (!s->cfg.username[0] || srv->login_inflight)
		return;
	log_info("nacos", "%s denies a gRPC request: logging in again", srv->url);
	free(srv->token);
	srv->token = NULL;
	sync_login_start(s, server);
}

/* Why a gRPC serviceInfo for e is not applied; NULL: it is. */
static const char *sync_grpc_refuse(struct sync *s, const struct sync_entry *e,
				    const struct nacos_service *svc, size_t server, int64_t ref)
{
	if (!e)
		return "not tracked here";
	if (svc->n_instances > s->cfg.max_instances) {
		s->stats.over_instances++;
		return "over max-instances";
	}
	if (e->svc && e->server == server && ref && ref < e->ref_ms)
		return "older than the data held";
	return NULL;
}

/* An answer to a subscription or a push (svc taken): applied as a polled answer would be. */
static bool sync_grpc_on_service(void *owner, size_t server, const char *ns,
				 struct nacos_service *svc, int64_t ref, bool pushed)
{
	struct sync *s = owner;
	struct sync_entry *e = sync_entry_find(s, ns, svc->group, svc->name);
	const char *why = sync_grpc_refuse(s, e, svc, server, ref);
	if (why) {
		log_debug("grpc", "%s/%s@@%s: %s", ns, svc->group, svc->name, why);
		nacos_service_free(svc);
		return false;
	}
	log_debug("grpc", "%s/%s/%s: %zu instances %s", ns, e->group, e->name, svc->n_instances,
		  pushed ? "pushed" : "in the subscription's answer");
	e->server = server;
	e->ref_ms = ref > sync_wall_ms() + SYNC_PUSH_MAX_AHEAD_MS ? 0 : ref;
	e->pushed_ms = sync_now(s);
	sync_name_set(svc, e);
	sync_origin_set(svc, &s->servers[server]);
	free(svc->origin.api);
	svc->origin.api = strdup("grpc");
	const struct sync_catalog *cat = sync_catalog_find(s, e->ns, e->group);
	svc->origin.uncatalogued = cat && sync_catalog_unlistable(cat);
	if (sync_apply(s, e, svc))
		sync_schedule_publish(s);
	int64_t next = sync_now(s) + syncpolicy_jitter_ms(sync_poll_ms(s, e), sync_rand(s));
	if (!pushed && e->next_poll_ms < next)
		e->next_poll_ms = next; /* subscribed: the next poll is the safety net's */
	if (e->waiters) {
		sync_waiters_run(s, e);
		sync_publish_urgent(s);
	}
	return true;
}

static void sync_grpc_start(struct sync *s)
{
	struct grpcsub_options o = {.n_servers = s->n_servers,
				    .tenant = s->cfg.n_zones ? s->cfg.zones[0].namespace_id : "",
				    .required = strcmp(s->cfg.nacos_transport, "grpc") == 0};
	struct grpcsub_handlers h = {.owner = s,
				     .on_state = sync_grpc_on_state,
				     .on_service = sync_grpc_on_service,
				     .on_denied = sync_grpc_on_denied};
	char urls[NACOSAPI_MAX_SERVERS][256];
	if (strcmp(s->cfg.nacos_transport, "http") == 0 || !s->io->grpc)
		return;
	for (size_t i = 0; i < s->n_servers; i++)
		memcpy(urls[i], s->servers[i].url, sizeof(urls[i]));
	o.urls = (const char(*)[256])urls;
	int rc = grpcsub_new(s->loop, &o, &h, &s->grpc);
	if (rc < 0) {
		s->grpc = NULL;
		log_msg(o.required ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, "grpc",
			"no gRPC transport (%s): HTTP only",
			rc == -EINVAL ? "https servers: TLS over gRPC is not supported"
				      : strerror(-rc));
	}
}

/* The counters of the connection that ends stay in s->stats: they are monotonic across
 * reloads. */
static void sync_grpc_stop(struct sync *s)
{
	struct grpcsub_stats g;
	if (!s->grpc)
		return;
	grpcsub_get_stats(s->grpc, &g);
	s->stats.grpc_notifies += g.notifies;
	s->stats.grpc_notify_applied += g.notify_applied;
	s->stats.grpc_notify_stale += g.notify_stale;
	s->stats.grpc_notify_rejected += g.notify_rejected;
	s->stats.grpc_reconnects += g.reconnects;
	s->stats.grpc_resubscriptions += g.resubscriptions;
	grpcsub_close(s->grpc);
	s->grpc = NULL;
}

static void sync_grpc_track(struct sync *s, const struct sync_entry *e, bool on)
{
	if (!s->grpc)
		return;
	if (!on)
		grpcsub_unsubscribe(s->grpc, e->ns, e->group, e->name);
	else if (grpcsub_subscribe(s->grpc, e->ns, e->group, e->name) < 0)
		log_warn("grpc", "%s/%s/%s: not subscribed: out of memory", e->ns, e->group,
			 e->name);
}

static bool sync_grpc_covers(const struct sync *s, const struct sync_entry *e)
{
	return s->grpc && grpcsub_covers(s->grpc, e->ns, e->group, e->name);
}

static void sync_grpc_token(struct sync *s, size_t server)
{
	if (s->grpc)
		grpcsub_set_token(s->grpc, server, s->servers[server].token);
}

/* One listing over gRPC: its pages come from the connection's server. */
struct sync_grpc_listing {
	struct sync *s;
	struct sync_catalog *cat;
	unsigned page;
};

static void on_grpc_page(void *arg, int error, char **names, size_t n, size_t total);

static int sync_grpc_page(struct sync_grpc_listing *l)
{
	return grpcsub_list(l->s->grpc, l->cat->ns, l->cat->group, l->page, SYNC_GRPC_PAGE_SIZE,
			    on_grpc_page, l);
}

static void on_grpc_page(void *arg, int error, char **names, size_t n, size_t total)
{
	struct sync_grpc_listing *l = arg;
	struct sync *s = l->s;
	struct sync_catalog *cat = l->cat;
	int rc = error;
	if (error == -ECANCELED) { /* closing, or the servers change: as sync_call_cancel */
		cat->inflight = false;
		sync_catalog_drop_acc(cat);
		free(l);
		return;
	}
	if (!error) {
		if (l->page == 1)
			cat->first_total = total;
		cat->n_raw += n;
		rc = synccatalog_append(&cat->acc, &cat->n_acc, names, n, s->cfg.max_services);
		s->stats.over_services += rc == -E2BIG;
	}
	if (!rc && synccatalog_more(n, l->page, SYNC_GRPC_PAGE_SIZE, total, SYNC_MAX_PAGES)) {
		l->page++;
		if ((rc = sync_grpc_page(l)) == 0)
			return;
	}
	free(l);
	if (rc == 0)
		sync_catalog_finish(s, cat, total);
	else
		sync_catalog_failed(s, cat,
				    rc == -E2BIG    ? "more names than max-services"
				    : rc == -EACCES ? "gRPC: denied"
						    : "gRPC: no answer",
				    rc == -EACCES);
}

/* Lists cat over gRPC when connected: true when it went out. */
static bool sync_grpc_list(struct sync *s, struct sync_catalog *cat)
{
	size_t server;
	struct sync_grpc_listing *l;
	if (!s->grpc || !grpcsub_up(s->grpc, &server) || !(l = malloc(sizeof(*l))))
		return false;
	*l = (struct sync_grpc_listing){.s = s, .cat = cat, .page = 1};
	if (sync_grpc_page(l) < 0) {
		free(l);
		return false;
	}
	cat->inflight = true;
	return true;
}

static void sync_grpc_stats(const struct sync *s, struct sync_stats *out)
{
	struct grpcsub_stats g;
	if (!s->grpc)
		return;
	grpcsub_get_stats(s->grpc, &g);
	out->grpc_notifies += g.notifies; /* out holds those of connections ended before */
	out->grpc_notify_applied += g.notify_applied;
	out->grpc_notify_stale += g.notify_stale;
	out->grpc_notify_rejected += g.notify_rejected;
	out->grpc_reconnects += g.reconnects;
	out->grpc_resubscriptions += g.resubscriptions;
	out->grpc_subscribed = g.subscribed;
	if (g.server < out->n_servers)
		out->servers[g.server].grpc = g.up ? 2 : 1;
}

/* ---- snapshots --------------------------------------------------------------------------- */

static void sync_on_diag(void *arg, const char *msg)
{
	log_debug("snapshot", "%s", msg);
}

/* ---- publishing: snapshots built on the thread pool --------------------------------------- */

/* Whether e's data goes into snapshots. An empty service that no catalog lists (one fetched by
 * name, or gone from the listing) is left out, so that a query for it is settled as absent
 * (NXDOMAIN), and so that a name like "_info.x" fetched empty never shadows x's own names. */
static bool sync_entry_served(struct sync *s, const struct sync_entry *e)
{
	if (!e->svc)
		return false;
	if (e->svc->n_instances > 0 || !s->cfg.any_group)
		return true;
	const struct sync_catalog *cat = sync_catalog_find(s, e->ns, e->group);
	const char *key = e->name;
	return cat && cat->valid &&
	       bsearch(&key, cat->names, cat->n, sizeof(*cat->names), synccatalog_strcmp);
}

/* A job for a snapshot of everything held now: the services are lent to it. NULL on ENOMEM. */
static struct snapjob *sync_job_new(struct sync *s)
{
	struct snapshot_config sc = s->snapcfg;
	s->build_complete = true;
	for (size_t z = 0; z < sc.n_zones; z++) {
		sc.zones[z].open_groups = s->cfg.any_group;
		for (size_t i = 0; i < s->n_cats; i++)
			if (s->cats[i].ns && !s->cats[i].dynamic &&
			    !sync_catalog_settled(&s->cats[i]) &&
			    strcmp(s->cats[i].ns, sc.zones[z].namespace_id) == 0)
				sc.zones[z].partial = true;
	}
	for (size_t z = 0; z < sc.n_zones; z++)
		s->build_complete = s->build_complete && !sc.zones[z].partial;
	struct snapjob *j = snapjob_new(&sc, snapstore_next_generation(s->reg));
	if (!j)
		return NULL;
	for (size_t i = 0; i < s->n_buckets; i++)
		for (struct sync_entry *e = s->buckets[i]; e; e = e->hnext)
			if (sync_entry_served(s, e) && snapjob_add_service(j, e->ns, e->svc) < 0)
				goto fail;
	for (size_t i = 0; i < s->n_cats; i++) {
		struct sync_catalog *cat = &s->cats[i];
		if (cat->ns && cat->valid && snapjob_add_group(j, cat->ns, cat->group) < 0)
			goto fail;
		for (size_t k = 0; cat->ns && k < cat->n; k++) {
			struct sync_entry *e =
				sync_entry_find(s, cat->ns, cat->group, cat->names[k]);
			if ((!e || !e->svc) &&
			    snapjob_add_pending(j, cat->ns, cat->group, cat->names[k]) < 0)
				goto fail;
		}
	}
	return j;
fail:
	snapjob_free(j);
	return NULL;
}

static void sync_cache_schedule(struct sync *s);

static void sync_publish_result(struct sync *s, struct snapjob_result *res)
{
	if (!res->snap) {
		log_err("sync",
			"building a snapshot failed: out of memory; serving the previous one");
		return;
	}
	if (res->skipped != s->last_skipped)
		log_warn("sync",
			 "%zu Nacos names cannot be DNS names and are not served "
			 "(--log-level debug lists them)",
			 res->skipped);
	s->last_skipped = res->skipped;
	snapstore_publish_take(s->reg, res->snap);
	res->snap = NULL;
	s->stats.publishes++;
	s->stats.build_ms = res->build_ms;
	s->stats.build_cpu_ms = res->cpu_ms;
	bgwork_trim_poke(s->trim);
	sync_cache_schedule(s);
}

/* Builds and publishes on this thread: before uv_run, where nothing is served yet. */
static void sync_publish_blocking(struct sync *s)
{
	struct snapjob_result res;
	struct snapjob *j = sync_job_new(s);
	if (!j) {
		log_err("sync",
			"building a snapshot failed: out of memory; serving the previous one");
		return;
	}
	snapjob_run(j, &res);
	sync_publish_result(s, &res);
}

static void sync_build_start(struct sync *s);

static void on_build_done(void *arg, struct snapjob_result *res)
{
	struct sync *s = arg;
	s->build = NULL;
	lending_end(s->lent, s->build_ticket);
	bool complete = s->build_complete && res->snap && !res->cancelled;
	if (res->snap && !res->cancelled)
		s->published_complete = complete;
	if (!res->cancelled && !s->closing)
		sync_publish_result(s, res);
	if (!s->closing) {
		if (complete && !s->ready)
			log_info("nacos", "catalog synced and served");
		s->ready = s->ready || complete;
		if (complete)
			sync_waiter_list_run(s, &s->catalog_waiters, NULL);
		if (s->build_again && s->build_urgent)
			sync_build_start(s);
		else if (s->build_again)
			sync_schedule_publish(s);
		s->build_again = s->build_urgent = false;
	}
	sync_handle_closed(s); /* the build counted as an open handle */
}

/* Starts a build of everything held now; one already in flight is followed by another. */
static void sync_build_start(struct sync *s)
{
	uv_timer_stop(&s->publish_timer);
	if (s->closing)
		return;
	if (s->build) {
		s->build_again = true;
		return;
	}
	struct snapjob *j = sync_job_new(s);
	uint64_t ticket = j ? lending_begin(s->lent) : 0;
	if (!ticket) {
		snapjob_free(j);
		log_err("sync",
			"building a snapshot failed: out of memory; serving the previous one");
		return;
	}
	s->build = j;
	if (snapjob_start(j, s->loop, on_build_done, s) < 0) {
		s->build = NULL;
		lending_end(s->lent, ticket);
		log_err("sync", "building a snapshot failed: cannot queue it; serving the "
				"previous one");
		return;
	}
	s->build_ticket = ticket;
	s->open_handles++;
}

/* A query waits for data that just came in: build now, or right after the build in flight. */
static void sync_publish_urgent(struct sync *s)
{
	if (s->build)
		s->build_urgent = true;
	sync_build_start(s);
}

static void on_publish_timer(uv_timer_t *t)
{
	sync_build_start(t->data);
}

static void sync_schedule_publish(struct sync *s)
{
	if (!s->closing && !uv_is_active((uv_handle_t *)&s->publish_timer))
		uv_timer_start(&s->publish_timer, on_publish_timer, SYNC_PUBLISH_DELAY_MS, 0);
}

/* ---- cache file -------------------------------------------------------------------------- */

struct sync_cache_job {
	uv_work_t work;
	struct sync *s;
	struct nacos_registry *r; /* its services are lent to the job */
	uint64_t ticket;
	int rc;
	char path[CONFIG_PATH_LEN];
};

/* Frees a registry made by sync_registry_lend, but not the services it borrowed. */
static void sync_registry_unlend(struct nacos_registry *r)
{
	for (size_t i = 0; r && i < r->n_namespaces; i++)
		for (size_t k = 0; k < r->namespaces[i].n_services; k++)
			r->namespaces[i].services[k] = NULL; /* nacos_service_free(NULL): no-op */
	nacos_registry_free(r);
}

static int sync_entry_cmp(const void *a, const void *b)
{
	const struct sync_entry *x = *(struct sync_entry *const *)a;
	const struct sync_entry *y = *(struct sync_entry *const *)b;
	int c = strcmp(x->ns, y->ns);
	if (!c)
		c = strcmp(x->svc->group, y->svc->group);
	return c ? c : strcmp(x->svc->name, y->svc->name);
}

/* Every fetched service, grouped by namespace: borrowed, not copied, so that writing the cache
 * costs the loop no copy of the registry. They go in sorted, so that each lands at the end of
 * its namespace's sorted array rather than moving half of it. NULL on ENOMEM. */
static struct nacos_registry *sync_registry_lend(struct sync *s)
{
	struct nacos_registry *r = nacos_registry_new();
	struct sync_entry **v = calloc(s->n_entries + 1, sizeof(*v));
	size_t n = 0;
	if (!r || !v)
		goto fail;
	for (size_t i = 0; i < s->n_buckets; i++)
		for (struct sync_entry *e = s->buckets[i]; e; e = e->hnext)
			if (e->svc && n < s->n_entries)
				v[n++] = e;
	qsort(v, n, sizeof(*v), sync_entry_cmp);
	for (size_t i = 0; i < n; i++)
		if (nacos_registry_put_take(r, v[i]->ns, v[i]->svc) < 0)
			goto fail;
	free(v);
	return r;
fail:
	free(v);
	sync_registry_unlend(r);
	return NULL;
}

/* Logs a cache write's result when it differs from the last one. */
static void sync_cache_note(struct sync *s, const char *path, int rc)
{
	if (rc < 0 && rc != s->cache_rc)
		log_warn("sync", "writing cache file %s failed: %s", path, strerror(-rc));
	else if (rc == 0 && s->cache_rc < 0)
		log_info("sync", "writing cache file %s works again", path);
	s->cache_rc = rc;
	s->stats.cache_writes += rc == 0;
	s->stats.cache_write_failures += rc < 0;
}

/* At close, the changes not written yet go to the cache file at once, blocking the loop: it
 * serves nothing any more. A write in flight must land first (or it would overwrite this one
 * with older data): its completion calls this again. */
static void sync_cache_flush(struct sync *s)
{
	if (!s->cfg.cache_file[0] || !s->dirty_cache || s->cache_inflight)
		return;
	struct nacos_registry *r = sync_registry_lend(s);
	int rc = r ? cachefile_store(s->cfg.cache_file, r) : -ENOMEM;
	sync_registry_unlend(r);
	s->dirty_cache = false;
	sync_cache_note(s, s->cfg.cache_file, rc);
	if (rc == 0)
		log_debug("sync", "wrote cache file %s on close", s->cfg.cache_file);
}

static void on_cache_work(uv_work_t *w)
{
	struct sync_cache_job *j = w->data;
	bgwork_lower_priority();
	j->rc = cachefile_store(j->path, j->r);
}

static void on_cache_done(uv_work_t *w, int status)
{
	struct sync_cache_job *j = w->data;
	struct sync *s = j->s;
	sync_cache_note(s, j->path, j->rc);
	sync_registry_unlend(j->r);
	lending_end(s->lent, j->ticket);
	free(j);
	s->cache_inflight = false;
	s->last_cache_ms = sync_now(s);
	if (s->closing)
		sync_cache_flush(s);
	else if (s->dirty_cache)
		sync_cache_schedule(s);
	sync_handle_closed(s); /* the job counted as an open handle */
}

static void sync_cache_write(struct sync *s)
{
	struct sync_cache_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->r = sync_registry_lend(s)) || !(j->ticket = lending_begin(s->lent))) {
		if (j)
			sync_registry_unlend(j->r);
		free(j);
		log_warn("sync", "writing cache file %s failed: out of memory", s->cfg.cache_file);
		return;
	}
	j->s = s;
	j->work.data = j;
	snprintf(j->path, sizeof(j->path), "%s", s->cfg.cache_file);
	s->dirty_cache = false;
	if (uv_queue_work(s->loop, &j->work, on_cache_work, on_cache_done) < 0) {
		sync_registry_unlend(j->r);
		lending_end(s->lent, j->ticket);
		free(j);
		return;
	}
	s->cache_inflight = true;
	s->open_handles++;
}

static void on_cache_timer(uv_timer_t *t)
{
	struct sync *s = t->data;
	if (!s->cache_inflight && s->cfg.cache_file[0]) /* a reload may have turned it off */
		sync_cache_write(s);
}

static void sync_cache_schedule(struct sync *s)
{
	if (!s->cfg.cache_file[0] || s->closing)
		return;
	s->dirty_cache = true;
	if (s->cache_inflight || uv_is_active((uv_handle_t *)&s->cache_timer))
		return;
	int64_t wait = s->last_cache_ms + SYNC_CACHE_PERIOD_MS - sync_now(s);
	uv_timer_start(&s->cache_timer, on_cache_timer, wait > 0 ? (uint64_t)wait : 0, 0);
}

/* Takes every service of the cache file as tracked data, marked stale until fetched again. */
static int sync_cache_adopt(struct sync *s, struct nacos_registry *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_namespaces; i++) {
		struct nacos_namespace *ns = &r->namespaces[i];
		for (size_t k = 0; k < ns->n_services; k++) {
			struct nacos_service *svc = ns->services[k];
			if (sync_entry_find(s, ns->id, svc->group, svc->name))
				continue;
			struct sync_entry *e = sync_entry_add(s, ns->id, svc->group, svc->name);
			if (!e)
				return -ENOMEM;
			e->svc = svc;
			ns->services[k] = NULL; /* taken; nacos_service_free(NULL) is a no-op */
			svc->origin.stale = true;
			s->total_instances += svc->n_instances;
			n++;
		}
	}
	return (int)n;
}

/* Blocking: runs in sync_new, before the loop. A missing or bad file is logged and ignored. */
static void sync_cache_load(struct sync *s)
{
	size_t len = 0;
	struct nacos_registry *r = NULL;
	char *text = NULL;
	int err = readfile(s->cfg.cache_file, READFILE_MAX_SIZE, &text, &len, NULL);
	if (err < 0) {
		log_info("sync", "no cache file %s: %s", s->cfg.cache_file, readfile_strerror(err));
		return;
	}
	struct nacos_diag d = {.warn = sync_on_diag, .arg = s};
	int rc = nacos_registry_parse(text, len, &d, &r);
	free(text);
	if (rc < 0) {
		log_warn("sync", "ignoring cache file %s: %s", s->cfg.cache_file,
			 rc == -ENOMEM ? "out of memory" : "not a registry file");
		return;
	}
	rc = sync_cache_adopt(s, r);
	nacos_registry_free(r);
	if (rc < 0)
		return;
	log_info("sync", "loaded %d services from cache file %s", rc, s->cfg.cache_file);
	sync_publish_blocking(s);
	s->ready = true;
}

/* ---- periodic work ----------------------------------------------------------------------- */

/* An idle entry goes back to pending, but only where a catalog lists the group: without one,
 * its copy is all there is (Nacos down since start). */
static bool sync_entry_idle(struct sync *s, struct sync_entry *e, int64_t now)
{
	if (s->cfg.track_all || e->inflight || e->waiters)
		return false;
	if (now - e->last_used_ms < syncpolicy_idle_ms(s->cfg.catalog_interval_ms))
		return false;
	struct sync_catalog *cat = sync_catalog_find(s, e->ns, e->group);
	return cat && sync_catalog_settled(cat);
}

/* An entry with waiters is left to their timer: a fetch failing at once would run their
 * callbacks here, and those may add entries (and grow the table) under on_tick's walk. */
static bool sync_entry_due(const struct sync_entry *e, int64_t now)
{
	return !e->inflight && !e->waiters && now >= e->next_poll_ms;
}

static struct sync_entry **sync_entries_pick(struct sync *s,
					     bool (*pick)(const struct sync_entry *, const void *),
					     const void *arg, size_t *n);
static void sync_catalogs_free_one(struct sync_catalog *cat);

static bool sync_entry_in_catalog(const struct sync_entry *e, const void *arg)
{
	const struct sync_catalog *cat = arg;
	return strcmp(e->ns, cat->ns) == 0 && strcmp(e->group, cat->group) == 0;
}

/* Forgets a group added by a query, with its services; its slot is free for another. */
static void sync_catalog_forget(struct sync *s, struct sync_catalog *cat)
{
	size_t n;
	struct sync_entry **v = sync_entries_pick(s, sync_entry_in_catalog, cat, &n);
	for (size_t k = 0; k < n; k++)
		sync_entry_remove(s, v[k]);
	free(v);
	sync_catalogs_free_one(cat);
}

/* A group added by a query and not named since for as long as an idle service stays tracked
 * is forgotten, with its services. true when something went. */
static bool sync_catalogs_expire(struct sync *s, int64_t now)
{
	int64_t idle = syncpolicy_idle_ms(s->cfg.catalog_interval_ms);
	bool changed = false;
	for (size_t i = 0; i < s->n_cats; i++) {
		struct sync_catalog *cat = &s->cats[i];
		if (!cat->ns || !cat->dynamic || cat->inflight || now - cat->last_used_ms < idle)
			continue;
		log_info("nacos", "group %s of %s unused: no longer listed", cat->group, cat->ns);
		sync_catalog_forget(s, cat);
		changed = true;
	}
	return changed;
}

static void on_tick(uv_timer_t *t)
{
	struct sync *s = t->data;
	int64_t now = sync_now(s);
	bool changed = sync_catalogs_expire(s, now);
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct sync_entry *e, *next;
		for (e = s->buckets[i]; e; e = next) {
			next = e->hnext;
			if (sync_entry_idle(s, e, now)) {
				log_debug("sync", "%s/%s/%s idle: no longer tracked", e->ns,
					  e->group, e->name);
				sync_entry_remove(s, e);
				changed = true;
			} else if (sync_entry_due(e, now)) {
				sync_fetch(s, e, false);
			}
		}
	}
	if (changed)
		sync_schedule_publish(s);
}

static void on_catalog_timer(uv_timer_t *t)
{
	sync_catalog_round(t->data);
}

/* ---- life cycle -------------------------------------------------------------------------- */

/* Empties cat's slot (ns NULL: free for another). */
static void sync_catalogs_free_one(struct sync_catalog *cat)
{
	free(cat->ns);
	free(cat->group);
	nacos_strv_free(cat->names, cat->n);
	nacos_strv_free(cat->acc, cat->n_acc);
	*cat = (struct sync_catalog){0};
}

static void sync_catalogs_free(struct sync_catalog *cats, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sync_catalogs_free_one(&cats[i]);
	free(cats);
}

static void sync_free(struct sync *s)
{
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct sync_entry *e, *next;
		for (e = s->buckets[i]; e; e = next) {
			next = e->hnext;
			sync_entry_free(e);
		}
	}
	sync_catalogs_free(s->cats, s->n_cats);
	for (size_t i = 0; i < s->n_servers; i++)
		free(s->servers[i].token);
	free(s->buckets);
	syncabsent_free(s->negative);
	lending_free(s->lent);
	free(s);
}

static void sync_handle_closed(struct sync *s)
{
	if (--s->open_handles == 0 && s->closing)
		sync_free(s);
}

static void sync_on_close(uv_handle_t *h)
{
	sync_handle_closed(h->data);
}

static int sync_add_catalog(struct sync_catalog **cats, size_t *n, const char *ns,
			    const char *group, size_t len)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*cats)[i].ns, ns) == 0 && strncmp((*cats)[i].group, group, len) == 0 &&
		    (*cats)[i].group[len] == '\0')
			return 0;
	struct sync_catalog *v = realloc(*cats, (*n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	*cats = v;
	v[*n] = (struct sync_catalog){.ns = strdup(ns), .group = strndup(group, len)};
	if (!v[*n].ns || !v[*n].group) {
		free(v[*n].ns);
		free(v[*n].group);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

/* One catalog per (zone namespace, configured group), none listed yet, with room (*cap) for the
 * groups queries may add, so that the array never moves while calls point into it. */
static int sync_catalogs_new(const struct config *cfg, struct sync_catalog **cats, size_t *n,
			     size_t *cap)
{
	const char *groups = cfg->groups[0] ? cfg->groups : "DEFAULT_GROUP";
	*cats = NULL;
	*n = 0;
	for (size_t z = 0; z < cfg->n_zones; z++) {
		for (const char *p = groups; *p;) {
			size_t len = strcspn(p, ", ");
			if (len &&
			    sync_add_catalog(cats, n, cfg->zones[z].namespace_id, p, len) < 0) {
				sync_catalogs_free(*cats, *n);
				*cats = NULL;
				*n = 0;
				return -ENOMEM;
			}
			p += len;
			p += strspn(p, ", ");
		}
	}
	*cap = *n + (cfg->any_group ? cfg->max_groups : 0);
	struct sync_catalog *v = realloc(*cats, (*cap + 1) * sizeof(*v));
	if (!v) {
		sync_catalogs_free(*cats, *n);
		*cats = NULL;
		*n = 0;
		return -ENOMEM;
	}
	memset(v + *n, 0, (*cap + 1 - *n) * sizeof(*v));
	*cats = v;
	return 0;
}

/* The servers of cfg->nacos, API not detected yet. Count, or -EINVAL after logging why. */
static int sync_servers_parse(const struct config *cfg, struct sync_server *out, bool *pinned)
{
	char urls[NACOSAPI_MAX_SERVERS][256];
	enum nacosapi_version api;
	int n = nacosapi_split_servers(cfg->nacos, urls, NACOSAPI_MAX_SERVERS);
	if (n <= 0 || nacosapi_parse_version(cfg->nacos_api, &api) < 0) {
		log_err("sync", "--nacos %s: no http(s)://host:port server to sync from",
			cfg->nacos);
		return -EINVAL;
	}
	*pinned = api != NACOSAPI_AUTO;
	for (int i = 0; i < n; i++) {
		/* Unpinned, the catalog starts on v1 service/list, which is on up to 3.1; pinned,
		 * every call uses the pinned API from the first. */
		out[i] = (struct sync_server){
			.api = api, .list_api = api == NACOSAPI_V3 ? NACOSAPI_V3 : NACOSAPI_V1};
		memcpy(out[i].url, urls[i], sizeof(urls[i]));
		sync_url_ip(out[i].url, out[i].peers[0]);
	}
	return n;
}

static int sync_http_open(void *ctx, uv_loop_t *loop, const struct config *cfg, void **out)
{
	(void)ctx;
	struct http_options o = {
		/* Nacos pushes only to the clients it knows, at a minimum version (Nacos-DNS:
		 * 0.4.3); our own version comes after, for the server's logs. */
		.user_agent = "Nacos-DNS:v1.0.1 nacos-dns/" NACOS_DNS_VERSION,
		.ca_file = cfg->nacos_ca,
		.timeout_ms = 3000,
		.max_body = cfg->max_response_size,
		.max_inflight = 8,
	};
	struct http *h;
	int rc = http_new(loop, &o, &h);
	*out = rc < 0 ? NULL : h;
	return rc;
}

static int sync_http_submit(void *h, const struct http_request *r, http_done_cb cb, void *arg)
{
	return http_submit(h, r, cb, arg);
}

static void sync_http_close(void *h)
{
	http_close(h);
}

static int64_t sync_loop_now(void *ctx, uv_loop_t *loop)
{
	(void)ctx;
	return (int64_t)uv_now(loop);
}

static const struct syncio sync_io_real = {
	.open = sync_http_open,
	.submit = sync_http_submit,
	.close = sync_http_close,
	.now_ms = sync_loop_now,
	.ctx = NULL,
	.grpc = true,
};

static uint64_t sync_tick_ms(const struct sync *s)
{
	uint64_t tick = s->cfg.poll_interval_ms / 10;
	return tick < 50 ? 50 : tick > 1000 ? 1000 : tick;
}

/* The guard's window is a poll round; a hold outlasts a few of them. */
static void sync_guard_setup(struct sync *s, bool init)
{
	int64_t hold = 3 * (int64_t)s->cfg.poll_interval_ms;
	hold = hold > SYNC_HOLD_MS ? hold : SYNC_HOLD_MS;
	if (init) {
		syncpolicy_guard_init(&s->guard, s->cfg.poll_interval_ms, hold);
		return;
	}
	s->guard.window_ms = s->cfg.poll_interval_ms; /* a hold in progress goes on */
	s->guard.hold_ms = hold;
}

static void sync_start_timers(struct sync *s)
{
	uv_timer_t *timers[] = {&s->tick, &s->catalog_timer, &s->publish_timer, &s->cache_timer};
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
		uv_timer_init(s->loop, timers[i]);
		timers[i]->data = s;
		s->open_handles++;
	}
	uint64_t tick = sync_tick_ms(s);
	uv_timer_start(&s->tick, on_tick, tick, tick);
	uv_timer_start(&s->catalog_timer, on_catalog_timer, 0, s->cfg.catalog_interval_ms);
}

int sync_new(uv_loop_t *loop, const struct config *cfg, struct snapstore *reg, struct sync **out)
{
	return sync_new_io(loop, cfg, reg, &sync_io_real, out);
}

int sync_new_io(uv_loop_t *loop, const struct config *cfg, struct snapstore *reg,
		const struct syncio *io, struct sync **out)
{
	struct sync *s = calloc(1, sizeof(*s));
	int rc = -ENOMEM;
	if (!s || !(s->buckets = calloc(s->n_buckets = 64, sizeof(*s->buckets))) ||
	    !(s->negative = syncabsent_new()) || !(s->lent = lending_new()) ||
	    !(s->trim = bgwork_trim_new(loop)))
		goto fail;
	s->loop = loop;
	s->io = io;
	s->cfg = *cfg;
	s->reg = reg;
	s->rnd = ((uint64_t)sync_wall_ms() << 16) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)s;
	syncpolicy_bucket_init(&s->direct, SYNC_DIRECT_RATE, SYNC_DIRECT_BURST, sync_now(s));
	config_snapshot(&s->cfg, &s->snapcfg);
	sync_guard_setup(s, true);
	if ((rc = sync_servers_parse(cfg, s->servers, &s->pinned)) < 0)
		goto fail;
	s->n_servers = (size_t)rc;
	if ((rc = sync_catalogs_new(cfg, &s->cats, &s->n_cats, &s->cats_cap)) < 0 ||
	    (rc = io->open(io->ctx, loop, cfg, &s->http)) < 0)
		goto fail;
	if ((rc = sync_push_start(s)) < 0) {
		io->close(s->http);
		goto fail;
	}
	sync_start_timers(s);
	sync_grpc_start(s); /* gRPC hook */
	if (s->cfg.cache_file[0])
		sync_cache_load(s);
	if (!s->ready) /* its zones partial: no NXDOMAIN before the catalog is listed */
		sync_publish_blocking(s);
	log_info("sync", "syncing from %s (api %s), %zu servers, groups %s, track %s", cfg->nacos,
		 cfg->nacos_api[0] ? cfg->nacos_api : "auto", s->n_servers,
		 cfg->groups[0] ? cfg->groups : "DEFAULT_GROUP",
		 cfg->track_all ? "all" : "queried");
	*out = s;
	return 0;
fail:
	if (s) {
		bgwork_trim_close(s->trim);
		sync_free(s);
	}
	return rc;
}

int sync_track(struct sync *s, const char *namespace_id, const char *group, const char *service,
	       sync_fetch_cb cb, void *arg)
{
	if (s->closing)
		return -ECANCELED;
	struct sync_entry *e = sync_entry_find(s, namespace_id, group, service);
	if (!e && !(e = sync_entry_add(s, namespace_id, group, service)))
		return -ENOMEM;
	e->last_used_ms = sync_now(s);
	if (e->svc) /* fetched, not published yet (or not yet seen by the query's loop) */
		return sync_waiter_add(s, e, 0, false, cb, arg);
	if (!e->inflight)
		sync_fetch(s, e, true); /* before the waiter joins: a failure now cannot run cb */
	return sync_waiter_add(s, e, s->cfg.fetch_wait_ms, false, cb, arg);
}

/* The query waits for a snapshot with every catalog of its zone settled. */
static int sync_wait_catalog(struct sync *s, sync_fetch_cb cb, void *arg)
{
	/* Listed and published since the query read its snapshot: answer again at once. */
	uint64_t wait = s->published_complete ? 0 : s->cfg.fetch_wait_ms;
	if (wait)
		sync_catalog_miss(s); /* a failed listing is retried now, not at the next round */
	return sync_waiter_add(s, NULL, wait, false, cb, arg);
}

/* ---- names of groups never configured, and of groups that cannot be listed --------------- */

/* Nacos's group rule (common/paramcheck/ParamCheckRule.java: ^[a-zA-Z0-9-_:\.]*$, at most
 * 128), less the dot, which no single DNS label can stand for here. */
static bool sync_group_valid(const char *g)
{
	size_t n = strlen(g);
	if (n == 0 || n > 128)
		return false;
	for (const char *p = g; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == ':'))
			return false;
	return true;
}

/* A catalog for a group a query named, listed now. NULL: max-groups reached (counted), or no
 * memory. The array never moves: its room is made for max-groups when it is set up. */
static struct sync_catalog *sync_catalog_add_dynamic(struct sync *s, const char *ns,
						     const char *group)
{
	size_t slot = s->n_cats, dynamic = 0, victim = SIZE_MAX;
	for (size_t i = 0; i < s->n_cats; i++) {
		const struct sync_catalog *c = &s->cats[i];
		if (!c->ns && slot == s->n_cats)
			slot = i;
		dynamic += c->ns && c->dynamic;
		if (c->ns && c->dynamic && c->n == 0 && sync_catalog_settled(c) &&
		    (victim == SIZE_MAX || c->last_used_ms < s->cats[victim].last_used_ms))
			victim = i;
	}
	if (dynamic >= s->cfg.max_groups || slot >= s->cats_cap) {
		/* The group longest unused of those that turned out empty (a typo, or junk) goes
		 * at the next tick, so that random names cannot hold every place for the whole
		 * idle period. Not now: forgetting it may run queries' callbacks. */
		if (victim != SIZE_MAX)
			s->cats[victim].last_used_ms = INT64_MIN / 2;
		if (s->stats.over_groups++ == 0)
			log_warn("nacos", "not listing group %s of %s: max-groups (%u) reached",
				 group, ns, s->cfg.max_groups);
		return NULL;
	}
	struct sync_catalog *cat = &s->cats[slot];
	*cat = (struct sync_catalog){.ns = strdup(ns),
				     .group = strdup(group),
				     .dynamic = true,
				     .last_used_ms = sync_now(s)};
	if (!cat->ns || !cat->group) {
		free(cat->ns);
		free(cat->group);
		*cat = (struct sync_catalog){0};
		return NULL;
	}
	if (slot == s->n_cats)
		s->n_cats++;
	log_info("nacos", "listing group %s of %s: a query named it", group, ns);
	sync_catalog_list(s, cat);
	return cat;
}

static bool sync_negative_has(struct sync *s, const char *ns, const char *group, const char *name)
{
	return syncabsent_has(s->negative, sync_hash(ns, group, name), sync_now(s));
}

static void sync_negative_add(struct sync *s, const char *ns, const char *group, const char *name)
{
	syncabsent_add(s->negative, sync_hash(ns, group, name),
		       sync_now(s) + (int64_t)s->cfg.negative_ttl * 1000);
}

/* One more fetch of a name not known to exist: within SYNC_DIRECT_RATE, or refused (counted). */
static bool sync_direct_allowed(struct sync *s)
{
	if (syncpolicy_bucket_take(&s->direct, sync_now(s)))
		return true;
	if (s->stats.over_direct++ == 0)
		log_warn("nacos",
			 "fetching names of unlistable groups faster than %.0f/s: the rest "
			 "get SERVFAIL",
			 SYNC_DIRECT_RATE);
	return false;
}

/* Every fetch of m has ended: answer from the service found (the longest name first), else
 * settle the name as absent when each candidate answered empty, else leave it unsettled. */
static void sync_miss_conclude(struct sync_miss *m)
{
	struct sync *s = m->s;
	struct sync_entry *found = NULL;
	bool unknown = m->limited;
	for (size_t i = 0; i < m->n_names && !found; i++) {
		struct sync_entry *e = sync_entry_find(s, m->ns, m->group, m->names[i]);
		if (e && e->svc && e->svc->n_instances > 0)
			found = e;
		else if (!sync_negative_has(s, m->ns, m->group, m->names[i]) &&
			 (!e || !e->svc || e->inflight))
			unknown = true;
	}
	struct snapshot *snap = found ? sync_entry_snapshot(s, found) : NULL;
	bool absent = !found && !unknown && !s->closing;
	for (size_t i = 0; i < m->n_names; i++) {
		struct sync_entry *e = sync_entry_find(s, m->ns, m->group, m->names[i]);
		if (!e || !e->svc || e->inflight || e->svc->n_instances > 0)
			continue;
		sync_negative_add(s, m->ns, m->group, m->names[i]);
		/* Empty: untracked at the next tick, so that it stops being polled. Not now: this
		 * may run from the walk of e's own waiters. */
		e->last_used_ms = INT64_MIN / 2;
	}
	if (found)
		sync_publish_urgent(s);
	m->cb(m->arg, snap, absent);
	snapshot_free(snap);
	free(m);
}

static void sync_miss_part_done(void *arg, const struct snapshot *snap, bool absent)
{
	struct sync_miss *m = arg;
	if (--m->pending == 0)
		sync_miss_conclude(m);
}

/* The candidates of m, each fetched unless known (held, or absent) already. 0, or -EBUSY when
 * m cannot be waited for (then m is not freed). */
static int sync_miss_fetch(struct sync *s, struct sync_miss *m)
{
	m->pending = 1; /* held until every fetch is asked for, so none concludes early */
	for (size_t i = 0; i < m->n_names; i++) {
		const char *name = m->names[i];
		struct sync_entry *e = sync_entry_find(s, m->ns, m->group, name);
		if (sync_negative_has(s, m->ns, m->group, name) || (e && e->svc && !e->inflight))
			continue;
		if (!e && !sync_direct_allowed(s)) {
			m->limited = true;
			continue;
		}
		if (!e && !(e = sync_entry_add(s, m->ns, m->group, name))) {
			m->limited = true;
			continue;
		}
		e->last_used_ms = sync_now(s);
		if (!e->inflight)
			sync_fetch(s, e, true);
		if (sync_waiter_add(s, e, s->cfg.fetch_wait_ms, false, sync_miss_part_done, m) == 0)
			m->pending++;
		else
			m->limited = true;
	}
	/* The last part runs on a timer, so that cb never runs inside sync_wait_miss. */
	if (sync_waiter_add(s, NULL, 0, false, sync_miss_part_done, m) == 0)
		return 0;
	if (m->pending == 1)
		return -EBUSY;
	m->pending--; /* the fetches' waiters end it */
	return 0;
}

int sync_wait_miss(struct sync *s, const struct query_miss *q, sync_fetch_cb cb, void *arg)
{
	if (s->closing)
		return -ECANCELED;
	if (!s->published_complete)
		return sync_wait_catalog(s, cb, arg);
	struct sync_catalog *cat = sync_catalog_find(s, q->namespace_id, q->group);
	if (!cat && !sync_group_valid(q->group)) /* no Nacos group has that name */
		return sync_waiter_add(s, NULL, 0, true, cb, arg);
	if (!cat && !(cat = sync_catalog_add_dynamic(s, q->namespace_id, q->group)))
		return -EBUSY;
	cat->last_used_ms = sync_now(s);
	if (cat->valid) /* listed since the query read its snapshot: a publish is due */
		sync_publish_urgent(s);
	if (!sync_catalog_unlistable(cat)) {
		if (!cat->inflight && !cat->valid)
			sync_catalog_list(s, cat);
		int rc = sync_waiter_add(s, NULL, s->cfg.fetch_wait_ms, false, cb, arg);
		if (rc == 0)
			s->catalog_waiters->cat = cat;
		return rc;
	}
	struct sync_miss *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	*m = (struct sync_miss){.s = s, .n_names = q->n_names, .cb = cb, .arg = arg};
	snprintf(m->ns, sizeof(m->ns), "%s", q->namespace_id);
	snprintf(m->group, sizeof(m->group), "%s", q->group);
	memcpy(m->names, q->names, sizeof(m->names));
	int rc = sync_miss_fetch(s, m);
	if (rc < 0)
		free(m);
	return rc;
}

void sync_touch(struct sync *s, const char *namespace_id, const char *group, const char *service)
{
	struct sync_entry *e = sync_entry_find(s, namespace_id, group, service);
	struct sync_catalog *cat = sync_catalog_find(s, namespace_id, group);
	if (e)
		e->last_used_ms = sync_now(s);
	if (cat)
		cat->last_used_ms = sync_now(s);
}

bool sync_ready(const struct sync *s)
{
	return s->ready;
}

void sync_catalog_miss(struct sync *s)
{
	int64_t now = sync_now(s), wait = s->last_miss_ms + SYNC_MISS_PERIOD_MS - now;
	if (s->closing)
		return;
	if (wait <= 0) {
		s->last_miss_ms = now;
		sync_catalog_round(s);
	} else if (uv_timer_get_due_in(&s->catalog_timer) > (uint64_t)wait) {
		/* Too soon for another listing: the catalog timer brings one to the end of the
		 * period, so a name registered meanwhile is not left to the next catalog round. */
		s->last_miss_ms += SYNC_MISS_PERIOD_MS;
		uv_timer_start(&s->catalog_timer, on_catalog_timer, (uint64_t)wait,
			       s->cfg.catalog_interval_ms);
	}
}

void sync_get_stats(const struct sync *s, struct sync_stats *out)
{
	*out = s->stats;
	out->tracked = s->n_entries;
	out->stale = 0;
	for (size_t i = 0; i < s->n_buckets; i++)
		for (const struct sync_entry *e = s->buckets[i]; e; e = e->hnext)
			out->stale += e->svc && e->svc->origin.stale;
	_Static_assert(SYNC_MAX_SERVERS >= NACOSAPI_MAX_SERVERS, "room for every server");
	out->n_servers = s->n_servers;
	for (size_t i = 0; i < s->n_servers; i++) {
		const struct sync_server *srv = &s->servers[i];
		struct sync_server_stats *o = &out->servers[i];
		snprintf(o->url, sizeof(o->url), "%s", srv->url);
		memcpy(o->results, srv->results, sizeof(o->results));
	}
	sync_grpc_stats(s, out); /* gRPC hook */
}

/* ---- reload ------------------------------------------------------------------------------ */

/* Settings the calls in flight were made with: servers, credentials, the HTTP client, the
 * catalogs. */
static bool sync_network_changed(const struct config *a, const struct config *b)
{
	if (strcmp(a->nacos, b->nacos) != 0 || strcmp(a->nacos_api, b->nacos_api) != 0 ||
	    strcmp(a->nacos_transport, b->nacos_transport) != 0 || /* gRPC hook */
	    strcmp(a->nacos_ca, b->nacos_ca) != 0 || strcmp(a->username, b->username) != 0 ||
	    strcmp(a->password, b->password) != 0 || strcmp(a->groups, b->groups) != 0 ||
	    a->max_response_size != b->max_response_size || a->n_zones != b->n_zones ||
	    a->any_group != b->any_group || a->max_groups != b->max_groups)
		return true;
	for (size_t z = 0; z < a->n_zones; z++)
		if (strcmp(a->zones[z].namespace_id, b->zones[z].namespace_id) != 0)
			return true;
	return false;
}

/* Takes the new server list. A server kept (same URL) keeps the API it was found to speak,
 * unless the pin changed. Tokens go, so the next call logs in with the new credentials. */
static void sync_servers_replace(struct sync *s, struct sync_server *fresh, size_t n, bool pinned,
				 bool same_pin)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; same_pin && k < s->n_servers; k++) {
			if (strcmp(fresh[i].url, s->servers[k].url) == 0) {
				fresh[i].api = s->servers[k].api;
				fresh[i].list_api = s->servers[k].list_api;
			}
			if (strcmp(fresh[i].url, s->servers[k].url) == 0) /* also when re-pinned */
				memcpy(fresh[i].peers, s->servers[k].peers, sizeof(fresh[i].peers));
		}
	}
	for (size_t k = 0; k < s->n_servers; k++)
		free(s->servers[k].token);
	memcpy(s->servers, fresh, n * sizeof(*fresh));
	s->n_servers = n;
	s->pinned = pinned;
	s->rr = 0;
}

/* Entries for which pick(e, arg) holds, as an array to walk instead of the table when the work
 * may run waiters, whose callbacks may grow the table. NULL when none (or out of memory). */
static struct sync_entry **sync_entries_pick(struct sync *s,
					     bool (*pick)(const struct sync_entry *, const void *),
					     const void *arg, size_t *n)
{
	struct sync_entry **v = NULL;
	*n = 0;
	for (size_t i = 0; i < s->n_buckets; i++)
		for (struct sync_entry *e = s->buckets[i]; e; e = e->hnext)
			*n += pick(e, arg);
	if (*n == 0 || !(v = malloc(*n * sizeof(*v)))) {
		*n = 0;
		return NULL;
	}
	size_t k = 0;
	for (size_t i = 0; i < s->n_buckets; i++)
		for (struct sync_entry *e = s->buckets[i]; e; e = e->hnext)
			if (pick(e, arg))
				v[k++] = e;
	return v;
}

struct sync_catalog_swap {
	struct sync_catalog *old, *fresh;
	size_t n_old, n_fresh;
};

/* e belongs to a catalog the new configuration has no more (a group or namespace gone). */
static bool sync_entry_dropped(const struct sync_entry *e, const void *arg)
{
	const struct sync_catalog_swap *w = arg;
	return sync_catalog_in(w->old, w->n_old, e->ns, e->group) &&
	       !sync_catalog_in(w->fresh, w->n_fresh, e->ns, e->group);
}

/* The new catalogs take over the names of the old ones they match; the services of a catalog
 * that goes stop being tracked. */
static void sync_catalogs_replace(struct sync *s, struct sync_catalog *cats, size_t n)
{
	struct sync_catalog_swap w = {s->cats, cats, s->n_cats, n};
	size_t n_gone;
	for (size_t i = 0; i < n; i++) {
		struct sync_catalog *old = sync_catalog_find(s, cats[i].ns, cats[i].group);
		if (!old)
			continue;
		cats[i].names = old->names;
		cats[i].n = old->n;
		cats[i].valid = old->valid;
		cats[i].failing = old->failing;
		old->names = NULL;
		old->n = 0;
	}
	struct sync_entry **gone = sync_entries_pick(s, sync_entry_dropped, &w, &n_gone);
	for (struct sync_waiter *q = s->catalog_waiters; q; q = q->next)
		q->cat = NULL; /* its catalog goes: the next complete publish runs it */
	s->cats = cats;
	s->n_cats = n;
	for (size_t i = 0; i < n_gone; i++)
		sync_entry_remove(s, gone[i]);
	free(gone);
	sync_catalogs_free(w.old, w.n_old);
}

/* Servers, credentials or catalogs change: closing the HTTP client cancels every call in
 * flight (they still see the old servers and catalogs), then the new ones start over. On error
 * nothing changed. */
static int sync_network_reset(struct sync *s, const struct config *cfg)
{
	struct sync_server fresh[NACOSAPI_MAX_SERVERS];
	struct sync_catalog *cats;
	void *http;
	size_t n_cats, cap;
	bool pinned;
	int n = sync_servers_parse(cfg, fresh, &pinned), rc;
	if (n < 0)
		return n;
	if ((rc = sync_catalogs_new(cfg, &cats, &n_cats, &cap)) < 0)
		return rc;
	if ((rc = s->io->open(s->io->ctx, s->loop, cfg, &http)) < 0) {
		sync_catalogs_free(cats, n_cats);
		return rc;
	}
	bool same_pin = strcmp(s->cfg.nacos_api, cfg->nacos_api) == 0;
	s->network++;
	s->io->close(s->http);
	sync_grpc_stop(s); /* gRPC hook: cancels its listings too */
	s->http = http;
	/* From here on, waiters that run may start calls: they must see the new settings. */
	s->cfg = *cfg;
	sync_servers_replace(s, fresh, (size_t)n, pinned, same_pin);
	sync_catalogs_replace(s, cats, n_cats);
	s->cats_cap = cap;
	sync_grpc_start(s); /* gRPC hook: the new servers */
	return 0;
}

static bool sync_entry_waited_for(const struct sync_entry *e, const void *arg)
{
	return e->waiters && !e->inflight;
}

/* Polls follow the new interval; after a reset every service is due now, and those a query
 * waits for are fetched at once (the tick leaves them to their waiters). */
static void sync_entries_reschedule(struct sync *s, bool reset)
{
	int64_t now = sync_now(s), next = now + s->cfg.poll_interval_ms;
	size_t n;
	for (size_t i = 0; i < s->n_buckets; i++)
		for (struct sync_entry *e = s->buckets[i]; e; e = e->hnext) {
			if (reset || e->next_poll_ms > next)
				e->next_poll_ms = reset ? 0 : next;
			if (reset) /* server indexes name other servers now */
				e->server = SIZE_MAX;
		}
	if (!reset)
		return;
	struct sync_entry **v = sync_entries_pick(s, sync_entry_waited_for, NULL, &n);
	for (size_t i = 0; i < n; i++)
		if (sync_entry_waited_for(v[i], NULL))
			sync_fetch(s, v[i], true);
	free(v);
}

static void sync_timers_restart(struct sync *s, unsigned old_poll_ms, unsigned old_catalog_ms,
				bool now)
{
	uint64_t tick = sync_tick_ms(s);
	if (now || old_poll_ms != s->cfg.poll_interval_ms)
		uv_timer_start(&s->tick, on_tick, now ? 0 : tick, tick);
	if (now || old_catalog_ms != s->cfg.catalog_interval_ms)
		uv_timer_start(&s->catalog_timer, on_catalog_timer,
			       now ? 0 : s->cfg.catalog_interval_ms, s->cfg.catalog_interval_ms);
}

int sync_reload(struct sync *s, const struct config *cfg)
{
	unsigned poll_ms = s->cfg.poll_interval_ms, catalog_ms = s->cfg.catalog_interval_ms;
	bool reset = sync_network_changed(&s->cfg, cfg);
	bool repush = s->cfg.push != cfg->push || strcmp(s->cfg.push_listen, cfg->push_listen) != 0;
	int rc;
	if (s->closing)
		return -ECANCELED;
	if (reset && (rc = sync_network_reset(s, cfg)) < 0)
		return rc;
	s->cfg = *cfg;
	if (repush) {
		sync_push_stop(s);
		sync_push_start(s); /* a failure is logged, and polls go on */
	}
	config_snapshot(&s->cfg, &s->snapcfg);
	sync_guard_setup(s, false);
	sync_timers_restart(s, poll_ms, catalog_ms, reset);
	sync_entries_reschedule(s, reset);
	for (size_t i = 0; s->cfg.track_all && i < s->n_cats; i++)
		if (s->cats[i].valid)
			sync_catalog_track_all(s, &s->cats[i]);
	sync_build_start(s);
	log_info("sync", "reloaded: %s (api %s), %zu servers, groups %s, track %s%s", s->cfg.nacos,
		 s->cfg.nacos_api[0] ? s->cfg.nacos_api : "auto", s->n_servers,
		 s->cfg.groups[0] ? s->cfg.groups : "DEFAULT_GROUP",
		 s->cfg.track_all ? "all" : "queried", reset ? "; fetching everything again" : "");
	return 0;
}

void sync_close(struct sync *s)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	s->io->close(s->http); /* cancels every call */
	sync_grpc_stop(s);     /* gRPC hook */
	pushsock_close(s->push);
	s->push = NULL;
	for (size_t i = 0; i < s->n_buckets; i++)
		for (struct sync_entry *e = s->buckets[i]; e; e = e->hnext)
			sync_waiters_run(s, e);
	sync_waiter_list_run(s, &s->catalog_waiters, NULL);
	if (s->build)
		snapjob_cancel(s->build); /* on_build_done runs either way */
	/* A change still waiting for its snapshot is a change the cache file lacks too. */
	if (s->cfg.cache_file[0] && uv_is_active((uv_handle_t *)&s->publish_timer))
		s->dirty_cache = true;
	sync_cache_flush(s);
	bgwork_trim_close(s->trim);
	uv_close((uv_handle_t *)&s->tick, sync_on_close);
	uv_close((uv_handle_t *)&s->catalog_timer, sync_on_close);
	uv_close((uv_handle_t *)&s->publish_timer, sync_on_close);
	uv_close((uv_handle_t *)&s->cache_timer, sync_on_close);
}

/*
 * The sync: what to fetch when, and what an answer changes. It ties the rooms below together
 * and owns none of their data; each room knows nothing of the ones above it, and reports up
 * through a hook struct it defines:
 *   synccall   servers, failover, backoff, API detection, login   (over syncio: http.c)
 *   synchttp   the HTTP transport: instance lists and catalog pages, reported through syncsink
 *   syncgrpc   the gRPC transport beside it: subscriptions, pushes, catalogs (syncsink too)
 *   synctrack  tracked services and their data, the removal guard
 *   synccat    the catalogs and what a listing does to them
 *   syncwait   queries waiting;  syncmiss  names of groups that cannot be listed
 *   syncpush   UDP pushes;  syncpub  snapshots;  synccache  the cache file
 * Any transport hands its results to the two entry points here, sync_instances_take (an
 * instance list, with where it came from) and sync_catalog_page_take (a page of a catalog),
 * through struct syncsink. Everything here runs on the sync's loop thread.
 */
#include "resolver/sync/sync.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "resolver/clock.h"
#include "resolver/config.h"
#include "resolver/log.h"
#include "resolver/random.h"
#include "resolver/serve/snapstore.h"
#include "resolver/sync/snapjob.h"
#include "resolver/sync/synccache.h"
#include "resolver/sync/synccall.h"
#include "resolver/sync/synccat.h"
#include "resolver/sync/syncgrpc.h"
#include "resolver/sync/synchttp.h"
#include "resolver/sync/syncio.h"
#include "resolver/sync/syncmiss.h"
#include "resolver/sync/syncpub.h"
#include "resolver/sync/syncpush.h"
#include "resolver/sync/syncsink.h"
#include "resolver/sync/synctrack.h"
#include "resolver/sync/syncwait.h"
#include "zones/data/lending.h"
#include "zones/data/snapshot.h"
#include "zones/dns/query.h"
#include "zones/nacos/nacos.h"
#include "zones/nacos/nacosapi.h"
#include "zones/nacos/syncpolicy.h"

#define SYNC_MISS_PERIOD_MS 5000 /* catalog re-list on a miss at most this often */

struct sync {
	uv_loop_t *loop;
	struct config cfg;
	struct snapshot_config snapcfg;
	struct snapstore *reg;
	const struct syncio *io;
	struct synccall *net;    /* the servers, and the calls to them */
	struct synchttp *http;   /* the HTTP transport */
	struct syncgrpc *grpc;   /* the gRPC transport: subscriptions and catalogs beside it */
	struct synctrack *track; /* the tracked services and their data */
	struct synccat *cats;    /* the catalogs */
	struct syncmiss *miss;   /* names of groups that cannot be listed */
	struct syncpush *push;   /* UDP pushes */
	uv_timer_t tick, catalog_timer;
	/* Snapshots are built on the thread pool from the services lent to the build. */
	struct lending *lent;
	struct syncpub *pub;
	struct synccache *cache;
	int64_t last_miss_ms;
	/* Queries for names missing from a zone whose catalog is not listed yet. */
	struct syncwait_list catalog_waiters;
	struct syncwait *wait;
	bool ready, closing;
	int open_handles;
	uint64_t rnd[2]; /* sync_rand */
	struct sync_stats stats;
};

static void sync_schedule_publish(struct sync *s);
static void sync_fetch(struct sync *s, struct synctrack_entry *e, bool urgent);
static void sync_publish_urgent(struct sync *s);

/* ---- small helpers ----------------------------------------------------------------------- */

static int64_t sync_now(struct sync *s)
{
	return s->io->now_ms(s->io->ctx, s->loop);
}

/* Backoff and jitter spread nodes; they need no secrecy. */
static uint32_t sync_rand(struct sync *s)
{
	return (uint32_t)(random_next(s->rnd) >> 32);
}

/* ---- tracked entries --------------------------------------------------------------------- */

static void sync_waiters_run(struct sync *s, struct synctrack_entry *e);

/* Stops tracking e: its data goes (the catalog, if it lists e, makes it pending again). Its
 * waiters run once it is out of the table, so that a query they answer tracks it afresh. */
static void sync_entry_remove(struct sync *s, struct synctrack_entry *e)
{
	synctrack_unlink(s->track, e);
	syncgrpc_track(s->grpc, e, false);
	sync_waiters_run(s, e);
	synctrack_release(s->track, e);
}

static struct synctrack_entry *sync_entry_add(struct sync *s, const char *ns, const char *group,
					      const char *name)
{
	return synctrack_add(s->track, ns, group, name, sync_now(s));
}

/* ---- waiters: the first query of a service waits for its fetch ---------------------------- */

static void sync_handle_closed(struct sync *s);

/* A snapshot of e's data alone, so that its waiters are answered as soon as the data is in,
 * however long the full build takes on a busy node. Small: one service. NULL when there is no
 * data (or no memory): the waiters then answer from the registry. */
static struct snapshot *sync_entry_snapshot(struct sync *s, const struct synctrack_entry *e)
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

static struct snapshot *sync_wait_snap(void *owner, void *subject)
{
	return sync_entry_snapshot(owner, subject);
}

/* A query waiting for one group's listing goes once the group is settled (or at close). */
static bool sync_wait_ready(void *owner, const void *cond)
{
	const struct sync *s = owner;
	return s->closing || synccat_settled(cond);
}

static void sync_wait_closed(void *owner)
{
	sync_handle_closed(owner);
}

static void sync_waiters_run(struct sync *s, struct synctrack_entry *e)
{
	syncwait_run(s->wait, &e->waiters, e);
}

/* cb runs after timeout_ms (told absent) unless e's waiters are run first. */
static int sync_waiter_add(struct sync *s, struct synctrack_entry *e, uint64_t timeout_ms,
			   bool absent, sync_fetch_cb cb, void *arg)
{
	return syncwait_add(s->wait, &e->waiters, e, NULL, timeout_ms, absent, cb, arg);
}

/* cb runs after timeout_ms (told absent) unless the queries waiting for a listing are run first
 * (at a complete publish; with cat, once cat is settled). */
static int sync_catalog_wait(struct sync *s, const struct synccat_catalog *cat, uint64_t timeout_ms,
			     bool absent, sync_fetch_cb cb, void *arg)
{
	return syncwait_add(s->wait, &s->catalog_waiters, NULL, cat, timeout_ms, absent, cb, arg);
}

/* ---- UDP push: who may push, and where to ----------------------------------------------- */

/* The clientIP that polls sent to srv ask pushes for; NULL: none (the v3 API has no push). */
static const char *sync_push_ip(const struct sync *s, const struct synccall_server *srv)
{
	return srv->api == NACOSAPI_V3 ? NULL : syncpush_client_ip(s->push, srv->local_ip);
}

/* The poll period of e: while pushes reach it, stretched towards Nacos's cacheMillis, but to
 * no more than twice poll-interval (a lost push, UDP being best effort, waits at most that
 * long) and below the 10 s after which 1.x forgets the subscription (jitter adds 10 %). */
static int64_t sync_poll_ms(const struct sync *s, const struct synctrack_entry *e)
{
	if (syncgrpc_covers(s->grpc, e)) /* pushed at once over gRPC: a poll is a safety net */
		return SYNCGRPC_POLL_FACTOR * (int64_t)s->cfg.poll_interval_ms;
	return syncpolicy_poll_ms(s->cfg.poll_interval_ms, e->subscribed && e->push_ok,
				  e->svc ? e->svc->cache_millis : 0);
}

/* A poll of e goes out with (on) or without a push subscription. */
static void sync_entry_subscribe(struct sync *s, struct synctrack_entry *e, bool on)
{
	bool stretched = e->subscribed && e->push_ok;
	e->subscribed = on;
	e->push_ok = e->push_ok && on;
	if (stretched && !on) /* the next poll was planned for pushes that stop here */
		e->next_poll_ms =
			sync_now(s) + syncpolicy_jitter_ms(s->cfg.poll_interval_ms, sync_rand(s));
}

/* ---- instance lists ---------------------------------------------------------------------- */

/* e is polled over HTTP; over gRPC it is subscribed too (a no-op when it is). */
static void sync_fetch(struct sync *s, struct synctrack_entry *e, bool urgent)
{
	syncgrpc_track(s->grpc, e, true);
	e->next_poll_ms = sync_now(s) + syncpolicy_jitter_ms(sync_poll_ms(s, e), sync_rand(s));
	synchttp_fetch(s->http, e, urgent);
}

static void sync_fetch_failed(struct sync *s, struct synctrack_entry *e, const char *why)
{
	unsigned n;
	if (!synctrack_settle(e))
		return;
	s->stats.fetch_failed++;
	if (syncpolicy_streak_due(&e->streak, sync_now(s), !e->failing, &n))
		log_warn("nacos", "fetching %s/%s/%s failed (%u more since the last line): %s; %s",
			 e->ns, e->group, e->name, n, why,
			 e->svc ? "serving the last good copy" : "no data yet");
	e->failing = true;
	if (synctrack_mark_stale(s->track, e, true))
		sync_schedule_publish(s);
	sync_waiters_run(s, e);
}

/* e's fetch ended with an answer: false when e was untracked meanwhile (freed now). */
static bool sync_fetch_settled(struct sync *s, struct synctrack_entry *e,
			       const struct syncsink_source *from)
{
	if (from->skipped != e->skipped_logged) /* logged when the count changes, not per poll */
		log_warn("nacos", "%s/%s/%s: %zu instances skipped (%s)", e->ns, e->group, e->name,
			 from->skipped, from->why[0] ? from->why : "none now");
	e->skipped_logged = from->skipped;
	if (!synctrack_settle(e))
		return false;
	s->stats.fetch_ok++;
	if (e->failing)
		log_info("nacos", "fetching %s/%s/%s works again", e->ns, e->group, e->name);
	e->failing = false;
	return true;
}

/*
 * The entry point for an instance list of e, from any transport: svc (taken) is what Nacos has
 * now, from where `from` says. e's fetch ends here, unless the data came unasked (a
 * subscription's); its first queries are answered.
 */
static void sync_instances_take(void *owner, struct synctrack_entry *e, struct nacos_service *svc,
				const struct syncsink_source *from)
{
	struct sync *s = owner;
	if (svc->n_instances > s->cfg.max_instances) {
		char over[96];
		snprintf(over, sizeof(over), "%zu instances, over max-instances (%u)",
			 svc->n_instances, s->cfg.max_instances);
		nacos_service_free(svc);
		s->stats.over_instances++;
		if (!from->unasked)
			sync_fetch_failed(s, e, over);
		return;
	}
	if (!from->unasked && !sync_fetch_settled(s, e, from)) {
		nacos_service_free(svc);
		return;
	}
	synctrack_stamp(e, svc, synccall_server(s->net, from->server)->url, from->api,
			clock_wall_ms());
	const struct synccat_catalog *cat = synccat_find(s->cats, e->ns, e->group);
	svc->origin.uncatalogued = cat && synccat_unlistable(cat);
	if (synctrack_take(s->track, e, svc, from->server, from->ref_ms, sync_now(s)))
		sync_schedule_publish(s);
	if (from->unasked) {
		int64_t next = sync_now(s) + syncpolicy_jitter_ms(sync_poll_ms(s, e), sync_rand(s));
		e->pushed_ms = sync_now(s);
		if (!from->pushed && e->next_poll_ms < next)
			e->next_poll_ms = next; /* subscribed: the next poll is the safety net's */
	}
	if (!syncwait_empty(&e->waiters)) { /* first queries: answered now, the next ones from
					       the registry */
		sync_waiters_run(s, e);
		sync_publish_urgent(s);
	}
}

/* ---- UDP push: what a pushed service does --------------------------------------------- */

/* The tracked entry a push of group/name is for. A push names no namespace: when several
 * zones' namespaces track the name, it is ambiguous, and those entries are polled now. */
static struct synctrack_entry *sync_push_target(struct sync *s, const char *group, const char *name)
{
	struct synctrack_entry *found = NULL, *e;
	bool ambiguous = false;
	for (size_t z = 0; z < s->cfg.n_zones; z++) {
		if (!(e = synctrack_find(s->track, s->cfg.zones[z].namespace_id, group, name)) ||
		    e == found)
			continue;
		ambiguous = found != NULL;
		if (found && !found->inflight && syncwait_empty(&found->waiters))
			sync_fetch(s, found, false);
		if (found && !e->inflight && syncwait_empty(&e->waiters))
			sync_fetch(s, e, false);
		found = e;
	}
	return ambiguous ? NULL : found;
}

static size_t sync_push_server_of(void *owner, const char *ip)
{
	struct sync *s = owner;
	return s->closing ? SIZE_MAX : synccall_server_of(s->net, ip);
}

/* A pushed service (svc taken) from server: applied when it is newer than the data held
 * (Nacos's lastRefTime) and comes from the server the service talks to. */
static bool sync_push_take(void *owner, size_t server, struct nacos_service *svc, int64_t ref)
{
	struct sync *s = owner;
	const struct synccall_server *srv = synccall_server(s->net, server);
	struct synctrack_entry *e = sync_push_target(s, svc->group, svc->name);
	if (!e || server != e->server || (e->svc && ref <= e->ref_ms)) {
		log_debug("push", "%s@@%s: %s", svc->group, svc->name,
			  !e                    ? "not tracked here"
			  : server != e->server ? "not from its server"
						: "no newer than the data held");
		nacos_service_free(svc);
		return false;
	}
	log_debug("push", "%s/%s/%s: %zu instances pushed by %s", e->ns, e->group, e->name,
		  svc->n_instances, srv->url);
	e->ref_ms = ref;
	e->pushed_ms = sync_now(s);
	e->push_ok = true;
	synctrack_stamp(e, svc, srv->url,
			nacosapi_version_name(srv->api == NACOSAPI_V3 ? NACOSAPI_V3 : NACOSAPI_V1),
			clock_wall_ms());
	if (synctrack_apply(s->track, e, svc, sync_now(s)))
		sync_schedule_publish(s);
	return true;
}

/* Push stops (a reload): polls no longer wait for pushes. */
static void sync_push_stop(struct sync *s)
{
	syncpush_stop(s->push);
	for (struct synctrack_entry *e = synctrack_first(s->track); e;
	     e = synctrack_next(s->track, e))
		e->push_ok = false;
}

/* ---- catalog ----------------------------------------------------------------------------- */

/* Over gRPC while it is connected, else over HTTP. */
static void sync_catalog_list(struct sync *s, struct synccat_catalog *cat)
{
	if (!syncgrpc_list(s->grpc, cat))
		synchttp_list(s->http, cat);
}

static void sync_catalog_round(void *owner)
{
	struct sync *s = owner;
	for (size_t i = 0; i < synccat_slots(s->cats); i++) {
		struct synccat_catalog *cat = synccat_slot(s->cats, i);
		if (cat && !cat->inflight)
			sync_catalog_list(s, cat);
	}
}

static void sync_catalog_failed(void *owner, struct synccat_catalog *cat, const char *why,
				bool refused)
{
	struct sync *s = owner;
	s->stats.catalog_failed++;
	if (synccat_failed(cat, why, refused, sync_now(s)))
		sync_publish_urgent(s); /* its zone may stop being partial: queries wait for that */
}

static size_t sync_cat_held(void *owner, const struct synccat_catalog *cat, const char *name)
{
	struct sync *s = owner;
	struct synctrack_entry *e = synctrack_find(s->track, cat->ns, cat->group, name);
	return e && e->svc ? e->svc->n_instances : 0;
}

/* A listing that would take `lost` instances away at once passes the removal guard. */
static bool sync_cat_allow(void *owner, const struct synccat_catalog *cat, size_t lost)
{
	struct sync *s = owner;
	bool started = false;
	if (synctrack_guard_allow(s->track, sync_now(s), lost, &started))
		return true;
	if (started)
		log_warn("nacos",
			 "the catalog of %s/%s would remove %zu of all %zu instances at once: "
			 "holding it back",
			 cat->ns, cat->group, lost, synctrack_instances(s->track));
	return false;
}

static void sync_cat_gone(void *owner, const struct synccat_catalog *cat, const char *name)
{
	struct sync *s = owner;
	struct synctrack_entry *e = synctrack_find(s->track, cat->ns, cat->group, name);
	if (e)
		sync_entry_remove(s, e);
}

static struct synccat_hooks sync_cat_hooks(struct sync *s)
{
	return (struct synccat_hooks){
		.owner = s, .held = sync_cat_held, .allow = sync_cat_allow, .gone = sync_cat_gone};
}

static void sync_catalog_track_all(struct sync *s, struct synccat_catalog *cat)
{
	for (size_t i = 0; i < cat->n; i++) {
		if (synctrack_find(s->track, cat->ns, cat->group, cat->names[i]))
			continue;
		struct synctrack_entry *e = sync_entry_add(s, cat->ns, cat->group, cat->names[i]);
		if (e)
			e->next_poll_ms = 0; /* fetched on the next tick */
	}
}

/* A listing of cat is complete. */
static void sync_catalog_finish(struct sync *s, struct synccat_catalog *cat, size_t total)
{
	bool first, changed = synccat_finish(s->cats, cat, total, &first);
	s->stats.catalog_ok++;
	if (s->cfg.track_all)
		sync_catalog_track_all(s, cat);
	if (first) /* its zone stops being partial: queries may be waiting for that */
		sync_publish_urgent(s);
	else if (changed)
		sync_schedule_publish(s);
}

/*
 * One page of a group's catalog, from any transport: the entry point for a listing. names (n of
 * them, the group's, taken) came from a page of `items` entries (of every group the server
 * matched, page_size asked) of the `total` the server counts. true: ask for the next page
 * (cat->page is it); false: the listing is over, applied or failed.
 */
static bool sync_catalog_page_take(void *owner, struct synccat_catalog *cat, char **names, size_t n,
				   size_t items, size_t total, size_t page_size)
{
	struct sync *s = owner;
	int rc = synccat_page(cat, names, n, items, total, page_size, s->cfg.max_services);
	if (rc < 0) {
		s->stats.over_services += rc == -E2BIG;
		sync_catalog_failed(s, cat,
				    rc == -E2BIG ? "more names than max-services" : "out of memory",
				    false);
		return false;
	}
	if (rc > 0)
		return true;
	sync_catalog_finish(s, cat, total);
	return false;
}

/* ---- what the transports tell: struct syncsink --------------------------------------------- */

static void sync_sink_instances_failed(void *owner, struct synctrack_entry *e, const char *why,
				       bool over_cap)
{
	struct sync *s = owner;
	s->stats.over_instances += over_cap;
	sync_fetch_failed(s, e, why);
}

/* A poll of e goes to srv: it asks for pushes where they can reach us (v1 only). */
static const char *sync_polling(void *owner, struct synctrack_entry *e,
				const struct synccall_server *srv, unsigned *port)
{
	struct sync *s = owner;
	const char *ip = sync_push_ip(s, srv);
	e->polled_ms = sync_now(s);
	sync_entry_subscribe(s, e, ip != NULL);
	*port = syncpush_port(s->push);
	return ip;
}

static void sync_http_closed(void *owner)
{
	sync_handle_closed(owner);
}

/* What every transport reports to: the entry points above. */
static const struct syncsink sync_sink = {.instances = sync_instances_take,
					  .instances_failed = sync_sink_instances_failed,
					  .catalog_page = sync_catalog_page_take,
					  .catalog_failed = sync_catalog_failed};

/* The HTTP transport. NULL on ENOMEM. */
static struct synchttp *sync_http_new(struct sync *s)
{
	struct syncsink sink = sync_sink;
	sink.owner = s;
	struct synchttp_hooks h = {.owner = s, .polling = sync_polling, .closed = sync_http_closed};
	return synchttp_new(s->loop, s->net, &sink, &h);
}

/* The gRPC transport, beside HTTP. NULL on ENOMEM. */
static struct syncgrpc *sync_grpc_new(struct sync *s)
{
	struct syncsink sink = sync_sink;
	sink.owner = s;
	struct syncgrpc_hooks h = {.owner = s, .up = sync_catalog_round};
	return syncgrpc_new(s->loop, &s->cfg, s->io, s->net, s->track, &sink, &h);
}

/* ---- publishing: snapshots built on the thread pool --------------------------------------- */

/* Whether e's data goes into snapshots. An empty service that no catalog lists (one fetched by
 * name, or gone from the listing) is left out, so that a query for it is settled as absent
 * (NXDOMAIN), and so that a name like "_info.x" fetched empty never shadows x's own names. */
static bool sync_entry_served(struct sync *s, const struct synctrack_entry *e)
{
	if (!e->svc)
		return false;
	if (e->svc->n_instances > 0 || !s->cfg.any_group)
		return true;
	const struct synccat_catalog *cat = synccat_find(s->cats, e->ns, e->group);
	return cat && synccat_lists(cat, e->name);
}

/* Every service served, and the names of every catalog not fetched yet. 0 or -ENOMEM. */
static int sync_job_fill(struct sync *s, struct snapjob *j)
{
	for (struct synctrack_entry *e = synctrack_first(s->track); e;
	     e = synctrack_next(s->track, e))
		if (sync_entry_served(s, e) && snapjob_add_service(j, e->ns, e->svc) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < synccat_slots(s->cats); i++) {
		struct synccat_catalog *cat = synccat_slot(s->cats, i);
		if (!cat)
			continue;
		if (cat->valid && snapjob_add_group(j, cat->ns, cat->group) < 0)
			return -ENOMEM;
		for (size_t k = 0; k < cat->n; k++) {
			struct synctrack_entry *e =
				synctrack_find(s->track, cat->ns, cat->group, cat->names[k]);
			if ((!e || !e->svc) &&
			    snapjob_add_pending(j, cat->ns, cat->group, cat->names[k]) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* A job for a snapshot of everything held now: the services are lent to it. NULL on ENOMEM.
 * A zone with a catalog not settled yet is partial: no NXDOMAIN from it before it is. */
static struct snapjob *sync_job_new(void *owner, bool *complete)
{
	struct sync *s = owner;
	struct snapshot_config sc = s->snapcfg;
	*complete = true;
	for (size_t z = 0; z < sc.n_zones; z++) {
		sc.zones[z].open_groups = s->cfg.any_group;
		if (synccat_partial(s->cats, sc.zones[z].namespace_id))
			sc.zones[z].partial = true;
		*complete = *complete && !sc.zones[z].partial;
	}
	struct snapjob *j = snapjob_new(&sc, snapstore_next_generation(s->reg));
	if (j && sync_job_fill(s, j) < 0) {
		snapjob_free(j);
		j = NULL;
	}
	return j;
}

static void sync_published(void *owner)
{
	struct sync *s = owner;
	synccache_schedule(s->cache);
}

/* A build ended: once one lists every catalog, the sync is ready, and the queries waiting for
 * a listing are answered. */
static void sync_built(void *owner, bool complete)
{
	struct sync *s = owner;
	if (complete && !s->ready)
		log_info("nacos", "catalog synced and served");
	s->ready = s->ready || complete;
	if (complete)
		syncwait_run(s->wait, &s->catalog_waiters, NULL);
}

static void sync_pub_closed(void *owner)
{
	sync_handle_closed(owner);
}

static void sync_schedule_publish(struct sync *s)
{
	syncpub_soon(s->pub);
}

/* A query waits for data that just came in. */
static void sync_publish_urgent(struct sync *s)
{
	syncpub_urgent(s->pub);
}

/* ---- cache file -------------------------------------------------------------------------- */

static struct nacos_registry *sync_registry_lend(void *owner)
{
	struct sync *s = owner;
	return synctrack_lend(s->track);
}

static void sync_cache_closed(void *owner)
{
	sync_handle_closed(owner);
}

/* Blocking: runs in sync_new, before the loop. A missing or bad file is logged and ignored. */
static void sync_cache_load(struct sync *s)
{
	struct nacos_registry *r = NULL;
	if (synccache_load(s->cfg.cache_file, &r) < 0)
		return;
	int rc = synctrack_adopt(s->track, r, sync_now(s));
	nacos_registry_free(r);
	if (rc < 0)
		return;
	log_info("sync", "loaded %d services from cache file %s", rc, s->cfg.cache_file);
	syncpub_blocking(s->pub);
	s->ready = true;
}

/* ---- periodic work ----------------------------------------------------------------------- */

/* An idle entry goes back to pending, but only where a catalog lists the group: without one,
 * its copy is all there is (Nacos down since start). */
static bool sync_entry_idle(struct sync *s, struct synctrack_entry *e, int64_t now)
{
	if (s->cfg.track_all || e->inflight || !syncwait_empty(&e->waiters))
		return false;
	if (now - e->last_used_ms < syncpolicy_idle_ms(s->cfg.catalog_interval_ms))
		return false;
	struct synccat_catalog *cat = synccat_find(s->cats, e->ns, e->group);
	return cat && synccat_settled(cat);
}

/* An entry with waiters is left to their timer: a fetch failing at once would run their
 * callbacks here, and those may add entries (and grow the table) under on_tick's walk. */
static bool sync_entry_due(const struct synctrack_entry *e, int64_t now)
{
	return !e->inflight && syncwait_empty(&e->waiters) && now >= e->next_poll_ms;
}

static bool sync_entry_in_catalog(const struct synctrack_entry *e, const void *arg)
{
	const struct synccat_catalog *cat = arg;
	return strcmp(e->ns, cat->ns) == 0 && strcmp(e->group, cat->group) == 0;
}

/* Forgets a group added by a query, with its services; its slot is free for another. */
static void sync_catalog_forget(struct sync *s, struct synccat_catalog *cat)
{
	size_t n;
	struct synctrack_entry **v = synctrack_pick(s->track, sync_entry_in_catalog, cat, &n);
	for (size_t k = 0; k < n; k++)
		sync_entry_remove(s, v[k]);
	free(v);
	synccat_forget(cat);
}

/* A group added by a query and not named since for as long as an idle service stays tracked
 * is forgotten, with its services. true when something went. */
static bool sync_catalogs_expire(struct sync *s, int64_t now)
{
	int64_t idle = syncpolicy_idle_ms(s->cfg.catalog_interval_ms);
	bool changed = false;
	for (size_t i = 0; i < synccat_slots(s->cats); i++) {
		struct synccat_catalog *cat = synccat_slot(s->cats, i);
		if (!cat || !cat->dynamic || cat->inflight || now - cat->last_used_ms < idle)
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
	struct synctrack_entry *e, *next;
	for (e = synctrack_first(s->track); e; e = next) {
		next = synctrack_next(s->track, e);
		if (sync_entry_idle(s, e, now)) {
			log_debug("sync", "%s/%s/%s idle: no longer tracked", e->ns, e->group,
				  e->name);
			sync_entry_remove(s, e);
			changed = true;
		} else if (sync_entry_due(e, now)) {
			sync_fetch(s, e, false);
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

static void sync_free(struct sync *s)
{
	synctrack_free(s->track);
	synccat_free(s->cats);
	synchttp_free(s->http);
	syncgrpc_free(s->grpc);
	synccall_free(s->net);
	syncpush_free(s->push);
	syncmiss_free(s->miss);
	syncwait_free(s->wait);
	syncpub_free(s->pub);
	synccache_free(s->cache);
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

static uint64_t sync_tick_ms(const struct sync *s)
{
	uint64_t tick = s->cfg.poll_interval_ms / 10;
	return tick < 50 ? 50 : tick > 1000 ? 1000 : tick;
}

/* The guard's window is a poll round; a hold outlasts a few of them. */
static void sync_guard_setup(struct sync *s, bool init)
{
	int64_t hold = 3 * (int64_t)s->cfg.poll_interval_ms;
	hold = hold > SYNCTRACK_HOLD_MS ? hold : SYNCTRACK_HOLD_MS;
	synctrack_guard_setup(s->track, s->cfg.poll_interval_ms, hold, init);
}

/* Nothing can fail from here: the handles open, the cache file is read, the first snapshot
 * goes out. */
static void sync_start(struct sync *s)
{
	uv_timer_t *timers[] = {&s->tick, &s->catalog_timer};
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
		uv_timer_init(s->loop, timers[i]);
		timers[i]->data = s;
	}
	uint64_t tick = sync_tick_ms(s);
	uv_timer_start(&s->tick, on_tick, tick, tick);
	uv_timer_start(&s->catalog_timer, on_catalog_timer, 0, s->cfg.catalog_interval_ms);
	syncgrpc_start(s->grpc);
	syncpub_start(s->pub);
	synccache_start(s->cache);
	/* The timers, the waiters, publishing, the cache file and HTTP parses: each is given back
	 * once its work has ended after sync_close. */
	s->open_handles = 6;
	if (s->cfg.cache_file[0])
		sync_cache_load(s);
	if (!s->ready) /* its zones partial: no NXDOMAIN before the catalog is listed */
		syncpub_blocking(s->pub);
}

int sync_new(uv_loop_t *loop, const struct config *cfg, struct snapstore *reg, struct sync **out)
{
	return sync_new_io(loop, cfg, reg, &syncio_http, out);
}

static int64_t sync_miss_now(void *owner);
static void sync_miss_fetch(void *owner, struct synctrack_entry *e);
static struct snapshot *sync_miss_snap(void *owner, struct synctrack_entry *e);
static int sync_miss_later(void *owner, syncwait_cb cb, void *arg);
static void sync_miss_found(void *owner);
static bool sync_miss_closing(void *owner);

/* The rooms that hold memory only (no handle yet): on failure, sync_free undoes them. */
static int sync_rooms_new(struct sync *s)
{
	struct syncpub_hooks bh = {.owner = s,
				   .job = sync_job_new,
				   .published = sync_published,
				   .built = sync_built,
				   .closed = sync_pub_closed};
	struct synccache_hooks ch = {
		.owner = s, .lend = sync_registry_lend, .closed = sync_cache_closed};
	struct syncwait_hooks wh = {.owner = s,
				    .snap = sync_wait_snap,
				    .ready = sync_wait_ready,
				    .closed = sync_wait_closed};
	struct syncmiss_hooks mh = {.owner = s,
				    .now = sync_miss_now,
				    .fetch = sync_miss_fetch,
				    .snap = sync_miss_snap,
				    .later = sync_miss_later,
				    .found = sync_miss_found,
				    .closing = sync_miss_closing};
	struct synccat_hooks kh = sync_cat_hooks(s);
	if (!(s->lent = lending_new()) ||
	    !(s->track = synctrack_new(s->lent, &s->cfg.max_tracked)) ||
	    !(s->pub = syncpub_new(s->loop, s->reg, s->lent, &bh)) ||
	    !(s->cache = synccache_new(s->loop, s->io, &s->cfg, s->lent, &ch)) ||
	    !(s->wait = syncwait_new(s->loop, &s->cfg.fetch_max_waiting, &wh)) ||
	    !(s->miss = syncmiss_new(s->track, s->wait, &s->cfg, &mh)) ||
	    !(s->cats = synccat_new(&s->cfg, &kh)))
		return -ENOMEM;
	return 0;
}

int sync_new_io(uv_loop_t *loop, const struct config *cfg, struct snapstore *reg,
		const struct syncio *io, struct sync **out)
{
	struct sync *s = calloc(1, sizeof(*s));
	int rc;
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->io = io;
	s->cfg = *cfg;
	s->reg = reg;
	random_seed(s->rnd);
	config_snapshot(&s->cfg, &s->snapcfg);
	if ((rc = sync_rooms_new(s)) < 0 || (rc = synccall_new(loop, &s->cfg, io, &s->net)) < 0)
		goto fail;
	sync_guard_setup(s, true);
	struct syncpush_hooks ph = {
		.owner = s, .server_of = sync_push_server_of, .apply = sync_push_take};
	rc = -ENOMEM;
	if (!(s->http = sync_http_new(s)) || !(s->grpc = sync_grpc_new(s)) ||
	    !(s->push = syncpush_new(loop, &s->cfg, &ph)) || (rc = syncpush_start(s->push)) < 0)
		goto fail;
	sync_start(s);
	log_info("sync", "syncing from %s (api %s), %zu servers, groups %s, track %s", cfg->nacos,
		 cfg->nacos_api[0] ? cfg->nacos_api : "auto", synccall_count(s->net),
		 cfg->groups[0] ? cfg->groups : "DEFAULT_GROUP",
		 cfg->track_all ? "all" : "queried");
	*out = s;
	return 0;
fail:
	sync_free(s);
	return rc;
}

int sync_track(struct sync *s, const char *namespace_id, const char *group, const char *service,
	       sync_fetch_cb cb, void *arg)
{
	if (s->closing)
		return -ECANCELED;
	struct synctrack_entry *e = synctrack_find(s->track, namespace_id, group, service);
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
	uint64_t wait = syncpub_complete(s->pub) ? 0 : s->cfg.fetch_wait_ms;
	if (wait)
		sync_catalog_miss(s); /* a failed listing is retried now, not at the next round */
	return sync_catalog_wait(s, NULL, wait, false, cb, arg);
}

/* ---- names of groups never configured, and of groups that cannot be listed --------------- */

/* A catalog for a group a query named, listed now. NULL: max-groups reached (counted), or no
 * memory. */
static struct synccat_catalog *sync_catalog_add_dynamic(struct sync *s, const char *ns,
							const char *group)
{
	bool full;
	struct synccat_catalog *cat =
		synccat_add(s->cats, ns, group, sync_now(s), s->cfg.max_groups, &full);
	if (full && s->stats.over_groups++ == 0)
		log_warn("nacos", "not listing group %s of %s: max-groups (%u) reached", group, ns,
			 s->cfg.max_groups);
	if (!cat)
		return NULL;
	log_info("nacos", "listing group %s of %s: a query named it", group, ns);
	sync_catalog_list(s, cat);
	return cat;
}

static int64_t sync_miss_now(void *owner)
{
	return sync_now(owner);
}

static void sync_miss_fetch(void *owner, struct synctrack_entry *e)
{
	sync_fetch(owner, e, true);
}

static struct snapshot *sync_miss_snap(void *owner, struct synctrack_entry *e)
{
	return sync_entry_snapshot(owner, e);
}

/* With the queries waiting for a listing, so that closing runs it at once. */
static int sync_miss_later(void *owner, syncwait_cb cb, void *arg)
{
	return sync_catalog_wait(owner, NULL, 0, false, cb, arg);
}

static void sync_miss_found(void *owner)
{
	sync_publish_urgent(owner);
}

static bool sync_miss_closing(void *owner)
{
	return ((struct sync *)owner)->closing;
}

int sync_wait_miss(struct sync *s, const struct query_miss *q, sync_fetch_cb cb, void *arg)
{
	if (s->closing)
		return -ECANCELED;
	if (!syncpub_complete(s->pub))
		return sync_wait_catalog(s, cb, arg);
	struct synccat_catalog *cat = synccat_find(s->cats, q->namespace_id, q->group);
	if (!cat && !nacosapi_group_valid(q->group)) /* no Nacos group has that name */
		return sync_catalog_wait(s, NULL, 0, true, cb, arg);
	if (!cat && !(cat = sync_catalog_add_dynamic(s, q->namespace_id, q->group)))
		return -EBUSY;
	cat->last_used_ms = sync_now(s);
	if (cat->valid) /* listed since the query read its snapshot: a publish is due */
		sync_publish_urgent(s);
	if (!synccat_unlistable(cat)) {
		if (!cat->inflight && !cat->valid)
			sync_catalog_list(s, cat);
		return sync_catalog_wait(s, cat, s->cfg.fetch_wait_ms, false, cb, arg);
	}
	return syncmiss_wait(s->miss, q, cb, arg);
}

void sync_touch(struct sync *s, const char *namespace_id, const char *group, const char *service)
{
	struct synctrack_entry *e = synctrack_find(s->track, namespace_id, group, service);
	struct synccat_catalog *cat = synccat_find(s->cats, namespace_id, group);
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

/* The counters the rooms keep themselves. */
static void sync_stats_add_rooms(const struct sync *s, struct sync_stats *out)
{
	struct synccall_stats cs;
	struct syncpush_stats ps;
	synccall_get_stats(s->net, &cs);
	syncpush_get_stats(s->push, &ps);
	out->requests += cs.requests;
	out->logins += cs.logins;
	out->over_response_size += cs.over_response_size + ps.over_response_size;
	out->over_instances += ps.over_instances;
	out->push_received += ps.received;
	out->push_applied += ps.applied;
	out->push_stale += ps.stale;
	out->push_rejected += ps.rejected;
	out->over_waiting += syncwait_refused(s->wait);
	out->over_direct += syncmiss_refused(s->miss);
	struct synctrack_stats ts;
	synctrack_get_stats(s->track, &ts);
	out->held_back += ts.held_back;
	out->over_tracked += ts.over_tracked;
	out->tracked = ts.tracked;
	out->stale = ts.stale;
	struct syncpub_stats bs;
	syncpub_get_stats(s->pub, &bs);
	out->publishes += bs.publishes;
	out->build_ms = bs.build_ms;
	out->build_cpu_ms = bs.build_cpu_ms;
	struct synccache_stats cs2;
	synccache_get_stats(s->cache, &cs2);
	out->cache_writes += cs2.writes;
	out->cache_write_failures += cs2.failures;
}

void sync_get_stats(const struct sync *s, struct sync_stats *out)
{
	*out = s->stats;
	sync_stats_add_rooms(s, out);
	_Static_assert(SYNC_MAX_SERVERS >= NACOSAPI_MAX_SERVERS, "room for every server");
	out->n_servers = synccall_count(s->net);
	for (size_t i = 0; i < out->n_servers; i++) {
		const struct synccall_server *srv = synccall_server(s->net, i);
		struct sync_server_stats *o = &out->servers[i];
		snprintf(o->url, sizeof(o->url), "%s", srv->url);
		memcpy(o->results, srv->results, sizeof(o->results));
	}
	struct syncgrpc_stats g;
	syncgrpc_get_stats(s->grpc, &g);
	out->grpc_notifies = g.sub.notifies;
	out->grpc_notify_applied = g.sub.notify_applied;
	out->grpc_notify_stale = g.sub.notify_stale;
	out->grpc_notify_rejected = g.sub.notify_rejected;
	out->grpc_reconnects = g.sub.reconnects;
	out->grpc_resubscriptions = g.sub.resubscriptions;
	out->grpc_subscribed = g.sub.subscribed;
	if (g.on && g.sub.server < out->n_servers)
		out->servers[g.sub.server].grpc = g.sub.up ? 2 : 1;
}

/* ---- reload ------------------------------------------------------------------------------ */

struct sync_catalog_swap {
	struct synccat *old, *fresh;
};

/* e belongs to a catalog the new configuration has no more (a group or namespace gone). */
static bool sync_entry_dropped(const struct synctrack_entry *e, const void *arg)
{
	const struct sync_catalog_swap *w = arg;
	return synccat_find(w->old, e->ns, e->group) && !synccat_find(w->fresh, e->ns, e->group);
}

/* The new catalogs take over the names of the old ones they match; the services of a catalog
 * that goes stop being tracked. */
static void sync_catalogs_replace(struct sync *s, struct synccat *cats)
{
	struct sync_catalog_swap w = {.old = s->cats, .fresh = cats};
	size_t n_gone;
	synccat_take_over(cats, s->cats);
	struct synctrack_entry **gone = synctrack_pick(s->track, sync_entry_dropped, &w, &n_gone);
	/* Their catalogs go: the next complete publish runs them. */
	syncwait_forget_conds(&s->catalog_waiters);
	s->cats = cats;
	for (size_t i = 0; i < n_gone; i++)
		sync_entry_remove(s, gone[i]);
	free(gone);
	synccat_free(w.old);
}

/* Servers, credentials or catalogs change: closing the HTTP client cancels every call in
 * flight (they still see the old servers and catalogs), then the new ones start over. On error
 * nothing changed. */
static int sync_network_reset(struct sync *s, const struct config *cfg)
{
	struct synccat_hooks kh = sync_cat_hooks(s);
	struct synccat *cats = synccat_new(cfg, &kh);
	int rc;
	if (!cats)
		return -ENOMEM;
	if ((rc = synccall_reset(s->net, cfg)) < 0) {
		synccat_free(cats);
		return rc;
	}
	syncgrpc_stop(s->grpc); /* cancels its listings too */
	/* From here on, waiters that run may start calls: they must see the new settings. */
	s->cfg = *cfg;
	sync_catalogs_replace(s, cats);
	syncgrpc_start(s->grpc); /* to the new servers */
	return 0;
}

static bool sync_entry_waited_for(const struct synctrack_entry *e, const void *arg)
{
	return !syncwait_empty(&e->waiters) && !e->inflight;
}

/* Polls follow the new interval; after a reset every service is due now, and those a query
 * waits for are fetched at once (the tick leaves them to their waiters). */
static void sync_entries_reschedule(struct sync *s, bool reset)
{
	int64_t now = sync_now(s), next = now + s->cfg.poll_interval_ms;
	size_t n;
	for (struct synctrack_entry *e = synctrack_first(s->track); e;
	     e = synctrack_next(s->track, e)) {
		if (reset || e->next_poll_ms > next)
			e->next_poll_ms = reset ? 0 : next;
		if (reset) /* server indexes name other servers now */
			e->server = SIZE_MAX;
	}
	if (!reset)
		return;
	struct synctrack_entry **v = synctrack_pick(s->track, sync_entry_waited_for, NULL, &n);
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
	/* The key table says which keys the calls in flight were made with (servers, credentials,
	 * the HTTP client, the catalogs) and which the push socket was opened with. */
	bool reset = config_reload_changed(&s->cfg, cfg, CONFIG_RELOAD_NACOS, NULL, 0) > 0;
	bool repush = config_reload_changed(&s->cfg, cfg, CONFIG_RELOAD_PUSH, NULL, 0) > 0;
	int rc;
	if (s->closing)
		return -ECANCELED;
	if (reset && (rc = sync_network_reset(s, cfg)) < 0)
		return rc;
	s->cfg = *cfg;
	if (repush) {
		sync_push_stop(s);
		syncpush_start(s->push); /* a failure is logged, and polls go on */
	}
	config_snapshot(&s->cfg, &s->snapcfg);
	sync_guard_setup(s, false);
	sync_timers_restart(s, poll_ms, catalog_ms, reset);
	sync_entries_reschedule(s, reset);
	for (size_t i = 0; s->cfg.track_all && i < synccat_slots(s->cats); i++) {
		struct synccat_catalog *cat = synccat_slot(s->cats, i);
		if (cat && cat->valid)
			sync_catalog_track_all(s, cat);
	}
	syncpub_now(s->pub);
	log_info("sync", "reloaded: %s (api %s), %zu servers, groups %s, track %s%s", s->cfg.nacos,
		 s->cfg.nacos_api[0] ? s->cfg.nacos_api : "auto", synccall_count(s->net),
		 s->cfg.groups[0] ? s->cfg.groups : "DEFAULT_GROUP",
		 s->cfg.track_all ? "all" : "queried", reset ? "; fetching everything again" : "");
	return 0;
}

void sync_close(struct sync *s)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	synccall_close(s->net); /* cancels every call */
	syncgrpc_stop(s->grpc);
	synchttp_close(s->http);
	syncpush_stop(s->push);
	for (struct synctrack_entry *e = synctrack_first(s->track); e;
	     e = synctrack_next(s->track, e))
		sync_waiters_run(s, e);
	syncwait_run(s->wait, &s->catalog_waiters, NULL);
	syncwait_close(s->wait);
	/* A change still waiting for its snapshot is a change the cache file lacks too. */
	if (syncpub_pending(s->pub))
		synccache_dirty(s->cache);
	syncpub_close(s->pub);
	synccache_close(s->cache);
	uv_close((uv_handle_t *)&s->tick, sync_on_close);
	uv_close((uv_handle_t *)&s->catalog_timer, sync_on_close);
}

/* The tracked services (see synctrack.h). Runs on the sync's loop thread; data a build may
 * read is never changed in place (lending.h). */
#include "resolver/sync/synctrack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/log.h"
#include "zones/base/hash.h"
#include "zones/data/lending.h"
#include "zones/nacos/nacos.h"

struct synctrack {
	struct lending *lent;
	const unsigned *max;
	struct synctrack_entry **buckets;
	size_t n_buckets, n_entries;
	size_t total_instances;
	struct syncpolicy_guard guard;
	struct synctrack_stats stats;
};

uint64_t synctrack_key(const char *ns, const char *group, const char *name)
{
	return hash_fnv64_str(hash_fnv64_str(hash_fnv64_str(HASH_FNV64_INIT, ns), group), name);
}

struct synctrack *synctrack_new(struct lending *lent, const unsigned *max)
{
	struct synctrack *t = calloc(1, sizeof(*t));
	if (!t || !(t->buckets = calloc(t->n_buckets = 64, sizeof(*t->buckets)))) {
		free(t);
		return NULL;
	}
	t->lent = lent;
	t->max = max;
	return t;
}

static void synctrack_entry_free(struct synctrack_entry *e)
{
	nacos_service_free(e->svc);
	free(e->ns);
	free(e->group);
	free(e->name);
	free(e);
}

void synctrack_free(struct synctrack *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct synctrack_entry *e, *next;
		for (e = t->buckets[i]; e; e = next) {
			next = e->hnext;
			synctrack_entry_free(e);
		}
	}
	free(t->buckets);
	free(t);
}

struct synctrack_entry *synctrack_find(struct synctrack *t, const char *ns, const char *group,
				       const char *name)
{
	uint32_t h = (uint32_t)synctrack_key(ns, group, name);
	for (struct synctrack_entry *e = t->buckets[h & (t->n_buckets - 1)]; e; e = e->hnext)
		if (e->hash == h && strcmp(e->name, name) == 0 && strcmp(e->group, group) == 0 &&
		    strcmp(e->ns, ns) == 0)
			return e;
	return NULL;
}

static void synctrack_grow(struct synctrack *t)
{
	size_t n = t->n_buckets * 2;
	struct synctrack_entry **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct synctrack_entry *e, *next;
		for (e = t->buckets[i]; e; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
}

struct synctrack_entry *synctrack_add(struct synctrack *t, const char *ns, const char *group,
				      const char *name, int64_t now_ms)
{
	struct synctrack_entry *e;
	if (t->n_entries >= *t->max) {
		if (t->stats.over_tracked++ == 0)
			log_warn("nacos", "not tracking %s/%s/%s: max-tracked (%u) reached", ns,
				 group, name, *t->max);
		return NULL;
	}
	if (!(e = calloc(1, sizeof(*e))))
		return NULL;
	e->ns = strdup(ns);
	e->group = strdup(group);
	e->name = strdup(name);
	if (!e->ns || !e->group || !e->name) {
		synctrack_entry_free(e);
		return NULL;
	}
	if (t->n_entries >= t->n_buckets)
		synctrack_grow(t);
	e->hash = (uint32_t)synctrack_key(ns, group, name);
	e->server = SIZE_MAX;
	e->last_used_ms = now_ms;
	e->hnext = t->buckets[e->hash & (t->n_buckets - 1)];
	t->buckets[e->hash & (t->n_buckets - 1)] = e;
	t->n_entries++;
	return e;
}

void synctrack_unlink(struct synctrack *t, struct synctrack_entry *e)
{
	struct synctrack_entry **p = &t->buckets[e->hash & (t->n_buckets - 1)];
	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	t->n_entries--;
	if (e->svc)
		t->total_instances -= e->svc->n_instances;
}

void synctrack_release(struct synctrack *t, struct synctrack_entry *e)
{
	lending_retire(t->lent, e->svc);
	e->svc = NULL;
	if (e->inflight)
		e->doomed = true; /* the call frees it */
	else
		synctrack_entry_free(e);
}

bool synctrack_settle(struct synctrack_entry *e)
{
	e->inflight = false;
	if (!e->doomed)
		return true;
	synctrack_entry_free(e);
	return false;
}

size_t synctrack_count(const struct synctrack *t)
{
	return t->n_entries;
}

static struct synctrack_entry *synctrack_from(const struct synctrack *t, size_t bucket)
{
	for (size_t i = bucket; i < t->n_buckets; i++)
		if (t->buckets[i])
			return t->buckets[i];
	return NULL;
}

struct synctrack_entry *synctrack_first(const struct synctrack *t)
{
	return synctrack_from(t, 0);
}

struct synctrack_entry *synctrack_next(const struct synctrack *t, const struct synctrack_entry *e)
{
	return e->hnext ? e->hnext : synctrack_from(t, (e->hash & (t->n_buckets - 1)) + 1);
}

struct synctrack_entry **synctrack_pick(struct synctrack *t,
					bool (*pick)(const struct synctrack_entry *, const void *),
					const void *arg, size_t *n)
{
	struct synctrack_entry **v = NULL, *e;
	*n = 0;
	for (e = synctrack_first(t); e; e = synctrack_next(t, e))
		*n += pick(e, arg);
	if (*n == 0 || !(v = malloc(*n * sizeof(*v)))) {
		*n = 0;
		return NULL;
	}
	size_t k = 0;
	for (e = synctrack_first(t); e; e = synctrack_next(t, e))
		if (pick(e, arg))
			v[k++] = e;
	return v;
}

/* ---- taking answers in ------------------------------------------------------------------- */

void synctrack_guard_setup(struct synctrack *t, int64_t window_ms, int64_t hold_ms, bool init)
{
	if (init) {
		syncpolicy_guard_init(&t->guard, window_ms, hold_ms);
		return;
	}
	t->guard.window_ms = window_ms; /* a hold in progress goes on */
	t->guard.hold_ms = hold_ms;
}

bool synctrack_guard_allow(struct synctrack *t, int64_t now_ms, size_t lost, bool *started)
{
	if (syncpolicy_guard_allow(&t->guard, now_ms, t->total_instances, lost, started))
		return true;
	t->stats.held_back++;
	return false;
}

size_t synctrack_instances(const struct synctrack *t)
{
	return t->total_instances;
}

struct nacos_service *synctrack_edit(struct synctrack *t, struct synctrack_entry *e)
{
	if (!e->svc || !lending_active(t->lent))
		return e->svc;
	struct nacos_service *c = nacos_service_clone(e->svc);
	if (!c)
		return NULL;
	lending_retire(t->lent, e->svc);
	e->svc = c;
	return c;
}

bool synctrack_mark_stale(struct synctrack *t, struct synctrack_entry *e, bool stale)
{
	if (!e->svc || e->svc->origin.stale == stale)
		return false;
	struct nacos_service *svc = synctrack_edit(t, e);
	if (!svc)
		return false;
	svc->origin.stale = stale;
	return true;
}

/* Whether an answer that takes e from old_n to new_n instances may be applied now. */
static bool synctrack_removal_allowed(struct synctrack *t, const struct synctrack_entry *e,
				      size_t old_n, size_t new_n, int64_t now_ms)
{
	bool started = false;
	bool allow = syncpolicy_guard_allow(&t->guard, now_ms, t->total_instances, old_n - new_n,
					    &started);
	if (started)
		log_warn("nacos",
			 "answers would remove over half of all %zu instances at once: holding "
			 "removals back for %ds unless Nacos recovers",
			 t->total_instances, SYNCTRACK_HOLD_MS / 1000);
	/* An empty list is what a Nacos restarting empty answers for every service: take it only
	 * when the next answer says it again, so that the guard has counted the whole round
	 * before the first service is emptied. */
	return allow && (new_n > 0 || e->held);
}

/* Keeps e's data, served stale, instead of svc (freed). true when the data to serve changed. */
static bool synctrack_hold(struct synctrack *t, struct synctrack_entry *e,
			   struct nacos_service *svc)
{
	t->stats.held_back++;
	e->held = true;
	nacos_service_free(svc);
	return synctrack_mark_stale(t, e, true);
}

/* e's data is svc from now on. */
static void synctrack_replace(struct synctrack *t, struct synctrack_entry *e,
			      struct nacos_service *svc)
{
	lending_retire(t->lent, e->svc);
	e->svc = svc;
	e->held = false;
}

bool synctrack_apply(struct synctrack *t, struct synctrack_entry *e, struct nacos_service *svc,
		     int64_t now_ms)
{
	enum syncpolicy_change ch = syncpolicy_compare(e->svc, svc);
	size_t old_n = e->svc ? e->svc->n_instances : 0;
	if (e->held && svc->n_instances >= old_n && t->guard.holding) {
		log_info("nacos",
			 "%s/%s/%s: Nacos answers with the data held back again: removals "
			 "are no longer held",
			 e->ns, e->group, e->name);
		syncpolicy_guard_recovered(&t->guard);
	}
	if (ch == SYNCPOLICY_SAME) {
		/* The same data, with where it came from now: shown in _info when that changed. */
		bool shown = e->svc->origin.stale ||
			     e->svc->origin.uncatalogued != svc->origin.uncatalogued;
		synctrack_replace(t, e, svc);
		return shown;
	}
	if (old_n > svc->n_instances &&
	    !synctrack_removal_allowed(t, e, old_n, svc->n_instances, now_ms))
		return synctrack_hold(t, e, svc);
	t->total_instances = t->total_instances - old_n + svc->n_instances;
	synctrack_replace(t, e, svc);
	return true;
}

void synctrack_stamp(const struct synctrack_entry *e, struct nacos_service *svc, const char *url,
		     const char *api, int64_t wall_ms)
{
	char *g, *n;
	free(svc->origin.server);
	free(svc->origin.api);
	svc->origin.server = strdup(url);
	svc->origin.api = strdup(api);
	svc->origin.fetched_ms = wall_ms;
	svc->origin.stale = false;
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

bool synctrack_take(struct synctrack *t, struct synctrack_entry *e, struct nacos_service *svc,
		    size_t server, int64_t ref, int64_t now_ms)
{
	bool own = e->server == server;
	if (own && e->svc && ref && ref < e->ref_ms && e->pushed_ms >= e->polled_ms) {
		nacos_service_free(svc);
		return synctrack_mark_stale(t, e, false); /* Nacos answered */
	}
	if (!own) {
		e->server = server;
		e->push_ok = false;
	}
	e->ref_ms = ref;
	return synctrack_apply(t, e, svc, now_ms);
}

int synctrack_adopt(struct synctrack *t, struct nacos_registry *r, int64_t now_ms)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_namespaces; i++) {
		struct nacos_namespace *ns = &r->namespaces[i];
		for (size_t k = 0; k < ns->n_services; k++) {
			struct nacos_service *svc = ns->services[k];
			if (synctrack_find(t, ns->id, svc->group, svc->name))
				continue;
			struct synctrack_entry *e =
				synctrack_add(t, ns->id, svc->group, svc->name, now_ms);
			if (!e)
				return -ENOMEM;
			ns->services[k] = NULL; /* taken; nacos_service_free(NULL) is a no-op */
			svc->origin.stale = true;
			e->svc = svc;
			t->total_instances += svc->n_instances;
			n++;
		}
	}
	return (int)n;
}

static int synctrack_entry_cmp(const void *a, const void *b)
{
	const struct synctrack_entry *x = *(struct synctrack_entry *const *)a;
	const struct synctrack_entry *y = *(struct synctrack_entry *const *)b;
	int c = strcmp(x->ns, y->ns);
	if (!c)
		c = strcmp(x->svc->group, y->svc->group);
	return c ? c : strcmp(x->svc->name, y->svc->name);
}

/* The services go in sorted, so that each lands at the end of its namespace's sorted array
 * rather than moving half of it. */
struct nacos_registry *synctrack_lend(struct synctrack *t)
{
	struct nacos_registry *r = nacos_registry_new();
	struct synctrack_entry **v = calloc(t->n_entries + 1, sizeof(*v));
	size_t n = 0;
	if (!r || !v)
		goto fail;
	for (struct synctrack_entry *e = synctrack_first(t); e; e = synctrack_next(t, e))
		if (e->svc && n < t->n_entries)
			v[n++] = e;
	qsort(v, n, sizeof(*v), synctrack_entry_cmp);
	for (size_t i = 0; i < n; i++)
		if (nacos_registry_put_take(r, v[i]->ns, v[i]->svc) < 0)
			goto fail;
	free(v);
	return r;
fail:
	free(v);
	nacos_registry_free_lent(r);
	return NULL;
}

void synctrack_get_stats(const struct synctrack *t, struct synctrack_stats *out)
{
	*out = t->stats;
	out->tracked = t->n_entries;
	out->stale = 0;
	for (struct synctrack_entry *e = synctrack_first(t); e; e = synctrack_next(t, e))
		out->stale += e->svc && e->svc->origin.stale;
}

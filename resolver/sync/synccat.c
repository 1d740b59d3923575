/* The catalogs (see synccat.h). Runs on the sync's loop thread. */
#include "resolver/sync/synccat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/config.h"
#include "resolver/log.h"
#include "zones/base/array.h"
#include "zones/nacos/nacos.h"
#include "zones/nacos/synccatalog.h"

#define SYNCCAT_MAX_PAGES 200 /* 100,000 names per group */

struct synccat {
	struct synccat_catalog *cats; /* never moved: calls point into it */
	size_t n, cap;                /* slots used (free ones included), and the room */
	struct synccat_hooks h;
};

static void synccat_drop_acc(struct synccat_catalog *cat)
{
	nacos_strv_free(cat->acc, cat->n_acc);
	cat->acc = NULL;
	cat->n_acc = 0;
	cat->first_total = 0;
	cat->n_raw = 0;
}

void synccat_forget(struct synccat_catalog *cat)
{
	free(cat->ns);
	free(cat->group);
	nacos_strv_free(cat->names, cat->n);
	nacos_strv_free(cat->acc, cat->n_acc);
	*cat = (struct synccat_catalog){0};
}

void synccat_free(struct synccat *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		synccat_forget(&c->cats[i]);
	free(c->cats);
	free(c);
}

/* Adds (ns, group[0..len)) unless there already. *room: the array's capacity. */
static int synccat_add_static(struct synccat *c, size_t *room, const char *ns, const char *group,
			      size_t len)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->cats[i].ns, ns) == 0 && strncmp(c->cats[i].group, group, len) == 0 &&
		    c->cats[i].group[len] == '\0')
			return 0;
	if (array_grow((void **)&c->cats, room, c->n, 1, sizeof(*c->cats)) < 0)
		return -ENOMEM;
	struct synccat_catalog *cat = &c->cats[c->n];
	*cat = (struct synccat_catalog){.ns = strdup(ns), .group = strndup(group, len)};
	if (!cat->ns || !cat->group) {
		free(cat->ns);
		free(cat->group);
		return -ENOMEM;
	}
	c->n++;
	return 0;
}

struct synccat *synccat_new(const struct config *cfg, const struct synccat_hooks *h)
{
	const char *groups = cfg->groups[0] ? cfg->groups : "DEFAULT_GROUP";
	struct synccat *c = calloc(1, sizeof(*c));
	size_t room = 0;
	if (!c)
		return NULL;
	c->h = *h;
	for (size_t z = 0; z < cfg->n_zones; z++) {
		for (const char *p = groups; *p;) {
			size_t len = strcspn(p, ", ");
			if (len &&
			    synccat_add_static(c, &room, cfg->zones[z].namespace_id, p, len) < 0)
				goto fail;
			p += len;
			p += strspn(p, ", ");
		}
	}
	/* Room for the groups queries may add, made now: the array never moves. */
	c->cap = c->n + (cfg->any_group ? cfg->max_groups : 0);
	if (array_grow((void **)&c->cats, &room, c->n, c->cap + 1 - c->n, sizeof(*c->cats)) < 0)
		goto fail;
	memset(c->cats + c->n, 0, (room - c->n) * sizeof(*c->cats));
	return c;
fail:
	synccat_free(c);
	return NULL;
}

size_t synccat_slots(const struct synccat *c)
{
	return c->n;
}

struct synccat_catalog *synccat_slot(struct synccat *c, size_t i)
{
	return c->cats[i].ns ? &c->cats[i] : NULL;
}

struct synccat_catalog *synccat_find(struct synccat *c, const char *ns, const char *group)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->cats[i].ns && strcmp(c->cats[i].ns, ns) == 0 &&
		    strcmp(c->cats[i].group, group) == 0)
			return &c->cats[i];
	return NULL;
}

bool synccat_unlistable(const struct synccat_catalog *cat)
{
	return !cat->valid && (cat->refused || cat->fail_streak >= SYNCCAT_UNLISTABLE_STREAK);
}

bool synccat_settled(const struct synccat_catalog *cat)
{
	return cat->valid || synccat_unlistable(cat);
}

bool synccat_lists(const struct synccat_catalog *cat, const char *name)
{
	return cat->valid &&
	       bsearch(&name, cat->names, cat->n, sizeof(*cat->names), synccatalog_strcmp);
}

bool synccat_partial(struct synccat *c, const char *ns)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->cats[i].ns && !c->cats[i].dynamic && !synccat_settled(&c->cats[i]) &&
		    strcmp(c->cats[i].ns, ns) == 0)
			return true;
	return false;
}

struct synccat_catalog *synccat_add(struct synccat *c, const char *ns, const char *group,
				    int64_t now_ms, unsigned max_groups, bool *full)
{
	size_t slot = c->n, dynamic = 0, victim = SIZE_MAX;
	for (size_t i = 0; i < c->n; i++) {
		const struct synccat_catalog *k = &c->cats[i];
		if (!k->ns && slot == c->n)
			slot = i;
		dynamic += k->ns && k->dynamic;
		if (k->ns && k->dynamic && k->n == 0 && synccat_settled(k) &&
		    (victim == SIZE_MAX || k->last_used_ms < c->cats[victim].last_used_ms))
			victim = i;
	}
	*full = dynamic >= max_groups || slot >= c->cap;
	if (*full) {
		/* Not forgotten now: forgetting it may run queries' callbacks. */
		if (victim != SIZE_MAX)
			c->cats[victim].last_used_ms = INT64_MIN / 2;
		return NULL;
	}
	struct synccat_catalog *cat = &c->cats[slot];
	*cat = (struct synccat_catalog){
		.ns = strdup(ns), .group = strdup(group), .dynamic = true, .last_used_ms = now_ms};
	if (!cat->ns || !cat->group) {
		synccat_forget(cat);
		return NULL;
	}
	if (slot == c->n)
		c->n++;
	return cat;
}

void synccat_take_over(struct synccat *fresh, struct synccat *old)
{
	for (size_t i = 0; i < fresh->n; i++) {
		struct synccat_catalog *f = &fresh->cats[i];
		struct synccat_catalog *o = synccat_find(old, f->ns, f->group);
		if (!o)
			continue;
		f->names = o->names;
		f->n = o->n;
		f->valid = o->valid;
		f->failing = o->failing;
		o->names = NULL;
		o->n = 0;
	}
}

/* ---- one listing ------------------------------------------------------------------------- */

void synccat_begin(struct synccat_catalog *cat)
{
	cat->inflight = true;
	cat->page = 1;
}

void synccat_restart(struct synccat_catalog *cat)
{
	if (cat->page > 1) {
		cat->page = 1;
		synccat_drop_acc(cat);
	}
}

void synccat_abort(struct synccat_catalog *cat)
{
	cat->inflight = false;
	synccat_drop_acc(cat);
}

int synccat_page(struct synccat_catalog *cat, char **names, size_t n, size_t items, size_t total,
		 size_t page_size, size_t max)
{
	int rc = synccatalog_append(&cat->acc, &cat->n_acc, names, n, max);
	cat->n_raw += items;
	if (rc < 0)
		return rc;
	if (cat->page == 1)
		cat->first_total = total;
	/* A short page is the last (naming/utils/ServiceUtil.java pageServiceName,
	 * core/utils/PageUtil.java): a totalCount that says otherwise is not believed. */
	if (!synccatalog_more(items, cat->page, page_size, total, SYNCCAT_MAX_PAGES))
		return 0;
	cat->page++;
	return 1;
}

struct synccat_gone {
	struct synccat *c;
	const struct synccat_catalog *cat;
	size_t lost; /* instances of the names gone */
};

static void synccat_gone_count(void *arg, const char *name)
{
	struct synccat_gone *g = arg;
	g->lost += g->c->h.held(g->c->h.owner, g->cat, name);
}

static void synccat_gone_remove(void *arg, const char *name)
{
	struct synccat_gone *g = arg;
	log_info("nacos", "service %s/%s/%s left the catalog", g->cat->ns, g->cat->group, name);
	g->c->h.gone(g->c->h.owner, g->cat, name);
}

/* Names of cat missing from fresh (both sorted) leave the catalog with their data, all or
 * none: a listing that would take most instances away is held back whole. true: changed. */
static bool synccat_diff(struct synccat *c, struct synccat_catalog *cat, char **fresh, size_t n)
{
	struct synccat_gone g = {.c = c, .cat = cat, .lost = 0};
	size_t gone = synccatalog_gone(cat->names, cat->n, fresh, n, synccat_gone_count, &g);
	if (gone == 0)
		return cat->n != n || !cat->valid;
	if (g.lost && !c->h.allow(c->h.owner, cat, g.lost))
		return false; /* the caller keeps the old names too */
	synccatalog_gone(cat->names, cat->n, fresh, n, synccat_gone_remove, &g);
	return true;
}

bool synccat_finish(struct synccat *c, struct synccat_catalog *cat, size_t total, bool *first)
{
	char **fresh = cat->acc;
	size_t n = cat->n_acc, old_n = cat->n;
	/* Pages of a changing (or reshuffled) set skip names: such a listing adds, never removes.
	 * Counted in items as the server counts them, whatever group they are of. */
	bool partial = synccatalog_partial(cat->first_total, total, cat->n_raw);
	cat->acc = NULL;
	cat->n_acc = 0;
	cat->n_raw = 0;
	cat->inflight = false;
	synccatalog_normalise(fresh, &n);
	if (partial && cat->valid)
		synccatalog_union(&fresh, &n, cat->names, cat->n);
	*first = !cat->valid;
	bool changed = synccat_diff(c, cat, fresh, n);
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
	return changed;
}

bool synccat_failed(struct synccat_catalog *cat, const char *why, bool refused, int64_t now_ms)
{
	bool was = synccat_unlistable(cat);
	unsigned n;
	synccat_abort(cat);
	cat->refused = refused;
	cat->fail_streak++;
	if (syncpolicy_streak_due(&cat->streak, now_ms, !cat->failing, &n))
		log_warn("nacos",
			 "listing services of %s/%s failed (%u more since the last line): %s; "
			 "keeping %zu known names",
			 cat->ns, cat->group, n, why, cat->n);
	cat->failing = true;
	if (was || !synccat_unlistable(cat))
		return false;
	log_warn("nacos",
		 "no catalog of %s/%s: names queried in it are fetched by name, and absent ones "
		 "are NXDOMAIN",
		 cat->ns, cat->group);
	return true;
}

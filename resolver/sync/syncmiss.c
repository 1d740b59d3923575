/* Names of groups that cannot be listed (see syncmiss.h). Runs on the sync's loop thread. */
#include "resolver/sync/syncmiss.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/config.h"
#include "resolver/log.h"
#include "resolver/sync/synctrack.h"
#include "zones/data/snapshot.h"
#include "zones/dns/query.h"
#include "zones/nacos/nacos.h"
#include "zones/nacos/syncabsent.h"

struct syncmiss {
	struct synctrack *track;
	struct syncwait *wait;
	const struct config *cfg;
	struct syncmiss_hooks h;
	struct syncabsent *absent;       /* names found absent */
	struct syncpolicy_bucket direct; /* fetches of unknown names */
	uint64_t refused;
};

/* One query: the services its name may be, fetched by name. */
struct syncmiss_query {
	struct syncmiss *m;
	char ns[128], group[64];
	char names[QUERY_MISS_NAMES][256];
	size_t n_names;
	unsigned pending; /* fetches not ended yet */
	bool limited;     /* a fetch was not made: the rate was reached */
	syncwait_cb cb;
	void *arg;
};

struct syncmiss *syncmiss_new(struct synctrack *t, struct syncwait *w, const struct config *cfg,
			      const struct syncmiss_hooks *h)
{
	struct syncmiss *m = calloc(1, sizeof(*m));
	if (!m || !(m->absent = syncabsent_new())) {
		free(m);
		return NULL;
	}
	m->track = t;
	m->wait = w;
	m->cfg = cfg;
	m->h = *h;
	syncpolicy_bucket_init(&m->direct, SYNCMISS_RATE, SYNCMISS_BURST, h->now(h->owner));
	return m;
}

void syncmiss_free(struct syncmiss *m)
{
	if (!m)
		return;
	syncabsent_free(m->absent);
	free(m);
}

uint64_t syncmiss_refused(const struct syncmiss *m)
{
	return m->refused;
}

static bool syncmiss_absent(struct syncmiss *m, const char *ns, const char *group, const char *name)
{
	return syncabsent_has(m->absent, synctrack_key(ns, group, name), m->h.now(m->h.owner));
}

static void syncmiss_remember(struct syncmiss *m, const char *ns, const char *group,
			      const char *name)
{
	syncabsent_add(m->absent, synctrack_key(ns, group, name),
		       m->h.now(m->h.owner) + (int64_t)m->cfg->negative_ttl * 1000);
}

/* One more fetch of a name not known to exist: within the rate, or refused (counted). */
static bool syncmiss_allowed(struct syncmiss *m)
{
	if (syncpolicy_bucket_take(&m->direct, m->h.now(m->h.owner)))
		return true;
	if (m->refused++ == 0)
		log_warn("nacos",
			 "fetching names of unlistable groups faster than %.0f/s: the rest "
			 "get SERVFAIL",
			 SYNCMISS_RATE);
	return false;
}

/* The service q is answered from (the longest name first); *unknown: some name is neither
 * found nor known absent. */
static struct synctrack_entry *syncmiss_found(struct syncmiss_query *q, bool *unknown)
{
	struct syncmiss *m = q->m;
	for (size_t i = 0; i < q->n_names; i++) {
		struct synctrack_entry *e = synctrack_find(m->track, q->ns, q->group, q->names[i]);
		if (e && e->svc && e->svc->n_instances > 0)
			return e;
		if (!syncmiss_absent(m, q->ns, q->group, q->names[i]) &&
		    (!e || !e->svc || e->inflight))
			*unknown = true;
	}
	return NULL;
}

/* Every fetch of q has ended: answer from the service found, else settle the name as absent
 * when each candidate answered empty, else leave it unsettled. */
static void syncmiss_conclude(struct syncmiss_query *q)
{
	struct syncmiss *m = q->m;
	bool unknown = q->limited;
	struct synctrack_entry *found = syncmiss_found(q, &unknown);
	struct snapshot *snap = found ? m->h.snap(m->h.owner, found) : NULL;
	bool absent = !found && !unknown && !m->h.closing(m->h.owner);
	for (size_t i = 0; i < q->n_names; i++) {
		struct synctrack_entry *e = synctrack_find(m->track, q->ns, q->group, q->names[i]);
		if (!e || !e->svc || e->inflight || e->svc->n_instances > 0)
			continue;
		syncmiss_remember(m, q->ns, q->group, q->names[i]);
		/* Empty: untracked at the next tick, so that it stops being polled. Not now: this
		 * may run from the walk of e's own waiters. */
		e->last_used_ms = INT64_MIN / 2;
	}
	if (found)
		m->h.found(m->h.owner);
	q->cb(q->arg, snap, absent);
	snapshot_free(snap);
	free(q);
}

static void syncmiss_part_done(void *arg, const struct snapshot *snap, bool absent)
{
	struct syncmiss_query *q = arg;
	if (--q->pending == 0)
		syncmiss_conclude(q);
}

/* Fetches name for q unless known (held, or absent) already. */
static void syncmiss_fetch_one(struct syncmiss_query *q, const char *name)
{
	struct syncmiss *m = q->m;
	struct synctrack_entry *e = synctrack_find(m->track, q->ns, q->group, name);
	if (syncmiss_absent(m, q->ns, q->group, name) || (e && e->svc && !e->inflight))
		return;
	if (!e && (!syncmiss_allowed(m) ||
		   !(e = synctrack_add(m->track, q->ns, q->group, name, m->h.now(m->h.owner))))) {
		q->limited = true;
		return;
	}
	e->last_used_ms = m->h.now(m->h.owner);
	if (!e->inflight)
		m->h.fetch(m->h.owner, e);
	if (syncwait_add(m->wait, &e->waiters, e, NULL, m->cfg->fetch_wait_ms, false,
			 syncmiss_part_done, q) == 0)
		q->pending++;
	else
		q->limited = true;
}

/* The candidates of q, each fetched unless known. 0, or -EBUSY when q cannot be waited for
 * (then q is not freed). */
static int syncmiss_fetch(struct syncmiss_query *q)
{
	struct syncmiss *m = q->m;
	q->pending = 1; /* held until every fetch is asked for, so none concludes early */
	for (size_t i = 0; i < q->n_names; i++)
		syncmiss_fetch_one(q, q->names[i]);
	/* The last part runs later, so that cb never runs inside syncmiss_wait. */
	if (m->h.later(m->h.owner, syncmiss_part_done, q) == 0)
		return 0;
	if (q->pending == 1)
		return -EBUSY;
	q->pending--; /* the fetches' waiters end it */
	return 0;
}

int syncmiss_wait(struct syncmiss *m, const struct query_miss *qm, syncwait_cb cb, void *arg)
{
	struct syncmiss_query *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	*q = (struct syncmiss_query){.m = m, .n_names = qm->n_names, .cb = cb, .arg = arg};
	snprintf(q->ns, sizeof(q->ns), "%s", qm->namespace_id);
	snprintf(q->group, sizeof(q->group), "%s", qm->group);
	memcpy(q->names, qm->names, sizeof(q->names));
	int rc = syncmiss_fetch(q);
	if (rc < 0)
		free(q);
	return rc;
}

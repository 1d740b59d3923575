/* Publishing snapshots (see syncpub.h). Runs on the sync's loop thread; only snapjob.c's
 * build runs on the pool, on services lent to it. */
#include "resolver/sync/syncpub.h"

#include <stdlib.h>

#include "resolver/bgwork.h"
#include "resolver/log.h"
#include "resolver/serve/snapstore.h"
#include "resolver/sync/snapjob.h"
#include "zones/data/lending.h"

struct syncpub {
	uv_loop_t *loop;
	struct snapstore *reg;
	struct lending *lent;
	struct syncpub_hooks h;
	uv_timer_t timer;         /* the window changes share */
	struct bgwork_trim *trim; /* the previous snapshot is freed at each publish */
	struct snapjob *build;    /* in flight, or NULL */
	uint64_t ticket;          /* of the lending to the build in flight */
	bool build_complete;      /* the build in flight lists every catalog */
	bool published_complete;  /* so did the snapshot published last */
	bool again, urgent;       /* another build is due when the one in flight ends */
	bool closing;
	int open; /* the timer, and the build in flight */
	size_t last_skipped;
	struct syncpub_stats stats;
};

static void syncpub_fail(const char *why)
{
	log_err("sync", "building a snapshot failed: %s; serving the previous one", why);
}

struct syncpub *syncpub_new(uv_loop_t *loop, struct snapstore *reg, struct lending *lent,
			    const struct syncpub_hooks *h)
{
	struct syncpub *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	*p = (struct syncpub){.loop = loop, .reg = reg, .lent = lent, .h = *h};
	if (!(p->trim = bgwork_trim_new(loop))) {
		free(p);
		return NULL;
	}
	return p;
}

void syncpub_start(struct syncpub *p)
{
	uv_timer_init(p->loop, &p->timer);
	p->timer.data = p;
	p->open = 1;
}

static void syncpub_result(struct syncpub *p, struct snapjob_result *res)
{
	if (!res->snap) {
		syncpub_fail("out of memory");
		return;
	}
	if (res->skipped != p->last_skipped)
		log_warn("sync",
			 "%zu Nacos names cannot be DNS names and are not served "
			 "(--log-level debug lists them)",
			 res->skipped);
	p->last_skipped = res->skipped;
	snapstore_publish_take(p->reg, res->snap);
	res->snap = NULL;
	p->stats.publishes++;
	p->stats.build_ms = res->build_ms;
	p->stats.build_cpu_ms = res->cpu_ms;
	bgwork_trim_poke(p->trim);
	p->h.published(p->h.owner);
}

void syncpub_blocking(struct syncpub *p)
{
	struct snapjob_result res;
	bool complete;
	struct snapjob *j = p->h.job(p->h.owner, &complete);
	if (!j) {
		syncpub_fail("out of memory");
		return;
	}
	snapjob_run(j, &res);
	syncpub_result(p, &res);
}

static void syncpub_handle_closed(struct syncpub *p)
{
	if (--p->open == 0 && p->closing)
		p->h.closed(p->h.owner);
}

static void on_build_done(void *arg, struct snapjob_result *res)
{
	struct syncpub *p = arg;
	p->build = NULL;
	lending_end(p->lent, p->ticket);
	bool complete = p->build_complete && res->snap && !res->cancelled;
	if (res->snap && !res->cancelled)
		p->published_complete = complete;
	if (!res->cancelled && !p->closing)
		syncpub_result(p, res);
	if (!p->closing) {
		p->h.built(p->h.owner, complete);
		if (p->again && p->urgent)
			syncpub_now(p);
		else if (p->again)
			syncpub_soon(p);
		p->again = p->urgent = false;
	}
	syncpub_handle_closed(p);
}

void syncpub_now(struct syncpub *p)
{
	uv_timer_stop(&p->timer);
	if (p->closing)
		return;
	if (p->build) {
		p->again = true;
		return;
	}
	bool complete = false;
	struct snapjob *j = p->h.job(p->h.owner, &complete);
	uint64_t ticket = j ? lending_begin(p->lent) : 0;
	if (!ticket) {
		snapjob_free(j);
		syncpub_fail("out of memory");
		return;
	}
	p->build = j;
	p->build_complete = complete;
	if (snapjob_start(j, p->loop, on_build_done, p) < 0) {
		p->build = NULL;
		lending_end(p->lent, ticket);
		syncpub_fail("cannot queue it");
		return;
	}
	p->ticket = ticket;
	p->open++;
}

void syncpub_urgent(struct syncpub *p)
{
	if (p->build)
		p->urgent = true;
	syncpub_now(p);
}

static void on_publish_timer(uv_timer_t *t)
{
	syncpub_now(t->data);
}

void syncpub_soon(struct syncpub *p)
{
	if (!p->closing && !uv_is_active((uv_handle_t *)&p->timer))
		uv_timer_start(&p->timer, on_publish_timer, SYNCPUB_DELAY_MS, 0);
}

bool syncpub_complete(const struct syncpub *p)
{
	return p->published_complete;
}

bool syncpub_pending(const struct syncpub *p)
{
	return uv_is_active((const uv_handle_t *)&p->timer);
}

static void syncpub_on_close(uv_handle_t *h)
{
	syncpub_handle_closed(h->data);
}

void syncpub_close(struct syncpub *p)
{
	if (p->closing)
		return;
	p->closing = true;
	if (p->build)
		snapjob_cancel(p->build); /* on_build_done runs either way */
	bgwork_trim_close(p->trim);
	p->trim = NULL;
	uv_close((uv_handle_t *)&p->timer, syncpub_on_close);
}

void syncpub_free(struct syncpub *p)
{
	if (!p)
		return;
	bgwork_trim_close(p->trim); /* NULL after syncpub_close */
	free(p);
}

void syncpub_get_stats(const struct syncpub *p, struct syncpub_stats *out)
{
	*out = p->stats;
}

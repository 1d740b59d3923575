/* Queries waiting for the sync (see syncwait.h). Runs on the sync's loop thread, timers
 * included. */
#include "resolver/sync/syncwait.h"

#include <errno.h>
#include <stdlib.h>

#include "resolver/log.h"
#include "zones/data/snapshot.h"

struct syncwait_item {
	uv_timer_t timer;
	struct syncwait *w;
	struct syncwait_list *list; /* the list it is on while linked */
	void *subject;
	bool linked;
	bool absent; /* what cb is told when the timer fires first */
	/* Held back at runs until ready: a query waiting for one group's listing runs at a
	 * publish once that group is settled, not at every one. */
	const void *cond;
	syncwait_cb cb;
	void *arg;
	struct syncwait_item *next;
};

struct syncwait {
	uv_loop_t *loop;
	const unsigned *max;
	struct syncwait_hooks h;
	size_t n_waiting; /* not run yet: a run one may wait again at once */
	size_t open;      /* timers not closed yet */
	bool closing;
	uint64_t refused;
};

struct syncwait *syncwait_new(uv_loop_t *loop, const unsigned *max, const struct syncwait_hooks *h)
{
	struct syncwait *w = calloc(1, sizeof(*w));
	if (w)
		*w = (struct syncwait){.loop = loop, .max = max, .h = *h};
	return w;
}

static void syncwait_on_close(uv_handle_t *handle)
{
	struct syncwait_item *q = handle->data;
	struct syncwait *w = q->w;
	free(q);
	if (--w->open == 0 && w->closing)
		w->h.closed(w->h.owner);
}

static void syncwait_fire(struct syncwait_item *q, const struct snapshot *snap, bool absent)
{
	uv_timer_stop(&q->timer);
	q->w->n_waiting--;
	q->cb(q->arg, snap, absent);
	uv_close((uv_handle_t *)&q->timer, syncwait_on_close);
}

void syncwait_run(struct syncwait *w, struct syncwait_list *list, void *subject)
{
	struct syncwait_item *q, *run = list->head;
	struct snapshot *snap = run ? w->h.snap(w->h.owner, subject) : NULL;
	list->head = NULL;
	while ((q = run)) {
		run = q->next;
		if (q->cond && !w->h.ready(w->h.owner, q->cond)) {
			q->next = list->head;
			list->head = q;
			continue;
		}
		q->linked = false;
		syncwait_fire(q, snap, false);
	}
	snapshot_free(snap);
}

static void on_wait_timeout(uv_timer_t *t)
{
	struct syncwait_item *q = t->data;
	struct snapshot *snap = NULL;
	if (q->linked) {
		struct syncwait_item **p = &q->list->head;
		while (*p != q)
			p = &(*p)->next;
		*p = q->next;
		q->linked = false;
		snap = q->w->h.snap(q->w->h.owner, q->subject);
	}
	syncwait_fire(q, snap, q->absent);
	snapshot_free(snap);
}

int syncwait_add(struct syncwait *w, struct syncwait_list *list, void *subject, const void *cond,
		 uint64_t timeout_ms, bool absent, syncwait_cb cb, void *arg)
{
	if (w->n_waiting >= *w->max) { /* a flood of names: answer SERVFAIL */
		if (w->refused++ == 0)
			log_warn("sync",
				 "fetch-max-waiting (%u) reached: queries for data not in "
				 "yet get SERVFAIL at once",
				 *w->max);
		return -EBUSY;
	}
	struct syncwait_item *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	w->n_waiting++;
	w->open++;
	uv_timer_init(w->loop, &q->timer);
	q->timer.data = q;
	q->w = w;
	q->list = list;
	q->subject = subject;
	q->linked = true;
	q->absent = absent;
	q->cond = cond;
	q->cb = cb;
	q->arg = arg;
	q->next = list->head;
	list->head = q;
	uv_timer_start(&q->timer, on_wait_timeout, timeout_ms, 0);
	return 0;
}

void syncwait_forget_conds(struct syncwait_list *list)
{
	for (struct syncwait_item *q = list->head; q; q = q->next)
		q->cond = NULL;
}

void syncwait_close(struct syncwait *w)
{
	if (w->closing)
		return;
	w->closing = true;
	if (w->open == 0)
		w->h.closed(w->h.owner);
}

void syncwait_free(struct syncwait *w)
{
	free(w);
}

uint64_t syncwait_refused(const struct syncwait *w)
{
	return w->refused;
}

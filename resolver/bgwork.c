#include "resolver/bgwork.h"

#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "resolver/log.h"

/* CFS weight 15 against 1024 at nice 0: while queries keep the CPU busy a background build gets
 * about 1.5 % of it (it still ends, later), and on an idle or another CPU it runs at full speed. */
#define BGWORK_NICE 19

void bgwork_setup(void)
{
	/* A load frees a whole JSON tree of small blocks. In glibc's fastbins they stay unmerged
	 * until the next large allocation merges them all at once: a fifth of a reload's time.
	 * Small blocks still come from the per-thread cache. */
	mallopt(M_MXFAST, 0);
}

void bgwork_lower_priority(void)
{
	static _Thread_local int done;
	if (done)
		return;
	done = 1;
	id_t tid = (id_t)gettid();
	errno = 0;
	int cur = getpriority(PRIO_PROCESS, tid);
	if (errno == 0 && cur < BGWORK_NICE && setpriority(PRIO_PROCESS, tid, BGWORK_NICE) < 0)
		log_debug("bgwork", "cannot lower the priority of a pool thread: %s",
			  strerror(errno));
}

#define BGWORK_TRIM_DELAY_MS 1000

struct bgwork_trim {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_work_t work;
	bool inflight, closing;
	int refs; /* the timer, and the trim in flight */
};

static void bgwork_trim_unref(struct bgwork_trim *t)
{
	if (--t->refs == 0)
		free(t);
}

static void on_trim_work(uv_work_t *w)
{
	bgwork_lower_priority();
	malloc_trim(0);
}

static void on_trim_done(uv_work_t *w, int status)
{
	struct bgwork_trim *t = w->data;
	t->inflight = false;
	bgwork_trim_unref(t);
}

static void on_trim_timer(uv_timer_t *h)
{
	struct bgwork_trim *t = h->data;
	if (t->closing || t->inflight)
		return;
	if (uv_queue_work(t->loop, &t->work, on_trim_work, on_trim_done) == 0) {
		t->inflight = true;
		t->refs++;
	}
}

struct bgwork_trim *bgwork_trim_new(uv_loop_t *loop)
{
	struct bgwork_trim *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->loop = loop;
	t->refs = 1;
	t->work.data = t;
	uv_timer_init(loop, &t->timer);
	t->timer.data = t;
	uv_unref((uv_handle_t *)&t->timer); /* it never keeps the loop alive */
	return t;
}

void bgwork_trim_poke(struct bgwork_trim *t)
{
	if (t && !t->closing)
		uv_timer_start(&t->timer, on_trim_timer, BGWORK_TRIM_DELAY_MS, 0);
}

static void on_trim_timer_close(uv_handle_t *h)
{
	bgwork_trim_unref(h->data);
}

void bgwork_trim_close(struct bgwork_trim *t)
{
	if (!t || t->closing)
		return;
	t->closing = true;
	uv_close((uv_handle_t *)&t->timer, on_trim_timer_close);
}

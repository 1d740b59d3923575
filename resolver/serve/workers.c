#include "resolver/serve/workers.h"

#include <errno.h>
#include <stdlib.h>

#include "resolver/config.h"
#include "resolver/log.h"
#include "resolver/metrics.h"
#include "resolver/serve/dispatch.h"
#include "resolver/serve/listener.h"
#include "resolver/serve/servestats.h"
#include "resolver/serve/snapstore.h"

/* One thread with its own loop and a SO_REUSEPORT UDP socket per listen address. */
struct worker {
	uv_loop_t loop;
	uv_async_t stop;
	uv_thread_t thread;
	uv_mutex_t lock;         /* env; the worker holds it for a batch */
	struct dispatch_env env; /* a copy of the server's, with the worker's metrics shard */
	struct snapstore_reader *reader;
	struct metrics *metrics;
	struct dispatch *d;
	struct listener **listeners;
	size_t n_listeners;
	bool loop_init, lock_init, stop_init, started;
};

struct workers {
	struct snapstore *registry;
	uv_timer_t reclaim; /* frees the snapshots the workers were reading at a publish */
	bool reclaim_init;
	struct worker **w;
	size_t n;
	void (*closed)(void *arg);
	void *closed_arg;
};

/* ---- one worker ---- */

static void worker_close_handles(struct worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++)
		listener_close(w->listeners[i], NULL, NULL);
	if (w->stop_init && !uv_is_closing((uv_handle_t *)&w->stop))
		uv_close((uv_handle_t *)&w->stop, NULL);
}

static void worker_on_stop(uv_async_t *a)
{
	worker_close_handles(a->data);
}

static void worker_run(void *arg)
{
	struct worker *w = arg;
	uv_run(&w->loop, UV_RUN_DEFAULT);
}

/* After the thread ended, or when it never started: closes what is open, ends the loop, frees. */
static void worker_free(struct worker *w)
{
	int rc;

	if (w->loop_init) {
		worker_close_handles(w);
		uv_run(&w->loop, UV_RUN_DEFAULT);
		if ((rc = uv_loop_close(&w->loop)) != 0)
			log_err("server", "worker loop still busy at exit: %s", uv_strerror(rc));
	}
	for (size_t i = 0; i < w->n_listeners; i++)
		listener_free(w->listeners[i]);
	free(w->listeners);
	dispatch_free(w->d);
	snapstore_reader_free(w->reader);
	metrics_free(w->metrics); /* its counts go to the server's */
	if (w->lock_init)
		uv_mutex_destroy(&w->lock);
	free(w);
}

/* A worker's socket for each listen address, in the SO_REUSEPORT group of the main loop's. */
static int worker_listen(struct worker *w, const struct config *cfg)
{
	int rc = 0;

	if (!(w->listeners = calloc(cfg->n_listen ? cfg->n_listen : 1, sizeof(*w->listeners))))
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_listen && rc == 0; i++) {
		struct listener *l = listener_new(cfg, i, w->d);
		if (!l)
			return -ENOMEM;
		w->listeners[w->n_listeners++] = l;
		if ((rc = listener_bind(l, true, false)) == 0 &&
		    (rc = listener_start_udp(l, &w->loop)) < 0)
			log_err("server", "listen %s in a worker failed: %s", listener_name(l),
				uv_strerror(rc));
	}
	return rc;
}

/* The loop, lock, snapshot reader and dispatch of a worker, made on this thread. */
static int worker_init(struct worker *w, const struct dispatch_env *env, struct handoff *handoff)
{
	int rc;

	if ((rc = uv_loop_init(&w->loop)) < 0)
		return rc;
	w->loop_init = true;
	if ((rc = uv_mutex_init(&w->lock)) < 0)
		return rc;
	w->lock_init = true;
	if (!(w->reader = snapstore_reader_new(env->registry)) ||
	    (env->metrics && !(w->metrics = metrics_shard_new(env->metrics))))
		return -ENOMEM;
	w->env = *env;
	w->env.metrics = w->metrics;
	if (!(w->d = dispatch_new_worker(&w->loop, &w->env, &w->lock, w->reader, handoff)))
		return -ENOMEM;
	if ((rc = uv_async_init(&w->loop, &w->stop, worker_on_stop)) < 0)
		return rc;
	w->stop.data = w;
	w->stop_init = true;
	return 0;
}

/* Sets a worker up on this thread, then starts its thread. */
static int worker_start(const struct config *cfg, const struct dispatch_env *env,
			struct handoff *handoff, struct worker **out)
{
	struct worker *w = calloc(1, sizeof(*w));
	int rc;

	*out = w;
	if (!w)
		return -ENOMEM;
	if ((rc = worker_init(w, env, handoff)) < 0 || (rc = worker_listen(w, cfg)) < 0)
		return rc;
	if ((rc = uv_thread_create(&w->thread, worker_run, w)) < 0)
		return rc;
	w->started = true;
	return 0;
}

/* ---- the set ---- */

/* A snapshot retired while a worker was inside a batch waits for the next publish; this frees it
 * within a second instead, so a quiet registry does not keep two copies. */
static void workers_on_reclaim(uv_timer_t *t)
{
	struct workers *ws = t->data;
	snapstore_reclaim(ws->registry);
}

int workers_start(uv_loop_t *loop, const struct config *cfg, const struct dispatch_env *env,
		  struct handoff *handoff, struct workers **out)
{
	struct workers *ws = calloc(1, sizeof(*ws));
	int rc;

	*out = ws;
	if (!ws || !(ws->w = calloc(cfg->threads, sizeof(*ws->w))))
		return -ENOMEM;
	ws->registry = env->registry;
	uv_timer_init(loop, &ws->reclaim);
	ws->reclaim.data = ws;
	ws->reclaim_init = true;
	uv_timer_start(&ws->reclaim, workers_on_reclaim, 1000, 1000);
	for (size_t i = 0; i < cfg->threads; i++) {
		ws->n++;
		if ((rc = worker_start(cfg, env, handoff, &ws->w[i])) < 0) {
			log_err("server", "cannot start worker thread %zu: %s", i + 1,
				uv_strerror(rc));
			return rc;
		}
	}
	return 0;
}

/* Ends every worker; they hand work to the main loop, so before its handles close. */
static void workers_stop(struct workers *ws)
{
	for (size_t i = 0; i < ws->n; i++) {
		struct worker *w = ws->w[i];
		if (w && w->started) {
			uv_async_send(&w->stop);
			uv_thread_join(&w->thread);
			w->started = false;
		}
	}
	for (size_t i = 0; i < ws->n; i++) {
		if (ws->w[i])
			worker_free(ws->w[i]);
	}
	free(ws->w);
	ws->w = NULL;
	ws->n = 0;
}

static void workers_on_close(uv_handle_t *h)
{
	struct workers *ws = h->data;
	void (*closed)(void *arg) = ws->closed;
	void *arg = ws->closed_arg;

	free(ws);
	if (closed)
		closed(arg);
}

void workers_close(struct workers *ws, void (*closed)(void *arg), void *arg)
{
	if (!ws) {
		if (closed)
			closed(arg);
		return;
	}
	workers_stop(ws);
	ws->closed = closed;
	ws->closed_arg = arg;
	if (ws->reclaim_init) {
		uv_close((uv_handle_t *)&ws->reclaim, workers_on_close);
		return;
	}
	free(ws); /* the timer was never set up */
	if (closed)
		closed(arg);
}

void workers_set_env(struct workers *ws, const struct dispatch_env *env)
{
	if (!ws)
		return;
	for (size_t i = 0; i < ws->n; i++) {
		struct worker *w = ws->w[i];
		uv_mutex_lock(&w->lock);
		w->env = *env;
		w->env.metrics = w->metrics;
		uv_mutex_unlock(&w->lock);
	}
}

size_t workers_count(const struct workers *ws)
{
	return ws ? ws->n : 0;
}

void workers_add_stats(const struct workers *ws, struct servestats *sum)
{
	if (!ws)
		return;
	for (size_t i = 0; i < ws->n; i++)
		for (size_t k = 0; k < ws->w[i]->n_listeners; k++)
			servestats_add(sum, listener_stats(ws->w[i]->listeners[k]));
}

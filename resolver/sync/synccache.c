/* When the cache file is written (see synccache.h). Runs on the sync's loop thread but for
 * on_cache_work, which runs on the pool and touches only its job and the services lent to it. */
#include "resolver/sync/synccache.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/bgwork.h"
#include "resolver/config.h"
#include "resolver/log.h"
#include "resolver/readfile.h"
#include "resolver/sync/cachefile.h"
#include "resolver/sync/syncio.h"
#include "zones/data/lending.h"
#include "zones/nacos/nacos.h"

struct synccache {
	uv_loop_t *loop;
	const struct syncio *io;
	const struct config *cfg;
	struct lending *lent;
	struct synccache_hooks h;
	uv_timer_t timer;
	int64_t last_ms; /* when the last write ended */
	int rc;          /* of the last write, to log changes only */
	bool dirty, inflight, closing;
	int open; /* the timer, and the write in flight */
	struct synccache_stats stats;
};

struct synccache_job {
	uv_work_t work;
	struct synccache *c;
	struct nacos_registry *r; /* its services are lent to the job */
	uint64_t ticket;
	int rc;
	char path[CONFIG_PATH_LEN];
};

static void synccache_write(struct synccache *c);

struct synccache *synccache_new(uv_loop_t *loop, const struct syncio *io, const struct config *cfg,
				struct lending *lent, const struct synccache_hooks *h)
{
	struct synccache *c = calloc(1, sizeof(*c));
	if (c)
		*c = (struct synccache){.loop = loop, .io = io, .cfg = cfg, .lent = lent, .h = *h};
	return c;
}

void synccache_start(struct synccache *c)
{
	uv_timer_init(c->loop, &c->timer);
	c->timer.data = c;
	c->open = 1;
}

/* Logs a write's result when it differs from the last one. */
static void synccache_note(struct synccache *c, const char *path, int rc)
{
	if (rc < 0 && rc != c->rc)
		log_warn("sync", "writing cache file %s failed: %s", path, strerror(-rc));
	else if (rc == 0 && c->rc < 0)
		log_info("sync", "writing cache file %s works again", path);
	c->rc = rc;
	c->stats.writes += rc == 0;
	c->stats.failures += rc < 0;
}

/* At close, the changes not written yet go to the file at once. A write in flight must land
 * first (or it would overwrite this one with older data): its completion calls this again. */
static void synccache_flush(struct synccache *c)
{
	const char *path = c->cfg->cache_file;
	if (!path[0] || !c->dirty || c->inflight)
		return;
	struct nacos_registry *r = c->h.lend(c->h.owner);
	int rc = r ? cachefile_store(path, r) : -ENOMEM;
	nacos_registry_free_lent(r);
	c->dirty = false;
	synccache_note(c, path, rc);
	if (rc == 0)
		log_debug("sync", "wrote cache file %s on close", path);
}

static void synccache_handle_closed(struct synccache *c)
{
	if (--c->open == 0 && c->closing)
		c->h.closed(c->h.owner);
}

static void on_cache_work(uv_work_t *w)
{
	struct synccache_job *j = w->data;
	bgwork_lower_priority();
	j->rc = cachefile_store(j->path, j->r);
}

static void on_cache_done(uv_work_t *w, int status)
{
	struct synccache_job *j = w->data;
	struct synccache *c = j->c;
	synccache_note(c, j->path, j->rc);
	nacos_registry_free_lent(j->r);
	lending_end(c->lent, j->ticket);
	free(j);
	c->inflight = false;
	c->last_ms = c->io->now_ms(c->io->ctx, c->loop);
	if (c->closing)
		synccache_flush(c);
	else if (c->dirty)
		synccache_schedule(c);
	synccache_handle_closed(c);
}

static void synccache_write(struct synccache *c)
{
	struct synccache_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->r = c->h.lend(c->h.owner)) || !(j->ticket = lending_begin(c->lent))) {
		if (j)
			nacos_registry_free_lent(j->r);
		free(j);
		log_warn("sync", "writing cache file %s failed: out of memory", c->cfg->cache_file);
		return;
	}
	j->c = c;
	j->work.data = j;
	snprintf(j->path, sizeof(j->path), "%s", c->cfg->cache_file);
	c->dirty = false;
	if (uv_queue_work(c->loop, &j->work, on_cache_work, on_cache_done) < 0) {
		nacos_registry_free_lent(j->r);
		lending_end(c->lent, j->ticket);
		free(j);
		return;
	}
	c->inflight = true;
	c->open++;
}

static void on_cache_timer(uv_timer_t *t)
{
	struct synccache *c = t->data;
	if (!c->inflight && c->cfg->cache_file[0]) /* a reload may have turned it off */
		synccache_write(c);
}

void synccache_schedule(struct synccache *c)
{
	if (!c->cfg->cache_file[0] || c->closing)
		return;
	c->dirty = true;
	if (c->inflight || uv_is_active((uv_handle_t *)&c->timer))
		return;
	int64_t wait = c->last_ms + SYNCCACHE_PERIOD_MS - c->io->now_ms(c->io->ctx, c->loop);
	uv_timer_start(&c->timer, on_cache_timer, wait > 0 ? (uint64_t)wait : 0, 0);
}

void synccache_dirty(struct synccache *c)
{
	if (c->cfg->cache_file[0])
		c->dirty = true;
}

static void synccache_on_close(uv_handle_t *h)
{
	synccache_handle_closed(h->data);
}

void synccache_close(struct synccache *c)
{
	if (c->closing)
		return;
	c->closing = true;
	synccache_flush(c);
	uv_close((uv_handle_t *)&c->timer, synccache_on_close);
}

void synccache_free(struct synccache *c)
{
	free(c);
}

void synccache_get_stats(const struct synccache *c, struct synccache_stats *out)
{
	*out = c->stats;
}

static void synccache_on_diag(void *arg, const char *msg)
{
	log_debug("snapshot", "%s", msg);
}

int synccache_load(const char *path, struct nacos_registry **out)
{
	size_t len = 0;
	char *text = NULL;
	int rc = readfile(path, READFILE_MAX_SIZE, &text, &len, NULL);
	if (rc < 0) {
		log_info("sync", "no cache file %s: %s", path, readfile_strerror(rc));
		return rc;
	}
	struct nacos_diag d = {.warn = synccache_on_diag, .arg = NULL};
	*out = NULL;
	rc = nacos_registry_parse(text, len, &d, out);
	free(text);
	if (rc < 0)
		log_warn("sync", "ignoring cache file %s: %s", path,
			 rc == -ENOMEM ? "out of memory" : "not a registry file");
	return rc < 0 ? rc : 0;
}

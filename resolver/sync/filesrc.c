#include "resolver/sync/filesrc.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "resolver/bgwork.h"
#include "resolver/config.h"
#include "resolver/log.h"
#include "zones/nacos/nacos.h"
#include "resolver/readfile.h"
#include "resolver/serve/snapstore.h"
#include "zones/data/snapshot.h"

#define FILESRC_MAX_WARNINGS 20

/* One load of the file: everything it needs is copied in, so it can run off the loop while a
 * newer configuration replaces the one it came from. */
struct filesrc_job {
	uv_work_t work;
	struct filesrc *owner;
	struct config cfg;
	uint32_t generation;
	struct snapshot *snap; /* result; NULL on failure */
	int err;
	size_t services, instances, skipped;
};

struct filesrc {
	uv_loop_t *loop;
	struct snapstore *reg;
	const struct config *cfg;
	char path[CONFIG_PATH_LEN];
	struct filesrc_job *job; /* the reload in flight, or NULL */
	bool again;              /* a reload was asked for while one was in flight */
	bool closing;
	struct bgwork_trim *trim; /* the parse tree of a large file is several times the snapshot */
};

/* Logs the first skipped items of one load and counts the rest. */
struct filesrc_diag {
	struct nacos_diag d;
	const char *path;
	unsigned lines;
};

static void on_diag(void *arg, const char *msg)
{
	struct filesrc_diag *fd = arg;
	if (++fd->lines <= FILESRC_MAX_WARNINGS)
		log_warn("filesrc", "%s: %s", fd->path, msg);
}

static void diag_finish(const struct filesrc_diag *fd)
{
	if (fd->lines > FILESRC_MAX_WARNINGS)
		log_warn("filesrc", "%s: %u more problems not shown", fd->path,
			 fd->lines - FILESRC_MAX_WARNINGS);
}

static int origin_fill(struct nacos_service *s, const char *server, int64_t mtime_ms)
{
	if (!s->origin.server && !(s->origin.server = strdup(server)))
		return -ENOMEM;
	if (!s->origin.api && !(s->origin.api = strdup("file")))
		return -ENOMEM;
	if (!s->origin.fetched_ms)
		s->origin.fetched_ms = mtime_ms;
	return 0;
}

/* Marks where each service came from, unless the file says so itself (a cache file does). */
static int registry_prepare(struct nacos_registry *r, const char *path, int64_t mtime_ms,
			    struct filesrc_job *job)
{
	char server[CONFIG_PATH_LEN + 8];
	snprintf(server, sizeof(server), "file:%s", path);
	for (size_t i = 0; i < r->n_namespaces; i++) {
		struct nacos_namespace *ns = &r->namespaces[i];
		job->services += ns->n_services;
		for (size_t j = 0; j < ns->n_services; j++) {
			job->instances += ns->services[j]->n_instances;
			if (origin_fill(ns->services[j], server, mtime_ms) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static int build_snapshot(struct filesrc_job *job, const struct nacos_registry *r,
			  struct filesrc_diag *fd)
{
	struct snapshot_config sc;
	struct snapshot_builder *b;

	config_snapshot(&job->cfg, &sc);
	if (!(b = snapshot_builder_new(&sc, job->generation, &fd->d)))
		return -ENOMEM;
	if (snapshot_builder_add_registry(b, r, &fd->d) < 0) {
		snapshot_builder_free(b);
		return -ENOMEM;
	}
	return (job->snap = snapshot_build(b)) ? 0 : -ENOMEM;
}

/* Reads, parses and builds; may run on a worker thread (touches nothing shared). */
static void filesrc_load(struct filesrc_job *job, const char *path)
{
	struct filesrc_diag fd = {.d = {.warn = on_diag}, .path = path};
	struct nacos_registry *r = NULL;
	char *body = NULL;
	size_t len = 0;
	int64_t mtime_ms = 0;

	fd.d.arg = &fd;
	job->err = readfile(path, READFILE_MAX_SIZE, &body, &len, &mtime_ms);
	if (!job->err)
		job->err = nacos_registry_parse(body, len, &fd.d, &r);
	free(body);
	if (!job->err)
		job->err = registry_prepare(r, path, mtime_ms, job);
	if (!job->err)
		job->err = build_snapshot(job, r, &fd);
	job->skipped = fd.d.skipped;
	nacos_registry_free(r);
	diag_finish(&fd);
}

static void job_log_result(const struct filesrc_job *job, const char *path, bool reload)
{
	if (job->snap)
		log_info("filesrc", "loaded %s: %zu services, %zu instances, %zu skipped", path,
			 job->services, job->instances, job->skipped);
	else if (reload)
		log_err("filesrc", "reload of %s failed: %s; keeping the old data", path,
			job->err == -EBADMSG ? "not a registry file" : readfile_strerror(job->err));
	else
		log_err("filesrc", "cannot load %s: %s", path,
			job->err == -EBADMSG ? "not a registry file" : readfile_strerror(job->err));
}

static struct filesrc_job *job_new(struct filesrc *f)
{
	struct filesrc_job *job = calloc(1, sizeof(*job));
	if (!job)
		return NULL;
	job->owner = f;
	job->work.data = job;
	job->cfg = *f->cfg;
	job->generation = snapstore_next_generation(f->reg);
	return job;
}

struct filesrc *filesrc_new(uv_loop_t *loop, const char *path, const struct config *cfg,
			    struct snapstore *reg)
{
	struct filesrc *f = calloc(1, sizeof(*f));
	struct filesrc_job *job = NULL;

	if (!f || strlen(path) >= sizeof(f->path)) {
		log_err("filesrc", "cannot load %s: %s", path,
			f ? "path too long" : "out of memory");
		goto fail;
	}
	f->loop = loop;
	f->reg = reg;
	f->cfg = cfg;
	memcpy(f->path, path, strlen(path) + 1);
	if (!(job = job_new(f))) {
		log_err("filesrc", "cannot load %s: out of memory", path);
		goto fail;
	}
	filesrc_load(job, f->path);
	job_log_result(job, f->path, false);
	if (!job->snap)
		goto fail;
	snapstore_publish_take(reg, job->snap);
	free(job);
	malloc_trim(0);
	f->trim = bgwork_trim_new(loop); /* NULL: the heap is not trimmed after reloads */
	return f;
fail:
	free(job);
	free(f);
	return NULL;
}

static void on_reload_work(uv_work_t *req)
{
	struct filesrc_job *job = req->data;
	bgwork_lower_priority();
	filesrc_load(job, job->owner->path);
}

static void filesrc_start_reload(struct filesrc *f);

static void on_reload_done(uv_work_t *req, int status)
{
	struct filesrc_job *job = req->data;
	struct filesrc *f = job->owner;

	f->job = NULL;
	if (status == 0 && !f->closing) {
		job_log_result(job, f->path, true);
		if (job->snap)
			snapstore_publish_take(f->reg, job->snap);
	} else {
		snapshot_free(job->snap);
	}
	free(job);
	if (f->closing) {
		free(f);
		return;
	}
	bgwork_trim_poke(f->trim);
	if (f->again) {
		f->again = false;
		filesrc_start_reload(f);
	}
}

static void filesrc_start_reload(struct filesrc *f)
{
	struct filesrc_job *job = job_new(f);
	int rc;

	if (!job) {
		log_err("filesrc", "reload of %s failed: out of memory; keeping the old data",
			f->path);
		return;
	}
	rc = uv_queue_work(f->loop, &job->work, on_reload_work, on_reload_done);
	if (rc < 0) {
		log_err("filesrc", "reload of %s failed: %s; keeping the old data", f->path,
			uv_strerror(rc));
		free(job);
		return;
	}
	f->job = job;
}

void filesrc_reload(struct filesrc *f, const struct config *cfg)
{
	if (f->closing)
		return;
	f->cfg = cfg;
	if (f->job) {
		f->again = true; /* run once more when the one in flight ends */
		return;
	}
	filesrc_start_reload(f);
}

void filesrc_close(struct filesrc *f)
{
	if (!f || f->closing)
		return;
	f->closing = true;
	bgwork_trim_close(f->trim);
	if (!f->job) {
		free(f);
		return;
	}
	uv_cancel((uv_req_t *)&f->job->work); /* on_reload_done frees f either way */
}

#include "resolver/sync/snapjob.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "resolver/bgwork.h"
#include "resolver/clock.h"
#include "resolver/log.h"
#include "zones/base/array.h"
#include "zones/data/snapshot.h"
#include "zones/nacos/nacos.h"

#define SNAPJOB_NS_MEMO 16 /* namespaces remembered, so each is stored once */

struct snapjob_item {
	const struct nacos_service *svc; /* NULL: pending, or a listed group */
	size_t ns, group, name; /* offsets in strs; group: pending and groups only; name: pending
				   only (SIZE_MAX: a listed group) */
};

struct snapjob {
	uv_work_t work;
	struct snapshot_builder *b;
	struct snapjob_item *items;
	size_t n_items, cap_items;
	char *strs;
	size_t n_strs, cap_strs;
	size_t ns_memo[SNAPJOB_NS_MEMO];
	size_t n_ns_memo;
	struct snapjob_result res;
	snapjob_done_cb cb;
	void *arg;
};

static void on_diag(void *arg, const char *msg)
{
	log_debug("snapshot", "%s", msg);
}

struct snapjob *snapjob_new(const struct snapshot_config *c, uint32_t generation)
{
	struct nacos_diag d = {.warn = on_diag};
	struct snapjob *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->work.data = j;
	if (!(j->b = snapshot_builder_new(c, generation, &d))) {
		free(j);
		return NULL;
	}
	return j;
}

void snapjob_free(struct snapjob *j)
{
	if (!j)
		return;
	snapshot_builder_free(j->b);
	snapshot_free(j->res.snap);
	free(j->items);
	free(j->strs);
	free(j);
}

/* Copies str into strs; its offset, or SIZE_MAX on ENOMEM. */
static size_t snapjob_str(struct snapjob *j, const char *str)
{
	size_t n = strlen(str) + 1;
	if (array_grow((void **)&j->strs, &j->cap_strs, j->n_strs, n, 1) < 0)
		return SIZE_MAX;
	memcpy(j->strs + j->n_strs, str, n);
	j->n_strs += n;
	return j->n_strs - n;
}

static size_t snapjob_ns(struct snapjob *j, const char *ns)
{
	for (size_t i = 0; i < j->n_ns_memo; i++)
		if (strcmp(j->strs + j->ns_memo[i], ns) == 0)
			return j->ns_memo[i];
	size_t off = snapjob_str(j, ns);
	if (off != SIZE_MAX && j->n_ns_memo < SNAPJOB_NS_MEMO)
		j->ns_memo[j->n_ns_memo++] = off;
	return off;
}

static struct snapjob_item *snapjob_item(struct snapjob *j)
{
	if (array_grow((void **)&j->items, &j->cap_items, j->n_items, 1, sizeof(*j->items)) < 0)
		return NULL;
	return &j->items[j->n_items];
}

int snapjob_add_service(struct snapjob *j, const char *ns, const struct nacos_service *svc)
{
	struct snapjob_item *it = snapjob_item(j);
	if (!it || (it->ns = snapjob_ns(j, ns)) == SIZE_MAX)
		return -ENOMEM;
	it->svc = svc;
	j->n_items++;
	return 0;
}

int snapjob_add_pending(struct snapjob *j, const char *ns, const char *group, const char *name)
{
	struct snapjob_item *it = snapjob_item(j);
	if (!it || (it->ns = snapjob_ns(j, ns)) == SIZE_MAX ||
	    (it->group = snapjob_str(j, group)) == SIZE_MAX ||
	    (it->name = snapjob_str(j, name)) == SIZE_MAX)
		return -ENOMEM;
	it->svc = NULL;
	j->n_items++;
	return 0;
}

int snapjob_add_group(struct snapjob *j, const char *ns, const char *group)
{
	struct snapjob_item *it = snapjob_item(j);
	if (!it || (it->ns = snapjob_ns(j, ns)) == SIZE_MAX ||
	    (it->group = snapjob_str(j, group)) == SIZE_MAX)
		return -ENOMEM;
	it->svc = NULL;
	it->name = SIZE_MAX;
	j->n_items++;
	return 0;
}

static double snapjob_ms(uint64_t a_ns, uint64_t b_ns)
{
	return (double)(b_ns - a_ns) / 1e6;
}

/* Touches nothing but the job and the lent services, which nobody changes meanwhile. */
static void snapjob_build(struct snapjob *j)
{
	struct nacos_diag d = {.warn = on_diag};
	uint64_t t0, t1, c0, c1;
	int rc = 0;

	t0 = clock_mono_ns();
	c0 = clock_thread_cpu_ns();
	for (size_t i = 0; i < j->n_items && rc != -ENOMEM; i++) {
		const struct snapjob_item *it = &j->items[i];
		const char *ns = j->strs + it->ns;
		if (it->svc)
			rc = snapshot_builder_add_service(j->b, ns, it->svc, &d);
		else if (it->name == SIZE_MAX)
			rc = snapshot_builder_add_group(j->b, ns, j->strs + it->group, &d);
		else
			rc = snapshot_builder_add_pending(j->b, ns, j->strs + it->group,
							  j->strs + it->name, &d);
	}
	struct snapshot_builder *b = j->b;
	j->b = NULL;
	if (rc == -ENOMEM)
		snapshot_builder_free(b);
	else
		j->res.snap = snapshot_build(b);
	t1 = clock_mono_ns();
	c1 = clock_thread_cpu_ns();
	j->res.skipped = d.skipped;
	j->res.build_ms = snapjob_ms(t0, t1);
	j->res.cpu_ms = snapjob_ms(c0, c1);
}

void snapjob_run(struct snapjob *j, struct snapjob_result *out)
{
	snapjob_build(j);
	*out = j->res;
	j->res.snap = NULL;
	snapjob_free(j);
}

static void on_work(uv_work_t *w)
{
	bgwork_lower_priority();
	snapjob_build(w->data);
}

static void on_work_done(uv_work_t *w, int status)
{
	struct snapjob *j = w->data;
	if (status == UV_ECANCELED)
		j->res.cancelled = true;
	j->cb(j->arg, &j->res);
	snapjob_free(j);
}

int snapjob_start(struct snapjob *j, uv_loop_t *loop, snapjob_done_cb cb, void *arg)
{
	j->cb = cb;
	j->arg = arg;
	int rc = uv_queue_work(loop, &j->work, on_work, on_work_done);
	if (rc < 0)
		snapjob_free(j);
	return rc;
}

void snapjob_cancel(struct snapjob *j)
{
	uv_cancel((uv_req_t *)&j->work);
}

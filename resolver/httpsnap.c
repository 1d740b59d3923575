#include "resolver/httpsnap.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "resolver/clock.h"

#include "resolver/bgwork.h"
#include "resolver/serve/snapstore.h"
#include "zones/data/inspect.h"
#include "zones/data/snapshot.h"
#include "zones/dns/axfr.h"

struct httpsnap {
	uv_work_t work;
	atomic_bool cancelled; /* set on the loop, read by the pool thread */
	struct snapstore_reader *reader;
	bool ready;
	httpsnap_done_cb cb;
	void *arg;
	char *body;
	size_t len;
};

static void httpsnap_on_service(void *arg, const struct inspect_service *svc)
{
	json_t *o = json_pack(
		"{s:s, s:s, s:s, s:s?, s:s?, s:I, s:b, s:b, s:b, s:b, s:{s:i, s:i, s:i, s:i}}",
		"namespace", svc->namespace_id, "group", svc->group, "name", svc->name, "server",
		svc->server, "api", svc->api, "fetched_ms", (json_int_t)svc->fetched_ms, "stale",
		svc->stale, "pending", svc->pending, "catalog", !svc->uncatalogued,
		"protect_threshold", svc->protect, "instances", "total", (int)svc->total, "healthy",
		(int)svc->healthy, "enabled", (int)svc->enabled, "usable", (int)svc->usable);
	if (o)
		json_array_append_new(arg, o);
}

struct httpsnap_zone {
	struct httpsnap *job;
	json_t *records;
	size_t *budget;
	bool cut;
};

static int httpsnap_on_line(void *arg, const char *line, size_t len)
{
	struct httpsnap_zone *z = arg;
	if (atomic_load_explicit(&z->job->cancelled, memory_order_relaxed))
		return -ECANCELED;
	if (len + 1 > *z->budget) {
		z->cut = true;
		return -ENOSPC;
	}
	*z->budget -= len + 1;
	return json_array_append_new(z->records, json_stringn(line, len)) == 0 ? 0 : -ENOMEM;
}

/* Zone i as {"name", "namespace", "records": [...]} with at most *budget octets of record
 * text (a newline counted after each), taken from *budget. */
static json_t *httpsnap_zone(struct httpsnap *j, const struct snapshot *snap, size_t i,
			     size_t *budget)
{
	char buf[1100];
	const char *ns = NULL, *name = inspect_zone(snap, i, &ns, buf, sizeof(buf));
	struct httpsnap_zone z = {.job = j, .records = json_array(), .budget = budget};

	if (!name || !z.records) {
		json_decref(z.records);
		return NULL;
	}
	axfr_zone_lines(snap, i, clock_wall_ms(), httpsnap_on_line, &z);
	json_t *o =
		json_pack("{s:s, s:s, s:o}", "name", name, "namespace", ns, "records", z.records);
	if (o && z.cut)
		json_object_set_new(o, "truncated", json_true());
	return o;
}

static bool httpsnap_cancelled(struct httpsnap *j)
{
	return atomic_load_explicit(&j->cancelled, memory_order_relaxed);
}

/* NULL when cancelled or out of memory. */
static char *httpsnap_body(struct httpsnap *j, const struct snapshot *snap, size_t *len)
{
	struct snapshot_stats st;
	json_t *zones = json_array(), *services = json_array(), *root;
	size_t budget = HTTPSNAP_MAX_TEXT;
	char *body;

	snapshot_get_stats(snap, &st);
	for (size_t i = 0; zones && i < st.zones && !httpsnap_cancelled(j); i++) {
		json_t *z = httpsnap_zone(j, snap, i, &budget);
		if (z)
			json_array_append_new(zones, z);
	}
	if (services)
		inspect_services(snap, httpsnap_on_service, services);
	root = json_pack("{s:I, s:b, s:o, s:o}", "generation",
			 (json_int_t)snapshot_generation(snap), "ready", j->ready, "zones", zones,
			 "services", services);
	body = root && !httpsnap_cancelled(j) ? json_dumps(root, JSON_INDENT(1)) : NULL;
	json_decref(root);
	*len = body ? strlen(body) : 0;
	return body;
}

static void httpsnap_on_work(uv_work_t *w)
{
	struct httpsnap *j = w->data;
	bgwork_lower_priority();
	j->body = httpsnap_body(j, snapstore_reader_enter(j->reader), &j->len);
	snapstore_reader_leave(j->reader);
}

static void httpsnap_on_done(uv_work_t *w, int status)
{
	struct httpsnap *j = w->data;
	snapstore_reader_free(j->reader);
	j->cb(j->arg, j->body, j->len);
	free(j);
}

int httpsnap_start(uv_loop_t *loop, struct snapstore *reg, bool ready, httpsnap_done_cb cb,
		   void *arg, struct httpsnap **out)
{
	struct httpsnap *j = calloc(1, sizeof(*j));
	int rc;

	if (!j || !(j->reader = snapstore_reader_new(reg))) {
		free(j);
		return -ENOMEM;
	}
	j->work.data = j;
	j->ready = ready;
	j->cb = cb;
	j->arg = arg;
	if ((rc = uv_queue_work(loop, &j->work, httpsnap_on_work, httpsnap_on_done)) < 0) {
		snapstore_reader_free(j->reader);
		free(j);
		return rc;
	}
	*out = j;
	return 0;
}

void httpsnap_cancel(struct httpsnap *j)
{
	atomic_store_explicit(&j->cancelled, true, memory_order_relaxed);
	uv_cancel((uv_req_t *)&j->work); /* fails once the pool thread has it: the flag stops it */
}

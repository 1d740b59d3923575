#include "resolver/httpsnap.h"

#include <errno.h>
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

/* Zone i as {"name", "namespace", "records": [...]} with at most *budget octets of record
 * text, taken from *budget. */
static json_t *httpsnap_zone(const struct snapshot *snap, size_t i, size_t *budget)
{
	char buf[1100], *text;
	const char *ns = NULL, *name = inspect_zone(snap, i, &ns, buf, sizeof(buf));
	json_t *records = json_array();
	bool cut = false;

	if (!name || !records) {
		json_decref(records);
		return NULL;
	}
	if ((text = axfr_zone_text(snap, i, clock_wall_ms(), *budget, &cut))) {
		*budget -= strlen(text);
		for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save))
			json_array_append_new(records, json_string(l));
		free(text);
	}
	json_t *z = json_pack("{s:s, s:s, s:o}", "name", name, "namespace", ns, "records", records);
	if (z && cut)
		json_object_set_new(z, "truncated", json_true());
	return z;
}

static char *httpsnap_body(const struct snapshot *snap, bool ready, size_t *len)
{
	struct snapshot_stats st;
	json_t *zones = json_array(), *services = json_array(), *root;
	size_t budget = HTTPSNAP_MAX_TEXT;
	char *body;

	snapshot_get_stats(snap, &st);
	for (size_t i = 0; zones && i < st.zones; i++) {
		json_t *z = httpsnap_zone(snap, i, &budget);
		if (z)
			json_array_append_new(zones, z);
	}
	if (services)
		inspect_services(snap, httpsnap_on_service, services);
	root = json_pack("{s:I, s:b, s:o, s:o}", "generation",
			 (json_int_t)snapshot_generation(snap), "ready", ready, "zones", zones,
			 "services", services);
	body = root ? json_dumps(root, JSON_INDENT(1)) : NULL;
	json_decref(root);
	*len = body ? strlen(body) : 0;
	return body;
}

static void httpsnap_on_work(uv_work_t *w)
{
	struct httpsnap *j = w->data;
	bgwork_lower_priority();
	j->body = httpsnap_body(snapstore_reader_enter(j->reader), j->ready, &j->len);
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
		   void *arg)
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
	}
	return rc;
}

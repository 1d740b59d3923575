/* Parsing instance lists (see syncparse.h). syncparse_start and the callbacks run on the
 * sync's loop thread; on_parse_work on a pool thread, on its own copy of the answer. */
#include "resolver/sync/syncparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/bgwork.h"
#include "zones/nacos/nacos.h"
#include "zones/nacos/push.h"

struct syncparse_job {
	uv_work_t work;
	syncparse_cb cb;
	void *owner;
	char *body; /* owned when on the pool */
	size_t len;
	struct syncparse_result res;
};

static void syncparse_on_reason(void *arg, const char *msg)
{
	struct syncparse_result *r = arg;
	if (!r->why[0])
		snprintf(r->why, sizeof(r->why), "%s", msg);
}

/* Touches nothing shared: the body, the entry's immutable names, and its own results. */
static void syncparse_run(struct syncparse_job *j)
{
	struct syncparse_result *r = &j->res;
	struct nacos_diag d = {.warn = syncparse_on_reason, .arg = r};
	r->rc = r->req.v3 ? nacos_parse_v3_instances(j->body, j->len, r->req.group, r->req.name, &d,
						     &r->svc)
			  : nacos_parse_instance_list(j->body, j->len, r->req.group, &d, &r->svc);
	r->skipped = d.skipped;
	if (r->req.v3 || push_ref_time(j->body, j->len, &r->ref) < 0)
		r->ref = 0;
}

static void on_parse_work(uv_work_t *w)
{
	bgwork_lower_priority();
	syncparse_run(w->data);
}

static void on_parse_done(uv_work_t *w, int status)
{
	struct syncparse_job *j = w->data;
	j->cb(j->owner, &j->res);
	free(j->body);
	free(j);
}

bool syncparse_start(uv_loop_t *loop, const struct syncparse_request *req, const char *body,
		     size_t len, syncparse_cb cb, void *owner)
{
	struct syncparse_job local = {
		.cb = cb, .owner = owner, .body = (char *)body, .len = len, .res = {.req = *req}};
	struct syncparse_job *j = len > SYNCPARSE_INLINE ? malloc(sizeof(*j)) : NULL;
	char *copy = j ? malloc(len + 1) : NULL;
	if (copy) {
		memcpy(copy, body, len + 1); /* NUL-terminated, as the parsers take it */
		*j = local;
		j->body = copy;
		j->res.pooled = true;
		j->work.data = j;
		if (uv_queue_work(loop, &j->work, on_parse_work, on_parse_done) == 0)
			return true;
	}
	free(copy);
	free(j);
	syncparse_run(&local);
	cb(owner, &local.res);
	return false;
}

/* The HTTP transport (see synchttp.h). Runs on the sync's loop thread. */
#include "resolver/sync/synchttp.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "resolver/sync/synccall.h"
#include "resolver/sync/synccat.h"
#include "resolver/sync/syncparse.h"
#include "resolver/sync/syncsink.h"
#include "resolver/sync/synctrack.h"
#include "zones/nacos/nacos.h"
#include "zones/nacos/nacosapi.h"

struct synchttp {
	uv_loop_t *loop;
	struct synccall *net;
	struct syncsink sink;
	struct synchttp_hooks h;
	unsigned parsing; /* parses on the pool */
	bool closing;
};

/* The first reason a parser gave: what a log line about its answer says. */
struct synchttp_reason {
	char text[240];
};

static void synchttp_on_reason(void *arg, const char *msg)
{
	struct synchttp_reason *r = arg;
	if (!r->text[0])
		snprintf(r->text, sizeof(r->text), "%s", msg);
}

/* ---- instance lists ---------------------------------------------------------------------- */

/* An instance list's URL; a v1 poll asks for pushes where they can reach us. */
static char *synchttp_fetch_url(void *owner, void *arg, const struct synccall_server *srv,
				const char *tok)
{
	struct synchttp *t = owner;
	struct synctrack_entry *e = arg;
	unsigned port = 0;
	const char *ip = t->h.polling(t->h.owner, e, srv, &port);
	if (srv->api == NACOSAPI_V3)
		return nacosapi_instance_list_url(srv->url, NACOSAPI_V3, e->ns, e->group, e->name,
						  NULL);
	char *url =
		nacosapi_instance_list_url(srv->url, NACOSAPI_V1, e->ns, e->group, e->name, tok);
	return ip ? nacosapi_subscribe_take(url, ip, port) : url;
}

/* A parsed answer: the list, or why there is none. */
static void synchttp_fetch_answer(struct synchttp *t, struct synctrack_entry *e,
				  struct syncparse_result *r)
{
	if (r->rc == -EFBIG) { /* more hosts than any service may have: refused whole */
		t->sink.instances_failed(t->sink.owner, e, "more instances than max-instances",
					 true);
		return;
	}
	if (r->rc < 0) {
		char text[300];
		snprintf(text, sizeof(text), "malformed answer (%s)", r->why[0] ? r->why : "?");
		t->sink.instances_failed(t->sink.owner, e,
					 r->rc == -ENOMEM ? "out of memory" : text, false);
		return;
	}
	struct syncsink_source from = {
		.server = r->req.server,
		.api = nacosapi_version_name(r->req.v3 ? NACOSAPI_V3 : NACOSAPI_V1),
		.ref_ms = r->ref,
		.skipped = r->skipped,
		.why = r->why};
	t->sink.instances(t->sink.owner, e, r->svc, &from);
}

static void synchttp_fetch_parsed(void *owner, struct syncparse_result *r)
{
	struct synchttp *t = owner;
	struct synctrack_entry *e = r->req.arg;
	if (r->pooled && (t->closing || r->req.epoch != synccall_generation(t->net))) {
		nacos_service_free(r->svc); /* the servers it names are gone */
		synctrack_settle(e);        /* frees it when it was untracked meanwhile */
	} else {
		synchttp_fetch_answer(t, e, r);
	}
	if (r->pooled && --t->parsing == 0 && t->closing)
		t->h.closed(t->h.owner);
}

static bool synchttp_fetch_answered(void *owner, void *arg, size_t server, const char *body,
				    size_t len)
{
	struct synchttp *t = owner;
	struct synctrack_entry *e = arg;
	struct syncparse_request req = {.group = e->group,
					.name = e->name,
					.v3 = synccall_server(t->net, server)->api == NACOSAPI_V3,
					.arg = e,
					.server = server,
					.epoch = synccall_generation(t->net)};
	t->parsing++; /* before: a parse on this thread ends inside */
	if (!syncparse_start(t->loop, &req, body, len, synchttp_fetch_parsed, t))
		t->parsing--;
	return false;
}

static void synchttp_fetch_failed(void *owner, void *arg, const char *why, bool refused)
{
	struct synchttp *t = owner;
	t->sink.instances_failed(t->sink.owner, arg, why, false);
}

static void synchttp_fetch_cancelled(void *owner, void *arg)
{
	synctrack_settle(arg); /* frees it when it was untracked meanwhile */
}

static const struct synccall_ops synchttp_fetch_ops = {
	.url = synchttp_fetch_url,
	.answered = synchttp_fetch_answered,
	.failed = synchttp_fetch_failed,
	.moved = NULL,
	.cancelled = synchttp_fetch_cancelled,
};

void synchttp_fetch(struct synchttp *t, struct synctrack_entry *e, bool urgent)
{
	e->inflight = true; /* before the start: a call may fail inside it */
	if (synccall_start(t->net, &synchttp_fetch_ops, t, e, false, e->server, urgent) < 0)
		e->inflight = false;
}

/* ---- catalog pages ----------------------------------------------------------------------- */

static char *synchttp_list_url(void *owner, void *arg, const struct synccall_server *srv,
			       const char *tok)
{
	struct synccat_catalog *cat = arg;
	return nacosapi_service_list_url(srv->url, srv->list_api, cat->ns, cat->group, cat->page,
					 NACOSAPI_PAGE_SIZE, tok);
}

/* A page of cat's names, in the server's list API. true: ask for the next. */
static bool synchttp_list_answered(void *owner, void *arg, size_t server, const char *body,
				   size_t len)
{
	struct synchttp *t = owner;
	struct synccat_catalog *cat = arg;
	const struct synccall_server *srv = synccall_server(t->net, server);
	struct synchttp_reason why = {""};
	struct nacos_diag d = {.warn = synchttp_on_reason, .arg = &why};
	char **names = NULL;
	size_t n = 0, total = 0, items = 0;
	bool v3 = srv->list_api == NACOSAPI_V3;
	int rc = v3 ? nacosapi_parse_v3_service_list(body, len, cat->group, &names, &n, &items,
						     &total)
		    : nacos_parse_service_list(body, len, &d, &names, &n, &total);
	if (rc < 0) {
		char text[300];
		snprintf(text, sizeof(text), "malformed answer (%s)", why.text[0] ? why.text : "?");
		t->sink.catalog_failed(t->sink.owner, cat, rc == -ENOMEM ? "out of memory" : text,
				       false);
		return false;
	}
	return t->sink.catalog_page(t->sink.owner, cat, names, n, v3 ? items : n, total,
				    NACOSAPI_PAGE_SIZE);
}

static void synchttp_list_failed(void *owner, void *arg, const char *why, bool refused)
{
	struct synchttp *t = owner;
	t->sink.catalog_failed(t->sink.owner, arg, why, refused);
}

/* The pages of one listing come from one server: another starts over. */
static void synchttp_list_moved(void *owner, void *arg)
{
	synccat_restart(arg);
}

static void synchttp_list_cancelled(void *owner, void *arg)
{
	synccat_abort(arg);
}

static const struct synccall_ops synchttp_list_ops = {
	.url = synchttp_list_url,
	.answered = synchttp_list_answered,
	.failed = synchttp_list_failed,
	.moved = synchttp_list_moved,
	.cancelled = synchttp_list_cancelled,
};

void synchttp_list(struct synchttp *t, struct synccat_catalog *cat)
{
	synccat_begin(cat); /* before the start: a call may fail inside it */
	if (synccall_start(t->net, &synchttp_list_ops, t, cat, true, SIZE_MAX, false) < 0)
		cat->inflight = false;
}

/* ---- life cycle -------------------------------------------------------------------------- */

struct synchttp *synchttp_new(uv_loop_t *loop, struct synccall *net, const struct syncsink *sink,
			      const struct synchttp_hooks *h)
{
	struct synchttp *t = calloc(1, sizeof(*t));
	if (t)
		*t = (struct synchttp){.loop = loop, .net = net, .sink = *sink, .h = *h};
	return t;
}

void synchttp_close(struct synchttp *t)
{
	if (t->closing)
		return;
	t->closing = true;
	if (t->parsing == 0)
		t->h.closed(t->h.owner);
}

void synchttp_free(struct synchttp *t)
{
	free(t);
}

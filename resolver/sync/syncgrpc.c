/* The gRPC transport (see syncgrpc.h). Runs on the sync's loop thread. */
#include "resolver/sync/syncgrpc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/clock.h"
#include "resolver/config.h"
#include "resolver/log.h"
#include "resolver/random.h"
#include "resolver/sync/synccall.h"
#include "resolver/sync/synccat.h"
#include "resolver/sync/syncio.h"
#include "resolver/sync/syncsink.h"
#include "resolver/sync/synctrack.h"
#include "zones/nacos/nacos.h"
#include "zones/nacos/nacosapi.h"
#include "zones/nacos/syncpolicy.h"

/* A lastRefTime is the pushing node's wall clock (ms): one far ahead of ours is a clock gone
 * wrong, and would outrank every answer until the next poll. */
#define SYNCGRPC_MAX_AHEAD_MS 60000
#define SYNCGRPC_PAGE_SIZE    1000 /* names per ServiceListRequest page */

struct syncgrpc {
	uv_loop_t *loop;
	const struct config *cfg;
	const struct syncio *io;
	struct synccall *net;
	struct synctrack *track;
	struct syncsink sink;
	struct syncgrpc_hooks h;
	struct grpcsub *sub;        /* the connection; NULL: HTTP only */
	struct grpcsub_stats ended; /* the counters of connections closed */
	uint64_t rnd[2];
};

/* ---- what the connection tells ----------------------------------------------------------- */

static void syncgrpc_token(void *arg, size_t server)
{
	struct syncgrpc *g = arg;
	if (g->sub)
		grpcsub_set_token(g->sub, server, synccall_server(g->net, server)->token);
}

static void syncgrpc_on_state(void *owner, size_t server, bool up)
{
	struct syncgrpc *g = owner;
	if (!up) { /* nothing is pushed any more: polls stretched for pushes come back in */
		int64_t now = g->io->now_ms(g->io->ctx, g->loop);
		for (struct synctrack_entry *e = synctrack_first(g->track); e;
		     e = synctrack_next(g->track, e)) {
			int64_t next =
				now + syncpolicy_jitter_ms(g->cfg->poll_interval_ms,
							   (uint32_t)(random_next(g->rnd) >> 32));
			if (e->next_poll_ms > next)
				e->next_poll_ms = next;
		}
		return;
	}
	const struct synccall_server *srv = synccall_server(g->net, server);
	if (g->cfg->username[0] && !srv->token && !srv->login_inflight)
		synccall_login(g->net, server, false); /* its end hands the token over */
	else
		syncgrpc_token(g, server);
	g->h.up(g->h.owner); /* the catalogs over gRPC, for any reader */
}

static void syncgrpc_on_denied(void *owner, size_t server)
{
	struct syncgrpc *g = owner;
	const struct synccall_server *srv = synccall_server(g->net, server);
	if (!g->cfg->username[0] || srv->login_inflight)
		return;
	log_info("nacos", "%s denies a gRPC request: logging in again", srv->url);
	synccall_login(g->net, server, true);
}

/* Data of a subscription (svc taken), the first answer or a push: handed to the sink unless it
 * is for no tracked service or older than the data held. Whether it was applied. */
static bool syncgrpc_on_service(void *owner, size_t server, const char *ns,
				struct nacos_service *svc, int64_t ref, bool pushed)
{
	struct syncgrpc *g = owner;
	struct synctrack_entry *e = synctrack_find(g->track, ns, svc->group, svc->name);
	bool over = svc->n_instances > g->cfg->max_instances; /* counted by the sink */
	const char *why = !e ? "not tracked here"
			  : e->svc && e->server == server && ref && ref < e->ref_ms
				  ? "older than the data held"
				  : NULL;
	if (why || over) {
		log_debug("grpc", "%s/%s@@%s: %s", ns, svc->group, svc->name,
			  why ? why : "over max-instances");
	} else {
		log_debug("grpc", "%s/%s/%s: %zu instances %s", ns, e->group, e->name,
			  svc->n_instances, pushed ? "pushed" : "in the subscription's answer");
	}
	if (why) {
		nacos_service_free(svc);
		return false;
	}
	struct syncsink_source from = {
		.server = server,
		.api = "grpc",
		.ref_ms = ref > clock_wall_ms() + SYNCGRPC_MAX_AHEAD_MS ? 0 : ref,
		.why = "",
		.unasked = true,
		.pushed = pushed};
	g->sink.instances(g->sink.owner, e, svc, &from);
	return !over;
}

/* ---- catalogs ---------------------------------------------------------------------------- */

/* One listing over gRPC: its pages come from the connection's server. */
struct syncgrpc_listing {
	struct syncgrpc *g;
	struct synccat_catalog *cat;
};

static void syncgrpc_on_page(void *arg, int error, char **names, size_t n, size_t total);

static int syncgrpc_page(struct syncgrpc_listing *l)
{
	return grpcsub_list(l->g->sub, l->cat->ns, l->cat->group, l->cat->page, SYNCGRPC_PAGE_SIZE,
			    syncgrpc_on_page, l);
}

static void syncgrpc_on_page(void *arg, int error, char **names, size_t n, size_t total)
{
	struct syncgrpc_listing *l = arg;
	struct syncgrpc *g = l->g;
	struct synccat_catalog *cat = l->cat;
	if (error == -ECANCELED) { /* closing, or the servers change */
		synccat_abort(cat);
		free(l);
		return;
	}
	if (!error) {
		if (!g->sink.catalog_page(g->sink.owner, cat, names, n, n, total,
					  SYNCGRPC_PAGE_SIZE)) {
			free(l);
			return;
		}
		if (syncgrpc_page(l) == 0) /* the next page */
			return;
	}
	free(l);
	g->sink.catalog_failed(g->sink.owner, cat,
			       error == -EACCES ? "gRPC: denied" : "gRPC: no answer",
			       error == -EACCES);
}

bool syncgrpc_list(struct syncgrpc *g, struct synccat_catalog *cat)
{
	size_t server;
	struct syncgrpc_listing *l;
	if (!g->sub || !grpcsub_up(g->sub, &server) || !(l = malloc(sizeof(*l))))
		return false;
	*l = (struct syncgrpc_listing){.g = g, .cat = cat};
	synccat_begin(cat);
	if (syncgrpc_page(l) < 0) {
		free(l);
		cat->inflight = false;
		return false;
	}
	return true;
}

/* ---- subscriptions ----------------------------------------------------------------------- */

void syncgrpc_track(struct syncgrpc *g, const struct synctrack_entry *e, bool on)
{
	if (!g->sub)
		return;
	if (!on)
		grpcsub_unsubscribe(g->sub, e->ns, e->group, e->name);
	else if (grpcsub_subscribe(g->sub, e->ns, e->group, e->name) < 0)
		log_warn("grpc", "%s/%s/%s: not subscribed: out of memory", e->ns, e->group,
			 e->name);
}

bool syncgrpc_covers(const struct syncgrpc *g, const struct synctrack_entry *e)
{
	return g->sub && grpcsub_covers(g->sub, e->ns, e->group, e->name);
}

/* ---- life cycle -------------------------------------------------------------------------- */

struct syncgrpc *syncgrpc_new(uv_loop_t *loop, const struct config *cfg, const struct syncio *io,
			      struct synccall *net, struct synctrack *track,
			      const struct syncsink *sink, const struct syncgrpc_hooks *h)
{
	struct syncgrpc *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	*g = (struct syncgrpc){.loop = loop,
			       .cfg = cfg,
			       .io = io,
			       .net = net,
			       .track = track,
			       .sink = *sink,
			       .h = *h};
	random_seed(g->rnd);
	synccall_watch_tokens(net, syncgrpc_token, g); /* the token in metadata.headers */
	return g;
}

void syncgrpc_start(struct syncgrpc *g)
{
	struct grpcsub_options o = {.n_servers = synccall_count(g->net),
				    .tenant = g->cfg->n_zones ? g->cfg->zones[0].namespace_id : "",
				    .ca_file = g->cfg->nacos_ca,
				    .required = strcmp(g->cfg->nacos_transport, "grpc") == 0};
	struct grpcsub_handlers hh = {.owner = g,
				      .on_state = syncgrpc_on_state,
				      .on_service = syncgrpc_on_service,
				      .on_denied = syncgrpc_on_denied};
	char urls[NACOSAPI_MAX_SERVERS][256];
	if (g->sub || strcmp(g->cfg->nacos_transport, "http") == 0 || !g->io->grpc)
		return;
	for (size_t i = 0; i < o.n_servers; i++)
		memcpy(urls[i], synccall_server(g->net, i)->url, sizeof(urls[i]));
	o.urls = (const char(*)[256])urls;
	int rc = grpcsub_new(g->loop, &o, &hh, &g->sub);
	if (rc < 0) {
		g->sub = NULL;
		log_msg(o.required ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, "grpc",
			"no gRPC transport (%s): HTTP only",
			rc == -EINVAL ? "no server URL with a port + 1000" : strerror(-rc));
	}
}

static void syncgrpc_add(struct grpcsub_stats *to, const struct grpcsub_stats *from)
{
	to->notifies += from->notifies;
	to->notify_applied += from->notify_applied;
	to->notify_stale += from->notify_stale;
	to->notify_rejected += from->notify_rejected;
	to->reconnects += from->reconnects;
	to->resubscriptions += from->resubscriptions;
}

void syncgrpc_stop(struct syncgrpc *g)
{
	struct grpcsub_stats now;
	if (!g->sub)
		return;
	grpcsub_get_stats(g->sub, &now);
	syncgrpc_add(&g->ended, &now);
	grpcsub_close(g->sub); /* its listings end inside */
	g->sub = NULL;
}

void syncgrpc_free(struct syncgrpc *g)
{
	if (!g)
		return;
	syncgrpc_stop(g);
	free(g);
}

void syncgrpc_get_stats(const struct syncgrpc *g, struct syncgrpc_stats *out)
{
	struct grpcsub_stats now;
	*out = (struct syncgrpc_stats){.sub = g->ended};
	if (!g->sub)
		return;
	grpcsub_get_stats(g->sub, &now);
	syncgrpc_add(&out->sub, &now);
	out->sub.subscribed = now.subscribed;
	out->sub.server = now.server;
	out->sub.up = now.up;
	out->on = true;
}

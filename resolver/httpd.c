#include "resolver/httpd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>
#include <uv.h>

#include "resolver/clock.h"
#include "resolver/httpsnap.h"
#include "resolver/log.h"
#include "resolver/metrics.h"
#include "resolver/serve/forward.h"
#include "resolver/serve/fwdcache.h"
#include "resolver/serve/server.h"
#include "resolver/serve/servestats.h"
#include "resolver/serve/snapstore.h"
#include "resolver/sync/sync.h"
#include "zones/data/inspect.h"
#include "zones/data/snapshot.h"

#define HTTPD_MAX_CONNS   64
#define HTTPD_TIMEOUT_S   10
#define HTTPD_MAX_ORIGINS 64
#define HTTPD_MAX_SNAPS   2 /* /snapshot bodies built at once; more get 503 */

struct httpd_snapreq;

struct httpd {
	const struct httpd_env *env;
	uv_loop_t *loop;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	int open_handles; /* and /snapshot builds in flight: each holds h */
	bool polling;     /* poll is initialised */
	struct httpd_snapreq *snaps[HTTPD_MAX_SNAPS];
	bool closing;
};

/* A GET /snapshot whose connection waits, suspended, for its body from the thread pool. */
struct httpd_snapreq {
	struct httpd *h;
	struct MHD_Connection *conn; /* NULL once the server stopped */
	struct httpsnap *job;        /* while it is in h->snaps */
	char *body;
	size_t len;
	bool done;
};

static void httpd_unref(struct httpd *h)
{
	if (--h->open_handles == 0)
		free(h);
}

bool httpd_ready(const struct httpd_env *env)
{
	return env->sync ? sync_ready(env->sync) : env->loaded;
}

/* ---- /metrics ---- */

struct httpd_scan {
	int64_t newest_ms, oldest_ms; /* oldest_ms 0: none seen */
	size_t stale;
	struct metrics_origin origins[HTTPD_MAX_ORIGINS];
	size_t n_origins;
};

static bool httpd_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void httpd_on_service(void *arg, const struct inspect_service *svc)
{
	struct httpd_scan *sc = arg;
	size_t i;

	if (svc->pending)
		return;
	if (svc->fetched_ms > sc->newest_ms)
		sc->newest_ms = svc->fetched_ms;
	if (svc->fetched_ms > 0 && (sc->oldest_ms == 0 || svc->fetched_ms < sc->oldest_ms))
		sc->oldest_ms = svc->fetched_ms;
	sc->stale += svc->stale;
	for (i = 0; i < sc->n_origins; i++)
		if (httpd_same(sc->origins[i].server, svc->server) &&
		    httpd_same(sc->origins[i].api, svc->api))
			break;
	if (i == sc->n_origins) {
		if (i == HTTPD_MAX_ORIGINS)
			return;
		sc->origins[sc->n_origins++] =
			(struct metrics_origin){.server = svc->server, .api = svc->api};
	}
	sc->origins[i].services++;
}

static char *httpd_metrics(const struct httpd_env *env, size_t *len)
{
	const struct snapshot *snap = snapstore_get(env->registry);
	struct servestats ss;
	struct forward_stats fs;
	struct fwdcache_stats cs;
	struct sync_stats ys;
	struct dnstap_stats ds;
	struct httpd_scan sc = {0};
	struct metrics_input in = {.ready = httpd_ready(env), .data_age_s = -1, .oldest_age_s = -1};

	if (env->server) {
		server_get_stats(env->server, &ss);
		in.server = &ss;
	}
	if (env->forward) {
		forward_stats_get(env->forward, &fs);
		in.forward = &fs;
	}
	if (env->cache) {
		fwdcache_stats_get(env->cache, &cs);
		in.cache = &cs;
	}
	if (env->sync) {
		sync_get_stats(env->sync, &ys);
		in.sync = &ys;
	}
	if (env->dnstap) {
		dnstap_stats_get(env->dnstap, &ds);
		in.dnstap = &ds;
	}
	snapshot_get_stats(snap, &in.snap);
	in.generation = snapshot_generation(snap);
	inspect_services(snap, httpd_on_service, &sc);
	if (sc.newest_ms > 0)
		in.data_age_s = (double)(clock_wall_ms() - sc.newest_ms) / 1000.0;
	if (sc.oldest_ms > 0)
		in.oldest_age_s = (double)(clock_wall_ms() - sc.oldest_ms) / 1000.0;
	in.stale_services = sc.stale;
	in.origins = sc.origins;
	in.n_origins = sc.n_origins;
	return metrics_render(env->metrics, &in, len);
}

/* ---- requests ---- */

static enum MHD_Result httpd_reply(struct MHD_Connection *conn, unsigned status, char *body,
				   size_t len, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result httpd_text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	char *body = strdup(msg);
	return body ? httpd_reply(conn, status, body, strlen(body), "text/plain; charset=utf-8")
		    : MHD_NO;
}

/* ---- /snapshot, built off the loop ---- */

static void httpd_run(struct httpd *h);

static void httpd_on_snapshot(void *arg, char *body, size_t len)
{
	struct httpd_snapreq *req = arg;
	struct httpd *h = req->h;
	for (size_t i = 0; i < HTTPD_MAX_SNAPS; i++)
		if (h->snaps[i] == req)
			h->snaps[i] = NULL;
	req->body = body;
	req->len = len;
	req->done = true;
	if (req->conn) {
		MHD_resume_connection(req->conn); /* on_request runs again and sends the body */
		httpd_run(h);
	} else {
		free(req->body);
		free(req);
	}
	httpd_unref(h);
}

/* First call: start the build and suspend the connection. Second (after the resume): reply. */
static enum MHD_Result httpd_snapshot(struct httpd *h, struct MHD_Connection *conn,
				      struct httpd_snapreq **slot)
{
	struct httpd_snapreq *req = *slot;
	size_t free_at = HTTPD_MAX_SNAPS;

	if (req && req->done) {
		enum MHD_Result ret = req->body ? httpd_reply(conn, MHD_HTTP_OK, req->body,
							      req->len, "application/json")
						: httpd_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
							     "out of memory\n");
		*slot = NULL;
		free(req);
		return ret;
	}
	if (req)
		return MHD_YES; /* still building */
	for (size_t i = 0; i < HTTPD_MAX_SNAPS; i++)
		if (!h->snaps[i])
			free_at = i;
	if (free_at == HTTPD_MAX_SNAPS)
		return httpd_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "busy: other /snapshot requests are being built\n");
	if (!(req = calloc(1, sizeof(*req))))
		return httpd_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	*req = (struct httpd_snapreq){.h = h, .conn = conn};
	if (httpsnap_start(h->loop, h->env->registry, httpd_ready(h->env), httpd_on_snapshot, req,
			   &req->job) < 0) {
		free(req);
		return httpd_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	h->snaps[free_at] = req;
	h->open_handles++;
	*slot = req;
	MHD_suspend_connection(conn);
	return MHD_YES;
}

/* Whatever ended the request (reply sent, client gone, server stopping): a body still being
 * built is freed when it arrives. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct httpd_snapreq *req = *req_cls;
	*req_cls = NULL;
	if (!req)
		return;
	if (!req->done) {
		req->conn = NULL;
		return;
	}
	free(req->body);
	free(req);
}

/* ---- requests ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	const struct httpd_env *env = ((struct httpd *)cls)->env;
	char *body;
	size_t len = 0;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return httpd_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
	if (strcmp(url, "/healthz") == 0)
		return httpd_text(conn, MHD_HTTP_OK, "ok\n");
	if (strcmp(url, "/readyz") == 0)
		return httpd_ready(env) ? httpd_text(conn, MHD_HTTP_OK, "ready\n")
					: httpd_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
						     "not ready: no sync or cache load yet\n");
	if (strcmp(url, "/metrics") == 0 && (body = httpd_metrics(env, &len)))
		return httpd_reply(conn, MHD_HTTP_OK, body, len,
				   "text/plain; version=0.0.4; charset=utf-8");
	if (strcmp(url, "/snapshot") == 0)
		return httpd_snapshot(cls, conn, (struct httpd_snapreq **)req_cls);
	if (strcmp(url, "/metrics") == 0)
		return httpd_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	return httpd_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* ---- driving libmicrohttpd from the loop ---- */

static void on_timer(uv_timer_t *t);

/* Runs whatever is ready, then arms the timer for MHD's next deadline (0: work is left). */
static void httpd_run(struct httpd *h)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;

	MHD_run(h->mhd);
	if (MHD_get_timeout(h->mhd, &ms) == MHD_YES)
		uv_timer_start(&h->timer, on_timer, ms, 0);
	else
		uv_timer_stop(&h->timer);
}

static void on_timer(uv_timer_t *t)
{
	httpd_run(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	httpd_run(p->data);
}

static void httpd_on_close(uv_handle_t *handle)
{
	httpd_unref(handle->data);
}

static int httpd_listen(struct httpd *h, const char *addr, const struct sockaddr_storage *sa)
{
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;

	if (sa->ss_family != AF_INET && sa->ss_family != AF_INET6) {
		log_err("httpd", "http: %s is no address", addr);
		return -EINVAL;
	}
	if (sa->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* libmicrohttpd copies the address: the cast only drops a const its API lacks */
	h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
				  (struct sockaddr *)(uintptr_t)sa, MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned)HTTPD_MAX_CONNS, MHD_OPTION_CONNECTION_TIMEOUT,
				  (unsigned)HTTPD_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED,
				  on_completed, h, MHD_OPTION_END);
	if (!h->mhd) {
		log_err("httpd", "cannot listen on %s", addr);
		return -EADDRNOTAVAIL;
	}
	return 0;
}

int httpd_new(uv_loop_t *loop, const char *addr, const struct sockaddr_storage *sa,
	      const struct httpd_env *env, struct httpd **out)
{
	struct httpd *h = calloc(1, sizeof(*h));
	const union MHD_DaemonInfo *info;
	int rc;

	if (!h)
		return -ENOMEM;
	h->env = env;
	h->loop = loop;
	if ((rc = httpd_listen(h, addr, sa)) < 0) {
		free(h);
		return rc;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->open_handles = 1;
	if (!info || (rc = uv_poll_init(loop, &h->poll, info->epoll_fd)) < 0) {
		log_err("httpd", "cannot poll the HTTP server");
		httpd_close(h);
		return -EIO;
	}
	h->poll.data = h;
	h->open_handles++;
	h->polling = true;
	uv_poll_start(&h->poll, UV_READABLE, on_poll);
	log_info("httpd", "listening on http://%s for /metrics, /healthz, /readyz, /snapshot",
		 addr);
	*out = h;
	return 0;
}

void httpd_close(struct httpd *h)
{
	if (!h || h->closing)
		return;
	h->closing = true;
	/* MHD stops only with every connection resumed; a build still running is told to stop
	 * (the loop, and so the exit, waits for it) and frees its request when it ends. */
	for (size_t i = 0; i < HTTPD_MAX_SNAPS; i++)
		if (h->snaps[i]) {
			httpsnap_cancel(h->snaps[i]->job);
			if (h->snaps[i]->conn)
				MHD_resume_connection(h->snaps[i]->conn);
		}
	/* libuv forgets the epoll descriptor before MHD closes it. */
	if (h->polling)
		uv_close((uv_handle_t *)&h->poll, httpd_on_close);
	MHD_stop_daemon(h->mhd);
	h->mhd = NULL;
	uv_close((uv_handle_t *)&h->timer, httpd_on_close);
}

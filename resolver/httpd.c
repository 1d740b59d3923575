#include "httpd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>
#include <uv.h>

#include "axfr.h"
#include "forward.h"
#include "fwdaddr.h"
#include "fwdcache.h"
#include "inspect.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "server.h"
#include "snapshot.h"
#include "sync.h"

#define HTTPD_MAX_CONNS   64
#define HTTPD_TIMEOUT_S   10
#define HTTPD_MAX_ORIGINS 64

struct httpd {
	const struct httpd_env *env;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	int open_handles;
};

static int64_t httpd_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool httpd_ready(const struct httpd_env *env)
{
	return env->sync ? sync_ready(env->sync) : env->loaded;
}

/* ---- /metrics ---- */

struct httpd_scan {
	int64_t newest_ms;
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
	const struct snapshot *snap = registry_get(env->registry);
	struct server_stats ss;
	struct forward_stats fs;
	struct fwdcache_stats cs;
	struct sync_stats ys;
	struct httpd_scan sc = {0};
	struct metrics_input in = {.ready = httpd_ready(env), .data_age_s = -1};

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
	snapshot_get_stats(snap, &in.snap);
	in.generation = snapshot_generation(snap);
	inspect_services(snap, httpd_on_service, &sc);
	if (sc.newest_ms > 0)
		in.data_age_s = (double)(httpd_now_ms() - sc.newest_ms) / 1000.0;
	in.stale_services = sc.stale;
	in.origins = sc.origins;
	in.n_origins = sc.n_origins;
	return metrics_render(env->metrics, &in, len);
}

/* ---- /snapshot ---- */

static void httpd_on_service_json(void *arg, const struct inspect_service *svc)
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

static json_t *httpd_zone_json(const struct snapshot *snap, size_t i, int64_t now_ms)
{
	char buf[1100], *text;
	const char *ns = NULL, *name = inspect_zone(snap, i, &ns, buf, sizeof(buf));
	json_t *records = json_array();

	if (!name || !records) {
		json_decref(records);
		return NULL;
	}
	if ((text = axfr_zone_text(snap, i, now_ms))) {
		for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save))
			json_array_append_new(records, json_string(l));
		free(text);
	}
	return json_pack("{s:s, s:s, s:o}", "name", name, "namespace", ns, "records", records);
}

static char *httpd_snapshot(const struct httpd_env *env, size_t *len)
{
	const struct snapshot *snap = registry_get(env->registry);
	struct snapshot_stats st;
	json_t *zones = json_array(), *services = json_array(), *root;
	char *body;

	snapshot_get_stats(snap, &st);
	for (size_t i = 0; zones && i < st.zones; i++) {
		json_t *z = httpd_zone_json(snap, i, httpd_now_ms());
		if (z)
			json_array_append_new(zones, z);
	}
	if (services)
		inspect_services(snap, httpd_on_service_json, services);
	root = json_pack("{s:I, s:b, s:o, s:o}", "generation",
			 (json_int_t)snapshot_generation(snap), "ready", httpd_ready(env), "zones",
			 zones, "services", services);
	body = root ? json_dumps(root, JSON_INDENT(1)) : NULL;
	json_decref(root);
	*len = body ? strlen(body) : 0;
	return body;
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
	if (strcmp(url, "/snapshot") == 0 && (body = httpd_snapshot(env, &len)))
		return httpd_reply(conn, MHD_HTTP_OK, body, len, "application/json");
	if (strcmp(url, "/metrics") == 0 || strcmp(url, "/snapshot") == 0)
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
	struct httpd *h = handle->data;
	if (--h->open_handles == 0)
		free(h);
}

static int httpd_listen(struct httpd *h, const char *addr)
{
	struct sockaddr_storage sa;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (fwdaddr_parse(addr, 9153, &sa) < 0) {
		log_err("httpd", "http: %s is not ADDR:PORT", addr);
		return -EINVAL;
	}
	if (sa.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
				  (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned)HTTPD_MAX_CONNS, MHD_OPTION_CONNECTION_TIMEOUT,
				  (unsigned)HTTPD_TIMEOUT_S, MHD_OPTION_END);
	if (!h->mhd) {
		log_err("httpd", "cannot listen on %s", addr);
		return -EADDRNOTAVAIL;
	}
	return 0;
}

int httpd_new(uv_loop_t *loop, const char *addr, const struct httpd_env *env, struct httpd **out)
{
	struct httpd *h = calloc(1, sizeof(*h));
	const union MHD_DaemonInfo *info;
	int rc;

	if (!h)
		return -ENOMEM;
	h->env = env;
	if ((rc = httpd_listen(h, addr)) < 0) {
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
	uv_poll_start(&h->poll, UV_READABLE, on_poll);
	log_info("httpd", "listening on http://%s for /metrics, /healthz, /readyz, /snapshot",
		 addr);
	*out = h;
	return 0;
}

void httpd_close(struct httpd *h)
{
	if (!h)
		return;
	/* libuv forgets the epoll descriptor before MHD closes it. */
	if (h->open_handles == 2)
		uv_close((uv_handle_t *)&h->poll, httpd_on_close);
	MHD_stop_daemon(h->mhd);
	h->mhd = NULL;
	uv_close((uv_handle_t *)&h->timer, httpd_on_close);
}

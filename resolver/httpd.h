/* The operator's HTTP endpoint: /metrics, /healthz, /readyz, /snapshot. */
#pragma once
#include <stdbool.h>
#include <uv.h>

struct forward;
struct dnstap;
struct fwdcache;
struct httpd;
struct metrics;
struct snapstore;
struct server;
struct sockaddr_storage;
struct sync;

/* What the endpoints read. Borrowed, and read at every request, so the caller may change the
 * fields (a reload replacing the forwarder) between loop callbacks. */
struct httpd_env {
	struct snapstore *registry;
	struct server *server;   /* NULL: not listening */
	struct forward *forward; /* NULL: no forwarder */
	struct fwdcache *cache;  /* NULL: no forward cache */
	struct sync *sync;       /* NULL: ready as soon as the registry is */
	struct metrics *metrics;
	struct dnstap *dnstap; /* NULL: no dnstap output */
	bool loaded; /* without sync: the registry file (or nothing) is loaded */
};

/* What /readyz answers: the cache file was loaded or the sync has listed every catalog, or,
 * without a sync, the registry is loaded. */
bool httpd_ready(const struct httpd_env *env);

/* Serves HTTP on sa (its text addr, "127.0.0.1:9153", for the log) from the loop: libmicrohttpd
 * runs in external epoll mode driven by a uv_poll on its epoll descriptor, so every handler runs on
 * this loop and reads the other modules directly. 0, or a negative errno after logging. */
int httpd_new(uv_loop_t *loop, const char *addr, const struct sockaddr_storage *sa,
	      const struct httpd_env *env, struct httpd **out);
/* Stops serving; frees in the last close callback. NULL-safe. */
void httpd_close(struct httpd *h);

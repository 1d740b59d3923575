/* The sync's network and clock in the daemon: http.c and the loop's time. Runs on the sync's
 * loop thread. */
#include "resolver/sync/syncio.h"

#include "build_config.h"
#include "resolver/config.h"

static int syncio_http_open(void *ctx, uv_loop_t *loop, const struct config *cfg, void **out)
{
	(void)ctx;
	struct http_options o = {
		/* Nacos pushes only to the clients it knows, at a minimum version (Nacos-DNS:
		 * 0.4.3); our own version comes after, for the server's logs. */
		.user_agent = "Nacos-DNS:v1.0.1 nacos-dns/" NACOS_DNS_VERSION,
		.ca_file = cfg->nacos_ca,
		.timeout_ms = 3000,
		.max_body = cfg->max_response_size,
		.max_inflight = 8,
	};
	struct http *h;
	int rc = http_new(loop, &o, &h);
	*out = rc < 0 ? NULL : h;
	return rc;
}

static int syncio_http_submit(void *h, const struct http_request *r, http_done_cb cb, void *arg)
{
	return http_submit(h, r, cb, arg);
}

static void syncio_http_close(void *h)
{
	http_close(h);
}

static int64_t syncio_loop_now(void *ctx, uv_loop_t *loop)
{
	(void)ctx;
	return (int64_t)uv_now(loop);
}

const struct syncio syncio_http = {
	.open = syncio_http_open,
	.submit = syncio_http_submit,
	.close = syncio_http_close,
	.now_ms = syncio_loop_now,
	.ctx = NULL,
	.grpc = true,
};

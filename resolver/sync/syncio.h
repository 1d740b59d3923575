/* What the sync reaches the network and the clock through. The daemon binds it to http.c and
 * libuv's loop time (sync_new); a test binds it to scripted answers and a clock it moves. Every
 * function is called on the sync's loop thread, and every callback must come there. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "resolver/sync/http.h"

struct config;
struct snapstore;
struct sync;

struct syncio {
	/* An HTTP layer for cfg (made again at each reload that changes the network settings):
	 * 0 or a negative errno. submit and close follow http_submit and http_close: cb runs once,
	 * never inside submit, and close finishes every request with -ECANCELED. */
	int (*open)(void *ctx, uv_loop_t *loop, const struct config *cfg, void **out);
	int (*submit)(void *h, const struct http_request *r, http_done_cb cb, void *arg);
	void (*close)(void *h);
	/* Monotonic milliseconds: every backoff, poll, hold and token time is measured on it. */
	int64_t (*now_ms)(void *ctx, uv_loop_t *loop);
	void *ctx;
	/* The gRPC transport (--nacos-transport) may be used: it connects on the loop itself, so a
	 * binding of scripted answers leaves it false. */
	bool grpc;
};

/* http.c on the loop, and the loop's time: what sync_new binds. */
extern const struct syncio syncio_http;

/* sync_new with io (borrowed: it must outlive the sync) instead of http.c and the loop's time. */
int sync_new_io(uv_loop_t *loop, const struct config *cfg, struct snapstore *reg,
		const struct syncio *io, struct sync **out);

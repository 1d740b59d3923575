/* HTTP(S) requests on libcurl's multi interface, driven by a libuv loop. Knows nothing of Nacos. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct http;

struct http_options {
	const char *user_agent; /* copied */
	const char *ca_file;    /* NULL or "": the system CAs; copied */
	/* How long a request may stall: connecting, or moving under 1 KiB/s (waiting for the
	 * answer included), so that a large answer arriving steadily is not cut off; 0: 3000.
	 * A request lasts at most 40 times this. */
	long timeout_ms;
	size_t max_body;       /* larger bodies fail with -EMSGSIZE; 0: 32 MiB */
	unsigned max_inflight; /* requests beyond this wait in a queue; 0: 8 */
};

/* What a finished request gave. Everything is borrowed for the duration of the callback. */
struct http_response {
	int error;        /* 0: an HTTP answer arrived (any status); else a negative errno */
	long status;      /* HTTP status, 0 when error != 0 */
	const char *body; /* NUL-terminated, len bytes */
	size_t len;
	const char *reason; /* curl's message when error != 0, "" otherwise */
	bool answering;     /* error != 0 after the answer had begun (a status line came) */
	/* The connection's addresses ("" when unknown): ours, and the server's. */
	const char *local_ip, *primary_ip;
};

typedef void (*http_done_cb)(void *arg, const struct http_response *resp);

struct http_request {
	const char *url;    /* copied */
	const char *form;   /* NULL: GET; else POST with this x-www-form-urlencoded body (copied) */
	const char *header; /* NULL or one extra "Name: value" header (copied) */
};

/* 0 or a negative errno. Logs a warning when libcurl resolves names synchronously. */
int http_new(uv_loop_t *loop, const struct http_options *o, struct http **out);
/* Queues a request. 0: cb runs exactly once, later (never inside this call), with -ECANCELED
 * when http_close comes first. <0: cb will not run. */
int http_submit(struct http *h, const struct http_request *r, http_done_cb cb, void *arg);
/* Requests submitted or running. */
unsigned http_pending(const struct http *h);
/* Finishes every request with -ECANCELED, then frees h once its handles are closed. */
void http_close(struct http *h);

/* Parsing an HTTP instance list answer: on the loop when small, on libuv's thread pool when
 * large (as snapshots are built), so that a 65,536-instance answer (a second of CPU) stalls no
 * query. Knows no tracked services. syncparse_start and the callback run on the sync's loop
 * thread; the parse itself may run on a pool thread, touching only its own copy. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct nacos_service;

#define SYNCPARSE_INLINE (64 * 1024) /* answers up to this size are parsed on the loop */

/* What one answer asked for, echoed in its result. group and name are borrowed: they must stay
 * unchanged until the callback. */
struct syncparse_request {
	const char *group, *name;
	bool v3;        /* the v3 client API's answer, else v1's */
	void *arg;      /* the owner's */
	size_t server;  /* the owner's: which server answered */
	uint64_t epoch; /* the owner's: what the servers were when it was asked */
};

struct syncparse_result {
	struct syncparse_request req;
	bool pooled; /* parsed on the pool: the callback runs later, not inside */
	int rc;      /* 0, -EBADMSG, -ENOMEM, -EFBIG (more hosts than any service may have) */
	struct nacos_service *svc; /* rc 0: the callback owns it */
	char why[240];             /* the parser's first complaint, "" when none */
	size_t skipped;            /* instances left out (the reason in why) */
	int64_t ref;               /* Nacos's lastRefTime (ms) of a v1 answer; 0: none */
};

typedef void (*syncparse_cb)(void *owner, struct syncparse_result *r);

/* Parses body (len bytes, NUL-terminated; borrowed for this call only). cb runs exactly once:
 * inside this call for a small answer (or when the pool cannot take it), else later on loop.
 * true: it was queued on the pool (cb comes later). */
bool syncparse_start(uv_loop_t *loop, const struct syncparse_request *req, const char *body,
		     size_t len, syncparse_cb cb, void *owner);

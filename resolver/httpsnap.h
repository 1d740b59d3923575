/* The body of GET /snapshot, built on libuv's thread pool: a zone of 100,000 records takes
 * seconds to print, and the loop that answers queries and /healthz must not wait for it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

struct snapstore;
struct httpsnap;

/* The record text of all zones together stops at this many octets; a zone cut short says
 * "truncated": true. */
#define HTTPSNAP_MAX_TEXT (32u << 20)

/* Runs on the loop when the body is built: body is malloc'ed JSON and taken by the callee, or
 * NULL when memory ran out. */
typedef void (*httpsnap_done_cb)(void *arg, char *body, size_t len);

/* Builds the body from the snapshot current when the pool thread starts (read through a
 * snapstore reader of its own); ready is what /readyz says now. 0 and the job in *out, valid
 * until cb runs; or a negative errno (cb will not run). */
int httpsnap_start(uv_loop_t *loop, struct snapstore *reg, bool ready, httpsnap_done_cb cb,
		   void *arg, struct httpsnap **out);

/* Stops the build soon, also midway through a zone, so that shutting down does not wait for
 * it: cb still runs, with a NULL body. */
void httpsnap_cancel(struct httpsnap *j);

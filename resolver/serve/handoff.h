/* Work a worker thread hands to the main loop: a query to forward or to wait for a first fetch,
 * the use of a service or a name missing from the catalog (for the sync), a cached answer to
 * refresh. A bounded queue and a uv_async_t; what an item means is the taker's business.
 * handoff_push: any thread (the workers). Everything else, and the take callback: the main
 * loop. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

enum handoff_kind {
	HANDOFF_QUERY,   /* answered again on the main loop, sent from its socket for the address */
	HANDOFF_TOUCH,   /* data: "namespace\0group\0service\0" */
	HANDOFF_MISS,    /* a zone name missing: the catalog may be behind */
	HANDOFF_REFRESH, /* data: a query whose cached answer is due for a refresh */
};

struct handoff_item {
	struct handoff_item *next;
	enum handoff_kind kind;
	size_t port; /* index of the listen address */
	struct sockaddr_storage peer;
	uint64_t t0; /* uv_hrtime() at arrival */
	size_t len;
	uint8_t data[];
};

struct handoff;
/* Called on the main loop for each item, in order; the item is freed when it returns. */
typedef void (*handoff_take_cb)(void *arg, const struct handoff_item *it);

/* NULL on ENOMEM or when the async handle cannot start. */
struct handoff *handoff_new(uv_loop_t *loop, handoff_take_cb take, void *arg);
/* Stops taking (what arrives later is dropped) and closes the async handle; closed(arg) once it
 * closed, then h is freed. Every pusher must have stopped. */
void handoff_close(struct handoff *h, void (*closed)(void *arg), void *arg);

/* An item with a copy of data (peer may be NULL). NULL on ENOMEM. */
struct handoff_item *handoff_item_new(enum handoff_kind kind, size_t port,
				      const struct sockaddr *peer, uint64_t t0, const uint8_t *data,
				      size_t len);
/* Queues it for the main loop (taking it); false when the queue was full and it was freed. */
bool handoff_push(struct handoff *h, struct handoff_item *it);

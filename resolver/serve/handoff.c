#include "resolver/serve/handoff.h"

#include <stdlib.h>
#include <string.h>

#include "zones/net/addr.h"

#define HANDOFF_MAX 4096 /* items waiting for the main loop */

struct handoff {
	uv_async_t async;
	handoff_take_cb take;
	void *arg;
	bool closing;
	void (*closed)(void *arg);
	void *closed_arg;
	uv_mutex_t lock; /* head, tail, n */
	struct handoff_item *head, **tail;
	size_t n;
};

static void handoff_on_async(uv_async_t *a)
{
	struct handoff *h = a->data;
	struct handoff_item *it, *next;

	uv_mutex_lock(&h->lock);
	it = h->head;
	h->head = NULL;
	h->tail = &h->head;
	h->n = 0;
	uv_mutex_unlock(&h->lock);
	for (; it; it = next) {
		next = it->next;
		if (!h->closing)
			h->take(h->arg, it);
		free(it);
	}
}

struct handoff *handoff_new(uv_loop_t *loop, handoff_take_cb take, void *arg)
{
	struct handoff *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->take = take;
	h->arg = arg;
	h->tail = &h->head;
	if (uv_mutex_init(&h->lock) < 0) {
		free(h);
		return NULL;
	}
	if (uv_async_init(loop, &h->async, handoff_on_async) < 0) {
		uv_mutex_destroy(&h->lock);
		free(h);
		return NULL;
	}
	h->async.data = h;
	return h;
}

static void handoff_on_close(uv_handle_t *handle)
{
	struct handoff *h = handle->data;
	void (*closed)(void *arg) = h->closed;
	void *arg = h->closed_arg;

	while (h->head) {
		struct handoff_item *it = h->head;
		h->head = it->next;
		free(it);
	}
	uv_mutex_destroy(&h->lock);
	free(h);
	if (closed)
		closed(arg);
}

void handoff_close(struct handoff *h, void (*closed)(void *arg), void *arg)
{
	h->closing = true;
	h->closed = closed;
	h->closed_arg = arg;
	uv_close((uv_handle_t *)&h->async, handoff_on_close);
}

struct handoff_item *handoff_item_new(enum handoff_kind kind, size_t port,
				      const struct sockaddr *peer, uint64_t t0, const uint8_t *data,
				      size_t len)
{
	struct handoff_item *it = malloc(sizeof(*it) + len);

	if (!it)
		return NULL;
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->port = port;
	if (peer)
		memcpy(&it->peer, peer, addr_len(peer));
	it->t0 = t0;
	it->len = len;
	if (len)
		memcpy(it->data, data, len);
	return it;
}

bool handoff_push(struct handoff *h, struct handoff_item *it)
{
	bool queued;

	uv_mutex_lock(&h->lock);
	queued = h->n < HANDOFF_MAX;
	if (queued) {
		it->next = NULL;
		*h->tail = it;
		h->tail = &it->next;
		h->n++;
	}
	uv_mutex_unlock(&h->lock);
	if (!queued) {
		free(it);
		return false;
	}
	uv_async_send(&h->async);
	return true;
}

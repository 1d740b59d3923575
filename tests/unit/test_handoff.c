/* The queue from the worker threads to the main loop: items pushed from another thread arrive on
 * the loop in order with their data, a full queue refuses (and frees) what does not fit, and
 * closing frees what was never taken. */
#include "resolver/serve/handoff.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <uv.h>

#include "check.h"

#define PUSHES 3000 /* under the queue's bound: none is refused */

struct seen {
	unsigned taken, closed;
	unsigned next; /* the number the next item must carry */
	bool in_order;
};

static void on_take(void *arg, const struct handoff_item *it)
{
	struct seen *s = arg;
	unsigned n;

	CHECK_INT_EQ(it->kind, HANDOFF_REFRESH);
	CHECK_INT_EQ(it->len, sizeof(n));
	memcpy(&n, it->data, sizeof(n));
	s->in_order &= n == s->next;
	s->next = n + 1;
	s->taken++;
}

static void on_closed(void *arg)
{
	struct seen *s = arg;
	s->closed++;
}

static void pusher(void *arg)
{
	struct handoff *h = arg;

	for (unsigned i = 0; i < PUSHES; i++) {
		struct handoff_item *it = handoff_item_new(HANDOFF_REFRESH, 0, NULL, 0,
							   (const uint8_t *)&i, sizeof(i));
		CHECK(it);
		CHECK(handoff_push(h, it));
	}
}

/* Another thread pushes; the loop takes every item once, in order. */
static void test_cross_thread(void)
{
	uv_loop_t loop;
	struct seen s = {.in_order = true};
	uv_thread_t t;

	CHECK_INT_EQ(uv_loop_init(&loop), 0);
	struct handoff *h = handoff_new(&loop, on_take, &s);
	CHECK(h);
	CHECK_INT_EQ(uv_thread_create(&t, pusher, h), 0);
	CHECK_INT_EQ(uv_thread_join(&t), 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_INT_EQ(s.taken, PUSHES);
	CHECK(s.in_order);
	handoff_close(h, on_closed, &s);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(s.closed, 1);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

/* An item keeps its peer, port, time and a copy of its data. */
static void test_item(void)
{
	struct sockaddr_in6 peer = {.sin6_family = AF_INET6, .sin6_port = htons(5353)};
	uint8_t data[3] = {1, 2, 3};

	inet_pton(AF_INET6, "2001:db8::7", &peer.sin6_addr);
	struct handoff_item *it = handoff_item_new(HANDOFF_QUERY, 2, (const struct sockaddr *)&peer,
						   42, data, sizeof(data));
	CHECK(it);
	data[0] = 9;
	CHECK_INT_EQ(it->kind, HANDOFF_QUERY);
	CHECK_INT_EQ(it->port, 2);
	CHECK_INT_EQ(it->t0, 42);
	CHECK_INT_EQ(it->len, 3);
	CHECK_INT_EQ(it->data[0], 1);
	CHECK(memcmp(&it->peer, &peer, sizeof(peer)) == 0);
	free(it);
}

/* Past the bound the queue refuses; what was queued but never taken is freed by the close. */
static void test_full(void)
{
	uv_loop_t loop;
	struct seen s = {.in_order = true};
	unsigned queued = 0;

	CHECK_INT_EQ(uv_loop_init(&loop), 0);
	struct handoff *h = handoff_new(&loop, on_take, &s);
	CHECK(h);
	for (unsigned i = 0; i < 5000; i++) {
		struct handoff_item *it = handoff_item_new(HANDOFF_MISS, 0, NULL, 0, NULL, 0);
		CHECK(it);
		queued += handoff_push(h, it);
	}
	CHECK(queued > 0 && queued < 5000);
	handoff_close(h, on_closed, &s); /* before the loop ran: nothing is taken */
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(s.taken, 0);
	CHECK_INT_EQ(s.closed, 1);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

int main(void)
{
	test_cross_thread();
	test_item();
	test_full();
	return 0;
}

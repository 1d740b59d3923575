#include "resolver/serve/udp.h"

#include <stdlib.h>

#include "resolver/serve/servestats.h"
#include "resolver/serve/udpsend.h"
#include "zones/dns/dnsnum.h"

#define UDP_RBUF (16 * 65536) /* recvmmsg: up to 16 datagrams per system call */

struct udp {
	const struct udp_cb *cb;
	void *arg;
	struct servestats *st;
	struct udpsend *out;
	uv_udp_t handle;
	uv_check_t flush; /* ends a batch that libuv stopped reading without an empty read */
	bool init, closing, in_batch;
	int open_handles;
	void (*closed)(void *arg);
	void *closed_arg;
	uint8_t rbuf[UDP_RBUF]; /* valid during a callback */
};

struct udp *udp_new(const struct udp_cb *cb, void *arg, struct servestats *st)
{
	struct udp *u = calloc(1, sizeof(*u)); /* the read buffer stays untouched until used */

	if (!u)
		return NULL;
	u->cb = cb;
	u->arg = arg;
	u->st = st;
	if (!(u->out = udpsend_new(&u->handle, st))) {
		free(u);
		return NULL;
	}
	return u;
}

void udp_free(struct udp *u)
{
	if (!u)
		return;
	udpsend_free(u->out);
	free(u);
}

static void udp_batch_begin(struct udp *u)
{
	u->in_batch = true;
	u->cb->batch_begin(u->arg);
}

static void udp_batch_end(struct udp *u)
{
	udpsend_flush(u->out);
	u->in_batch = false;
	u->cb->batch_end(u->arg);
}

static void udp_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct udp *u = h->data;
	*buf = uv_buf_init((char *)u->rbuf, sizeof(u->rbuf));
}

/* With UV_UDP_RECVMMSG libuv calls this once per datagram (UV_UDP_MMSG_CHUNK), then once with
 * n == 0 and no peer (UV_UDP_MMSG_FREE) when one recvmmsg's datagrams are done, and reads again;
 * with n == 0, no peer and no flag when there is nothing more to read. That (or an error) ends
 * the batch; when libuv stops reading before, the loop's check phase ends it. */
static void udp_on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *peer,
			unsigned flags)
{
	struct udp *u = h->data;

	if (n < 0 || !peer) {
		if (u->in_batch && !(flags & UV_UDP_MMSG_FREE))
			udp_batch_end(u);
		return;
	}
	if (u->closing)
		return;
	if (!u->in_batch)
		udp_batch_begin(u);
	SERVESTATS_INC(u->st->udp_queries);
	if ((flags & UV_UDP_PARTIAL) || n < DNS_HDR_LEN)
		SERVESTATS_INC(u->st->malformed);
	else
		u->cb->datagram(u->arg, peer, (const uint8_t *)buf->base, (size_t)n);
}

static void udp_on_check(uv_check_t *c)
{
	struct udp *u = c->data;
	if (u->in_batch)
		udp_batch_end(u);
}

int udp_start(struct udp *u, uv_loop_t *loop, int *fd)
{
	int rc;

	if ((rc = uv_udp_init_ex(loop, &u->handle, AF_UNSPEC | UV_UDP_RECVMMSG)) < 0)
		return rc;
	uv_check_init(loop, &u->flush); /* cannot fail */
	u->handle.data = u->flush.data = u;
	u->init = true;
	uv_check_start(&u->flush, udp_on_check);
	if ((rc = uv_udp_open(&u->handle, *fd)) < 0)
		return rc;
	*fd = -1;
	/* libuv probes recvmmsg once, on the first read, with a socket it opens and closes behind
	 * ThreadSanitizer's back. Done by a worker, TSan would take the next file given that
	 * descriptor number on another thread for a race with the worker; so probe now, before
	 * any worker starts. */
	(void)uv_udp_using_recvmmsg(&u->handle);
	return uv_udp_recv_start(&u->handle, udp_on_alloc, udp_on_recv);
}

static void udp_on_close(uv_handle_t *h)
{
	struct udp *u = h->data;
	if (--u->open_handles == 0 && u->closed)
		u->closed(u->closed_arg);
}

bool udp_close(struct udp *u, void (*closed)(void *arg), void *arg)
{
	if (!u || !u->init || u->closing)
		return false;
	u->closing = true;
	if (u->in_batch)
		udp_batch_end(u);
	u->closed = closed;
	u->closed_arg = arg;
	u->open_handles = 2;
	uv_close((uv_handle_t *)&u->handle, udp_on_close);
	uv_close((uv_handle_t *)&u->flush, udp_on_close);
	return true;
}

void udp_send(struct udp *u, const struct sockaddr *peer, const uint8_t *wire, size_t len)
{
	if (u->in_batch && udpsend_add(u->out, peer, wire, len))
		return;
	udpsend_now(u->out, peer, wire, len);
}

bool udp_in_batch(const struct udp *u)
{
	return u->in_batch;
}

int udp_fileno(const struct udp *u, uv_os_fd_t *fd)
{
	return uv_fileno((const uv_handle_t *)&u->handle, fd);
}

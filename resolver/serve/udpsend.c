#include "resolver/serve/udpsend.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/serve/servestats.h"
#include "zones/net/addr.h"

#define UDPSEND_MAX   64 /* replies per sendmmsg: libuv reads about 32 per loop turn */
#define UDPSEND_BYTES 65536

struct udpsend {
	uv_udp_t *udp;
	struct servestats *st;
	unsigned n;
	size_t used;
	struct mmsghdr msgs[UDPSEND_MAX];
	struct iovec iov[UDPSEND_MAX];
	struct sockaddr_storage peers[UDPSEND_MAX];
	uint8_t buf[UDPSEND_BYTES];
};

/* One reply libuv sends once the socket is writable; owns its bytes until udpsend_on_send. */
struct udpsend_req {
	uv_udp_send_t req;
	struct servestats *st;
	uint8_t wire[];
};

struct udpsend *udpsend_new(uv_udp_t *udp, struct servestats *st)
{
	struct udpsend *q = malloc(sizeof(*q));

	if (!q)
		return NULL;
	q->udp = udp;
	q->st = st;
	q->n = 0;
	q->used = 0;
	return q;
}

void udpsend_free(struct udpsend *q)
{
	free(q);
}

static void udpsend_on_send(uv_udp_send_t *req, int status)
{
	struct udpsend_req *u = req->data;
	if (status < 0)
		SERVESTATS_INC(u->st->send_errors);
	free(u);
}

void udpsend_now(struct udpsend *q, const struct sockaddr *peer, const uint8_t *wire, size_t len)
{
	uv_buf_t buf = uv_buf_init((char *)wire, (unsigned)len);
	int rc = uv_udp_try_send(q->udp, &buf, 1, peer);

	if (rc >= 0) {
		servestats_count_reply(q->st, wire, len);
		return;
	}
	if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
		SERVESTATS_INC(q->st->send_errors);
		return;
	}
	struct udpsend_req *u = malloc(sizeof(*u) + len);
	if (!u) {
		SERVESTATS_INC(q->st->send_errors);
		return;
	}
	u->req.data = u;
	u->st = q->st;
	memcpy(u->wire, wire, len);
	buf = uv_buf_init((char *)u->wire, (unsigned)len);
	if (uv_udp_send(&u->req, q->udp, &buf, 1, peer, udpsend_on_send) < 0) {
		SERVESTATS_INC(q->st->send_errors);
		free(u);
		return;
	}
	servestats_count_reply(q->st, wire, len);
}

/* When the socket's buffer is full, the rest goes through libuv's queue; a reply the kernel
 * refuses is counted and skipped. */
void udpsend_flush(struct udpsend *q)
{
	unsigned i = 0;
	int fd = -1;

	if (q->n > 0 && uv_fileno((const uv_handle_t *)q->udp, &fd) < 0)
		fd = -1;
	while (i < q->n) {
		int r = fd < 0 ? -1 : sendmmsg(fd, q->msgs + i, q->n - i, 0);
		if (r > 0) {
			for (unsigned k = i; k < i + (unsigned)r; k++)
				servestats_count_reply(q->st, q->iov[k].iov_base,
						       q->iov[k].iov_len);
			i += (unsigned)r;
		} else if (r < 0 && errno == EINTR) {
			continue;
		} else if (fd >= 0 && r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			SERVESTATS_INC(q->st->send_errors);
			i++;
		} else {
			for (; i < q->n; i++)
				udpsend_now(q, (const struct sockaddr *)&q->peers[i],
					    q->iov[i].iov_base, q->iov[i].iov_len);
		}
	}
	q->n = 0;
	q->used = 0;
}

bool udpsend_add(struct udpsend *q, const struct sockaddr *peer, const uint8_t *wire, size_t len)
{
	socklen_t sl = addr_len(peer);

	if (len > sizeof(q->buf))
		return false;
	if (q->n == UDPSEND_MAX || len > sizeof(q->buf) - q->used)
		udpsend_flush(q);
	memcpy(q->buf + q->used, wire, len);
	memcpy(&q->peers[q->n], peer, sl);
	q->iov[q->n] = (struct iovec){.iov_base = q->buf + q->used, .iov_len = len};
	q->msgs[q->n] = (struct mmsghdr){.msg_hdr = {.msg_name = &q->peers[q->n],
						     .msg_namelen = sl,
						     .msg_iov = &q->iov[q->n],
						     .msg_iovlen = 1}};
	q->used += len;
	q->n++;
	return true;
}

#include "resolver/sync/pushsock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "resolver/log.h"
#include "zones/net/addr.h"

#define PUSHSOCK_BUF 65536

struct pushsock {
	uv_udp_t udp;
	pushsock_recv_cb cb;
	void *arg;
	char address[INET6_ADDRSTRLEN];
	unsigned port;
	bool v4, v6; /* families it receives */
	bool closing;
	char buf[PUSHSOCK_BUF]; /* one datagram at a time, valid during the callback */
};

struct pushsock_send_req {
	uv_udp_send_t req;
	char data[];
};

static void pushsock_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct pushsock *p = h->data;
	*buf = uv_buf_init(p->buf, sizeof(p->buf));
}

static void on_push_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *peer,
			 unsigned flags)
{
	struct pushsock *p = h->data;
	if (p->closing || n <= 0 || !peer || (flags & UV_UDP_PARTIAL))
		return; /* n == 0 && !peer: nothing to read; a cut datagram is no push */
	p->cb(p->arg, (const uint8_t *)buf->base, (size_t)n, peer);
}

/* Binds to ss; with "" as the address, [::]:0 dual-stack first, then 0.0.0.0:0. */
static int pushsock_bind(struct pushsock *p, const char *addr)
{
	struct sockaddr_storage ss = {0};
	int rc;
	if (addr[0]) {
		if ((rc = addr_parse(addr, 0, ADDR_ANY_PORT, &ss, NULL, 0)) < 0)
			return rc; /* config checked it */
		return uv_udp_bind(&p->udp, (const struct sockaddr *)&ss, 0);
	}
	uv_ip6_addr("::", 0, (struct sockaddr_in6 *)&ss);
	if (uv_udp_bind(&p->udp, (const struct sockaddr *)&ss, 0) == 0)
		return 0;
	uv_ip4_addr("0.0.0.0", 0, (struct sockaddr_in *)&ss);
	return uv_udp_bind(&p->udp, (const struct sockaddr *)&ss, 0);
}

/* A socket on [::] takes IPv4 too, unless the host's default (net.ipv6.bindv6only) says not. */
static bool pushsock_v6only(struct pushsock *p)
{
	uv_os_fd_t fd;
	int on = 0;
	socklen_t len = sizeof(on);
	if (uv_fileno((uv_handle_t *)&p->udp, &fd) < 0 ||
	    getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, &len) < 0)
		return true;
	return on != 0;
}

/* Reads back what the kernel bound: family, address, port. */
static int pushsock_learn(struct pushsock *p)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), rc = uv_udp_getsockname(&p->udp, (struct sockaddr *)&ss, &len);
	if (rc < 0)
		return rc;
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
		uv_ip6_name(a, p->address, sizeof(p->address));
		p->port = ntohs(a->sin6_port);
		p->v6 = true;
		p->v4 = IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr) && !pushsock_v6only(p);
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
		uv_ip4_name(a, p->address, sizeof(p->address));
		p->port = ntohs(a->sin_port);
		p->v4 = true;
	}
	return 0;
}

static void pushsock_on_close(uv_handle_t *h)
{
	free(h->data);
}

int pushsock_new(uv_loop_t *loop, const char *addr, pushsock_recv_cb cb, void *arg,
		 struct pushsock **out)
{
	struct pushsock *p = calloc(1, sizeof(*p));
	int rc;
	if (!p)
		return -ENOMEM;
	if ((rc = uv_udp_init(loop, &p->udp)) < 0) {
		free(p);
		return rc;
	}
	p->udp.data = p;
	p->cb = cb;
	p->arg = arg;
	if ((rc = pushsock_bind(p, addr)) < 0 || (rc = pushsock_learn(p)) < 0 ||
	    (rc = uv_udp_recv_start(&p->udp, pushsock_alloc, on_push_recv)) < 0) {
		p->closing = true;
		uv_close((uv_handle_t *)&p->udp, pushsock_on_close);
		return rc;
	}
	*out = p;
	return 0;
}

const char *pushsock_address(const struct pushsock *p)
{
	return p->address;
}

unsigned pushsock_port(const struct pushsock *p)
{
	return p->port;
}

bool pushsock_can_receive(const struct pushsock *p, const char *ip)
{
	return strchr(ip, ':') ? p->v6 : p->v4;
}

static void on_push_sent(uv_udp_send_t *req, int status)
{
	free(req->data);
}

int pushsock_send(struct pushsock *p, const struct sockaddr *peer, const void *data, size_t len)
{
	if (p->closing)
		return -ECANCELED;
	struct pushsock_send_req *r = malloc(sizeof(*r) + len);
	if (!r)
		return -ENOMEM;
	memcpy(r->data, data, len);
	r->req.data = r;
	uv_buf_t buf = uv_buf_init(r->data, (unsigned)len);
	int rc = uv_udp_send(&r->req, &p->udp, &buf, 1, peer, on_push_sent);
	if (rc < 0)
		free(r); /* the callback never runs */
	return rc;
}

void pushsock_close(struct pushsock *p)
{
	if (!p || p->closing)
		return;
	p->closing = true;
	uv_udp_recv_stop(&p->udp);
	uv_close((uv_handle_t *)&p->udp, pushsock_on_close);
}

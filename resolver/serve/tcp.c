#include "resolver/serve/tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/log.h"
#include "resolver/serve/listen.h"
#include "resolver/serve/servestats.h"
#include "zones/dns/dnsnum.h"
#include "zones/dns/rrl.h"

#define TCP_INFLIGHT   64           /* forwarded/fetching queries per connection */
#define TCP_WQ_MAX     (256 * 1024) /* queued reply bytes before we stop reading */
#define TCP_CAP_LOG_MS 1000         /* at most one "connection limit" line per second */
#define TCP_RBUF       (16 * 65536)

/* A listening socket. */
struct tcp_port {
	uv_tcp_t handle;
	struct tcp *t;
	struct tcp_port *next;
	struct servestats *st;
	const char *name;
	unsigned per_client;
	void *arg;
};

/* The server's TCP side. References: the owner's until tcp_close, one per open listening handle
 * and one per connection. */
struct tcp {
	uv_loop_t *loop;
	struct tcp_limits lim;
	tcp_message_cb on_message;
	struct tcp_port *ports;
	struct tcp_conn *conns;
	size_t n_conns;
	unsigned refs;
	bool closing;
	struct log_limit cap_log;
	void (*closed)(void *arg);
	void *closed_arg;
	uint8_t rbuf[TCP_RBUF]; /* read buffer, valid during a callback */
};

/* One client. References: one while its handles are open, one per query it holds. */
struct tcp_conn {
	uv_tcp_t handle;
	uv_timer_t timer;
	struct tcp_port *port;
	struct tcp_conn *prev, *next; /* open connections */
	struct sockaddr_storage peer;
	unsigned refs;
	int open_handles;
	unsigned inflight; /* held queries */
	unsigned writes;   /* uv_write requests queued */
	size_t write_bytes;
	bool closing, listed, reading, eof;
	bool processing; /* inside tcp_process: a nested drain must not touch in[] */
	uint8_t *in; /* bytes read but not processed: a partial frame, or a backlog while paused */
	size_t in_len, in_cap;
};

struct tcp_write {
	uv_write_t req;
	struct tcp_conn *c;
	size_t len;
	uint8_t wire[];
};

static void tcp_conn_close(struct tcp_conn *c);
static void tcp_after_drain(struct tcp_conn *c);
static void tcp_on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *buf);

/* ---- the server side ---- */

struct tcp *tcp_new(uv_loop_t *loop, const struct tcp_limits *lim, tcp_message_cb on_message)
{
	struct tcp *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->loop = loop;
	t->lim = *lim;
	t->on_message = on_message;
	t->refs = 1;
	return t;
}

static void tcp_unref(struct tcp *t)
{
	void (*closed)(void *arg) = t->closed;
	void *arg = t->closed_arg;

	if (--t->refs > 0)
		return;
	while (t->ports) {
		struct tcp_port *p = t->ports;
		t->ports = p->next;
		free(p);
	}
	free(t);
	if (closed)
		closed(arg);
}

static void tcp_port_on_close(uv_handle_t *h)
{
	struct tcp_port *p = h->data;
	tcp_unref(p->t);
}

size_t tcp_count(const struct tcp *t)
{
	return t->n_conns;
}

/* ---- connections: lifetime ---- */

static void tcp_conn_unref(struct tcp_conn *c)
{
	struct tcp *t = c->port->t;

	if (--c->refs > 0)
		return;
	free(c->in);
	free(c);
	tcp_unref(t);
}

static void tcp_conn_on_close(uv_handle_t *h)
{
	struct tcp_conn *c = h->data;
	if (--c->open_handles == 0)
		tcp_conn_unref(c);
}

static void tcp_conn_unlist(struct tcp_conn *c)
{
	struct tcp *t = c->port->t;

	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	t->n_conns--;
	c->listed = false;
}

static void tcp_conn_close(struct tcp_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->listed)
		tcp_conn_unlist(c);
	uv_close((uv_handle_t *)&c->handle, tcp_conn_on_close);
	uv_close((uv_handle_t *)&c->timer, tcp_conn_on_close);
}

bool tcp_conn_closing(const struct tcp_conn *c)
{
	return c->closing;
}

void tcp_hold(struct tcp_conn *c)
{
	c->refs++;
	c->inflight++;
}

void tcp_release(struct tcp_conn *c)
{
	c->inflight--;
	tcp_after_drain(c);
	tcp_conn_unref(c);
}

static bool tcp_paused(const struct tcp_conn *c)
{
	return c->inflight >= TCP_INFLIGHT || c->write_bytes >= TCP_WQ_MAX;
}

/* ---- writing ---- */

static void tcp_on_write(uv_write_t *req, int status)
{
	struct tcp_write *w = req->data;
	struct tcp_conn *c = w->c;

	c->writes--;
	c->write_bytes -= w->len;
	free(w);
	if (status < 0) {
		tcp_conn_close(c);
		return;
	}
	tcp_after_drain(c);
}

/* Queues bytes [2-byte length, wire][skip..] with an owned buffer. */
static int tcp_queue(struct tcp_conn *c, const uint8_t hdr[2], const uint8_t *wire, size_t len,
		     size_t skip)
{
	size_t total = 2 + len - skip;
	struct tcp_write *w = malloc(sizeof(*w) + total);

	if (!w)
		return -ENOMEM;
	if (skip < 2) {
		memcpy(w->wire, hdr + skip, 2 - skip);
		memcpy(w->wire + 2 - skip, wire, len);
	} else {
		memcpy(w->wire, wire + (skip - 2), total);
	}
	w->req.data = w;
	w->c = c;
	w->len = total;
	uv_buf_t buf = uv_buf_init((char *)w->wire, (unsigned)total);
	if (uv_write(&w->req, (uv_stream_t *)&c->handle, &buf, 1, tcp_on_write) < 0) {
		free(w);
		return -EIO;
	}
	c->writes++;
	c->write_bytes += total;
	return 0;
}

void tcp_send(struct tcp_conn *c, const uint8_t *wire, size_t len)
{
	uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
	int done = 0;

	if (c->closing)
		return;
	if (c->writes == 0) {
		uv_buf_t bufs[2] = {uv_buf_init((char *)hdr, 2),
				    uv_buf_init((char *)wire, (unsigned)len)};
		done = uv_try_write((uv_stream_t *)&c->handle, bufs, 2);
		if (done == UV_EAGAIN || done == UV_ENOSYS)
			done = 0;
		if (done < 0) {
			tcp_conn_close(c);
			return;
		}
	}
	servestats_count_reply(c->port->st, wire, len);
	if ((size_t)done < 2 + len && tcp_queue(c, hdr, wire, len, (size_t)done) < 0)
		tcp_conn_close(c);
}

/* ---- reading ---- */

static void tcp_on_idle(uv_timer_t *timer)
{
	struct tcp_conn *c = timer->data;
	SERVESTATS_INC(c->port->st->tcp_idle_closed);
	tcp_conn_close(c);
}

/* The idle clock stops while a query is held, and restarts at every complete query and every
 * finished write; partial frames do not restart it. So a client has tcp-idle-timeout to finish
 * a query, and one that stops reading its replies (writes never finish) is closed as idle too. */
static void tcp_arm_idle(struct tcp_conn *c)
{
	if (c->closing)
		return;
	if (c->inflight == 0)
		uv_timer_start(&c->timer, tcp_on_idle, c->port->t->lim.idle_ms, 0);
	else
		uv_timer_stop(&c->timer);
}

/* A frame that starts at p: its total size, or 0 while its length prefix is incomplete. */
static size_t tcp_frame_size(const uint8_t *p, size_t n)
{
	return n < 2 ? 0 : 2 + ((size_t)p[0] << 8 | p[1]);
}

/* Hands up the complete frames at p. Returns the bytes consumed: it stops at a partial frame,
 * while paused, or when the connection closes. */
static size_t tcp_process(struct tcp_conn *c, const uint8_t *p, size_t n)
{
	size_t used = 0, fs;

	c->processing = true;
	while (!c->closing && !tcp_paused(c) && (fs = tcp_frame_size(p + used, n - used)) > 0) {
		if (fs < 2 + DNS_HDR_LEN) {
			SERVESTATS_INC(c->port->st->malformed);
			tcp_conn_close(c);
			break;
		}
		if (fs > n - used)
			break;
		SERVESTATS_INC(c->port->st->tcp_queries);
		c->port->t->on_message(c->port->arg, c, (const struct sockaddr *)&c->peer,
				       p + used + 2, fs - 2);
		used += fs;
		tcp_arm_idle(c);
	}
	c->processing = false;
	return used;
}

static int tcp_keep(struct tcp_conn *c, const uint8_t *p, size_t n)
{
	if (n == 0 || c->closing)
		return 0;
	if (c->in_len + n > c->in_cap) {
		size_t cap = c->in_len + n;
		uint8_t *in = realloc(c->in, cap);
		if (!in)
			return -ENOMEM;
		c->in = in;
		c->in_cap = cap;
	}
	memcpy(c->in + c->in_len, p, n);
	c->in_len += n;
	return 0;
}

/* Processes the kept bytes, and lets go of the buffer once it is empty (idle clients are cheap). */
static void tcp_process_kept(struct tcp_conn *c)
{
	size_t used = tcp_process(c, c->in, c->in_len);

	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	if (c->in_len == 0) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

static void tcp_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tcp_conn *c = h->data;
	*buf = uv_buf_init((char *)c->port->t->rbuf, sizeof(c->port->t->rbuf));
}

static void tcp_update_reading(struct tcp_conn *c)
{
	bool want = !c->closing && !c->eof && !tcp_paused(c);

	if (want == c->reading)
		return;
	if (want && uv_read_start((uv_stream_t *)&c->handle, tcp_on_alloc, tcp_on_read) < 0) {
		tcp_conn_close(c);
		return;
	}
	if (!want)
		uv_read_stop((uv_stream_t *)&c->handle);
	c->reading = want;
}

/* Half-closed by the client: close once every reply owed is written. */
static void tcp_maybe_finish(struct tcp_conn *c)
{
	if (c->eof && !c->closing && c->inflight == 0 && c->writes == 0)
		tcp_conn_close(c);
}

static void tcp_on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *buf)
{
	struct tcp_conn *c = h->data;
	const uint8_t *p = (const uint8_t *)buf->base;
	int rc = 0;

	if (n == UV_EOF) {
		c->eof = true;
		tcp_update_reading(c);
		tcp_maybe_finish(c);
		return;
	}
	if (n < 0) {
		tcp_conn_close(c);
		return;
	}
	if (c->in_len == 0) {
		size_t used = tcp_process(c, p, (size_t)n);
		rc = tcp_keep(c, p + used, (size_t)n - used);
	} else if ((rc = tcp_keep(c, p, (size_t)n)) == 0) {
		tcp_process_kept(c);
	}
	if (rc < 0)
		tcp_conn_close(c);
	tcp_update_reading(c);
}

/* A reply was written or a held query ended: maybe resume reading and the backlog. */
static void tcp_after_drain(struct tcp_conn *c)
{
	if (c->closing)
		return;
	if (!c->processing && !tcp_paused(c) && c->in_len > 0)
		tcp_process_kept(c);
	tcp_update_reading(c);
	tcp_arm_idle(c);
	tcp_maybe_finish(c);
}

/* ---- accepting ---- */

static struct tcp_conn *tcp_conn_new(struct tcp_port *p)
{
	struct tcp *t = p->t;
	struct tcp_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->port = p;
	if (uv_tcp_init(t->loop, &c->handle) < 0) {
		free(c);
		return NULL;
	}
	uv_timer_init(t->loop, &c->timer);
	c->handle.data = c;
	c->timer.data = c;
	c->refs = 1;
	c->open_handles = 2;
	t->refs++;
	return c;
}

static void tcp_conn_list(struct tcp_conn *c)
{
	struct tcp *t = c->port->t;

	c->next = t->conns;
	if (t->conns)
		t->conns->prev = c;
	t->conns = c;
	c->listed = true;
	t->n_conns++;
}

static void tcp_log_cap(struct tcp *t, const struct tcp_port *p)
{
	unsigned long long left_out;

	if (!log_limit_pass(&t->cap_log, (int64_t)uv_now(t->loop), TCP_CAP_LOG_MS, &left_out))
		return;
	log_debug("server", "tcp connection limit %u reached on %s: closed %llu connection(s)",
		  t->lim.max_conns, p->name, left_out + 1);
}

/* Open connections from peer's /24 or /56. Linear: at most tcp-max-connections, per accept. */
static unsigned tcp_conns_from(const struct tcp *t, const struct sockaddr_storage *peer)
{
	unsigned n = 0;
	for (const struct tcp_conn *c = t->conns; c; c = c->next)
		n += rrl_same_prefix((const struct sockaddr *)&c->peer,
				     (const struct sockaddr *)peer);
	return n;
}

/* false: c was closed, one of the caps reached. */
static bool tcp_admit(struct tcp_port *p, struct tcp_conn *c)
{
	struct tcp *t = p->t;

	if (t->n_conns >= t->lim.max_conns) {
		SERVESTATS_INC(p->st->tcp_rejected);
		tcp_log_cap(t, p);
		tcp_conn_close(c);
		return false;
	}
	if (p->per_client && tcp_conns_from(t, &c->peer) >= p->per_client) {
		SERVESTATS_INC(p->st->tcp_rejected_client); /* one client cannot hold every slot */
		tcp_conn_close(c);
		return false;
	}
	return true;
}

static void tcp_on_connection(uv_stream_t *h, int status)
{
	struct tcp_port *p = h->data;
	struct tcp_conn *c;
	int len = sizeof(struct sockaddr_storage);

	if (status < 0 || p->t->closing || !(c = tcp_conn_new(p)))
		return;
	if (uv_accept(h, (uv_stream_t *)&c->handle) < 0 ||
	    uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->peer, &len) < 0) {
		tcp_conn_close(c);
		return;
	}
	if (!tcp_admit(p, c))
		return;
	SERVESTATS_INC(p->st->tcp_accepted);
	tcp_conn_list(c);
	tcp_update_reading(c);
	tcp_arm_idle(c);
}

int tcp_listen(struct tcp *t, int *fd, const char *name, unsigned per_client, struct servestats *st,
	       void *port)
{
	struct tcp_port *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return UV_ENOMEM;
	*p = (struct tcp_port){
		.t = t, .st = st, .name = name, .per_client = per_client, .arg = port};
	if ((rc = uv_tcp_init(t->loop, &p->handle)) < 0) {
		free(p);
		return rc;
	}
	p->handle.data = p;
	p->next = t->ports;
	t->ports = p;
	t->refs++;
	if ((rc = uv_tcp_open(&p->handle, *fd)) < 0)
		return rc;
	*fd = -1;
	return uv_listen((uv_stream_t *)&p->handle, LISTEN_BACKLOG, tcp_on_connection);
}

void tcp_close(struct tcp *t, void (*closed)(void *arg), void *arg)
{
	if (!t || t->closing)
		return;
	t->closing = true;
	t->closed = closed;
	t->closed_arg = arg;
	for (struct tcp_port *p = t->ports; p; p = p->next)
		uv_close((uv_handle_t *)&p->handle, tcp_port_on_close);
	while (t->conns)
		tcp_conn_close(t->conns);
	tcp_unref(t);
}

#include "resolver/serve/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "resolver/clock.h"
#include "resolver/config.h"
#include "resolver/dnstap.h"
#include "resolver/log.h"
#include "resolver/metrics.h"
#include "resolver/qlog.h"
#include "resolver/random.h"
#include "resolver/serve/forward.h"
#include "resolver/serve/fwdcache.h"
#include "resolver/serve/servestats.h"
#include "resolver/serve/snapstore.h"
#include "resolver/serve/steer.h"
#include "resolver/sync/sync.h"
#include "zones/base/hash.h"
#include "zones/dns/axfr.h"
#include "zones/dns/query.h"
#include "zones/dns/rrl.h"
#include "zones/dns/wire.h"
#include "zones/net/acl.h"
#include "zones/net/addr.h"

#define SERVER_UDP_RBUF       (16 * 65536) /* recvmmsg: up to 16 datagrams per system call */
#define SERVER_MSG_MAX        65535
#define SERVER_TCP_INFLIGHT   64           /* forwarded/fetching queries per connection */
#define SERVER_TCP_WQ_MAX     (256 * 1024) /* queued reply bytes before we stop reading */
#define SERVER_TCP_BACKLOG    1024         /* listen(2) backlog */
#define SERVER_TCP_PER_CLIENT 64           /* tcp-max-per-client auto, off loopback */
#define SERVER_CAP_LOG_MS     1000         /* at most one "connection limit" line per second */
#define SERVER_RRL_TC_MAX     512          /* a slipped reply: header and question */
#define SERVER_BATCH_MAX      64 /* replies per sendmmsg: libuv reads about 32 per loop turn */
#define SERVER_BATCH_BYTES    65536
#define SERVER_HANDOFF_MAX    4096 /* queries and notes waiting for the main loop */
#define SERVER_TOUCH_SLOTS    1024 /* per worker: services whose use was reported this second */

/* A reply sent in a batch: its metric is taken when the batch is flushed, with one clock read. */
struct server_obs {
	uint64_t t0;
	uint16_t qtype;
	uint8_t rcode;
};

/* The replies to one batch of datagrams, sent with one sendmmsg when the batch ends. */
struct udp_batch {
	unsigned n, n_obs;
	size_t used;
	struct mmsghdr msgs[SERVER_BATCH_MAX];
	struct iovec iov[SERVER_BATCH_MAX];
	struct sockaddr_storage peers[SERVER_BATCH_MAX];
	struct server_obs obs[SERVER_BATCH_MAX];
	uint8_t buf[SERVER_BATCH_BYTES];
};

struct worker;

/* Per address and loop: the UDP socket (and on the main loop the TCP listener), with the state of
 * its query path. With --threads N every worker has one per address, on the same address and
 * port through SO_REUSEPORT. */
struct listener {
	struct server *s;
	struct worker *w;             /* NULL: the main loop's */
	uv_loop_t *loop;              /* the loop its handles are on */
	const struct server_env *env; /* the server's, or the worker's copy */
	size_t index;                 /* of its listen address */
	uv_udp_t udp;
	uv_check_t flush; /* ends a batch that libuv stopped reading without an empty read */
	uv_tcp_t tcp;
	int udp_fd, tcp_fd;               /* until uv owns them */
	bool udp_init, tcp_init, closing; /* udp_init: flush too */
	bool in_batch;                    /* between the first datagram of a batch and its end */
	bool forwarded;                   /* the reply being sent came from an upstream */
	uint64_t rng[2];                  /* xorshift128+ */
	struct rrl *rrl;                  /* UDP response rate limit; NULL: none */
	unsigned tcp_per_client;          /* TCP connections per client /24 or /56; 0: no cap */
	uint64_t t0;                      /* uv_hrtime() when the query being answered arrived */
	int64_t now_ms;                   /* Unix ms, read once per batch */
	const struct snapshot *snap;      /* what the query being answered is answered from */
	struct servestats stats;
	char name[CONFIG_ADDR_LEN];
	struct udp_batch batch;
	uint8_t rbuf[SERVER_UDP_RBUF]; /* UDP receive and TCP read buffer, valid during a callback
					*/
	uint8_t out[SERVER_MSG_MAX];   /* reply being built, valid during a callback */
};

/* One TCP client. References: one while its handles are open, one per pending query. */
struct tcp_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct listener *l;
	struct tcp_conn *prev, *next; /* open connections of the server */
	struct sockaddr_storage peer;
	unsigned refs;
	int open_handles;
	unsigned inflight; /* forwarded or fetching queries */
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

struct udp_send {
	uv_udp_send_t req;
	struct listener *l;
	size_t len;
	uint8_t wire[];
};

/* A query waiting for the forwarder or the sync; holds a server and a connection reference. */
struct server_pending {
	struct listener *l;
	struct tcp_conn *c; /* NULL for UDP */
	struct sockaddr_storage peer;
	bool ra;
	uint8_t waits; /* for the sync so far: a name may need its zone's catalog, then its group's,
			  then its own fetch */
	bool tracked;  /* one of them waited for its service's fetch */
	uint64_t t0;   /* arrival, for the latency metric and the query log */
	size_t len;
	uint8_t query[]; /* fetch: the query, to answer again from the new snapshot */
};

/* What a worker hands to the main loop: a query to forward or to wait for a first fetch (answered
 * again there, and sent from the main loop's socket for the same address), or the use of a
 * service or a name missing from the catalog, for the sync, or a cached answer to refresh. */
enum server_handoff_kind {
	SERVER_HANDOFF_QUERY,
	SERVER_HANDOFF_TOUCH,
	SERVER_HANDOFF_MISS,
	SERVER_HANDOFF_REFRESH, /* a cached answer to refresh in the background */
};

struct server_handoff {
	struct server_handoff *next;
	enum server_handoff_kind kind;
	size_t listener; /* index of the listen address */
	struct sockaddr_storage peer;
	uint64_t t0;
	size_t len;
	uint8_t data[]; /* the query, or "namespace\0group\0service\0" */
};

/* The services a worker reported as used, by hash: at most one report per service per second. */
struct worker_touch {
	uint64_t hash;
	int64_t second;
};

/* One thread with its own loop and a SO_REUSEPORT UDP socket per listen address. */
struct worker {
	struct server *s;
	uv_loop_t loop;
	uv_async_t stop;
	uv_thread_t thread;
	uv_mutex_t lock;       /* env; the worker holds it for a batch */
	struct server_env env; /* a copy of the server's, with the worker's metrics shard */
	struct snapstore_reader *reader;
	struct metrics *metrics;
	struct listener **listeners;
	size_t n_listeners;
	bool loop_init, lock_init, stop_init, started;
	int64_t miss_second;
	struct worker_touch touched[SERVER_TOUCH_SLOTS];
};

struct server {
	uv_loop_t *loop;
	struct server_env env;
	unsigned tcp_idle_ms;
	unsigned tcp_max_conns;
	struct listener **listeners;
	size_t n_listeners;
	struct tcp_conn *conns;
	size_t n_conns;
	unsigned refs; /* owner + open handles + connections + pending queries */
	bool closing;
	struct log_limit cap_log;
	struct worker **workers; /* --threads N >= 2: N of them */
	size_t n_workers;
	/* Work only the main loop can do, queued by the workers. */
	uv_async_t handoff_async;
	uv_timer_t reclaim; /* frees the snapshots the workers were reading at a publish */
	bool handoff_init, reclaim_init;
	uv_mutex_t handoff_lock;
	struct server_handoff *handoff_head, **handoff_tail;
	size_t n_handoff;
};

static void tcp_conn_close(struct tcp_conn *c);
static void tcp_after_drain(struct tcp_conn *c);
static void tcp_on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *buf);

/* ---- small helpers ---- */

static uint64_t server_rand(uint64_t st[2])
{
	uint64_t x = st[0], y = st[1];
	st[0] = y;
	x ^= x << 23;
	st[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
	return st[1] + y;
}

static void listener_free(struct listener *l);

static void server_unref(struct server *s)
{
	if (--s->refs > 0)
		return;
	for (size_t i = 0; i < s->n_listeners; i++)
		listener_free(s->listeners[i]);
	while (s->handoff_head) {
		struct server_handoff *h = s->handoff_head;
		s->handoff_head = h->next;
		free(h);
	}
	uv_mutex_destroy(&s->handoff_lock);
	free(s->listeners);
	free(s);
}

static void server_on_handle_close(uv_handle_t *h)
{
	struct listener *l = h->data;
	server_unref(l->s);
}

/* ---- replies ---- */

static void server_count_reply(struct listener *l, const uint8_t *wire, size_t len)
{
	servestats_count_reply(&l->stats, wire, len);
}

static void udp_on_send(uv_udp_send_t *req, int status)
{
	struct udp_send *u = req->data;
	if (status < 0)
		SERVESTATS_INC(u->l->stats.send_errors);
	free(u);
}

/* Response rate limiting. false: drop the reply; a slipped one is rewritten into tc. */
static bool udp_rate_limit(struct listener *l, const struct sockaddr *peer, const uint8_t **wire,
			   size_t *len, uint8_t tc[SERVER_RRL_TC_MAX])
{
	enum rrl_action a = rrl_check(l->rrl, peer, uv_now(l->loop));
	size_t n = *len < SERVER_RRL_TC_MAX ? *len : SERVER_RRL_TC_MAX;

	if (a == RRL_SEND)
		return true;
	metrics_count_rate_limited(l->env->metrics);
	if (a == RRL_SLIP) {
		memcpy(tc, *wire, n);
		if ((n = rrl_slip_reply(tc, n)) > 0) {
			SERVESTATS_INC(l->stats.rrl_slipped);
			*wire = tc;
			*len = n;
			return true;
		}
	}
	SERVESTATS_INC(l->stats.rrl_dropped);
	return false;
}

/* Sends now, or (socket buffer full) queues a copy that libuv sends when the socket is
 * writable. */
static void udp_send_now(struct listener *l, const struct sockaddr *peer, const uint8_t *wire,
			 size_t len)
{
	uv_buf_t buf = uv_buf_init((char *)wire, (unsigned)len);
	int rc = uv_udp_try_send(&l->udp, &buf, 1, peer);

	if (rc >= 0) {
		server_count_reply(l, wire, len);
		return;
	}
	if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
		SERVESTATS_INC(l->stats.send_errors);
		return;
	}
	struct udp_send *u = malloc(sizeof(*u) + len);
	if (!u) {
		SERVESTATS_INC(l->stats.send_errors);
		return;
	}
	u->req.data = u;
	u->l = l;
	u->len = len;
	memcpy(u->wire, wire, len);
	buf = uv_buf_init((char *)u->wire, (unsigned)len);
	if (uv_udp_send(&u->req, &l->udp, &buf, 1, peer, udp_on_send) < 0) {
		SERVESTATS_INC(l->stats.send_errors);
		free(u);
		return;
	}
	server_count_reply(l, wire, len);
}

/* Sends the batch with as few sendmmsg calls as the socket allows. When its buffer is full, the
 * rest goes through libuv's queue; a reply the kernel refuses is counted and skipped. */
static void udp_batch_flush(struct listener *l)
{
	struct udp_batch *b = &l->batch;
	unsigned i = 0;
	int fd = -1;

	if (b->n > 0 && uv_fileno((const uv_handle_t *)&l->udp, &fd) < 0)
		fd = -1;
	while (i < b->n) {
		int r = fd < 0 ? -1 : sendmmsg(fd, b->msgs + i, b->n - i, 0);
		if (r > 0) {
			for (unsigned k = i; k < i + (unsigned)r; k++)
				server_count_reply(l, b->iov[k].iov_base, b->iov[k].iov_len);
			i += (unsigned)r;
		} else if (r < 0 && errno == EINTR) {
			continue;
		} else if (fd >= 0 && r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			SERVESTATS_INC(l->stats.send_errors);
			i++;
		} else {
			for (; i < b->n; i++)
				udp_send_now(l, (const struct sockaddr *)&b->peers[i],
					     b->iov[i].iov_base, b->iov[i].iov_len);
		}
	}
	b->n = 0;
	b->used = 0;
}

/* Queues a reply for the batch's sendmmsg. false: too big for the batch buffer. */
static bool udp_batch_add(struct listener *l, const struct sockaddr *peer, const uint8_t *wire,
			  size_t len)
{
	struct udp_batch *b = &l->batch;
	socklen_t sl = (socklen_t)addr_len(peer);

	if (len > sizeof(b->buf))
		return false;
	if (b->n == SERVER_BATCH_MAX || len > sizeof(b->buf) - b->used)
		udp_batch_flush(l);
	memcpy(b->buf + b->used, wire, len);
	memcpy(&b->peers[b->n], peer, sl);
	b->iov[b->n] = (struct iovec){.iov_base = b->buf + b->used, .iov_len = len};
	b->msgs[b->n] = (struct mmsghdr){.msg_hdr = {.msg_name = &b->peers[b->n],
						     .msg_namelen = sl,
						     .msg_iov = &b->iov[b->n],
						     .msg_iovlen = 1}};
	b->used += len;
	b->n++;
	return true;
}

static void udp_send(struct listener *l, const struct sockaddr *peer, const uint8_t *wire,
		     size_t len)
{
	uint8_t tc[SERVER_RRL_TC_MAX];

	if (!udp_rate_limit(l, peer, &wire, &len, tc))
		return;
	if (l->in_batch && udp_batch_add(l, peer, wire, len))
		return;
	udp_send_now(l, peer, wire, len);
}

static bool tcp_paused(const struct tcp_conn *c)
{
	return c->inflight >= SERVER_TCP_INFLIGHT || c->write_bytes >= SERVER_TCP_WQ_MAX;
}

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
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, tcp_on_write) < 0) {
		free(w);
		return -EIO;
	}
	c->writes++;
	c->write_bytes += total;
	return 0;
}

/* Writes now when nothing is queued (no copy), else queues behind the earlier replies. */
static void tcp_send(struct tcp_conn *c, const uint8_t *wire, size_t len)
{
	uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
	int done = 0;

	if (c->closing)
		return;
	if (c->writes == 0) {
		uv_buf_t bufs[2] = {uv_buf_init((char *)hdr, 2),
				    uv_buf_init((char *)wire, (unsigned)len)};
		done = uv_try_write((uv_stream_t *)&c->tcp, bufs, 2);
		if (done == UV_EAGAIN || done == UV_ENOSYS)
			done = 0;
		if (done < 0) {
			tcp_conn_close(c);
			return;
		}
	}
	server_count_reply(c->l, wire, len);
	if ((size_t)done < 2 + len && tcp_queue(c, hdr, wire, len, (size_t)done) < 0)
		tcp_conn_close(c);
}

/* The question type of a reply that echoes its question, or 0. */
static uint16_t server_reply_qtype(const uint8_t *wire, size_t len)
{
	size_t end = wire_question_end(wire, len);

	return end ? wire_qtype(wire, end) : 0;
}

/* Metrics and the query log of one reply. A UDP reply in a batch is timed when the batch is sent,
 * so a batch reads the clock twice rather than twice per query (the query log times each). */
static void server_observe(struct listener *l, bool tcp, const struct sockaddr *peer,
			   const uint8_t *wire, size_t len)
{
	const struct server_env *env = l->env;
	struct udp_batch *b = &l->batch;
	uint16_t qtype;
	uint64_t usec;

	dnstap_client(env->dnstap, true, peer, l->name, tcp, wire, len);
	if (len < DNS_HDR_LEN || (!env->metrics && !env->query_log))
		return;
	qtype = server_reply_qtype(wire, len);
	if (!tcp && l->in_batch && !env->query_log && !l->forwarded &&
	    b->n_obs < SERVER_BATCH_MAX) {
		b->obs[b->n_obs++] = (struct server_obs){l->t0, qtype, (uint8_t)(wire_rcode(wire))};
		return;
	}
	usec = (uv_hrtime() - l->t0) / 1000;
	metrics_observe_reply(env->metrics, qtype, tcp, wire_rcode(wire), l->forwarded, usec);
	if (env->query_log)
		qlog_reply(peer, tcp, wire, len, usec);
}

static void server_observe_batch(struct listener *l)
{
	struct udp_batch *b = &l->batch;
	uint64_t now;

	if (b->n_obs == 0)
		return;
	now = uv_hrtime();
	for (unsigned i = 0; i < b->n_obs; i++)
		metrics_observe_reply(l->env->metrics, b->obs[i].qtype, false, b->obs[i].rcode,
				      false, (now - b->obs[i].t0) / 1000);
	b->n_obs = 0;
}

static void server_send(struct listener *l, struct tcp_conn *c, const struct sockaddr *peer,
			const uint8_t *wire, size_t len)
{
	server_observe(l, c != NULL, peer, wire, len);
	if (c)
		tcp_send(c, wire, len);
	else
		udp_send(l, peer, wire, len);
}

/* ---- the query path ---- */

static void server_query_init(struct listener *l, struct query_info *qi,
			      const struct sockaddr *peer, bool tcp)
{
	memset(qi, 0, sizeof(*qi));
	qi->tcp = tcp;
	/* the client's address, not its port, so a client keeps its hash across queries */
	qi->client_hash =
		peer->sa_family == AF_INET6
			? hash_fnv32(HASH_FNV32_INIT,
				     ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr, 16)
			: hash_fnv32(HASH_FNV32_INIT, &((const struct sockaddr_in *)peer)->sin_addr,
				     4);
	qi->random = server_rand(l->rng);
	qi->now_ms = l->now_ms;
}

static struct server_pending *server_pending_new(struct listener *l, struct tcp_conn *c,
						 const struct sockaddr *peer, bool ra,
						 const uint8_t *query, size_t len)
{
	struct server_pending *p = malloc(sizeof(*p) + len);

	if (!p)
		return NULL;
	p->l = l;
	p->c = c;
	memset(&p->peer, 0, sizeof(p->peer));
	memcpy(&p->peer, peer, addr_len(peer));
	p->ra = ra;
	p->waits = 0;
	p->tracked = false;
	p->t0 = l->t0;
	p->len = len;
	if (len)
		memcpy(p->query, query, len);
	l->s->refs++;
	if (c) {
		c->refs++;
		c->inflight++;
	}
	return p;
}

static void tcp_conn_unref(struct tcp_conn *c);

static void server_pending_free(struct server_pending *p)
{
	struct server *s = p->l->s;
	struct tcp_conn *c = p->c;

	free(p);
	if (c) {
		c->inflight--;
		tcp_after_drain(c);
		tcp_conn_unref(c);
	}
	server_unref(s);
}

/* Whether the pending query's client can still be answered. */
static bool server_pending_live(const struct server_pending *p)
{
	return !p->l->s->closing && !(p->c && p->c->closing);
}

static void server_on_forward(void *arg, const uint8_t *reply, size_t len)
{
	struct server_pending *p = arg;
	struct listener *l = p->l;

	if (reply && len >= DNS_HDR_LEN && len <= sizeof(l->out) && server_pending_live(p)) {
		l->t0 = p->t0;
		memcpy(l->out, reply, len);
		if (p->ra)
			wire_set_ra(l->out);
		l->forwarded = true;
		server_send(l, p->c, (const struct sockaddr *)&p->peer, l->out, len);
		l->forwarded = false;
	}
	server_pending_free(p);
}

static void server_patch_rcode(uint8_t *wire, size_t len, uint8_t rcode)
{
	if (len >= 4)
		wire_set_rcode(wire, rcode);
}

/* Outside every zone: forward when this client may recurse, else the REFUSED in out. */
static void server_handle_outside(struct listener *l, struct tcp_conn *c,
				  const struct sockaddr *peer, bool ra, const struct query_info *qi,
				  const uint8_t *in, size_t len, size_t out_len)
{
	struct server *s = l->s;

	if (ra && wire_rd(in)) {
		size_t max_reply = c ? SERVER_MSG_MAX : qi->client_udp;
		struct server_pending *p = server_pending_new(l, c, peer, ra, NULL, 0);
		int rc = !p             ? -ENOMEM
			 : s->env.cache ? fwdcache_query(s->env.cache, s->env.forward, in, len,
							 max_reply, server_on_forward, p)
					: forward_query(s->env.forward, in, len, max_reply,
							server_on_forward, p);
		if (rc == 0) {
			SERVESTATS_INC(l->stats.forwarded);
			return;
		}
		if (p)
			server_pending_free(p);
		if (forward_refusal(s->env.forward, rc, in, len, l->out, sizeof(l->out), &out_len) <
		    0)
			server_patch_rcode(l->out, out_len, DNS_RCODE_SERVFAIL);
	}
	server_send(l, c, peer, l->out, out_len);
}

#define SERVER_MAX_WAITS 3

static void server_on_fetched(void *arg, const struct snapshot *snap, bool absent);

/* Starts p's wait for what the sync must do before qi's question (read from snap) can be
 * answered. 0, or <0 when p is not waiting. */
static int server_wait(struct server_pending *p, const struct query_info *qi,
		       const struct snapshot *snap)
{
	struct sync *sync = p->l->s->env.sync;
	struct query_miss m;

	if (p->waits >= SERVER_MAX_WAITS || (qi->service_name && p->tracked))
		return -EAGAIN;
	p->waits++;
	if (qi->service_name) {
		p->tracked = true;
		return sync_track(sync, qi->service_namespace, qi->service_group, qi->service_name,
				  server_on_fetched, p);
	}
	if (query_miss(snap, p->query, p->len, &m) < 0)
		return -EINVAL;
	return sync_wait_miss(sync, &m, server_on_fetched, p);
}

static void server_on_fetched(void *arg, const struct snapshot *snap, bool absent)
{
	struct server_pending *p = arg;
	struct listener *l = p->l;
	const struct sockaddr *peer = (const struct sockaddr *)&p->peer;
	struct query_info qi;
	size_t out_len = 0;

	if (server_pending_live(p)) {
		const struct snapshot *from = snap ? snap : snapstore_get(l->s->env.registry);
		l->t0 = p->t0;
		l->now_ms = clock_wall_ms();
		server_query_init(l, &qi, peer, p->c != NULL);
		qi.settled = absent;
		int st =
			query_answer(from, &qi, p->query, p->len, l->out, sizeof(l->out), &out_len);
		if (st == QUERY_FETCH && server_wait(p, &qi, from) == 0)
			return;
		/* Still not settled (timeout, Nacos down): out holds the SERVFAIL. */
		if (st != QUERY_DROP) {
			if (p->ra)
				wire_set_ra(l->out);
			server_send(l, p->c, peer, l->out, out_len);
		}
	}
	server_pending_free(p);
}

/* A catalog service not fetched yet, or a name only the sync can settle: answer once the sync
 * has done what it needs, else the SERVFAIL in out. */
static void server_handle_fetch(struct listener *l, struct tcp_conn *c, const struct sockaddr *peer,
				bool ra, const struct query_info *qi, const uint8_t *in, size_t len,
				size_t out_len)
{
	uint8_t keep[QUERY_COMPACT_MAX];
	size_t keep_len = query_compact(in, len, keep);

	if (l->env->sync && keep_len) {
		/* Only what the answer depends on waits: 10,000 waiters of padded 64 KiB TCP
		 * queries would otherwise hold 640 MB. */
		struct server_pending *p = server_pending_new(l, c, peer, ra, keep, keep_len);
		if (p && server_wait(p, qi, l->snap) == 0) {
			if (qi->service_name)
				SERVESTATS_INC(l->stats.fetched);
			return;
		}
		if (p)
			server_pending_free(p);
	}
	server_send(l, c, peer, l->out, out_len);
}

static int server_on_axfr_msg(void *arg, const uint8_t *wire, size_t len)
{
	struct tcp_conn *c = arg;

	if (c->closing)
		return -EPIPE;
	tcp_send(c, wire, len);
	return 0;
}

/* AXFR (RFC 5936): over TCP to clients in allow-transfer; REFUSED over UDP and to others,
 * NOTAUTH for a name that is no zone apex. */
static void server_handle_axfr(struct listener *l, struct tcp_conn *c, const struct sockaddr *peer,
			       const uint8_t *in, size_t len)
{
	const struct server_env *env = l->env;
	bool allowed = c && acl_match(env->allow_transfer, peer);
	uint8_t rcode = DNS_RCODE_REFUSED;
	int n, rc;

	metrics_count_axfr(env->metrics, allowed);
	if (allowed) {
		rc = axfr_transfer(snapstore_get(env->registry), in, len, clock_wall_ms(),
				   server_on_axfr_msg, c);
		if (rc == 0) {
			server_observe(l, true, peer, in, len); /* counted once, as a NOERROR */
			return;
		}
		rcode = rc == -ENOENT ? DNS_RCODE_NOTAUTH : DNS_RCODE_SERVFAIL;
		if (rc == -EAGAIN)
			log_info("server", "zone transfer refused until the catalog is listed");
		else if (rc != -ENOENT)
			log_warn("server", "zone transfer failed: %s", strerror(-rc));
	}
	if ((n = axfr_error(in, len, rcode, l->out, sizeof(l->out))) < 0) {
		SERVESTATS_INC(l->stats.dropped);
		return;
	}
	server_send(l, c, peer, l->out, (size_t)n);
}

/* ---- handing work to the main loop ---- */

/* Queues h for the main loop; frees it when the queue is full. */
static bool server_handoff_push(struct server *s, struct server_handoff *h)
{
	bool queued;

	uv_mutex_lock(&s->handoff_lock);
	queued = s->n_handoff < SERVER_HANDOFF_MAX;
	if (queued) {
		h->next = NULL;
		*s->handoff_tail = h;
		s->handoff_tail = &h->next;
		s->n_handoff++;
	}
	uv_mutex_unlock(&s->handoff_lock);
	if (!queued) {
		free(h);
		return false;
	}
	uv_async_send(&s->handoff_async);
	return true;
}

static void worker_handoff(struct listener *l, enum server_handoff_kind kind,
			   const struct sockaddr *peer, const uint8_t *data, size_t len)
{
	struct server_handoff *h = malloc(sizeof(*h) + len);

	if (h) {
		memset(h, 0, sizeof(*h));
		h->kind = kind;
		h->listener = l->index;
		if (peer)
			memcpy(&h->peer, peer, addr_len(peer));
		h->t0 = l->t0;
		h->len = len;
		if (len)
			memcpy(h->data, data, len);
	}
	if ((!h || !server_handoff_push(l->s, h)) && kind == SERVER_HANDOFF_QUERY)
		SERVESTATS_INC(l->stats.dropped);
}

/* The sync hears of a service's use at most once a second per worker: it only keeps it tracked. */
static void worker_touch(struct listener *l, const struct query_info *qi)
{
	uint64_t h = HASH_FNV64_INIT;
	int64_t second = l->now_ms / 1000;
	char names[3 * 256];
	int n;

	h = hash_fnv64_str(
		hash_fnv64_str(hash_fnv64_str(h, qi->service_namespace), qi->service_group),
		qi->service_name);
	struct worker_touch *t = &l->w->touched[h % SERVER_TOUCH_SLOTS];
	if (t->hash == h && t->second == second)
		return;
	n = snprintf(names, sizeof(names), "%s%c%s%c%s", qi->service_namespace, '\0',
		     qi->service_group, '\0', qi->service_name);
	if (n < 0 || (size_t)n >= sizeof(names))
		return;
	t->hash = h;
	t->second = second;
	worker_handoff(l, SERVER_HANDOFF_TOUCH, NULL, (const uint8_t *)names, (size_t)n + 1);
}

static void worker_catalog_miss(struct listener *l)
{
	int64_t second = l->now_ms / 1000;

	if (l->w->miss_second == second)
		return;
	l->w->miss_second = second;
	worker_handoff(l, SERVER_HANDOFF_MISS, NULL, NULL, 0);
}

/* Tells the sync which service an answer came from, or that a zone name was missing. */
static void server_note_use(struct listener *l, const struct query_info *qi)
{
	struct sync *sync = l->env->sync;

	if (!sync)
		return;
	if (qi->service_name) {
		if (l->w)
			worker_touch(l, qi);
		else
			sync_touch(sync, qi->service_namespace, qi->service_group,
				   qi->service_name);
	} else if (qi->rcode == DNS_RCODE_NXDOMAIN) { /* in a zone: the catalog may be behind */
		if (l->w)
			worker_catalog_miss(l);
		else
			sync_catalog_miss(sync);
	}
}

/* A name outside the zones answered from the forward cache on this thread, the way a zone name is
 * answered: false on a miss. A hit that is due for a refresh hands that to the main loop. */
static bool server_answer_cached(struct listener *l, struct tcp_conn *c,
				 const struct sockaddr *peer, const struct query_info *qi,
				 const uint8_t *in, size_t len)
{
	struct fwdcache *fc = l->env->cache;
	size_t out_len = 0;
	bool refresh = false;

	if (!fc)
		return false;
	enum fwdcache_result r = fwdcache_lookup(fc, in, len, qi, (int64_t)(l->t0 / 1000000),
						 l->out, sizeof(l->out), &out_len, &refresh);
	if (r == FWDCACHE_MISS)
		return false; /* counted where it is forwarded */
	SERVESTATS_INC(l->stats.cache_hits);
	if (r == FWDCACHE_STALE)
		SERVESTATS_INC(l->stats.cache_stale);
	if (refresh && l->w)
		worker_handoff(l, SERVER_HANDOFF_REFRESH, NULL, in, len);
	else if (refresh && l->s->env.forward)
		fwdcache_refresh(fc, l->s->env.forward, in, len);
	wire_set_ra(l->out); /* RA: only clients allowed to recurse get here */
	server_send(l, c, peer, l->out, out_len);
	return true;
}

/* Forwarding, first fetches and zone transfers happen on the main loop. */
static bool server_needs_main(const struct listener *l, int st, bool ra,
			      const struct query_info *qi, const uint8_t *in)
{
	if (!l->w)
		return false;
	if (st == QUERY_OUTSIDE)
		return ra && wire_rd(in);
	return st == QUERY_FETCH && l->env->sync;
}

/* One DNS message from a client (c == NULL: UDP). The caller has set t0, now_ms and snap. */
static void server_handle_query(struct listener *l, struct tcp_conn *c, const struct sockaddr *peer,
				const uint8_t *in, size_t len)
{
	const struct server_env *env = l->env;
	struct query_info qi;
	size_t out_len = 0;

	if (axfr_is_request(in, len)) {
		if (l->w)
			worker_handoff(l, SERVER_HANDOFF_QUERY, peer, in, len);
		else
			server_handle_axfr(l, c, peer, in, len);
		return;
	}
	server_query_init(l, &qi, peer, c != NULL);
	int st = query_answer(l->snap, &qi, in, len, l->out, sizeof(l->out), &out_len);
	if (st == QUERY_DROP || out_len < DNS_HDR_LEN || out_len > sizeof(l->out)) {
		SERVESTATS_INC(l->stats.dropped);
		return;
	}
	bool ra = env->forward && acl_match(env->allow_recursion, peer);
	if (st == QUERY_OUTSIDE && ra && wire_rd(in) &&
	    server_answer_cached(l, c, peer, &qi, in, len))
		return;
	if (server_needs_main(l, st, ra, &qi, in)) {
		worker_handoff(l, SERVER_HANDOFF_QUERY, peer, in, len);
		return;
	}
	if (ra)
		wire_set_ra(l->out);
	if (st == QUERY_OUTSIDE) {
		server_handle_outside(l, c, peer, ra, &qi, in, len, out_len);
		return;
	}
	if (st == QUERY_FETCH) {
		server_handle_fetch(l, c, peer, ra, &qi, in, len, out_len);
		return;
	}
	server_note_use(l, &qi);
	server_send(l, c, peer, l->out, out_len);
}

/* A message answered on its own on the main loop (TCP, handed over): fresh clock and snapshot. */
static void listener_stamp(struct listener *l)
{
	l->t0 = uv_hrtime();
	l->now_ms = clock_wall_ms();
	l->snap = snapstore_get(l->env->registry);
}

static void server_take_handoff(struct server *s, struct server_handoff *h)
{
	const char *ns = (const char *)h->data;
	const char *group = h->len ? ns + strlen(ns) + 1 : NULL;
	const char *name = group ? group + strlen(group) + 1 : NULL;

	switch (h->kind) {
	case SERVER_HANDOFF_QUERY:
		listener_stamp(s->listeners[h->listener]);
		s->listeners[h->listener]->t0 = h->t0;
		server_handle_query(s->listeners[h->listener], NULL,
				    (const struct sockaddr *)&h->peer, h->data, h->len);
		break;
	case SERVER_HANDOFF_TOUCH:
		if (s->env.sync)
			sync_touch(s->env.sync, ns, group, name);
		break;
	case SERVER_HANDOFF_MISS:
		if (s->env.sync)
			sync_catalog_miss(s->env.sync);
		break;
	case SERVER_HANDOFF_REFRESH:
		if (s->env.cache)
			fwdcache_refresh(s->env.cache, s->env.forward, h->data, h->len);
		break;
	}
}

static void server_on_handoff(uv_async_t *a)
{
	struct server *s = a->data;
	struct server_handoff *h, *next;

	uv_mutex_lock(&s->handoff_lock);
	h = s->handoff_head;
	s->handoff_head = NULL;
	s->handoff_tail = &s->handoff_head;
	s->n_handoff = 0;
	uv_mutex_unlock(&s->handoff_lock);
	for (; h; h = next) {
		next = h->next;
		if (!s->closing)
			server_take_handoff(s, h);
		free(h);
	}
}

/* ---- UDP ---- */

/* A batch is what libuv reads in one turn of the loop, until the socket is empty (several
 * recvmmsg calls, as datagrams keep arriving) or libuv has read its share: the clock is read, the
 * snapshot entered and a worker's env locked once for all of it, and its replies go out in one
 * sendmmsg at the end, not one per recvmmsg (a few datagrams each at a high rate). */
static void listener_batch_begin(struct listener *l)
{
	l->in_batch = true;
	l->t0 = uv_hrtime();
	l->now_ms = clock_wall_ms();
	if (l->w) {
		uv_mutex_lock(&l->w->lock);
		l->snap = snapstore_reader_enter(l->w->reader);
	} else {
		l->snap = snapstore_get(l->env->registry);
	}
}

static void listener_batch_end(struct listener *l)
{
	udp_batch_flush(l);
	server_observe_batch(l);
	l->in_batch = false;
	l->snap = NULL;
	if (l->w) {
		snapstore_reader_leave(l->w->reader);
		uv_mutex_unlock(&l->w->lock);
	}
}

static void udp_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct listener *l = h->data;
	*buf = uv_buf_init((char *)l->rbuf, sizeof(l->rbuf));
}

/* With UV_UDP_RECVMMSG libuv calls this once per datagram (UV_UDP_MMSG_CHUNK), then once with
 * n == 0 and no peer (UV_UDP_MMSG_FREE) when one recvmmsg's datagrams are done, and reads again;
 * with n == 0, no peer and no flag when there is nothing more to read. That (or an error) ends
 * the batch; when libuv stops reading before, the loop's check phase ends it. */
static void udp_on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *peer,
			unsigned flags)
{
	struct listener *l = h->data;

	if (n < 0 || !peer) {
		if (l->in_batch && !(flags & UV_UDP_MMSG_FREE))
			listener_batch_end(l);
		return;
	}
	if (l->closing)
		return;
	if (!l->in_batch)
		listener_batch_begin(l);
	SERVESTATS_INC(l->stats.udp_queries);
	if ((flags & UV_UDP_PARTIAL) || n < DNS_HDR_LEN)
		SERVESTATS_INC(l->stats.malformed);
	else {
		dnstap_client(l->env->dnstap, false, peer, l->name, false,
			      (const uint8_t *)buf->base, (size_t)n);
		server_handle_query(l, NULL, peer, (const uint8_t *)buf->base, (size_t)n);
	}
}

static void udp_on_check(uv_check_t *c)
{
	struct listener *l = c->data;
	if (l->in_batch)
		listener_batch_end(l);
}

/* ---- TCP connections ---- */

static void tcp_conn_free(struct tcp_conn *c)
{
	struct server *s = c->l->s;
	free(c->in);
	free(c);
	server_unref(s);
}

static void tcp_conn_unref(struct tcp_conn *c)
{
	if (--c->refs == 0)
		tcp_conn_free(c);
}

static void tcp_on_close(uv_handle_t *h)
{
	struct tcp_conn *c = h->data;
	if (--c->open_handles == 0)
		tcp_conn_unref(c);
}

static void tcp_conn_close(struct tcp_conn *c)
{
	struct server *s = c->l->s;

	if (c->closing)
		return;
	c->closing = true;
	if (c->listed) {
		if (c->prev)
			c->prev->next = c->next;
		else
			s->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		s->n_conns--;
		c->listed = false;
	}
	uv_close((uv_handle_t *)&c->tcp, tcp_on_close);
	uv_close((uv_handle_t *)&c->timer, tcp_on_close);
}

static void tcp_on_idle(uv_timer_t *t)
{
	struct tcp_conn *c = t->data;
	SERVESTATS_INC(c->l->stats.tcp_idle_closed);
	tcp_conn_close(c);
}

/* The idle clock stops while a query waits for the forwarder or the sync, and restarts at every
 * complete query and every finished write; partial frames do not restart it. So a client has
 * tcp-idle-timeout to finish a query, and one that stops reading its replies (writes never
 * finish) is closed as idle too. */
static void tcp_arm_idle(struct tcp_conn *c)
{
	if (c->closing)
		return;
	if (c->inflight == 0)
		uv_timer_start(&c->timer, tcp_on_idle, c->l->s->tcp_idle_ms, 0);
	else
		uv_timer_stop(&c->timer);
}

/* A frame that starts at p: its total size, or 0 while its length prefix is incomplete. */
static size_t tcp_frame_size(const uint8_t *p, size_t n)
{
	return n < 2 ? 0 : 2 + ((size_t)p[0] << 8 | p[1]);
}

/* Answers the complete frames at p. Returns the bytes consumed: it stops at a partial frame,
 * while paused, or when the connection closes. */
static size_t tcp_process(struct tcp_conn *c, const uint8_t *p, size_t n)
{
	size_t used = 0, fs;

	c->processing = true;
	while (!c->closing && !tcp_paused(c) && (fs = tcp_frame_size(p + used, n - used)) > 0) {
		if (fs < 2 + DNS_HDR_LEN) {
			SERVESTATS_INC(c->l->stats.malformed);
			tcp_conn_close(c);
			break;
		}
		if (fs > n - used)
			break;
		SERVESTATS_INC(c->l->stats.tcp_queries);
		listener_stamp(c->l);
		dnstap_client(c->l->env->dnstap, false, (const struct sockaddr *)&c->peer,
			      c->l->name, true, p + used + 2, fs - 2);
		server_handle_query(c->l, c, (const struct sockaddr *)&c->peer, p + used + 2,
				    fs - 2);
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
	*buf = uv_buf_init((char *)c->l->rbuf, sizeof(c->l->rbuf));
}

static void tcp_update_reading(struct tcp_conn *c)
{
	bool want = !c->closing && !c->eof && !tcp_paused(c);

	if (want == c->reading)
		return;
	if (want && uv_read_start((uv_stream_t *)&c->tcp, tcp_on_alloc, tcp_on_read) < 0) {
		tcp_conn_close(c);
		return;
	}
	if (!want)
		uv_read_stop((uv_stream_t *)&c->tcp);
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

/* A reply was written or a pending query ended: maybe resume reading and the backlog. */
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

static struct tcp_conn *tcp_conn_new(struct listener *l)
{
	struct server *s = l->s;
	struct tcp_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->l = l;
	if (uv_tcp_init(s->loop, &c->tcp) < 0) {
		free(c);
		return NULL;
	}
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->refs = 1;
	c->open_handles = 2;
	s->refs++;
	return c;
}

static void tcp_conn_list(struct tcp_conn *c)
{
	struct server *s = c->l->s;

	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	c->listed = true;
	s->n_conns++;
}

static void server_log_cap(struct server *s, struct listener *l)
{
	unsigned long long left_out;

	if (!log_limit_pass(&s->cap_log, (int64_t)uv_now(s->loop), SERVER_CAP_LOG_MS, &left_out))
		return;
	log_debug("server", "tcp connection limit %u reached on %s: closed %llu connection(s)",
		  s->tcp_max_conns, l->name, left_out + 1);
}

/* Open connections from peer's /24 or /56. Linear: at most tcp-max-connections, per accept. */
static unsigned tcp_conns_from(const struct server *s, const struct sockaddr_storage *peer)
{
	unsigned n = 0;
	for (const struct tcp_conn *c = s->conns; c; c = c->next)
		n += rrl_same_prefix((const struct sockaddr *)&c->peer,
				     (const struct sockaddr *)peer);
	return n;
}

static void tcp_on_connection(uv_stream_t *h, int status)
{
	struct listener *l = h->data;
	struct server *s = l->s;
	struct tcp_conn *c;
	int len = sizeof(struct sockaddr_storage);

	if (status < 0 || s->closing || !(c = tcp_conn_new(l)))
		return;
	if (uv_accept(h, (uv_stream_t *)&c->tcp) < 0 ||
	    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &len) < 0) {
		tcp_conn_close(c);
		return;
	}
	if (s->n_conns >= s->tcp_max_conns) {
		SERVESTATS_INC(l->stats.tcp_rejected);
		server_log_cap(s, l);
		tcp_conn_close(c);
		return;
	}
	if (l->tcp_per_client && tcp_conns_from(s, &c->peer) >= l->tcp_per_client) {
		SERVESTATS_INC(
			l->stats.tcp_rejected_client); /* one client cannot hold every slot */
		tcp_conn_close(c);
		return;
	}
	SERVESTATS_INC(l->stats.tcp_accepted);
	tcp_conn_list(c);
	tcp_update_reading(c);
	tcp_arm_idle(c);
}

/* ---- setup and teardown ---- */

/* A bound socket of type (and listening, for TCP). reuseport: one of a SO_REUSEPORT group, where
 * the kernel spreads the datagrams over the sockets by their addresses and ports. fd, or a
 * negative errno. */
static int server_socket(const struct sockaddr *sa, int type, bool reuseport)
{
	int one = 1, fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if ((sa->sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    (type == SOCK_STREAM &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, sa, (socklen_t)addr_len(sa)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, SERVER_TCP_BACKLOG) < 0)) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* A per-listener number from the config: N, or with "auto" dflt off loopback and 0 on it. */
static int listener_auto(const char *value, const struct sockaddr_storage *ss, unsigned dflt,
			 unsigned *out)
{
	*out = (unsigned)strtoul(value, NULL, 10); /* validated by config */
	if (strcmp(value, "auto") != 0)
		return 0;
	*out = rrl_addr_is_loopback((const struct sockaddr *)ss) ? 0 : dflt;
	return 0;
}

/* Rate limit of one listener: rrl-rate, or with "auto" RRL_DEFAULT_RATE off loopback. */
static int listener_rrl_init(struct listener *l, const struct config *cfg,
			     const struct sockaddr_storage *ss)
{
	unsigned rate;

	if (listener_auto(cfg->rrl_rate, ss, RRL_DEFAULT_RATE, &rate) < 0)
		return -EINVAL;
	if (rate == 0)
		return 0;
	l->rrl = rrl_new(rate, cfg->rrl_slip, RRL_DEFAULT_ENTRIES, server_rand(l->rng));
	return l->rrl ? 0 : -ENOMEM;
}

/* Parses and binds one listen address (UDP, and TCP when tcp); nothing touches the loop yet. */
static int listener_bind(struct listener *l, const char *addr, const struct sockaddr_storage *sa,
			 bool reuseport, bool tcp)
{
	const struct sockaddr_storage ss = *sa;
	int fd;

	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) {
		log_err("server", "listen %s: not ADDR:PORT or [ADDR]:PORT", addr);
		return -EINVAL;
	}
	if ((fd = server_socket((const struct sockaddr *)&ss, SOCK_DGRAM, reuseport)) < 0) {
		log_err("server", "bind %s/udp failed: %s", addr, strerror(-fd));
		return fd;
	}
	l->udp_fd = fd;
	if (!tcp)
		return 0;
	if ((fd = server_socket((const struct sockaddr *)&ss, SOCK_STREAM, false)) < 0) {
		log_err("server", "bind %s/tcp failed: %s", addr, strerror(-fd));
		return fd;
	}
	l->tcp_fd = fd;
	return 0;
}

/* Hands the bound UDP socket to l's loop and starts reading. */
static int listener_start_udp(struct listener *l)
{
	int rc;

	if ((rc = uv_udp_init_ex(l->loop, &l->udp, AF_UNSPEC | UV_UDP_RECVMMSG)) < 0)
		return rc;
	uv_check_init(l->loop, &l->flush); /* cannot fail */
	l->udp.data = l->flush.data = l;
	l->udp_init = true;
	if (!l->w)
		l->s->refs += 2;
	uv_check_start(&l->flush, udp_on_check);
	if ((rc = uv_udp_open(&l->udp, l->udp_fd)) < 0)
		return rc;
	l->udp_fd = -1;
	/* libuv probes recvmmsg once, on the first read, with a socket it opens and closes behind
	 * ThreadSanitizer's back. Done by a worker, TSan would take the next file given that
	 * descriptor number on another thread for a race with the worker; so probe now, before
	 * any worker starts. */
	(void)uv_udp_using_recvmmsg(&l->udp);
	return uv_udp_recv_start(&l->udp, udp_on_alloc, udp_on_recv);
}

/* Hands the bound sockets to the main loop and starts serving. */
static int listener_start(struct server *s, struct listener *l)
{
	int rc;

	if ((rc = uv_tcp_init(s->loop, &l->tcp)) < 0)
		return rc;
	l->tcp.data = l;
	l->tcp_init = true;
	s->refs++;
	if ((rc = uv_tcp_open(&l->tcp, l->tcp_fd)) < 0)
		return rc;
	l->tcp_fd = -1;
	if ((rc = uv_listen((uv_stream_t *)&l->tcp, SERVER_TCP_BACKLOG, tcp_on_connection)) < 0)
		return rc;
	return listener_start_udp(l);
}

static struct listener *listener_new(struct server *s, size_t index, const char *addr)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->s = s;
	l->loop = s->loop;
	l->env = &s->env;
	l->index = index;
	l->udp_fd = l->tcp_fd = -1;
	snprintf(l->name, sizeof(l->name), "%s", addr);
	random_seed(l->rng);
	return l;
}

static void listener_free(struct listener *l)
{
	if (!l)
		return;
	if (l->udp_fd >= 0)
		close(l->udp_fd);
	if (l->tcp_fd >= 0)
		close(l->tcp_fd);
	rrl_free(l->rrl);
	free(l);
}

/* Stops reading: a batch cut short is still sent. */
static void listener_close_udp(struct listener *l, uv_close_cb cb)
{
	if (!l->udp_init || l->closing)
		return;
	l->closing = true;
	if (l->in_batch)
		listener_batch_end(l);
	uv_close((uv_handle_t *)&l->udp, cb);
	uv_close((uv_handle_t *)&l->flush, cb);
}

/* ---- worker threads ---- */

static void worker_close_handles(struct worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++)
		listener_close_udp(w->listeners[i], NULL);
	if (w->stop_init && !uv_is_closing((uv_handle_t *)&w->stop))
		uv_close((uv_handle_t *)&w->stop, NULL);
}

static void worker_on_stop(uv_async_t *a)
{
	worker_close_handles(a->data);
}

static void worker_run(void *arg)
{
	struct worker *w = arg;
	uv_run(&w->loop, UV_RUN_DEFAULT);
}

/* After the thread ended, or when it never started: closes what is open, ends the loop, frees. */
static void worker_free(struct worker *w)
{
	int rc;

	if (w->loop_init) {
		worker_close_handles(w);
		uv_run(&w->loop, UV_RUN_DEFAULT);
		if ((rc = uv_loop_close(&w->loop)) != 0)
			log_err("server", "worker loop still busy at exit: %s", uv_strerror(rc));
	}
	for (size_t i = 0; i < w->n_listeners; i++)
		listener_free(w->listeners[i]);
	free(w->listeners);
	snapstore_reader_free(w->reader);
	metrics_free(w->metrics); /* its counts go to the server's */
	if (w->lock_init)
		uv_mutex_destroy(&w->lock);
	free(w);
}

/* A worker's socket for each listen address, in the SO_REUSEPORT group of the main loop's. */
static int worker_listen(struct worker *w, const struct config *cfg)
{
	struct server *s = w->s;
	int rc = 0;

	if (!(w->listeners = calloc(s->n_listeners, sizeof(*w->listeners))))
		return -ENOMEM;
	for (size_t i = 0; i < s->n_listeners && rc == 0; i++) {
		struct listener *l = listener_new(s, i, cfg->listen[i]);
		if (!l)
			return -ENOMEM;
		w->listeners[w->n_listeners++] = l;
		l->w = w;
		l->loop = &w->loop;
		l->env = &w->env;
		if ((rc = listener_bind(l, cfg->listen[i], &cfg->listen_sa[i], true, false)) == 0 &&
		    (rc = listener_rrl_init(l, cfg, &cfg->listen_sa[i])) == 0 &&
		    (rc = listener_start_udp(l)) < 0)
			log_err("server", "listen %s in a worker failed: %s", l->name,
				uv_strerror(rc));
	}
	return rc;
}

/* Sets a worker up on this thread, then starts its thread. */
static int worker_start(struct server *s, const struct config *cfg, struct worker **out)
{
	struct worker *w = calloc(1, sizeof(*w));
	int rc;

	*out = w;
	if (!w)
		return -ENOMEM;
	w->s = s;
	w->miss_second = -1;
	if ((rc = uv_loop_init(&w->loop)) < 0)
		return rc;
	w->loop_init = true;
	if ((rc = uv_mutex_init(&w->lock)) < 0)
		return rc;
	w->lock_init = true;
	if (!(w->reader = snapstore_reader_new(s->env.registry)) ||
	    (s->env.metrics && !(w->metrics = metrics_shard_new(s->env.metrics))))
		return -ENOMEM;
	w->env = s->env;
	w->env.metrics = w->metrics;
	if ((rc = uv_async_init(&w->loop, &w->stop, worker_on_stop)) < 0)
		return rc;
	w->stop.data = w;
	w->stop_init = true;
	if ((rc = worker_listen(w, cfg)) < 0)
		return rc;
	if ((rc = uv_thread_create(&w->thread, worker_run, w)) < 0)
		return rc;
	w->started = true;
	return 0;
}

/* Ends every worker before the main loop's handles close: the workers hand work to it. */
static void server_stop_workers(struct server *s)
{
	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];
		if (w && w->started) {
			uv_async_send(&w->stop);
			uv_thread_join(&w->thread);
			w->started = false;
		}
	}
	for (size_t i = 0; i < s->n_workers; i++) {
		if (s->workers[i])
			worker_free(s->workers[i]);
	}
	free(s->workers);
	s->workers = NULL;
	s->n_workers = 0;
}

static void server_on_own_close(uv_handle_t *h)
{
	server_unref(h->data);
}

/* A snapshot retired while a worker was inside a batch waits for the next publish; this frees it
 * within a second instead, so a quiet registry does not keep two copies. */
static void server_on_reclaim(uv_timer_t *t)
{
	struct server *s = t->data;
	snapstore_reclaim(s->env.registry);
}

/* The main loop's socket of each address was bound first, the workers' after it: queries go to
 * the workers only, and the main loop, which also parses Nacos answers, answers just what a
 * worker hands it. */
static void server_steer(struct server *s, size_t n_workers)
{
	for (size_t i = 0; i < s->n_listeners; i++) {
		struct listener *l = s->listeners[i];
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		uv_os_fd_t fd;
		int rc;
		if (uv_fileno((uv_handle_t *)&l->udp, &fd) < 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
			continue;
		if ((rc = steer_attach(fd, ss.ss_family, (unsigned)n_workers)) < 0)
			log_info("server",
				 "%s: queries not steered to the workers (%s); the main "
				 "loop answers a share",
				 l->name, strerror(-rc));
	}
}

static int server_start_workers(struct server *s, const struct config *cfg)
{
	size_t n = cfg->threads;
	int rc;

	if (!(s->workers = calloc(n, sizeof(*s->workers))))
		return -ENOMEM;
	if ((rc = uv_async_init(s->loop, &s->handoff_async, server_on_handoff)) < 0)
		return rc;
	s->handoff_async.data = s;
	s->handoff_init = true;
	s->refs++;
	uv_timer_init(s->loop, &s->reclaim);
	s->reclaim.data = s;
	s->reclaim_init = true;
	s->refs++;
	uv_timer_start(&s->reclaim, server_on_reclaim, 1000, 1000);
	for (size_t i = 0; i < n; i++) {
		s->n_workers++;
		if ((rc = worker_start(s, cfg, &s->workers[i])) < 0) {
			log_err("server", "cannot start worker thread %zu: %s", i + 1,
				uv_strerror(rc));
			return rc;
		}
	}
	server_steer(s, n);
	return 0;
}

/* ---- the server ---- */

static struct server *server_alloc(uv_loop_t *loop, const struct config *cfg,
				   const struct server_env *env)
{
	struct server *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = loop;
	s->env = *env;
	s->tcp_idle_ms = cfg->tcp_idle_timeout_ms;
	s->tcp_max_conns = cfg->tcp_max_connections;
	s->refs = 1;
	s->handoff_tail = &s->handoff_head;
	if (uv_mutex_init(&s->handoff_lock) < 0) {
		free(s);
		return NULL;
	}
	s->listeners = calloc(cfg->n_listen ? cfg->n_listen : 1, sizeof(*s->listeners));
	if (!s->listeners) {
		server_unref(s);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_listen; i++) {
		struct listener *l = listener_new(s, i, cfg->listen[i]);
		if (!l) {
			server_unref(s);
			return NULL;
		}
		s->listeners[s->n_listeners++] = l;
	}
	return s;
}

static void server_close_fds(struct server *s)
{
	for (size_t i = 0; i < s->n_listeners; i++) {
		struct listener *l = s->listeners[i];
		if (l->udp_fd >= 0)
			close(l->udp_fd);
		if (l->tcp_fd >= 0)
			close(l->tcp_fd);
		l->udp_fd = l->tcp_fd = -1;
	}
}

/* The workers take the new env between batches; once this returns none holds the old one, so the
 * caller may free the old ACLs. */
void server_set_env(struct server *s, const struct server_env *env)
{
	s->env = *env;
	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];
		uv_mutex_lock(&w->lock);
		w->env = *env;
		w->env.metrics = w->metrics;
		uv_mutex_unlock(&w->lock);
	}
}

/* Binds every address and starts the workers; 0 or a negative errno after logging why. */
static int server_listen(struct server *s, const struct config *cfg)
{
	bool reuseport = cfg->threads >= 2;
	int rc = 0;

	for (size_t i = 0; i < s->n_listeners && rc == 0; i++)
		rc = listener_bind(s->listeners[i], cfg->listen[i], &cfg->listen_sa[i], reuseport,
				   true);
	for (size_t i = 0; i < s->n_listeners && rc == 0; i++)
		if ((rc = listener_rrl_init(s->listeners[i], cfg, &cfg->listen_sa[i])) == 0)
			rc = listener_auto(cfg->tcp_max_per_client, &cfg->listen_sa[i],
					   SERVER_TCP_PER_CLIENT, &s->listeners[i]->tcp_per_client);
	for (size_t i = 0; i < s->n_listeners && rc == 0; i++) {
		if ((rc = listener_start(s, s->listeners[i])) < 0)
			log_err("server", "listen %s failed: %s", s->listeners[i]->name,
				uv_strerror(rc));
	}
	if (rc == 0 && reuseport)
		rc = server_start_workers(s, cfg);
	return rc;
}

int server_new(uv_loop_t *loop, const struct config *cfg, const struct server_env *env,
	       struct server **out)
{
	struct server *s = server_alloc(loop, cfg, env);
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	if ((rc = server_listen(s, cfg)) < 0) {
		server_close(s); /* the handles opened so far close when the loop runs */
		return rc;
	}
	*out = s;
	return 0;
}

void server_close(struct server *s)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	server_stop_workers(s);
	server_close_fds(s);
	for (size_t i = 0; i < s->n_listeners; i++) {
		struct listener *l = s->listeners[i];
		listener_close_udp(l, server_on_handle_close);
		if (l->tcp_init)
			uv_close((uv_handle_t *)&l->tcp, server_on_handle_close);
	}
	if (s->handoff_init)
		uv_close((uv_handle_t *)&s->handoff_async, server_on_own_close);
	if (s->reclaim_init)
		uv_close((uv_handle_t *)&s->reclaim, server_on_own_close);
	while (s->conns)
		tcp_conn_close(s->conns);
	server_unref(s);
}

void server_get_stats(const struct server *s, struct servestats *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < s->n_listeners; i++)
		servestats_add(out, &s->listeners[i]->stats);
	out->udp_main = out->udp_queries;
	for (size_t w = 0; w < s->n_workers; w++)
		for (size_t i = 0; i < s->workers[w]->n_listeners; i++)
			servestats_add(out, &s->workers[w]->listeners[i]->stats);
	out->tcp_open = s->n_conns;
}

/*
 * Forwarding to upstream resolvers. Each attempt is one upstream with its own UDP socket on a
 * kernel-chosen port and its own random ID, so an off-path spoofer has to guess both; a reply
 * counts only when it comes from that upstream and answers the same question. One attempt at a
 * time per query; the query's timer bounds each attempt and the whole budget.
 */
#include "resolver/serve/forward.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "resolver/config.h"
#include "resolver/log.h"
#include "resolver/random.h"
#include "resolver/readfile.h"
#include "zones/dns/fwdmsg.h"
#include "zones/dns/wire.h"
#include "zones/net/addr.h"
#include "zones/net/fwdaddr.h"

#define FORWARD_MAX_UPSTREAMS    CONFIG_MAX_LIST
#define FORWARD_MIN_ATTEMPT_MS   300
#define FORWARD_MAX_MSG          65535
#define FORWARD_WARN_INTERVAL_MS 5000
#define FORWARD_RESOLV_CONF      "/etc/resolv.conf"
#define EDE_OTHER                0  /* RFC 8914 */
#define EDE_NO_REACHABLE         22 /* No Reachable Authority */

struct fwd_query;

struct forward {
	uv_loop_t *loop;
	struct sockaddr_storage up[FORWARD_MAX_UPSTREAMS];
	size_t n_up;
	uint64_t timeout_ms, attempt_ms;
	uint64_t max_inflight;
	uint16_t edns_size;
	struct fwd_query *queries; /* in flight: not yet answered */
	size_t alive;              /* queries not yet freed */
	bool closing;
	struct log_limit warn_limit;
	uint8_t rand_pool[256];
	size_t rand_left;
	struct forward_stats stats;
	uint8_t rbuf[FORWARD_MAX_MSG];     /* UDP receive, valid during on_udp_recv */
	uint8_t out[FORWARD_MAX_MSG + 16]; /* the client's reply, valid during cb */
};

struct fwd_attempt {
	struct fwd_query *q;
	const struct sockaddr *to;
	uint16_t id;
	int handles;
	bool closing, tcp_started;
	uv_udp_t udp;
	uv_udp_send_t send;
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write;
	uint8_t lenbuf[2];
	uint8_t *tcp_buf; /* 2-byte length + message */
	size_t tcp_have;
	uint8_t wire[]; /* the query with this attempt's ID */
};

struct fwd_query {
	struct forward *f;
	struct fwd_query *prev, *next;
	forward_cb cb;
	void *arg;
	size_t len, max_reply, next_up;
	uint64_t deadline;
	struct fwd_attempt *cur;
	uv_timer_t timer;
	unsigned refs; /* the timer and each attempt not yet freed */
	bool exhausted, done;
	uint8_t query[];
};

static void fwd_query_try_next(struct fwd_query *q);
static void on_fwd_query_timer(uv_timer_t *t);
static void on_udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *peer,
			unsigned flags);

/* Upstream trouble is logged at warn, at most once per interval, with what was left out. */
__attribute__((format(printf, 2, 3))) static void fwd_warn(struct forward *f, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	unsigned long long suppressed;

	if (!log_limit_pass(&f->warn_limit, (int64_t)uv_now(f->loop), FORWARD_WARN_INTERVAL_MS,
			    &suppressed))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (suppressed)
		log_warn("forward", "%s (%llu similar messages suppressed)", msg, suppressed);
	else
		log_warn("forward", "%s", msg);
}

/* IDs come straight from the kernel's CSPRNG, a pool at a time. */
static int fwd_random_id(struct forward *f, uint16_t *id)
{
	if (f->rand_left < 2) {
		if (random_bytes(f->rand_pool, sizeof(f->rand_pool)) < 0)
			return -EAGAIN;
		f->rand_left = sizeof(f->rand_pool);
	}
	f->rand_left -= 2;
	*id = (uint16_t)(f->rand_pool[f->rand_left] << 8 | f->rand_pool[f->rand_left + 1]);
	return 0;
}

static void forward_maybe_free(struct forward *f)
{
	if (f->closing && f->alive == 0)
		free(f);
}

static void fwd_query_unref(struct fwd_query *q)
{
	if (--q->refs > 0)
		return;
	struct forward *f = q->f;
	f->alive--;
	free(q);
	forward_maybe_free(f);
}

static void on_fwd_attempt_close(uv_handle_t *h)
{
	struct fwd_attempt *a = h->data;

	if (--a->handles > 0)
		return;
	struct fwd_query *q = a->q;
	free(a->tcp_buf);
	free(a);
	fwd_query_unref(q);
}

static void fwd_attempt_close(struct fwd_attempt *a)
{
	if (!a || a->closing)
		return;
	a->closing = true;
	uv_close((uv_handle_t *)&a->udp, on_fwd_attempt_close);
	if (a->tcp_started)
		uv_close((uv_handle_t *)&a->tcp, on_fwd_attempt_close);
}

/* Arms the query's timer for one attempt, never past the whole budget. */
static void fwd_query_arm(struct fwd_query *q)
{
	uint64_t now = uv_now(q->f->loop), left = q->deadline > now ? q->deadline - now : 0;

	uv_timer_start(&q->timer, on_fwd_query_timer,
		       left < q->f->attempt_ms ? left : q->f->attempt_ms, 0);
}

static void on_fwd_query_close(uv_handle_t *h)
{
	fwd_query_unref(h->data);
}

/* The query is over: unlink it, stop its attempt and timer. */
static void fwd_query_end(struct fwd_query *q)
{
	struct forward *f = q->f;

	q->done = true;
	if (q->prev)
		q->prev->next = q->next;
	else
		f->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
	f->stats.inflight--;
	fwd_attempt_close(q->cur);
	q->cur = NULL;
	uv_close((uv_handle_t *)&q->timer, on_fwd_query_close);
}

/* The query ends before cb runs, so cb may call forward_close() or forward_query(). */
static void fwd_query_reply(struct fwd_query *q, const uint8_t *reply, size_t len)
{
	fwd_query_end(q);
	q->cb(q->arg, reply, len);
}

static void fwd_query_servfail(struct fwd_query *q, uint16_t ede, const char *why)
{
	struct forward *f = q->f;
	size_t n;

	f->stats.servfail++;
	if (fwdmsg_servfail(q->query, q->len, f->edns_size, ede, why, f->out, sizeof(f->out), &n) ==
	    0)
		fwd_query_reply(q, f->out, n);
	else
		fwd_query_reply(q, NULL, 0); /* not reached: forward_query checked the query */
}

static void fwd_query_deliver(struct fwd_query *q, const uint8_t *reply, size_t len)
{
	struct forward *f = q->f;
	size_t n;

	if (fwdmsg_finish(q->query, q->len, reply, len, q->max_reply, f->edns_size, f->out,
			  sizeof(f->out), &n) < 0) {
		fwd_query_servfail(q, EDE_OTHER, "upstream reply could not be relayed");
		return;
	}
	f->stats.answered++;
	fwd_query_reply(q, f->out, n);
}

/* The current attempt failed: say why (rate-limited) and go on with the next upstream. */
static void fwd_attempt_fail(struct fwd_attempt *a, const char *what, int err)
{
	char addr[ADDR_STR_LEN];

	if (!a || a->closing || a->q->cur != a)
		return;
	struct fwd_query *q = a->q;
	fwd_warn(q->f, "upstream %s: %s%s%s", addr_str(a->to, addr, sizeof(addr)), what,
		 err ? ": " : "", err ? uv_strerror(err) : "");
	fwd_query_try_next(q);
}

/* A checked reply: final unless the upstream itself could not answer. */
static void fwd_attempt_handle_reply(struct fwd_attempt *a, const uint8_t *reply, size_t len)
{
	int rcode = fwdmsg_rcode(reply, len);
	bool failed = rcode == DNS_RCODE_SERVFAIL || rcode == DNS_RCODE_REFUSED ||
		      rcode == DNS_RCODE_NOTIMP;

	upstats_count(&a->q->f->stats.upstreams, a->to,
		      failed ? UPSTATS_FAILURES : UPSTATS_ANSWERS);
	if (failed) {
		fwd_attempt_fail(a, rcode == DNS_RCODE_REFUSED ? "REFUSED" : "SERVFAIL or NOTIMP",
				 0);
		return;
	}
	fwd_query_deliver(a->q, reply, len);
}

static void on_tcp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct fwd_attempt *a = h->data;

	if (!a->tcp_buf)
		a->tcp_buf = malloc(2 + FORWARD_MAX_MSG);
	*buf = uv_buf_init(a->tcp_buf ? (char *)a->tcp_buf + a->tcp_have : NULL,
			   a->tcp_buf ? (unsigned)(2 + FORWARD_MAX_MSG - a->tcp_have) : 0);
}

static void on_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct fwd_attempt *a = s->data;

	if (a->closing || n == 0)
		return;
	if (n < 0) {
		fwd_attempt_fail(a, "TCP read", n == UV_EOF ? 0 : (int)n);
		return;
	}
	a->tcp_have += (size_t)n;
	if (a->tcp_have < 2)
		return;
	size_t need = (size_t)(a->tcp_buf[0] << 8 | a->tcp_buf[1]);
	if (a->tcp_have < 2 + need)
		return;
	if (fwdmsg_check_reply(a->wire, a->q->len, a->id, a->tcp_buf + 2, need, NULL) < 0) {
		a->q->f->stats.dropped++;
		fwd_attempt_fail(a, "TCP reply does not match the query", 0);
		return;
	}
	fwd_attempt_handle_reply(a, a->tcp_buf + 2, need);
}

static void on_tcp_write(uv_write_t *req, int status)
{
	struct fwd_attempt *a = req->data;

	if (status < 0 && !a->closing)
		fwd_attempt_fail(a, "TCP write", status);
}

static void on_tcp_connect(uv_connect_t *req, int status)
{
	struct fwd_attempt *a = req->data;
	uv_buf_t bufs[2] = {uv_buf_init((char *)a->lenbuf, 2),
			    uv_buf_init((char *)a->wire, (unsigned)a->q->len)};
	int rc;

	if (a->closing)
		return;
	if (status < 0) {
		fwd_attempt_fail(a, "TCP connect", status);
		return;
	}
	a->lenbuf[0] = (uint8_t)(a->q->len >> 8);
	a->lenbuf[1] = (uint8_t)a->q->len;
	a->write.data = a;
	rc = uv_write(&a->write, (uv_stream_t *)&a->tcp, bufs, 2, on_tcp_write);
	if (rc == 0)
		rc = uv_read_start((uv_stream_t *)&a->tcp, on_tcp_alloc, on_tcp_read);
	if (rc < 0)
		fwd_attempt_fail(a, "TCP send", rc);
}

/* The upstream truncated its UDP reply: ask it again over TCP, with a fresh attempt budget. */
static void fwd_attempt_retry_tcp(struct fwd_attempt *a)
{
	struct forward *f = a->q->f;
	int rc;

	f->stats.tcp_retries++;
	uv_udp_recv_stop(&a->udp);
	rc = uv_tcp_init(f->loop, &a->tcp);
	if (rc < 0) {
		fwd_attempt_fail(a, "TCP socket", rc);
		return;
	}
	a->tcp.data = a;
	a->tcp_started = true;
	a->handles++;
	a->connect.data = a;
	rc = uv_tcp_connect(&a->connect, &a->tcp, a->to, on_tcp_connect);
	if (rc < 0) {
		fwd_attempt_fail(a, "TCP connect", rc);
		return;
	}
	fwd_query_arm(a->q);
}

static void on_udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct fwd_attempt *a = h->data;

	*buf = uv_buf_init((char *)a->q->f->rbuf, sizeof(a->q->f->rbuf));
}

static void on_udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *peer,
			unsigned flags)
{
	struct fwd_attempt *a = h->data;
	struct forward *f = a->q->f;
	const uint8_t *reply = (const uint8_t *)buf->base;

	if (a->closing || n <= 0 || !peer || (flags & UV_UDP_PARTIAL))
		return;
	if (!addr_equal(peer, a->to) ||
	    fwdmsg_check_reply(a->wire, a->q->len, a->id, reply, (size_t)n, NULL) < 0) {
		f->stats.dropped++; /* not ours: keep waiting for the real one */
		log_debug("forward", "dropped a reply that does not match an upstream query");
		return;
	}
	if (fwdmsg_truncated(reply, (size_t)n))
		fwd_attempt_retry_tcp(a);
	else
		fwd_attempt_handle_reply(a, reply, (size_t)n);
}

static void on_udp_send(uv_udp_send_t *req, int status)
{
	struct fwd_attempt *a = req->data;

	if (status < 0 && !a->closing)
		fwd_attempt_fail(a, "UDP send", status);
}

/* Socket, bind to port 0 (the kernel picks a random port), receive, send. */
static int fwd_attempt_send(struct fwd_attempt *a)
{
	struct sockaddr_storage any;
	uv_buf_t buf = uv_buf_init((char *)a->wire, (unsigned)a->q->len);
	int rc;

	memset(&any, 0, sizeof(any));
	any.ss_family = a->to->sa_family;
	rc = uv_udp_bind(&a->udp, (const struct sockaddr *)&any, 0);
	if (rc == 0)
		rc = uv_udp_recv_start(&a->udp, on_udp_alloc, on_udp_recv);
	a->send.data = a;
	if (rc == 0)
		rc = uv_udp_send(&a->send, &a->udp, &buf, 1, a->to, on_udp_send);
	return rc;
}

static int fwd_attempt_start(struct fwd_query *q, const struct sockaddr *to)
{
	struct forward *f = q->f;
	struct fwd_attempt *a = calloc(1, sizeof(*a) + q->len);
	int rc;

	if (!a)
		return UV_ENOMEM;
	a->q = q;
	a->to = to;
	memcpy(a->wire, q->query, q->len);
	if ((rc = fwd_random_id(f, &a->id)) < 0 || (rc = uv_udp_init(f->loop, &a->udp)) < 0) {
		free(a);
		return rc;
	}
	fwdmsg_set_id(a->wire, a->id);
	a->udp.data = a;
	a->handles = 1;
	q->refs++;
	q->cur = a;
	rc = fwd_attempt_send(a);
	if (rc == 0)
		upstats_count(&f->stats.upstreams, to, UPSTATS_QUERIES);
	if (rc < 0) {
		q->cur = NULL;
		fwd_attempt_close(a);
	}
	return rc;
}

/* Ends the current attempt and starts one on the next upstream. When none is left (or the budget
 * is spent) the timer fires at once and answers SERVFAIL, so cb never runs in forward_query. */
static void fwd_query_try_next(struct fwd_query *q)
{
	struct forward *f = q->f;
	char addr[ADDR_STR_LEN];

	fwd_attempt_close(q->cur);
	q->cur = NULL;
	while (q->next_up < f->n_up && uv_now(f->loop) < q->deadline) {
		const struct sockaddr *to = (const struct sockaddr *)&f->up[q->next_up++];
		int rc = fwd_attempt_start(q, to);
		if (rc == 0) {
			fwd_query_arm(q);
			return;
		}
		fwd_warn(f, "upstream %s: cannot send: %s", addr_str(to, addr, sizeof(addr)),
			 uv_strerror(rc));
	}
	q->exhausted = true;
	uv_timer_start(&q->timer, on_fwd_query_timer, 0, 0);
}

static void on_fwd_query_timer(uv_timer_t *t)
{
	struct fwd_query *q = t->data;

	if (q->done)
		return;
	if (q->exhausted || !q->cur) {
		fwd_query_servfail(q, EDE_NO_REACHABLE, "no upstream resolver answered");
		return;
	}
	q->f->stats.timeouts++;
	upstats_count(&q->f->stats.upstreams, q->cur->to, UPSTATS_TIMEOUTS);
	fwd_attempt_fail(q->cur, "timed out", 0);
}

/* Why forward_query() cannot take this query, or 0. */
static int forward_admit(const struct forward *f, const uint8_t *query, size_t len)
{
	struct fwdmsg_info info;

	if (f->closing)
		return -ECANCELED;
	if (f->n_up == 0)
		return -ENETUNREACH;
	if (f->stats.inflight >= f->max_inflight)
		return -EBUSY;
	if (len > FORWARD_MAX_MSG || fwdmsg_parse_query(query, len, &info) < 0)
		return -EBADMSG;
	return 0;
}

int forward_query(struct forward *f, const uint8_t *query, size_t len, size_t max_reply,
		  forward_cb cb, void *arg)
{
	struct fwd_query *q;
	int rc = forward_admit(f, query, len);

	if (rc < 0) {
		f->stats.rejected++;
		f->stats.busy += rc == -EBUSY;
		return rc;
	}
	if (!(q = calloc(1, sizeof(*q) + len)))
		return -ENOMEM;
	q->f = f;
	q->cb = cb;
	q->arg = arg;
	q->len = len;
	q->max_reply = max_reply;
	q->deadline = uv_now(f->loop) + f->timeout_ms;
	memcpy(q->query, query, len);
	uv_timer_init(f->loop, &q->timer); /* cannot fail */
	q->timer.data = q;
	q->refs = 1;
	q->next = f->queries;
	if (f->queries)
		f->queries->prev = q;
	f->queries = q;
	f->alive++;
	f->stats.queries++;
	f->stats.inflight++;
	fwd_query_try_next(q);
	return 0;
}

int forward_refusal(const struct forward *f, int err, const uint8_t *query, size_t len,
		    uint8_t *out, size_t cap, size_t *out_len)
{
	uint16_t ede = EDE_OTHER;
	const char *why = "out of memory";

	if (err == -ENETUNREACH) {
		ede = EDE_NO_REACHABLE;
		why = "no upstream resolver configured";
	} else if (err == -EBUSY) {
		why = "too many queries at upstream resolvers";
	} else if (err == -ECANCELED) {
		why = "shutting down";
	}
	return fwdmsg_servfail(query, len, f->edns_size, ede, why, out, cap, out_len);
}

/* Cancelled queries are answered with NULL before anything is freed, so a caller's per-query
 * state is released on this turn of the loop. */
void forward_close(struct forward *f)
{
	if (!f || f->closing)
		return;
	f->closing = true;
	while (f->queries)
		fwd_query_reply(f->queries, NULL, 0);
	forward_maybe_free(f);
}

void forward_stats_get(const struct forward *f, struct forward_stats *out)
{
	*out = f->stats;
}

size_t forward_upstream_count(const struct forward *f)
{
	return f->n_up;
}

/* Adds up unless a listen address of ours would receive it (forwarding to ourselves loops). */
static void forward_add_upstream(struct forward *f, const struct config *cfg,
				 const struct sockaddr_storage *up)
{
	char addr[ADDR_STR_LEN];

	for (size_t i = 0; i < cfg->n_listen; i++) {
		if (fwdaddr_reaches((const struct sockaddr *)up,
				    (const struct sockaddr *)&cfg->listen_sa[i])) {
			log_info("forward", "upstream %s skipped: it is our listen address %s",
				 addr_str((const struct sockaddr *)up, addr, sizeof(addr)),
				 cfg->listen[i]);
			return;
		}
	}
	if (f->n_up < FORWARD_MAX_UPSTREAMS) {
		f->up[f->n_up++] = *up;
		upstats_add(&f->stats.upstreams, (const struct sockaddr *)up);
	}
}

/* The nameservers of /etc/resolv.conf; read once, before the loop runs. */
static void forward_read_resolv_conf(struct forward *f, const struct config *cfg)
{
	struct sockaddr_storage found[FORWARD_MAX_UPSTREAMS];
	char *text;
	size_t n;
	int rc = readfile(FORWARD_RESOLV_CONF, READFILE_MAX_SIZE, &text, &n, NULL);

	if (rc < 0) {
		log_warn("forward", "cannot read %s: %s", FORWARD_RESOLV_CONF,
			 readfile_strerror(rc));
		return;
	}
	n = fwdaddr_parse_resolv(text, found, FORWARD_MAX_UPSTREAMS);
	free(text);
	for (size_t i = 0; i < n; i++)
		forward_add_upstream(f, cfg, &found[i]);
}

static int forward_load_upstreams(struct forward *f, const struct config *cfg)
{
	char addr[ADDR_STR_LEN];

	for (size_t i = 0; i < cfg->n_upstream; i++)
		forward_add_upstream(f, cfg, &cfg->upstream_sa[i]);
	if (cfg->n_upstream == 0)
		forward_read_resolv_conf(f, cfg);
	if (f->n_up == 0)
		log_warn("forward", "no upstream resolver: names outside the zones get SERVFAIL");
	for (size_t i = 0; i < f->n_up; i++)
		log_info("forward", "upstream %s",
			 addr_str((const struct sockaddr *)&f->up[i], addr, sizeof(addr)));
	return 0;
}

int forward_new(uv_loop_t *loop, const struct config *cfg, struct forward **out)
{
	struct forward *f = calloc(1, sizeof(*f));
	int rc;

	if (!f)
		return -ENOMEM;
	f->loop = loop;
	f->timeout_ms = cfg->forward_timeout_ms ? cfg->forward_timeout_ms : 2000;
	f->max_inflight = cfg->forward_max_inflight ? cfg->forward_max_inflight : 1000;
	f->edns_size = cfg->edns_buffer >= 512 ? cfg->edns_buffer : 1232;
	rc = forward_load_upstreams(f, cfg);
	if (rc < 0) {
		free(f);
		return rc;
	}
	/* Each upstream gets an equal share of the budget, but never less than a round trip. */
	f->attempt_ms = f->n_up ? f->timeout_ms / f->n_up : f->timeout_ms;
	if (f->attempt_ms < FORWARD_MIN_ATTEMPT_MS)
		f->attempt_ms = FORWARD_MIN_ATTEMPT_MS;
	*out = f;
	return 0;
}

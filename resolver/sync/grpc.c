/* See grpc.h. One struct conn per TCP connection (its nghttp2 session, its bi-directional stream);
 * struct grpc outlives connections and owns the pending calls and the one timer that drives
 * every deadline: call timeouts, the setup wait, health checks and reconnection. */
#include "resolver/sync/grpc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nghttp2/nghttp2.h>

#include "resolver/log.h"
#include "resolver/sync/tlspipe.h"
#include "zones/base/array.h"
#include "zones/nacos/grpcmsg.h"

#define LOG "grpc"
/* Nacos's client sends HealthCheckRequest every 5 s (RpcClient keepAliveTime). */
#define GRPC_HEALTH_MS 5000
/* After the setup request, GrpcClient waits for SetupAckRequest or, from servers without it,
 * 100 ms before it counts the connection as registered. */
#define GRPC_SETUP_WAIT_MS  100
#define GRPC_BACKOFF_MIN_MS 1000
#define GRPC_BACKOFF_MAX_MS 30000
#define GRPC_WINDOW         (16 * 1024 * 1024)

enum phase { PHASE_IDLE, PHASE_RESOLVING, PHASE_CONNECTING, PHASE_CHECKING, PHASE_SETUP, PHASE_UP };

struct outmsg {
	struct outmsg *next;
	size_t len, pos;
	uint8_t bytes[];
};

struct inbuf {
	uint8_t *p;
	size_t len, cap;
};

struct conn {
	uv_tcp_t tcp;
	uv_connect_t connect;
	struct grpc *g;      /* NULL once dropped */
	nghttp2_session *h2; /* NULL until the TLS handshake is done */
	struct tlspipe *tls; /* NULL for h2c */
	int32_t bidi_id;
	struct outmsg *bidi_out, *bidi_tail;
	struct inbuf bidi_in;
	bool in_recv, tcp_open;
};

struct call {
	struct call *next;
	struct grpc *g;
	struct conn *conn;
	int32_t stream_id;
	uint64_t deadline;
	grpc_reply_cb cb;
	void *arg;
	uint8_t *out;
	size_t out_len, out_pos;
	struct inbuf in;
	int grpc_status; /* -1: none seen */
	uint32_t reset;  /* the RST_STREAM code that ended the stream, 0: none */
	char type[64];
};

struct grpc {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_getaddrinfo_t resolve;
	bool resolving, timer_closed; /* g is freed once both are over */
	struct grpc_handlers h;
	struct sockaddr_storage addr;
	char *host, *client_version, *tenant, *module, *token, *ca_file;
	uint16_t port;
	bool tls;
	long timeout_ms;
	struct conn *conn;
	struct call *calls;
	enum phase phase;
	uint64_t next_try, setup_due, health_due;
	long backoff_ms;
	bool started, closing;
	bool quiet, ever_up; /* failures before the first connection: debug when quiet */
	char connection_id[128];
};

static void grpc_arm(struct grpc *g);
static void grpc_drop(struct grpc *g, const char *why, long retry_ms);
static void conn_flush(struct conn *c);

/* A server probed for gRPC (quiet) that never answered it is not a problem to warn about. */
static enum log_level grpc_fail_level(const struct grpc *g)
{
	return g->quiet && !g->ever_up ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN;
}

/* ---- calls ---- */

static void call_free(struct call *k)
{
	free(k->out);
	free(k->in.p);
	free(k);
}

static void call_unlink(struct call *k)
{
	for (struct call **p = &k->g->calls; *p; p = &(*p)->next)
		if (*p == k) {
			*p = k->next;
			return;
		}
}

/* Detaches k from its stream and the list, then runs its callback once. */
static void call_finish(struct call *k, int error, const char *type, const char *json, size_t len)
{
	call_unlink(k);
	if (k->conn && k->conn->h2 && k->stream_id > 0)
		nghttp2_session_set_stream_user_data(k->conn->h2, k->stream_id, NULL);
	k->cb(k->arg, error, type, json, len);
	call_free(k);
}

static void fail_calls(struct grpc *g, int error)
{
	while (g->calls)
		call_finish(g->calls, error, NULL, NULL, 0);
}

static int inbuf_add(struct inbuf *b, const uint8_t *data, size_t len)
{
	if (len > GRPCMSG_MAX + GRPCMSG_FRAME_HDR - b->len)
		return -EMSGSIZE;
	if (array_grow((void **)&b->p, &b->cap, b->len, len, 1) < 0)
		return -ENOMEM;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

/* ---- nghttp2 glue ---- */

static ssize_t read_unary(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			  nghttp2_data_source *src, void *user)
{
	/* Looked up, not taken from src: a call that timed out is gone while its stream waits
	 * for the reset to go out. */
	struct call *k = nghttp2_session_get_stream_user_data(s, id);
	if (!k)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	size_t n = k->out_len - k->out_pos;
	if (n > len)
		n = len;
	memcpy(buf, k->out + k->out_pos, n);
	k->out_pos += n;
	if (k->out_pos == k->out_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static ssize_t read_bidi(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *user)
{
	struct conn *c = user;
	struct outmsg *m = c->bidi_out;
	if (!m)
		return NGHTTP2_ERR_DEFERRED;
	size_t n = m->len - m->pos;
	if (n > len)
		n = len;
	memcpy(buf, m->bytes + m->pos, n);
	m->pos += n;
	if (m->pos == m->len) {
		c->bidi_out = m->next;
		if (!c->bidi_out)
			c->bidi_tail = NULL;
		free(m);
	}
	return (ssize_t)n;
}

static void headers_for(struct grpc *g, const char *path, nghttp2_nv nv[6], char *authority,
			size_t cap)
{
	if (strchr(g->host, ':'))
		snprintf(authority, cap, "[%s]:%u", g->host, g->port);
	else
		snprintf(authority, cap, "%s:%u", g->host, g->port);
#define NV(n, v)                                                                                   \
	(nghttp2_nv){.name = (uint8_t *)(n),                                                       \
		     .value = (uint8_t *)(v),                                                      \
		     .namelen = strlen(n),                                                         \
		     .valuelen = strlen(v),                                                        \
		     .flags = NGHTTP2_NV_FLAG_NONE}
	nv[0] = NV(":method", "POST");
	nv[1] = NV(":scheme", g->tls ? "https" : "http");
	nv[2] = NV(":path", path);
	nv[3] = NV(":authority", authority);
	nv[4] = NV("content-type", "application/grpc");
	nv[5] = NV("te", "trailers");
#undef NV
}

/* Frames type/json into a malloc'd message with the connection's headers. */
static int encode(struct grpc *g, const char *type, const char *json, uint8_t **out, size_t *len)
{
	struct grpcmsg_header tok = {.key = "accessToken", .value = g->token};
	return grpcmsg_encode(type, &tok, g->token ? 1 : 0, json, strlen(json), out, len);
}

static int submit_call(struct grpc *g, const char *type, const char *json, long timeout_ms,
		       grpc_reply_cb cb, void *arg)
{
	struct call *k = calloc(1, sizeof *k);
	if (!k)
		return -ENOMEM;
	int rc = encode(g, type, json, &k->out, &k->out_len);
	if (rc < 0) {
		free(k);
		return rc;
	}
	*k = (struct call){.g = g,
			   .conn = g->conn,
			   .cb = cb,
			   .arg = arg,
			   .out = k->out,
			   .out_len = k->out_len,
			   .grpc_status = -1,
			   .deadline = uv_now(g->loop) +
				       (uint64_t)(timeout_ms > 0 ? timeout_ms : g->timeout_ms)};
	snprintf(k->type, sizeof k->type, "%s", type);
	nghttp2_nv nv[6];
	char authority[80];
	headers_for(g, "/Request/request", nv, authority, sizeof authority);
	nghttp2_data_provider dp = {.source.ptr = NULL, .read_callback = read_unary};
	int32_t id = nghttp2_submit_request(g->conn->h2, NULL, nv, 6, &dp, k);
	if (id < 0) {
		log_warn(LOG, "%s to %s:%u: %s", type, g->host, g->port, nghttp2_strerror(id));
		call_free(k);
		return -EIO;
	}
	k->stream_id = id;
	k->next = g->calls;
	g->calls = k;
	conn_flush(g->conn);
	grpc_arm(g);
	return 0;
}

static long error_code(const char *json)
{
	json_t *r = json_loads(json, 0, NULL);
	long code = (long)json_integer_value(json_object_get(r, "errorCode"));
	json_decref(r);
	return code;
}

static void call_complete(struct call *k)
{
	struct grpc *g = k->g;
	const uint8_t *msg;
	size_t len, used;
	struct grpcmsg m;
	const char *why = "no message";
	int rc = grpcmsg_frame_next(k->in.p, k->in.len, &msg, &len, &used);
	if (rc == 1 && used == k->in.len && grpcmsg_decode(msg, len, &m, &why) == 0) {
		char type[64];
		snprintf(type, sizeof type, "%.*s", (int)m.type_len, m.type);
		/* The JSON is handed on NUL-terminated: the frame's bytes are copied. */
		char *json = strndup(m.json, m.json_len);
		if (!json) {
			call_finish(k, -ENOMEM, NULL, NULL, 0);
			return;
		}
		/* A request before the setup registered the connection, or after the server forgot
		 * it, answers ErrorResponse 301: the Java client reconnects
		 * (common/.../remote/client/RpcClient.java, NacosException.UN_REGISTER). */
		bool unregistered = strcmp(type, "ErrorResponse") == 0 && error_code(json) == 301;
		call_finish(k, 0, type, json, m.json_len);
		free(json);
		if (unregistered && g->conn && g->phase == PHASE_UP)
			grpc_drop(g, "connection unregistered", 0);
		return;
	}
	if (k->grpc_status > 0) {
		log_warn(LOG, "%s to %s:%u: gRPC status %d", k->type, g->host, g->port,
			 k->grpc_status);
		call_finish(k, -EPROTO, NULL, NULL, 0);
		return;
	}
	if (k->reset) {
		log_warn(LOG, "%s to %s:%u: stream reset (HTTP/2 error %" PRIu32 ")", k->type,
			 g->host, g->port, k->reset);
		call_finish(k, -EPROTO, NULL, NULL, 0);
		return;
	}
	if (rc == 1 && used != k->in.len)
		why = "more than one message";
	log_warn(LOG, "%s to %s:%u: malformed answer: %s", k->type, g->host, g->port, why);
	call_finish(k, -EBADMSG, NULL, NULL, 0);
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
	struct call *k = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (k && nlen == 11 && memcmp(name, "grpc-status", 11) == 0 && vlen < 8) {
		char v[8];
		memcpy(v, value, vlen);
		v[vlen] = 0;
		k->grpc_status = atoi(v);
	}
	return 0;
}

static void bidi_handle(struct conn *c);

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *user)
{
	struct conn *c = user;
	if (!c->g)
		return 0;
	if (id == c->bidi_id) {
		if (inbuf_add(&c->bidi_in, data, len) < 0) {
			log_warn(LOG, "%s:%u: stream message larger than 10 MiB", c->g->host,
				 c->g->port);
			grpc_drop(c->g, "oversized message", GRPC_BACKOFF_MIN_MS);
			return 0;
		}
		bidi_handle(c);
		return 0;
	}
	struct call *k = nghttp2_session_get_stream_user_data(s, id);
	if (k && inbuf_add(&k->in, data, len) < 0) {
		log_warn(LOG, "%s to %s:%u: answer larger than 10 MiB", k->type, c->g->host,
			 c->g->port);
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
		call_finish(k, -EMSGSIZE, NULL, NULL, 0);
	}
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error, void *user)
{
	struct conn *c = user;
	if (!c->g)
		return 0;
	if (id == c->bidi_id) {
		c->bidi_id = -1;
		grpc_drop(c->g, "the server closed the stream", GRPC_BACKOFF_MIN_MS);
		return 0;
	}
	struct call *k = nghttp2_session_get_stream_user_data(s, id);
	if (k) {
		k->reset = error;
		call_complete(k);
	}
	return 0;
}

/* ---- the bi-directional stream ---- */

static int bidi_send(struct conn *c, const char *type, const char *json)
{
	uint8_t *bytes;
	size_t len;
	int rc = encode(c->g, type, json, &bytes, &len);
	if (rc < 0)
		return rc;
	struct outmsg *m = malloc(sizeof *m + len);
	if (!m) {
		free(bytes);
		return -ENOMEM;
	}
	*m = (struct outmsg){.len = len};
	memcpy(m->bytes, bytes, len);
	free(bytes);
	if (c->bidi_tail)
		c->bidi_tail->next = m;
	else
		c->bidi_out = m;
	c->bidi_tail = m;
	nghttp2_session_resume_data(c->h2, c->bidi_id);
	conn_flush(c);
	return 0;
}

/* Answers a server request with resultCode 200 under its requestId. */
static void bidi_answer(struct conn *c, const char *type, json_t *req)
{
	json_t *id = json_object_get(req, "requestId");
	if (!json_is_string(id)) {
		log_warn(LOG, "%s:%u: %s without a requestId: not answered", c->g->host, c->g->port,
			 type);
		return;
	}
	char *body = NULL;
	json_t *resp = json_pack("{s:i, s:i, s:b, s:O}", "resultCode", 200, "errorCode", 0,
				 "success", 1, "requestId", id);
	if (resp)
		body = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	if (!body || bidi_send(c, type, body) < 0)
		log_warn(LOG, "%s:%u: could not answer with %s", c->g->host, c->g->port, type);
	free(body);
}

static void grpc_registered(struct grpc *g, const char *why)
{
	if (g->phase != PHASE_SETUP)
		return;
	g->phase = PHASE_UP;
	g->ever_up = true;
	g->backoff_ms = GRPC_BACKOFF_MIN_MS;
	g->health_due = uv_now(g->loop) + GRPC_HEALTH_MS;
	log_info(LOG, "connected to %s:%u as %s", g->host, g->port, g->connection_id);
	grpc_arm(g);
	g->h.on_state(g->h.owner, true, why);
}

/* ConnectResetRequest may name another server (RpcClient.onServerRequest): its serverPort is
 * the HTTP port, so the gRPC port is 1000 above it. */
static void grpc_reset_to(struct grpc *g, json_t *req)
{
	const char *ip = json_string_value(json_object_get(req, "serverIp"));
	const char *port = json_string_value(json_object_get(req, "serverPort"));
	long p = port ? strtol(port, NULL, 10) : 0;
	if (!ip || !*ip || p <= 0 || p > 65535 - 1000)
		return;
	char *h = strdup(ip);
	if (!h)
		return;
	free(g->host);
	g->host = h;
	g->port = (uint16_t)(p + 1000);
}

static void bidi_request(struct conn *c, const char *type, const char *json, size_t len)
{
	struct grpc *g = c->g;
	json_error_t err;
	json_t *req = json_loadb(json, len, 0, &err);
	if (!json_is_object(req)) {
		log_warn(LOG, "%s:%u: %s: bad JSON: %s", g->host, g->port, type, err.text);
		json_decref(req);
		return;
	}
	if (strcmp(type, "SetupAckRequest") == 0) {
		grpc_registered(g, "setup acknowledged");
	} else if (strcmp(type, "ClientDetectionRequest") == 0) {
		bidi_answer(c, "ClientDetectionResponse", req);
	} else if (strcmp(type, "ConnectResetRequest") == 0) {
		bidi_answer(c, "ConnectResetResponse", req);
		log_info(LOG, "%s:%u asks to reconnect", g->host, g->port);
		grpc_reset_to(g, req);
		grpc_drop(g, "connect reset", 0);
	} else {
		g->h.on_push(g->h.owner, type, json, len);
		if (c->g && strcmp(type, "NotifySubscriberRequest") == 0)
			bidi_answer(c, "NotifySubscriberResponse", req);
	}
	json_decref(req);
}

/* Takes every whole message off the stream's buffer. */
static void bidi_handle(struct conn *c)
{
	size_t off = 0;
	while (c->g) {
		const uint8_t *msg;
		size_t len, used;
		int rc = grpcmsg_frame_next(c->bidi_in.p + off, c->bidi_in.len - off, &msg, &len,
					    &used);
		if (rc == 0)
			break;
		if (rc < 0) {
			log_warn(LOG, "%s:%u: stream message refused: %s", c->g->host, c->g->port,
				 rc == -EMSGSIZE ? "larger than 10 MiB" : "compressed");
			grpc_drop(c->g, "bad stream message", GRPC_BACKOFF_MIN_MS);
			return;
		}
		off += used;
		struct grpcmsg m;
		const char *why;
		if (grpcmsg_decode(msg, len, &m, &why) < 0) {
			log_warn(LOG, "%s:%u: malformed stream message: %s", c->g->host, c->g->port,
				 why);
			continue;
		}
		char type[64];
		snprintf(type, sizeof type, "%.*s", (int)m.type_len, m.type);
		char *json = strndup(m.json, m.json_len);
		if (json)
			bidi_request(c, type, json, m.json_len);
		free(json);
	}
	if (!c->g || off == 0)
		return;
	memmove(c->bidi_in.p, c->bidi_in.p + off, c->bidi_in.len - off);
	c->bidi_in.len -= off;
}

static int bidi_open(struct conn *c)
{
	struct grpc *g = c->g;
	nghttp2_nv nv[6];
	char authority[80];
	headers_for(g, "/BiRequestStream/requestBiStream", nv, authority, sizeof authority);
	nghttp2_data_provider dp = {.source.ptr = c, .read_callback = read_bidi};
	int32_t id = nghttp2_submit_request(c->h2, NULL, nv, 6, &dp, NULL);
	if (id < 0)
		return -EIO;
	c->bidi_id = id;
	json_t *setup = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{}}", "clientVersion",
				  g->client_version, "tenant", g->tenant, "labels", "source", "sdk",
				  "module", g->module, "headers");
	char *body = setup ? json_dumps(setup, JSON_COMPACT) : NULL;
	json_decref(setup);
	int rc = body ? bidi_send(c, "ConnectionSetupRequest", body) : -ENOMEM;
	free(body);
	return rc;
}

/* ---- connection ---- */

static void on_write(uv_write_t *w, int status)
{
	free(w);
}

/* Sends n bytes as they are (ciphertext with TLS). false once the connection is dropped. */
static bool conn_write(struct conn *c, const uint8_t *data, size_t n)
{
	uv_write_t *w = malloc(sizeof *w + n);
	if (!w) {
		grpc_drop(c->g, "out of memory", GRPC_BACKOFF_MIN_MS);
		return false;
	}
	memcpy(w + 1, data, n);
	uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)n);
	int rc = uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (rc < 0) {
		free(w);
		log_warn(LOG, "%s:%u: write: %s", c->g->host, c->g->port, uv_strerror(rc));
		grpc_drop(c->g, "write failed", GRPC_BACKOFF_MIN_MS);
		return false;
	}
	return true;
}

/* With TLS, the records the session made (handshake or encrypted frames) go out. */
static void conn_flush_tls(struct conn *c)
{
	uint8_t buf[16384];
	size_t n;
	while (c->g && (n = tlspipe_take(c->tls, buf, sizeof buf)) > 0)
		if (!conn_write(c, buf, n))
			return;
}

static void conn_flush(struct conn *c)
{
	if (!c->g || c->in_recv || !c->tcp_open)
		return;
	while (c->h2) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->h2, &data);
		if (n < 0) {
			log_warn(LOG, "%s:%u: %s", c->g->host, c->g->port,
				 nghttp2_strerror((int)n));
			grpc_drop(c->g, "HTTP/2 error", GRPC_BACKOFF_MIN_MS);
			return;
		}
		if (n == 0)
			break;
		if (c->tls && tlspipe_write(c->tls, data, (size_t)n) < 0) {
			log_warn(LOG, "%s:%u: %s", c->g->host, c->g->port, tlspipe_error(c->tls));
			grpc_drop(c->g, "TLS error", GRPC_BACKOFF_MIN_MS);
			return;
		}
		if (!c->tls && !conn_write(c, data, (size_t)n))
			return;
	}
	if (c->tls)
		conn_flush_tls(c);
}

static void on_conn_close(uv_handle_t *h)
{
	struct conn *c = h->data;
	nghttp2_session_del(c->h2);
	tlspipe_free(c->tls);
	while (c->bidi_out) {
		struct outmsg *m = c->bidi_out;
		c->bidi_out = m->next;
		free(m);
	}
	free(c->bidi_in.p);
	free(c);
}

/* Forgets the connection (freed once its handle is closed), fails its calls and schedules the
 * next one retry_ms from now (negative: none). */
static void grpc_drop(struct grpc *g, const char *why, long retry_ms)
{
	struct conn *c = g->conn;
	bool was_up = g->phase == PHASE_UP;
	if (!c)
		return;
	g->conn = NULL;
	c->g = NULL;
	g->phase = PHASE_IDLE;
	uv_close((uv_handle_t *)&c->tcp, on_conn_close);
	if (!was_up)
		log_msg(grpc_fail_level(g), LOG, "%s:%u: %s", g->host, g->port, why);
	else
		log_info(LOG, "connection to %s:%u lost: %s", g->host, g->port, why);
	if (retry_ms >= 0) {
		long delay = retry_ms ? g->backoff_ms : 0;
		g->next_try = uv_now(g->loop) + (uint64_t)delay;
		if (retry_ms && g->backoff_ms < GRPC_BACKOFF_MAX_MS)
			g->backoff_ms *= 2;
		if (g->backoff_ms > GRPC_BACKOFF_MAX_MS)
			g->backoff_ms = GRPC_BACKOFF_MAX_MS;
	}
	fail_calls(g, g->closing ? -ECANCELED : -ECONNRESET);
	if (!g->closing)
		grpc_arm(g);
	if (was_up && !g->closing)
		g->h.on_state(g->h.owner, false, why);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char buf[65536]; /* one loop thread; the bytes are consumed in on_read */
	*b = uv_buf_init(buf, sizeof buf);
}

static bool conn_begin(struct conn *c);

/* Bytes for nghttp2 (plaintext). false once the connection is dropped. */
static bool conn_recv(struct conn *c, const uint8_t *data, size_t n)
{
	c->in_recv = true;
	ssize_t rc = nghttp2_session_mem_recv(c->h2, data, n);
	c->in_recv = false;
	if (!c->g)
		return false;
	if (rc < 0) {
		log_warn(LOG, "%s:%u: %s", c->g->host, c->g->port, nghttp2_strerror((int)rc));
		grpc_drop(c->g, "HTTP/2 error", GRPC_BACKOFF_MIN_MS);
		return false;
	}
	return true;
}

/* Ciphertext from the socket: the handshake advances, and once it is done HTTP/2 starts and
 * reads what the records carry. false once the connection is dropped. */
static bool conn_recv_tls(struct conn *c, const uint8_t *data, size_t n)
{
	static uint8_t plain[65536]; /* one loop thread; consumed before the next read */
	if (tlspipe_feed(c->tls, data, n) < 0) {
		grpc_drop(c->g, "out of memory", GRPC_BACKOFF_MIN_MS);
		return false;
	}
	for (;;) {
		ssize_t got = tlspipe_read(c->tls, plain, sizeof plain);
		if (got < 0) {
			char why[300];
			snprintf(why, sizeof why, "%s", tlspipe_error(c->tls));
			grpc_drop(c->g, why, GRPC_BACKOFF_MIN_MS);
			return false;
		}
		if (!c->h2 && tlspipe_ready(c->tls) && !conn_begin(c))
			return false;
		if (got == 0 || !conn_recv(c, plain, (size_t)got))
			return got == 0;
	}
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;
	if (!c->g || n == 0)
		return;
	if (n < 0) {
		grpc_drop(c->g, n == UV_EOF ? "closed by the server" : uv_strerror((int)n),
			  GRPC_BACKOFF_MIN_MS);
		return;
	}
	const uint8_t *data = (const uint8_t *)b->base;
	if (!(c->tls ? conn_recv_tls(c, data, (size_t)n) : conn_recv(c, data, (size_t)n)))
		return;
	conn_flush(c);
	if (c->g && c->h2 && !nghttp2_session_want_read(c->h2) &&
	    !nghttp2_session_want_write(c->h2))
		grpc_drop(c->g, "the server went away", GRPC_BACKOFF_MIN_MS);
}

static void on_server_check(void *arg, int error, const char *type, const char *json, size_t len)
{
	struct grpc *g = arg;
	if (error == -ECANCELED || error == -ECONNRESET || g->phase != PHASE_CHECKING)
		return;
	json_t *r = error ? NULL : json_loadb(json, len, 0, NULL);
	const char *id = json_string_value(json_object_get(r, "connectionId"));
	if (!id || strcmp(type, "ServerCheckResponse") != 0) {
		char why[160];
		snprintf(why, sizeof why, "server check failed: %s",
			 error  ? strerror(-error)
			 : json ? json
				: "");
		json_decref(r);
		grpc_drop(g, why, GRPC_BACKOFF_MIN_MS);
		return;
	}
	snprintf(g->connection_id, sizeof g->connection_id, "%s", id);
	json_decref(r);
	g->phase = PHASE_SETUP;
	g->setup_due = uv_now(g->loop) + GRPC_SETUP_WAIT_MS;
	if (bidi_open(g->conn) < 0) {
		grpc_drop(g, "could not open the stream", GRPC_BACKOFF_MIN_MS);
		return;
	}
	grpc_arm(g);
}

static int conn_start_h2(struct conn *c)
{
	nghttp2_session_callbacks *cbs;
	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return -ENOMEM;
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	int rc = nghttp2_session_client_new(&c->h2, cbs, c);
	nghttp2_session_callbacks_del(cbs);
	if (rc != 0)
		return -ENOMEM;
	nghttp2_settings_entry iv[] = {
		{.settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH, .value = 0},
		{.settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, .value = GRPC_WINDOW},
	};
	if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
	    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, GRPC_WINDOW) != 0)
		return -ENOMEM;
	return 0;
}

/* The byte stream is ready (TCP connected, or the TLS handshake done): HTTP/2 starts and the
 * server check goes out. false once the connection is dropped. */
static bool conn_begin(struct conn *c)
{
	struct grpc *g = c->g;
	int rc = conn_start_h2(c);
	g->phase = PHASE_CHECKING;
	if (rc == 0)
		rc = submit_call(g, "ServerCheckRequest", "{\"headers\":{}}", g->timeout_ms,
				 on_server_check, g);
	if (rc < 0) {
		grpc_drop(g, "could not start HTTP/2", GRPC_BACKOFF_MIN_MS);
		return false;
	}
	return true;
}

static void on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct grpc *g = c->g;
	if (!g)
		return;
	if (status < 0) {
		char why[128];
		snprintf(why, sizeof why, "connect: %s", uv_strerror(status));
		grpc_drop(g, why, GRPC_BACKOFF_MIN_MS);
		return;
	}
	c->tcp_open = true;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
		grpc_drop(g, "could not read", GRPC_BACKOFF_MIN_MS);
		return;
	}
	if (!g->tls) {
		conn_begin(c);
		return;
	}
	/* The handshake runs within the connect deadline; the first read sends the ClientHello. */
	char why[300];
	if (tlspipe_new(g->host, g->ca_file, "h2", &c->tls, why, sizeof why) < 0 ||
	    tlspipe_read(c->tls, NULL, 0) < 0) {
		if (c->tls)
			snprintf(why, sizeof why, "%s", tlspipe_error(c->tls));
		grpc_drop(g, why, GRPC_BACKOFF_MIN_MS);
		return;
	}
	conn_flush(c);
}

static void grpc_connect_addr(struct grpc *g)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c) {
		g->phase = PHASE_IDLE;
		g->next_try = uv_now(g->loop) + GRPC_BACKOFF_MIN_MS;
		return;
	}
	c->g = g;
	c->bidi_id = -1;
	uv_tcp_init(g->loop, &c->tcp);
	c->tcp.data = c;
	c->connect.data = c;
	g->conn = c;
	g->phase = PHASE_CONNECTING;
	g->setup_due = uv_now(g->loop) + (uint64_t)g->timeout_ms; /* the connect deadline */
	int rc = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&g->addr, on_connect);
	if (rc < 0) {
		char why[128];
		snprintf(why, sizeof why, "connect: %s", uv_strerror(rc));
		grpc_drop(g, why, GRPC_BACKOFF_MIN_MS);
	}
}

/* A failure before there is a connection: the next try after the backoff. */
static void grpc_retry(struct grpc *g, const char *why)
{
	log_msg(grpc_fail_level(g), LOG, "%s:%u: %s", g->host, g->port, why);
	g->phase = PHASE_IDLE;
	g->next_try = uv_now(g->loop) + (uint64_t)g->backoff_ms;
	if (g->backoff_ms < GRPC_BACKOFF_MAX_MS)
		g->backoff_ms *= 2;
	grpc_arm(g);
}

static void grpc_free(struct grpc *g)
{
	free(g->host);
	free(g->client_version);
	free(g->tenant);
	free(g->module);
	free(g->token);
	free(g->ca_file);
	free(g);
}

/* The first IPv4 address, else the first of any family. */
static const struct addrinfo *pick_addr(const struct addrinfo *ai)
{
	for (const struct addrinfo *a = ai; a; a = a->ai_next)
		if (a->ai_family == AF_INET)
			return a;
	return ai;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
	struct grpc *g = req->data;
	g->resolving = false;
	if (g->closing) {
		uv_freeaddrinfo(ai);
		if (g->timer_closed)
			grpc_free(g);
		return;
	}
	const struct addrinfo *a = status == 0 ? pick_addr(ai) : NULL;
	if (!a || a->ai_addrlen > sizeof g->addr) {
		char why[160];
		snprintf(why, sizeof why, "resolve: %s",
			 status < 0 ? uv_strerror(status) : "no address");
		uv_freeaddrinfo(ai);
		grpc_retry(g, why);
		return;
	}
	memcpy(&g->addr, a->ai_addr, a->ai_addrlen);
	uv_freeaddrinfo(ai);
	if (g->addr.ss_family == AF_INET)
		((struct sockaddr_in *)&g->addr)->sin_port = htons(g->port);
	else
		((struct sockaddr_in6 *)&g->addr)->sin6_port = htons(g->port);
	grpc_connect_addr(g);
	grpc_arm(g);
}

/* Names are resolved before every connection (off the loop, by libuv's thread pool), so a
 * server that moved is found again. */
static void grpc_connect(struct grpc *g)
{
	if (uv_ip4_addr(g->host, g->port, (struct sockaddr_in *)&g->addr) == 0 ||
	    uv_ip6_addr(g->host, g->port, (struct sockaddr_in6 *)&g->addr) == 0) {
		grpc_connect_addr(g);
		return;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	g->resolve.data = g;
	g->phase = PHASE_RESOLVING;
	int rc = uv_getaddrinfo(g->loop, &g->resolve, on_resolved, g->host, NULL, &hints);
	if (rc < 0) {
		char why[160];
		snprintf(why, sizeof why, "resolve: %s", uv_strerror(rc));
		grpc_retry(g, why);
		return;
	}
	g->resolving = true;
}

/* ---- time ---- */

static void on_health(void *arg, int error, const char *type, const char *json, size_t len)
{
	struct grpc *g = arg;
	if (error == -ECANCELED || error == -ECONNRESET)
		return;
	json_t *r = error ? NULL : json_loadb(json, len, 0, NULL);
	json_int_t code = json_integer_value(json_object_get(r, "resultCode"));
	json_decref(r);
	if (code != 200)
		grpc_drop(g, "health check failed", 0);
}

static void grpc_tick(struct grpc *g)
{
	uint64_t now = uv_now(g->loop);
	for (struct call *k = g->calls, *next; k; k = next) {
		next = k->next;
		if (k->deadline > now)
			continue;
		if (k->conn == g->conn && g->conn)
			nghttp2_submit_rst_stream(g->conn->h2, NGHTTP2_FLAG_NONE, k->stream_id,
						  NGHTTP2_CANCEL);
		call_finish(k, -ETIMEDOUT, NULL, NULL, 0);
		next = g->calls; /* the callback may have changed the list */
	}
	if (g->conn)
		conn_flush(g->conn);
	if (g->phase == PHASE_IDLE && g->started && now >= g->next_try)
		grpc_connect(g);
	else if (g->phase == PHASE_CONNECTING && now >= g->setup_due)
		grpc_drop(g,
			  g->conn && g->conn->tcp_open ? "TLS handshake: timed out"
						       : "connect: timed out",
			  GRPC_BACKOFF_MIN_MS);
	else if (g->phase == PHASE_SETUP && now >= g->setup_due)
		grpc_registered(g, "setup sent");
	else if (g->phase == PHASE_UP && now >= g->health_due) {
		g->health_due = now + GRPC_HEALTH_MS;
		if (submit_call(g, "HealthCheckRequest", "{\"headers\":{}}", g->timeout_ms,
				on_health, g) < 0)
			grpc_drop(g, "health check failed", 0);
	}
}

static void on_timer(uv_timer_t *t)
{
	struct grpc *g = t->data;
	grpc_tick(g);
	if (!g->closing)
		grpc_arm(g);
}

static void grpc_arm(struct grpc *g)
{
	if (g->closing)
		return;
	uint64_t due = UINT64_MAX, now = uv_now(g->loop);
	for (struct call *k = g->calls; k; k = k->next)
		if (k->deadline < due)
			due = k->deadline;
	if (g->phase == PHASE_IDLE && g->started && g->next_try < due)
		due = g->next_try;
	if ((g->phase == PHASE_SETUP || g->phase == PHASE_CONNECTING) && g->setup_due < due)
		due = g->setup_due;
	if (g->phase == PHASE_UP && g->health_due < due)
		due = g->health_due;
	if (due == UINT64_MAX)
		uv_timer_stop(&g->timer);
	else
		uv_timer_start(&g->timer, on_timer, due > now ? due - now : 0, 0);
}

/* ---- public ---- */

static char *dup_or(const char *s, const char *dflt)
{
	return strdup(s ? s : dflt);
}

int grpc_new(uv_loop_t *loop, const struct grpc_options *o, const struct grpc_handlers *h,
	     struct grpc **out)
{
	struct grpc *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	*g = (struct grpc){.loop = loop,
			   .h = *h,
			   .port = o->port,
			   .phase = PHASE_IDLE,
			   .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 3000,
			   .quiet = o->quiet,
			   .backoff_ms = GRPC_BACKOFF_MIN_MS};
	if (!o->host || !*o->host || o->port == 0 || !h->on_state || !h->on_push) {
		log_err(LOG, "%s:%u: no host or port", o->host ? o->host : "(none)", o->port);
		free(g);
		return -EINVAL;
	}
	g->host = strdup(o->host);
	g->client_version = dup_or(o->client_version, "nacos-dns");
	g->tenant = dup_or(o->tenant, "");
	g->module = dup_or(o->module, "naming");
	g->tls = o->tls;
	g->ca_file = o->ca_file && *o->ca_file ? strdup(o->ca_file) : NULL;
	if (!g->host || !g->client_version || !g->tenant || !g->module ||
	    (o->ca_file && *o->ca_file && !g->ca_file)) {
		grpc_free(g);
		return -ENOMEM;
	}
	uv_timer_init(loop, &g->timer);
	g->timer.data = g;
	*out = g;
	return 0;
}

int grpc_start(struct grpc *g)
{
	if (g->started || g->closing)
		return -EALREADY;
	g->started = true;
	g->next_try = uv_now(g->loop);
	grpc_arm(g);
	return 0;
}

int grpc_set_token(struct grpc *g, const char *token)
{
	char *t = NULL;
	if (token && *token && !(t = strdup(token)))
		return -ENOMEM;
	free(g->token);
	g->token = t;
	return 0;
}

bool grpc_is_up(const struct grpc *g)
{
	return g->phase == PHASE_UP;
}

int grpc_request(struct grpc *g, const char *type, const char *json, long timeout_ms,
		 grpc_reply_cb cb, void *arg)
{
	if (g->phase != PHASE_UP || g->closing)
		return -ENOTCONN;
	return submit_call(g, type, json, timeout_ms, cb, arg);
}

static void on_timer_close(uv_handle_t *h)
{
	struct grpc *g = h->data;
	g->timer_closed = true;
	if (!g->resolving)
		grpc_free(g);
}

void grpc_close(struct grpc *g)
{
	if (!g || g->closing)
		return;
	g->closing = true;
	grpc_drop(g, "closing", -1);
	fail_calls(g, -ECANCELED);
	if (g->resolving)
		uv_cancel((uv_req_t *)&g->resolve); /* on_resolved still runs, with UV_ECANCELED */
	uv_close((uv_handle_t *)&g->timer, on_timer_close);
}

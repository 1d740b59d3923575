/* See grpcsub.h. The subscriptions live in a hash table; those to (re)send wait on a FIFO and go
 * out at most GRPCSUB_INFLIGHT at a time, so that 10,000 services subscribing after a reconnect
 * do not open 10,000 streams at once. */
#include "resolver/sync/grpcsub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "build_config.h"
#include "resolver/log.h"
#include "resolver/sync/grpc.h"
#include "zones/nacos/grpcnaming.h"
#include "zones/nacos/nacos.h"

#define LOG               "grpc"
#define GRPCSUB_INFLIGHT  64
#define GRPCSUB_MAX_NS    16    /* namespaces a push is looked up in (one per zone) */
#define GRPCSUB_ROTATE_MS 10000 /* a server not up this long: the next one is tried */
#define GRPCSUB_TICK_MS   1000
#define GRPCSUB_RETRY_MS  2000 /* a subscription that failed is sent again this much later */

enum sub_state { SUB_QUEUED, SUB_INFLIGHT, SUB_DONE, SUB_DENIED, SUB_FAILED };

struct sub {
	struct sub *hnext;          /* hash chain */
	struct sub *qnext, **qprev; /* the send queue, while SUB_QUEUED */
	struct grpcsub *g;
	uint32_t hash;
	enum sub_state state;
	bool doomed;  /* unsubscribed while in flight: freed when the answer comes */
	unsigned gen; /* the token generation it was last sent with */
	int64_t retry_ms;
	char *ns, *group, *name;
};

struct listreq {
	struct grpcsub *g;
	grpcsub_list_cb cb;
	void *arg;
};

struct grpcsub {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct grpcsub_handlers h;
	struct grpc *conn;
	char urls[16][256];
	char *tokens[16];
	unsigned token_gen; /* bumped at each new token: denials of older requests are not news */
	size_t n_servers, cur;
	char *tenant;
	char *ca_file; /* NULL: the system's CA store */
	bool required, closing, up, ever_up;
	bool told_absent; /* "no gRPC" was logged for this server */
	int64_t since_ms; /* when the current server was last up or first tried */
	struct sub **buckets;
	size_t n_buckets, n_subs;
	struct sub *queue, **qtail;
	unsigned inflight;
	char *ns[GRPCSUB_MAX_NS];
	size_t n_ns;
	struct grpcsub_stats st;
};

static void grpcsub_pump(struct grpcsub *g);
static int grpcsub_connect(struct grpcsub *g);

static int64_t now_ms(const struct grpcsub *g)
{
	return (int64_t)uv_now(g->loop);
}

/* ---- the table ---- */

static uint32_t sub_hash(const char *ns, const char *group, const char *name)
{
	uint32_t h = 2166136261u;
	const char *parts[3] = {ns, group, name};
	for (int i = 0; i < 3; i++) {
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (uint8_t)*p) * 16777619u;
		h = (h ^ 0x1f) * 16777619u;
	}
	return h;
}

static struct sub *sub_find(const struct grpcsub *g, const char *ns, const char *group,
			    const char *name)
{
	uint32_t h = sub_hash(ns, group, name);
	for (struct sub *s = g->buckets[h & (g->n_buckets - 1)]; s; s = s->hnext)
		if (s->hash == h && strcmp(s->name, name) == 0 && strcmp(s->group, group) == 0 &&
		    strcmp(s->ns, ns) == 0)
			return s;
	return NULL;
}

static void sub_grow(struct grpcsub *g)
{
	size_t n = g->n_buckets * 2;
	struct sub **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < g->n_buckets; i++)
		for (struct sub *s = g->buckets[i], *next; s; s = next) {
			next = s->hnext;
			s->hnext = b[s->hash & (n - 1)];
			b[s->hash & (n - 1)] = s;
		}
	free(g->buckets);
	g->buckets = b;
	g->n_buckets = n;
}

static void sub_free(struct sub *s)
{
	free(s->ns);
	free(s->group);
	free(s->name);
	free(s);
}

static void queue_remove(struct grpcsub *g, struct sub *s)
{
	if (s->state != SUB_QUEUED)
		return;
	*s->qprev = s->qnext;
	if (s->qnext)
		s->qnext->qprev = s->qprev;
	else
		g->qtail = s->qprev;
	s->qnext = NULL;
	s->qprev = NULL;
}

/* s goes to the end of the send queue (from any state but in flight). */
static void queue_add(struct grpcsub *g, struct sub *s)
{
	if (s->state == SUB_QUEUED || s->state == SUB_INFLIGHT)
		return;
	if (s->state == SUB_DONE)
		g->st.subscribed--;
	s->state = SUB_QUEUED;
	s->qnext = NULL;
	s->qprev = g->qtail;
	*g->qtail = s;
	g->qtail = &s->qnext;
}

static void sub_unlink(struct grpcsub *g, struct sub *s)
{
	struct sub **p = &g->buckets[s->hash & (g->n_buckets - 1)];
	while (*p != s)
		p = &(*p)->hnext;
	*p = s->hnext;
	g->n_subs--;
	queue_remove(g, s);
	if (s->state == SUB_DONE)
		g->st.subscribed--;
}

/* The namespaces a push may be for: each one subscribed in, kept (a zone's). */
static void ns_note(struct grpcsub *g, const char *ns)
{
	for (size_t i = 0; i < g->n_ns; i++)
		if (strcmp(g->ns[i], ns) == 0)
			return;
	if (g->n_ns < GRPCSUB_MAX_NS && (g->ns[g->n_ns] = strdup(ns)))
		g->n_ns++;
}

/* ---- subscribing ---- */

static void sub_parse_and_hand(struct grpcsub *g, struct sub *s, const char *json, size_t len)
{
	struct nacos_service *svc;
	int64_t ref;
	int rc = nacos_parse_grpc_service(json, len, NULL, &svc, &ref);
	if (rc < 0) {
		log_warn(LOG, "subscribing %s/%s/%s: malformed serviceInfo", s->ns, s->group,
			 s->name);
		return;
	}
	if (strcmp(svc->group, s->group) != 0 || strcmp(svc->name, s->name) != 0) {
		log_warn(LOG, "subscribing %s/%s/%s: the answer is for %s/%s", s->ns, s->group,
			 s->name, svc->group, svc->name);
		nacos_service_free(svc);
		return;
	}
	g->h.on_service(g->h.owner, g->cur, s->ns, svc, ref, false);
}

static void sub_failed(struct grpcsub *g, struct sub *s, enum sub_state state)
{
	s->state = state;
	s->retry_ms = now_ms(g) + GRPCSUB_RETRY_MS;
}

static void on_subscribed(void *arg, int error, const char *type, const char *json, size_t len)
{
	struct sub *s = arg;
	struct grpcsub *g = s->g;
	long code = 0;
	g->inflight--;
	if (s->doomed) {
		sub_free(s);
		grpcsub_pump(g);
		return;
	}
	if (error == -ECANCELED && g->closing)
		return;
	enum grpcnaming_result r = error ? GRPCNAMING_FAILED : grpcnaming_result(json, len, &code);
	if (r == GRPCNAMING_OK) {
		s->state = SUB_DONE;
		g->st.subscribed++;
		sub_parse_and_hand(g, s, json, len);
	} else if (r == GRPCNAMING_DENIED && s->gen != g->token_gen) {
		s->state = SUB_FAILED; /* sent with an older token: at once with the new one */
		s->retry_ms = 0;
		queue_add(g, s);
	} else if (r == GRPCNAMING_DENIED) {
		s->state = SUB_DENIED;
		g->h.on_denied(g->h.owner, g->cur);
	} else {
		if (error != -ECONNRESET && error != -ECANCELED)
			log_debug(LOG, "subscribing %s/%s/%s failed: %s", s->ns, s->group, s->name,
				  error ? strerror(-error) : "error answer");
		sub_failed(g, s, SUB_FAILED);
		if (error == -ECONNRESET || error == -ECANCELED)
			s->retry_ms = 0; /* sent again when the connection is back */
	}
	grpcsub_pump(g);
}

static void sub_send(struct grpcsub *g, struct sub *s)
{
	char *body = grpcnaming_subscribe(s->ns, s->group, s->name, true);
	int rc = body ? grpc_request(g->conn, "SubscribeServiceRequest", body, 0, on_subscribed, s)
		      : -ENOMEM;
	free(body);
	if (rc < 0) {
		sub_failed(g, s, SUB_FAILED);
		return;
	}
	s->state = SUB_INFLIGHT;
	s->gen = g->token_gen;
	g->inflight++;
}

/* Sends queued subscriptions while the connection is up and there is room. */
static void grpcsub_pump(struct grpcsub *g)
{
	while (g->up && !g->closing && g->queue && g->inflight < GRPCSUB_INFLIGHT) {
		struct sub *s = g->queue;
		queue_remove(g, s);
		s->state = SUB_FAILED; /* out of the queue; sub_send sets what follows */
		sub_send(g, s);
	}
}

/* Queues again every subscription failed (due_only: whose retry time has come), confirmed
 * (done_too) or denied (denied_too). Returns how many. */
static size_t requeue(struct grpcsub *g, bool done_too, bool denied_too, bool due_only)
{
	int64_t now = now_ms(g);
	size_t n = 0;
	for (size_t i = 0; i < g->n_buckets; i++)
		for (struct sub *s = g->buckets[i]; s; s = s->hnext) {
			bool pick = (s->state == SUB_FAILED && (!due_only || s->retry_ms <= now)) ||
				    (done_too && s->state == SUB_DONE) ||
				    (denied_too && s->state == SUB_DENIED);
			if (pick && !s->doomed) {
				queue_add(g, s);
				n++;
			}
		}
	return n;
}

/* ---- pushes ---- */

/* A NotifySubscriberRequest names no namespace (PushExecuteTask sends the serviceInfo alone):
 * it is for the one namespace its service is subscribed in; when several zones subscribe it,
 * each is asked again, whose answer carries the namespace. */
static void on_push(void *owner, const char *type, const char *json, size_t len)
{
	struct grpcsub *g = owner;
	struct nacos_service *svc;
	struct sub *found = NULL;
	int64_t ref;
	size_t matches = 0;
	if (strcmp(type, "NotifySubscriberRequest") != 0) {
		log_debug(LOG, "%s from the server ignored", type);
		return;
	}
	g->st.notifies++;
	if (nacos_parse_grpc_service(json, len, NULL, &svc, &ref) < 0) {
		g->st.notify_rejected++;
		log_warn(LOG, "push from %s: malformed serviceInfo: ignored", g->urls[g->cur]);
		return;
	}
	for (size_t i = 0; i < g->n_ns; i++) {
		struct sub *s = sub_find(g, g->ns[i], svc->group, svc->name);
		if (s && !s->doomed) {
			found = s;
			matches++;
		}
	}
	if (matches != 1) {
		for (size_t i = 0; matches > 1 && i < g->n_ns; i++) {
			struct sub *s = sub_find(g, g->ns[i], svc->group, svc->name);
			if (s && s->state == SUB_DONE)
				queue_add(g, s);
		}
		g->st.notify_stale++;
		log_debug(LOG, "push of %s@@%s: %s", svc->group, svc->name,
			  matches ? "several namespaces subscribe it: asked again"
				  : "not subscribed");
		nacos_service_free(svc);
		grpcsub_pump(g);
		return;
	}
	if (g->h.on_service(g->h.owner, g->cur, found->ns, svc, ref, true))
		g->st.notify_applied++;
	else
		g->st.notify_stale++;
}

/* ---- the connection ---- */

static void on_state(void *owner, bool up, const char *why)
{
	struct grpcsub *g = owner;
	g->up = up;
	g->since_ms = now_ms(g);
	if (up) {
		/* After any reconnect the server holds no subscription of ours
		 * (naming/.../client/manager/impl/ConnectionBasedClientManager.java drops the
		 * client with its connection). */
		size_t n = requeue(g, true, true, false);
		if (g->ever_up) {
			g->st.reconnects++;
			g->st.resubscriptions += n;
		}
		g->ever_up = true;
		log_info(LOG, "%s: subscribing %zu services over gRPC", g->urls[g->cur], n);
	} else {
		for (size_t i = 0; i < g->n_buckets; i++)
			for (struct sub *s = g->buckets[i]; s; s = s->hnext)
				if (s->state == SUB_DONE) {
					g->st.subscribed--;
					s->state = SUB_FAILED;
					s->retry_ms = 0;
				}
	}
	g->h.on_state(g->h.owner, g->cur, up);
	grpcsub_pump(g);
}

/* "http(s)://host:port/..." -> host, port + 1000 and whether TLS is spoken (as the server's
 * HTTP port does); false for a port without room. The Nacos SDK asks TLS of the same port
 * (common/src/main/java/com/alibaba/nacos/common/remote/client/RpcClientTlsConfig.java), and
 * a server with TLS on may take plaintext on it as well (core/src/main/java/com/alibaba/nacos/
 * core/remote/grpc/negotiator/tls/OptionalTlsProtocolNegotiator.java): an https URL says the
 * operator wants TLS, so nacos-dns never falls back to plaintext for it. */
static bool url_grpc(const char *url, char *host, size_t cap, uint16_t *port, bool *tls)
{
	const char *h;
	size_t n;
	*tls = strncmp(url, "https://", 8) == 0;
	if (!*tls && strncmp(url, "http://", 7) != 0)
		return false;
	h = url + (*tls ? 8 : 7);
	if (*h == '[')
		n = strcspn(++h, "]");
	else
		n = strcspn(h, ":/");
	if (n == 0 || n >= cap)
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	const char *p = h + n + (h[n] == ']');
	long v = *p == ':' ? strtol(p + 1, NULL, 10) : *tls ? 443 : 80;
	if (v <= 0 || v > 65535 - 1000)
		return false;
	*port = (uint16_t)(v + 1000);
	return true;
}

/* Connects to the current server (skipping those without h2c). */
static int grpcsub_connect(struct grpcsub *g)
{
	char host[256];
	uint16_t port = 0;
	bool tls = false;
	for (size_t k = 0; k < g->n_servers; k++, g->cur = (g->cur + 1) % g->n_servers)
		if (url_grpc(g->urls[g->cur], host, sizeof(host), &port, &tls))
			break;
	if (!port)
		return -EINVAL;
	struct grpc_options o = {.host = host,
				 .port = port,
				 .tls = tls,
				 .ca_file = g->ca_file,
				 .client_version = "Nacos-DNS:v1.0.1 nacos-dns/" NACOS_DNS_VERSION,
				 .tenant = g->tenant,
				 .module = "naming",
				 .quiet = !g->required};
	struct grpc_handlers hh = {.owner = g, .on_state = on_state, .on_push = on_push};
	int rc = grpc_new(g->loop, &o, &hh, &g->conn);
	if (rc < 0)
		return rc;
	grpc_set_token(g->conn, g->tokens[g->cur]);
	g->since_ms = now_ms(g);
	log_msg(g->required ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG, LOG, "%s: connecting to %s:%u",
		g->urls[g->cur], host, port);
	return grpc_start(g->conn);
}

/* The current server has not come up for a while: the next one of the cluster is tried. */
static void grpcsub_rotate(struct grpcsub *g)
{
	size_t from = g->cur;
	grpc_close(g->conn); /* fails our requests: they are queued again */
	g->conn = NULL;
	g->cur = (g->cur + 1) % g->n_servers;
	if (grpcsub_connect(g) < 0) {
		g->conn = NULL;
		return;
	}
	if (g->cur != from)
		log_info(LOG, "%s: no gRPC connection for %ds: trying %s", g->urls[from],
			 GRPCSUB_ROTATE_MS / 1000, g->urls[g->cur]);
}

static void on_tick(uv_timer_t *t)
{
	struct grpcsub *g = t->data;
	if (!g->ever_up && !g->told_absent && now_ms(g) - g->since_ms >= GRPCSUB_ROTATE_MS) {
		g->told_absent = true;
		log_msg(g->required ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, LOG,
			"%s: no gRPC on its port + 1000: HTTP polls only, gRPC tried again with "
			"backoff",
			g->urls[g->cur]);
	}
	if (!g->up && g->n_servers > 1 && now_ms(g) - g->since_ms >= GRPCSUB_ROTATE_MS)
		grpcsub_rotate(g);
	if (g->up) {
		requeue(g, false, false, true);
		grpcsub_pump(g);
	}
}

/* ---- public ---- */

int grpcsub_new(uv_loop_t *loop, const struct grpcsub_options *o, const struct grpcsub_handlers *h,
		struct grpcsub **out)
{
	struct grpcsub *g = calloc(1, sizeof(*g));
	if (!g || !(g->buckets = calloc(g->n_buckets = 64, sizeof(*g->buckets))) ||
	    !(g->tenant = strdup(o->tenant ? o->tenant : "")) ||
	    (o->ca_file && *o->ca_file && !(g->ca_file = strdup(o->ca_file)))) {
		if (g) {
			free(g->buckets);
			free(g->tenant);
		}
		free(g);
		return -ENOMEM;
	}
	g->loop = loop;
	g->h = *h;
	g->required = o->required;
	g->n_servers = o->n_servers < 16 ? o->n_servers : 16;
	memcpy(g->urls, o->urls, g->n_servers * sizeof(g->urls[0]));
	g->qtail = &g->queue;
	int rc = grpcsub_connect(g);
	if (rc < 0) {
		grpc_close(g->conn);
		free(g->tenant);
		free(g->ca_file);
		free(g->buckets);
		free(g);
		return rc;
	}
	uv_timer_init(loop, &g->timer);
	g->timer.data = g;
	uv_timer_start(&g->timer, on_tick, GRPCSUB_TICK_MS, GRPCSUB_TICK_MS);
	*out = g;
	return 0;
}

static void on_timer_close(uv_handle_t *t)
{
	struct grpcsub *g = t->data;
	for (size_t i = 0; i < g->n_buckets; i++)
		for (struct sub *s = g->buckets[i], *next; s; s = next) {
			next = s->hnext;
			sub_free(s);
		}
	for (size_t i = 0; i < g->n_ns; i++)
		free(g->ns[i]);
	for (size_t i = 0; i < 16; i++)
		free(g->tokens[i]);
	free(g->buckets);
	free(g->tenant);
	free(g->ca_file);
	free(g);
}

void grpcsub_close(struct grpcsub *g)
{
	if (!g || g->closing)
		return;
	g->closing = true;
	g->up = false;
	grpc_close(g->conn); /* the answers of doomed subscriptions free them */
	uv_close((uv_handle_t *)&g->timer, on_timer_close);
}

int grpcsub_subscribe(struct grpcsub *g, const char *ns, const char *group, const char *name)
{
	if (sub_find(g, ns, group, name))
		return 0;
	struct sub *s = calloc(1, sizeof(*s));
	if (!s || !(s->ns = strdup(ns)) || !(s->group = strdup(group)) ||
	    !(s->name = strdup(name))) {
		if (s)
			sub_free(s);
		return -ENOMEM;
	}
	s->g = g;
	s->hash = sub_hash(ns, group, name);
	s->state = SUB_FAILED;
	if (g->n_subs >= g->n_buckets)
		sub_grow(g);
	s->hnext = g->buckets[s->hash & (g->n_buckets - 1)];
	g->buckets[s->hash & (g->n_buckets - 1)] = s;
	g->n_subs++;
	ns_note(g, ns);
	queue_add(g, s);
	grpcsub_pump(g);
	return 0;
}

static void on_unsubscribed(void *arg, int error, const char *type, const char *json, size_t len)
{
}

void grpcsub_unsubscribe(struct grpcsub *g, const char *ns, const char *group, const char *name)
{
	struct sub *s = sub_find(g, ns, group, name);
	if (!s)
		return;
	bool told = s->state == SUB_DONE || s->state == SUB_INFLIGHT;
	sub_unlink(g, s);
	if (told && g->up) { /* else the server forgot it with the connection */
		char *body = grpcnaming_subscribe(ns, group, name, false);
		if (body)
			grpc_request(g->conn, "SubscribeServiceRequest", body, 0, on_unsubscribed,
				     NULL);
		free(body);
	}
	if (s->state == SUB_INFLIGHT)
		s->doomed = true;
	else
		sub_free(s);
}

bool grpcsub_covers(const struct grpcsub *g, const char *ns, const char *group, const char *name)
{
	const struct sub *s = g && g->up ? sub_find(g, ns, group, name) : NULL;
	return s && s->state == SUB_DONE;
}

bool grpcsub_up(const struct grpcsub *g, size_t *server)
{
	if (!g || !g->up)
		return false;
	*server = g->cur;
	return true;
}

int grpcsub_set_token(struct grpcsub *g, size_t server, const char *token)
{
	char *t = NULL;
	if (server >= g->n_servers)
		return -EINVAL;
	if (token && *token && !(t = strdup(token)))
		return -ENOMEM;
	free(g->tokens[server]);
	g->tokens[server] = t;
	g->token_gen++;
	if (server != g->cur || !g->conn)
		return 0;
	int rc = grpc_set_token(g->conn, t);
	requeue(g, false, true, false);
	grpcsub_pump(g);
	return rc;
}

static void on_listed(void *arg, int error, const char *type, const char *json, size_t len)
{
	struct listreq *q = arg;
	struct grpcsub *g = q->g;
	char **names = NULL;
	size_t n = 0, total = 0;
	long code = 0;
	if (error == -ECANCELED && !g->closing)
		error = -ECONNRESET; /* a switch to another server, not the end */
	if (!error) {
		enum grpcnaming_result r = grpcnaming_result(json, len, &code);
		if (r == GRPCNAMING_DENIED) {
			error = -EACCES;
			g->h.on_denied(g->h.owner, g->cur);
		} else if (r != GRPCNAMING_OK ||
			   nacos_parse_grpc_service_list(json, len, NULL, &names, &n, &total) < 0) {
			error = -EBADMSG;
		}
	}
	q->cb(q->arg, error, names, n, total);
	free(q);
}

int grpcsub_list(struct grpcsub *g, const char *ns, const char *group, unsigned page, unsigned size,
		 grpcsub_list_cb cb, void *arg)
{
	if (!g->up || g->closing)
		return -ENOTCONN;
	struct listreq *q = malloc(sizeof(*q));
	char *body = q ? grpcnaming_service_list(ns, group, page, size) : NULL;
	int rc = body ? 0 : -ENOMEM;
	if (q)
		*q = (struct listreq){.g = g, .cb = cb, .arg = arg};
	if (rc == 0)
		rc = grpc_request(g->conn, "ServiceListRequest", body, 0, on_listed, q);
	free(body);
	if (rc < 0)
		free(q);
	return rc;
}

void grpcsub_get_stats(const struct grpcsub *g, struct grpcsub_stats *out)
{
	*out = g->st;
	out->server = g->cur;
	out->up = g->up;
}

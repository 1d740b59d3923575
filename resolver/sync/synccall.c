/* Servers, failover, backoff, API detection and login (see synccall.h). Runs on the sync's loop
 * thread: http.c's callbacks come there too. */
#include "resolver/sync/synccall.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/config.h"
#include "resolver/log.h"
#include "resolver/random.h"
#include "resolver/sync/syncio.h"
#include "zones/nacos/nacos.h"
#include "zones/net/addr.h"

struct synccall_call {
	struct synccall *n;
	const struct synccall_ops *ops; /* NULL: a login */
	void *owner, *arg;
	bool listing; /* on the server's list API */
	size_t own;   /* the server to ask first; SIZE_MAX: none */
	size_t server;
	uint32_t tried; /* bit per server */
	bool auth_retried;
	bool urgent;                /* a query waits: ask even a server that is backing off */
	bool refused;               /* it failed on an answer saying no (4xx, API missing) */
	struct synccall_call *next; /* on a server's auth_wait */
};

struct synccall {
	uv_loop_t *loop;
	const struct config *cfg;
	const struct syncio *io;
	void *http; /* io's */
	struct synccall_server servers[NACOSAPI_MAX_SERVERS];
	size_t n_servers, rr;
	bool pinned, closing;
	uint64_t generation;
	uint64_t rnd[2];
	struct synccall_stats stats;
	void (*token_cb)(void *arg, size_t server); /* synccall_watch_tokens; NULL: none */
	void *token_arg;
};

static void synccall_send(struct synccall_call *c);
static void synccall_login_start(struct synccall *n, size_t server);
static void synccall_login_finish(struct synccall *n, size_t server, const char *why);
static void synccall_login_done(struct synccall *n, size_t server, const char *body, size_t len);

static int64_t synccall_now(const struct synccall *n)
{
	return n->io->now_ms(n->io->ctx, n->loop);
}

/* Backoff and jitter spread nodes; they need no secrecy. */
static uint32_t synccall_rand(struct synccall *n)
{
	return (uint32_t)(random_next(n->rnd) >> 32);
}

/* ---- servers ----------------------------------------------------------------------------- */

/* The servers of cfg->nacos, API not detected yet. Count, or -EINVAL after logging why. */
static int synccall_servers_parse(const struct config *cfg, struct synccall_server *out,
				  bool *pinned)
{
	char urls[NACOSAPI_MAX_SERVERS][256], host[256];
	enum nacosapi_version api;
	int n = nacosapi_split_servers(cfg->nacos, urls, NACOSAPI_MAX_SERVERS);
	if (n <= 0 || nacosapi_parse_version(cfg->nacos_api, &api) < 0) {
		log_err("sync", "--nacos %s: no http(s)://host:port server to sync from",
			cfg->nacos);
		return -EINVAL;
	}
	*pinned = api != NACOSAPI_AUTO;
	for (int i = 0; i < n; i++) {
		/* Unpinned, the catalog starts on v1 service/list, which is on up to 3.1; pinned,
		 * every call uses the pinned API from the first. */
		out[i] = (struct synccall_server){
			.api = api, .list_api = api == NACOSAPI_V3 ? NACOSAPI_V3 : NACOSAPI_V1};
		memcpy(out[i].url, urls[i], sizeof(urls[i]));
		nacosapi_url_host(out[i].url, host, sizeof(host));
		addr_ip_canon(host, out[i].peers[0], sizeof(out[i].peers[0]));
	}
	return n;
}

/* The next server to ask, spreading calls and skipping servers in backoff while others are
 * not; SIZE_MAX when every server was tried. */
static size_t synccall_pick(struct synccall *n, uint32_t tried)
{
	int64_t retry_at[NACOSAPI_MAX_SERVERS];
	for (size_t i = 0; i < n->n_servers; i++)
		retry_at[i] = n->servers[i].retry_at_ms;
	return syncpolicy_pick_server(retry_at, n->n_servers, &n->rr, tried, synccall_now(n));
}

static void synccall_server_failed(struct synccall *n, struct synccall_server *srv, const char *why)
{
	srv->failures++;
	srv->retry_at_ms = synccall_now(n) + syncpolicy_backoff_ms(srv->failures, synccall_rand(n));
	if (srv->failures == 1)
		log_warn("nacos", "server %s failing: %s; backing off", srv->url, why);
}

static void synccall_server_ok(struct synccall_server *srv)
{
	if (srv->failures)
		log_info("nacos", "server %s answers again after %u failures", srv->url,
			 srv->failures);
	srv->failures = 0;
	srv->retry_at_ms = 0;
}

/* The server lacks the API just used (nacosapi_api_missing). true: retry with v3. A server
 * without v1 naming is 3.2 or later, where v1 service/list is gone with it. */
static bool synccall_switch_api(struct synccall *n, struct synccall_call *c,
				struct synccall_server *srv, long st)
{
	enum nacosapi_version used = c->listing ? srv->list_api : srv->api;
	if (n->pinned || used == NACOSAPI_V3)
		return false;
	if (srv->api != NACOSAPI_V3)
		log_info("nacos", "server %s has no v1 API (HTTP %ld): using the v3 client API",
			 srv->url, st);
	srv->api = srv->list_api = NACOSAPI_V3;
	return true;
}

/* A connection to srv tells our address towards it, and one of its own: pushes come from the
 * addresses of the servers we talk to (a host name may have several). */
static void synccall_server_learn(struct synccall_server *srv, const struct http_response *resp)
{
	char ip[INET6_ADDRSTRLEN];
	if (resp->local_ip && resp->local_ip[0])
		addr_ip_canon(resp->local_ip, srv->local_ip, sizeof(srv->local_ip));
	addr_ip_canon(resp->primary_ip ? resp->primary_ip : "", ip, sizeof(ip));
	if (!ip[0])
		return;
	for (size_t i = 0; i < SYNCCALL_PEERS; i++)
		if (strcmp(srv->peers[i], ip) == 0)
			return;
	memmove(srv->peers[2], srv->peers[1], (SYNCCALL_PEERS - 2) * sizeof(srv->peers[0]));
	memcpy(srv->peers[1], ip, sizeof(ip));
}

/* ---- calls: one logical request, failed over across servers ------------------------------- */

/* The call ends without an answer (why: logged by the handler once per state change). */
static void synccall_failed(struct synccall_call *c, const char *why)
{
	if (c->ops)
		c->ops->failed(c->owner, c->arg, why, c->refused);
	else
		synccall_login_finish(c->n, c->server, why);
	free(c);
}

/* The server a call goes to: its own while that one is not backing off (or a query waits), else
 * the next that answers. */
static size_t synccall_server_for(struct synccall_call *c)
{
	struct synccall *n = c->n;
	if (c->own < n->n_servers && !(c->tried & (1u << c->own)) &&
	    (c->urgent || n->servers[c->own].retry_at_ms <= synccall_now(n)))
		return c->own;
	return synccall_pick(n, c->tried);
}

/* Sends c to a server not tried yet; why: what to report when none is left. */
static void synccall_begin(struct synccall_call *c, const char *why)
{
	size_t idx = synccall_server_for(c);
	if (idx == SIZE_MAX) {
		synccall_failed(c, why);
		return;
	}
	if (c->n->servers[idx].retry_at_ms > synccall_now(c->n) && !c->urgent) {
		synccall_failed(c, c->tried ? why : "every Nacos server is backing off");
		return;
	}
	c->server = idx;
	c->tried |= 1u << idx;
	c->auth_retried = false;
	synccall_send(c);
}

/* The server failed this call: the next server, or give up. Logins stay on their server. */
static void synccall_retry(struct synccall_call *c, const char *why)
{
	if (!c->ops || c->n->closing) {
		synccall_failed(c, why);
		return;
	}
	if (c->ops->moved)
		c->ops->moved(c->owner, c->arg);
	synccall_begin(c, why);
}

int synccall_start(struct synccall *n, const struct synccall_ops *ops, void *owner, void *arg,
		   bool listing, size_t own, bool urgent)
{
	struct synccall_call *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct synccall_call){.n = n,
				    .ops = ops,
				    .owner = owner,
				    .arg = arg,
				    .listing = listing,
				    .own = own,
				    .urgent = urgent};
	synccall_begin(c, "no Nacos server to ask");
	return 0;
}

static char *synccall_url(struct synccall_call *c, struct synccall_server *srv)
{
	const char *tok = srv->token && srv->token[0] ? srv->token : NULL;
	if (!c->ops)
		return nacosapi_login_url(srv->url,
					  srv->api == NACOSAPI_V3 ? NACOSAPI_V3 : NACOSAPI_V1);
	return c->ops->url(c->owner, c->arg, srv, tok);
}

static bool synccall_needs_login(const struct synccall *n, const struct synccall_call *c,
				 const struct synccall_server *srv)
{
	if (!c->ops || !n->cfg->username[0])
		return false;
	return !srv->token || synccall_now(n) >= srv->token_refresh_ms;
}

static void on_call_done(void *arg, const struct http_response *resp);

static void synccall_send(struct synccall_call *c)
{
	struct synccall *n = c->n;
	struct synccall_server *srv = &n->servers[c->server];
	if (synccall_needs_login(n, c, srv)) {
		c->next = srv->auth_wait;
		srv->auth_wait = c;
		if (!srv->login_inflight)
			synccall_login_start(n, c->server);
		return;
	}
	char *url = synccall_url(c, srv);
	char *form = !c->ops ? nacosapi_login_form(n->cfg->username, n->cfg->password) : NULL;
	char *header =
		srv->token && srv->token[0] && c->ops ? nacosapi_token_header(srv->token) : NULL;
	struct http_request req = {.url = url, .form = form, .header = header};
	int rc = url && (form || c->ops) ? n->io->submit(n->http, &req, on_call_done, c) : -ENOMEM;
	free(url);
	if (form)
		explicit_bzero(form, strlen(form));
	free(form);
	free(header);
	if (rc < 0)
		synccall_failed(c, strerror(-rc));
	else
		n->stats.requests++;
}

static void synccall_cancel(struct synccall_call *c)
{
	struct synccall *n = c->n;
	if (c->ops) {
		c->ops->cancelled(c->owner, c->arg);
	} else {
		struct synccall_server *srv = &n->servers[c->server];
		struct synccall_call *w;
		srv->login_inflight = false;
		while ((w = srv->auth_wait)) {
			srv->auth_wait = w->next;
			synccall_cancel(w);
		}
	}
	free(c);
}

static void synccall_describe(char *buf, size_t cap, const struct http_response *resp)
{
	if (resp->error) {
		snprintf(buf, cap, "%s%s", resp->answering ? "answer stalled after it began: " : "",
			 resp->reason[0] ? resp->reason : strerror(-resp->error));
		return;
	}
	int len = (int)(resp->len < 160 ? resp->len : 160);
	snprintf(buf, cap, "HTTP %ld: %.*s", resp->status, len, resp->body);
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '"')
			*p = ' ';
}

/* A 200: the login's token is taken, or the call's owner reads the answer. */
static void synccall_succeeded(struct synccall_call *c, const char *body, size_t len)
{
	struct synccall *n = c->n;
	if (!c->ops) {
		size_t server = c->server;
		free(c);
		synccall_login_done(n, server, body, len);
		return;
	}
	if (c->ops->answered(c->owner, c->arg, c->server, body, len))
		synccall_send(c);
	else
		free(c);
}

/* An answer, or none: what it says about the server, and where the call goes next. */
static void synccall_handle(struct synccall_call *c, const struct http_response *resp,
			    const char *why)
{
	struct synccall *n = c->n;
	struct synccall_server *srv = &n->servers[c->server];
	bool auth = c->ops && n->cfg->username[0];
	if (resp->error == -EMSGSIZE) {
		/* Every server holds the same data: no retry elsewhere, and no backoff. */
		char over[96];
		n->stats.over_response_size++;
		snprintf(over, sizeof(over), "answer larger than max-response-size (%u bytes)",
			 n->cfg->max_response_size);
		synccall_failed(c, over);
	} else if (!resp->error && nacosapi_api_missing(resp->status, resp->body)) {
		/* Not a failing server: one without this API (a 501 or 500 here says so). */
		if (synccall_switch_api(n, c, srv, resp->status)) {
			synccall_send(c);
		} else {
			c->refused = true;
			synccall_failed(c, why);
		}
	} else if (resp->error && resp->answering) {
		/* An answer that began and stalled: too slow for this request (a large answer), not
		 * a sick server, which the server's other calls need not pay for with a backoff. */
		synccall_retry(c, why);
	} else if (resp->error || nacosapi_server_error(resp->status)) {
		synccall_server_failed(n, srv, why);
		synccall_retry(c, why);
	} else if (auth && !c->auth_retried && nacosapi_auth_failed(resp->status, resp->body)) {
		c->auth_retried = true; /* log in again, then retry once */
		free(srv->token);
		srv->token = NULL;
		synccall_send(c);
	} else if (resp->status != 200) {
		c->refused = true;
		synccall_failed(c, why);
	} else {
		synccall_server_ok(srv);
		synccall_succeeded(c, resp->body, resp->len);
	}
}

static void on_call_done(void *arg, const struct http_response *resp)
{
	struct synccall_call *c = arg;
	struct synccall *n = c->n;
	struct synccall_server *srv = &n->servers[c->server];
	char why[256];
	if (resp->error == -ECANCELED || n->closing) {
		synccall_cancel(c);
		return;
	}
	synccall_describe(why, sizeof(why), resp);
	srv->results[srv->api == NACOSAPI_V3][nacosapi_classify(
		resp->error, resp->status, resp->body, c->ops && n->cfg->username[0])]++;
	if (!resp->error)
		synccall_server_learn(srv, resp);
	synccall_handle(c, resp, why);
}

/* ---- login ------------------------------------------------------------------------------- */

static void synccall_login_start(struct synccall *n, size_t server)
{
	struct synccall_server *srv = &n->servers[server];
	if (!syncpolicy_login_take(&srv->logins, synccall_now(n))) {
		synccall_login_finish(n, server, "too many logins in a minute");
		return;
	}
	struct synccall_call *c = calloc(1, sizeof(*c));
	if (!c) {
		synccall_login_finish(n, server, "out of memory");
		return;
	}
	srv->login_inflight = true;
	*c = (struct synccall_call){.n = n, .server = server, .tried = 1u << server};
	n->stats.logins++;
	synccall_send(c);
}

/* A login ended: why == NULL on success. The calls waiting for it go on, or fail over. */
static void synccall_login_finish(struct synccall *n, size_t server, const char *why)
{
	struct synccall_server *srv = &n->servers[server];
	struct synccall_call *list = srv->auth_wait, *c;
	srv->login_inflight = false;
	srv->auth_wait = NULL;
	if (why && !srv->login_failing)
		log_warn("nacos", "login as %s at %s failed: %s", n->cfg->username, srv->url, why);
	srv->login_failing = why != NULL;
	while ((c = list)) {
		list = c->next;
		if (why)
			synccall_retry(c, why);
		else
			synccall_send(c);
	}
}

static void synccall_login_done(struct synccall *n, size_t server, const char *body, size_t len)
{
	struct synccall_server *srv = &n->servers[server];
	char *token = NULL;
	int64_t ttl = 0;
	if (nacos_parse_login(body, len, NULL, &token, &ttl) < 0) {
		synccall_login_finish(n, server, "malformed login answer");
		return;
	}
	free(srv->token);
	srv->token = token;
	srv->token_refresh_ms = syncpolicy_token_refresh_at(synccall_now(n), ttl);
	log_debug("nacos", "logged in at %s as %s, token valid %llds", srv->url, n->cfg->username,
		  (long long)ttl);
	if (n->token_cb)
		n->token_cb(n->token_arg, server);
	synccall_login_finish(n, server, NULL);
}

void synccall_login(struct synccall *n, size_t server, bool renew)
{
	struct synccall_server *srv = &n->servers[server];
	if (n->closing || !n->cfg->username[0] || srv->login_inflight)
		return;
	if (renew) {
		free(srv->token);
		srv->token = NULL;
	}
	synccall_login_start(n, server);
}

void synccall_watch_tokens(struct synccall *n, void (*cb)(void *arg, size_t server), void *arg)
{
	n->token_cb = cb;
	n->token_arg = arg;
}

/* ---- life cycle -------------------------------------------------------------------------- */

int synccall_new(uv_loop_t *loop, const struct config *cfg, const struct syncio *io,
		 struct synccall **out)
{
	struct synccall *n = calloc(1, sizeof(*n));
	int rc;
	if (!n)
		return -ENOMEM;
	*n = (struct synccall){.loop = loop, .cfg = cfg, .io = io};
	random_seed(n->rnd);
	if ((rc = synccall_servers_parse(cfg, n->servers, &n->pinned)) < 0 ||
	    (n->n_servers = (size_t)rc, rc = io->open(io->ctx, loop, cfg, &n->http)) < 0) {
		free(n);
		return rc;
	}
	*out = n;
	return 0;
}

void synccall_close(struct synccall *n)
{
	if (n->closing)
		return;
	n->closing = true;
	n->io->close(n->http); /* cancels every call */
}

void synccall_free(struct synccall *n)
{
	if (!n)
		return;
	synccall_close(n);
	for (size_t i = 0; i < n->n_servers; i++)
		free(n->servers[i].token);
	free(n);
}

/* Takes the new server list. A server kept (same URL) keeps the API it was found to speak and
 * the addresses it pushes from, unless the pin changed. Tokens go, so the next call logs in
 * with the new credentials. */
static void synccall_servers_replace(struct synccall *n, struct synccall_server *fresh,
				     size_t count, bool pinned, bool same_pin)
{
	for (size_t i = 0; i < count; i++) {
		for (size_t k = 0; same_pin && k < n->n_servers; k++) {
			if (strcmp(fresh[i].url, n->servers[k].url) != 0)
				continue;
			fresh[i].api = n->servers[k].api;
			fresh[i].list_api = n->servers[k].list_api;
			memcpy(fresh[i].peers, n->servers[k].peers, sizeof(fresh[i].peers));
		}
	}
	for (size_t k = 0; k < n->n_servers; k++)
		free(n->servers[k].token);
	memcpy(n->servers, fresh, count * sizeof(*fresh));
	n->n_servers = count;
	n->pinned = pinned;
	n->rr = 0;
}

int synccall_reset(struct synccall *n, const struct config *cfg)
{
	struct synccall_server fresh[NACOSAPI_MAX_SERVERS];
	void *http;
	bool pinned;
	int count = synccall_servers_parse(cfg, fresh, &pinned), rc;
	if (count < 0)
		return count;
	if ((rc = n->io->open(n->io->ctx, n->loop, cfg, &http)) < 0)
		return rc;
	bool same_pin = strcmp(n->cfg->nacos_api, cfg->nacos_api) == 0;
	n->generation++;
	n->io->close(n->http); /* the calls in flight are cancelled: they name the old servers */
	n->http = http;
	synccall_servers_replace(n, fresh, (size_t)count, pinned, same_pin);
	return 0;
}

uint64_t synccall_generation(const struct synccall *n)
{
	return n->generation;
}

size_t synccall_count(const struct synccall *n)
{
	return n->n_servers;
}

const struct synccall_server *synccall_server(const struct synccall *n, size_t i)
{
	return &n->servers[i];
}

size_t synccall_server_of(const struct synccall *n, const char *ip)
{
	for (size_t i = 0; ip[0] && i < n->n_servers; i++)
		for (size_t k = 0; k < SYNCCALL_PEERS; k++)
			if (strcmp(n->servers[i].peers[k], ip) == 0)
				return i;
	return SIZE_MAX;
}

void synccall_get_stats(const struct synccall *n, struct synccall_stats *out)
{
	*out = n->stats;
}

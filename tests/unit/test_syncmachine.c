/* The sync's state machines against scripted Nacos answers and a clock the test moves: no
 * sockets. Failover and backoff, login and re-login, catalog paging and merging, the removal
 * guard, the queries waiting for a fetch or a listing, and names of unlistable groups. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "check.h"
#include "resolver/config.h"
#include "resolver/log.h"
#include "resolver/serve/snapstore.h"
#include "resolver/sync/sync.h"
#include "resolver/sync/syncio.h"
#include "zones/data/snapshot.h"
#include "zones/dns/query.h"
#include "zones/nacos/nacos.h"

#define A "http://10.0.0.1:8848"
#define B "http://10.0.0.2:8848"

struct fake_req {
	char *url, *form, *header;
	http_done_cb cb;
	void *arg;
	bool done;
};

/* The scripted network: requests are recorded, and answered when the test says so. */
struct fake {
	struct fake_req *reqs;
	size_t n, cap;
	int64_t now; /* the virtual clock */
	unsigned opens;
};

static struct fake net;

static int fake_open(void *ctx, uv_loop_t *loop, const struct config *cfg, void **out)
{
	(void)loop;
	(void)cfg;
	struct fake *f = ctx;
	f->opens++;
	*out = f;
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int fake_submit(void *h, const struct http_request *r, http_done_cb cb, void *arg)
{
	struct fake *f = h;
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 64;
		f->reqs = realloc(f->reqs, f->cap * sizeof(*f->reqs));
		CHECK(f->reqs);
	}
	f->reqs[f->n++] = (struct fake_req){.url = strdup(r->url),
					    .form = dup_or_null(r->form),
					    .header = dup_or_null(r->header),
					    .cb = cb,
					    .arg = arg,
					    .done = false};
	return 0;
}

static void fake_finish(struct fake_req *q, int error, long status, const char *body)
{
	struct http_response resp = {.error = error,
				     .status = status,
				     .body = body ? body : "",
				     .len = body ? strlen(body) : 0,
				     .reason = error ? "scripted failure" : "",
				     .answering = false,
				     .local_ip = "",
				     .primary_ip = ""};
	q->done = true;
	q->cb(q->arg, &resp);
}

static void fake_close(void *h)
{
	struct fake *f = h;
	for (size_t i = 0; i < f->n; i++)
		if (!f->reqs[i].done)
			fake_finish(&f->reqs[i], -ECANCELED, 0, NULL);
}

static int64_t fake_now(void *ctx, uv_loop_t *loop)
{
	(void)loop;
	return ((struct fake *)ctx)->now;
}

static const struct syncio fake_io = {
	.open = fake_open,
	.submit = fake_submit,
	.close = fake_close,
	.now_ms = fake_now,
	.ctx = &net,
};

static void fake_reset(void)
{
	for (size_t i = 0; i < net.n; i++) {
		free(net.reqs[i].url);
		free(net.reqs[i].form);
		free(net.reqs[i].header);
	}
	free(net.reqs);
	net = (struct fake){.now = 1000000};
}

/* The oldest request not answered whose URL holds both parts (b may be NULL). */
static struct fake_req *fake_pending(const char *a, const char *b)
{
	for (size_t i = 0; i < net.n; i++) {
		struct fake_req *q = &net.reqs[i];
		if (!q->done && strstr(q->url, a) && (!b || strstr(q->url, b)))
			return q;
	}
	return NULL;
}

static size_t fake_count(const char *a, const char *b)
{
	size_t n = 0;
	for (size_t i = 0; i < net.n; i++)
		if (strstr(net.reqs[i].url, a) && (!b || strstr(net.reqs[i].url, b)))
			n++;
	return n;
}

static uv_loop_t loop;

/* Runs the loop until the wanted request is pending (the thread pool and timers move on). */
static struct fake_req *await_req(const char *a, const char *b)
{
	struct fake_req *q;
	for (int i = 0; i < 100000 && !(q = fake_pending(a, b)); i++)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(q != NULL);
	return q;
}

static void spin_until(const bool *flag)
{
	for (int i = 0; i < 100000 && !*flag; i++)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(*flag);
}

static void config_make(struct config *c, const char *user)
{
	char *argv[] = {"nacos-dns", "--nacos",     A "," B,  "--zone",
			"svc.test",  "--namespace", "public", NULL};
	config_defaults(c);
	CHECK_INT_EQ(config_from_args(c, 7, argv), 0);
	c->push = false;
	c->poll_interval_ms = 500; /* a tick every 50 ms: polls follow the virtual clock */
	c->catalog_interval_ms = 3600000;
	c->fetch_wait_ms = 60000;
	if (user) {
		snprintf(c->username, sizeof(c->username), "%s", user);
		snprintf(c->password, sizeof(c->password), "secret");
	}
}

static struct snapstore *store_new(const struct config *c)
{
	struct snapshot_config sc;
	struct nacos_diag diag = {0};
	config_snapshot(c, &sc);
	struct snapshot_builder *b = snapshot_builder_new(&sc, 1, &diag);
	CHECK(b);
	struct snapshot *s = snapshot_build(b);
	CHECK(s);
	struct snapstore *r = snapstore_new(s);
	CHECK(r);
	return r;
}

static void sync_done_close(struct sync *s, struct snapstore *r)
{
	sync_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	snapstore_free(r);
	fake_reset();
}

/* An instance list (v1) of n instances 10.1.0.1.. */
static char *hosts_json(const char *service, size_t n)
{
	size_t cap = 256 + n * 128, o = 0;
	char *b = malloc(cap);
	o += (size_t)snprintf(b + o, cap - o,
			      "{\"name\":\"DEFAULT_GROUP@@%s\",\"cacheMillis\":10000,"
			      "\"lastRefTime\":%lld,\"hosts\":[",
			      service, (long long)net.now);
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(b + o, cap - o,
				      "%s{\"ip\":\"10.1.%zu.%zu\",\"port\":80,\"weight\":1.0,"
				      "\"healthy\":true,\"enabled\":true,\"ephemeral\":true,"
				      "\"clusterName\":\"DEFAULT\",\"metadata\":{}}",
				      i ? "," : "", i / 250, i % 250 + 1);
	snprintf(b + o, cap - o, "]}");
	return b;
}

static void answer_hosts(struct fake_req *q, const char *service, size_t n)
{
	char *body = hosts_json(service, n);
	fake_finish(q, 0, 200, body);
	free(body);
}

struct waited {
	bool ran, absent, had_snap;
	size_t instances;
};

static void on_fetched(void *arg, const struct snapshot *snap, bool absent)
{
	struct waited *w = arg;
	w->ran = true;
	w->absent = absent;
	w->had_snap = snap != NULL;
	if (snap) {
		struct snapshot_stats st;
		snapshot_get_stats(snap, &st);
		w->instances = st.instances;
	}
}

static void answer_empty_catalog(void)
{
	struct fake_req *q = await_req("/service/list", NULL);
	fake_finish(q, 0, 200, "{\"count\":0,\"doms\":[]}");
}

/* A 503 moves the call to the other server and backs the first off; once the backoff has
 * passed on the clock, the first is asked again. A waiter runs when its fetch arrives. */
static void test_failover_backoff(void)
{
	struct config c;
	config_make(&c, NULL);
	struct snapstore *r = store_new(&c);
	struct sync *s;
	CHECK_INT_EQ(sync_new_io(&loop, &c, r, &fake_io, &s), 0);
	answer_empty_catalog();

	struct waited w1 = {.ran = false};
	CHECK_INT_EQ(sync_track(s, "public", "DEFAULT_GROUP", "one", on_fetched, &w1), 0);
	struct fake_req *q = fake_pending("serviceName=one", NULL);
	CHECK(q && strncmp(q->url, B, strlen(B)) == 0); /* the catalog went to A: B's turn */
	fake_finish(q, 0, 503, "busy");
	q = fake_pending("serviceName=one", NULL);
	CHECK(q && strncmp(q->url, A, strlen(A)) == 0); /* failed over at once */
	CHECK(!w1.ran);
	answer_hosts(q, "one", 3);
	spin_until(&w1.ran);
	CHECK(w1.had_snap && !w1.absent);
	CHECK_INT_EQ(w1.instances, 3);

	/* B backs off: the next calls go to A while it does. */
	struct waited w2 = {.ran = false}, w3 = {.ran = false};
	CHECK_INT_EQ(sync_track(s, "public", "DEFAULT_GROUP", "two", on_fetched, &w2), 0);
	q = fake_pending("serviceName=two", NULL);
	CHECK(q && strncmp(q->url, A, strlen(A)) == 0);
	answer_hosts(q, "two", 1);
	CHECK_INT_EQ(sync_track(s, "public", "DEFAULT_GROUP", "three", on_fetched, &w3), 0);
	q = fake_pending("serviceName=three", NULL);
	CHECK(q && strncmp(q->url, A, strlen(A)) == 0);
	/* Its backoff (at most 500 ms after one failure) passes: B is asked again. */
	net.now += 600;
	answer_hosts(q, "three", 1);
	struct waited w4 = {.ran = false};
	CHECK_INT_EQ(sync_track(s, "public", "DEFAULT_GROUP", "four", on_fetched, &w4), 0);
	q = fake_pending("serviceName=four", NULL);
	CHECK(q && strncmp(q->url, B, strlen(B)) == 0);
	answer_hosts(q, "four", 1);
	spin_until(&w4.ran);

	/* Both fail: the call fails, its waiter runs without data, the service is not absent.
	 * (Polls that came due meanwhile stay unanswered: they pick servers too.) */
	struct sync_stats st;
	sync_get_stats(s, &st);
	uint64_t errors = st.servers[0].results[0][NACOSAPI_RESULT_ERROR] +
			  st.servers[1].results[0][NACOSAPI_RESULT_ERROR];
	CHECK_INT_EQ(errors, 1); /* B's 503 */
	struct waited w5 = {.ran = false};
	CHECK_INT_EQ(sync_track(s, "public", "DEFAULT_GROUP", "five", on_fetched, &w5), 0);
	fake_finish(fake_pending("serviceName=five", NULL), -ECONNREFUSED, 0, NULL);
	fake_finish(fake_pending("serviceName=five", NULL), 0, 502, "bad gateway");
	spin_until(&w5.ran);
	CHECK(!w5.had_snap && !w5.absent);

	sync_get_stats(s, &st);
	CHECK_INT_EQ(st.fetch_ok, 4);
	CHECK_INT_EQ(st.fetch_failed, 1);
	CHECK_INT_EQ(st.n_servers, 2);
	CHECK_INT_EQ(st.servers[0].results[0][NACOSAPI_RESULT_ERROR] +
			     st.servers[1].results[0][NACOSAPI_RESULT_ERROR],
		     3);
	sync_done_close(s, r);
}

/* A waiter whose fetch never comes runs at fetch-wait, without data. */
static void test_waiter_timeout(void)
{
	struct config c;
	config_make(&c, NULL);
	c.fetch_wait_ms = 20;
	struct snapstore *r = store_new(&c);
	struct sync *s;
	CHECK_INT_EQ(sync_new_io(&loop, &c, r, &fake_io, &s), 0);
	answer_empty_catalog();
	struct waited w = {.ran = false};
	CHECK_INT_EQ(sync_track(s, "public", "DEFAULT_GROUP", "slow", on_fetched, &w), 0);
	CHECK(fake_pending("serviceName=slow", NULL));
	spin_until(&w.ran);
	CHECK(!w.had_snap && !w.absent);
	CHECK(fake_pending("serviceName=slow", NULL)); /* the fetch itself goes on */
	sync_done_close(s, r);
}

/* Logins: a 403 at one server fails over to the other's login; the token goes with the calls;
 * a call refused for its token logs in again and is retried once; a token is renewed before
 * its lifetime ends. */
static void test_login(void)
{
	struct config c;
	config_make(&c, "nacos");
	struct snapstore *r = store_new(&c);
	struct sync *s;
	CHECK_INT_EQ(sync_new_io(&loop, &c, r, &fake_io, &s), 0);
	struct fake_req *q = await_req(A "/nacos/v1/auth/login", NULL); /* for the catalog */
	CHECK(q->form && strstr(q->form, "username=nacos"));
	CHECK(!fake_pending("/service/list", NULL)); /* the listing waits for the token */
	fake_finish(q, 0, 403, "user not found!");
	q = fake_pending(B "/nacos/v1/auth/login", NULL);
	CHECK(q != NULL);
	fake_finish(q, 0, 200,
		    "{\"accessToken\":\"tok-b\",\"tokenTtl\":100,\"globalAdmin\":false}");
	q = fake_pending(B "/nacos/v1/ns/service/list", NULL);
	CHECK(q && strstr(q->url, "accessToken=tok-b"));
	fake_finish(q, 0, 200, "{\"count\":0,\"doms\":[]}");

	struct waited w = {.ran = false};
	CHECK_INT_EQ(sync_track(s, "public", "DEFAULT_GROUP", "one", on_fetched, &w), 0);
	/* A refused login is no server failure: A may be asked, and logs in first. */
	q = fake_pending("serviceName=one", NULL);
	if (!q) { /* A's turn: it logs in first */
		struct fake_req *l = fake_pending(A "/nacos/v1/auth/login", NULL);
		CHECK(l != NULL);
		fake_finish(l, 0, 200, "{\"accessToken\":\"tok-a\",\"tokenTtl\":100}");
		q = fake_pending("serviceName=one", NULL);
		CHECK(q && strstr(q->url, "accessToken=tok-a"));
	}
	const char *srv = strncmp(q->url, A, strlen(A)) == 0 ? A : B;
	char login[128];
	snprintf(login, sizeof(login), "%s/nacos/v1/auth/login", srv);
	size_t logins = fake_count(login, NULL);
	/* The token expired on the server's side: log in again, then the call is retried. */
	fake_finish(q, 0, 403, "token expired!");
	q = fake_pending(login, NULL);
	CHECK(q != NULL);
	CHECK_INT_EQ(fake_count(login, NULL), logins + 1);
	fake_finish(q, 0, 200, "{\"accessToken\":\"tok-new\",\"tokenTtl\":100}");
	q = fake_pending("serviceName=one", NULL);
	CHECK(q && strstr(q->url, "accessToken=tok-new") && strncmp(q->url, srv, strlen(srv)) == 0);
	answer_hosts(q, "one", 2);
	spin_until(&w.ran);
	CHECK_INT_EQ(w.instances, 2);

	/* 90 % of the 100 s lifetime later, the next poll logs in first. */
	size_t polls = fake_count("serviceName=one", NULL);
	net.now += 91000;
	q = await_req("/nacos/v1/auth/login", NULL);
	CHECK_INT_EQ(fake_count("serviceName=one", NULL), polls); /* not sent with an old token */
	fake_finish(q, 0, 200, "{\"accessToken\":\"tok-3\",\"tokenTtl\":100}");
	q = await_req("serviceName=one", NULL);
	CHECK(strstr(q->url, "accessToken=tok-3"));
	struct sync_stats st;
	sync_get_stats(s, &st);
	CHECK(st.logins >= 4);
	sync_done_close(s, r);
}

static char *catalog_page(size_t first, size_t n, size_t total)
{
	size_t cap = 64 + n * 24, o = 0;
	char *b = malloc(cap);
	o += (size_t)snprintf(b + o, cap - o, "{\"count\":%zu,\"doms\":[", total);
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(b + o, cap - o, "%s\"svc-%zu\"", i ? "," : "", first + i);
	snprintf(b + o, cap - o, "]}");
	return b;
}

/* A catalog of two full pages and a short one merges to every name (track = all tracks each);
 * a listing that moved between its pages only adds. */
static void test_catalog_paging(void)
{
	struct config c;
	config_make(&c, NULL);
	c.track_all = true;
	struct snapstore *r = store_new(&c);
	struct sync *s;
	CHECK_INT_EQ(sync_new_io(&loop, &c, r, &fake_io, &s), 0);
	const size_t total = 2 * 10000 + 7;
	for (unsigned page = 1; page <= 3; page++) {
		char no[32];
		snprintf(no, sizeof(no), "pageNo=%u&", page);
		struct fake_req *q = await_req("/service/list", no);
		char *body = catalog_page((page - 1) * 10000, page < 3 ? 10000 : 7, total);
		fake_finish(q, 0, 200, body);
		free(body);
	}
	CHECK(!fake_pending("/service/list", NULL));
	struct sync_stats st;
	sync_get_stats(s, &st);
	CHECK_INT_EQ(st.catalog_ok, 1);
	CHECK_INT_EQ(st.tracked, total);
	sync_done_close(s, r);
}

static void await_fetch_ok(struct sync *s, uint64_t before)
{
	struct sync_stats st;
	for (int i = 0; i < 100000; i++) {
		sync_get_stats(s, &st);
		if (st.fetch_ok > before) /* an answer held back counts as fetched too */
			break;
		uv_run(&loop, UV_RUN_ONCE);
	}
	CHECK(st.fetch_ok > before);
}

/* The removal guard: an answer that takes all 40 instances of the registry away at once is held
 * back, the instances stay served; the same answer after the hold is applied. */
static void test_removal_guard(void)
{
	struct config c;
	config_make(&c, NULL);
	struct snapstore *r = store_new(&c);
	struct sync *s;
	CHECK_INT_EQ(sync_new_io(&loop, &c, r, &fake_io, &s), 0);
	answer_empty_catalog();
	struct waited w = {.ran = false};
	CHECK_INT_EQ(sync_track(s, "public", "DEFAULT_GROUP", "big", on_fetched, &w), 0);
	answer_hosts(fake_pending("serviceName=big", NULL), "big", 40);
	spin_until(&w.ran);
	CHECK_INT_EQ(w.instances, 40);

	/* The next poll, due on the clock, says there are none. */
	net.now += 1000;
	size_t polls = fake_count("serviceName=big", NULL);
	struct fake_req *q = await_req("serviceName=big", NULL);
	CHECK_INT_EQ(fake_count("serviceName=big", NULL), polls + 1);
	struct sync_stats st;
	sync_get_stats(s, &st);
	uint64_t ok = st.fetch_ok;
	answer_hosts(q, "big", 0);
	await_fetch_ok(s, ok);
	sync_get_stats(s, &st);
	CHECK_INT_EQ(st.held_back, 1);
	struct waited w2 = {.ran = false};
	sync_touch(s, "public", "DEFAULT_GROUP", "big");
	CHECK_INT_EQ(sync_track(s, "public", "DEFAULT_GROUP", "big", on_fetched, &w2), 0);
	spin_until(&w2.ran);
	CHECK_INT_EQ(w2.instances, 40); /* kept */

	/* A removal the guard allows (under half) is applied at once. */
	net.now += 1000;
	q = await_req("serviceName=big", NULL);
	sync_get_stats(s, &st);
	ok = st.fetch_ok;
	answer_hosts(q, "big", 40); /* Nacos is back: the hold ends */
	await_fetch_ok(s, ok);
	net.now += 40000; /* past the hold and its release */
	q = await_req("serviceName=big", NULL);
	sync_get_stats(s, &st);
	ok = st.fetch_ok;
	answer_hosts(q, "big", 30);
	await_fetch_ok(s, ok);
	sync_get_stats(s, &st);
	CHECK_INT_EQ(st.held_back, 1);
	struct waited w3 = {.ran = false};
	CHECK_INT_EQ(sync_track(s, "public", "DEFAULT_GROUP", "big", on_fetched, &w3), 0);
	spin_until(&w3.ran);
	CHECK_INT_EQ(w3.instances, 30);
	sync_done_close(s, r);
}

static void answer_catalog(const char *group, size_t first, size_t n, size_t total)
{
	char *body = catalog_page(first, n, total);
	fake_finish(await_req("/service/list", group), 0, 200, body);
	free(body);
}

static size_t tracked(struct sync *s)
{
	struct sync_stats st;
	sync_get_stats(s, &st);
	return st.tracked;
}

/* Listings merge with what is known: one whose totalCount moved between its pages skipped
 * names, so it only adds; a consistent one removes the names it lacks (and their tracking). */
static void test_catalog_merging(void)
{
	struct config c;
	config_make(&c, NULL);
	c.track_all = true;
	struct snapstore *r = store_new(&c);
	struct sync *s;
	CHECK_INT_EQ(sync_new_io(&loop, &c, r, &fake_io, &s), 0);
	answer_catalog("pageNo=1&", 0, 5, 5);
	CHECK_INT_EQ(tracked(s), 5);

	/* A catalog miss lists again (at most once per 5 s); this listing moved: 10,002 names on
	 * its first page, 10,001 on its last. */
	net.now += 6000;
	sync_catalog_miss(s);
	answer_catalog("pageNo=1&", 100, 10000, 10002);
	answer_catalog("pageNo=2&", 10100, 1, 10001);
	CHECK_INT_EQ(tracked(s), 10006); /* svc-0..4 kept */

	net.now += 6000;
	sync_catalog_miss(s);
	answer_catalog("pageNo=1&", 0, 3, 3);
	CHECK_INT_EQ(tracked(s), 3); /* no data held: nothing for the guard to hold back */
	struct sync_stats st;
	sync_get_stats(s, &st);
	CHECK_INT_EQ(st.catalog_ok, 3);
	CHECK_INT_EQ(st.held_back, 0);
	sync_done_close(s, r);
}

static struct query_miss miss_make(const char *group, const char *name)
{
	struct query_miss m = {.namespace_id = "public", .n_names = 1};
	snprintf(m.group, sizeof(m.group), "%s", group);
	snprintf(m.names[0], sizeof(m.names[0]), "%s", name);
	return m;
}

/* A query naming a group never listed waits for its listing; one naming a group whose listing
 * is refused is settled by fetching the name itself: absent when Nacos answers empty, and then
 * remembered (no second fetch). */
static void test_miss_waiters(void)
{
	struct config c;
	config_make(&c, NULL);
	struct snapstore *r = store_new(&c);
	struct sync *s;
	CHECK_INT_EQ(sync_new_io(&loop, &c, r, &fake_io, &s), 0);
	struct query_miss m = miss_make("OTHER", "x");
	struct waited w1 = {.ran = false};
	/* Before the first listing is published, a miss waits for it. */
	CHECK_INT_EQ(sync_wait_miss(s, &m, on_fetched, &w1), 0);
	answer_empty_catalog();
	spin_until(&w1.ran);
	CHECK(!w1.absent);

	struct waited w2 = {.ran = false};
	CHECK_INT_EQ(sync_wait_miss(s, &m, on_fetched, &w2), 0);
	answer_catalog("groupName=OTHER", 0, 2, 2);
	spin_until(&w2.ran);
	CHECK(!w2.absent && !w2.had_snap); /* answered again from the snapshot now published */

	/* A group whose listing is refused: its names are fetched by name. */
	struct query_miss m2 = miss_make("LOCKED", "ghost");
	struct waited w3 = {.ran = false};
	CHECK_INT_EQ(sync_wait_miss(s, &m2, on_fetched, &w3), 0);
	fake_finish(await_req("/service/list", "groupName=LOCKED"), 0, 403, "forbidden");
	spin_until(&w3.ran);
	struct waited w4 = {.ran = false};
	CHECK_INT_EQ(sync_wait_miss(s, &m2, on_fetched, &w4), 0);
	struct fake_req *q = await_req("serviceName=ghost", "groupName=LOCKED");
	answer_hosts(q, "ghost", 0);
	spin_until(&w4.ran);
	CHECK(w4.absent);
	size_t fetches = fake_count("serviceName=ghost", NULL);
	struct waited w5 = {.ran = false};
	CHECK_INT_EQ(sync_wait_miss(s, &m2, on_fetched, &w5), 0);
	spin_until(&w5.ran);
	CHECK(w5.absent);
	CHECK_INT_EQ(fake_count("serviceName=ghost", NULL), fetches);

	/* A name no Nacos group can have is absent at once, without a call. */
	struct query_miss m3 = miss_make("bad group", "y");
	struct waited w6 = {.ran = false};
	size_t calls = net.n;
	CHECK_INT_EQ(sync_wait_miss(s, &m3, on_fetched, &w6), 0);
	CHECK(!w6.ran); /* never inside the call */
	spin_until(&w6.ran);
	CHECK(w6.absent);
	CHECK_INT_EQ(net.n, calls);
	sync_done_close(s, r);
}

/* A server without the v1 API (HTTP 501, as Nacos 3.2 without its legacy adapter) is asked
 * again on v3 at once, and stays on v3; the failure is no backoff. */
static void test_api_switch(void)
{
	struct config c;
	config_make(&c, NULL);
	struct snapstore *r = store_new(&c);
	struct sync *s;
	CHECK_INT_EQ(sync_new_io(&loop, &c, r, &fake_io, &s), 0);
	struct fake_req *q = await_req("/nacos/v1/ns/service/list", NULL);
	CHECK(strncmp(q->url, A, strlen(A)) == 0);
	fake_finish(q, 0, 501, "no such api");
	q = fake_pending(A "/nacos/v3/admin/ns/service/list", NULL);
	CHECK(q != NULL);
	fake_finish(q, 0, 200, "{\"code\":0,\"data\":{\"totalCount\":0,\"pageItems\":[]}}");
	struct sync_stats st;
	sync_get_stats(s, &st);
	CHECK_INT_EQ(st.catalog_ok, 1);
	CHECK_INT_EQ(st.servers[0].results[0][NACOSAPI_RESULT_API_MISSING], 1);
	CHECK_INT_EQ(st.servers[0].results[1][NACOSAPI_RESULT_OK], 1);
	sync_done_close(s, r);
}

int main(void)
{
	log_init();
	log_set_level(LOG_LEVEL_ERR);
	CHECK_INT_EQ(uv_loop_init(&loop), 0);
	fake_reset();
	test_failover_backoff();
	test_waiter_timeout();
	test_login();
	test_catalog_paging();
	test_removal_guard();
	test_catalog_merging();
	test_miss_waiters();
	test_api_switch();
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
	return 0;
}

#include "resolver/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "build_config.h"
#include "resolver/procstats.h"
#include "resolver/serve/servestats.h"
#include "zones/base/array.h"
#include "zones/dns/dnsnames.h"
#include "zones/net/addr.h"

/* The question types worth a label of their own; the rest count as "other". */
static const struct {
	uint16_t code;
	const char *name;
} metrics_types[] = {
	{1, "A"},      {2, "NS"},     {5, "CNAME"}, {6, "SOA"},   {12, "PTR"},
	{15, "MX"},    {16, "TXT"},   {28, "AAAA"}, {33, "SRV"},  {35, "NAPTR"},
	{65, "HTTPS"}, {252, "AXFR"}, {255, "ANY"}, {0, "other"},
};
#define METRICS_N_TYPES (sizeof(metrics_types) / sizeof(metrics_types[0]))

static const uint64_t metrics_bounds_us[METRICS_LATENCY_BUCKETS] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
};

struct metrics {
	uint64_t queries[METRICS_N_TYPES][2]; /* [type][tcp] */
	uint64_t rcodes[16];
	uint64_t latency[METRICS_LATENCY_BUCKETS + 1]; /* per bucket, not cumulative */
	uint64_t latency_sum_us;
	uint64_t latency_count;
	/* The same by where the answer came from: [0] here (zones, cache), [1] an upstream. */
	uint64_t src_latency[2][METRICS_LATENCY_BUCKETS + 1];
	uint64_t src_sum_us[2], src_count[2];
	uint64_t rate_limited;
	uint64_t axfr[2]; /* [allowed] */
	uint64_t reloads[METRICS_RELOAD_RESULTS];
	/* Shards: a worker thread counts into its own, rendering adds them up. */
	struct metrics *parent, *shards, *next;
	uv_mutex_t lock; /* the list of shards */
};

/* Each counter has one writer thread; the renderer may read it from another. A relaxed load and
 * store keeps that free of data races and costs a plain move on x86. */
#define METRICS_ADD(x, v)                                                                          \
	__atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)
#define METRICS_GET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(struct metrics));

	if (m && uv_mutex_init(&m->lock) < 0) {
		free(m);
		return NULL;
	}
	return m;
}

/* into += from, reading from's counters as its writer may be counting. */
static void metrics_add(struct metrics *into, const struct metrics *from)
{
	for (size_t t = 0; t < METRICS_N_TYPES; t++)
		for (size_t tr = 0; tr < 2; tr++)
			METRICS_ADD(into->queries[t][tr], METRICS_GET(from->queries[t][tr]));
	for (size_t r = 0; r < 16; r++)
		METRICS_ADD(into->rcodes[r], METRICS_GET(from->rcodes[r]));
	for (size_t i = 0; i < METRICS_LATENCY_BUCKETS + 1; i++)
		METRICS_ADD(into->latency[i], METRICS_GET(from->latency[i]));
	METRICS_ADD(into->latency_sum_us, METRICS_GET(from->latency_sum_us));
	METRICS_ADD(into->latency_count, METRICS_GET(from->latency_count));
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; i < METRICS_LATENCY_BUCKETS + 1; i++)
			METRICS_ADD(into->src_latency[s][i], METRICS_GET(from->src_latency[s][i]));
		METRICS_ADD(into->src_sum_us[s], METRICS_GET(from->src_sum_us[s]));
		METRICS_ADD(into->src_count[s], METRICS_GET(from->src_count[s]));
	}
	METRICS_ADD(into->rate_limited, METRICS_GET(from->rate_limited));
	METRICS_ADD(into->axfr[0], METRICS_GET(from->axfr[0]));
	METRICS_ADD(into->axfr[1], METRICS_GET(from->axfr[1]));
	for (size_t i = 0; i < METRICS_RELOAD_RESULTS; i++)
		METRICS_ADD(into->reloads[i], METRICS_GET(from->reloads[i]));
}

struct metrics *metrics_shard_new(struct metrics *parent)
{
	struct metrics *m = metrics_new();

	if (!m)
		return NULL;
	m->parent = parent;
	uv_mutex_lock(&parent->lock);
	m->next = parent->shards;
	parent->shards = m;
	uv_mutex_unlock(&parent->lock);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	if (m->parent) {
		uv_mutex_lock(&m->parent->lock);
		for (struct metrics **pp = &m->parent->shards; *pp; pp = &(*pp)->next) {
			if (*pp == m) {
				*pp = m->next;
				break;
			}
		}
		metrics_add(m->parent, m);
		uv_mutex_unlock(&m->parent->lock);
	}
	uv_mutex_destroy(&m->lock);
	free(m);
}

static size_t metrics_type_index(uint16_t qtype)
{
	size_t i;
	for (i = 0; i + 1 < METRICS_N_TYPES; i++)
		if (metrics_types[i].code == qtype)
			return i;
	return i;
}

void metrics_observe_reply(struct metrics *m, uint16_t qtype, bool tcp, uint8_t rcode,
			   bool forwarded, uint64_t usec)
{
	size_t b = 0, src = forwarded ? 1 : 0;

	if (!m)
		return;
	METRICS_ADD(m->queries[metrics_type_index(qtype)][tcp ? 1 : 0], 1);
	METRICS_ADD(m->rcodes[rcode & 0x0f], 1);
	while (b < METRICS_LATENCY_BUCKETS && usec > metrics_bounds_us[b])
		b++;
	METRICS_ADD(m->latency[b], 1);
	METRICS_ADD(m->latency_sum_us, usec);
	METRICS_ADD(m->latency_count, 1);
	METRICS_ADD(m->src_latency[src][b], 1);
	METRICS_ADD(m->src_sum_us[src], usec);
	METRICS_ADD(m->src_count[src], 1);
}

void metrics_count_rate_limited(struct metrics *m)
{
	if (m)
		METRICS_ADD(m->rate_limited, 1);
}

void metrics_count_axfr(struct metrics *m, bool allowed)
{
	if (m)
		METRICS_ADD(m->axfr[allowed ? 1 : 0], 1);
}

void metrics_count_reload(struct metrics *m, enum metrics_reload r)
{
	if (m)
		METRICS_ADD(m->reloads[r], 1);
}

/* ---- rendering ---- */

struct mbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void __attribute__((format(printf, 2, 3))) mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		if (array_grow((void **)&b->p, &b->cap, b->len, (size_t)n + 1, 1) < 0) {
			b->failed = true;
			return;
		}
	}
}

static void mbuf_head(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mbuf_printf(b, "# HELP nacosdns_%s %s\n# TYPE nacosdns_%s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped as the text format requires. */
static void mbuf_label(struct mbuf *b, const char *v)
{
	for (v = v ? v : ""; *v; v++) {
		if (*v == '\\' || *v == '"')
			mbuf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			mbuf_printf(b, "\\n");
		else
			mbuf_printf(b, "%c", *v);
	}
}

static void mbuf_metric(struct mbuf *b, const char *name, const char *type, const char *help,
			double v)
{
	mbuf_head(b, name, type, help);
	if (v >= 0 && v < 1e18 && v == (double)(uint64_t)v)
		mbuf_printf(b, "nacosdns_%s %.0f\n", name, v);
	else
		mbuf_printf(b, "nacosdns_%s %.3f\n", name, v);
}

static void metrics_render_queries(struct mbuf *b, const struct metrics *m)
{
	static const char *const transports[2] = {"udp", "tcp"};

	mbuf_head(b, "queries_total", "counter",
		  "DNS replies sent, by question type and transport.");
	for (size_t t = 0; t < METRICS_N_TYPES; t++)
		for (int tr = 0; tr < 2; tr++)
			mbuf_printf(b,
				    "nacosdns_queries_total{type=\"%s\",transport=\"%s\"} %llu\n",
				    metrics_types[t].name, transports[tr],
				    (unsigned long long)m->queries[t][tr]);
	mbuf_head(b, "responses_total", "counter", "DNS replies sent, by rcode.");
	for (size_t r = 0; r < 16; r++)
		mbuf_printf(b, "nacosdns_responses_total{rcode=\"%s\"} %llu\n",
			    dnsnames_rcode((uint8_t)r), (unsigned long long)m->rcodes[r]);
}

/* One histogram of reply times, from per-bucket (not cumulative) counts. */
static void metrics_render_histogram(struct mbuf *b, const char *name, const char *help,
				     const uint64_t *buckets, uint64_t sum_us, uint64_t count)
{
	uint64_t cum = 0;

	mbuf_head(b, name, "histogram", help);
	for (size_t i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
		cum += buckets[i];
		mbuf_printf(b, "nacosdns_%s_bucket{le=\"%g\"} %llu\n", name,
			    (double)metrics_bounds_us[i] / 1e6, (unsigned long long)cum);
	}
	cum += buckets[METRICS_LATENCY_BUCKETS];
	mbuf_printf(b, "nacosdns_%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	mbuf_printf(b, "nacosdns_%s_sum %.6f\n", name, (double)sum_us / 1e6);
	mbuf_printf(b, "nacosdns_%s_count %llu\n", name, (unsigned long long)count);
}

static void metrics_render_latency(struct mbuf *b, const struct metrics *m)
{
	metrics_render_histogram(
		b, "response_duration_seconds",
		"Time from receiving a query to sending its reply, on the server side.", m->latency,
		m->latency_sum_us, m->latency_count);
	metrics_render_histogram(b, "local_response_duration_seconds",
				 "Time to reply to queries answered here: the zones and the "
				 "forward cache.",
				 m->src_latency[0], m->src_sum_us[0], m->src_count[0]);
	metrics_render_histogram(b, "forwarded_response_duration_seconds",
				 "Time to reply to queries an upstream resolver answered, its "
				 "round trips included.",
				 m->src_latency[1], m->src_sum_us[1], m->src_count[1]);
}

static void metrics_render_server(struct mbuf *b, const struct metrics *m,
				  const struct servestats *s)
{
	mbuf_head(b, "udp_datagrams_total", "counter",
		  "UDP datagrams received, by the loop whose socket took them (with worker threads "
		  "the main loop takes only what the kernel could not steer to a worker).");
	mbuf_printf(b, "nacosdns_udp_datagrams_total{loop=\"main\"} %llu\n", s->udp_main);
	mbuf_printf(b, "nacosdns_udp_datagrams_total{loop=\"workers\"} %llu\n",
		    s->udp_queries - s->udp_main);
	mbuf_metric(b, "dropped_packets_total", "counter",
		    "Packets not answered because they were not DNS queries.", (double)s->dropped);
	mbuf_metric(b, "malformed_packets_total", "counter",
		    "Packets too short for a DNS header, or with bad TCP framing.",
		    (double)s->malformed);
	mbuf_metric(b, "send_errors_total", "counter", "Replies that could not be sent.",
		    (double)s->send_errors);
	mbuf_metric(b, "tcp_connections_total", "counter", "TCP connections accepted.",
		    (double)s->tcp_accepted);
	mbuf_metric(b, "tcp_rejected_connections_total", "counter",
		    "TCP connections closed at once because the connection cap was reached.",
		    (double)s->tcp_rejected);
	mbuf_metric(b, "tcp_open_connections", "gauge", "TCP connections open now.",
		    (double)s->tcp_open);
	mbuf_metric(b, "first_fetch_waits_total", "counter",
		    "Queries that waited for the first fetch of their service.",
		    (double)s->fetched);
	mbuf_metric(b, "rate_limited_responses_total", "counter",
		    "Replies withheld or truncated by response rate limiting.",
		    (double)m->rate_limited);
	mbuf_head(b, "zone_transfers_total", "counter", "AXFR requests, by outcome.");
	mbuf_printf(b, "nacosdns_zone_transfers_total{result=\"refused\"} %llu\n",
		    (unsigned long long)m->axfr[0]);
	mbuf_printf(b, "nacosdns_zone_transfers_total{result=\"allowed\"} %llu\n",
		    (unsigned long long)m->axfr[1]);
}

/* One family per event, one series per upstream: an operator alerts on one failing resolver. */
static void metrics_render_upstreams(struct mbuf *b, const struct upstats *u)
{
	static const char *const help[UPSTATS_EVENTS] = {
		"Queries sent to each upstream resolver (retries and TCP retries included).",
		"Replies of each upstream resolver that went to the client.",
		"Replies of each upstream resolver that did not: SERVFAIL, REFUSED or NOTIMP.",
		"Queries to each upstream resolver that got no reply in time.",
	};
	char name[64], addr[80];

	for (int e = 0; e < UPSTATS_EVENTS; e++) {
		snprintf(name, sizeof(name), "upstream_%s_total",
			 upstats_event_name((enum upstats_event)e));
		mbuf_head(b, name, "counter", help[e]);
		for (size_t i = 0; i < u->n; i++) {
			addr_str((const struct sockaddr *)&u->addr[i], addr, sizeof(addr));
			mbuf_printf(b, "nacosdns_%s{upstream=\"", name);
			mbuf_label(b, addr);
			mbuf_printf(b, "\"} %llu\n", (unsigned long long)u->count[i][e]);
		}
	}
}

static void metrics_render_forward(struct mbuf *b, const struct forward_stats *f)
{
	mbuf_metric(b, "forwarded_queries_total", "counter",
		    "Queries outside the zones sent to upstream resolvers.", (double)f->queries);
	mbuf_head(b, "forward_errors_total", "counter", "Forwarding failures, by kind.");
	mbuf_printf(b, "nacosdns_forward_errors_total{kind=\"rejected\"} %llu\n",
		    (unsigned long long)f->rejected);
	mbuf_printf(b, "nacosdns_forward_errors_total{kind=\"servfail\"} %llu\n",
		    (unsigned long long)f->servfail);
	mbuf_printf(b, "nacosdns_forward_errors_total{kind=\"timeout\"} %llu\n",
		    (unsigned long long)f->timeouts);
	mbuf_printf(b, "nacosdns_forward_errors_total{kind=\"bad_reply\"} %llu\n",
		    (unsigned long long)f->dropped);
	mbuf_metric(b, "forward_tcp_retries_total", "counter",
		    "Truncated upstream replies retried over TCP.", (double)f->tcp_retries);
	mbuf_metric(b, "forward_inflight_queries", "gauge", "Forwarded queries awaiting a reply.",
		    (double)f->inflight);
	metrics_render_upstreams(b, &f->upstreams);
}

/* Hits and stale answers are counted by the threads that sent them, the rest on the main loop. */
static void metrics_render_cache(struct mbuf *b, const struct fwdcache_stats *c,
				 const struct servestats *s)
{
	mbuf_metric(b, "cache_hits_total", "counter",
		    "Names outside the zones answered from the cache, stale answers included.",
		    (double)(s ? s->cache_hits : 0) + (double)c->stale);
	mbuf_metric(b, "cache_misses_total", "counter",
		    "Names outside the zones not in the cache, forwarded.",
		    (double)c->misses_forwarded);
	mbuf_metric(b, "cache_stale_answers_total", "counter",
		    "Expired answers sent because the upstreams failed (RFC 8767).",
		    (double)(s ? s->cache_stale : 0) + (double)c->stale);
	mbuf_metric(b, "cache_prefetches_total", "counter",
		    "Background refreshes of answers near expiry or served stale.",
		    (double)c->prefetches);
	mbuf_metric(b, "cache_evictions_total", "counter",
		    "Entries dropped to keep the cache under cache-size.", (double)c->evictions);
	mbuf_metric(b, "cache_entries", "gauge", "Answers in the cache.", (double)c->entries);
	mbuf_metric(b, "cache_bytes", "gauge", "Memory of the answers in the cache.",
		    (double)c->bytes);
}

/* The gRPC transport: connection state per server, pushes, reconnects, resubscriptions. */
static void metrics_render_grpc(struct mbuf *b, const struct sync_stats *s)
{
	mbuf_head(b, "grpc_connection_state", "gauge",
		  "gRPC connection to each Nacos server: 0 none, 1 connecting, 2 up.");
	for (size_t i = 0; i < s->n_servers; i++) {
		mbuf_printf(b, "nacosdns_grpc_connection_state{server=\"");
		mbuf_label(b, s->servers[i].url);
		mbuf_printf(b, "\"} %d\n", s->servers[i].grpc);
	}
	mbuf_head(
		b, "grpc_notifies_total", "counter",
		"gRPC NotifySubscriberRequests: received, and each as applied, stale or rejected.");
	const struct {
		const char *result;
		uint64_t n;
	} rows[] = {{"received", s->grpc_notifies},
		    {"applied", s->grpc_notify_applied},
		    {"stale", s->grpc_notify_stale},
		    {"rejected", s->grpc_notify_rejected}};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		mbuf_printf(b, "nacosdns_grpc_notifies_total{result=\"%s\"} %llu\n", rows[i].result,
			    (unsigned long long)rows[i].n);
	mbuf_metric(b, "grpc_reconnects_total", "counter",
		    "gRPC connections registered again after the first.",
		    (double)s->grpc_reconnects);
	mbuf_metric(b, "grpc_resubscriptions_total", "counter",
		    "Subscriptions sent again after a gRPC reconnect.",
		    (double)s->grpc_resubscriptions);
	mbuf_metric(b, "grpc_subscribed_services", "gauge",
		    "Services the gRPC server confirmed a subscription of.",
		    (double)s->grpc_subscribed);
}

static void metrics_render_sync(struct mbuf *b, const struct sync_stats *s)
{
	mbuf_metric(b, "sync_http_requests_total", "counter",
		    "HTTP requests sent to Nacos, logins included.", (double)s->requests);
	mbuf_head(b, "sync_fetches_total", "counter",
		  "Nacos fetches completed, by API call and result.");
	mbuf_printf(b, "nacosdns_sync_fetches_total{call=\"instances\",result=\"ok\"} %llu\n",
		    (unsigned long long)s->fetch_ok);
	mbuf_printf(b, "nacosdns_sync_fetches_total{call=\"instances\",result=\"failed\"} %llu\n",
		    (unsigned long long)s->fetch_failed);
	mbuf_printf(b, "nacosdns_sync_fetches_total{call=\"catalog\",result=\"ok\"} %llu\n",
		    (unsigned long long)s->catalog_ok);
	mbuf_printf(b, "nacosdns_sync_fetches_total{call=\"catalog\",result=\"failed\"} %llu\n",
		    (unsigned long long)s->catalog_failed);
	mbuf_printf(b, "nacosdns_sync_fetches_total{call=\"login\",result=\"ok\"} %llu\n",
		    (unsigned long long)s->logins);
	mbuf_head(b, "sync_requests_total", "counter",
		  "HTTP answers from each Nacos server, by the API it speaks and result.");
	for (size_t i = 0; i < s->n_servers; i++) {
		const struct sync_server_stats *v = &s->servers[i];
		for (int api = 0; api < 2; api++) {
			for (int r = 0; r < NACOSAPI_RESULT_COUNT; r++) {
				mbuf_printf(b, "nacosdns_sync_requests_total{server=\"");
				mbuf_label(b, v->url);
				mbuf_printf(b, "\",api=\"%s\",result=\"%s\"} %llu\n",
					    api ? "v3" : "v1",
					    nacosapi_result_name((enum nacosapi_result)r),
					    (unsigned long long)v->results[api][r]);
			}
		}
	}
	mbuf_metric(b, "sync_held_back_total", "counter",
		    "Nacos answers held back by the mass-removal guard.", (double)s->held_back);
	mbuf_metric(b, "sync_tracked_services", "gauge", "Services whose instances are polled.",
		    (double)s->tracked);
	mbuf_metric(b, "cache_writes_total", "counter", "Cache file writes.",
		    (double)s->cache_writes);
	mbuf_metric(b, "cache_write_failures_total", "counter",
		    "Cache file writes that failed (the file keeps older data).",
		    (double)s->cache_write_failures);
	mbuf_metric(b, "snapshot_build_seconds", "gauge",
		    "Time the last snapshot build took, off the query path.", s->build_ms / 1000.0);
	mbuf_metric(b, "snapshot_build_cpu_seconds", "gauge",
		    "CPU time the last snapshot build took.", s->build_cpu_ms / 1000.0);
	mbuf_head(
		b, "push_packets_total", "counter",
		"UDP push datagrams from Nacos: received, and each as applied, stale or rejected.");
	mbuf_printf(b, "nacosdns_push_packets_total{result=\"received\"} %llu\n",
		    (unsigned long long)s->push_received);
	mbuf_printf(b, "nacosdns_push_packets_total{result=\"applied\"} %llu\n",
		    (unsigned long long)s->push_applied);
	mbuf_printf(b, "nacosdns_push_packets_total{result=\"stale\"} %llu\n",
		    (unsigned long long)s->push_stale);
	mbuf_printf(b, "nacosdns_push_packets_total{result=\"rejected\"} %llu\n",
		    (unsigned long long)s->push_rejected);
	metrics_render_grpc(b, s);
}

/* One family for every cap: which one held, and how often. */
static void metrics_render_limits(struct mbuf *b, const struct metrics_input *in)
{
	const struct sync_stats *y = in->sync;
	const struct {
		const char *limit;
		bool shown;
		uint64_t n;
	} rows[] = {
		{"tcp-max-connections", in->server, in->server ? in->server->tcp_rejected : 0},
		{"tcp-max-per-client", in->server,
		 in->server ? in->server->tcp_rejected_client : 0},
		{"forward-max-inflight", in->forward, in->forward ? in->forward->busy : 0},
		{"max-response-size", y, y ? y->over_response_size : 0},
		{"max-services", y, y ? y->over_services : 0},
		{"max-instances", y, y ? y->over_instances : 0},
		{"max-tracked", y, y ? y->over_tracked : 0},
		{"fetch-max-waiting", y, y ? y->over_waiting : 0},
		{"max-groups", y, y ? y->over_groups : 0},
		{"direct-fetch-rate", y, y ? y->over_direct : 0},
	};

	if (!in->server && !in->forward && !y)
		return;
	mbuf_head(b, "limit_hits_total", "counter",
		  "Requests, answers or connections refused because a configured cap was reached.");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (rows[i].shown)
			mbuf_printf(b, "nacosdns_limit_hits_total{limit=\"%s\"} %llu\n",
				    rows[i].limit, (unsigned long long)rows[i].n);
}

static void metrics_render_reloads(struct mbuf *b, const struct metrics *m)
{
	static const char *const results[METRICS_RELOAD_RESULTS] = {"ok", "restart_needed",
								    "rejected"};

	mbuf_head(b, "config_reloads_total", "counter",
		  "SIGHUP reloads: applied, applied with keys waiting for a restart, rejected.");
	for (size_t i = 0; i < METRICS_RELOAD_RESULTS; i++)
		mbuf_printf(b, "nacosdns_config_reloads_total{result=\"%s\"} %llu\n", results[i],
			    (unsigned long long)m->reloads[i]);
}

static void metrics_render_data(struct mbuf *b, const struct metrics_input *in)
{
	mbuf_metric(b, "ready", "gauge", "1 once the first sync or cache/file load is done.",
		    in->ready ? 1 : 0);
	mbuf_metric(b, "snapshot_generation", "gauge",
		    "Generation of the served data (SOA serial).", in->generation);
	if (in->data_age_s >= 0)
		mbuf_metric(b, "data_age_seconds", "gauge",
			    "Time since the newest successful fetch of the served data.",
			    in->data_age_s);
	if (in->oldest_age_s >= 0)
		mbuf_metric(b, "oldest_data_age_seconds", "gauge",
			    "Time since the last successful fetch of the service whose data is "
			    "oldest: a service Nacos stopped answering for shows here.",
			    in->oldest_age_s);
	mbuf_metric(b, "zones", "gauge", "Zones served.", (double)in->snap.zones);
	mbuf_head(b, "services", "gauge", "Services in the served data, by state.");
	mbuf_printf(b, "nacosdns_services{state=\"fetched\"} %zu\n", in->snap.services);
	mbuf_printf(b, "nacosdns_services{state=\"pending\"} %zu\n", in->snap.pending);
	mbuf_printf(b, "nacosdns_services{state=\"stale\"} %zu\n", in->stale_services);
	mbuf_head(b, "instances", "gauge", "Instances in the served data, by state.");
	mbuf_printf(b, "nacosdns_instances{state=\"all\"} %zu\n", in->snap.instances);
	mbuf_printf(b, "nacosdns_instances{state=\"usable\"} %zu\n", in->snap.usable);
	mbuf_head(b, "services_by_origin", "gauge",
		  "Services by the Nacos server and API their data came from.");
	for (size_t i = 0; i < in->n_origins; i++) {
		mbuf_printf(b, "nacosdns_services_by_origin{server=\"");
		mbuf_label(b, in->origins[i].server);
		mbuf_printf(b, "\",api=\"");
		mbuf_label(b, in->origins[i].api);
		mbuf_printf(b, "\"} %zu\n", in->origins[i].services);
	}
}

/* The counters of m and of its shards, added up. */
static void metrics_sum(const struct metrics *m, struct metrics *sum)
{
	memset(sum, 0, sizeof(*sum));
	metrics_add(sum, m);
	uv_mutex_lock((uv_mutex_t *)&m->lock);
	for (const struct metrics *sh = m->shards; sh; sh = sh->next)
		metrics_add(sum, sh);
	uv_mutex_unlock((uv_mutex_t *)&m->lock);
}

/* The build, and the process figures under the names Prometheus's process collector uses, so
 * the usual dashboards and alerts work unchanged. */
static void metrics_render_process(struct mbuf *b)
{
	struct procstats p;

	mbuf_head(b, "build_info", "gauge", "Always 1; the version of the running nacos-dns.");
	mbuf_printf(b, "nacosdns_build_info{version=\"");
	mbuf_label(b, NACOS_DNS_VERSION);
	mbuf_printf(b, "\"} 1\n");
	if (procstats_get(&p) < 0)
		return;
	mbuf_printf(b,
		    "# HELP process_start_time_seconds Start time of the process since unix epoch "
		    "in seconds.\n# TYPE process_start_time_seconds gauge\n"
		    "process_start_time_seconds %.2f\n",
		    p.start_time_s);
	mbuf_printf(b,
		    "# HELP process_cpu_seconds_total Total user and system CPU time spent in "
		    "seconds.\n# TYPE process_cpu_seconds_total counter\n"
		    "process_cpu_seconds_total %.2f\n",
		    p.cpu_s);
	mbuf_printf(b,
		    "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		    "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes "
		    "%.0f\n",
		    p.resident_bytes);
	mbuf_printf(
		b,
		"# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
		"# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %.0f\n",
		p.virtual_bytes);
	mbuf_printf(b,
		    "# HELP process_open_fds Number of open file descriptors.\n"
		    "# TYPE process_open_fds gauge\nprocess_open_fds %.0f\n",
		    p.open_fds);
	if (p.max_fds >= 0)
		mbuf_printf(b,
			    "# HELP process_max_fds Maximum number of open file descriptors.\n"
			    "# TYPE process_max_fds gauge\nprocess_max_fds %.0f\n",
			    p.max_fds);
}

static void metrics_render_dnstap(struct mbuf *b, const struct dnstap_stats *d)
{
	mbuf_metric(b, "dnstap_messages_total", "counter",
		    "dnstap messages handed to the writer thread.", (double)d->sent);
	mbuf_metric(b, "dnstap_dropped_messages_total", "counter",
		    "dnstap messages dropped because the writer's queue was full.",
		    (double)d->dropped);
}

char *metrics_render(const struct metrics *all, const struct metrics_input *in, size_t *len)
{
	struct mbuf b = {.cap = 8192};
	struct metrics sum, *m = &sum;

	metrics_sum(all, &sum);
	if (!(b.p = malloc(b.cap)))
		return NULL;
	b.p[0] = '\0';
	metrics_render_queries(&b, m);
	metrics_render_latency(&b, m);
	if (in->server)
		metrics_render_server(&b, m, in->server);
	if (in->forward)
		metrics_render_forward(&b, in->forward);
	if (in->cache)
		metrics_render_cache(&b, in->cache, in->server);
	if (in->sync)
		metrics_render_sync(&b, in->sync);
	metrics_render_limits(&b, in);
	metrics_render_reloads(&b, m);
	metrics_render_data(&b, in);
	if (in->dnstap)
		metrics_render_dnstap(&b, in->dnstap);
	metrics_render_process(&b);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

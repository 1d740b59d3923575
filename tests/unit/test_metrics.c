/* metrics: counting and the Prometheus text rendering. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "resolver/metrics.h"
#include "resolver/serve/servestats.h"

/* The value of the sample line that starts with prefix (name and labels), or -1. */
static double sample(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

static void test_counts(void)
{
	struct metrics *m = metrics_new();
	struct metrics_input in = {.data_age_s = -1};
	size_t len = 0;
	char *t;

	CHECK(m);
	metrics_observe_reply(m, 1, false, 0, false, 40);      /* A over UDP, NOERROR, 40 us */
	metrics_observe_reply(m, 1, false, 3, false, 300);     /* NXDOMAIN */
	metrics_observe_reply(m, 33, true, 0, false, 2000000); /* SRV over TCP, 2 s */
	metrics_observe_reply(m, 999, false, 5, false, 100);   /* an odd type counts as "other" */
	t = metrics_render(m, &in, &len);
	CHECK(t);
	CHECK_INT_EQ(strlen(t), len);
	CHECK(sample(t, "nacosdns_queries_total{type=\"A\",transport=\"udp\"}") == 2);
	CHECK(sample(t, "nacosdns_queries_total{type=\"SRV\",transport=\"tcp\"}") == 1);
	CHECK(sample(t, "nacosdns_queries_total{type=\"other\",transport=\"udp\"}") == 1);
	CHECK(sample(t, "nacosdns_responses_total{rcode=\"NXDOMAIN\"}") == 1);
	CHECK(sample(t, "nacosdns_responses_total{rcode=\"REFUSED\"}") == 1);
	/* Buckets are cumulative: 40 us <= 50 us; 300 us <= 500 us; 2 s only in +Inf. */
	CHECK(sample(t, "nacosdns_response_duration_seconds_bucket{le=\"5e-05\"}") == 1);
	CHECK(sample(t, "nacosdns_response_duration_seconds_bucket{le=\"0.0005\"}") == 3);
	CHECK(sample(t, "nacosdns_response_duration_seconds_bucket{le=\"1\"}") == 3);
	CHECK(sample(t, "nacosdns_response_duration_seconds_bucket{le=\"+Inf\"}") == 4);
	CHECK(sample(t, "nacosdns_response_duration_seconds_count") == 4);
	CHECK(sample(t, "nacosdns_response_duration_seconds_sum") > 2.0004);
	CHECK(!strstr(t, "nacosdns_data_age_seconds")); /* unknown: not rendered */
	CHECK(!strstr(t, "nacosdns_forwarded_queries_total"));
	free(t);
	metrics_free(m);
}

static void test_inputs(void)
{
	struct metrics *m = metrics_new();
	struct servestats ss = {.dropped = 7, .malformed = 3};
	struct forward_stats fs = {.queries = 11, .timeouts = 2};
	struct sync_stats ys = {
		.requests = 5, .fetch_failed = 1, .push_received = 4, .push_stale = 3};
	struct metrics_origin o[] = {{"http://a\"b:8848", "v1", 4}};
	struct metrics_input in = {.server = &ss,
				   .forward = &fs,
				   .sync = &ys,
				   .generation = 42,
				   .data_age_s = 1.5,
				   .stale_services = 2,
				   .ready = true,
				   .origins = o,
				   .n_origins = 1};
	size_t len;
	char *t;

	in.snap.services = 9;
	in.snap.usable = 6;
	metrics_count_rate_limited(m);
	metrics_count_axfr(m, false);
	t = metrics_render(m, &in, &len);
	CHECK(t);
	CHECK(sample(t, "nacosdns_dropped_packets_total") == 7);
	CHECK(sample(t, "nacosdns_malformed_packets_total") == 3);
	CHECK(sample(t, "nacosdns_rate_limited_responses_total") == 1);
	CHECK(sample(t, "nacosdns_zone_transfers_total{result=\"refused\"}") == 1);
	CHECK(sample(t, "nacosdns_forwarded_queries_total") == 11);
	CHECK(sample(t, "nacosdns_forward_errors_total{kind=\"timeout\"}") == 2);
	CHECK(sample(t, "nacosdns_sync_http_requests_total") == 5);
	CHECK(sample(t, "nacosdns_sync_fetches_total{call=\"instances\",result=\"failed\"}") == 1);
	CHECK(sample(t, "nacosdns_push_packets_total{result=\"received\"}") == 4);
	CHECK(sample(t, "nacosdns_push_packets_total{result=\"stale\"}") == 3);
	CHECK(sample(t, "nacosdns_snapshot_generation") == 42);
	CHECK(sample(t, "nacosdns_data_age_seconds") == 1.5);
	CHECK(sample(t, "nacosdns_services{state=\"stale\"}") == 2);
	CHECK(sample(t, "nacosdns_services{state=\"fetched\"}") == 9);
	CHECK(sample(t, "nacosdns_instances{state=\"usable\"}") == 6);
	CHECK(sample(t, "nacosdns_ready") == 1);
	/* A quote in a label value is escaped. */
	CHECK(sample(t, "nacosdns_services_by_origin{server=\"http://a\\\"b:8848\",api=\"v1\"}") ==
	      4);
	/* Every family has HELP and TYPE before its samples. */
	CHECK(strstr(t, "# HELP nacosdns_queries_total ") < strstr(t, "nacosdns_queries_total{"));
	CHECK(strstr(t, "# TYPE nacosdns_response_duration_seconds histogram\n"));
	free(t);
	metrics_free(m);
	metrics_free(NULL);
	metrics_observe_reply(NULL, 1, false, 0, false, 1); /* NULL-safe for a server without metrics */
}

int main(void)
{
	test_counts();
	test_inputs();
	return 0;
}

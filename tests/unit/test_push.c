/* zones/push: Nacos UDP push datagrams, raw and gzip, and their acks. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "check.h"
#include "zones/nacos/nacos.h"
#include "zones/nacos/push.h"

/* A ServiceInfo as 2.x pushes it (no groupName), as the string inside "data". */
#define SERVICE_JSON                                                                               \
	"{\\\"name\\\":\\\"DEFAULT_GROUP@@order-service\\\",\\\"clusters\\\":\\\"\\\","            \
	"\\\"cacheMillis\\\":10000,\\\"hosts\\\":[{\\\"ip\\\":\\\"10.0.0.11\\\",\\\"port\\\":"     \
	"8080,"                                                                                    \
	"\\\"weight\\\":1.0,\\\"healthy\\\":true,\\\"enabled\\\":true,\\\"ephemeral\\\":true,"     \
	"\\\"clusterName\\\":\\\"DEFAULT\\\",\\\"metadata\\\":{\\\"lastRefTime\\\":\\\"7\\\"}}],"  \
	"\\\"lastRefTime\\\":1714000000123,\\\"checksum\\\":\\\"\\\",\\\"allIPs\\\":false,"        \
	"\\\"reachProtectionThreshold\\\":false,\\\"valid\\\":true}"

static const char raw_push[] =
	"{\"type\":\"dom\",\"data\":\"" SERVICE_JSON "\",\"lastRefTime\":9007199254740993}";

/* gzip (RFC 1952) of len bytes; malloc'ed. */
static uint8_t *gzip(const void *in, size_t len, size_t *out_len)
{
	z_stream z = {0};
	CHECK(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) == Z_OK);
	size_t cap = deflateBound(&z, (uLong)len) + 64;
	uint8_t *out = malloc(cap);
	CHECK(out != NULL);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
	*out_len = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

static int parse_text(const char *text, struct push_msg *m)
{
	return push_parse((const uint8_t *)text, strlen(text), m);
}

static void check_service(const struct push_msg *m)
{
	struct nacos_service *svc = NULL;
	int64_t ref_ms = -1;
	CHECK_INT_EQ(push_service(m, NULL, &svc, &ref_ms), 0);
	CHECK_STR_EQ(svc->group, "DEFAULT_GROUP");
	CHECK_STR_EQ(svc->name, "order-service");
	CHECK_INT_EQ(svc->n_instances, 1);
	CHECK_STR_EQ(svc->instances[0].ip, "10.0.0.11");
	CHECK_INT_EQ(svc->cache_millis, 10000);
	CHECK_INT_EQ(ref_ms, 1714000000123LL); /* not the metadata key of the same name */
	nacos_service_free(svc);
}

static void test_raw(void)
{
	struct push_msg m;
	char ack[128];
	CHECK_INT_EQ(parse_text(raw_push, &m), 0);
	CHECK_INT_EQ(m.type, PUSH_DOM);
	CHECK(m.ref == INT64_C(9007199254740993)); /* 2^53 + 1: a double would round it */
	CHECK(m.data_len > 0 && strlen(m.data) == m.data_len);
	check_service(&m);
	CHECK(push_ack(&m, ack, sizeof(ack)) > 0);
	CHECK_STR_EQ(ack, "{\"type\":\"push-ack\",\"lastRefTime\":9007199254740993,\"data\":\"\"}");
	CHECK_INT_EQ(push_ack(&m, ack, 20), -ENOSPC);
	push_msg_deinit(&m);
	push_msg_deinit(&m); /* idempotent */
	push_msg_deinit(NULL);
}

static void test_gzip(void)
{
	struct push_msg m;
	size_t n;
	uint8_t *z = gzip(raw_push, strlen(raw_push), &n);
	CHECK(z[0] == 0x1f && z[1] == 0x8b);
	CHECK_INT_EQ(push_parse(z, n, &m), 0);
	CHECK(m.ref == INT64_C(9007199254740993));
	check_service(&m);
	push_msg_deinit(&m);
	/* cut short: not a push */
	CHECK_INT_EQ(push_parse(z, n / 2, &m), -EBADMSG);
	CHECK(m.data == NULL);
	z[n / 2] ^= 0x55; /* corrupt: the CRC or the stream fails */
	CHECK(push_parse(z, n, &m) < 0);
	free(z);
}

static void test_oversized(void)
{
	/* 5 MiB of blanks inside valid JSON: squeezes into a small datagram, inflates past the cap
	 */
	size_t len = (5u << 20) + 64, n;
	char *big = malloc(len + 1);
	struct push_msg m;
	CHECK(big != NULL);
	memset(big, ' ', len);
	memcpy(big, "{\"type\":\"dom\",\"data\":\"{}\",\"lastRefTime\":1", 40);
	big[len - 1] = '}';
	big[len] = '\0';
	uint8_t *z = gzip(big, len, &n);
	CHECK(n < 65507);
	CHECK_INT_EQ(push_parse(z, n, &m), -EMSGSIZE);
	CHECK(m.data == NULL);
	free(z);
	free(big);
}

static void test_last_ref_time_forms(void)
{
	struct push_msg m;
	char ack[128];
	CHECK_INT_EQ(parse_text("{\"type\":\"dom\",\"data\":\"{}\",\"lastRefTime\":\"123\"}", &m),
		     0);
	CHECK_INT_EQ(m.ref, 123);
	push_msg_deinit(&m);
	CHECK_INT_EQ(parse_text("{\"type\":\"dom\",\"data\":\"{}\",\"lastRefTime\":-5}", &m), 0);
	CHECK_INT_EQ(m.ref, -5); /* nanoTime may be negative */
	push_msg_deinit(&m);
	CHECK_INT_EQ(
		parse_text("{\"type\":\"dom\",\"data\":\"\",\"lastRefTime\":9223372036854775807}",
			   &m),
		0);
	CHECK(m.ref == INT64_MAX);
	push_msg_deinit(&m);
	static const char *const bad[] = {
		"{\"type\":\"dom\",\"data\":\"{}\",\"lastRefTime\":9223372036854775808}",
		"{\"type\":\"dom\",\"data\":\"{}\",\"lastRefTime\":\"9223372036854775808\"}",
		"{\"type\":\"dom\",\"data\":\"{}\",\"lastRefTime\":1.5}",
		"{\"type\":\"dom\",\"data\":\"{}\",\"lastRefTime\":\"12a\"}",
		"{\"type\":\"dom\",\"data\":\"{}\",\"lastRefTime\":\"\"}",
		"{\"type\":\"dom\",\"data\":\"{}\",\"lastRefTime\":true}",
		"{\"type\":\"dom\",\"data\":\"{}\"}",
		"{\"type\":\"dom\",\"data\":{},\"lastRefTime\":1}", /* data must be a string */
		"{\"data\":\"{}\",\"lastRefTime\":1}",
		"[1,2,3]",
		"",
		"\x1f",
		"\x1f\x8b garbage",
		"{\"type\":\"dom\",\"data\":\"{}\",\"lastRefTime\":1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT_EQ(parse_text(bad[i], &m), -EBADMSG);
		CHECK(m.data == NULL);
	}
	/* other types get unknown-ack, and have no service */
	CHECK_INT_EQ(parse_text("{\"type\":\"dump\",\"lastRefTime\":42}", &m), 0);
	CHECK_INT_EQ(m.type, PUSH_OTHER);
	CHECK(push_ack(&m, ack, sizeof(ack)) > 0);
	CHECK_STR_EQ(ack, "{\"type\":\"unknown-ack\",\"lastRefTime\":42,\"data\":\"\"}");
	struct nacos_service *svc = (void *)1;
	int64_t ref_ms;
	CHECK_INT_EQ(push_service(&m, NULL, &svc, &ref_ms), -EBADMSG);
	CHECK(svc == NULL);
	push_msg_deinit(&m);
}

static void test_bad_service(void)
{
	struct push_msg m;
	struct nacos_service *svc;
	int64_t ref_ms;
	CHECK_INT_EQ(parse_text("{\"type\":\"dom\",\"data\":\"not json\",\"lastRefTime\":1}", &m),
		     0);
	CHECK_INT_EQ(push_service(&m, NULL, &svc, &ref_ms), -EBADMSG);
	CHECK(svc == NULL);
	push_msg_deinit(&m);
	/* no inner lastRefTime: 0 */
	CHECK_INT_EQ(parse_text("{\"type\":\"dom\",\"data\":\"{\\\"name\\\":\\\"G@@s\\\","
				"\\\"hosts\\\":[]}\",\"lastRefTime\":1}",
				&m),
		     0);
	CHECK_INT_EQ(push_service(&m, NULL, &svc, &ref_ms), 0);
	CHECK_STR_EQ(svc->group, "G");
	CHECK_INT_EQ(svc->n_instances, 0);
	CHECK_INT_EQ(ref_ms, 0);
	nacos_service_free(svc);
	push_msg_deinit(&m);
}

static void test_ref_time_scan(void)
{
	static const struct {
		const char *json;
		int rc;
		int64_t want;
	} cases[] = {
		{"{\"lastRefTime\":5}", 0, 5},
		{" { \"a\" : [1,{\"lastRefTime\":9}], \"b\":\"}\\\",\", \"lastRefTime\" : 77 } ", 0,
		 77},
		{"{\"hosts\":[],\"lastRefTime\":\"88\"}", 0, 88},
		{"{\"x\":{\"lastRefTime\":1}}", -ENOENT, 0},
		{"{\"lastRefTime\":1.5}", -ENOENT, 0},
		{"{\"lastRefTime\":null}", -ENOENT, 0},
		{"{\"lastRefTimeX\":3}", -ENOENT, 0},
		{"{}", -ENOENT, 0},
		{"[{\"lastRefTime\":1}]", -EBADMSG, 0},
		{"{\"a\" 1}", -EBADMSG, 0},
		{"{\"lastRefTime", -EBADMSG, 0},
		{"", -EBADMSG, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = 0;
		int rc = push_ref_time(cases[i].json, strlen(cases[i].json), &v);
		if (rc != cases[i].rc)
			fprintf(stderr, "case %zu: %s\n", i, cases[i].json);
		CHECK_INT_EQ(rc, cases[i].rc);
		if (rc == 0)
			CHECK_INT_EQ(v, cases[i].want);
	}
}

int main(void)
{
	test_raw();
	test_gzip();
	test_oversized();
	test_last_ref_time_forms();
	test_bad_service();
	test_ref_time_scan();
	return 0;
}

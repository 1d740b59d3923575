/* libFuzzer target: one DNS message through query_answer() over a fixed snapshot. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zones/nacos/nacos.h"
#include "zones/dns/query.h"
#include "zones/data/snapshot.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Dotted, Dubbo-style and IPv6 services in two namespaces, one of them served by two zones. */
static const char fuzz_registry[] =
	"{\"namespaces\": {"
	" \"public\": ["
	"  {\"name\": \"DEFAULT_GROUP@@order-service\", \"hosts\": ["
	"   {\"ip\": \"10.0.0.1\", \"port\": 8080, \"weight\": 3, \"metadata\": {\"v\": \"1\"}},"
	"   {\"ip\": \"10.0.0.2\", \"port\": 8080, \"weight\": 1, \"clusterName\": \"east\"},"
	"   {\"ip\": \"2001:db8::5\", \"port\": 8080},"
	"   {\"ip\": \"10.0.0.3\", \"port\": 8080, \"healthy\": false}]},"
	"  {\"name\": \"DEFAULT_GROUP@@com.acme.Order\", \"hosts\": ["
	"   {\"ip\": \"10.1.0.1\", \"port\": 80}]},"
	"  {\"name\": \"DUBBO@@providers:com.acme.Demo:1.0:\", \"hosts\": ["
	"   {\"ip\": \"10.1.0.2\", \"port\": 20880}]},"
	"  {\"name\": \"PAY@@v6only\", \"reachProtectionThreshold\": true, \"hosts\": ["
	"   {\"ip\": \"fe80::1\", \"port\": 443, \"healthy\": false},"
	"   {\"ip\": \"::ffff:10.2.0.1\", \"port\": 0}]}"
	" ],"
	" \"prod\": ["
	"  {\"name\": \"DEFAULT_GROUP@@billing\", \"hosts\": ["
	"   {\"ip\": \"10.9.0.1\", \"port\": 80, \"weight\": 0.5}]}"
	" ]}}";

static struct snapshot *snaps[2];

static struct snapshot *fuzz_build(enum snapshot_overflow overflow)
{
	struct snapshot_config c;
	struct nacos_registry *r = NULL;

	snapshot_config_defaults(&c);
	c.zones[1] = (struct snapshot_zone){.name = "cluster.local.", .namespace_id = "public"};
	c.zones[2] = (struct snapshot_zone){.name = "prod.svc", .namespace_id = "prod", .partial = true};
	c.n_zones = 3;
	c.overflow = overflow;
	c.udp_max = 512;
	if (nacos_registry_parse(fuzz_registry, sizeof(fuzz_registry) - 1, NULL, &r) < 0)
		abort();
	struct snapshot_builder *b = snapshot_builder_new(&c, 7, NULL);
	if (!b || snapshot_builder_add_registry(b, r, NULL) < 0 ||
	    snapshot_builder_add_pending(b, "public", "DEFAULT_GROUP", "pending-svc", NULL) < 0)
		abort();
	nacos_registry_free(r);
	struct snapshot *s = snapshot_build(b);
	if (!s)
		abort();
	return s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snaps[0] = fuzz_build(SNAPSHOT_OVERFLOW_TC);
	snaps[1] = fuzz_build(SNAPSHOT_OVERFLOW_SUBSET);
	return 0;
}

/* The first byte picks transport, snapshot and the random bits; the rest is the message. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[65535];
	struct query_info qi = {0};
	size_t out_len = 0;

	if (size < 1)
		return 0;
	qi.tcp = data[0] & 1;
	qi.random = (uint64_t)data[0] * 0x9e3779b97f4a7c15ull;
	qi.client_hash = data[0];
	qi.now_ms = 1700000000000;
	const struct snapshot *s = snaps[(data[0] >> 1) & 1];
	size_t cap = qi.tcp ? sizeof(out) : 512 + (size_t)(data[0] >> 2) * 16;
	int st = query_answer(s, &qi, data + 1, size - 1, out, cap, &out_len);
	if (st != QUERY_DROP && (out_len < 12 || out_len > cap))
		abort();
	return 0;
}

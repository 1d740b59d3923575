/* Snapshot publishing under concurrency: a writer publishes new snapshots in a tight loop while
 * reader threads answer queries from whatever snapshot they entered. Every reply must parse and
 * belong to one generation (SOA serial and addresses agree), generations never go back, and no
 * reader touches a freed snapshot (run it under -Db_sanitize=thread or address to see that). */
#include "resolver/serve/snapstore.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>
#include <uv.h>

#include "check.h"
#include "zones/nacos/nacos.h"
#include "zones/dns/query.h"
#include "zones/data/snapshot.h"

#define READERS     3
#define PUBLISHES   1500
#define SVC_GROUP   "DEFAULT_GROUP"
#define SVC_NAME    "order"
#define SVC_OWNER   SVC_NAME "." SVC_GROUP ".svc."
#define N_INSTANCES 2

static atomic_bool done;
static atomic_int started; /* readers that answered once: the writer waits for all */

/* The address of instance j in generation g: any reply mixing two generations shows. */
static void instance_addr(uint32_t g, int j, char *buf, size_t len)
{
	snprintf(buf, len, "10.%u.%u.%d", (g >> 8) & 0xff, g & 0xff, j + 1);
}

static struct snapshot *snapshot_for(uint32_t g)
{
	struct snapshot_config sc;
	struct nacos_instance is[N_INSTANCES];
	struct nacos_service svc = {.group = SVC_GROUP, .name = SVC_NAME, .instances = is};
	char ip[32];

	snapshot_config_defaults(&sc);
	struct snapshot_builder *b = snapshot_builder_new(&sc, g, NULL);
	CHECK(b != NULL);
	memset(is, 0, sizeof(is));
	for (int j = 0; j < N_INSTANCES; j++) {
		instance_addr(g, j, ip, sizeof(ip));
		is[j] = (struct nacos_instance){.ip = ip,
						.port = 8080,
						.weight = 1,
						.healthy = true,
						.enabled = true,
						.cluster = "DEFAULT"};
		is[j].family = AF_INET;
		CHECK(inet_pton(AF_INET, ip, is[j].addr) == 1);
		svc.n_instances = (size_t)j + 1;
		if (j + 1 < N_INSTANCES)
			continue;
		CHECK_INT_EQ(snapshot_builder_add_service(b, "public", &svc, NULL), 1);
	}
	struct snapshot *s = snapshot_build(b);
	CHECK(s != NULL);
	return s;
}

static size_t make_query(uint8_t *buf, size_t cap, const char *name, uint16_t type)
{
	ldns_pkt *q = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;

	CHECK(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, 0) == LDNS_STATUS_OK);
	CHECK(ldns_pkt2wire(&wire, q, &len) == LDNS_STATUS_OK);
	CHECK(len <= cap);
	memcpy(buf, wire, len);
	free(wire);
	ldns_pkt_free(q);
	return len;
}

/* Answers (name, type) from snap and parses the reply back. */
static ldns_pkt *answer(const struct snapshot *snap, const char *name, uint16_t type)
{
	uint8_t in[512], out[4096];
	size_t in_len = make_query(in, sizeof(in), name, type), out_len = 0;
	struct query_info qi = {.random = 7};
	ldns_pkt *p = NULL;

	CHECK_INT_EQ(query_answer(snap, &qi, in, in_len, out, sizeof(out), &out_len), QUERY_ANSWER);
	CHECK(ldns_wire2pkt(&p, out, out_len) == LDNS_STATUS_OK);
	CHECK_INT_EQ(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	return p;
}

/* The SOA serial and the instance addresses must all say generation g. */
static void check_consistent(const struct snapshot *snap, uint32_t g)
{
	ldns_pkt *soa = answer(snap, "svc.", LDNS_RR_TYPE_SOA);
	ldns_rr_list *an = ldns_pkt_answer(soa);
	CHECK_INT_EQ(ldns_rr_list_rr_count(an), 1);
	CHECK_INT_EQ(ldns_rdf2native_int32(ldns_rr_rdf(ldns_rr_list_rr(an, 0), 2)), g);
	ldns_pkt_free(soa);

	ldns_pkt *a = answer(snap, SVC_OWNER, LDNS_RR_TYPE_A);
	an = ldns_pkt_answer(a);
	CHECK_INT_EQ(ldns_rr_list_rr_count(an), N_INSTANCES);
	for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
		char *got = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(an, i), 0));
		char want[2][32];
		instance_addr(g, 0, want[0], sizeof(want[0]));
		instance_addr(g, 1, want[1], sizeof(want[1]));
		CHECK(strcmp(got, want[0]) == 0 || strcmp(got, want[1]) == 0);
		free(got);
	}
	ldns_pkt_free(a);
}

struct reader_arg {
	struct snapstore *reg;
	unsigned long answered;
	uint32_t first, last;
};

static void reader_run(void *arg)
{
	struct reader_arg *ra = arg;
	struct snapstore_reader *rd = snapstore_reader_new(ra->reg);
	uint32_t prev = 0;

	CHECK(rd != NULL);
	while (!atomic_load(&done)) {
		const struct snapshot *snap = snapstore_reader_enter(rd);
		uint32_t g = snapshot_generation(snap);
		CHECK(snapstore_reader_epoch(rd) != UINT64_MAX);
		CHECK(g >= prev); /* never an older snapshot after a newer one */
		check_consistent(snap, g);
		snapstore_reader_leave(rd);
		if (!ra->first) {
			ra->first = g;
			atomic_fetch_add(&started, 1);
		}
		prev = ra->last = g;
		ra->answered++;
	}
	CHECK_INT_EQ(snapstore_reader_epoch(rd), UINT64_MAX);
	snapstore_reader_free(rd);
}

int main(void)
{
	struct snapstore *reg = snapstore_new(snapshot_for(1));
	struct reader_arg args[READERS];
	uv_thread_t tids[READERS];

	CHECK(reg != NULL);
	check_consistent(snapstore_get(reg), 1);
	for (int i = 0; i < READERS; i++) {
		args[i] = (struct reader_arg){.reg = reg};
		CHECK(uv_thread_create(&tids[i], reader_run, &args[i]) == 0);
	}
	while (atomic_load(&started) < READERS)
		uv_sleep(1);
	for (uint32_t g = 2; g <= PUBLISHES; g++)
		snapstore_publish_take(reg, snapshot_for(g));
	atomic_store(&done, true);
	for (int i = 0; i < READERS; i++) {
		CHECK(uv_thread_join(&tids[i]) == 0);
		CHECK(args[i].answered > 0);
		CHECK(args[i].last >= args[i].first);
		printf("reader %d: %lu consistent answers, generations %u..%u\n", i,
		       args[i].answered, args[i].first, args[i].last);
	}
	/* With every reader gone, the latest publish and a reclaim free all but the current. */
	snapstore_publish_take(reg, snapshot_for(PUBLISHES + 1));
	snapstore_reclaim(reg);
	CHECK_INT_EQ(snapshot_generation(snapstore_get(reg)), PUBLISHES + 1);
	check_consistent(snapstore_get(reg), PUBLISHES + 1);
	CHECK_INT_EQ(snapstore_next_generation(reg), PUBLISHES + 2);
	snapstore_free(reg);
	snapstore_free(NULL);
	return 0;
}

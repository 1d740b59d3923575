/* The forward cache's pure part: what a reply leaves to cache, TTLs counted down, negative
 * answers, stale answers, the memory cap; and readers on other threads while the writer changes
 * the table (run under ThreadSanitizer). Replies are built and answers read back with ldns. */
#include <errno.h>
#include <ldns/ldns.h>
#include <stdatomic.h>
#include <stdint.h>

#include <uv.h>

#include "check.h"
#include "zones/dns/msgcache.h"
#include "resolver/serve/snapstore.h"
#include "zones/data/snapshot.h"
#include "ldnsmsg.h"

static const struct msgcache_limits LIMITS = {.min_ttl = 0,
					      .max_ttl = 86400,
					      .max_negative_ttl = 3600,
					      .failure_ttl = 5,
					      .stale_max = 86400,
					      .max_bytes = 1 << 20};

static ldns_pkt *new_pkt(const char *name, ldns_rr_type t, bool reply, bool edns)
{
	ldns_pkt *p = NULL;
	CHECK(ldns_pkt_query_new_frm_str(&p, name, t, LDNS_RR_CLASS_IN, LDNS_RD) == LDNS_STATUS_OK);
	ldns_pkt_set_id(p, 0x4242);
	ldns_pkt_set_qr(p, reply);
	if (edns)
		ldns_pkt_set_edns_udp_size(p, 1232);
	return p;
}

static void push(ldns_pkt *p, ldns_pkt_section s, const char *text)
{
	ldns_rr *rr = NULL;
	CHECK(ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) == LDNS_STATUS_OK);
	CHECK(ldns_pkt_push_rr(p, s, rr));
}

static struct msgcache_key key_of(const char *name, ldns_rr_type t)
{
	struct wire q = to_wire(new_pkt(name, t, false, false));
	struct msgcache_key k;
	CHECK_INT_EQ(msgcache_key_make(q.data, q.len, false, &k), 0);
	free(q.data);
	return k;
}

/* Asks c for name/t at now; the answer parsed by ldns, NULL on a miss. */
static ldns_pkt *ask(struct msgcache *c, const char *name, ldns_rr_type t, int64_t now,
		     bool stale_ok, int *result, bool *refresh)
{
	struct wire q = to_wire(new_pkt(name, t, false, true));
	struct msgcache_key k;
	uint8_t out[4096];
	size_t n = 0;
	bool r;
	CHECK_INT_EQ(msgcache_key_make(q.data, q.len, false, &k), 0);
	struct msgcache_ask a = {.query = q.data,
				 .len = q.len,
				 .qend = q.len - 11,
				 .edns = true,
				 .edns_size = 1232,
				 .max_reply = sizeof(out),
				 .now_ms = now,
				 .stale_ok = stale_ok};
	*result = msgcache_answer(c, &k, &a, out, sizeof(out), &n, refresh ? refresh : &r);
	free(q.data);
	if (*result == MSGCACHE_MISS)
		return NULL;
	ldns_pkt *p = NULL;
	CHECK(ldns_wire2pkt(&p, out, n) == LDNS_STATUS_OK);
	CHECK_INT_EQ(ldns_pkt_id(p), 0x4242);
	return p;
}

static int store(struct msgcache *c, const char *name, ldns_rr_type t, ldns_pkt *reply, int64_t now)
{
	struct msgcache_key k = key_of(name, t);
	struct wire w = to_wire(reply);
	int rc = msgcache_store(c, &k, w.data, w.len, now);
	free(w.data);
	return rc;
}

static void test_keeps_only_the_answer(void)
{
	struct msgcache *c = msgcache_new(&LIMITS);
	ldns_pkt *r = new_pkt("Alias.Example.ORG.", LDNS_RR_TYPE_A, true, false);
	int res;

	push(r, LDNS_SECTION_ANSWER, "alias.example.org. 300 IN CNAME www.example.org.");
	push(r, LDNS_SECTION_ANSWER, "www.example.org. 120 IN A 192.0.2.1");
	push(r, LDNS_SECTION_ANSWER, "victim.example.org. 86400 IN A 203.0.113.66");
	push(r, LDNS_SECTION_AUTHORITY, "example.org. 86400 IN NS ns.evil.test.");
	push(r, LDNS_SECTION_ADDITIONAL, "victim.example.org. 86400 IN A 203.0.113.66");
	CHECK_INT_EQ(store(c, "alias.example.org.", LDNS_RR_TYPE_A, r, 1000), 0);

	ldns_pkt *p = ask(c, "ALIAS.example.org.", LDNS_RR_TYPE_A, 11000, false, &res, NULL);
	CHECK_INT_EQ(res, MSGCACHE_HIT);
	CHECK_INT_EQ(ldns_pkt_ancount(p), 2);
	CHECK_INT_EQ(ldns_pkt_nscount(p), 0);
	CHECK_INT_EQ(ldns_pkt_arcount(p), 0); /* ldns takes the OPT out of the count */
	CHECK_INT_EQ(ldns_pkt_edns_udp_size(p), 1232);
	CHECK_INT_EQ(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 110); /* 120 - 10 s */
	ldns_pkt_free(p);
	CHECK(ask(c, "victim.example.org.", LDNS_RR_TYPE_A, 11000, false, &res, NULL) == NULL);
	CHECK(ask(c, "alias.example.org.", LDNS_RR_TYPE_AAAA, 11000, false, &res, NULL) == NULL);
	msgcache_free(c);
}

static void test_negative_answers(void)
{
	struct msgcache *c = msgcache_new(&LIMITS);
	ldns_pkt *r = new_pkt("nx.example.org.", LDNS_RR_TYPE_A, true, false);
	int res;

	ldns_pkt_set_rcode(r, LDNS_RCODE_NXDOMAIN);
	push(r, LDNS_SECTION_AUTHORITY,
	     "example.org. 3600 IN SOA ns.example.org. admin.example.org. 1 3600 600 86400 60");
	CHECK_INT_EQ(store(c, "nx.example.org.", LDNS_RR_TYPE_A, r, 0), 0);
	ldns_pkt *p = ask(c, "nx.example.org.", LDNS_RR_TYPE_A, 20000, false, &res, NULL);
	CHECK_INT_EQ(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	CHECK_INT_EQ(ldns_pkt_nscount(p), 1);
	CHECK_INT_EQ(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_authority(p), 0)), 40); /* MINIMUM 60 */
	ldns_pkt_free(p);
	CHECK(ask(c, "nx.example.org.", LDNS_RR_TYPE_A, 61000, false, &res, NULL) == NULL);

	/* an SOA of another zone does not time a negative answer: not cached */
	r = new_pkt("nodata.example.org.", LDNS_RR_TYPE_AAAA, true, false);
	push(r, LDNS_SECTION_AUTHORITY,
	     "evil.test. 3600 IN SOA ns.evil.test. admin.evil.test. 1 3600 600 86400 60");
	CHECK_INT_EQ(store(c, "nodata.example.org.", LDNS_RR_TYPE_AAAA, r, 0), -ENOENT);
	/* a referral neither */
	r = new_pkt("ref.example.org.", LDNS_RR_TYPE_A, true, false);
	push(r, LDNS_SECTION_AUTHORITY, "example.org. 3600 IN NS ns.example.org.");
	CHECK_INT_EQ(store(c, "ref.example.org.", LDNS_RR_TYPE_A, r, 0), -ENOENT);
	/* nor, without its DNSSEC denial, a negative answer to a DO query */
	r = new_pkt("nx.example.org.", LDNS_RR_TYPE_A, true, false);
	ldns_pkt_set_rcode(r, LDNS_RCODE_NXDOMAIN);
	push(r, LDNS_SECTION_AUTHORITY,
	     "example.org. 3600 IN SOA ns.example.org. admin.example.org. 1 3600 600 86400 60");
	struct wire w = to_wire(r);
	struct wire q = to_wire(new_pkt("nx.example.org.", LDNS_RR_TYPE_A, false, false));
	struct msgcache_key kdo;
	CHECK_INT_EQ(msgcache_key_make(q.data, q.len, true, &kdo), 0);
	CHECK_INT_EQ(msgcache_store(c, &kdo, w.data, w.len, 0), -ENOENT);
	free(w.data);
	free(q.data);
	/* nor another question, nor a truncated reply */
	r = new_pkt("other.example.org.", LDNS_RR_TYPE_A, true, false);
	push(r, LDNS_SECTION_ANSWER, "other.example.org. 300 IN A 192.0.2.9");
	CHECK_INT_EQ(store(c, "www.example.org.", LDNS_RR_TYPE_A, r, 0), -EBADMSG);
	r = new_pkt("www.example.org.", LDNS_RR_TYPE_A, true, false);
	ldns_pkt_set_tc(r, true);
	CHECK_INT_EQ(store(c, "www.example.org.", LDNS_RR_TYPE_A, r, 0), -ENOENT);
	msgcache_free(c);
}

static void test_stale_and_failures(void)
{
	struct msgcache *c = msgcache_new(&LIMITS);
	struct msgcache_key k = key_of("www.example.org.", LDNS_RR_TYPE_A);
	ldns_pkt *r = new_pkt("www.example.org.", LDNS_RR_TYPE_A, true, false);
	bool refresh;
	int res;

	push(r, LDNS_SECTION_ANSWER, "www.example.org. 10 IN A 192.0.2.1");
	CHECK_INT_EQ(store(c, "www.example.org.", LDNS_RR_TYPE_A, r, 0), 0);
	/* in the last tenth of its TTL, one caller is told to refresh it */
	ldns_pkt *p = ask(c, "www.example.org.", LDNS_RR_TYPE_A, 9500, false, &res, &refresh);
	CHECK(refresh);
	ldns_pkt_free(p);
	p = ask(c, "www.example.org.", LDNS_RR_TYPE_A, 9600, false, &res, &refresh);
	CHECK(!refresh);
	ldns_pkt_free(p);
	msgcache_refresh_done(c, &k);
	/* expired: a miss, unless the upstreams just failed */
	CHECK(ask(c, "www.example.org.", LDNS_RR_TYPE_A, 20000, false, &res, NULL) == NULL);
	p = ask(c, "www.example.org.", LDNS_RR_TYPE_A, 20000, true, &res, NULL);
	CHECK_INT_EQ(res, MSGCACHE_STALE);
	CHECK_INT_EQ(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 30);
	ldns_pkt_free(p);
	msgcache_store_failure(c, &k, 20000);
	p = ask(c, "www.example.org.", LDNS_RR_TYPE_A, 21000, false, &res, &refresh);
	CHECK_INT_EQ(res, MSGCACHE_STALE);
	CHECK(refresh); /* served stale at once, refreshed in the background */
	ldns_pkt_free(p);
	/* past cache-stale-max: nothing */
	CHECK(ask(c, "www.example.org.", LDNS_RR_TYPE_A, 10000 + 86401000LL, true, &res, NULL) ==
	      NULL);

	/* a failure without an entry is remembered as SERVFAIL for failure_ttl */
	struct msgcache_key k2 = key_of("down.example.org.", LDNS_RR_TYPE_A);
	msgcache_store_failure(c, &k2, 0);
	p = ask(c, "down.example.org.", LDNS_RR_TYPE_A, 4000, false, &res, NULL);
	CHECK_INT_EQ(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
	CHECK(ask(c, "down.example.org.", LDNS_RR_TYPE_A, 5000, true, &res, NULL) == NULL);
	msgcache_free(c);
}

static void test_memory_cap(void)
{
	struct msgcache_limits lim = LIMITS;
	struct msgcache_stats st;
	char name[64];
	int res;

	lim.max_bytes = 64 * 1024;
	struct msgcache *c = msgcache_new(&lim);
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "n%d.example.org.", i);
		ldns_pkt *r = new_pkt(name, LDNS_RR_TYPE_A, true, false);
		char text[128];
		snprintf(text, sizeof(text), "%s 300 IN A 192.0.2.1", name);
		push(r, LDNS_SECTION_ANSWER, text);
		CHECK_INT_EQ(store(c, name, LDNS_RR_TYPE_A, r, i), 0);
		/* n0 is used all along: the least recently used go, not it */
		ldns_pkt_free(ask(c, "n0.example.org.", LDNS_RR_TYPE_A, i + 1, false, &res, NULL));
		CHECK_INT_EQ(res, MSGCACHE_HIT);
		msgcache_stats_get(c, &st);
		CHECK(st.bytes <= lim.max_bytes);
		msgcache_seal(c, (uint64_t)i + 1);
		msgcache_reclaim(c, UINT64_MAX);
	}
	msgcache_stats_get(c, &st);
	CHECK(st.evictions > 4000);
	CHECK(ask(c, "n1.example.org.", LDNS_RR_TYPE_A, 6000, false, &res, NULL) == NULL);
	msgcache_flush(c);
	msgcache_stats_get(c, &st);
	CHECK_INT_EQ(st.entries, 0);
	CHECK_INT_EQ(st.bytes, 0);
	msgcache_free(c); /* frees the unsealed too */
}

/* Readers answer while the writer stores, replaces, evicts and flushes: no lock on their side,
 * entries freed only after their epoch. */
#define READERS 2
#define ROUNDS  3000

struct reader_arg {
	struct snapstore *reg;
	struct msgcache *c;
	struct wire q[8];
	struct msgcache_key k[8];
	_Atomic int *stop;
	unsigned long hits;
};

static void reader_run(void *arg)
{
	struct reader_arg *a = arg;
	struct snapstore_reader *rd = snapstore_reader_new(a->reg);
	uint8_t out[1024];
	size_t n;
	bool refresh;

	CHECK(rd != NULL);
	while (!atomic_load(a->stop)) {
		snapstore_reader_enter(rd);
		for (int i = 0; i < 8; i++) {
			struct msgcache_ask ask = {.query = a->q[i].data,
						   .len = a->q[i].len,
						   .qend = a->q[i].len,
						   .max_reply = sizeof(out),
						   .now_ms = 1};
			if (msgcache_answer(a->c, &a->k[i], &ask, out, sizeof(out), &n, &refresh) ==
			    MSGCACHE_HIT)
				a->hits++;
		}
		snapstore_reader_leave(rd);
	}
	snapstore_reader_free(rd);
}

static void test_threads(void)
{
	struct msgcache_limits lim = LIMITS;
	struct snapshot_config sc;
	_Atomic int stop = 0;
	struct reader_arg args[READERS];
	uv_thread_t th[READERS];
	struct wire replies[8];
	char name[64];

	lim.max_bytes = 4096; /* a few entries: stores evict all along */
	snapshot_config_defaults(&sc);
	struct snapshot_builder *b = snapshot_builder_new(&sc, 1, NULL);
	struct snapstore *reg = snapstore_new(snapshot_build(b));
	struct msgcache *c = msgcache_new(&lim);
	CHECK(reg && c);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "t%d.example.org.", i);
		ldns_pkt *r = new_pkt(name, LDNS_RR_TYPE_A, true, false);
		push(r, LDNS_SECTION_ANSWER, "t.example.org. 300 IN A 192.0.2.1");
		snprintf(name, sizeof(name), "t%d.example.org. 300 IN A 192.0.2.1", i);
		push(r, LDNS_SECTION_ANSWER, name);
		replies[i] = to_wire(r);
	}
	for (int t = 0; t < READERS; t++) {
		args[t] = (struct reader_arg){.reg = reg, .c = c, .stop = &stop};
		for (int i = 0; i < 8; i++) {
			snprintf(name, sizeof(name), "t%d.example.org.", i);
			args[t].q[i] = to_wire(new_pkt(name, LDNS_RR_TYPE_A, false, false));
			CHECK_INT_EQ(msgcache_key_make(args[t].q[i].data, args[t].q[i].len, false,
						       &args[t].k[i]),
				     0);
		}
		CHECK_INT_EQ(uv_thread_create(&th[t], reader_run, &args[t]), 0);
	}
	for (int round = 0; round < ROUNDS; round++) {
		int i = round % 8;
		CHECK_INT_EQ(msgcache_store(c, &args[0].k[i], replies[i].data, replies[i].len, 0),
			     0);
		if (round % 500 == 499)
			msgcache_flush(c);
		if (msgcache_seal(c, snapstore_epoch_advance(reg)))
			msgcache_reclaim(c, snapstore_epoch_min_seen(reg));
	}
	atomic_store(&stop, 1);
	for (int t = 0; t < READERS; t++) {
		uv_thread_join(&th[t]);
		for (int i = 0; i < 8; i++)
			free(args[t].q[i].data);
	}
	for (int i = 0; i < 8; i++)
		free(replies[i].data);
	msgcache_free(c);
	snapstore_free(reg);
}

int main(void)
{
	test_keeps_only_the_answer();
	test_negative_answers();
	test_stale_and_failures();
	test_memory_cap();
	test_threads();
	return 0;
}

/* Building snapshots: return values, reported names, collisions, stats, size, and a failing
 * allocator. Answers are checked through query_answer and parsed back with ldns. */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "check.h"
#include "zones/nacos/nacos.h"
#include "zones/dns/query.h"
#include "zones/data/snapshot.h"

/* ---- failing allocator: allocation number fail_at (counting from 0) fails ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
static long fail_at = -1, alloc_count;

static bool alloc_fails(void)
{
	return fail_at >= 0 && alloc_count++ == fail_at;
}

void *__wrap_malloc(size_t n)
{
	return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	return alloc_fails() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	return alloc_fails() ? NULL : __real_realloc(p, n);
}

/* ---- services ---- */

static struct nacos_instance inst(const char *ip, uint16_t port, bool healthy)
{
	struct nacos_instance i = {.port = port, .weight = 1, .healthy = healthy, .enabled = true};
	i.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	CHECK(inet_pton(i.family, ip, i.addr) == 1);
	i.ip = strdup(ip);
	i.cluster = strdup("DEFAULT");
	return i;
}

static struct nacos_service *svc_new(const char *group, const char *name, size_t n,
				     const struct nacos_instance *is)
{
	struct nacos_service *s = calloc(1, sizeof(*s));
	s->group = strdup(group);
	s->name = strdup(name);
	s->n_instances = n;
	s->instances = calloc(n ? n : 1, sizeof(*is));
	memcpy(s->instances, is, n * sizeof(*is));
	return s;
}

static void svc_free(struct nacos_service *s)
{
	for (size_t k = 0; k < s->n_instances; k++) {
		free(s->instances[k].ip);
		free(s->instances[k].cluster);
	}
	free(s->instances);
	free(s->group);
	free(s->name);
	free(s);
}

/* ---- diagnostics ---- */

static char last_warn[512];
static size_t n_warn;

static void on_warn(void *arg, const char *msg)
{
	(void)arg;
	snprintf(last_warn, sizeof(last_warn), "%s", msg);
	n_warn++;
}

/* ---- one query ---- */

/* The answer records of a query, parsed back (freed by the caller with ldns_pkt_free). */
static ldns_pkt *answer_of(const struct snapshot *s, const char *name, ldns_rr_type type)
{
	ldns_pkt *q = NULL, *r = NULL;
	uint8_t *wire = NULL, out[65535];
	size_t len = 0, out_len = 0;
	CHECK(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD) ==
	      LDNS_STATUS_OK);
	CHECK(ldns_pkt2wire(&wire, q, &len) == LDNS_STATUS_OK);
	struct query_info qi = {.tcp = true};
	int st = query_answer(s, &qi, wire, len, out, sizeof(out), &out_len);
	CHECK(st == QUERY_ANSWER || st == QUERY_OUTSIDE || st == QUERY_FETCH);
	CHECK(ldns_wire2pkt(&r, out, out_len) == LDNS_STATUS_OK);
	free(wire);
	ldns_pkt_free(q);
	return r;
}

/* rcode of a query for name/type, and in first the first answer's rdata as text (or ""). */
static int lookup(const struct snapshot *s, const char *name, ldns_rr_type type, char *first,
		  size_t cap)
{
	ldns_pkt *r = answer_of(s, name, type);
	first[0] = '\0';
	if (ldns_pkt_ancount(r)) {
		char *str = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(r), 0), 0));
		snprintf(first, cap, "%s", str);
		free(str);
	}
	int rcode = ldns_pkt_get_rcode(r);
	ldns_pkt_free(r);
	return rcode;
}

/* One ip:port in two clusters is one SRV record (RFC 2181 5.2), with the larger weight. */
static void test_srv_endpoint_once(void)
{
	struct snapshot_config c;
	snapshot_config_defaults(&c);
	struct snapshot_builder *b = snapshot_builder_new(&c, 1, NULL);
	struct nacos_instance is[3] = {inst("10.0.0.1", 80, true), inst("10.0.0.1", 80, true),
				       inst("10.0.0.2", 80, true)};
	free(is[1].cluster);
	is[1].cluster = strdup("B");
	is[1].weight = 2;
	struct nacos_service *svc = svc_new("G", "web", 3, is);
	CHECK_INT_EQ(snapshot_builder_add_service(b, "public", svc, NULL), 1);
	struct snapshot *s = snapshot_build(b);
	CHECK(s);
	ldns_pkt *r = answer_of(s, "web.G.svc.", LDNS_RR_TYPE_SRV);
	ldns_rr_list *an = ldns_pkt_answer(r);
	CHECK_INT_EQ(ldns_rr_list_rr_count(an), 2);
	CHECK(ldns_rr_compare(ldns_rr_list_rr(an, 0), ldns_rr_list_rr(an, 1)) != 0);
	for (size_t k = 0; k < 2; k++) {
		ldns_rr *rr = ldns_rr_list_rr(an, k);
		char *target = ldns_rdf2str(ldns_rr_rdf(rr, 3));
		uint16_t w = ldns_rdf2native_int16(ldns_rr_rdf(rr, 1));
		CHECK_INT_EQ(w, strncmp(target, "10-0-0-1.", 9) == 0 ? 65535 : 32768);
		free(target);
	}
	ldns_pkt_free(r);
	r = answer_of(s, "B._cluster.web.G.svc.", LDNS_RR_TYPE_SRV);
	CHECK_INT_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(r)), 1);
	ldns_pkt_free(r);
	snapshot_free(s);
	svc_free(svc);
}

/* Listed before web, services named like web's _info and cluster names still do not take them;
 * names of one label that merely start with _ are services like any other. */
static void test_reserved_first(void)
{
	struct snapshot_config c;
	snapshot_config_defaults(&c);
	struct snapshot_builder *b = snapshot_builder_new(&c, 1, NULL);
	const char *first[] = {"_info.web", "DEFAULT._cluster.web", "_http._tcp.web"};
	for (size_t k = 0; k < 3; k++) {
		struct nacos_instance i = inst("10.6.6.6", 80, true);
		struct nacos_service *shadow = svc_new("G", first[k], 1, &i);
		CHECK_INT_EQ(snapshot_builder_add_service(b, "public", shadow, NULL), 0);
		svc_free(shadow);
	}
	struct nacos_instance wi = inst("10.0.0.1", 80, true), ti = inst("10.0.0.9", 80, true);
	struct nacos_service *web = svc_new("G", "web", 1, &wi),
			     *tcp = svc_new("G", "_tcp", 1, &ti);
	CHECK_INT_EQ(snapshot_builder_add_service(b, "public", web, NULL), 1);
	CHECK_INT_EQ(snapshot_builder_add_service(b, "public", tcp, NULL), 1);
	struct snapshot *s = snapshot_build(b);
	CHECK(s);
	char got[200];
	CHECK_INT_EQ(lookup(s, "_info.web.G.svc.", LDNS_RR_TYPE_TXT, got, sizeof(got)), 0);
	CHECK(strncmp(got, "\"total=1\"", 9) == 0);
	CHECK_INT_EQ(lookup(s, "DEFAULT._cluster.web.G.svc.", LDNS_RR_TYPE_A, got, sizeof(got)), 0);
	CHECK_STR_EQ(got, "10.0.0.1");
	CHECK_INT_EQ(lookup(s, "_tcp.G.svc.", LDNS_RR_TYPE_A, got, sizeof(got)), 0);
	CHECK_STR_EQ(got, "10.0.0.9");
	snapshot_free(s);
	svc_free(web);
	svc_free(tcp);
}

/* Over TCP, RRsets over 65535 octets are sent as the part that fits, never as an empty TC. */
static void test_tcp_large_sets(void)
{
	enum { N = 4096 };
	struct snapshot_config c;
	snapshot_config_defaults(&c);
	struct snapshot_builder *b = snapshot_builder_new(&c, 1, NULL);
	struct nacos_instance *is = calloc(N, sizeof(*is));
	CHECK(is);
	for (unsigned k = 0; k < N; k++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.%u.%u.1", k >> 8, k & 255);
		is[k] = inst(ip, 8080, true);
	}
	struct nacos_service *svc = svc_new("G", "big", N, is);
	free(is);
	CHECK_INT_EQ(snapshot_builder_add_service(b, "public", svc, NULL), 1);
	struct snapshot *s = snapshot_build(b);
	CHECK(s);
	ldns_rr_type types[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_TXT};
	for (size_t t = 0; t < 3; t++) {
		ldns_pkt *r = answer_of(s, "big.G.svc.", types[t]);
		size_t n = ldns_rr_list_rr_count(ldns_pkt_answer(r));
		CHECK(!ldns_pkt_tc(r));
		CHECK_INT_EQ(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
		CHECK(n > 100 && n < N);
		CHECK_INT_EQ(ldns_pkt_ancount(r), n);
		ldns_pkt_free(r);
	}
	snapshot_free(s);
	svc_free(svc);
}

static struct snapshot_config three_zones(void)
{
	struct snapshot_config c;
	snapshot_config_defaults(&c);
	c.zones[1] = (struct snapshot_zone){"svc2", "public", false, false};
	c.zones[2] = (struct snapshot_zone){"other.", "prod", false, false};
	c.n_zones = 3;
	return c;
}

static void test_defaults(void)
{
	struct snapshot_config c;
	snapshot_config_defaults(&c);
	CHECK_INT_EQ(c.n_zones, 1);
	CHECK_STR_EQ(c.zones[0].name, "svc.");
	CHECK_STR_EQ(c.zones[0].namespace_id, "public");
	CHECK_INT_EQ(c.ttl, 5);
	CHECK_INT_EQ(c.negative_ttl, 5);
	CHECK_INT_EQ(c.udp_max, 1232);
	CHECK_INT_EQ(c.order, SNAPSHOT_ORDER_WEIGHTED);
	CHECK_INT_EQ(c.overflow, SNAPSHOT_OVERFLOW_TC);
	CHECK(!c.hostname && !c.version);
	snapshot_free(NULL);
	snapshot_builder_free(NULL);
}

static void test_bad_zone(void)
{
	struct snapshot_config c;
	struct nacos_diag d = {on_warn, NULL, 0};
	snapshot_config_defaults(&c);
	c.zones[0].name = "a..b.";
	n_warn = 0;
	CHECK(!snapshot_builder_new(&c, 1, &d));
	CHECK_INT_EQ(n_warn, 1);
	CHECK(strstr(last_warn, "a..b."));
	/* an abandoned build frees everything */
	snapshot_config_defaults(&c);
	struct snapshot_builder *b = snapshot_builder_new(&c, 1, &d);
	CHECK(b);
	snapshot_builder_free(b);
}

static void check_rejected(struct snapshot_builder *b, struct nacos_diag *d, const char *name)
{
	struct nacos_instance i = inst("10.5.0.1", 80, true);
	struct nacos_service *s = svc_new("G", name, 1, &i);
	size_t before = d->skipped;
	CHECK_INT_EQ(snapshot_builder_add_service(b, "public", s, d), -EINVAL);
	CHECK(d->skipped > before);
	svc_free(s);
}

static void test_names(void)
{
	struct snapshot_config c = three_zones();
	struct nacos_diag d = {on_warn, NULL, 0};
	struct snapshot_builder *b = snapshot_builder_new(&c, 77, &d);
	struct nacos_instance is[2] = {inst("10.0.0.1", 80, true), inst("10.0.0.2", 80, false)};
	struct nacos_service *order = svc_new("G", "order", 2, is);
	CHECK_INT_EQ(snapshot_builder_add_service(b, "public", order, &d), 2);
	CHECK_INT_EQ(snapshot_builder_add_service(b, "nope", order, &d), 0);
	CHECK_INT_EQ(d.skipped, 0);
	char label64[65], long_name[400];
	memset(label64, 'x', 64);
	label64[64] = '\0';
	check_rejected(b, &d, label64);
	check_rejected(b, &d, "a..b");
	check_rejected(b, &d, ".a");
	snprintf(long_name, sizeof(long_name), "%.60s.%.60s.%.60s.%.60s.%.60s", label64, label64,
		 label64, label64, label64);
	check_rejected(b, &d, long_name);
	/* the first owner of a name wins, case-insensitively; later ones are reported */
	struct nacos_instance other = inst("10.9.9.9", 80, true);
	struct nacos_service *dup = svc_new("g", "ORDER", 1, &other);
	size_t before = d.skipped;
	n_warn = 0;
	CHECK_INT_EQ(snapshot_builder_add_service(b, "public", dup, &d), 0);
	CHECK_INT_EQ(d.skipped, before + 2);
	CHECK(strstr(last_warn, "ORDER"));
	svc_free(dup);
	struct nacos_instance other2 = inst("10.9.9.8", 80, true);
	dup = svc_new("G", "10-0-0-2.order", 1, &other2); /* an instance name of order */
	CHECK_INT_EQ(snapshot_builder_add_service(b, "public", dup, &d), 0);
	svc_free(dup);
	/* The RFC 2782, _info and _cluster names of order are order's, not another service's. */
	const char *srv_names[] = {"_http._tcp.order", "_HTTP._Udp.order",
				   "_tcp.order",       "_x._tcp.unknown",
				   "_info.order",      "DEFAULT._cluster.order"};
	for (size_t k = 0; k < sizeof(srv_names) / sizeof(srv_names[0]); k++) {
		struct nacos_instance i3 = inst("10.9.9.7", 80, true);
		dup = svc_new("G", srv_names[k], 1, &i3);
		before = d.skipped;
		CHECK_INT_EQ(snapshot_builder_add_service(b, "public", dup, &d), 0);
		CHECK_INT_EQ(d.skipped, before + 2); /* once per zone of public */
		CHECK(strstr(last_warn, "has the form of another service's"));
		svc_free(dup);
	}
	CHECK_INT_EQ(snapshot_builder_add_pending(b, "public", "G", "later", &d), 2);
	CHECK_INT_EQ(snapshot_builder_add_pending(b, "public", "G", "order", &d), 0);
	struct snapshot *s = snapshot_build(b);
	CHECK(s);
	struct snapshot_stats st;
	snapshot_get_stats(s, &st);
	CHECK_INT_EQ(st.zones, 3);
	CHECK_INT_EQ(st.services, 1);
	CHECK_INT_EQ(st.pending, 1);
	CHECK_INT_EQ(st.instances, 2);
	CHECK_INT_EQ(st.usable, 1);
	/* per public zone: apex, G, order, _info, 2 instance names, _cluster, DEFAULT._cluster,
	 * later; plus the apex of other and the reverse names of the two addresses. */
	CHECK_INT_EQ(st.names, 2 * 9 + 1 + 2);
	CHECK_INT_EQ(snapshot_generation(s), 77);
	char first[200];
	CHECK_INT_EQ(lookup(s, "order.G.svc.", LDNS_RR_TYPE_A, first, sizeof(first)), 0);
	CHECK_STR_EQ(first, "10.0.0.1");
	CHECK_INT_EQ(lookup(s, "order.g.svc2.", LDNS_RR_TYPE_A, first, sizeof(first)), 0);
	CHECK_STR_EQ(first, "10.0.0.1");
	CHECK_INT_EQ(lookup(s, "10-0-0-2.order.G.svc.", LDNS_RR_TYPE_A, first, sizeof(first)), 0);
	CHECK_STR_EQ(first, "10.0.0.2");
	CHECK_INT_EQ(lookup(s, "_http._tcp.order.G.svc.", LDNS_RR_TYPE_SRV, first, sizeof(first)),
		     0);
	CHECK_STR_EQ(first, "0"); /* the priority of order's own SRV records */
	CHECK_INT_EQ(lookup(s, "_http._tcp.order.G.svc.", LDNS_RR_TYPE_A, first, sizeof(first)), 0);
	CHECK_STR_EQ(first, "");
	CHECK_INT_EQ(lookup(s, "later.G.svc2.", LDNS_RR_TYPE_A, first, sizeof(first)),
		     LDNS_RCODE_SERVFAIL);
	CHECK_INT_EQ(lookup(s, "order.G.other.", LDNS_RR_TYPE_A, first, sizeof(first)),
		     LDNS_RCODE_NXDOMAIN);
	CHECK_INT_EQ(lookup(s, "xxxx.G.svc.", LDNS_RR_TYPE_A, first, sizeof(first)),
		     LDNS_RCODE_NXDOMAIN);
	svc_free(order);
	snapshot_free(s);
}

static void test_registry(void)
{
	struct nacos_instance a = inst("10.0.1.1", 80, true), bad = inst("10.0.1.2", 80, true);
	struct nacos_service *svcs[2] = {svc_new("G", "a", 1, &a), svc_new("G", "x..y", 1, &bad)};
	struct nacos_namespace ns = {.id = "public", .n_services = 2, .services = svcs};
	struct nacos_registry r = {.n_namespaces = 1, .namespaces = &ns};
	struct snapshot_config c;
	struct nacos_diag d = {NULL, NULL, 0};
	snapshot_config_defaults(&c);
	struct snapshot_builder *b = snapshot_builder_new(&c, 1, &d);
	CHECK_INT_EQ(snapshot_builder_add_registry(b, &r, &d), 0);
	CHECK_INT_EQ(d.skipped, 1);
	struct snapshot *s = snapshot_build(b);
	struct snapshot_stats st;
	snapshot_get_stats(s, &st);
	CHECK_INT_EQ(st.services, 1);
	char first[100];
	CHECK_INT_EQ(lookup(s, "a.G.svc.", LDNS_RR_TYPE_A, first, sizeof(first)), 0);
	CHECK_STR_EQ(first, "10.0.1.1");
	snapshot_free(s);
	svc_free(svcs[0]);
	svc_free(svcs[1]);
}

/* n services of k instances each, 10.x.y.z */
static struct nacos_service **many(size_t n, size_t k)
{
	struct nacos_service **v = calloc(n, sizeof(*v));
	char name[32], ip[32];
	struct nacos_instance is[16];
	for (size_t j = 0; j < n; j++) {
		for (size_t m = 0; m < k; m++) {
			size_t x = j * k + m;
			snprintf(ip, sizeof(ip), "10.%zu.%zu.%zu", x >> 16, (x >> 8) & 255,
				 x & 255);
			is[m] = inst(ip, 8080, true);
		}
		snprintf(name, sizeof(name), "service-%zu", j);
		v[j] = svc_new("DEFAULT_GROUP", name, k, is);
	}
	return v;
}

static void many_free(struct nacos_service **v, size_t n)
{
	for (size_t j = 0; j < n; j++)
		svc_free(v[j]);
	free(v);
}

/* 10,000 services x 10 instances stay well under 100 MiB. */
static void test_size(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return; /* ASan's allocator has its own accounting */
#else
	size_t n = 10000;
	struct nacos_service **v = many(n, 10);
	struct snapshot_config c;
	snapshot_config_defaults(&c);
	struct mallinfo2 m0 = mallinfo2();
	struct snapshot_builder *b = snapshot_builder_new(&c, 1, NULL);
	for (size_t j = 0; j < n; j++)
		CHECK_INT_EQ(snapshot_builder_add_service(b, "public", v[j], NULL), 1);
	struct snapshot *s = snapshot_build(b);
	struct mallinfo2 m1 = mallinfo2();
	size_t used = (m1.uordblks + m1.hblkhd) - (m0.uordblks + m0.hblkhd);
	fprintf(stderr, "10000 x 10 snapshot: %zu KiB\n", used / 1024);
	CHECK(used < 64u << 20);
	char first[100];
	CHECK_INT_EQ(
		lookup(s, "service-9999.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A, first, sizeof(first)),
		0);
	snapshot_free(s);
	many_free(v, n);
#endif
}

/* Every allocation of a build may fail: the result is an error or a complete snapshot. */
static void test_chaos(void)
{
	struct nacos_service **v = many(3, 3);
	struct snapshot_config c = three_zones();
	bool done = false;
	for (long n = 0; !done; n++) {
		alloc_count = 0;
		fail_at = n;
		struct snapshot_builder *b = snapshot_builder_new(&c, 1, NULL);
		int err = b ? 0 : -ENOMEM;
		for (size_t j = 0; j < 3 && !err; j++)
			err = snapshot_builder_add_service(b, "public", v[j], NULL) < 0 ? -ENOMEM
											: 0;
		if (!err)
			err = snapshot_builder_add_pending(b, "public", "G", "p", NULL) < 0
				      ? -ENOMEM
				      : 0;
		struct snapshot *s = err ? NULL : snapshot_build(b);
		if (err)
			snapshot_builder_free(b);
		fail_at = -1;
		done = alloc_count <= n; /* nothing failed: every allocation was tried */
		CHECK(done ? s != NULL : true);
		if (s) {
			char first[100];
			CHECK_INT_EQ(lookup(s, "10-0-0-6.service-2.DEFAULT_GROUP.svc2.",
					    LDNS_RR_TYPE_A, first, sizeof(first)),
				     0);
			CHECK_STR_EQ(first, "10.0.0.6");
		}
		snapshot_free(s);
	}
	many_free(v, 3);
}

int main(void)
{
	test_defaults();
	test_bad_zone();
	test_names();
	test_srv_endpoint_once();
	test_tcp_large_sets();
	test_reserved_first();
	test_registry();
	test_size();
	test_chaos();
	return 0;
}

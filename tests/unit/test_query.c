/* query_answer over snapshots built from C-constructed services; every reply is parsed back with
 * ldns, an independent reader of the prepared wire bytes. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
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

/* ---- allocation guard: query_answer must not allocate (see main) ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
static bool alloc_forbidden;
static size_t alloc_attempts;

void *__wrap_malloc(size_t n)
{
	if (alloc_forbidden) {
		alloc_attempts++;
		return NULL;
	}
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	if (alloc_forbidden) {
		alloc_attempts++;
		return NULL;
	}
	return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	if (alloc_forbidden) {
		alloc_attempts++;
		return NULL;
	}
	return __real_realloc(p, n);
}

/* ---- services ---- */

static struct nacos_instance inst(const char *ip, uint16_t port, double weight, bool healthy,
				  const char *cluster)
{
	struct nacos_instance i = {.port = port,
				   .weight = weight,
				   .healthy = healthy,
				   .enabled = true,
				   .ephemeral = true};
	i.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	CHECK(inet_pton(i.family, ip, i.addr) == 1);
	char canon[INET6_ADDRSTRLEN];
	inet_ntop(i.family, i.addr, canon, sizeof(canon));
	i.ip = strdup(canon);
	i.cluster = strdup(cluster ? cluster : "DEFAULT");
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
	if (n)
		memcpy(s->instances, is, n * sizeof(*is));
	return s;
}

static void meta_set(struct nacos_instance *i, const char *k, const char *v)
{
	i->meta = realloc(i->meta, 2 * (i->n_meta + 1) * sizeof(char *));
	i->meta[2 * i->n_meta] = strdup(k);
	i->meta[2 * i->n_meta + 1] = strdup(v);
	i->n_meta++;
}

static void svc_free(struct nacos_service *s)
{
	for (size_t k = 0; k < s->n_instances; k++) {
		struct nacos_instance *i = &s->instances[k];
		for (size_t m = 0; m < 2 * i->n_meta; m++)
			free(i->meta[m]);
		free(i->meta);
		free(i->ip);
		free(i->cluster);
	}
	free(s->instances);
	free(s->group);
	free(s->name);
	free(s->origin.server);
	free(s->origin.api);
	free(s);
}

static void add(struct snapshot_builder *b, struct nacos_service *s)
{
	CHECK_INT_EQ(snapshot_builder_add_service(b, "public", s, NULL), 1);
	svc_free(s);
}

/* ---- queries ---- */

struct q {
	uint16_t flags; /* header bytes 2..3 */
	uint16_t qdcount;
	int edns; /* 0: none; else the UDP size */
	uint8_t edns_version;
	bool do_bit;
	bool edns_option; /* an unknown option in the OPT */
	uint16_t qclass;
};

static size_t mkq(uint8_t *w, const char *name, uint16_t type, const struct q *o)
{
	ldns_rdf *dn = NULL;
	CHECK(ldns_str2rdf_dname(&dn, name) == LDNS_STATUS_OK);
	size_t n = 12;
	memset(w, 0, 12);
	w[0] = 0x12;
	w[1] = 0x34;
	w[2] = (uint8_t)(o->flags >> 8);
	w[3] = (uint8_t)o->flags;
	w[5] = (uint8_t)o->qdcount;
	memcpy(w + n, ldns_rdf_data(dn), ldns_rdf_size(dn));
	n += ldns_rdf_size(dn);
	ldns_rdf_deep_free(dn);
	uint16_t cls = o->qclass ? o->qclass : 1;
	uint8_t tail[4] = {(uint8_t)(type >> 8), (uint8_t)type, (uint8_t)(cls >> 8), (uint8_t)cls};
	memcpy(w + n, tail, 4);
	n += 4;
	if (o->edns) {
		uint8_t opt[11] = {0,
				   0,
				   41,
				   (uint8_t)(o->edns >> 8),
				   (uint8_t)o->edns,
				   0,
				   o->edns_version,
				   o->do_bit ? 0x80 : 0,
				   0,
				   0,
				   0};
		memcpy(w + n, opt, 11);
		n += 11;
		w[11] = 1;
		if (o->edns_option) {
			uint8_t unk[8] = {0xFD, 0xE9, 0, 4, 1, 2, 3, 4};
			memcpy(w + n, unk, 8);
			w[n - 1] = 8;
			n += 8;
		}
	}
	return n;
}

struct res {
	int status;
	size_t len;
	uint8_t wire[65535];
	ldns_pkt *pkt;
	struct query_info qi;
};

static struct res R; /* the last reply */

static void res_clear(void)
{
	ldns_pkt_free(R.pkt);
	R.pkt = NULL;
}

static int ask_raw(const struct snapshot *s, const uint8_t *in, size_t len, bool tcp,
		   uint64_t random)
{
	res_clear();
	memset(&R.qi, 0, sizeof(R.qi));
	R.qi.tcp = tcp;
	R.qi.random = random;
	R.qi.client_hash = 42;
	R.qi.now_ms = 1700000010000;
	R.len = 0;
	R.status = query_answer(s, &R.qi, in, len, R.wire, tcp ? 65535 : 65535, &R.len);
	if (R.status != QUERY_DROP) {
		ldns_status st = ldns_wire2pkt(&R.pkt, R.wire, R.len);
		if (st != LDNS_STATUS_OK) {
			fprintf(stderr, "reply of %zu octets does not parse: %s\n", R.len,
				ldns_get_errorstr_by_id(st));
			for (size_t k = 0; k < R.len; k++)
				fprintf(stderr, "%02x%s", R.wire[k], k % 16 == 15 ? "\n" : " ");
			fprintf(stderr, "\n");
		}
		CHECK(st == LDNS_STATUS_OK);
		CHECK_INT_EQ(ldns_pkt_id(R.pkt), in[0] << 8 | in[1]);
		CHECK(ldns_pkt_qr(R.pkt));
		CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), R.qi.rcode & 0x0F);
	}
	return R.status;
}

static int askx(const struct snapshot *s, const char *name, uint16_t type, const struct q *o,
		bool tcp)
{
	uint8_t in[600];
	size_t n = mkq(in, name, type, o);
	return ask_raw(s, in, n, tcp, 7);
}

static const struct q Q = {.flags = 0x0100, .qdcount = 1};
static const struct q QE = {.flags = 0x0100, .qdcount = 1, .edns = 1232};

static int ask(const struct snapshot *s, const char *name, uint16_t type)
{
	return askx(s, name, type, &Q, false);
}

/* Whether section holds an RR whose presentation form (ldns) is text (tabs as in ldns). */
static bool has_rr(ldns_pkt_section sec, const char *text)
{
	ldns_rr_list *l = ldns_pkt_get_section_clone(R.pkt, sec);
	bool found = false;
	for (size_t k = 0; l && k < ldns_rr_list_rr_count(l) && !found; k++) {
		char *str = ldns_rr2str(ldns_rr_list_rr(l, k));
		str[strcspn(str, "\n")] = '\0';
		for (char *p = str; *p; p++)
			if (*p == '\t')
				*p = ' ';
		found = strcmp(str, text) == 0;
		if (!found && getenv("QUERY_TEST_VERBOSE"))
			fprintf(stderr, "  have: %s\n", str);
		free(str);
	}
	ldns_rr_list_deep_free(l);
	return found;
}

#define AN LDNS_SECTION_ANSWER
#define NS LDNS_SECTION_AUTHORITY
#define AR LDNS_SECTION_ADDITIONAL

static size_t an_count(void)
{
	return ldns_pkt_ancount(R.pkt);
}

/* NOERROR, AA, no answer, the zone's SOA in authority. */
static void check_nodata(const char *soa_owner)
{
	char soa[200];
	CHECK_INT_EQ(R.status, QUERY_ANSWER);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NOERROR);
	CHECK(ldns_pkt_aa(R.pkt));
	CHECK_INT_EQ(an_count(), 0);
	snprintf(soa, sizeof(soa), "%s 5 IN SOA ns1.example. hostmaster.%s 9 60 30 3600 5",
		 soa_owner, soa_owner);
	CHECK(has_rr(NS, soa));
}

/* ---- the fixture ---- */

static struct snapshot_config config(void)
{
	struct snapshot_config c;
	snapshot_config_defaults(&c);
	c.zones[1] = (struct snapshot_zone){"Corp.Example.", "prod", false, false};
	c.n_zones = 2;
	c.hostname = "ns1.example.";
	c.version = "nacos-dns-test";
	return c;
}

static void add_order(struct snapshot_builder *b)
{
	struct nacos_instance is[] = {
		inst("10.0.0.1", 8080, 1, true, NULL),    inst("10.0.0.1", 9090, 3, true, NULL),
		inst("10.0.0.2", 8080, 2, true, "c2"),    inst("10.0.0.3", 8080, 1, false, NULL),
		inst("2001:db8::7", 8080, 1, true, NULL),
	};
	meta_set(&is[0], "version", "1.2");
	struct nacos_service *s = svc_new("DEFAULT_GROUP", "order-service", 5, is);
	s->origin.server = strdup("http://127.0.0.1:8848");
	s->origin.api = strdup("v1");
	s->origin.fetched_ms = 1700000000000;
	add(b, s);
}

static void add_big(struct snapshot_builder *b)
{
	struct nacos_instance is[200];
	char ip[32];
	for (int k = 0; k < 200; k++) {
		snprintf(ip, sizeof(ip), "10.2.%d.%d", k / 100, k % 100 + 1);
		is[k] = inst(ip, 80, 1 + k % 3, true, NULL);
	}
	add(b, svc_new("DEFAULT_GROUP", "big", 200, is));
}

static struct snapshot *fixture(enum snapshot_order order, enum snapshot_overflow overflow)
{
	struct snapshot_config c = config();
	c.order = order;
	c.overflow = overflow;
	struct snapshot_builder *b = snapshot_builder_new(&c, 9, NULL);
	CHECK(b);
	add_order(b);
	add_big(b);
	struct nacos_instance dotted = inst("10.1.0.1", 80, 1, true, NULL);
	add(b, svc_new("DEFAULT_GROUP", "com.acme.Order", 1, &dotted));
	struct nacos_instance dubbo = inst("10.1.0.2", 20880, 1, true, NULL);
	add(b, svc_new("DEFAULT_GROUP", "providers:com.acme.Demo::", 1, &dubbo));
	struct nacos_instance sick = inst("10.1.0.3", 80, 1, false, NULL);
	add(b, svc_new("DEFAULT_GROUP", "sick", 1, &sick));
	struct nacos_instance prot = inst("10.1.0.4", 80, 1, false, NULL);
	struct nacos_service *p = svc_new("G2", "protected", 1, &prot);
	p->protect_threshold = true;
	add(b, p);
	struct nacos_instance noport = inst("10.1.0.5", 0, 1, true, NULL);
	add(b, svc_new("DEFAULT_GROUP", "noport", 1, &noport));
	struct nacos_instance w[2] = {inst("10.3.0.1", 80, 9, true, NULL),
				      inst("10.3.0.2", 80, 1, true, NULL)};
	add(b, svc_new("DEFAULT_GROUP", "weighted", 2, w));
	struct nacos_instance prod = inst("10.9.0.1", 80, 1, true, NULL);
	struct nacos_service *ps = svc_new("DEFAULT_GROUP", "billing", 1, &prod);
	CHECK_INT_EQ(snapshot_builder_add_service(b, "prod", ps, NULL), 1);
	svc_free(ps);
	CHECK_INT_EQ(
		snapshot_builder_add_pending(b, "public", "DEFAULT_GROUP", "pending-svc", NULL), 1);
	struct snapshot *s = snapshot_build(b);
	CHECK(s);
	return s;
}

/* ---- the Names table ---- */

static void test_apex(const struct snapshot *s)
{
	CHECK_INT_EQ(ask(s, "svc.", LDNS_RR_TYPE_SOA), QUERY_ANSWER);
	CHECK(ldns_pkt_aa(R.pkt));
	CHECK(!ldns_pkt_ra(R.pkt));
	CHECK(ldns_pkt_rd(R.pkt));
	CHECK(has_rr(AN, "svc. 5 IN SOA ns1.example. hostmaster.svc. 9 60 30 3600 5"));
	ask(s, "SVC.", LDNS_RR_TYPE_NS);
	CHECK(has_rr(AN, "SVC. 5 IN NS ns1.example."));
	ask(s, "svc.", LDNS_RR_TYPE_A);
	check_nodata("svc.");
	ask(s, "corp.EXAMPLE.", LDNS_RR_TYPE_SOA);
	CHECK(has_rr(AN, "corp.EXAMPLE. 5 IN SOA ns1.example. hostmaster.corp.EXAMPLE. 9 60 30 "
			 "3600 5"));
}

static void test_service(const struct snapshot *s)
{
	const char *o = "order-service.DEFAULT_GROUP.svc.";
	CHECK_INT_EQ(ask(s, o, LDNS_RR_TYPE_A), QUERY_ANSWER);
	CHECK_INT_EQ(an_count(), 2); /* distinct usable IPs: 10.0.0.3 is unhealthy */
	CHECK(has_rr(AN, "order-service.DEFAULT_GROUP.svc. 5 IN A 10.0.0.1"));
	CHECK(has_rr(AN, "order-service.DEFAULT_GROUP.svc. 5 IN A 10.0.0.2"));
	CHECK(ldns_pkt_aa(R.pkt));
	CHECK_STR_EQ(R.qi.service_name, "order-service");
	CHECK_STR_EQ(R.qi.service_group, "DEFAULT_GROUP");
	CHECK_STR_EQ(R.qi.service_namespace, "public");
	ask(s, o, LDNS_RR_TYPE_AAAA);
	CHECK_INT_EQ(an_count(), 1);
	CHECK(has_rr(AN, "order-service.DEFAULT_GROUP.svc. 5 IN AAAA 2001:db8::7"));
	ask(s, o, LDNS_RR_TYPE_ANY);
	CHECK_INT_EQ(an_count(), 3);
	ask(s, o, LDNS_RR_TYPE_MX);
	check_nodata("svc.");
	ask(s, o, LDNS_RR_TYPE_TXT);
	CHECK(ldns_pkt_tc(R.pkt)); /* five TXT records do not fit 512 octets */
	askx(s, o, LDNS_RR_TYPE_TXT, &QE, false);
	CHECK_INT_EQ(an_count(), 5); /* one per instance, usable or not */
	CHECK(has_rr(AN, "order-service.DEFAULT_GROUP.svc. 5 IN TXT \"ip=10.0.0.1\" \"port=8080\" "
			 "\"weight=1\" \"healthy=true\" \"enabled=true\" \"ephemeral=true\" "
			 "\"cluster=DEFAULT\" \"meta.version=1.2\""));
	CHECK(has_rr(AN, "order-service.DEFAULT_GROUP.svc. 5 IN TXT \"ip=10.0.0.3\" \"port=8080\" "
			 "\"weight=1\" \"healthy=false\" \"enabled=true\" \"ephemeral=true\" "
			 "\"cluster=DEFAULT\""));
}

static void check_order_srv(const char *owner, const char *suffix)
{
	char rr[300];
	const char *t[4][3] = {{"21845", "8080", "10-0-0-1"},
			       {"65535", "9090", "10-0-0-1"},
			       {"43690", "8080", "10-0-0-2"},
			       {"21845", "8080", "2001-db8--7"}};
	CHECK_INT_EQ(an_count(), 4);
	for (size_t k = 0; k < 4; k++) {
		snprintf(rr, sizeof(rr), "%s 5 IN SRV 0 %s %s %s.%s", owner, t[k][0], t[k][1],
			 t[k][2], suffix);
		CHECK(has_rr(AN, rr));
	}
	CHECK_INT_EQ(ldns_pkt_arcount(R.pkt), 3);
	snprintf(rr, sizeof(rr), "10-0-0-1.%s 5 IN A 10.0.0.1", suffix);
	CHECK(has_rr(AR, rr));
	snprintf(rr, sizeof(rr), "10-0-0-2.%s 5 IN A 10.0.0.2", suffix);
	CHECK(has_rr(AR, rr));
	snprintf(rr, sizeof(rr), "2001-db8--7.%s 5 IN AAAA 2001:db8::7", suffix);
	CHECK(has_rr(AR, rr));
}

static void test_srv(const struct snapshot *s)
{
	const char *o = "order-service.DEFAULT_GROUP.svc.";
	ask(s, o, LDNS_RR_TYPE_SRV);
	check_order_srv(o, o);
	ask(s, "_http._tcp.Order-Service.default_group.svc.", LDNS_RR_TYPE_SRV);
	check_order_srv("_http._tcp.Order-Service.default_group.svc.",
			"Order-Service.default_group.svc.");
	CHECK_STR_EQ(R.qi.service_name, "order-service");
	ask(s, "_grpc._udp.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A);
	check_nodata("svc.");
	ask(s, "_tcp.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_SRV);
	check_nodata("svc.");
	ask(s, "noport.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_SRV);
	check_nodata("svc.");
	ask(s, "noport.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A);
	CHECK(has_rr(AN, "noport.DEFAULT_GROUP.svc. 5 IN A 10.1.0.5"));
}

static void test_instance_names(const struct snapshot *s)
{
	ask(s, "10-0-0-3.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A);
	CHECK(has_rr(AN, "10-0-0-3.order-service.DEFAULT_GROUP.svc. 5 IN A 10.0.0.3"));
	CHECK_INT_EQ(an_count(), 1);
	CHECK_STR_EQ(R.qi.service_name, "order-service");
	ask(s, "2001-DB8--7.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_AAAA);
	CHECK(has_rr(AN, "2001-DB8--7.order-service.DEFAULT_GROUP.svc. 5 IN AAAA 2001:db8::7"));
	ask(s, "2001-db8--7.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A);
	check_nodata("svc.");
	ask(s, "10-0-0-9.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NXDOMAIN);
	CHECK_STR_EQ(R.qi.service_name, "order-service");
}

static void test_clusters(const struct snapshot *s)
{
	ask(s, "c2._cluster.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A);
	CHECK_INT_EQ(an_count(), 1);
	CHECK(has_rr(AN, "c2._cluster.order-service.DEFAULT_GROUP.svc. 5 IN A 10.0.0.2"));
	ask(s, "DEFAULT._cluster.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A);
	CHECK_INT_EQ(an_count(), 1); /* 10.0.0.1; 10.0.0.3 is unhealthy */
	ask(s, "DEFAULT._cluster.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_TXT);
	CHECK_INT_EQ(an_count(), 4);
	ask(s, "_x._tcp.c2._cluster.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_SRV);
	CHECK(has_rr(AN, "_x._tcp.c2._cluster.order-service.DEFAULT_GROUP.svc. 5 IN SRV 0 65535 "
			 "8080 10-0-0-2.order-service.DEFAULT_GROUP.svc."));
	CHECK(has_rr(AR, "10-0-0-2.order-service.DEFAULT_GROUP.svc. 5 IN A 10.0.0.2"));
	ask(s, "_cluster.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A);
	check_nodata("svc.");
	CHECK_STR_EQ(R.qi.service_name, "order-service");
	ask(s, "c9._cluster.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NXDOMAIN);
}

static void test_info(const struct snapshot *s)
{
	ask(s, "_info.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_TXT);
	CHECK(has_rr(AN, "_info.order-service.DEFAULT_GROUP.svc. 5 IN TXT \"total=5\" "
			 "\"healthy=4\" \"enabled=5\" \"usable=4\" \"age=10s\" "
			 "\"server=http://127.0.0.1:8848\" \"api=v1\" \"stale=no\" "
			 "\"protect-threshold=no\" \"catalog=yes\" \"generation=9\""));
	ask(s, "_info.order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A);
	check_nodata("svc.");
}

static void test_negative(const struct snapshot *s)
{
	ask(s, "DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A);
	check_nodata("svc.");
	CHECK(!R.qi.service_name);
	ask(s, "acme.Order.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A); /* below com.acme.Order */
	check_nodata("svc.");
	ask(s, "com.acme.Order.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A);
	CHECK(has_rr(AN, "com.acme.Order.DEFAULT_GROUP.svc. 5 IN A 10.1.0.1"));
	ask(s, "nope.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NXDOMAIN);
	CHECK(ldns_pkt_aa(R.pkt));
	CHECK(has_rr(NS, "svc. 5 IN SOA ns1.example. hostmaster.svc. 9 60 30 3600 5"));
	ask(s, "a.b.c.NOPE.svc.", LDNS_RR_TYPE_A);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NXDOMAIN);
	CHECK(has_rr(NS, "svc. 5 IN SOA ns1.example. hostmaster.svc. 9 60 30 3600 5"));
	ask(s, "sick.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A); /* no usable instance */
	check_nodata("svc.");
	ask(s, "protected.G2.svc.", LDNS_RR_TYPE_A); /* threshold reached: serve enabled */
	CHECK(has_rr(AN, "protected.G2.svc. 5 IN A 10.1.0.4"));
	ask(s, "billing.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A); /* namespace prod only */
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NXDOMAIN);
	ask(s, "billing.default_group.corp.example.", LDNS_RR_TYPE_A);
	CHECK(has_rr(AN, "billing.default_group.corp.example. 5 IN A 10.9.0.1"));
	CHECK_STR_EQ(R.qi.service_namespace, "prod");
}

static void test_dubbo(const struct snapshot *s)
{
	uint8_t in[200];
	/* providers:com.acme.Demo:: spans the labels "providers:com", "acme", "Demo::" */
	size_t n = mkq(in, "providers:com.acme.Demo::.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A, &Q);
	ask_raw(s, in, n, false, 1);
	CHECK_INT_EQ(an_count(), 1);
	CHECK(has_rr(AN, "providers:com.acme.Demo::.DEFAULT_GROUP.svc. 5 IN A 10.1.0.2"));
	CHECK_STR_EQ(R.qi.service_name, "providers:com.acme.Demo::");
}

static void test_case_echo(const struct snapshot *s)
{
	ask(s, "ORDER-SERVICE.default_group.Svc.", LDNS_RR_TYPE_A);
	CHECK_INT_EQ(an_count(), 2);
	CHECK(has_rr(AN, "ORDER-SERVICE.default_group.Svc. 5 IN A 10.0.0.1"));
	/* the question section is the query's own bytes */
	CHECK(memcmp(R.wire + 13, "ORDER-SERVICE", 13) == 0);
}

static void test_pending(const struct snapshot *s)
{
	CHECK_INT_EQ(ask(s, "pending-svc.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A), QUERY_FETCH);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_SERVFAIL);
	CHECK_STR_EQ(R.qi.service_name, "pending-svc");
	CHECK_STR_EQ(R.qi.service_group, "DEFAULT_GROUP");
	CHECK_STR_EQ(R.qi.service_namespace, "public");
	CHECK_INT_EQ(ask(s, "_http._tcp.PENDING-svc.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_SRV),
		     QUERY_FETCH);
	CHECK_STR_EQ(R.qi.service_name, "pending-svc");
}

static bool has_option(uint16_t code, const uint8_t *prefix, size_t prefix_len, const char *text);

/* A zone whose catalog is not listed yet holds what it holds, but cannot deny a name. */
static void test_partial(void)
{
	struct snapshot_config c = config();
	c.zones[0].partial = true;
	struct snapshot_builder *b = snapshot_builder_new(&c, 9, NULL);
	CHECK(b);
	add_order(b);
	struct snapshot *s = snapshot_build(b);
	CHECK(s);
	CHECK_INT_EQ(ask(s, "order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A), QUERY_ANSWER);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NOERROR);
	CHECK_INT_EQ(ask(s, "order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_MX), QUERY_ANSWER);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NOERROR);
	CHECK_INT_EQ(ask(s, "svc.", LDNS_RR_TYPE_SOA), QUERY_ANSWER);
	CHECK_INT_EQ(askx(s, "new-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A, &QE, false),
		     QUERY_FETCH);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_SERVFAIL);
	CHECK(R.qi.service_name == NULL);
	const uint8_t not_ready[2] = {0, 14};
	CHECK(has_option(15, not_ready, 2, "Nacos catalog not listed yet"));
	CHECK_INT_EQ(ask(s, "DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A), QUERY_ANSWER); /* an ENT */
	CHECK_INT_EQ(ask(s, "other.Corp.Example.", LDNS_RR_TYPE_A), QUERY_ANSWER);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NXDOMAIN);
	snapshot_free(s);
}

/* A zone serving any group: below a listed group a missing name is NXDOMAIN, below any other
 * the sync must settle it, and query_miss says what it may be, as the query spelled it. */
static void test_open_groups(void)
{
	struct snapshot_config c = config();
	c.zones[0].open_groups = true;
	struct snapshot_builder *b = snapshot_builder_new(&c, 9, NULL);
	CHECK(b);
	add_order(b);
	CHECK_INT_EQ(snapshot_builder_add_group(b, "public", "DEFAULT_GROUP", NULL), 1);
	CHECK_INT_EQ(snapshot_builder_add_group(b, "public", "EMPTY", NULL), 1);
	CHECK_INT_EQ(snapshot_builder_add_group(b, "public", "a.b", NULL), -EINVAL);
	struct snapshot *s = snapshot_build(b);
	CHECK(s);
	CHECK_INT_EQ(ask(s, "order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A), QUERY_ANSWER);
	CHECK_INT_EQ(ask(s, "nope.default_group.svc.", LDNS_RR_TYPE_A), QUERY_ANSWER);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NXDOMAIN);
	CHECK_INT_EQ(ask(s, "nope.EMPTY.svc.", LDNS_RR_TYPE_A), QUERY_ANSWER);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NXDOMAIN);
	CHECK_INT_EQ(ask(s, "EMPTY.svc.", LDNS_RR_TYPE_A), QUERY_ANSWER); /* listed: NODATA */
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NOERROR);
	CHECK_INT_EQ(askx(s, "ledger.FINANCE.svc.", LDNS_RR_TYPE_A, &QE, false), QUERY_FETCH);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_SERVFAIL);
	CHECK(R.qi.service_name == NULL);
	const uint8_t not_ready[2] = {0, 14};
	CHECK(has_option(15, not_ready, 2, "Nacos group not listed"));
	/* settled by the sync: absent */
	uint8_t in[600];
	size_t n = mkq(in, "ledger.FINANCE.svc.", LDNS_RR_TYPE_A, &Q);
	res_clear();
	memset(&R.qi, 0, sizeof(R.qi));
	R.qi.settled = true;
	R.status = query_answer(s, &R.qi, in, n, R.wire, sizeof(R.wire), &R.len);
	CHECK_INT_EQ(R.status, QUERY_ANSWER);
	CHECK_INT_EQ(R.qi.rcode, LDNS_RCODE_NXDOMAIN);

	struct query_miss m;
	n = mkq(in, "10-0-0-1.Order.Api.FINANCE.svc.", LDNS_RR_TYPE_A, &Q);
	CHECK_INT_EQ(query_miss(s, in, n, &m), 0);
	CHECK_STR_EQ(m.namespace_id, "public");
	CHECK_STR_EQ(m.group, "FINANCE");
	CHECK_INT_EQ(m.n_names, 2);
	CHECK_STR_EQ(m.names[0], "10-0-0-1.Order.Api");
	CHECK_STR_EQ(m.names[1], "Order.Api");
	n = mkq(in, "_http._TCP.api.FINANCE.svc.", LDNS_RR_TYPE_SRV, &Q);
	CHECK_INT_EQ(query_miss(s, in, n, &m), 0);
	CHECK_INT_EQ(m.n_names, 3);
	CHECK_STR_EQ(m.names[0], "_http._TCP.api");
	CHECK_STR_EQ(m.names[1], "_TCP.api");
	CHECK_STR_EQ(m.names[2], "api");
	n = mkq(in, "sh._cluster.geo.FINANCE.svc.", LDNS_RR_TYPE_A, &Q);
	CHECK_INT_EQ(query_miss(s, in, n, &m), 0);
	CHECK_INT_EQ(m.n_names, 3);
	CHECK_STR_EQ(m.names[2], "geo");
	n = mkq(in, "_info.geo.FINANCE.svc.", LDNS_RR_TYPE_TXT, &Q);
	CHECK_INT_EQ(query_miss(s, in, n, &m), 0);
	CHECK_INT_EQ(m.n_names, 2);
	CHECK_STR_EQ(m.names[1], "geo");
	n = mkq(in, "FINANCE.svc.", LDNS_RR_TYPE_A, &Q);
	CHECK_INT_EQ(query_miss(s, in, n, &m), 0);
	CHECK_STR_EQ(m.group, "FINANCE");
	CHECK_INT_EQ(m.n_names, 0);
	n = mkq(in, "a\\032b.FINANCE.svc.", LDNS_RR_TYPE_A, &Q); /* a space: no Nacos name */
	CHECK_INT_EQ(query_miss(s, in, n, &m), 0);
	CHECK_INT_EQ(m.n_names, 0);
	n = mkq(in, "example.org.", LDNS_RR_TYPE_A, &Q);
	CHECK_INT_EQ(query_miss(s, in, n, &m), -EINVAL);
	snapshot_free(s);
}

/* A query kept while it waits for the sync is its header, question and EDNS facts: a padded
 * one shrinks, and both are answered alike. */
static void test_compact(const struct snapshot *s)
{
	static uint8_t big[4096], small[QUERY_COMPACT_MAX];
	const struct q o = {.flags = 0x0100, .qdcount = 1, .edns = 4096, .do_bit = true};
	size_t n = mkq(big, "order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A, &o);
	/* NSID asked for, then 3,000 octets of padding (RFC 7830) */
	uint8_t opts[8] = {0, 3, 0, 0, 0, 12, 3000 >> 8, 3000 & 0xFF};
	memcpy(big + n, opts, 8);
	memset(big + n + 8, 0, 3000);
	big[n - 2] = (3008 >> 8);
	big[n - 1] = 3008 & 0xFF;
	n += 3008;
	size_t k = query_compact(big, n, small);
	CHECK_INT_EQ(k, 12 + 37 + 11 + 4); /* 37: the question */
	CHECK_INT_EQ(ask_raw(s, big, n, false, 7), QUERY_ANSWER);
	size_t big_an = an_count();
	struct query_info first = R.qi;
	CHECK_INT_EQ(ask_raw(s, small, k, false, 7), QUERY_ANSWER);
	CHECK_INT_EQ(an_count(), big_an);
	CHECK(R.qi.edns && R.qi.client_udp == first.client_udp);
	CHECK(ldns_pkt_edns_do(R.pkt));
	CHECK(ldns_pkt_edns_data(R.pkt) != NULL); /* the NSID answered */
	/* without EDNS: header and question only */
	n = mkq(big, "svc.", LDNS_RR_TYPE_SOA, &Q);
	CHECK_INT_EQ(query_compact(big, n, small), n);
	big[2] |= 0x80; /* a response is nothing to keep */
	CHECK_INT_EQ(query_compact(big, n, small), 0);
}

/* ---- sizes ---- */

static void test_sizes(const struct snapshot *s, const struct snapshot *subset)
{
	const char *big = "big.DEFAULT_GROUP.svc.";
	askx(s, big, LDNS_RR_TYPE_A, &Q, false);
	CHECK(ldns_pkt_tc(R.pkt));
	CHECK_INT_EQ(an_count(), 0);
	CHECK_INT_EQ(R.qi.client_udp, 512);
	CHECK(R.len <= 512);
	askx(s, big, LDNS_RR_TYPE_A, &QE, false);
	CHECK(ldns_pkt_tc(R.pkt));
	CHECK_INT_EQ(an_count(), 0);
	CHECK(ldns_pkt_edns(R.pkt)); /* OPT kept */
	askx(s, big, LDNS_RR_TYPE_A, &Q, true);
	CHECK(!ldns_pkt_tc(R.pkt));
	CHECK_INT_EQ(an_count(), 200);
	char rr[100];
	for (int k = 0; k < 200; k++) {
		snprintf(rr, sizeof(rr), "big.DEFAULT_GROUP.svc. 5 IN A 10.2.%d.%d", k / 100,
			 k % 100 + 1);
		CHECK(has_rr(AN, rr));
	}
	askx(s, big, LDNS_RR_TYPE_SRV, &Q, true);
	CHECK_INT_EQ(an_count(), 200);
	CHECK_INT_EQ(ldns_pkt_arcount(R.pkt), 200);
	/* subset: header 12 + question 27 (+ OPT 11), then 16 octets per A record */
	askx(subset, big, LDNS_RR_TYPE_A, &Q, false);
	CHECK(!ldns_pkt_tc(R.pkt));
	CHECK_INT_EQ(an_count(), (512 - 39) / 16);
	askx(subset, big, LDNS_RR_TYPE_A, &QE, false);
	CHECK(!ldns_pkt_tc(R.pkt));
	CHECK_INT_EQ(an_count(), (1232 - 39 - 11) / 16);
	CHECK(R.len <= 1232);
	/* SRV fits a 1232 reply only partly with its additional section: never TC for that */
	struct q e4096 = QE;
	e4096.edns = 4096;
	askx(s, "order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_SRV, &e4096, false);
	CHECK_INT_EQ(R.qi.client_udp, 1232);
	CHECK_INT_EQ(ldns_pkt_edns_udp_size(R.pkt), 1232);
	CHECK(!ldns_pkt_tc(R.pkt));
	uint8_t in[100];
	size_t n = mkq(in, big, LDNS_RR_TYPE_SRV, &Q);
	ask_raw(s, in, n, false, 1);
	CHECK(ldns_pkt_tc(R.pkt)); /* 200 SRV never fit 512 */
}

/* ---- protocol edges ---- */

static void test_edns(const struct snapshot *s)
{
	const char *o = "order-service.DEFAULT_GROUP.svc.";
	askx(s, o, LDNS_RR_TYPE_A, &Q, false);
	CHECK(!ldns_pkt_edns(R.pkt));
	CHECK(!R.qi.edns);
	struct q e = QE;
	e.edns = 100;
	askx(s, o, LDNS_RR_TYPE_A, &e, false);
	CHECK_INT_EQ(R.qi.client_udp, 512);
	CHECK(R.qi.edns);
	CHECK(ldns_pkt_edns(R.pkt));
	CHECK(!ldns_pkt_edns_do(R.pkt));
	e.do_bit = true;
	e.edns_option = true;
	askx(s, o, LDNS_RR_TYPE_A, &e, false);
	CHECK(ldns_pkt_edns_do(R.pkt));
	CHECK_INT_EQ(an_count(), 2);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NOERROR);
	e.edns_version = 1;
	askx(s, o, LDNS_RR_TYPE_A, &e, false);
	CHECK_INT_EQ(R.qi.rcode, 16);
	CHECK_INT_EQ(ldns_pkt_edns_extended_rcode(R.pkt), 1);
	CHECK_INT_EQ(ldns_pkt_edns_version(R.pkt), 0);
	CHECK_INT_EQ(an_count(), 0);
	/* two OPT records; an OPT not owned by the root */
	uint8_t in[200];
	size_t n = mkq(in, o, LDNS_RR_TYPE_A, &QE);
	memcpy(in + n, in + n - 11, 11);
	in[11] = 2;
	ask_raw(s, in, n + 11, false, 1);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_FORMERR);
	n = mkq(in, o, LDNS_RR_TYPE_A, &QE);
	memmove(in + n - 10, in + n - 11, 11);
	in[n - 11] = 0xC0;
	in[n - 10] = 0x0C;
	ask_raw(s, in, n + 1, false, 1);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_FORMERR);
	n = mkq(in, o, LDNS_RR_TYPE_A, &QE);
	ask_raw(s, in, n - 1, false, 1); /* OPT cut short */
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_FORMERR);
}

/* A query with this EDNS option (code, data) in its OPT, the only record after the question. */
static int ask_option(const struct snapshot *s, const char *name, uint16_t type, uint16_t code,
		      const char *data, size_t data_len)
{
	uint8_t in[600];
	size_t n = mkq(in, name, type, &QE);
	uint8_t head[4] = {(uint8_t)(code >> 8), (uint8_t)code, (uint8_t)(data_len >> 8),
			   (uint8_t)data_len};
	memcpy(in + n, head, 4);
	memcpy(in + n + 4, data, data_len);
	in[n - 1] = (uint8_t)(4 + data_len);
	return ask_raw(s, in, n + 4 + data_len, false, 1);
}

/* Whether the reply holds the option code with exactly this data (prefix, then text). */
static bool has_option(uint16_t code, const uint8_t *prefix, size_t prefix_len, const char *text)
{
	uint8_t want[300];
	size_t n = strlen(text), data = prefix_len + n;
	uint8_t head[4] = {(uint8_t)(code >> 8), (uint8_t)code, (uint8_t)(data >> 8),
			   (uint8_t)data};
	memcpy(want, head, 4);
	if (prefix_len)
		memcpy(want + 4, prefix, prefix_len);
	memcpy(want + 4 + prefix_len, text, n);
	/* the OPT record is the last one: its options end the reply */
	return R.len >= 4 + data && memcmp(R.wire + R.len - 4 - data, want, 4 + data) == 0;
}

/* NSID (RFC 5001) when asked for; Extended DNS Errors (RFC 8914) on a SERVFAIL for data not in
 * yet; options that overrun the OPT are FORMERR. */
static void test_options(const struct snapshot *s)
{
	const char *o = "order-service.DEFAULT_GROUP.svc.";
	CHECK_INT_EQ(ask_option(s, o, LDNS_RR_TYPE_A, 3, "", 0), QUERY_ANSWER);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NOERROR);
	CHECK_INT_EQ(an_count(), 2);
	CHECK(has_option(3, NULL, 0, "ns1.example"));
	askx(s, o, LDNS_RR_TYPE_A, &QE, false); /* not asked: not sent */
	CHECK(!has_option(3, NULL, 0, "ns1.example"));
	CHECK(R.wire[R.len - 2] == 0 && R.wire[R.len - 1] == 0); /* OPT RDLENGTH 0 */
	CHECK_INT_EQ(ask_option(s, o, LDNS_RR_TYPE_A, 0xFDE9, "\1\2", 2), QUERY_ANSWER);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NOERROR);
	uint8_t in[600];
	size_t n = mkq(in, o, LDNS_RR_TYPE_A, &QE);
	uint8_t overrun[5] = {0, 3, 0, 2, 0}; /* says 2 octets of data, has 1 */
	memcpy(in + n, overrun, 5);
	in[n - 1] = 5;
	ask_raw(s, in, n + 5, false, 1);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_FORMERR);
	in[n - 1] = 3; /* an option header cut short */
	ask_raw(s, in, n + 3, false, 1);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_FORMERR);

	const uint8_t not_ready[2] = {0, 14};
	CHECK_INT_EQ(askx(s, "pending-svc.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A, &QE, false),
		     QUERY_FETCH);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_SERVFAIL);
	CHECK(has_option(15, not_ready, 2, "Nacos service not fetched yet"));
	askx(s, "pending-svc.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A, &Q, false); /* no EDNS: no OPT */
	CHECK_INT_EQ(ldns_pkt_arcount(R.pkt), 0);
	askx(s, "nothing.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A, &QE, false);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NXDOMAIN);
	CHECK(R.wire[R.len - 2] == 0 && R.wire[R.len - 1] == 0);
}

static void test_malformed(const struct snapshot *s)
{
	const char *o = "order-service.DEFAULT_GROUP.svc.";
	uint8_t in[300];
	size_t n = mkq(in, o, LDNS_RR_TYPE_A, &Q);
	CHECK_INT_EQ(ask_raw(s, in, 11, false, 1), QUERY_DROP);
	CHECK_INT_EQ(ask_raw(s, in, 0, false, 1), QUERY_DROP);
	in[2] |= 0x80;
	CHECK_INT_EQ(ask_raw(s, in, n, false, 1), QUERY_DROP);
	struct q x = Q;
	x.flags = 0x1100; /* opcode 2 (STATUS) */
	n = mkq(in, o, LDNS_RR_TYPE_A, &x);
	CHECK_INT_EQ(ask_raw(s, in, n, false, 1), QUERY_ANSWER);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_NOTIMPL);
	CHECK_INT_EQ(ldns_pkt_get_opcode(R.pkt), LDNS_PACKET_STATUS);
	CHECK_INT_EQ(R.len, 12);
	for (uint16_t qd = 0; qd <= 2; qd += 2) {
		x = Q;
		x.qdcount = qd;
		n = mkq(in, o, LDNS_RR_TYPE_A, &x);
		ask_raw(s, in, n, false, 1);
		CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_FORMERR);
		CHECK_INT_EQ(R.len, 12);
	}
	n = mkq(in, o, LDNS_RR_TYPE_A, &Q);
	ask_raw(s, in, n - 1, false, 1); /* question cut short */
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_FORMERR);
	uint8_t ptr[] = {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1};
	ask_raw(s, ptr, sizeof(ptr), false, 1);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_FORMERR);
	uint8_t lbl[12 + 66 + 4] = {0x12, 0x34, 1, 0, 0, 1};
	lbl[12] = 64; /* label over 63 octets */
	memset(lbl + 13, 'a', 64);
	ask_raw(s, lbl, sizeof(lbl), false, 1);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_FORMERR);
	uint8_t longname[12 + 5 * 61 + 5] = {0x12, 0x34, 1, 0, 0, 1};
	for (size_t k = 0; k < 5; k++) { /* 5 x 60-octet labels: name over 255 */
		longname[12 + 61 * k] = 60;
		memset(longname + 13 + 61 * k, 'b', 60);
	}
	ask_raw(s, longname, sizeof(longname), false, 1);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_FORMERR);
}

static void test_classes(const struct snapshot *s)
{
	struct q x = Q;
	x.qclass = LDNS_RR_CLASS_CH;
	askx(s, "VERSION.bind.", LDNS_RR_TYPE_TXT, &x, false);
	CHECK(has_rr(AN, "VERSION.bind. 0 CH TXT \"nacos-dns-test\""));
	askx(s, "version.server.", LDNS_RR_TYPE_TXT, &x, false);
	CHECK(has_rr(AN, "version.server. 0 CH TXT \"nacos-dns-test\""));
	askx(s, "hostname.bind.", LDNS_RR_TYPE_TXT, &x, false);
	CHECK(has_rr(AN, "hostname.bind. 0 CH TXT \"ns1.example\""));
	askx(s, "id.server.", LDNS_RR_TYPE_TXT, &x, false);
	CHECK(has_rr(AN, "id.server. 0 CH TXT \"ns1.example\""));
	askx(s, "authors.bind.", LDNS_RR_TYPE_TXT, &x, false);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_REFUSED);
	x.qclass = LDNS_RR_CLASS_HS;
	askx(s, "order-service.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A, &x, false);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_REFUSED);
	CHECK_INT_EQ(ask(s, "example.com.", LDNS_RR_TYPE_A), QUERY_OUTSIDE);
	CHECK_INT_EQ(ldns_pkt_get_rcode(R.pkt), LDNS_RCODE_REFUSED);
	CHECK(!ldns_pkt_aa(R.pkt));
	CHECK_INT_EQ(ask(s, "xsvc.", LDNS_RR_TYPE_A), QUERY_OUTSIDE);
	CHECK_INT_EQ(ask(NULL, "svc.", LDNS_RR_TYPE_A), QUERY_OUTSIDE);
	struct q cd = Q;
	cd.flags = 0x0010; /* CD, no RD */
	askx(s, "svc.", LDNS_RR_TYPE_SOA, &cd, false);
	CHECK(ldns_pkt_cd(R.pkt));
	CHECK(!ldns_pkt_rd(R.pkt));
}

/* ---- order ---- */

static bool first_is(const char *text)
{
	char *str = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(R.pkt), 0), 0));
	bool same = strcmp(str, text) == 0;
	free(str);
	return same;
}

static void test_order(const struct snapshot *s, const struct snapshot *by_client)
{
	uint8_t in[100];
	size_t n = mkq(in, "weighted.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A, &Q);
	int heavy = 0, runs = 2000;
	uint64_t seed = 1;
	for (int k = 0; k < runs; k++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		ask_raw(s, in, n, false, seed);
		CHECK_INT_EQ(an_count(), 2);
		heavy += first_is("10.3.0.1");
	}
	/* weights 9:1, so about 1800 of 2000 */
	CHECK(heavy > runs * 8 / 10);
	CHECK(heavy < runs * 98 / 100);
	/* by client: the same client sees the same order whatever the random bits */
	ask_raw(by_client, in, n, false, 1);
	bool heavy_first = first_is("10.3.0.1");
	for (uint64_t k = 2; k < 50; k++) {
		ask_raw(by_client, in, n, false, k * 0x9E3779B97F4A7C15ull);
		CHECK(first_is("10.3.0.1") == heavy_first);
	}
	/* a large set still puts heavier addresses first more often */
	n = mkq(in, "big.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_A, &Q);
	int firsts[3] = {0, 0, 0};
	for (int k = 0; k < runs; k++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		ask_raw(s, in, n, true, seed);
		const uint8_t *a =
			ldns_rdf_data(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(R.pkt), 0), 0));
		firsts[(a[2] * 100 + a[3] - 1) %
		       3]++; /* k % 3 + 1 is the weight of 10.2.k/100.k%100+1 */
	}
	CHECK(firsts[2] > firsts[0]);
}

/* ---- mutated queries: never a crash, every reply parses ---- */

static void test_mutations(const struct snapshot *s)
{
	static const char *names[] = {"order-service.DEFAULT_GROUP.svc.",
				      "_http._tcp.order-service.DEFAULT_GROUP.svc.",
				      "big.DEFAULT_GROUP.svc.", "version.bind."};
	uint64_t rng = 12345;
	uint8_t in[600];
	for (int k = 0; k < 20000; k++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		size_t n = mkq(in, names[(rng >> 33) % 4], (uint16_t)(1 + (rng >> 40) % 40), &QE);
		for (int m = 0; m < 1 + (int)((rng >> 20) % 4); m++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			in[(rng >> 33) % n] = (uint8_t)(rng >> 50);
		}
		if ((rng >> 60) == 0)
			n = (size_t)(rng >> 8) % n;     /* cut short */
		ask_raw(s, in, n, (rng >> 7) & 1, rng); /* parses every reply it gets */
		CHECK(R.status == QUERY_DROP || R.len >= 12);
		CHECK(R.status == QUERY_DROP || (R.qi.tcp ? R.len <= 65535 : R.len <= 1232));
	}
}

/* ---- no allocation on the query path ---- */

static void test_no_alloc(const struct snapshot *s)
{
#if defined(__SANITIZE_ADDRESS__)
	return; /* ASan's allocator does not go through the wrapped symbols reliably */
#else
	static const char *names[] = {"order-service.DEFAULT_GROUP.svc.",
				      "_http._tcp.order-service.DEFAULT_GROUP.svc.",
				      "nope.DEFAULT_GROUP.svc.",
				      "big.DEFAULT_GROUP.svc.",
				      "svc.",
				      "example.com."};
	uint16_t types[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_ANY};
	uint8_t in[300];
	static uint8_t out[65535];
	void *probe = malloc(1);
	CHECK(probe);
	free(probe);
	for (size_t k = 0; k < sizeof(names) / sizeof(*names); k++) {
		for (size_t t = 0; t < 4; t++) {
			size_t n = mkq(in, names[k], types[t], &QE), out_len = 0;
			struct query_info qi = {.random = k * 4 + t, .tcp = t & 1};
			alloc_forbidden = true;
			int st = query_answer(s, &qi, in, n, out, sizeof(out), &out_len);
			alloc_forbidden = false;
			CHECK(st != QUERY_DROP);
			CHECK(out_len > 12);
		}
	}
	CHECK_INT_EQ(alloc_attempts, 0);
	/* the guard works: an allocation while forbidden fails */
	void *(*volatile alloc)(size_t) = malloc; /* not elided by the compiler */
	alloc_forbidden = true;
	probe = alloc(16);
	alloc_forbidden = false;
	CHECK(!probe);
	CHECK_INT_EQ(alloc_attempts, 1);
#endif
}

/* ---- data-driven cases: tests/data/query/<case>.scn ----
 *
 * A case lists services (SERVICE, then its INSTANCE lines; PENDING) and CONFIG keys, then query
 * blocks: QUERY <name> <type> [tcp] [edns=N] [do] [class=CH], then EXPECT_STATUS, EXPECT_RCODE,
 * EXPECT_FLAGS (aa, tc, rd, ra; !flag for "not set"), EXPECT_COUNT <section> <n>, and the
 * records of a section (ANSWER/AUTHORITY/ADDITIONAL <rr>): a section named by any record line
 * must hold exactly those records, in any order. END closes a block. */

struct scn {
	const char *path;
	int line;
	struct snapshot_config cfg;
	struct snapshot_builder *b;
	struct snapshot *snap;
	struct nacos_service *svc; /* being read */
	char ns[64];
	bool in_query;
	ldns_rr_list *want[3];
	bool want_set[3];
};

#define SCN_CHECK(c, cond)                                                                         \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", (c)->path, (c)->line, #cond);               \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static void scn_flush_service(struct scn *c)
{
	if (!c->svc)
		return;
	if (!c->b)
		c->b = snapshot_builder_new(&c->cfg, 1, NULL);
	SCN_CHECK(c, c->b);
	SCN_CHECK(c, snapshot_builder_add_service(c->b, c->ns, c->svc, NULL) >= 0);
	svc_free(c->svc);
	c->svc = NULL;
}

static void scn_instance(struct scn *c, char *args)
{
	char *save = NULL, *ip = strtok_r(args, " ", &save), *port = strtok_r(NULL, " ", &save);
	SCN_CHECK(c, c->svc && ip && port);
	struct nacos_instance i = inst(ip, (uint16_t)atoi(port), 1, true, NULL);
	for (char *kv; (kv = strtok_r(NULL, " ", &save));) {
		char *v = strchr(kv, '=');
		SCN_CHECK(c, v);
		*v++ = '\0';
		if (!strcmp(kv, "weight"))
			i.weight = atof(v);
		else if (!strcmp(kv, "healthy"))
			i.healthy = !strcmp(v, "true");
		else if (!strcmp(kv, "enabled"))
			i.enabled = !strcmp(v, "true");
		else if (!strcmp(kv, "cluster")) {
			free(i.cluster);
			i.cluster = strdup(v);
		} else if (!strncmp(kv, "meta.", 5))
			meta_set(&i, kv + 5, v);
		else
			SCN_CHECK(c, !"known instance key");
	}
	struct nacos_service *s = c->svc;
	s->instances = realloc(s->instances, (s->n_instances + 1) * sizeof(i));
	s->instances[s->n_instances++] = i;
}

static void scn_config(struct scn *c, char *args)
{
	char *save = NULL, *k = strtok_r(args, " ", &save), *v = strtok_r(NULL, " ", &save);
	SCN_CHECK(c, k && v && !c->b);
	if (!strcmp(k, "ttl"))
		c->cfg.ttl = (uint32_t)atoi(v);
	else if (!strcmp(k, "negative-ttl"))
		c->cfg.negative_ttl = (uint32_t)atoi(v);
	else if (!strcmp(k, "udp-max"))
		c->cfg.udp_max = (uint16_t)atoi(v);
	else if (!strcmp(k, "overflow"))
		c->cfg.overflow =
			!strcmp(v, "subset") ? SNAPSHOT_OVERFLOW_SUBSET : SNAPSHOT_OVERFLOW_TC;
	else
		SCN_CHECK(c, !"known config key");
}

static void scn_query(struct scn *c, char *args)
{
	char *save = NULL, *name = strtok_r(args, " ", &save), *type = strtok_r(NULL, " ", &save);
	struct q o = Q;
	bool tcp = false;
	SCN_CHECK(c, name && type);
	for (char *opt; (opt = strtok_r(NULL, " ", &save));) {
		if (!strcmp(opt, "tcp"))
			tcp = true;
		else if (!strncmp(opt, "edns=", 5))
			o.edns = atoi(opt + 5);
		else if (!strcmp(opt, "do"))
			o.do_bit = true;
		else if (!strcmp(opt, "class=CH"))
			o.qclass = LDNS_RR_CLASS_CH;
		else
			SCN_CHECK(c, !"known query option");
	}
	if (!c->snap) {
		scn_flush_service(c);
		if (!c->b)
			c->b = snapshot_builder_new(&c->cfg, 1, NULL);
		c->snap = snapshot_build(c->b);
		c->b = NULL;
		SCN_CHECK(c, c->snap);
	}
	askx(c->snap, name, ldns_get_rr_type_by_name(type), &o, tcp);
	c->in_query = true;
}

static bool scn_flag(struct scn *c, const char *f)
{
	if (!strcmp(f, "aa"))
		return ldns_pkt_aa(R.pkt);
	if (!strcmp(f, "tc"))
		return ldns_pkt_tc(R.pkt);
	if (!strcmp(f, "rd"))
		return ldns_pkt_rd(R.pkt);
	SCN_CHECK(c, !strcmp(f, "ra"));
	return ldns_pkt_ra(R.pkt);
}

static void scn_expect_flags(struct scn *c, char *args)
{
	char *save = NULL;
	for (char *f; (f = strtok_r(args, " ", &save)); args = NULL) {
		bool want = f[0] != '!';
		SCN_CHECK(c, scn_flag(c, f + !want) == want);
	}
}
static const char *scn_sections[3] = {"ANSWER", "AUTHORITY", "ADDITIONAL"};

static void scn_end_query(struct scn *c)
{
	ldns_pkt_section secs[3] = {AN, NS, AR};
	for (size_t k = 0; k < 3 && c->in_query; k++) {
		if (!c->want_set[k])
			continue;
		ldns_rr_list *have = ldns_pkt_get_section_clone(R.pkt, secs[k]);
		size_t n = have ? ldns_rr_list_rr_count(have) : 0;
		if (n != ldns_rr_list_rr_count(c->want[k]))
			fprintf(stderr, "%s: %zu records, expected %zu\n", scn_sections[k], n,
				ldns_rr_list_rr_count(c->want[k]));
		SCN_CHECK(c, n == ldns_rr_list_rr_count(c->want[k]));
		for (size_t j = 0; j < n; j++) {
			ldns_rr *w = ldns_rr_list_rr(c->want[k], j);
			bool found = false;
			for (size_t h = 0; h < n && !found; h++) {
				ldns_rr *x = ldns_rr_list_rr(have, h);
				found = ldns_rr_compare(w, x) == 0 &&
					ldns_rr_ttl(w) == ldns_rr_ttl(x);
			}
			if (!found)
				ldns_rr_print(stderr, w);
			SCN_CHECK(c, found);
		}
		ldns_rr_list_deep_free(have);
	}
	for (size_t k = 0; k < 3; k++) {
		ldns_rr_list_deep_free(c->want[k]);
		c->want[k] = ldns_rr_list_new();
		c->want_set[k] = false;
	}
	c->in_query = false;
}

static void scn_expect(struct scn *c, const char *kw, char *args)
{
	SCN_CHECK(c, c->in_query);
	if (!strcmp(kw, "EXPECT_RCODE")) {
		ldns_lookup_table *t = ldns_lookup_by_name(ldns_rcodes, args);
		SCN_CHECK(c, t);
		SCN_CHECK(c, (int)ldns_pkt_get_rcode(R.pkt) == t->id);
	} else if (!strcmp(kw, "EXPECT_STATUS")) {
		int st = !strcmp(args, "answer")    ? QUERY_ANSWER
			 : !strcmp(args, "outside") ? QUERY_OUTSIDE
			 : !strcmp(args, "fetch")   ? QUERY_FETCH
						    : QUERY_DROP;
		SCN_CHECK(c, R.status == st);
	} else if (!strcmp(kw, "EXPECT_FLAGS")) {
		scn_expect_flags(c, args);
	} else if (!strcmp(kw, "EXPECT_COUNT")) {
		char *save = NULL, *sec = strtok_r(args, " ", &save),
		     *n = strtok_r(NULL, " ", &save);
		SCN_CHECK(c, sec && n);
		size_t have = !strcmp(sec, "ANSWER")      ? ldns_pkt_ancount(R.pkt)
			      : !strcmp(sec, "AUTHORITY") ? ldns_pkt_nscount(R.pkt)
							  : ldns_pkt_arcount(R.pkt);
		SCN_CHECK(c, have == (size_t)atoi(n));
	} else {
		for (size_t k = 0; k < 3; k++) {
			if (strcmp(kw, scn_sections[k]) != 0)
				continue;
			ldns_rr *rr = NULL;
			SCN_CHECK(c,
				  ldns_rr_new_frm_str(&rr, args, 0, NULL, NULL) == LDNS_STATUS_OK);
			SCN_CHECK(c, ldns_rr_list_push_rr(c->want[k], rr));
			c->want_set[k] = true;
			return;
		}
		SCN_CHECK(c, !"known keyword");
	}
}

static void scn_line(struct scn *c, char *line)
{
	line[strcspn(line, "\r\n")] = '\0';
	char *kw = line + strspn(line, " \t");
	if (!*kw || *kw == '#')
		return;
	char *args = kw + strcspn(kw, " \t");
	if (*args)
		*args++ = '\0';
	args += strspn(args, " \t");
	if (!strcmp(kw, "SERVICE")) {
		char *save = NULL, *ns = strtok_r(args, " ", &save),
		     *g = strtok_r(NULL, " ", &save), *n = strtok_r(NULL, " ", &save);
		SCN_CHECK(c, ns && g && n && !c->snap);
		scn_flush_service(c);
		snprintf(c->ns, sizeof(c->ns), "%s", ns);
		c->svc = svc_new(g, n, 0, NULL);
	} else if (!strcmp(kw, "INSTANCE")) {
		scn_instance(c, args);
	} else if (!strcmp(kw, "CONFIG")) {
		scn_config(c, args);
	} else if (!strcmp(kw, "QUERY")) {
		scn_end_query(c);
		scn_query(c, args);
	} else if (!strcmp(kw, "END")) {
		scn_end_query(c);
	} else {
		scn_expect(c, kw, args);
	}
}

static int scn_run(const char *path)
{
	struct scn c = {.path = path};
	char line[1024];
	FILE *f = fopen(path, "r");
	CHECK(f);
	snapshot_config_defaults(&c.cfg);
	c.cfg.hostname = "ns1.example.";
	for (size_t k = 0; k < 3; k++)
		c.want[k] = ldns_rr_list_new();
	int queries = 0;
	while (fgets(line, sizeof(line), f)) {
		c.line++;
		queries += strncmp(line, "QUERY", 5) == 0;
		scn_line(&c, line);
	}
	scn_end_query(&c);
	fclose(f);
	for (size_t k = 0; k < 3; k++)
		ldns_rr_list_deep_free(c.want[k]);
	snapshot_free(c.snap);
	return queries;
}

static int scn_filter(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return n > 4 && strcmp(e->d_name + n - 4, ".scn") == 0;
}

static void test_scn(void)
{
	struct dirent **cases = NULL;
	int n = scandir("query", &cases, scn_filter, alphasort);
	char path[300];
	CHECK(n > 0);
	for (int k = 0; k < n; k++) {
		snprintf(path, sizeof(path), "query/%s", cases[k]->d_name);
		CHECK(scn_run(path) > 0);
		free(cases[k]);
	}
	free(cases);
}

int main(void)
{
	struct snapshot *s = fixture(SNAPSHOT_ORDER_WEIGHTED, SNAPSHOT_OVERFLOW_TC);
	struct snapshot *subset = fixture(SNAPSHOT_ORDER_WEIGHTED, SNAPSHOT_OVERFLOW_SUBSET);
	struct snapshot *by_client = fixture(SNAPSHOT_ORDER_CLIENT, SNAPSHOT_OVERFLOW_TC);
	test_apex(s);
	test_service(s);
	test_srv(s);
	test_instance_names(s);
	test_clusters(s);
	test_info(s);
	test_negative(s);
	test_dubbo(s);
	test_case_echo(s);
	test_pending(s);
	test_partial();
	test_open_groups();
	test_compact(s);
	test_sizes(s, subset);
	test_edns(s);
	test_options(s);
	test_malformed(s);
	test_classes(s);
	test_order(s, by_client);
	test_mutations(s);
	test_no_alloc(s);
	test_scn();
	res_clear();
	snapshot_free(s);
	snapshot_free(subset);
	snapshot_free(by_client);
	return 0;
}

/* axfr: the transfer of a zone built from a registry file. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "zones/dns/axfr.h"
#include "check.h"
#include "zones/nacos/nacos.h"
#include "zones/data/snapshot.h"

static const char registry[] =
	"{\"namespaces\": {\"public\": [{\"name\": \"DEFAULT_GROUP@@web\", \"hosts\": ["
	"{\"ip\": \"10.0.0.1\", \"port\": 80, \"weight\": 1, \"healthy\": true, \"enabled\": true},"
	"{\"ip\": \"2001:db8::2\", \"port\": 80, \"weight\": 1, \"healthy\": true, "
	"\"enabled\": true}]}]}}";

static struct snapshot *build(bool partial)
{
	struct snapshot_config sc;
	struct nacos_registry *r = NULL;
	struct snapshot_builder *b;

	snapshot_config_defaults(&sc);
	sc.zones[0].partial = partial;
	CHECK(nacos_registry_parse(registry, sizeof(registry) - 1, NULL, &r) == 0);
	CHECK((b = snapshot_builder_new(&sc, 77, NULL)));
	CHECK(snapshot_builder_add_registry(b, r, NULL) == 0);
	nacos_registry_free(r);
	return snapshot_build(b);
}

/* The query for name/type as wire bytes in *out (freed by the caller). */
static size_t make_query(const char *name, ldns_rr_type t, uint8_t **out)
{
	ldns_pkt *q = NULL;
	size_t len = 0;
	CHECK(ldns_pkt_query_new_frm_str(&q, name, t, LDNS_RR_CLASS_IN, 0) == LDNS_STATUS_OK);
	ldns_pkt_set_id(q, 4242);
	CHECK(ldns_pkt2wire(out, q, &len) == LDNS_STATUS_OK);
	ldns_pkt_free(q);
	return len;
}

struct collected {
	ldns_rr_list *rrs;
	int msgs;
};

static int on_msg(void *arg, const uint8_t *wire, size_t len)
{
	struct collected *c = arg;
	ldns_pkt *p = NULL;

	CHECK(ldns_wire2pkt(&p, wire, len) == LDNS_STATUS_OK);
	CHECK_INT_EQ(ldns_pkt_id(p), 4242);
	CHECK(ldns_pkt_qr(p) && ldns_pkt_aa(p));
	CHECK_INT_EQ(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	for (size_t i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++)
		ldns_rr_list_push_rr(c->rrs, ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_answer(p), i)));
	ldns_pkt_free(p);
	c->msgs++;
	return 0;
}

static bool has(const ldns_rr_list *rrs, const char *text)
{
	ldns_rr *want = NULL;
	bool found = false;
	CHECK(ldns_rr_new_frm_str(&want, text, 0, NULL, NULL) == LDNS_STATUS_OK);
	for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++)
		found |= ldns_rr_compare(want, ldns_rr_list_rr(rrs, i)) == 0;
	ldns_rr_free(want);
	return found;
}

static void test_transfer(const struct snapshot *s)
{
	struct collected c = {.rrs = ldns_rr_list_new()};
	uint8_t *q;
	size_t len = make_query("SVC.", LDNS_RR_TYPE_AXFR, &q);
	size_t n;

	CHECK(axfr_is_request(q, len));
	CHECK_INT_EQ(axfr_transfer(s, q, len, 0, on_msg, &c), 0);
	CHECK(c.msgs >= 1);
	n = ldns_rr_list_rr_count(c.rrs);
	CHECK(n > 4);
	CHECK_INT_EQ(ldns_rr_get_type(ldns_rr_list_rr(c.rrs, 0)), LDNS_RR_TYPE_SOA);
	CHECK_INT_EQ(ldns_rr_get_type(ldns_rr_list_rr(c.rrs, n - 1)), LDNS_RR_TYPE_SOA);
	CHECK_INT_EQ(ldns_rdf2native_int32(ldns_rr_rdf(ldns_rr_list_rr(c.rrs, 0), 2)), 77);
	CHECK(has(c.rrs, "web.default_group.svc. 5 IN A 10.0.0.1"));
	CHECK(has(c.rrs, "web.default_group.svc. 5 IN AAAA 2001:db8::2"));
	CHECK(has(c.rrs, "web.default_group.svc. 5 IN SRV 0 65535 80 "
			 "10-0-0-1.web.default_group.svc."));
	CHECK(has(c.rrs, "2001-db8--2.web.default_group.svc. 5 IN AAAA 2001:db8::2"));
	ldns_rr_list_deep_free(c.rrs);
	free(q);
}

static void test_errors(const struct snapshot *s)
{
	uint8_t *q, out[512];
	size_t len = make_query("web.DEFAULT_GROUP.svc.", LDNS_RR_TYPE_AXFR, &q);
	struct collected c = {.rrs = ldns_rr_list_new()};
	int n;

	CHECK_INT_EQ(axfr_transfer(s, q, len, 0, on_msg, &c), -ENOENT); /* not an apex */
	CHECK_INT_EQ(c.msgs, 0);
	n = axfr_error(q, len, LDNS_RCODE_NOTAUTH, out, sizeof(out));
	CHECK(n > 12);
	CHECK_INT_EQ(out[3] & 0x0f, LDNS_RCODE_NOTAUTH);
	CHECK(out[2] & 0x80);
	CHECK_INT_EQ(axfr_error(q, len, 5, out, 12), -ENOSPC);
	CHECK_INT_EQ(axfr_error(q, 11, 5, out, sizeof(out)), -EBADMSG);
	free(q);
	len = make_query("svc.", LDNS_RR_TYPE_SOA, &q);
	CHECK(!axfr_is_request(q, len));
	CHECK_INT_EQ(axfr_transfer(s, q, len, 0, on_msg, &c), -EBADMSG);
	CHECK(!axfr_is_request(q, 5));
	free(q);
	ldns_rr_list_deep_free(c.rrs);
}

/* A zone whose catalog is not listed yet is not transferred: a secondary would deny names. */
static void test_partial(void)
{
	struct snapshot *s = build(true);
	struct collected c = {.rrs = ldns_rr_list_new()};
	uint8_t *q;
	size_t len = make_query("svc.", LDNS_RR_TYPE_AXFR, &q);
	CHECK(s);
	CHECK_INT_EQ(axfr_transfer(s, q, len, 0, on_msg, &c), -EAGAIN);
	CHECK_INT_EQ(c.msgs, 0);
	free(q);
	ldns_rr_list_deep_free(c.rrs);
	snapshot_free(s);
}

struct lines {
	size_t n, octets, stop_after;
	bool seen_a, first_soa;
};

static int on_line(void *arg, const char *line, size_t len)
{
	struct lines *l = arg;
	CHECK(strlen(line) == len && !strchr(line, '\n'));
	if (l->n == 0)
		l->first_soa = strncmp(line, "svc.\t", 5) == 0 && strstr(line, "\tSOA\t");
	if (strcmp(line, "web.default_group.svc.\t5\tIN\tA\t10.0.0.1") == 0)
		l->seen_a = true;
	l->n++;
	l->octets += len;
	return l->stop_after && l->n == l->stop_after ? -ECANCELED : 0;
}

static void test_text(const struct snapshot *s)
{
	struct lines l = {0};
	CHECK_INT_EQ(axfr_zone_lines(s, 0, 0, on_line, &l), 0);
	CHECK(l.first_soa && l.seen_a && l.n > 2);
	struct lines some = {.stop_after = 2}; /* the callback's stop ends the listing */
	CHECK_INT_EQ(axfr_zone_lines(s, 0, 0, on_line, &some), -ECANCELED);
	CHECK_INT_EQ(some.n, 2);
	CHECK_INT_EQ(axfr_zone_lines(s, 1, 0, on_line, &l), -ENOENT);
}

/* More than 65,535 records: ldns_rr_list2str's 16-bit counter never got past them. */
static void test_text_large(void)
{
	struct snapshot_config sc;
	struct nacos_registry *r = NULL;
	struct snapshot_builder *b;
	size_t cap = 8 << 20, off = 0;
	char *reg = malloc(cap);
	CHECK(reg);
	off += (size_t)snprintf(reg + off, cap - off, "{\"namespaces\": {\"public\": [");
	for (unsigned k = 0; k < 12000; k++)
		off += (size_t)snprintf(reg + off, cap - off,
					"%s{\"name\": \"DEFAULT_GROUP@@s%u\", \"hosts\": [{\"ip\": "
					"\"10.%u.%u.1\", \"port\": 80, \"weight\": 1, \"healthy\": "
					"true, \"enabled\": true}]}",
					k ? "," : "", k, k >> 8, k & 255);
	off += (size_t)snprintf(reg + off, cap - off, "]}}");
	snapshot_config_defaults(&sc);
	CHECK(nacos_registry_parse(reg, off, NULL, &r) == 0);
	free(reg);
	CHECK((b = snapshot_builder_new(&sc, 77, NULL)));
	CHECK(snapshot_builder_add_registry(b, r, NULL) == 0);
	nacos_registry_free(r);
	struct snapshot *s = snapshot_build(b);
	CHECK(s);
	struct lines l = {0};
	CHECK_INT_EQ(axfr_zone_lines(s, 0, 0, on_line, &l), 0);
	CHECK(l.n > 65535);
	snapshot_free(s);
}

int main(void)
{
	struct snapshot *s = build(false);
	CHECK(s);
	test_transfer(s);
	test_text_large();
	test_errors(s);
	test_partial();
	test_text(s);
	snapshot_free(s);
	return 0;
}

/* fwdmsg, the forwarder's message rewriting: reply checks, the client's copy, SERVFAIL.
 * Messages are built and read back with ldns, an independent reader. */
#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdint.h>

#include "check.h"
#include "ldnsmsg.h"
#include "zones/dns/fwdmsg.h"

/* A query as a client sends it: name in the client's case, RD, optional EDNS with DO. */
static struct wire make_query(const char *name, ldns_rr_type t, uint16_t id, int edns, bool dnssec)
{
	ldns_pkt *p = NULL;
	CHECK(ldns_pkt_query_new_frm_str(&p, name, t, LDNS_RR_CLASS_IN, LDNS_RD) == LDNS_STATUS_OK);
	ldns_pkt_set_id(p, id);
	if (edns) {
		ldns_pkt_set_edns_udp_size(p, (uint16_t)edns);
		ldns_pkt_set_edns_do(p, dnssec);
	}
	return to_wire(p);
}

/* An upstream's reply: its own case of the name, n A records, optional OPT of size edns (DO). */
static struct wire make_reply(const char *name, ldns_rr_type t, uint16_t id, int n_a, int edns,
			      ldns_pkt_rcode rcode)
{
	ldns_pkt *p = NULL;
	CHECK(ldns_pkt_query_new_frm_str(&p, name, t, LDNS_RR_CLASS_IN, LDNS_RD) == LDNS_STATUS_OK);
	ldns_pkt_set_id(p, id);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	for (int i = 0; i < n_a; i++) {
		char text[128];
		ldns_rr *rr = NULL;
		snprintf(text, sizeof(text), "%s 60 IN A 10.0.%d.%d", name, i / 250, i % 250 + 1);
		CHECK(ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) == LDNS_STATUS_OK);
		CHECK(ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr));
	}
	if (edns) {
		ldns_pkt_set_edns_udp_size(p, (uint16_t)edns);
		ldns_pkt_set_edns_do(p, true); /* echoed, as RFC 3225 asks */
	}
	return to_wire(p);
}

static ldns_pkt *parse(const uint8_t *w, size_t len)
{
	ldns_pkt *p = NULL;
	CHECK(ldns_wire2pkt(&p, w, len) == LDNS_STATUS_OK);
	return p;
}

static void test_parse_query(void)
{
	struct fwdmsg_info info;
	struct wire q = make_query("Www.Example.TEST.", LDNS_RR_TYPE_AAAA, 7, 1232, false);

	CHECK_INT_EQ(fwdmsg_parse_query(q.data, q.len, &info), 0);
	CHECK_INT_EQ(info.qtype, LDNS_RR_TYPE_AAAA);
	CHECK_INT_EQ(info.qclass, LDNS_RR_CLASS_IN);
	CHECK_INT_EQ(info.question_end, 12 + 18 + 4);
	CHECK(info.opt == info.question_end);
	CHECK_INT_EQ(info.opt_len, 11);

	for (size_t cut = 0; cut < q.len; cut++) /* every truncation is rejected */
		CHECK_INT_EQ(fwdmsg_parse_query(q.data, cut, &info), -EBADMSG);
	q.data[2] |= 0x80; /* QR: a response is not a query */
	CHECK_INT_EQ(fwdmsg_parse_query(q.data, q.len, &info), -EBADMSG);
	q.data[2] &= 0x7f;
	q.data[5] = 2; /* QDCOUNT 2 */
	CHECK_INT_EQ(fwdmsg_parse_query(q.data, q.len, &info), -EBADMSG);
	q.data[5] = 1;
	q.data[12] = 0xc0; /* compression pointer in the question */
	CHECK_INT_EQ(fwdmsg_parse_query(q.data, q.len, &info), -EBADMSG);
	q.data[12] = 64; /* label too long */
	CHECK_INT_EQ(fwdmsg_parse_query(q.data, q.len, &info), -EBADMSG);
	LDNS_FREE(q.data);

	q = make_query("a.test.", LDNS_RR_TYPE_A, 1, 0, false);
	CHECK_INT_EQ(fwdmsg_parse_query(q.data, q.len, &info), 0);
	CHECK_INT_EQ(info.opt, 0);
	LDNS_FREE(q.data);
}

static void test_check_reply(void)
{
	struct wire q = make_query("Www.Example.TEST.", LDNS_RR_TYPE_A, 4242, 1232, false);
	struct wire r = make_reply("www.example.test.", LDNS_RR_TYPE_A, 4242, 2, 1232, 0);
	struct fwdmsg_info ri;

	CHECK_INT_EQ(fwdmsg_check_reply(q.data, q.len, 4242, r.data, r.len, &ri), 0);
	CHECK(ri.opt > 0);
	/* the ID checked is the one we sent, not the client's */
	CHECK_INT_EQ(fwdmsg_check_reply(q.data, q.len, 4243, r.data, r.len, NULL), -ESRCH);
	r.data[2] &= 0x7f; /* QR clear: not a reply */
	CHECK_INT_EQ(fwdmsg_check_reply(q.data, q.len, 4242, r.data, r.len, NULL), -ESRCH);
	r.data[2] |= 0x80;
	for (size_t cut = 0; cut < r.len; cut++)
		CHECK(fwdmsg_check_reply(q.data, q.len, 4242, r.data, cut, NULL) < 0);
	r.data[7] = 9; /* ANCOUNT beyond the records present */
	CHECK_INT_EQ(fwdmsg_check_reply(q.data, q.len, 4242, r.data, r.len, NULL), -EBADMSG);
	LDNS_FREE(r.data);

	struct {
		const char *name;
		ldns_rr_type type;
	} others[] = {{"www.example.tesT.", LDNS_RR_TYPE_AAAA},
		      {"ww.example.test.", LDNS_RR_TYPE_A},
		      {"wwx.example.test.", LDNS_RR_TYPE_A},
		      {"www.example.test.x.", LDNS_RR_TYPE_A}};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		r = make_reply(others[i].name, others[i].type, 4242, 1, 0, 0);
		CHECK_INT_EQ(fwdmsg_check_reply(q.data, q.len, 4242, r.data, r.len, NULL), -ESRCH);
		LDNS_FREE(r.data);
	}
	r = make_reply("www.example.test.", LDNS_RR_TYPE_A, 4242, 1, 0, 0);
	r.data[12 + 18 + 3] = 3; /* question class CH instead of IN */
	CHECK_INT_EQ(fwdmsg_check_reply(q.data, q.len, 4242, r.data, r.len, NULL), -ESRCH);
	LDNS_FREE(r.data);
	LDNS_FREE(q.data);
}

static void test_finish_restores_client_view(void)
{
	struct wire q = make_query("Www.ExAmple.TEST.", LDNS_RR_TYPE_A, 0x1234, 4096, true);
	struct wire r = make_reply("www.example.test.", LDNS_RR_TYPE_A, 0x9999, 3, 4000, 0);
	uint8_t out[65536];
	size_t n = 0;

	CHECK_INT_EQ(fwdmsg_finish(q.data, q.len, r.data, r.len, 4096, 1232, out, sizeof(out), &n),
		     0);
	CHECK_INT_EQ(n, r.len);
	ldns_pkt *p = parse(out, n);
	CHECK_INT_EQ(ldns_pkt_id(p), 0x1234);
	CHECK(!ldns_pkt_tc(p));
	CHECK_INT_EQ(ldns_pkt_ancount(p), 3);
	CHECK_INT_EQ(ldns_pkt_edns_udp_size(p), 1232);
	char *qname = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)));
	CHECK_STR_EQ(qname, "Www.ExAmple.TEST.");
	free(qname);
	ldns_pkt_free(p);
	LDNS_FREE(r.data);
	LDNS_FREE(q.data);
}

/* A reply over the client's limit: header + question (+ OPT for an EDNS client), TC set. */
static void test_finish_truncates(void)
{
	for (int edns = 0; edns <= 1; edns++) {
		struct wire q =
			make_query("big.example.test.", LDNS_RR_TYPE_A, 77, edns ? 1232 : 0, edns);
		struct wire r =
			make_reply("big.example.test.", LDNS_RR_TYPE_A, 5, 100, edns ? 1232 : 0, 0);
		uint8_t out[65536];
		size_t n = 0, max = edns ? 1232 : 512;

		CHECK(r.len > max);
		CHECK_INT_EQ(fwdmsg_finish(q.data, q.len, r.data, r.len, max, 1232, out,
					   sizeof(out), &n),
			     0);
		CHECK(n <= max);
		ldns_pkt *p = parse(out, n);
		CHECK_INT_EQ(ldns_pkt_id(p), 77);
		CHECK(ldns_pkt_tc(p));
		CHECK(ldns_pkt_qr(p));
		CHECK_INT_EQ(ldns_pkt_qdcount(p), 1);
		CHECK_INT_EQ(ldns_pkt_ancount(p), 0);
		CHECK_INT_EQ(ldns_pkt_edns(p), edns);
		if (edns) {
			CHECK_INT_EQ(ldns_pkt_edns_udp_size(p), 1232);
			CHECK(ldns_pkt_edns_do(p));
		}
		ldns_pkt_free(p);
		/* the same reply fits over TCP */
		CHECK_INT_EQ(fwdmsg_finish(q.data, q.len, r.data, r.len, 65535, 1232, out,
					   sizeof(out), &n),
			     0);
		CHECK_INT_EQ(n, r.len);
		LDNS_FREE(r.data);
		LDNS_FREE(q.data);
	}
}

/* The EDE option of p's OPT: its info code, its text in text (cap bytes). -1: none. */
static int ede_of(const ldns_pkt *p, char *text, size_t cap)
{
	ldns_rdf *data = ldns_pkt_edns_data(p);
	const uint8_t *o = data ? ldns_rdf_data(data) : NULL;
	size_t n = data ? ldns_rdf_size(data) : 0;

	for (size_t off = 0; off + 4 <= n;) {
		size_t len = (size_t)(o[off + 2] << 8 | o[off + 3]);
		if (off + 4 + len > n)
			return -1;
		if ((o[off] << 8 | o[off + 1]) == 15 && len >= 2 && len - 2 < cap) {
			memcpy(text, o + off + 6, len - 2);
			text[len - 2] = 0;
			return o[off + 4] << 8 | o[off + 5];
		}
		off += 4 + len;
	}
	return -1;
}

static void test_servfail(void)
{
	for (int edns = 0; edns <= 1; edns++) {
		struct wire q = make_query("Dead.Example.TEST.", LDNS_RR_TYPE_SRV, 0xbeef,
					   edns ? 1400 : 0, edns);
		uint8_t out[512];
		size_t n = 0;
		char text[64] = "";

		CHECK_INT_EQ(fwdmsg_servfail(q.data, q.len, 1232, 22,
					     "no upstream resolver answered", out, sizeof(out), &n),
			     0);
		ldns_pkt *p = parse(out, n);
		CHECK_INT_EQ(ldns_pkt_id(p), 0xbeef);
		CHECK_INT_EQ(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
		CHECK(ldns_pkt_qr(p) && ldns_pkt_rd(p) && ldns_pkt_ra(p));
		CHECK_INT_EQ(ldns_pkt_edns(p), edns);
		CHECK_INT_EQ(ldns_pkt_edns_do(p), edns);
		/* the extended error rides in the client's OPT, and only there */
		CHECK_INT_EQ(ede_of(p, text, sizeof(text)), edns ? 22 : -1);
		CHECK_STR_EQ(text, edns ? "no upstream resolver answered" : "");
		ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
		char *qname = ldns_rdf2str(ldns_rr_owner(qr));
		CHECK_STR_EQ(qname, "Dead.Example.TEST.");
		CHECK_INT_EQ(ldns_rr_get_type(qr), LDNS_RR_TYPE_SRV);
		free(qname);
		ldns_pkt_free(p);
		/* without a text: a bare OPT */
		CHECK_INT_EQ(fwdmsg_servfail(q.data, q.len, 1232, 22, NULL, out, sizeof(out), &n),
			     0);
		p = parse(out, n);
		CHECK_INT_EQ(ede_of(p, text, sizeof(text)), -1);
		CHECK_INT_EQ(ldns_pkt_edns(p), edns);
		ldns_pkt_free(p);
		CHECK_INT_EQ(fwdmsg_servfail(q.data, q.len, 1232, 0, "x", out, 20, &n), -EMSGSIZE);
		LDNS_FREE(q.data);
	}
}

static void test_rcode_and_tc(void)
{
	struct wire r = make_reply("x.test.", LDNS_RR_TYPE_A, 1, 0, 0, LDNS_RCODE_REFUSED);

	CHECK_INT_EQ(fwdmsg_rcode(r.data, r.len), LDNS_RCODE_REFUSED);
	CHECK(!fwdmsg_truncated(r.data, r.len));
	r.data[2] |= 0x02;
	CHECK(fwdmsg_truncated(r.data, r.len));
	CHECK_INT_EQ(fwdmsg_rcode(r.data, 5), -EBADMSG);
	fwdmsg_set_id(r.data, 0xabcd);
	CHECK_INT_EQ(r.data[0], 0xab);
	CHECK_INT_EQ(r.data[1], 0xcd);
	LDNS_FREE(r.data);
}

/* Random corruption of a real reply: no crash, and whatever is accepted carries the client's
 * ID and question. */
static void test_corrupted_replies(void)
{
	struct wire q = make_query("www.example.test.", LDNS_RR_TYPE_A, 3, 1232, false);
	struct wire r = make_reply("www.example.test.", LDNS_RR_TYPE_A, 3, 4, 1232, 0);
	uint32_t x = 2463534242u;
	uint8_t buf[1024], out[2048];
	size_t n;
	int accepted = 0, rejected = 0;

	CHECK(r.len <= sizeof(buf));
	for (int i = 0; i < 20000; i++) {
		memcpy(buf, r.data, r.len);
		for (int k = 0; k < 1 + i % 4; k++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			buf[x % r.len] = (uint8_t)(x >> 8);
		}
		size_t len = i % 7 ? r.len : (x >> 4) % r.len;
		if (fwdmsg_check_reply(q.data, q.len, 3, buf, len, NULL) < 0) {
			rejected++;
			continue;
		}
		accepted++;
		CHECK_INT_EQ(
			fwdmsg_finish(q.data, q.len, buf, len, 512, 1232, out, sizeof(out), &n), 0);
		/* the client's ID and question, whatever the rest holds */
		CHECK(n >= 12 + 22 && memcmp(out, q.data, 2) == 0);
		CHECK(memcmp(out + 12, q.data + 12, 22) == 0);
	}
	CHECK(accepted > 0 && rejected > 0);
	LDNS_FREE(r.data);
	LDNS_FREE(q.data);
}

int main(void)
{
	test_parse_query();
	test_check_reply();
	test_finish_restores_client_view();
	test_finish_truncates();
	test_servfail();
	test_rcode_and_tc();
	test_corrupted_replies();
	return 0;
}

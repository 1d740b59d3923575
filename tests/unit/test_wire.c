/* The DNS header accessors, the question reader and the two replies built from a query. */
#include "zones/dns/wire.h"

#include <errno.h>
#include <string.h>

#include "check.h"

/* A query for www.example.com (or the name given) with type qtype: header, question, then
 * extra octets (an OPT, say) the replies must drop. Returns its length. */
static size_t make_query(uint8_t *m, const uint8_t *name, size_t name_len, uint16_t qtype)
{
	memset(m, 0, DNS_HDR_LEN);
	wire_put16(m, 0xbeef);
	m[DNS_OFF_FL1] = DNS_FLAG_RD | (DNS_OPCODE_QUERY << DNS_OPCODE_SHIFT);
	m[DNS_OFF_FL2] = DNS_FLAG_CD | DNS_FLAG_AD;
	wire_put16(m + DNS_OFF_QD, 1);
	wire_put16(m + DNS_OFF_AR, 1);
	memcpy(m + DNS_HDR_LEN, name, name_len);
	wire_put16(m + DNS_HDR_LEN + name_len, qtype);
	wire_put16(m + DNS_HDR_LEN + name_len + 2, DNS_CLASS_IN);
	size_t n = DNS_HDR_LEN + name_len + 4;
	static const uint8_t opt[DNS_OPT_FIXED_LEN] = {0, 0, DNS_TYPE_OPT, 0x10, 0};
	memcpy(m + n, opt, sizeof(opt));
	return n + sizeof(opt);
}

static const uint8_t www[] = "\3www\7example\3com";

static void test_accessors(void)
{
	uint8_t m[64];
	make_query(m, www, sizeof(www), DNS_TYPE_A);

	CHECK_INT_EQ(wire_get16(m), 0xbeef);
	CHECK(!wire_is_reply(m));
	CHECK(wire_rd(m));
	CHECK(!wire_tc(m));
	CHECK_INT_EQ(wire_opcode(m), DNS_OPCODE_QUERY);
	CHECK_INT_EQ(wire_rcode(m), DNS_RCODE_NOERROR);

	wire_set_rcode(m, DNS_RCODE_REFUSED);
	CHECK_INT_EQ(wire_rcode(m), DNS_RCODE_REFUSED);
	CHECK_INT_EQ(m[DNS_OFF_FL2], DNS_FLAG_CD | DNS_FLAG_AD | DNS_RCODE_REFUSED);
	wire_set_rcode(m, DNS_RCODE_BADVERS); /* only the low four bits live in the header */
	CHECK_INT_EQ(wire_rcode(m), DNS_RCODE_BADVERS & DNS_RCODE_MASK);
	wire_set_ra(m);
	CHECK_INT_EQ(m[DNS_OFF_FL2] & DNS_FLAG_RA, DNS_FLAG_RA);
	CHECK_INT_EQ(wire_rcode(m), 0);
	wire_set_tc(m);
	CHECK(wire_tc(m));
	CHECK(wire_rd(m));

	m[DNS_OFF_FL1] = DNS_FLAG_QR | (DNS_OPCODE_NOTIFY << DNS_OPCODE_SHIFT);
	CHECK(wire_is_reply(m));
	CHECK_INT_EQ(wire_opcode(m), DNS_OPCODE_NOTIFY);
	CHECK(!wire_rd(m));
}

static void test_question_end(void)
{
	uint8_t m[600];
	size_t n = make_query(m, www, sizeof(www), DNS_TYPE_SRV);
	size_t end = DNS_HDR_LEN + sizeof(www) + 4;

	CHECK_INT_EQ(wire_question_end(m, n), end);
	CHECK_INT_EQ(wire_qtype(m, end), DNS_TYPE_SRV);
	CHECK_INT_EQ(wire_question_end(m, end), end);
	for (size_t cut = 0; cut < end; cut++)
		CHECK_INT_EQ(wire_question_end(m, cut), 0); /* every short read is refused */

	wire_put16(m + DNS_OFF_QD, 0);
	CHECK_INT_EQ(wire_question_end(m, n), 0);
	wire_put16(m + DNS_OFF_QD, 2);
	CHECK_INT_EQ(wire_question_end(m, n), 0);

	static const uint8_t root[] = "";
	n = make_query(m, root, 1, DNS_TYPE_NS);
	CHECK_INT_EQ(wire_question_end(m, n), DNS_HDR_LEN + 5);

	static const uint8_t ptr[] = {3, 'w', 'w', 'w', 0xc0, 12};
	n = make_query(m, ptr, sizeof(ptr), DNS_TYPE_A);
	CHECK_INT_EQ(wire_question_end(m, n), 0); /* compressed */
	static const uint8_t label64[] = {64};
	n = make_query(m, label64, 1, DNS_TYPE_A);
	CHECK_INT_EQ(wire_question_end(m, n), 0); /* 64 & 0xc0: not a label length */
}

/* Names of exactly 255 octets pass; 256 do not. */
static void test_name_limit(void)
{
	uint8_t name[300], m[600];
	size_t at = 0;

	while (at + 64 < 255) { /* three labels of 63: 192 octets */
		name[at] = 63;
		memset(name + at + 1, 'a', 63);
		at += 64;
	}
	name[at] = (uint8_t)(255 - at - 2); /* 61: the last label ends right before the root */
	memset(name + at + 1, 'b', name[at]);
	at += 1u + name[at];
	name[at++] = 0;
	CHECK_INT_EQ(at, DNS_NAME_MAX);
	size_t n = make_query(m, name, at, DNS_TYPE_A);
	CHECK_INT_EQ(wire_question_end(m, n), DNS_HDR_LEN + DNS_NAME_MAX + 4);

	name[192] = 62; /* one octet more: 256 */
	memset(name + 193, 'b', 62);
	name[255] = 0;
	n = make_query(m, name, 256, DNS_TYPE_A);
	CHECK_INT_EQ(wire_question_end(m, n), 0);
}

static void test_error_reply(void)
{
	uint8_t m[64], out[64];
	size_t n = make_query(m, www, sizeof(www), DNS_TYPE_A);
	size_t end = DNS_HDR_LEN + sizeof(www) + 4;

	CHECK_INT_EQ(wire_error_reply(m, n, DNS_RCODE_REFUSED, out, sizeof(out)), (int)end);
	CHECK_INT_EQ(wire_get16(out), 0xbeef);
	CHECK(wire_is_reply(out));
	CHECK(wire_rd(out));
	CHECK_INT_EQ(out[DNS_OFF_FL1] & DNS_FLAG_AA, 0);
	CHECK_INT_EQ(out[DNS_OFF_FL2], DNS_RCODE_REFUSED); /* CD and AD are not echoed */
	CHECK_INT_EQ(wire_get16(out + DNS_OFF_QD), 1);
	CHECK_INT_EQ(wire_get16(out + DNS_OFF_AN) | wire_get16(out + DNS_OFF_NS) |
			     wire_get16(out + DNS_OFF_AR),
		     0);
	CHECK(memcmp(out + DNS_HDR_LEN, m + DNS_HDR_LEN, end - DNS_HDR_LEN) == 0);

	CHECK_INT_EQ(wire_error_reply(m, n, DNS_RCODE_SERVFAIL, out, end - 1), -ENOSPC);
	CHECK_INT_EQ(wire_error_reply(m, end - 1, DNS_RCODE_SERVFAIL, out, sizeof(out)), -EBADMSG);
	/* in place */
	CHECK_INT_EQ(wire_error_reply(m, n, DNS_RCODE_NOTIMP, m, sizeof(m)), (int)end);
	CHECK_INT_EQ(wire_rcode(m), DNS_RCODE_NOTIMP);
	CHECK(wire_is_reply(m));
}

static void test_truncate(void)
{
	uint8_t m[64];
	size_t n = make_query(m, www, sizeof(www), DNS_TYPE_A);
	size_t end = DNS_HDR_LEN + sizeof(www) + 4;

	m[DNS_OFF_FL1] |= DNS_FLAG_QR;
	wire_put16(m + DNS_OFF_AN, 3);
	CHECK_INT_EQ(wire_truncate(m, n), end);
	CHECK(wire_tc(m));
	CHECK(wire_is_reply(m));
	CHECK_INT_EQ(wire_get16(m + DNS_OFF_AN), 0);
	CHECK_INT_EQ(wire_get16(m + DNS_OFF_AR), 0);
	CHECK_INT_EQ(m[DNS_OFF_FL2], DNS_FLAG_CD | DNS_FLAG_AD); /* the rest of the header stays */

	wire_put16(m + DNS_OFF_QD, 0);
	m[DNS_OFF_FL1] = 0;
	CHECK_INT_EQ(wire_truncate(m, n), 0);
	CHECK(!wire_tc(m)); /* untouched when refused */
}

int main(void)
{
	test_accessors();
	test_question_end();
	test_name_limit();
	test_error_reply();
	test_truncate();
	return 0;
}

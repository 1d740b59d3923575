/* Bounds-checked reading of whole DNS messages for the forwarder. Nothing here trusts a length or
 * a count in the packet: every offset is checked against the message size before it is read. */
#include "zones/dns/fwdmsg.h"

#include <errno.h>
#include <string.h>

#include "zones/dns/wire.h"

#define EDE_MAX 200 /* text octets kept: the reply stays well under 512 octets */

/* A record owner name, compression allowed: a pointer ends the name in this message. */
static long skip_name(const uint8_t *m, size_t len, size_t off)
{
	while (off < len) {
		uint8_t c = m[off];
		if (c == 0)
			return (long)(off + 1);
		if ((c & 0xc0) == 0xc0)
			return off + 2 <= len ? (long)(off + 2) : -1;
		if (c > 63)
			return -1;
		off += 1u + c;
	}
	return -1;
}

/* One resource record at *off; notes the OPT when in the additional section. */
static int skip_rr(const uint8_t *m, size_t len, size_t *off, bool additional,
		   struct fwdmsg_info *info)
{
	size_t start = *off;
	long p = skip_name(m, len, start);

	if (p < 0 || (size_t)p + 10 > len)
		return -EBADMSG;
	size_t end = (size_t)p + 10 + wire_get16(m + p + 8);
	if (end > len)
		return -EBADMSG;
	if (additional && wire_get16(m + p) == DNS_TYPE_OPT) {
		if (info->opt || m[start] != 0)
			return -EBADMSG; /* two OPTs, or one not at the root (RFC 6891 6.1.1) */
		info->opt = start;
		info->opt_len = end - start;
	}
	*off = end;
	return 0;
}

/* Any message with exactly one question: where its question ends and where its OPT is. */
static int parse_message(const uint8_t *m, size_t len, struct fwdmsg_info *info)
{
	memset(info, 0, sizeof(*info));
	if (len < DNS_HDR_LEN || wire_get16(m + 4) != 1)
		return -EBADMSG;
	size_t q = wire_question_end(m, len);
	if (!q)
		return -EBADMSG;
	info->qtype = wire_qtype(m, q);
	info->qclass = wire_get16(m + q - 2);
	info->question_end = q;

	size_t off = info->question_end;
	unsigned an_ns = (unsigned)wire_get16(m + 6) + wire_get16(m + 8), ar = wire_get16(m + 10);
	for (unsigned i = 0; i < an_ns + ar; i++) {
		if (skip_rr(m, len, &off, i >= an_ns, info) < 0)
			return -EBADMSG;
	}
	return 0;
}

int fwdmsg_parse_query(const uint8_t *msg, size_t len, struct fwdmsg_info *out)
{
	if (len < DNS_HDR_LEN || wire_is_reply(msg))
		return -EBADMSG;
	return parse_message(msg, len, out);
}

/* Same question: lengths first, then bytes with ASCII case folded. Length octets are < 64, so
 * folding 'A'..'Z' never changes one. */
static bool same_question(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (uint8_t)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

int fwdmsg_check_reply(const uint8_t *query, size_t qlen, uint16_t id, const uint8_t *reply,
		       size_t rlen, struct fwdmsg_info *out)
{
	struct fwdmsg_info qi, ri;

	if (fwdmsg_parse_query(query, qlen, &qi) < 0)
		return -EBADMSG;
	if (rlen < DNS_HDR_LEN || !wire_is_reply(reply) || wire_get16(reply) != id)
		return rlen < DNS_HDR_LEN ? -EBADMSG : -ESRCH;
	if (parse_message(reply, rlen, &ri) < 0)
		return -EBADMSG;
	if (ri.question_end != qi.question_end ||
	    !same_question(query + DNS_HDR_LEN, reply + DNS_HDR_LEN, qi.question_end - DNS_HDR_LEN))
		return -ESRCH;
	if (out)
		*out = ri;
	return 0;
}

void fwdmsg_set_id(uint8_t *msg, uint16_t id)
{
	wire_put16(msg, id);
}

bool fwdmsg_truncated(const uint8_t *msg, size_t len)
{
	return len >= DNS_HDR_LEN && wire_tc(msg);
}

int fwdmsg_rcode(const uint8_t *msg, size_t len)
{
	return len >= DNS_HDR_LEN ? wire_rcode(msg) : -EBADMSG;
}

/* An OPT with no options: our buffer size, the given extended-RCODE/version/flags TTL. */
static void put_opt(uint8_t *p, uint16_t edns_size, const uint8_t ttl[4])
{
	p[0] = 0;
	wire_put16(p + 1, DNS_TYPE_OPT);
	wire_put16(p + 3, edns_size);
	memcpy(p + 5, ttl, 4);
	wire_put16(p + 9, 0);
}

/* An extended error for the OPT of a minimal reply; NULL: none. */
struct ede {
	uint16_t code;
	const char *text;
};

/* Header and question of query with the given flags and OPT (ttl NULL: none), the OPT carrying
 * ede when that is not NULL. */
static int write_minimal(const uint8_t *query, const struct fwdmsg_info *qi, const uint8_t flags[2],
			 uint16_t edns_size, const uint8_t *ttl, const struct ede *ede,
			 uint8_t *out, size_t cap, size_t *out_len)
{
	size_t text = ttl && ede ? strnlen(ede->text, EDE_MAX) : 0;
	size_t opt_data = ttl && ede ? 6 + text : 0;
	size_t n = qi->question_end + (ttl ? DNS_OPT_FIXED_LEN + opt_data : 0);

	if (n > cap)
		return -EMSGSIZE;
	memcpy(out, query, qi->question_end);
	memcpy(out + 2, flags, 2);
	wire_put16(out + 4, 1);
	wire_put16(out + 6, 0);
	wire_put16(out + 8, 0);
	wire_put16(out + 10, ttl ? 1 : 0);
	if (ttl) {
		uint8_t *o = out + qi->question_end;
		put_opt(o, edns_size, ttl);
		if (opt_data) {
			wire_put16(o + 9, (uint16_t)opt_data);
			wire_put16(o + DNS_OPT_FIXED_LEN, DNS_EDNS_EDE);
			wire_put16(o + DNS_OPT_FIXED_LEN + 2, (uint16_t)(2 + text));
			wire_put16(o + DNS_OPT_FIXED_LEN + 4, ede->code);
			memcpy(o + DNS_OPT_FIXED_LEN + 6, ede->text, text);
		}
	}
	*out_len = n;
	return 0;
}

/* The TTL half of the client's OPT with only the DO bit kept: what an OPT we make echoes. */
static void client_opt_ttl(const uint8_t *query, const struct fwdmsg_info *qi, uint8_t ttl[4])
{
	memset(ttl, 0, 4);
	ttl[2] = query[qi->opt + 7] & DNS_OPT_FLAG_DO;
}

static int finish_truncated(const uint8_t *query, const struct fwdmsg_info *qi,
			    const uint8_t *reply, const struct fwdmsg_info *ri, size_t max_reply,
			    uint16_t edns_size, uint8_t *out, size_t cap, size_t *out_len)
{
	uint8_t flags[2] = {(uint8_t)(reply[2] | DNS_FLAG_TC), reply[3]}, ttl[4];

	if (qi->opt) {
		if (ri->opt)
			memcpy(ttl, reply + ri->opt + 5,
			       4); /* keeps the upstream's extended RCODE */
		else
			client_opt_ttl(query, qi, ttl);
	}
	if (cap > max_reply)
		cap = max_reply;
	return write_minimal(query, qi, flags, edns_size, qi->opt ? ttl : NULL, NULL, out, cap,
			     out_len);
}

int fwdmsg_finish(const uint8_t *query, size_t qlen, const uint8_t *reply, size_t rlen,
		  size_t max_reply, uint16_t edns_size, uint8_t *out, size_t cap, size_t *out_len)
{
	struct fwdmsg_info qi, ri;

	if (fwdmsg_parse_query(query, qlen, &qi) < 0 || parse_message(reply, rlen, &ri) < 0 ||
	    ri.question_end != qi.question_end)
		return -EBADMSG;
	if (rlen > max_reply || rlen > cap)
		return finish_truncated(query, &qi, reply, &ri, max_reply, edns_size, out, cap,
					out_len);
	memcpy(out, reply, rlen);
	memcpy(out, query, 2);
	memcpy(out + DNS_HDR_LEN, query + DNS_HDR_LEN, qi.question_end - DNS_HDR_LEN);
	if (ri.opt && qi.opt)
		wire_put16(out + ri.opt + 3, edns_size);
	*out_len = rlen;
	return 0;
}

int fwdmsg_servfail(const uint8_t *query, size_t qlen, uint16_t edns_size, uint16_t ede_code,
		    const char *ede_text, uint8_t *out, size_t cap, size_t *out_len)
{
	struct fwdmsg_info qi;
	struct ede ede = {ede_code, ede_text};
	uint8_t ttl[4];

	if (fwdmsg_parse_query(query, qlen, &qi) < 0)
		return -EBADMSG;
	/* QR, the query's opcode and RD; RA, the query's CD; RCODE 2 */
	uint8_t flags[2] = {
		(uint8_t)(DNS_FLAG_QR | (query[DNS_OFF_FL1] & DNS_FL1_ECHOED)),
		(uint8_t)(DNS_FLAG_RA | (query[DNS_OFF_FL2] & DNS_FLAG_CD) | DNS_RCODE_SERVFAIL)};
	if (qi.opt)
		client_opt_ttl(query, &qi, ttl);
	return write_minimal(query, &qi, flags, edns_size, qi.opt ? ttl : NULL,
			     ede_text ? &ede : NULL, out, cap, out_len);
}

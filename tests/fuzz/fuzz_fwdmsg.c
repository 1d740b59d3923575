/* libFuzzer target: the forwarder's checks of an upstream reply and the client's copy of it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "zones/dns/dnsnum.h"
#include "zones/dns/fwdmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* www.example.com. A IN, RD, with an OPT (4096): the query most replies are checked against. */
static const uint8_t fixed_query[] = {
	0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 3,   'w', 'w',
	'w',  7,    'e',  'x',  'a',  'm',  'p',  'l',  'e',  3,    'c',  'o',  'm', 0,   0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x29, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

static void fuzz_reply(const uint8_t *q, size_t qlen, const uint8_t *r, size_t rlen,
		       size_t max_reply)
{
	static uint8_t out[65535];
	struct fwdmsg_info info;
	size_t out_len = 0;
	uint16_t id = rlen >= 2 ? (uint16_t)(r[0] << 8 | r[1]) : 0;

	(void)fwdmsg_truncated(r, rlen);
	(void)fwdmsg_rcode(r, rlen);
	if (fwdmsg_check_reply(q, qlen, id, r, rlen, &info) != 0)
		return;
	if (info.question_end > rlen || info.opt + info.opt_len > rlen)
		abort();
	if (fwdmsg_finish(q, qlen, r, rlen, max_reply, 1232, out, sizeof(out), &out_len) == 0 &&
	    (out_len > sizeof(out) || out_len < DNS_HDR_LEN))
		abort();
}

/* Byte 0: bit 0 set means byte 1 is the length of a fuzzed query that precedes the reply;
 * the upper bits pick the client's size limit. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[65535];
	struct fwdmsg_info info;
	size_t out_len = 0;

	if (size < 2)
		return 0;
	size_t max_reply = 12 + (size_t)(data[0] >> 1) * 16;
	const uint8_t *q = fixed_query;
	size_t qlen = sizeof(fixed_query);
	const uint8_t *r = data + 1;
	size_t rlen = size - 1;
	if (data[0] & 1) {
		qlen = data[1];
		if (qlen > size - 2)
			return 0;
		q = data + 2;
		r = q + qlen;
		rlen = size - 2 - qlen;
	}
	if (fwdmsg_parse_query(q, qlen, &info) != 0)
		return 0;
	if (fwdmsg_servfail(q, qlen, 1232, 22, "why", out, sizeof(out), &out_len) == 0 &&
	    out_len > sizeof(out))
		abort();
	fuzz_reply(q, qlen, r, rlen, max_reply);
	return 0;
}

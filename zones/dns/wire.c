/* The question reader and the replies every module builds the same way. */
#include "zones/dns/wire.h"

#include <errno.h>
#include <string.h>

size_t wire_question_end(const uint8_t *m, size_t len)
{
	size_t o = DNS_HDR_LEN;

	if (len < DNS_HDR_LEN || wire_get16(m + DNS_OFF_QD) != 1)
		return 0;
	while (o < len && m[o] != 0) {
		if (m[o] & DNS_PTR_MASK)
			return 0; /* a question is never compressed: nothing precedes it to point at
				   */
		o += 1 + (size_t)m[o];
		if (o - DNS_HDR_LEN + 1 > DNS_NAME_MAX)
			return 0;
	}
	return o + 5 <= len ? o + 5 : 0; /* the root label, QTYPE, QCLASS */
}

int wire_error_reply(const uint8_t *in, size_t len, uint8_t rcode, uint8_t *out, size_t cap)
{
	size_t end = wire_question_end(in, len);

	if (!end)
		return -EBADMSG;
	if (end > cap)
		return -ENOSPC;
	memmove(out, in, end);
	out[DNS_OFF_FL1] = (uint8_t)(DNS_FLAG_QR | (in[DNS_OFF_FL1] & DNS_FL1_ECHOED));
	out[DNS_OFF_FL2] = (uint8_t)(rcode & DNS_RCODE_MASK);
	memset(out + DNS_OFF_AN, 0, 6);
	return (int)end;
}

size_t wire_truncate(uint8_t *m, size_t len)
{
	size_t end = wire_question_end(m, len);

	if (!end)
		return 0;
	wire_set_tc(m);
	memset(m + DNS_OFF_AN, 0, 6);
	return end;
}

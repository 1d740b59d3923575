/* The replies every module builds the same way from a query. */
#include "zones/dns/wire.h"

#include <errno.h>
#include <string.h>

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

/* libFuzzer target: the question reader and the replies made from any bytes, with the
 * invariants every caller relies on (a question ends inside the message; both replies are
 * exactly header and question). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zones/dns/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[65535], copy[65535];

	if (size > sizeof(copy))
		return 0;
	size_t end = wire_question_end(data, size);
	if (end && (end > size || end < DNS_HDR_LEN + 5 || end - DNS_HDR_LEN - 4 > DNS_NAME_MAX))
		abort();
	int n = wire_error_reply(data, size, DNS_RCODE_FORMERR, out, sizeof(out));
	if ((n < 0) != !end ||
	    (end && ((size_t)n != end || wire_rcode(out) != DNS_RCODE_FORMERR ||
		     !wire_is_reply(out) || wire_qtype(out, end) != wire_qtype(data, end))))
		abort();
	memcpy(copy, data, size);
	size_t t = wire_truncate(copy, size);
	if (t != end || (t && (!wire_tc(copy) || memcmp(copy + DNS_HDR_LEN, data + DNS_HDR_LEN,
							t - DNS_HDR_LEN) != 0)))
		abort();
	return 0;
}

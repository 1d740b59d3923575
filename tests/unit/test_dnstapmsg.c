/* dnstap messages encoded by hand, checked against bytes worked out from dnstap.proto. */
#include <string.h>

#include "tests/unit/check.h"
#include "zones/dns/dnstapmsg.h"

int main(void)
{
	const uint8_t wire[3] = {0xaa, 0xbb, 0xcc};
	struct dnstapmsg m = {.type = DNSTAPMSG_CLIENT_QUERY,
			      .tcp = false,
			      .query_addr = {.ip = {127, 0, 0, 1}, .len = 4, .port = 5353},
			      .response_addr = {.ip = {127, 0, 0, 2}, .len = 4, .port = 53},
			      .sec = 1,
			      .nsec = 2,
			      .wire = wire,
			      .wire_len = sizeof(wire),
			      .identity = "n1",
			      .version = NULL};
	const uint8_t want[] = {
		0x0a, 2,    'n',  '1',           /* identity */
		0x72, 35,                        /* message, 35 octets */
		0x08, 5,                         /* type CLIENT_QUERY */
		0x10, 1,                         /* socket_family INET */
		0x18, 1,                         /* socket_protocol UDP */
		0x22, 4,    127,  0,    0,    1, /* query_address */
		0x30, 0xe9, 0x29,                /* query_port 5353 */
		0x2a, 4,    127,  0,    0,    2, /* response_address */
		0x38, 53,                        /* response_port */
		0x40, 1,                         /* query_time_sec */
		0x4d, 2,    0,    0,    0,       /* query_time_nsec */
		0x52, 3,    0xaa, 0xbb, 0xcc,    /* query_message */
		0x78, 1,                         /* type MESSAGE */
	};
	uint8_t out[256];
	size_t n = dnstapmsg_encode(&m, out, sizeof(out));

	CHECK_INT_EQ(n, sizeof(want));
	CHECK(memcmp(out, want, n) == 0);
	CHECK(n <= dnstapmsg_max_len(sizeof(wire), "n1", NULL));
	for (size_t cap = 0; cap < n; cap++)
		CHECK(dnstapmsg_encode(&m, out, cap) == 0); /* too small: nothing usable */

	/* A response: response_time and response_message fields, TCP, IPv6. */
	m.type = DNSTAPMSG_CLIENT_RESPONSE;
	m.tcp = true;
	m.query_addr.len = 16;
	m.response_addr.len = 0;
	m.identity = NULL;
	n = dnstapmsg_encode(&m, out, sizeof(out));
	CHECK(n > 0);
	CHECK(out[0] == 0x72);
	CHECK(memchr(out, 0x60, n) != NULL); /* response_time_sec key */
	CHECK(out[n - 2] == 0x78 && out[n - 1] == 1);
	CHECK(out[2] == 0x08 && out[3] == 6); /* CLIENT_RESPONSE */
	CHECK(out[4] == 0x10 && out[5] == 2); /* INET6 */
	CHECK(out[6] == 0x18 && out[7] == 2); /* TCP */
	return 0;
}

/* The gRPC envelope codec: round trips, the framing, and rejected input. */
#include "zones/nacos/grpcmsg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void test_round_trip(void)
{
	struct grpcmsg_header hs[] = {{.key = "accessToken", .value = "tok"},
				      {.key = "app", .value = ""}};
	const char *json = "{\"requestId\":\"1\"}";
	uint8_t *out;
	size_t len;
	CHECK_INT_EQ(grpcmsg_encode("ServerCheckRequest", hs, 2, json, strlen(json), &out, &len),
		     0);
	const uint8_t *msg;
	size_t msg_len, used;
	CHECK_INT_EQ(grpcmsg_frame_next(out, len - 1, &msg, &msg_len, &used), 0);
	CHECK_INT_EQ(grpcmsg_frame_next(out, len, &msg, &msg_len, &used), 1);
	CHECK_INT_EQ(used, len);
	struct grpcmsg m;
	const char *why = NULL;
	CHECK_INT_EQ(grpcmsg_decode(msg, msg_len, &m, &why), 0);
	CHECK_INT_EQ(m.type_len, strlen("ServerCheckRequest"));
	CHECK(memcmp(m.type, "ServerCheckRequest", m.type_len) == 0);
	CHECK_INT_EQ(m.json_len, strlen(json));
	CHECK(memcmp(m.json, json, m.json_len) == 0);
	CHECK_INT_EQ(m.n_headers, 2);
	CHECK(m.headers[0].key_len == 11 && memcmp(m.headers[0].key, "accessToken", 11) == 0);
	CHECK(m.headers[0].value_len == 3 && memcmp(m.headers[0].value, "tok", 3) == 0);
	CHECK_INT_EQ(m.headers[1].value_len, 0);
	/* Every truncation of the payload is refused or decodes to less, never read past the end.
	 */
	for (size_t cut = 0; cut < msg_len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, msg, cut);
		(void)grpcmsg_decode(copy, cut, &m, &why);
		free(copy);
	}
	free(out);
}

/* Bytes made by python3-protobuf for Payload{metadata{type:"T", clientIp:"1.2.3.4"},
 * body{type_url:"x", value:"{}"}} with an unknown varint field 9 and a fixed32 field 10. */
static void test_foreign_bytes(void)
{
	const uint8_t msg[] = {0x12, 0x0c, 0x1a, 0x01, 'T',  0x42, 0x07, '1', '.',  '2',  '.',
			       '3',  '.',  '4',  0x1a, 0x07, 0x0a, 0x01, 'x', 0x12, 0x02, '{',
			       '}',  0x48, 0x96, 0x01, 0x55, 1,    2,    3,   4};
	struct grpcmsg m;
	const char *why = NULL;
	CHECK_INT_EQ(grpcmsg_decode(msg, sizeof msg, &m, &why), 0);
	CHECK(m.type_len == 1 && m.type[0] == 'T');
	CHECK(m.json_len == 2 && memcmp(m.json, "{}", 2) == 0);
}

static void test_rejected(void)
{
	struct grpcmsg m;
	const char *why = NULL;
	const uint8_t no_body[] = {0x12, 0x03, 0x1a, 0x01, 'T'};
	CHECK_INT_EQ(grpcmsg_decode(no_body, sizeof no_body, &m, &why), -EBADMSG);
	CHECK_STR_EQ(why, "no body");
	const uint8_t long_len[] = {0x12, 0x7f, 0x1a};
	CHECK_INT_EQ(grpcmsg_decode(long_len, sizeof long_len, &m, &why), -EBADMSG);
	CHECK_STR_EQ(why, "length past the end of the message");
	const uint8_t group[] = {0x13};
	CHECK_INT_EQ(grpcmsg_decode(group, sizeof group, &m, &why), -EBADMSG);
	const uint8_t varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	CHECK_INT_EQ(grpcmsg_decode(varint, sizeof varint, &m, &why), -EBADMSG);
	const uint8_t *msg;
	size_t msg_len, used;
	const uint8_t compressed[] = {1, 0, 0, 0, 0};
	CHECK_INT_EQ(grpcmsg_frame_next(compressed, 5, &msg, &msg_len, &used), -EPROTO);
	const uint8_t huge[] = {0, 0, 0xa0, 0, 1};
	CHECK_INT_EQ(grpcmsg_frame_next(huge, 5, &msg, &msg_len, &used), -EMSGSIZE);
	uint8_t *out;
	size_t len;
	CHECK_INT_EQ(grpcmsg_encode("T", NULL, 0, "", GRPCMSG_MAX + 1, &out, &len), -EMSGSIZE);
	CHECK_INT_EQ(grpcmsg_encode(NULL, NULL, 0, "", 0, &out, &len), -EINVAL);
}

int main(void)
{
	test_round_trip();
	test_foreign_bytes();
	test_rejected();
	return 0;
}

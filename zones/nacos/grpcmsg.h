/* Nacos's gRPC envelope: the Payload message and the gRPC length-prefixed framing, without I/O.
 * The schema is alibaba/nacos api/src/main/proto/nacos_grpc_service.proto:
 *   Payload { Metadata metadata = 2; google.protobuf.Any body = 3; }
 *   Metadata { string type = 3; map<string,string> headers = 7; string clientIp = 8; }
 * body.value holds the UTF-8 JSON of the request or response, metadata.type its Java class name. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* The largest message either side accepts (the server's default grpc max inbound message size). */
#define GRPCMSG_MAX         (10 * 1024 * 1024)
#define GRPCMSG_FRAME_HDR   5
#define GRPCMSG_MAX_HEADERS 32

struct grpcmsg_header {
	const char *key;
	const char *value;
};

/* A decoded Payload. The strings point into the decoded buffer (not NUL-terminated). */
struct grpcmsg {
	const char *type;
	size_t type_len;
	const char *json;
	size_t json_len;
	struct grpcmsg_header_view {
		const char *key, *value;
		size_t key_len, value_len;
	} headers[GRPCMSG_MAX_HEADERS];
	size_t n_headers;
};

/* Encodes one framed message (5-byte prefix + Payload). On success *out is malloc'd and owned by
 * the caller. -EINVAL on a NULL type or json, -EMSGSIZE past GRPCMSG_MAX, -ENOMEM. */
int grpcmsg_encode(const char *type, const struct grpcmsg_header *headers, size_t n_headers,
		   const char *json, size_t json_len, uint8_t **out, size_t *out_len);

/* Decodes a Payload (without the frame prefix). 0, or -EBADMSG with *why set to a static reason. */
int grpcmsg_decode(const uint8_t *buf, size_t len, struct grpcmsg *m, const char **why);

/* Looks at the start of a stream buffer: 1 with msg, msg_len and consumed set when a whole message
 * is there, 0 when more bytes are needed, -EPROTO for a compressed message (never negotiated),
 * -EMSGSIZE past GRPCMSG_MAX. */
int grpcmsg_frame_next(const uint8_t *buf, size_t len, const uint8_t **msg, size_t *msg_len,
		       size_t *consumed);

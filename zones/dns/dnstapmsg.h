/* One dnstap message (dnstap.proto, https://dnstap.info) encoded as protobuf by hand: the
 * schema is small and fixed, so a code generator and its runtime would be more than the code. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Message.Type values of dnstap.proto. */
enum dnstapmsg_type {
	DNSTAPMSG_CLIENT_QUERY = 5,
	DNSTAPMSG_CLIENT_RESPONSE = 6,
	DNSTAPMSG_FORWARDER_QUERY = 7,
	DNSTAPMSG_FORWARDER_RESPONSE = 8,
};

/* One end of the exchange: an IPv4 (4 octets) or IPv6 (16 octets) address and a port. */
struct dnstapmsg_addr {
	uint8_t ip[16];
	uint8_t len; /* 4 or 16; 0: unknown, left out */
	uint16_t port;
};

struct dnstapmsg {
	enum dnstapmsg_type type;
	bool tcp;
	struct dnstapmsg_addr query_addr;    /* who sent the query */
	struct dnstapmsg_addr response_addr; /* who answers it */
	uint64_t sec;                        /* when: query_time for a query, else response_time */
	uint32_t nsec;
	const uint8_t *wire; /* the DNS message, borrowed */
	size_t wire_len;
	const char *identity; /* NULL or "": left out */
	const char *version;
};

/* The encoded Dnstap frame in out. Its length, or 0 when cap is too small. */
size_t dnstapmsg_encode(const struct dnstapmsg *m, uint8_t *out, size_t cap);
/* The most a message with wire_len octets and these strings can take. */
size_t dnstapmsg_max_len(size_t wire_len, const char *identity, const char *version);

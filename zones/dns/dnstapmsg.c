#include "zones/dns/dnstapmsg.h"

#include <string.h>

/* Field numbers of dnstap.proto. */
enum {
	DT_IDENTITY = 1,
	DT_VERSION = 2,
	DT_MESSAGE = 14,
	DT_TYPE = 15,
	DT_TYPE_MESSAGE = 1,
	M_TYPE = 1,
	M_SOCKET_FAMILY = 2,
	M_SOCKET_PROTOCOL = 3,
	M_QUERY_ADDRESS = 4,
	M_RESPONSE_ADDRESS = 5,
	M_QUERY_PORT = 6,
	M_RESPONSE_PORT = 7,
	M_QUERY_TIME_SEC = 8,
	M_QUERY_TIME_NSEC = 9,
	M_QUERY_MESSAGE = 10,
	M_RESPONSE_TIME_SEC = 12,
	M_RESPONSE_TIME_NSEC = 13,
	M_RESPONSE_MESSAGE = 14,
	FAMILY_INET = 1,
	FAMILY_INET6 = 2,
	PROTO_UDP = 1,
	PROTO_TCP = 2,
	WT_VARINT = 0,
	WT_BYTES = 2,
	WT_FIXED32 = 5,
};

/* Everything but the strings and the wire: headers, addresses, ports, times, type. */
#define DNSTAPMSG_FIXED 128

/* Writes while it fits and counts on regardless, so that a writer with no room measures. */
struct pb {
	uint8_t *p;
	size_t len, cap;
};

static void pb_byte(struct pb *b, uint8_t v)
{
	if (b->len < b->cap)
		b->p[b->len] = v;
	b->len++;
}

static void pb_varint(struct pb *b, uint64_t v)
{
	while (v >= 0x80) {
		pb_byte(b, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	pb_byte(b, (uint8_t)v);
}

static void pb_key(struct pb *b, unsigned field, unsigned wiretype)
{
	pb_varint(b, (uint64_t)field << 3 | wiretype);
}

static void pb_uint(struct pb *b, unsigned field, uint64_t v)
{
	pb_key(b, field, WT_VARINT);
	pb_varint(b, v);
}

static void pb_fixed32(struct pb *b, unsigned field, uint32_t v)
{
	pb_key(b, field, WT_FIXED32);
	for (int i = 0; i < 4; i++)
		pb_byte(b, (uint8_t)(v >> (8 * i)));
}

static void pb_bytes(struct pb *b, unsigned field, const void *v, size_t len)
{
	pb_key(b, field, WT_BYTES);
	pb_varint(b, len);
	if (b->len <= b->cap && len <= b->cap - b->len)
		memcpy(b->p + b->len, v, len);
	b->len += len;
}

size_t dnstapmsg_max_len(size_t wire_len, const char *identity, const char *version)
{
	size_t id = identity ? strlen(identity) : 0, ver = version ? strlen(version) : 0;

	return DNSTAPMSG_FIXED + wire_len + id + ver + 3 * 10;
}

static void dnstapmsg_addr(struct pb *b, unsigned addr_field, unsigned port_field,
			   const struct dnstapmsg_addr *a)
{
	if (a->len != 4 && a->len != 16)
		return;
	pb_bytes(b, addr_field, a->ip, a->len);
	pb_uint(b, port_field, a->port);
}

static bool dnstapmsg_is_query(enum dnstapmsg_type t)
{
	return t == DNSTAPMSG_CLIENT_QUERY || t == DNSTAPMSG_FORWARDER_QUERY;
}

/* The inner Message, into b. */
static void dnstapmsg_message(struct pb *b, const struct dnstapmsg *m)
{
	uint8_t family = m->query_addr.len ? m->query_addr.len : m->response_addr.len;
	bool q = dnstapmsg_is_query(m->type);

	pb_uint(b, M_TYPE, (uint64_t)m->type);
	if (family == 4 || family == 16)
		pb_uint(b, M_SOCKET_FAMILY, family == 4 ? FAMILY_INET : FAMILY_INET6);
	pb_uint(b, M_SOCKET_PROTOCOL, m->tcp ? PROTO_TCP : PROTO_UDP);
	dnstapmsg_addr(b, M_QUERY_ADDRESS, M_QUERY_PORT, &m->query_addr);
	dnstapmsg_addr(b, M_RESPONSE_ADDRESS, M_RESPONSE_PORT, &m->response_addr);
	pb_uint(b, q ? M_QUERY_TIME_SEC : M_RESPONSE_TIME_SEC, m->sec);
	pb_fixed32(b, q ? M_QUERY_TIME_NSEC : M_RESPONSE_TIME_NSEC, m->nsec);
	pb_bytes(b, q ? M_QUERY_MESSAGE : M_RESPONSE_MESSAGE, m->wire, m->wire_len);
}

size_t dnstapmsg_encode(const struct dnstapmsg *m, uint8_t *out, size_t cap)
{
	struct pb b = {.p = out, .cap = cap}, sizer = {.p = NULL, .cap = 0};

	if (m->identity && m->identity[0])
		pb_bytes(&b, DT_IDENTITY, m->identity, strlen(m->identity));
	if (m->version && m->version[0])
		pb_bytes(&b, DT_VERSION, m->version, strlen(m->version));
	/* A nested message goes after its length: measure it first. */
	dnstapmsg_message(&sizer, m);
	pb_key(&b, DT_MESSAGE, WT_BYTES);
	pb_varint(&b, sizer.len);
	dnstapmsg_message(&b, m);
	pb_uint(&b, DT_TYPE, DT_TYPE_MESSAGE);
	return b.len <= cap ? b.len : 0;
}

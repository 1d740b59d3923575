/* The DNS header and question, read and written in place: one set of accessors for every module
 * that handles raw messages. Pure functions over caller-owned bytes; any thread may call them.
 * The accessors are inline because the query path calls them per datagram. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zones/dns/dnsnum.h"

static inline uint16_t wire_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void wire_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Header accessors: m must hold at least DNS_HDR_LEN octets. */
static inline bool wire_is_reply(const uint8_t *m)
{
	return (m[DNS_OFF_FL1] & DNS_FLAG_QR) != 0;
}

static inline bool wire_rd(const uint8_t *m)
{
	return (m[DNS_OFF_FL1] & DNS_FLAG_RD) != 0;
}

static inline bool wire_tc(const uint8_t *m)
{
	return (m[DNS_OFF_FL1] & DNS_FLAG_TC) != 0;
}

static inline unsigned wire_opcode(const uint8_t *m)
{
	return (m[DNS_OFF_FL1] & DNS_OPCODE_MASK) >> DNS_OPCODE_SHIFT;
}

static inline uint8_t wire_rcode(const uint8_t *m)
{
	return m[DNS_OFF_FL2] & DNS_RCODE_MASK;
}

static inline void wire_set_rcode(uint8_t *m, uint8_t rcode)
{
	m[DNS_OFF_FL2] = (uint8_t)((m[DNS_OFF_FL2] & DNS_FL2_NOT_RCODE) | (rcode & DNS_RCODE_MASK));
}

static inline void wire_set_ra(uint8_t *m)
{
	m[DNS_OFF_FL2] |= DNS_FLAG_RA;
}

static inline void wire_set_tc(uint8_t *m)
{
	m[DNS_OFF_FL1] |= DNS_FLAG_TC;
}

/* Where the question (name, type, class) of a message that holds exactly one ends, or 0 when m
 * has no complete, uncompressed question. Labels over 63 octets and names over 255 are refused.
 * Inline: every query passes here (axfr_is_request) before it is answered. */
static inline size_t wire_question_end(const uint8_t *m, size_t len)
{
	size_t o = DNS_HDR_LEN;

	if (len < DNS_HDR_LEN || wire_get16(m + DNS_OFF_QD) != 1)
		return 0;
	while (o < len && m[o] != 0) {
		if (m[o] & DNS_PTR_MASK)
			return 0; /* never compressed: nothing precedes it to point at */
		o += 1 + (size_t)m[o];
		if (o - DNS_HDR_LEN + 1 > DNS_NAME_MAX)
			return 0;
	}
	return o + 5 <= len ? o + 5 : 0; /* the root label, QTYPE, QCLASS */
}

/* The question's type (call only after wire_question_end returned end > 0). */
static inline uint16_t wire_qtype(const uint8_t *m, size_t end)
{
	return wire_get16(m + end - 4);
}

/* Writes into out the reply header and question of query in (QR set, opcode and RD copied, the
 * rest of the flags cleared, rcode set, the other sections empty). Returns its length, -EBADMSG
 * when in has no question, -ENOSPC when cap is too small. out may be in. */
int wire_error_reply(const uint8_t *in, size_t len, uint8_t rcode, uint8_t *out, size_t cap);

/* Turns the message in m into its truncated form in place: header and question, TC set, the
 * other sections dropped. Returns the new length, or 0 when m has no question. */
size_t wire_truncate(uint8_t *m, size_t len);

/* The forwarder's message checks, sans I/O: is this reply ours, and what does the client get. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where things are in a message that has exactly one question. */
struct fwdmsg_info {
	size_t question_end; /* offset just past QTYPE/QCLASS */
	size_t opt;          /* offset of the OPT record in the additional section, 0: none */
	size_t opt_len;      /* its whole length */
	uint16_t qtype, qclass;
};

/* A client's query to forward: QR=0, QDCOUNT=1, every record inside len. 0 or -EBADMSG. */
int fwdmsg_parse_query(const uint8_t *msg, size_t len, struct fwdmsg_info *out);

/* Is reply the answer to query sent with ID id: QR=1, the same ID, and the same question (name
 * compared case-insensitively, type and class)? 0; -EBADMSG when reply is not a well-formed DNS
 * message; -ESRCH when it answers something else. out (may be NULL) describes the reply. */
int fwdmsg_check_reply(const uint8_t *query, size_t qlen, uint16_t id, const uint8_t *reply,
		       size_t rlen, struct fwdmsg_info *out);

void fwdmsg_set_id(uint8_t *msg, uint16_t id);
bool fwdmsg_truncated(const uint8_t *msg, size_t len); /* TC set */
int fwdmsg_rcode(const uint8_t *msg, size_t len);      /* header RCODE, -EBADMSG if short */

/*
 * The client's copy of a checked reply (fwdmsg_check_reply() returned 0): the client's ID and
 * question bytes (its case), our EDNS buffer size edns_size in the OPT. If it is longer than
 * max_reply, only the header, the question and (when the client sent one) an OPT, with TC set.
 * Writes out (cap bytes). 0, or -EMSGSIZE when not even that fits, -EBADMSG on a bad query.
 */
int fwdmsg_finish(const uint8_t *query, size_t qlen, const uint8_t *reply, size_t rlen,
		  size_t max_reply, uint16_t edns_size, uint8_t *out, size_t cap, size_t *out_len);

/* SERVFAIL for query: its ID, flags and question, plus an OPT when it had one, which then carries
 * the extended error (RFC 8914) ede_code with ede_text when that is not NULL. 0 or <0. */
int fwdmsg_servfail(const uint8_t *query, size_t qlen, uint16_t edns_size, uint16_t ede_code,
		    const char *ede_text, uint8_t *out, size_t cap, size_t *out_len);

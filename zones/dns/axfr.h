/* Zone transfer (AXFR, RFC 5936) of a snapshot's zone: SOA, every RRset, SOA. Sans-I/O. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snapshot;

/* One message of a transfer; wire is valid during the call. <0 stops the transfer. */
typedef int (*axfr_msg_cb)(void *arg, const uint8_t *wire, size_t len);

/* true when in is a standard query (QR clear, opcode QUERY, one question) of type AXFR. */
bool axfr_is_request(const uint8_t *in, size_t len);

/* Emits the transfer of the zone the AXFR query in[0..len) names through cb, in messages of at
 * most about 16 KiB. The records are what individual queries over TCP answer at each name of
 * the zone (the per-query _info TXT and catalog-only services are not part of it). now_ms: Unix
 * ms. 0; -ENOENT: the question names no zone apex (answer NOTAUTH); -EAGAIN: the zone is
 * partial (answer SERVFAIL); -EBADMSG: not an AXFR query; -ENOMEM; or cb's negative return. */
int axfr_transfer(const struct snapshot *s, const uint8_t *in, size_t len, int64_t now_ms,
		  axfr_msg_cb cb, void *arg);

/* The one-message reply to query in with only its header and question and this rcode. Returns
 * its length, or -EBADMSG when in has no complete question, -ENOSPC when cap is too small. */
int axfr_error(const uint8_t *in, size_t len, uint8_t rcode, uint8_t *out, size_t cap);

/* One record of a zone as presentation text, without a newline; valid during the call. <0
 * stops the listing. */
typedef int (*axfr_line_cb)(void *arg, const char *line, size_t len);

/* Zone number `zone` of s as presentation text, one record a call of cb, in transfer order
 * without the closing SOA; the records are made name by name, so a large zone is never held
 * whole. 0; -ENOENT: no such zone; -ENOMEM; or cb's negative return. */
int axfr_zone_lines(const struct snapshot *s, size_t zone, int64_t now_ms, axfr_line_cb cb,
		    void *arg);

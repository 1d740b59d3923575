/* Response rate limiting for UDP, sans I/O: a token bucket per client prefix (/24 for IPv4,
 * /56 for IPv6) in a fixed-size table, so a flood of spoofed sources cannot grow memory. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;
struct rrl;

#define RRL_DEFAULT_RATE    200   /* responses per second per prefix on non-loopback listeners */
#define RRL_DEFAULT_SLIP    2     /* every 2nd limited response is a TC reply */
#define RRL_DEFAULT_ENTRIES 65536 /* prefixes tracked per listener */

enum rrl_action {
	RRL_SEND = 0, /* within the rate: send the response */
	RRL_SLIP, /* over the rate: send a truncated (TC) reply, so a real client retries on TCP */
	RRL_DROP, /* over the rate: send nothing */
};

/* rate: responses per second per prefix (> 0), also the burst; slip: every slip-th limited
 * response slips (0: none); entries: table size, rounded up to a power of two; seed keys the
 * hash so that prefixes cannot be chosen to collide. NULL on ENOMEM or rate 0. */
struct rrl *rrl_new(unsigned rate, unsigned slip, size_t entries, uint64_t seed);
void rrl_free(struct rrl *r); /* NULL-safe */

/* What to do with one response to peer at now_ms (any monotonic milliseconds). When the table
 * is full, the prefix seen least recently in the new prefix's bucket of slots is forgotten. */
enum rrl_action rrl_check(struct rrl *r, const struct sockaddr *peer, uint64_t now_ms);

/* Cuts the reply wire[0..len) down to its header and question with TC set and no records.
 * Returns the new length, or 0 when the question cannot be read. */
size_t rrl_slip_reply(uint8_t *wire, size_t len);

/* true when a and b are in the same /24 (IPv4) or /56 (IPv6), the unit every per-client limit
 * counts in. */
bool rrl_same_prefix(const struct sockaddr *a, const struct sockaddr *b);

/* 1 when sa is a loopback address (127.0.0.0/8, ::1), else 0. */
int rrl_addr_is_loopback(const struct sockaddr *sa);

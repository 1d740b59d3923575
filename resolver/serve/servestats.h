/* The query path's counters: one set per listen address and loop, written by the thread of that
 * loop (the main loop or worker thread N) and read by the main loop. Each counter has one writer,
 * so a relaxed load and store is enough: a plain move on x86, no locked instruction per query.
 * Functions: any thread. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "zones/dns/wire.h"

#define SERVESTATS_INC(x)                                                                          \
	__atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED)
#define SERVESTATS_GET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

struct servestats {
	unsigned long long udp_queries;         /* datagrams received */
	unsigned long long udp_main;            /* of those, by the main loop's sockets */
	unsigned long long tcp_queries;         /* TCP messages received */
	unsigned long long dropped;             /* not answered: not a query (QR set, garbage) */
	unsigned long long malformed;           /* too short for a DNS header, or bad TCP framing */
	unsigned long long forwarded;           /* handed to the forwarder */
	unsigned long long fetched;             /* waited for a first fetch of their service */
	unsigned long long send_errors;         /* replies that could not be sent */
	unsigned long long tcp_accepted;        /* connections served */
	unsigned long long tcp_rejected;        /* closed at once: tcp_max_connections reached */
	unsigned long long tcp_rejected_client; /* closed at once: tcp-max-per-client reached */
	unsigned long long tcp_idle_closed;     /* closed by the idle timeout */
	unsigned long long rrl_dropped;         /* UDP replies withheld by the rate limit */
	unsigned long long rrl_slipped;         /* UDP replies sent truncated by the rate limit */
	unsigned long long cache_hits;  /* names outside the zones answered from the cache */
	unsigned long long cache_stale; /* of those, expired answers (upstreams failing) */
	unsigned long long rcode[16];   /* replies sent, by the rcode in their header */
	unsigned long long tcp_open;    /* connections open now */
};

/* A reply went out: counted by the rcode in its header. */
static inline void servestats_count_reply(struct servestats *st, const uint8_t *wire, size_t len)
{
	if (len >= 4)
		SERVESTATS_INC(st->rcode[wire_rcode(wire)]);
}

/* Adds the counters of st (written by another thread) into sum; udp_main and tcp_open are the
 * caller's. */
void servestats_add(struct servestats *sum, const struct servestats *st);

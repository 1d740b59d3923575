/* Names outside every zone -> upstream resolvers, and their replies back. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "resolver/serve/upstats.h"

struct config;
struct forward;

/* reply: what to send the client (the client's ID and question case restored; SERVFAIL when
 * every upstream failed). NULL: cancelled at shutdown, send nothing. Valid during the call. */
typedef void (*forward_cb)(void *arg, const uint8_t *reply, size_t len);

/* Upstreams from cfg->upstream, else /etc/resolv.conf minus cfg->listen. 0 or negative errno. */
int forward_new(uv_loop_t *loop, const struct config *cfg, struct forward **out);
/* Forwards a client's query. max_reply: the client's limit (its UDP size, or 65535 on TCP); a
 * larger upstream answer is truncated with TC. cb runs exactly once, never inside this call.
 * <0 (cap on queries in flight reached, bad query): cb will not run, the caller answers. */
int forward_query(struct forward *f, const uint8_t *query, size_t len, size_t max_reply,
		  forward_cb cb, void *arg);
/* The SERVFAIL for a query forward_query() refused with err (or could not be given, err
 * -ENOMEM), its extended error (RFC 8914) saying why. 0, or <0 when query is malformed or out
 * (cap bytes) too small. */
int forward_refusal(const struct forward *f, int err, const uint8_t *query, size_t len,
		    uint8_t *out, size_t cap, size_t *out_len);
/* Cancels everything in flight (callbacks run with NULL), frees in the last close callback. */
void forward_close(struct forward *f);

/* Counters since forward_new, for metrics. */
struct forward_stats {
	uint64_t queries;     /* accepted by forward_query */
	uint64_t rejected;    /* refused by forward_query: cap reached, bad query, no upstream */
	uint64_t busy;        /* of those: forward-max-inflight reached */
	uint64_t answered;    /* an upstream's reply went to the client */
	uint64_t servfail;    /* every upstream failed or the budget ran out */
	uint64_t dropped;     /* replies ignored: other address, ID or question, malformed */
	uint64_t timeouts;    /* attempts that got no reply in time */
	uint64_t tcp_retries; /* truncated UDP replies retried over TCP */
	uint64_t inflight;    /* now */
	struct upstats upstreams;
};
void forward_stats_get(const struct forward *f, struct forward_stats *out);
/* How many upstreams are in use (after skipping our own listen addresses). */
size_t forward_upstream_count(const struct forward *f);

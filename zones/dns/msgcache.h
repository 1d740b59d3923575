/* The cache of forwarded answers, sans I/O: an upstream reply checked and cut down to what
 * answers its question, kept under (name, type, class, DO) with its TTL counted down, in bounded
 * memory. One writer (the loop that forwards) and readers on any thread, with no lock: readers
 * follow atomic pointers, and an entry the writer unlinks is freed only once every reader has
 * announced an epoch at least the one it was retired under (the caller's epochs: the registry's).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msgcache;

struct msgcache_limits {
	uint32_t min_ttl, max_ttl; /* clamp of answer TTLs, seconds */
	uint32_t max_negative_ttl; /* clamp of NXDOMAIN/NODATA TTLs (RFC 2308) */
	uint32_t failure_ttl;      /* how long a SERVFAIL or timeout is remembered */
	uint32_t stale_max; /* how long past expiry an answer may be served stale; 0: never */
	size_t max_bytes;   /* memory of the entries */
};

#define MSGCACHE_KEY_MAX (255 + 5)

/* A question: its name lowercased, type, class and the DO bit, and their hash. */
struct msgcache_key {
	uint64_t hash;
	size_t len;
	uint8_t data[MSGCACHE_KEY_MAX];
};

/* The key of a message's question (at offset 12, uncompressed). 0 or -EBADMSG. */
int msgcache_key_make(const uint8_t *msg, size_t len, bool do_bit, struct msgcache_key *k);

/* What an upstream reply leaves to cache: records with uncompressed names, every TTL the entry's.
 */
struct msgcache_parsed {
	uint8_t rcode;
	bool ad;
	uint16_t an, ns;
	uint32_t ttl;
	size_t len;       /* of records */
	size_t n_ttl;     /* TTL fields in records */
	uint8_t *records; /* caller's buffer, MSGCACHE_RECORDS_MAX bytes */
	uint16_t *ttl_at; /* caller's buffer, MSGCACHE_TTLS_MAX offsets */
	bool negative;    /* NXDOMAIN or NODATA */
};
#define MSGCACHE_RECORDS_MAX 65000
#define MSGCACHE_TTLS_MAX    (MSGCACHE_RECORDS_MAX / 11)

/*
 * Checks reply against k and keeps only what answers that question: answer records owned by the
 * name asked (or by a CNAME target of it, in chain order) of its type, class and CNAMEs (RRSIGs
 * of those when DO); for NXDOMAIN and NODATA the SOA of a zone holding the last name of the chain,
 * its TTL the smaller of its own and its MINIMUM (RFC 2308). Nothing else of the authority and
 * additional sections. 0; -ENOENT when nothing may be cached (another rcode, TC, a referral, a
 * negative answer without SOA, TTL 0); -EBADMSG when the reply is malformed or for another
 * question.
 */
int msgcache_parse_reply(const struct msgcache_key *k, const uint8_t *reply, size_t len,
			 const struct msgcache_limits *lim, struct msgcache_parsed *out);

/* NULL on ENOMEM. */
struct msgcache *msgcache_new(const struct msgcache_limits *lim);
/* Frees everything, retired entries too: no reader may be inside. NULL-safe. */
void msgcache_free(struct msgcache *c);

/* ---- readers, any thread, between an epoch announcement and its end ---- */

enum msgcache_result {
	MSGCACHE_MISS = 0,
	MSGCACHE_HIT = 1,   /* out holds the answer, TTLs counted down */
	MSGCACHE_STALE = 2, /* out holds an expired answer with TTL 30 and EDE 3 (RFC 8767) */
};

struct msgcache_ask {
	const uint8_t *query; /* the client's message; its question ends at qend */
	size_t len, qend;
	bool edns;          /* the client sent an OPT: the answer gets one */
	uint16_t edns_size; /* our UDP size in it */
	size_t max_reply;   /* longer answers are cut to a TC header */
	int64_t now_ms;     /* a monotonic clock, the writer's */
	bool stale_ok;      /* the upstreams just failed: an expired answer may do */
};

/* Answers a from the cache. *refresh: the caller is the one to refresh this entry in the
 * background (it is in the last tenth of its TTL, or being served stale). */
enum msgcache_result msgcache_answer(struct msgcache *c, const struct msgcache_key *k,
				     const struct msgcache_ask *a, uint8_t *out, size_t cap,
				     size_t *out_len, bool *refresh);

/* ---- the writer, one thread ---- */

/* Keeps reply (checked to answer k by the forwarder) for k: 0, -ENOENT (not cacheable; nothing
 * changed), -EBADMSG, -ENOMEM. Evicts the least recently used entries beyond the memory cap. */
int msgcache_store(struct msgcache *c, const struct msgcache_key *k, const uint8_t *reply,
		   size_t len, int64_t now_ms);
/* Every upstream failed for k: an entry of k (fresh or expired) is marked, so that for a while it
 * is served stale at once; without one, SERVFAIL is remembered for failure_ttl. */
void msgcache_store_failure(struct msgcache *c, const struct msgcache_key *k, int64_t now_ms);
/* A background refresh of k ended without storing: another may start. */
void msgcache_refresh_done(struct msgcache *c, const struct msgcache_key *k);
/* Drops every entry. */
void msgcache_flush(struct msgcache *c);

/* Entries unlinked since the last call wait for epoch (the caller's epoch counter, advanced after
 * they were unlinked); true when there were any. */
bool msgcache_seal(struct msgcache *c, uint64_t epoch);
/* Frees the unlinked entries whose epoch every reader has reached (min_seen). */
void msgcache_reclaim(struct msgcache *c, uint64_t min_seen);

struct msgcache_stats {
	uint64_t entries, bytes, evictions, stored;
};
void msgcache_stats_get(const struct msgcache *c, struct msgcache_stats *out);

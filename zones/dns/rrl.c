#include "zones/dns/rrl.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "zones/base/hash.h"
#include "zones/dns/wire.h"

#define RRL_WAYS     4    /* slots a prefix may live in: the oldest of them is evicted */
#define RRL_MILLI    1000 /* tokens are counted in thousandths of a response */
#define RRL_MAX_SIZE (1u << 24)

struct rrl_entry {
	uint8_t key[8]; /* /24: family, 3 bytes; /56: family, 7 bytes */
	bool used;
	uint32_t limited; /* limited responses so far, for the slip count */
	int64_t tokens;   /* thousandths of a response */
	uint64_t last_ms;
};

struct rrl {
	unsigned rate, slip;
	uint64_t seed;
	size_t mask; /* entries - 1 */
	struct rrl_entry *table;
};

struct rrl *rrl_new(unsigned rate, unsigned slip, size_t entries, uint64_t seed)
{
	size_t size = RRL_WAYS;

	if (rate == 0)
		return NULL;
	while (size < entries && size < RRL_MAX_SIZE)
		size <<= 1;
	struct rrl *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (!(r->table = calloc(size, sizeof(*r->table)))) {
		free(r);
		return NULL;
	}
	r->rate = rate;
	r->slip = slip;
	r->seed = seed;
	r->mask = size - 1;
	return r;
}

void rrl_free(struct rrl *r)
{
	if (!r)
		return;
	free(r->table);
	free(r);
}

/* The prefix of peer as a table key; false for a family we do not limit. */
static bool rrl_key(const struct sockaddr *sa, uint8_t key[8])
{
	memset(key, 0, 8);
	if (sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 3);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		key[0] = 6;
		memcpy(key + 1, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 7);
		return true;
	}
	return false;
}

bool rrl_same_prefix(const struct sockaddr *a, const struct sockaddr *b)
{
	uint8_t ka[8], kb[8];
	return rrl_key(a, ka) && rrl_key(b, kb) && memcmp(ka, kb, sizeof(ka)) == 0;
}

static size_t rrl_hash(const struct rrl *r, const uint8_t key[8])
{
	uint64_t h = hash_fnv64(r->seed ^ HASH_FNV64_INIT, key, 8);
	h ^= h >> 29;
	return (size_t)h;
}

/* The entry of key: found, a free slot, or the least recently used of its RRL_WAYS slots. */
static struct rrl_entry *rrl_slot(struct rrl *r, const uint8_t key[8], uint64_t now_ms)
{
	size_t base = rrl_hash(r, key) & r->mask & ~(size_t)(RRL_WAYS - 1);
	struct rrl_entry *victim = NULL;

	for (size_t i = 0; i < RRL_WAYS; i++) {
		struct rrl_entry *e = &r->table[base + i];
		if (e->used && memcmp(e->key, key, 8) == 0)
			return e;
		if (!victim || (victim->used && (!e->used || e->last_ms < victim->last_ms)))
			victim = e;
	}
	memcpy(victim->key, key, 8);
	victim->used = true;
	victim->limited = 0;
	victim->tokens = (int64_t)r->rate * RRL_MILLI; /* a new prefix starts with a full burst */
	victim->last_ms = now_ms;
	return victim;
}

enum rrl_action rrl_check(struct rrl *r, const struct sockaddr *peer, uint64_t now_ms)
{
	uint8_t key[8];

	if (!r || !rrl_key(peer, key))
		return RRL_SEND;
	struct rrl_entry *e = rrl_slot(r, key, now_ms);
	int64_t cap = (int64_t)r->rate * RRL_MILLI;
	if (now_ms > e->last_ms) {
		uint64_t dt = now_ms - e->last_ms;
		/* A full bucket refills in a second: cap dt so the product cannot overflow. */
		e->tokens += (int64_t)(dt > 1000 ? 1000 : dt) * r->rate;
		if (e->tokens > cap)
			e->tokens = cap;
		e->last_ms = now_ms;
	}
	if (e->tokens >= RRL_MILLI) {
		e->tokens -= RRL_MILLI;
		e->limited = 0;
		return RRL_SEND;
	}
	e->limited++;
	return r->slip && e->limited % r->slip == 0 ? RRL_SLIP : RRL_DROP;
}

size_t rrl_slip_reply(uint8_t *wire, size_t len)
{
	return wire_truncate(wire, len);
}

int rrl_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		return a[0] == 127;
	}
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return 0;
}

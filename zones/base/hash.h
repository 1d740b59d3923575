/* FNV-1a, the one hash of the tables here: names in a snapshot, cached messages, clients.
 * Inline, since the query path hashes every name it looks up. Not for keys an attacker may
 * choose to collide unless seeded (the seed goes into h). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define HASH_FNV32_INIT 2166136261u
#define HASH_FNV64_INIT 14695981039346656037ull

/* h continued over n bytes at p (start with HASH_FNV32_INIT). */
static inline uint32_t hash_fnv32(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* h continued over n bytes at p (start with HASH_FNV64_INIT). */
static inline uint64_t hash_fnv64(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* h continued over the string s and a separator byte 0xff, so that hashing "a" then "bc"
 * differs from "ab" then "c". */
static inline uint64_t hash_fnv64_str(uint64_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (h ^ 0xff) * 1099511628211ull;
}

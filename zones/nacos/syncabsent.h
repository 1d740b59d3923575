/* Names known not to exist, until a time: a fixed table of (hash, until) slots, so that random
 * names do not reach Nacos again before the negative TTL runs out. It forgets (a newer name
 * takes a slot over), it never grows. Pure: the caller hashes the names and tells the time. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define SYNCABSENT_SLOTS 8192

struct syncabsent;

struct syncabsent *syncabsent_new(void);    /* NULL on ENOMEM */
void syncabsent_free(struct syncabsent *a); /* NULL-safe */
/* hash: of the name, any value (0 included) */
bool syncabsent_has(const struct syncabsent *a, uint64_t hash, int64_t now_ms);
void syncabsent_add(struct syncabsent *a, uint64_t hash, int64_t until_ms);

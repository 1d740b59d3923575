#include "zones/nacos/syncabsent.h"

#include <stdlib.h>

struct syncabsent {
	struct syncabsent_slot {
		uint64_t hash; /* 0: free */
		int64_t until_ms;
	} slots[SYNCABSENT_SLOTS];
};

struct syncabsent *syncabsent_new(void)
{
	return calloc(1, sizeof(struct syncabsent));
}

void syncabsent_free(struct syncabsent *a)
{
	free(a);
}

bool syncabsent_has(const struct syncabsent *a, uint64_t hash, int64_t now_ms)
{
	hash |= 1; /* 0 marks a free slot */
	const struct syncabsent_slot *n = &a->slots[hash & (SYNCABSENT_SLOTS - 1)];
	return n->hash == hash && n->until_ms > now_ms;
}

void syncabsent_add(struct syncabsent *a, uint64_t hash, int64_t until_ms)
{
	hash |= 1;
	a->slots[hash & (SYNCABSENT_SLOTS - 1)] =
		(struct syncabsent_slot){.hash = hash, .until_ms = until_ms};
}

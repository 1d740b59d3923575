#include "registry.h"

#include <stdlib.h>

#include "snapshot.h"

/* One loop reads and writes the current pointer, so a published snapshot replaces the old one
 * between callbacks and no reader can still hold the old one when it is freed. */
struct registry {
	struct snapshot *current;
	unsigned generation;
};

struct registry *registry_new(struct snapshot *initial)
{
	struct registry *r = calloc(1, sizeof(*r));
	if (!r) {
		snapshot_free(initial);
		return NULL;
	}
	r->current = initial;
	r->generation = snapshot_generation(initial);
	return r;
}

const struct snapshot *registry_get(struct registry *r)
{
	return r->current;
}

void registry_publish_take(struct registry *r, struct snapshot *s)
{
	snapshot_free(r->current);
	r->current = s;
	if (snapshot_generation(s) > r->generation)
		r->generation = snapshot_generation(s);
}

unsigned registry_next_generation(struct registry *r)
{
	return ++r->generation;
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	snapshot_free(r->current);
	free(r);
}

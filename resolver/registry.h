/* Holds the snapshot the query path reads, and swaps in new ones. */
#pragma once

struct snapshot;
struct registry;

/* Takes initial (non-NULL). NULL on ENOMEM (initial is then freed). */
struct registry *registry_new(struct snapshot *initial);
/* Borrowed; valid until the calling loop callback returns. */
const struct snapshot *registry_get(struct registry *r);
/* Publishes s (taken); the old snapshot is freed once no reader can hold it. */
void registry_publish_take(struct registry *r, struct snapshot *s);
/* Next generation number for a new snapshot (SOA serial), strictly increasing. */
unsigned registry_next_generation(struct registry *r);
void registry_free(struct registry *r); /* NULL-safe */

/* Holds the snapshot the query path reads, and swaps in new ones. */
#pragma once
#include <stdint.h>

struct snapshot;
struct registry;
struct registry_reader;

/* Takes initial (non-NULL). NULL on ENOMEM (initial is then freed). */
struct registry *registry_new(struct snapshot *initial);
/* Borrowed; valid until the calling loop callback returns. */
const struct snapshot *registry_get(struct registry *r);
/* Publishes s (taken); the old snapshot is freed once no reader can hold it. */
void registry_publish_take(struct registry *r, struct snapshot *s);
/* Next generation number for a new snapshot (SOA serial), strictly increasing. */
unsigned registry_next_generation(struct registry *r);
/* Every reader must be freed first. NULL-safe. */
void registry_free(struct registry *r);
/* Frees the retired snapshots that no reader can hold any more (publishing does it too). */
void registry_reclaim(struct registry *r);

/* A thread other than the publisher's loop reads through its own reader: enter returns the
 * current snapshot, borrowed until leave (or the next enter); between batches of queries a
 * reader is offline and holds nothing, so old snapshots can be freed. No lock, no allocation. */
struct registry_reader *registry_reader_new(struct registry *r); /* NULL on ENOMEM */
void registry_reader_free(struct registry_reader *rd);           /* NULL-safe; must be offline */
const struct snapshot *registry_reader_enter(struct registry_reader *rd);
void registry_reader_leave(struct registry_reader *rd);
/* The epoch the reader announced at its last enter, or UINT64_MAX while offline. */
uint64_t registry_reader_epoch(const struct registry_reader *rd);

/* For other structures whose readers are the same threads (the forward cache): advances the epoch
 * and returns it, to tag what was unlinked before the call; and the smallest epoch a reader has
 * announced (UINT64_MAX: none online), up to which tagged things may be freed. */
uint64_t registry_epoch_advance(struct registry *r);
uint64_t registry_epoch_min_seen(struct registry *r);

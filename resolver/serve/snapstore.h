/* Holds the snapshot the query path reads, and swaps in new ones. */
#pragma once
#include <stdint.h>

struct snapshot;
struct snapstore;
struct snapstore_reader;

/* Takes initial (non-NULL). NULL on ENOMEM (initial is then freed). */
struct snapstore *snapstore_new(struct snapshot *initial);
/* Borrowed; valid until the calling loop callback returns. */
const struct snapshot *snapstore_get(struct snapstore *r);
/* Publishes s (taken); the old snapshot is freed once no reader can hold it. */
void snapstore_publish_take(struct snapstore *r, struct snapshot *s);
/* Next generation number for a new snapshot (SOA serial), strictly increasing. */
unsigned snapstore_next_generation(struct snapstore *r);
/* Every reader must be freed first. NULL-safe. */
void snapstore_free(struct snapstore *r);
/* Frees the retired snapshots that no reader can hold any more (publishing does it too). */
void snapstore_reclaim(struct snapstore *r);

/* A thread other than the publisher's loop reads through its own reader: enter returns the
 * current snapshot, borrowed until leave (or the next enter); between batches of queries a
 * reader is offline and holds nothing, so old snapshots can be freed. No lock, no allocation. */
struct snapstore_reader *snapstore_reader_new(struct snapstore *r); /* NULL on ENOMEM */
void snapstore_reader_free(struct snapstore_reader *rd);           /* NULL-safe; must be offline */
const struct snapshot *snapstore_reader_enter(struct snapstore_reader *rd);
void snapstore_reader_leave(struct snapstore_reader *rd);
/* The epoch the reader announced at its last enter, or UINT64_MAX while offline. */
uint64_t snapstore_reader_epoch(const struct snapstore_reader *rd);

/* For other structures whose readers are the same threads (the forward cache): advances the epoch
 * and returns it, to tag what was unlinked before the call; and the smallest epoch a reader has
 * announced (UINT64_MAX: none online), up to which tagged things may be freed. */
uint64_t snapstore_epoch_advance(struct snapstore *r);
uint64_t snapstore_epoch_min_seen(struct snapstore *r);

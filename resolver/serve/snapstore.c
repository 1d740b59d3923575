#include "resolver/serve/snapstore.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <uv.h>

#include "zones/data/snapshot.h"

/* Quiescent-state reclamation. The publisher swaps the pointer, bumps the epoch, and retires the
 * old snapshot tagged with the new epoch. A reader announces the epoch it saw before it loads the
 * pointer, so a reader whose announcement is at least the tag loaded the pointer after the swap
 * and cannot hold the retired snapshot; one that is offline holds nothing. The main loop reads
 * with snapstore_get and publishes between its callbacks, so it needs no announcement. */
#define REGISTRY_OFFLINE UINT64_MAX

struct snapstore_reader {
	alignas(64) _Atomic uint64_t seen; /* epoch announced, or REGISTRY_OFFLINE */
	struct snapstore_reader *next;      /* under the registry's lock */
	struct snapstore *r;
};

struct registry_retired {
	struct snapshot *snap;
	uint64_t epoch; /* free once every reader announced this or is offline */
	struct registry_retired *next;
};

struct snapstore {
	_Atomic(struct snapshot *) current;
	_Atomic uint64_t epoch;
	unsigned generation; /* publisher side only */
	uv_mutex_t lock;     /* readers and retired; never taken by a reader's query */
	struct snapstore_reader *readers;
	struct registry_retired *retired;
};

struct snapstore *snapstore_new(struct snapshot *initial)
{
	struct snapstore *r = calloc(1, sizeof(*r));
	if (!r || uv_mutex_init(&r->lock) < 0) {
		free(r);
		snapshot_free(initial);
		return NULL;
	}
	atomic_init(&r->current, initial);
	atomic_init(&r->epoch, 1);
	r->generation = snapshot_generation(initial);
	return r;
}

const struct snapshot *snapstore_get(struct snapstore *r)
{
	return atomic_load_explicit(&r->current, memory_order_acquire);
}

/* The smallest epoch any reader announced. Called with the lock held. */
static uint64_t registry_min_seen(struct snapstore *r)
{
	uint64_t min = REGISTRY_OFFLINE;

	for (struct snapstore_reader *rd = r->readers; rd; rd = rd->next) {
		uint64_t e = atomic_load(&rd->seen);
		if (e < min)
			min = e;
	}
	return min;
}

/* Frees the retired snapshots no reader can hold. Called with the lock held. */
static void registry_reclaim_locked(struct snapstore *r)
{
	uint64_t min = registry_min_seen(r);
	struct registry_retired **pp = &r->retired;

	while (*pp) {
		struct registry_retired *t = *pp;
		if (t->epoch > min) {
			pp = &t->next;
			continue;
		}
		*pp = t->next;
		snapshot_free(t->snap);
		free(t);
	}
}

void snapstore_publish_take(struct snapstore *r, struct snapshot *s)
{
	struct registry_retired *t = malloc(sizeof(*t));
	struct snapshot *old = atomic_exchange(&r->current, s);

	if (snapshot_generation(s) > r->generation)
		r->generation = snapshot_generation(s);
	uv_mutex_lock(&r->lock);
	uint64_t epoch = atomic_fetch_add(&r->epoch, 1) + 1;
	if (!r->readers) {
		snapshot_free(old); /* the main loop is between callbacks: nobody holds it */
		free(t);
	} else if (t) {
		*t = (struct registry_retired){.snap = old, .epoch = epoch, .next = r->retired};
		r->retired = t;
	} else {
		/* Out of memory for the list: wait for the readers rather than leak or free early.
		 */
		while (registry_min_seen(r) < epoch)
			uv_sleep(1);
		snapshot_free(old);
	}
	registry_reclaim_locked(r);
	uv_mutex_unlock(&r->lock);
}

void snapstore_reclaim(struct snapstore *r)
{
	uv_mutex_lock(&r->lock);
	registry_reclaim_locked(r);
	uv_mutex_unlock(&r->lock);
}

unsigned snapstore_next_generation(struct snapstore *r)
{
	return ++r->generation;
}

struct snapstore_reader *snapstore_reader_new(struct snapstore *r)
{
	struct snapstore_reader *rd = aligned_alloc(64, sizeof(*rd));

	if (!rd)
		return NULL;
	atomic_init(&rd->seen, REGISTRY_OFFLINE);
	rd->r = r;
	uv_mutex_lock(&r->lock);
	rd->next = r->readers;
	r->readers = rd;
	uv_mutex_unlock(&r->lock);
	return rd;
}

void snapstore_reader_free(struct snapstore_reader *rd)
{
	if (!rd)
		return;
	struct snapstore *r = rd->r;
	uv_mutex_lock(&r->lock);
	for (struct snapstore_reader **pp = &r->readers; *pp; pp = &(*pp)->next) {
		if (*pp == rd) {
			*pp = rd->next;
			break;
		}
	}
	uv_mutex_unlock(&r->lock);
	free(rd);
}

const struct snapshot *snapstore_reader_enter(struct snapstore_reader *rd)
{
	atomic_store(&rd->seen, atomic_load(&rd->r->epoch));
	return atomic_load(&rd->r->current);
}

void snapstore_reader_leave(struct snapstore_reader *rd)
{
	atomic_store_explicit(&rd->seen, REGISTRY_OFFLINE, memory_order_release);
}

uint64_t snapstore_reader_epoch(const struct snapstore_reader *rd)
{
	return atomic_load_explicit(&rd->seen, memory_order_relaxed);
}

void snapstore_free(struct snapstore *r)
{
	if (!r)
		return;
	while (r->retired) {
		struct registry_retired *t = r->retired;
		r->retired = t->next;
		snapshot_free(t->snap);
		free(t);
	}
	snapshot_free(atomic_load(&r->current));
	uv_mutex_destroy(&r->lock);
	free(r);
}

uint64_t snapstore_epoch_advance(struct snapstore *r)
{
	return atomic_fetch_add(&r->epoch, 1) + 1;
}

uint64_t snapstore_epoch_min_seen(struct snapstore *r)
{
	uv_mutex_lock(&r->lock);
	uint64_t min = registry_min_seen(r);
	uv_mutex_unlock(&r->lock);
	return min;
}

/* The tracked services and the data held for each: a table by (namespace, group, name), and
 * the rules for taking a fresh answer in, whatever transport brought it (change detection, the
 * guard against a mass removal, and data lent to a build never changed in place). No I/O but
 * the log: its functions say whether the data to serve changed, and the owner publishes. Runs
 * on the sync's loop thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resolver/sync/syncwait.h"
#include "zones/nacos/syncpolicy.h"

struct lending;
struct nacos_registry;
struct nacos_service;
struct synctrack;

#define SYNCTRACK_HOLD_MS 30000 /* the guard holds removals back at least this long */

/* A tracked service: polled while it is queried (or always with track = all). The owner reads
 * and sets the fields but svc (changed only through this room) and those marked "table". */
struct synctrack_entry {
	struct synctrack_entry *hnext; /* table */
	uint32_t hash;                 /* table */
	char *ns, *group, *name;       /* table; fixed while tracked */
	struct nacos_service *svc;     /* last good copy (owned); NULL: never fetched */
	int64_t last_used_ms, next_poll_ms;
	bool inflight;   /* a call holds this entry */
	bool doomed;     /* table: untracked while in flight, freed when the call settles */
	bool failing;    /* the last fetch failed (logged once per change) */
	bool held;       /* the last answer was held back by the guard */
	bool subscribed; /* the last poll carried udpPort: Nacos pushes changes of it */
	bool push_ok;    /* a push for it arrived since: polls may slow down */
	/* The server its calls go to: lastRefTime is the answering node's wall clock
	 * (naming/utils/ServiceUtil.java), data reaches other nodes later (Distro), and each node
	 * keeps its own push subscribers, so one service talks to one node until it fails. */
	size_t server;     /* SIZE_MAX: none yet */
	int64_t ref_ms;    /* that server's lastRefTime (ms) of the data held; 0: unknown */
	int64_t pushed_ms; /* loop time a push was last applied */
	int64_t polled_ms; /* loop time the poll in flight was sent */
	struct syncpolicy_streak streak; /* failures, for the log */
	size_t skipped_logged;           /* instances the last answer logged as skipped */
	struct syncwait_list waiters;    /* queries waiting for its first data */
};

struct synctrack_stats {
	uint64_t held_back;    /* answers and listings held back by the guard */
	uint64_t over_tracked; /* services not tracked: max-tracked reached */
	uint64_t tracked, stale;
};

/* max: max-tracked (read at each add); data replaced is retired through lent. NULL on ENOMEM. */
struct synctrack *synctrack_new(struct lending *lent, const unsigned *max);
void synctrack_free(struct synctrack *t); /* NULL-safe; frees every entry, doomed ones too */
/* The key of (ns, group, name), for the table and for tables of names beside it. */
uint64_t synctrack_key(const char *ns, const char *group, const char *name);

struct synctrack_entry *synctrack_find(struct synctrack *t, const char *ns, const char *group,
				       const char *name);
/* A new entry, last used now. NULL: max-tracked reached (counted, logged once) or ENOMEM. */
struct synctrack_entry *synctrack_add(struct synctrack *t, const char *ns, const char *group,
				      const char *name, int64_t now_ms);
/* Takes e out of the table (its waiters are the owner's to run next; e's data is still there
 * for them), then synctrack_release drops its data and frees it, or dooms it while in flight. */
void synctrack_unlink(struct synctrack *t, struct synctrack_entry *e);
void synctrack_release(struct synctrack *t, struct synctrack_entry *e);
/* A call on e ended: false when e was untracked meanwhile (it is freed now). */
bool synctrack_settle(struct synctrack_entry *e);
size_t synctrack_count(const struct synctrack *t);
/* Walks the table: first, then next (NULL at the end). An entry may be removed once its next
 * is taken, but nothing may be added during the walk (the table may grow). */
struct synctrack_entry *synctrack_first(const struct synctrack *t);
struct synctrack_entry *synctrack_next(const struct synctrack *t, const struct synctrack_entry *e);
/* The entries for which pick(e, arg) holds, as an array to walk instead of the table when the
 * work may run waiters, whose callbacks may add entries. NULL when none (or no memory). */
struct synctrack_entry **synctrack_pick(struct synctrack *t,
					bool (*pick)(const struct synctrack_entry *, const void *),
					const void *arg, size_t *n);

/* The guard's window (a poll round) and hold; init starts it afresh, else a hold goes on. */
void synctrack_guard_setup(struct synctrack *t, int64_t window_ms, int64_t hold_ms, bool init);
/* Whether a listing that takes `lost` instances away may be applied now; false: held back
 * (counted; *started when this began the hold). */
bool synctrack_guard_allow(struct synctrack *t, int64_t now_ms, size_t lost, bool *started);
size_t synctrack_instances(const struct synctrack *t); /* of every entry's data */
/* e's data, safe to change: while a build may read it, a copy takes its place. NULL: none, or
 * no memory. */
struct nacos_service *synctrack_edit(struct synctrack *t, struct synctrack_entry *e);
/* Marks e's data as served stale, or not. true when that changed. */
bool synctrack_mark_stale(struct synctrack *t, struct synctrack_entry *e, bool stale);
/* Before svc is taken for e: it keeps the names e was asked by (an answer names the service as
 * Nacos spells it), and says where it came from (server URL, API) and when (wall clock, ms). */
void synctrack_stamp(const struct synctrack_entry *e, struct nacos_service *svc, const char *url,
		     const char *api, int64_t wall_ms);
/* A polled list for e (svc taken) from server index `server`, with that server's lastRefTime
 * ref (0: none). The answer of e's own server wins, as in the Nacos SDKs, unless a push from
 * that server brought newer data while this poll was out: so neither a clock running ahead nor
 * a node that lags can pin old data. An answer from another server (failover) starts the
 * comparison afresh. true when the data to serve changed. */
bool synctrack_take(struct synctrack *t, struct synctrack_entry *e, struct nacos_service *svc,
		    size_t server, int64_t ref, int64_t now_ms);
/* Applies a fresh list for e (svc taken), unless the guard holds it back (then e's data stays,
 * served stale). true when the data to serve changed. */
bool synctrack_apply(struct synctrack *t, struct synctrack_entry *e, struct nacos_service *svc,
		     int64_t now_ms);
/* Every service of r (the cache file's) not tracked yet becomes tracked, its data taken from r
 * and marked stale until fetched again. How many, or -ENOMEM (or max-tracked) part way. */
int synctrack_adopt(struct synctrack *t, struct nacos_registry *r, int64_t now_ms);
/* Every entry's data, grouped by namespace into a registry: borrowed, not copied (free it with
 * nacos_registry_free_lent), so that writing the cache costs the loop no copy. NULL on ENOMEM. */
struct nacos_registry *synctrack_lend(struct synctrack *t);
void synctrack_get_stats(const struct synctrack *t, struct synctrack_stats *out);

/* The catalogs: the service names of each listed group of each zone's namespace, in slots that
 * never move while calls point at them; and what one listing does to them, whatever transport
 * brought its pages (merging pages, what a listing may remove, when a group counts as
 * unlistable). Knows no tracked services: the owner says what a name leaving costs and does.
 * Everything here runs on the sync's loop thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zones/nacos/syncpolicy.h"

struct config;
struct synccat;

/* One group of one namespace. The owner reads the fields; the room changes them. */
struct synccat_catalog {
	char *ns, *group; /* NULL: a free slot */
	char **names;     /* sorted */
	size_t n;
	bool valid; /* listed successfully at least once */
	bool inflight, failing;
	bool dynamic;         /* added because a query named its group: expires when unused */
	bool refused;         /* the last listing was refused (403, or no list API) */
	unsigned fail_streak; /* listings failed in a row */
	struct syncpolicy_streak streak;
	int64_t last_used_ms; /* dynamic: when a query last named the group (the owner sets it) */
	char **acc;           /* the listing being paged in */
	size_t n_acc, first_total;
	size_t n_raw;  /* items of the pages so far, of every group the server matched */
	unsigned page; /* the page being asked, from 1 */
};

struct synccat_hooks {
	void *owner;
	/* The instances held for name of cat: what its leaving the catalog would remove. */
	size_t (*held)(void *owner, const struct synccat_catalog *cat, const char *name);
	/* Whether removing `lost` instances (> 0) at once may go now; false: held back. */
	bool (*allow)(void *owner, const struct synccat_catalog *cat, size_t lost);
	/* name left cat (logged here): its data goes. */
	void (*gone)(void *owner, const struct synccat_catalog *cat, const char *name);
};

/* One catalog per (zone namespace, group of cfg->groups, "DEFAULT_GROUP" when none), none
 * listed yet, with room for max-groups more when any-group is on. NULL on ENOMEM; h copied. */
struct synccat *synccat_new(const struct config *cfg, const struct synccat_hooks *h);
void synccat_free(struct synccat *c); /* NULL-safe */
/* The slots, free ones included: i < synccat_slots; synccat_slot is NULL for a free one. */
size_t synccat_slots(const struct synccat *c);
struct synccat_catalog *synccat_slot(struct synccat *c, size_t i);
struct synccat_catalog *synccat_find(struct synccat *c, const char *ns, const char *group);
/* Never listed, and refused or failing SYNCCAT_UNLISTABLE_STREAK times in a row: queries for
 * its names fetch them by name. */
#define SYNCCAT_UNLISTABLE_STREAK 3
bool synccat_unlistable(const struct synccat_catalog *cat);
/* Listed, or known not to be: what is missing from it is settled one way or the other. */
bool synccat_settled(const struct synccat_catalog *cat);
bool synccat_lists(const struct synccat_catalog *cat, const char *name);
/* Whether a catalog of ns (not one a query added) is not settled yet: its zone is partial. */
bool synccat_partial(struct synccat *c, const char *ns);
/* A catalog for a group a query named (dynamic). NULL: no memory, or *full: max_groups are
 * there already (then the one longest unused of those found empty is made to expire at the
 * next synccat_expire, so that random names cannot hold every place). */
struct synccat_catalog *synccat_add(struct synccat *c, const char *ns, const char *group,
				    int64_t now_ms, unsigned max_groups, bool *full);
/* Empties cat's slot. */
void synccat_forget(struct synccat_catalog *cat);
/* fresh takes over the names of the catalogs of old it has too (a reload). */
void synccat_take_over(struct synccat *fresh, struct synccat *old);

/* A listing of cat begins, on page 1. */
void synccat_begin(struct synccat_catalog *cat);
/* The listing moves to another server: its pages start over. */
void synccat_restart(struct synccat_catalog *cat);
/* The listing ends without a result (cancelled). */
void synccat_abort(struct synccat_catalog *cat);
/* One page: names (n, taken) of a page of `items` entries (page_size asked) of the `total` the
 * server counts. 1: ask for the next page (cat->page); 0: that was the last (call
 * synccat_finish); -E2BIG (over max names) or -ENOMEM: the listing failed (call
 * synccat_failed). */
int synccat_page(struct synccat_catalog *cat, char **names, size_t n, size_t items, size_t total,
		 size_t page_size, size_t max);
/* The listing is complete, total as its last page said: its names become cat's. *first: cat
 * was listed for the first time; returns whether its names changed. */
bool synccat_finish(struct synccat *c, struct synccat_catalog *cat, size_t total, bool *first);
/* The listing failed (refused: a server said no). true: cat just became unlistable. */
bool synccat_failed(struct synccat_catalog *cat, const char *why, bool refused, int64_t now_ms);

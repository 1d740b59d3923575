/* The arithmetic of one group's service-name listing: paging, merging pages, and telling which
 * names left. Pure (no I/O), so that the sync's catalog rules are unit-tested. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* Sorts v and drops (frees) repeated names: pages of a changing set may repeat names. */
void synccatalog_normalise(char **v, size_t *n);
/* *fresh (n names) plus a copy of each of old's, normalised: for a listing that cannot be
 * trusted to remove any. On allocation failure *fresh keeps what it had. */
void synccatalog_union(char ***fresh, size_t *n, char *const *old, size_t n_old);
/* Moves the n names (an array of n, freed here) to the end of *acc. -E2BIG when that would hold
 * over max names, -ENOMEM; on error names are freed and *acc is unchanged. */
int synccatalog_append(char ***acc, size_t *n_acc, char **names, size_t n, size_t max);
/* Whether page `page` (from 1) that held `got` items of `total` calls for the next one: a short
 * page is the last whatever totalCount says, and at most max_pages are asked. */
bool synccatalog_more(size_t got, unsigned page, size_t page_size, size_t total,
		      unsigned max_pages);
/* A listing whose totalCount moved between its first and last page, or whose pages held fewer
 * items than that, skipped names: it may add names, never remove them. */
bool synccatalog_partial(size_t first_total, size_t last_total, size_t n_raw);
/* Calls cb (when not NULL) for each name of old missing from fresh, both sorted; returns how
 * many there are. */
size_t synccatalog_gone(char *const *old, size_t n_old, char *const *fresh, size_t n,
			void (*cb)(void *arg, const char *name), void *arg);
/* qsort/bsearch comparison of two char * */
int synccatalog_strcmp(const void *a, const void *b);

/* Queries waiting for the sync: each on a list (a service's, or the one of queries waiting for
 * a listing), answered when the owner runs the list or when its timer ends, whichever is
 * first. Knows no services: the owner says what snapshot answers a list's waiters and whether a
 * waiter's condition holds. Everything here runs on the sync's loop thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct snapshot;
struct syncwait;
struct syncwait_item;

/* snap: what to answer from (valid during the call), NULL: the registry; absent: the name is
 * known not to exist. The same shape as sync_fetch_cb. */
typedef void (*syncwait_cb)(void *arg, const struct snapshot *snap, bool absent);

/* A list of waiters, embedded in what they wait for; zero-initialised is empty. */
struct syncwait_list {
	struct syncwait_item *head;
};

struct syncwait_hooks {
	void *owner;
	/* A snapshot answering the waiters on subject's list (owned by the caller of syncwait_*,
	 * freed after use), or NULL (subject NULL included). */
	struct snapshot *(*snap)(void *owner, void *subject);
	/* Whether a waiter waiting for cond (not NULL) may run now. */
	bool (*ready)(void *owner, const void *cond);
	/* The last waiter's timer closed after syncwait_close. */
	void (*closed)(void *owner);
};

/* max: how many waiters may wait at once (read at each add: a reload may change it). NULL on
 * ENOMEM; h is copied. */
struct syncwait *syncwait_new(uv_loop_t *loop, const unsigned *max, const struct syncwait_hooks *h);
/* cb runs after timeout_ms (told absent) unless list is run first; cond (may be NULL) holds the
 * waiter back at runs until the ready hook says it may go. Never inside this call. 0, or -EBUSY
 * (the cap: counted, logged once), -ENOMEM: cb will not run. */
int syncwait_add(struct syncwait *w, struct syncwait_list *list, void *subject, const void *cond,
		 uint64_t timeout_ms, bool absent, syncwait_cb cb, void *arg);
/* Runs list's waiters (those whose cond is ready) with the hook's snapshot of subject. The list
 * is taken first: a callback may add waiters to it, for the next run. */
void syncwait_run(struct syncwait *w, struct syncwait_list *list, void *subject);
/* The conditions of list's waiters are gone (a reload): they run at the next run. */
void syncwait_forget_conds(struct syncwait_list *list);
static inline bool syncwait_empty(const struct syncwait_list *list)
{
	return !list->head;
}
/* No more waiters come; the closed hook runs once every timer is closed (maybe inside). */
void syncwait_close(struct syncwait *w);
void syncwait_free(struct syncwait *w); /* NULL-safe; after the closed hook, or before any add */
uint64_t syncwait_refused(const struct syncwait *w); /* adds refused by the cap */

/* The sync's decisions that depend on nothing but numbers: backoff, jitter, token refresh,
 * idle tracking, change detection and the guard against mass removal. Pure, unit-tested. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nacos_service;

/* Delay before a server that failed `failures` times in a row (>= 1) is tried again:
 * 500 ms doubling up to 10 s (a poll or two: a recovered Nacos is
 * used again soon), minus up to 20 % (from rnd) so that nodes do not march in step. */
int64_t syncpolicy_backoff_ms(unsigned failures, uint32_t rnd);
/* interval minus up to 10 % (from rnd), at least 1: spreads nodes without ever waiting longer
 * than the interval, so poll-interval stays the bound on staleness. */
int64_t syncpolicy_jitter_ms(int64_t interval_ms, uint32_t rnd);
/* When to log in again: at 90 % of the token's lifetime, the lifetime taken as at least
 * SYNCPOLICY_TOKEN_TTL_MIN_S and at most SYNCPOLICY_TOKEN_TTL_MAX_S whatever Nacos said (an
 * auth plugin may send INT64_MAX for "never"). */
#define SYNCPOLICY_TOKEN_TTL_MIN_S 10
#define SYNCPOLICY_TOKEN_TTL_MAX_S (30 * 86400)
int64_t syncpolicy_token_refresh_at(int64_t obtained_ms, int64_t ttl_s);

/* Logins to one server within a minute, whatever its answers say: Nacos checks passwords
 * with BCrypt, so a login storm is a denial of service against it. */
#define SYNCPOLICY_LOGINS_PER_MINUTE 10
struct syncpolicy_logins {
	int64_t window_start_ms;
	unsigned count;
};
/* true when one more login fits in the current minute; then it is counted. */
bool syncpolicy_login_take(struct syncpolicy_logins *l, int64_t now_ms);
/* How long an unqueried service stays tracked: 10 catalog periods, at least 5 minutes. */
int64_t syncpolicy_idle_ms(int64_t catalog_interval_ms);

enum syncpolicy_change {
	SYNCPOLICY_NEW,     /* nothing known before */
	SYNCPOLICY_SAME,    /* same instances and attributes */
	SYNCPOLICY_CHANGED, /* anything else */
};
enum syncpolicy_change syncpolicy_compare(const struct nacos_service *old,
					  const struct nacos_service *fresh);

/*
 * The guard against a Nacos that restarts empty. Within one window (a poll round), removals
 * that would take away more than half of the instances present at the window's start are held
 * back. The hold lasts hold_ms; if Nacos still says the same afterwards, the removals are
 * applied during a release of two windows. Registries under GUARD_MIN instances are never held.
 */
#define SYNCPOLICY_GUARD_MIN 10

struct syncpolicy_guard {
	int64_t window_ms, hold_ms;
	int64_t window_start_ms;
	size_t baseline; /* instances at the window's start */
	size_t removed;  /* instances removed in this window */
	int64_t hold_until_ms, release_until_ms;
	bool holding;
};

void syncpolicy_guard_init(struct syncpolicy_guard *g, int64_t window_ms, int64_t hold_ms);
/* An answer would remove `removing` instances (> 0) from a registry of `total` instances now.
 * true: apply it. false: hold it back (*started_hold set when this call began the hold). */
bool syncpolicy_guard_allow(struct syncpolicy_guard *g, int64_t now_ms, size_t total,
			    size_t removing, bool *started_hold);
/* Nacos answers again with data a hold kept: the hold ends without a release, so that a later
 * blip (an empty answer at the moment a hold would have been released) is held again rather
 * than applied. */
void syncpolicy_guard_recovered(struct syncpolicy_guard *g);

/* The next of n servers to ask, from *rr on (then advanced past it), skipping those tried (a
 * bit per server) and those whose retry_at_ms is after now while others are not; when every
 * untried one backs off, the one ready soonest. SIZE_MAX: every server was tried. */
size_t syncpolicy_pick_server(const int64_t *retry_at_ms, size_t n, size_t *rr, uint32_t tried,
			      int64_t now_ms);

/* With pushes arriving, polls may slow down to Nacos's cacheMillis, but 1.x forgets a push
 * subscriber after 10 s without a list call from it. */
#define SYNCPOLICY_PUSH_MAX_POLL_MS 10000
/* The poll period of a service: while pushes reach it (pushed), stretched towards its
 * cacheMillis (<= 0: unknown), but to no more than twice poll_ms (a lost push, UDP being best
 * effort, waits at most that long) and below SYNCPOLICY_PUSH_MAX_POLL_MS (jitter adds 10 %). */
int64_t syncpolicy_poll_ms(int64_t poll_ms, bool pushed, int64_t cache_millis);

/* A token bucket: rate per second after a burst. */
struct syncpolicy_bucket {
	double rate, burst, tokens;
	int64_t at_ms;
};
void syncpolicy_bucket_init(struct syncpolicy_bucket *b, double rate, double burst, int64_t now_ms);
/* true when a token was there (then taken). */
bool syncpolicy_bucket_take(struct syncpolicy_bucket *b, int64_t now_ms);

/* A run of failures: logged when it starts, then at most once per SYNCPOLICY_STREAK_LOG_MS
 * with how many failed meanwhile and the latest reason, so that a reason that changes (a
 * catalog that turned invalid) is seen. */
#define SYNCPOLICY_STREAK_LOG_MS 60000
struct syncpolicy_streak {
	int64_t logged_ms;
	unsigned unlogged;
};
/* Whether a failure (the first of a run when first) is to be logged now; then *n is how many
 * went unlogged before it. */
bool syncpolicy_streak_due(struct syncpolicy_streak *k, int64_t now_ms, bool first, unsigned *n);

#include "zones/nacos/syncpolicy.h"

#include "zones/nacos/nacos.h"

int64_t syncpolicy_backoff_ms(unsigned failures, uint32_t rnd)
{
	int64_t ms = 500;
	for (unsigned i = 1; i < failures && ms < 10000; i++)
		ms *= 2;
	if (ms > 10000)
		ms = 10000;
	return ms - (int64_t)(rnd % 1000) * ms / 5000; /* up to 20 % less */
}

int64_t syncpolicy_jitter_ms(int64_t interval_ms, uint32_t rnd)
{
	int64_t spread = interval_ms / 10;
	int64_t ms = interval_ms;
	if (spread > 0)
		ms -= (int64_t)(rnd % (uint32_t)(spread + 1));
	return ms > 0 ? ms : 1;
}

int64_t syncpolicy_token_refresh_at(int64_t obtained_ms, int64_t ttl_s)
{
	if (ttl_s < SYNCPOLICY_TOKEN_TTL_MIN_S)
		ttl_s = SYNCPOLICY_TOKEN_TTL_MIN_S;
	if (ttl_s > SYNCPOLICY_TOKEN_TTL_MAX_S)
		ttl_s = SYNCPOLICY_TOKEN_TTL_MAX_S;
	return obtained_ms + ttl_s * 900; /* 90 % of ttl_s * 1000 */
}

bool syncpolicy_login_take(struct syncpolicy_logins *l, int64_t now_ms)
{
	if (l->count == 0 || now_ms - l->window_start_ms >= 60000 || now_ms < l->window_start_ms) {
		l->window_start_ms = now_ms;
		l->count = 0;
	}
	if (l->count >= SYNCPOLICY_LOGINS_PER_MINUTE)
		return false;
	l->count++;
	return true;
}

int64_t syncpolicy_idle_ms(int64_t catalog_interval_ms)
{
	int64_t ms = 10 * catalog_interval_ms;
	return ms > 300000 ? ms : 300000;
}

enum syncpolicy_change syncpolicy_compare(const struct nacos_service *old,
					  const struct nacos_service *fresh)
{
	if (!old)
		return SYNCPOLICY_NEW;
	if (old->protect_threshold == fresh->protect_threshold &&
	    nacos_service_same_instances(old, fresh))
		return SYNCPOLICY_SAME;
	return SYNCPOLICY_CHANGED;
}

void syncpolicy_guard_init(struct syncpolicy_guard *g, int64_t window_ms, int64_t hold_ms)
{
	*g = (struct syncpolicy_guard){
		.window_ms = window_ms, .hold_ms = hold_ms, .window_start_ms = INT64_MIN / 2};
}

void syncpolicy_guard_recovered(struct syncpolicy_guard *g)
{
	g->holding = false;
	g->release_until_ms = 0;
}

bool syncpolicy_guard_allow(struct syncpolicy_guard *g, int64_t now_ms, size_t total,
			    size_t removing, bool *started_hold)
{
	*started_hold = false;
	if (g->holding && now_ms >= g->hold_until_ms) {
		g->holding = false; /* Nacos kept saying it: believe it for two windows, so that */
		g->release_until_ms = now_ms + 2 * g->window_ms; /* every jittered poll lands */
	}
	if (g->holding)
		return false;
	if (now_ms < g->release_until_ms)
		return true;
	if (now_ms - g->window_start_ms >= g->window_ms) {
		g->window_start_ms = now_ms;
		g->baseline = total;
		g->removed = 0;
	}
	if (g->baseline >= SYNCPOLICY_GUARD_MIN && 2 * (g->removed + removing) > g->baseline) {
		g->holding = true;
		g->hold_until_ms = now_ms + g->hold_ms;
		*started_hold = true;
		return false;
	}
	g->removed += removing;
	return true;
}

size_t syncpolicy_pick_server(const int64_t *retry_at_ms, size_t n, size_t *rr, uint32_t tried,
			      int64_t now_ms)
{
	size_t best = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		size_t idx = (*rr + i) % n;
		if (tried & (1u << idx))
			continue;
		if (retry_at_ms[idx] <= now_ms) {
			*rr = idx + 1;
			return idx;
		}
		if (best == SIZE_MAX || retry_at_ms[idx] < retry_at_ms[best])
			best = idx;
	}
	return best;
}

int64_t syncpolicy_poll_ms(int64_t poll_ms, bool pushed, int64_t cache_millis)
{
	int64_t stretch = SYNCPOLICY_PUSH_MAX_POLL_MS;
	if (!pushed)
		return poll_ms;
	if (cache_millis > 0 && cache_millis < stretch)
		stretch = cache_millis;
	if (2 * poll_ms < stretch)
		stretch = 2 * poll_ms;
	stretch = stretch * 9 / 10;
	return stretch > poll_ms ? stretch : poll_ms;
}

void syncpolicy_bucket_init(struct syncpolicy_bucket *b, double rate, double burst, int64_t now_ms)
{
	*b = (struct syncpolicy_bucket){
		.rate = rate, .burst = burst, .tokens = burst, .at_ms = now_ms};
}

bool syncpolicy_bucket_take(struct syncpolicy_bucket *b, int64_t now_ms)
{
	b->tokens += (double)(now_ms - b->at_ms) * b->rate / 1000.0;
	b->at_ms = now_ms;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	if (b->tokens < 1.0)
		return false;
	b->tokens -= 1.0;
	return true;
}

bool syncpolicy_streak_due(struct syncpolicy_streak *k, int64_t now_ms, bool first, unsigned *n)
{
	if (!first && now_ms - k->logged_ms < SYNCPOLICY_STREAK_LOG_MS) {
		k->unlogged++;
		return false;
	}
	*n = first ? 0 : k->unlogged;
	k->unlogged = 0;
	k->logged_ms = now_ms;
	return true;
}

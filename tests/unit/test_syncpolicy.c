/* syncpolicy, the rules the sync times and chooses by: backoff, jitter, token refresh timing,
 * idle time, the login budget, change detection, the mass-removal guard, failover order and
 * poll periods. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "zones/nacos/nacos.h"
#include "zones/nacos/syncpolicy.h"

static void test_backoff_and_timing(void)
{
	CHECK_INT_EQ(syncpolicy_backoff_ms(1, 0), 500);
	CHECK_INT_EQ(syncpolicy_backoff_ms(2, 0), 1000);
	CHECK_INT_EQ(syncpolicy_backoff_ms(4, 0), 4000);
	CHECK_INT_EQ(syncpolicy_backoff_ms(50, 0), 10000);
	for (uint32_t r = 0; r < 5000; r += 7) {
		int64_t b = syncpolicy_backoff_ms(3, r);
		CHECK(b > 1600 && b <= 2000); /* at most 20 % less */
		int64_t j = syncpolicy_jitter_ms(5000, r);
		CHECK(j >= 4500 && j <= 5000);
	}
	CHECK(syncpolicy_jitter_ms(0, 3) >= 1);
	CHECK_INT_EQ(syncpolicy_token_refresh_at(1000, 18000), 1000 + 16200000);
	CHECK_INT_EQ(syncpolicy_token_refresh_at(0, 10), 9000);
	CHECK_INT_EQ(syncpolicy_token_refresh_at(0, 0), 9000);
	CHECK_INT_EQ(syncpolicy_token_refresh_at(0, -1), 9000);
	/* "never" from an auth plugin: no overflow, a refresh within the cap. */
	CHECK_INT_EQ(syncpolicy_token_refresh_at(1000, INT64_MAX),
		     1000 + (int64_t)SYNCPOLICY_TOKEN_TTL_MAX_S * 900);
	CHECK_INT_EQ(syncpolicy_token_refresh_at(1000, INT64_MIN), 10000);
	CHECK_INT_EQ(syncpolicy_idle_ms(30000), 300000);
	CHECK_INT_EQ(syncpolicy_idle_ms(60000), 600000);
}

static void test_login_budget(void)
{
	struct syncpolicy_logins l = {0};
	for (unsigned i = 0; i < SYNCPOLICY_LOGINS_PER_MINUTE; i++)
		CHECK(syncpolicy_login_take(&l, 5000 + i));
	CHECK(!syncpolicy_login_take(&l, 5000 + 59999)); /* same minute: refused */
	CHECK(syncpolicy_login_take(&l, 5000 + 60000));  /* next minute: allowed again */
	CHECK_INT_EQ(l.count, 1);
	CHECK(syncpolicy_login_take(&l, 0)); /* a clock that went back starts a window */
}

static struct nacos_service *svc_with(size_t n, const char *ip0)
{
	char body[2048];
	size_t off = (size_t)snprintf(body, sizeof(body), "{\"name\":\"G@@s\",\"hosts\":[");
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(
			body + off, sizeof(body) - off,
			"%s{\"ip\":\"%s%zu\",\"port\":80,\"weight\":1.0,"
			"\"healthy\":true,\"enabled\":true,\"clusterName\":\"DEFAULT\"}",
			i ? "," : "", ip0, i + 1);
	snprintf(body + off, sizeof(body) - off, "]}");
	struct nacos_service *s = NULL;
	CHECK_INT_EQ(nacos_parse_instance_list(body, strlen(body), NULL, NULL, &s), 0);
	CHECK_INT_EQ(s->n_instances, n);
	return s;
}

static void test_compare(void)
{
	struct nacos_service *a = svc_with(2, "10.0.0."), *b = svc_with(2, "10.0.0.");
	struct nacos_service *c = svc_with(2, "10.0.1."), *d = svc_with(0, "");
	CHECK_INT_EQ(syncpolicy_compare(NULL, a), SYNCPOLICY_NEW);
	CHECK_INT_EQ(syncpolicy_compare(a, b), SYNCPOLICY_SAME);
	b->origin.stale = true; /* where data came from is not a change */
	CHECK_INT_EQ(syncpolicy_compare(a, b), SYNCPOLICY_SAME);
	CHECK_INT_EQ(syncpolicy_compare(a, c), SYNCPOLICY_CHANGED);
	CHECK_INT_EQ(syncpolicy_compare(a, d), SYNCPOLICY_CHANGED);
	b->instances[0].healthy = false;
	CHECK_INT_EQ(syncpolicy_compare(a, b), SYNCPOLICY_CHANGED);
	b->instances[0].healthy = true;
	b->protect_threshold = true;
	CHECK_INT_EQ(syncpolicy_compare(a, b), SYNCPOLICY_CHANGED);
	nacos_service_free(a);
	nacos_service_free(b);
	nacos_service_free(c);
	nacos_service_free(d);
}

static void test_guard(void)
{
	struct syncpolicy_guard g;
	bool started;
	syncpolicy_guard_init(&g, 5000, 30000);
	/* small registries are never held */
	CHECK(syncpolicy_guard_allow(&g, 0, 4, 4, &started));
	syncpolicy_guard_init(&g, 5000, 30000);
	/* 100 instances: removing 30 then 20 is half, not more; 1 more is held */
	CHECK(syncpolicy_guard_allow(&g, 1000, 100, 30, &started));
	CHECK(!started);
	CHECK(syncpolicy_guard_allow(&g, 1100, 70, 20, &started));
	CHECK(!syncpolicy_guard_allow(&g, 1200, 50, 1, &started));
	CHECK(started);
	CHECK(!syncpolicy_guard_allow(&g, 2000, 50, 10, &started));
	CHECK(!started); /* reported once */
	/* still held within the hold time, even after the window */
	CHECK(!syncpolicy_guard_allow(&g, 30000, 50, 10, &started));
	/* Nacos kept saying it: applied during one release window */
	CHECK(syncpolicy_guard_allow(&g, 31300, 50, 40, &started));
	CHECK(syncpolicy_guard_allow(&g, 32000, 10, 5, &started));
	/* a fresh window after the release: guard again */
	CHECK(syncpolicy_guard_allow(&g, 45000, 100, 10, &started));
	CHECK(!syncpolicy_guard_allow(&g, 45100, 90, 45, &started));
	CHECK(started);
	/* Nacos recovered during the hold: a blip when the hold would have ended is held again,
	 * not released */
	syncpolicy_guard_init(&g, 5000, 30000);
	CHECK(!syncpolicy_guard_allow(&g, 1000, 100, 100, &started));
	CHECK(started);
	syncpolicy_guard_recovered(&g);
	CHECK(!syncpolicy_guard_allow(&g, 31000, 100, 100, &started));
	CHECK(started);
	/* a new window on its own resets the count */
	syncpolicy_guard_init(&g, 5000, 30000);
	CHECK(syncpolicy_guard_allow(&g, 0, 100, 40, &started));
	CHECK(syncpolicy_guard_allow(&g, 6000, 60, 25, &started));
}

/* Failover order: round robin over servers ready now, a server backing off skipped while
 * another is ready, the soonest-ready one when all back off, none once all were tried. */
static void test_pick_server(void)
{
	int64_t retry[3] = {0, 0, 0};
	size_t rr = 0;
	CHECK_INT_EQ(syncpolicy_pick_server(retry, 3, &rr, 0, 1000), 0);
	CHECK_INT_EQ(syncpolicy_pick_server(retry, 3, &rr, 0, 1000), 1);
	CHECK_INT_EQ(syncpolicy_pick_server(retry, 3, &rr, 0, 1000), 2);
	CHECK_INT_EQ(syncpolicy_pick_server(retry, 3, &rr, 0, 1000), 0);
	retry[1] = 1500; /* B backs off */
	CHECK_INT_EQ(syncpolicy_pick_server(retry, 3, &rr, 1u << 0, 1000), 2);
	rr = 1;
	CHECK_INT_EQ(syncpolicy_pick_server(retry, 3, &rr, 0, 1000), 2);
	CHECK_INT_EQ(syncpolicy_pick_server(retry, 3, &rr, 0, 1500), 0);
	CHECK_INT_EQ(syncpolicy_pick_server(retry, 3, &rr, 0, 1500), 1); /* its time came */
	retry[0] = 3000;
	retry[2] = 2000;
	size_t before = rr;
	CHECK_INT_EQ(syncpolicy_pick_server(retry, 3, &rr, 1u << 1, 1000), 2);
	CHECK_INT_EQ(rr, before); /* nobody ready: the turn does not move */
	CHECK_INT_EQ(syncpolicy_pick_server(retry, 3, &rr, 7, 1000), SIZE_MAX);
}

static void test_poll_period(void)
{
	CHECK_INT_EQ(syncpolicy_poll_ms(5000, false, 1000), 5000);
	CHECK_INT_EQ(syncpolicy_poll_ms(5000, true, 0), 9000);    /* 10 s, less 10 % */
	CHECK_INT_EQ(syncpolicy_poll_ms(3000, true, 0), 5400);    /* twice the interval */
	CHECK_INT_EQ(syncpolicy_poll_ms(3000, true, 4000), 3600); /* cacheMillis */
	CHECK_INT_EQ(syncpolicy_poll_ms(5000, true, 2000), 5000); /* never below the interval */
	CHECK_INT_EQ(syncpolicy_poll_ms(20000, true, 0), 20000);
}

int main(void)
{
	test_backoff_and_timing();
	test_login_budget();
	test_compare();
	test_guard();
	test_pick_server();
	test_poll_period();
	return 0;
}

/* Names remembered absent until their negative TTL ends; the rate of fetches of unknown names. */
#include <stdint.h>

#include "check.h"
#include "zones/nacos/syncabsent.h"
#include "zones/nacos/syncpolicy.h"

static void test_absent(void)
{
	struct syncabsent *a = syncabsent_new();
	CHECK(a);
	CHECK(!syncabsent_has(a, 0, 0)); /* an empty slot is no name, hash 0 included */
	CHECK(!syncabsent_has(a, 42, 0));
	syncabsent_add(a, 42, 1000);
	CHECK(syncabsent_has(a, 42, 999));
	CHECK(!syncabsent_has(a, 42, 1000)); /* the TTL ran out */
	CHECK(!syncabsent_has(a, 43 + SYNCABSENT_SLOTS, 0));
	/* Another name of the same slot takes it over: the table forgets, never grows. */
	syncabsent_add(a, 42 + SYNCABSENT_SLOTS, 5000);
	CHECK(!syncabsent_has(a, 42, 0));
	CHECK(syncabsent_has(a, 42 + SYNCABSENT_SLOTS, 0));
	syncabsent_free(a);
	syncabsent_free(NULL);
}

static void test_bucket(void)
{
	struct syncpolicy_bucket b;
	syncpolicy_bucket_init(&b, 50.0, 100.0, 1000);
	for (int i = 0; i < 100; i++)
		CHECK(syncpolicy_bucket_take(&b, 1000)); /* the burst */
	CHECK(!syncpolicy_bucket_take(&b, 1000));
	CHECK(!syncpolicy_bucket_take(&b, 1019)); /* 0.95 of a token */
	CHECK(syncpolicy_bucket_take(&b, 1020));  /* one at 50/s */
	CHECK(!syncpolicy_bucket_take(&b, 1020));
	int n = 0;
	while (syncpolicy_bucket_take(&b, 1000000)) /* refilled to the burst, no more */
		n++;
	CHECK_INT_EQ(n, 100);
}

int main(void)
{
	test_absent();
	test_bucket();
	return 0;
}

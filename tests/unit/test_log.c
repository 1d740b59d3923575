/* log: the rate limit of repeated lines. */
#include "resolver/log.h"

#include "check.h"

static void test_limit(void)
{
	struct log_limit l = {0};
	unsigned long long left_out = 99;

	CHECK(log_limit_pass(&l, 0, 5000, &left_out)); /* a clock at 0 still counts as a line */
	CHECK_INT_EQ(left_out, 0);
	CHECK(!log_limit_pass(&l, 10, 5000, &left_out));
	CHECK(!log_limit_pass(&l, 4999, 5000, &left_out));
	CHECK(log_limit_pass(&l, 5001, 5000, &left_out));
	CHECK_INT_EQ(left_out, 2);
	CHECK(!log_limit_pass(&l, 6000, 5000, &left_out));
	CHECK(log_limit_pass(&l, 20000, 5000, &left_out));
	CHECK_INT_EQ(left_out, 1);
	CHECK(log_limit_pass(&l, 30000, 5000, &left_out));
	CHECK_INT_EQ(left_out, 0);
}

int main(void)
{
	test_limit();
	return 0;
}

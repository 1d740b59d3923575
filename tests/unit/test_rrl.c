/* rrl: token buckets per client prefix, slip, bounded table, TC replies. */
#include "zones/dns/rrl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"

static struct sockaddr_storage sa_of(const char *addr)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		CHECK(inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1);
	} else {
		struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
		in4->sin_family = AF_INET;
		CHECK(inet_pton(AF_INET, addr, &in4->sin_addr) == 1);
	}
	return ss;
}

static enum rrl_action check_at(struct rrl *r, const char *addr, uint64_t now_ms)
{
	struct sockaddr_storage ss = sa_of(addr);
	return rrl_check(r, (const struct sockaddr *)&ss, now_ms);
}

/* n responses at one instant: how many of each action. */
static void burst(struct rrl *r, const char *addr, uint64_t now_ms, int n, int counts[3])
{
	memset(counts, 0, 3 * sizeof(int));
	for (int i = 0; i < n; i++)
		counts[check_at(r, addr, now_ms)]++;
}

static void test_bucket(void)
{
	struct rrl *r = rrl_new(10, 2, 1024, 42);
	int c[3];

	CHECK(r);
	burst(r, "192.0.2.1", 1000, 30, c);
	CHECK_INT_EQ(c[RRL_SEND], 10); /* the burst is one second's worth */
	CHECK_INT_EQ(c[RRL_SLIP], 10); /* every 2nd limited response */
	CHECK_INT_EQ(c[RRL_DROP], 10);
	/* 100 ms later one more token has come. */
	CHECK_INT_EQ(check_at(r, "192.0.2.1", 1100), RRL_SEND);
	CHECK(check_at(r, "192.0.2.1", 1100) != RRL_SEND);
	/* A long pause refills the bucket to the burst, no more. */
	burst(r, "192.0.2.1", 100000, 30, c);
	CHECK_INT_EQ(c[RRL_SEND], 10);
	/* Time going backwards (a caller's clock) neither refills nor breaks anything. */
	CHECK(check_at(r, "192.0.2.1", 50) != RRL_SEND);
	rrl_free(r);
}

static void test_prefixes(void)
{
	struct rrl *r = rrl_new(5, 0, 1024, 7);
	int c[3];

	CHECK(r);
	burst(r, "198.51.100.1", 0, 20, c);
	CHECK_INT_EQ(c[RRL_SEND], 5);
	CHECK_INT_EQ(c[RRL_SLIP], 0); /* slip 0: all limited responses are dropped */
	CHECK_INT_EQ(c[RRL_DROP], 15);
	/* The same /24 shares the bucket; the next /24 has its own. */
	CHECK_INT_EQ(check_at(r, "198.51.100.200", 0), RRL_DROP);
	burst(r, "198.51.101.1", 0, 5, c);
	CHECK_INT_EQ(c[RRL_SEND], 5);
	/* IPv6: one /56 shares, the next /56 does not. */
	burst(r, "2001:db8:0:100::1", 0, 6, c);
	CHECK_INT_EQ(c[RRL_SEND], 5);
	CHECK_INT_EQ(check_at(r, "2001:db8:0:1ff::2", 0), RRL_DROP);
	CHECK_INT_EQ(check_at(r, "2001:db8:0:200::1", 0), RRL_SEND);
	rrl_free(r);
}

/* A flood from many prefixes cannot grow the table; old prefixes are forgotten, not the table
 * overrun, and a prefix that was forgotten starts again with a full bucket. */
static void test_bounded(void)
{
	struct rrl *r = rrl_new(1, 1, 16, 99);
	char addr[32];

	CHECK(r);
	CHECK_INT_EQ(check_at(r, "203.0.113.1", 0), RRL_SEND);
	CHECK_INT_EQ(check_at(r, "203.0.113.1", 0), RRL_SLIP);
	for (int i = 0; i < 5000; i++) {
		snprintf(addr, sizeof(addr), "10.%d.%d.1", i / 256, i % 256);
		CHECK_INT_EQ(check_at(r, addr, 1 + (uint64_t)i / 1000), RRL_SEND);
	}
	CHECK_INT_EQ(check_at(r, "203.0.113.1", 10), RRL_SEND);
	rrl_free(r);
	CHECK(rrl_new(0, 2, 16, 1) == NULL); /* rate 0: off */
	rrl_free(NULL);
}

static void test_slip_reply(void)
{
	/* id, flags QR AA, QD 1, AN 1, NS 0, AR 1, "a.b." A IN, then records (not parsed). */
	uint8_t wire[] = {0x12, 0x34, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 1, 1, 'a', 1, 'b', 0, 0, 1,
			  0,    1,    0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4,   1, 2,   3, 4};
	CHECK_INT_EQ(rrl_slip_reply(wire, sizeof(wire)), 21);
	CHECK_INT_EQ(wire[2], 0x86); /* TC set, the rest kept */
	CHECK_INT_EQ(wire[5], 1);
	CHECK_INT_EQ(wire[7] | wire[9] | wire[11], 0);
	CHECK_INT_EQ(rrl_slip_reply(wire, 20), 0); /* question cut short */
	uint8_t ptr[] = {0, 0, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1};
	CHECK_INT_EQ(rrl_slip_reply(ptr, sizeof(ptr)), 0);
	uint8_t two[] = {0, 0, 0x80, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1};
	CHECK_INT_EQ(rrl_slip_reply(two, sizeof(two)), 0);
	CHECK_INT_EQ(rrl_slip_reply(wire, 5), 0);
}

static void test_loopback(void)
{
	struct sockaddr_storage a = sa_of("127.0.1.1"), b = sa_of("::1"), c = sa_of("10.0.0.1"),
				d = sa_of("::2");
	CHECK(rrl_addr_is_loopback((const struct sockaddr *)&a));
	CHECK(rrl_addr_is_loopback((const struct sockaddr *)&b));
	CHECK(!rrl_addr_is_loopback((const struct sockaddr *)&c));
	CHECK(!rrl_addr_is_loopback((const struct sockaddr *)&d));
}

static bool same(const char *a, const char *b)
{
	struct sockaddr_storage x = sa_of(a), y = sa_of(b);
	return rrl_same_prefix((struct sockaddr *)&x, (struct sockaddr *)&y);
}

static void test_same_prefix(void)
{
	CHECK(same("192.0.2.1", "192.0.2.254"));
	CHECK(!same("192.0.2.1", "192.0.3.1"));
	CHECK(same("2001:db8:0:ff::1", "2001:db8:0:1::2")); /* one /56 */
	CHECK(!same("2001:db8:0:100::1", "2001:db8:0:1::1"));
	CHECK(!same("192.0.2.1", "::ffff:192.0.2.1"));
}

int main(void)
{
	test_same_prefix();
	test_bucket();
	test_prefixes();
	test_bounded();
	test_slip_reply();
	test_loopback();
	return 0;
}

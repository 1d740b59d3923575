/* addr: ADDR[:PORT] and CIDR text in, socket addresses and canonical text out. */
#include "zones/net/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"

static const char *round_trip(const char *in, uint16_t dflt, unsigned flags)
{
	static char s[ADDR_STR_LEN];
	struct sockaddr_storage ss;

	CHECK_INT_EQ(addr_parse(in, dflt, flags, &ss, NULL, 0), 0);
	return addr_str((const struct sockaddr *)&ss, s, sizeof(s));
}

static void test_parse(void)
{
	CHECK_STR_EQ(round_trip("192.0.2.1", 53, 0), "192.0.2.1:53");
	CHECK_STR_EQ(round_trip("192.0.2.1:5353", 53, 0), "192.0.2.1:5353");
	CHECK_STR_EQ(round_trip("2001:db8::1", 53, 0), "[2001:db8::1]:53");
	CHECK_STR_EQ(round_trip("[::1]:5300", 53, 0), "[::1]:5300");
	CHECK_STR_EQ(round_trip("[::1]", 53, 0), "[::1]:53");
	/* canonical text: lowercase, zeros compressed, leading zeros of the port dropped */
	CHECK_STR_EQ(round_trip("[2001:DB8:0:0::0001]:0053", 0, 0), "[2001:db8::1]:53");
	CHECK_STR_EQ(round_trip("0.0.0.0:0", 0, ADDR_ANY_PORT), "0.0.0.0:0");
	CHECK_STR_EQ(round_trip("[::]:0", 0, ADDR_ANY_PORT), "[::]:0");
	CHECK_STR_EQ(round_trip("10.0.0.1:65535", 0, 0), "10.0.0.1:65535");

	const char *bad[] = {"",
			     "example.com",
			     "192.0.2.1:0",
			     "192.0.2.1:65536",
			     "[::1]5300",
			     "[::1",
			     "192.0.2.1:",
			     "1.2.3.4:x",
			     "[]:53",
			     "1.2.3",
			     "[1.2.3.4]:53",
			     "1.2.3.4:+53",
			     "1.2.3.4: 53",
			     "::1]:53",
			     "fe80::1%eth0",
			     "1.2.3.4:99999999999"};
	struct sockaddr_storage ss;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT_EQ(addr_parse(bad[i], 53, 0, &ss, NULL, 0), -EINVAL);
	/* no default port: the port is required */
	CHECK_INT_EQ(addr_parse("192.0.2.1", 0, 0, &ss, NULL, 0), -EINVAL);
	CHECK_INT_EQ(addr_parse("[::1]", 0, 0, &ss, NULL, 0), -EINVAL);
	CHECK_INT_EQ(addr_parse("192.0.2.1:0", 0, 0, &ss, NULL, 0), -EINVAL);
}

static void test_port(void)
{
	uint16_t p = 7;

	CHECK_INT_EQ(addr_parse_port("53", 0, &p), 0);
	CHECK_INT_EQ(p, 53);
	CHECK_INT_EQ(addr_parse_port("00080", 0, &p), 0);
	CHECK_INT_EQ(p, 80);
	CHECK_INT_EQ(addr_parse_port("65535", 0, &p), 0);
	CHECK_INT_EQ(p, 65535);
	CHECK_INT_EQ(addr_parse_port("0", ADDR_ANY_PORT, &p), 0);
	CHECK_INT_EQ(p, 0);
	const char *bad[] = {
		"", "0", "65536", "-1", "+1", " 1", "1 ", "0x10", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT_EQ(addr_parse_port(bad[i], 0, &p), -EINVAL);
	CHECK_INT_EQ(p, 0); /* unchanged by the failures */
}

static void test_messages(void)
{
	struct sockaddr_storage ss;
	char why[128];

	CHECK_INT_EQ(addr_parse("[::1", 0, 0, &ss, why, sizeof(why)), -EINVAL);
	CHECK_STR_EQ(why, "missing ']' in \"[::1\"");
	CHECK_INT_EQ(addr_parse("[::1]53", 0, 0, &ss, why, sizeof(why)), -EINVAL);
	CHECK_STR_EQ(why, "expects [v6]:PORT, got \"[::1]53\"");
	CHECK_INT_EQ(addr_parse("1.2.3.4:0", 0, 0, &ss, why, sizeof(why)), -EINVAL);
	CHECK_STR_EQ(why, "bad port \"0\" (1..65535)");
	CHECK_INT_EQ(addr_parse("1.2.3.4:x", 0, ADDR_ANY_PORT, &ss, why, sizeof(why)), -EINVAL);
	CHECK_STR_EQ(why, "bad port \"x\" (0..65535)");
	CHECK_INT_EQ(addr_parse("1.2.3.4", 0, 0, &ss, why, sizeof(why)), -EINVAL);
	CHECK_STR_EQ(why, "expects ADDR:PORT or [v6]:PORT, got \"1.2.3.4\"");
	CHECK_INT_EQ(addr_parse("host.example:53", 0, 0, &ss, why, sizeof(why)), -EINVAL);
	CHECK_STR_EQ(why, "bad IPv4 address \"host.example\"");
	CHECK_INT_EQ(addr_parse("[1.2.3.4]:53", 0, 0, &ss, why, sizeof(why)), -EINVAL);
	CHECK_STR_EQ(why, "bad IPv6 address \"1.2.3.4\"");
	CHECK_INT_EQ(addr_parse(":53", 0, 0, &ss, why, sizeof(why)), -EINVAL);
	CHECK_STR_EQ(why, "bad address \"\"");
}

static struct sockaddr_storage sa(const char *s)
{
	struct sockaddr_storage ss;
	CHECK_INT_EQ(addr_parse(s, 53, 0, &ss, NULL, 0), 0);
	return ss;
}

static bool in(const struct addr_cidr *c, const char *s)
{
	struct sockaddr_storage ss = sa(s);
	return addr_cidr_match(c, (const struct sockaddr *)&ss);
}

static void test_cidr(void)
{
	struct addr_cidr c;
	char s[ADDR_STR_LEN], why[128];

	CHECK_INT_EQ(addr_cidr_parse("10.1.2.3/8", &c, NULL, 0), 0);
	CHECK_STR_EQ(addr_cidr_str(&c, s, sizeof(s)), "10.0.0.0/8");
	CHECK(in(&c, "10.255.0.1") && !in(&c, "11.0.0.1") && !in(&c, "::1"));
	CHECK(in(&c, "::ffff:10.9.9.9")); /* a dual-stack socket's IPv4 client */
	CHECK_INT_EQ(addr_cidr_parse("192.0.2.1", &c, NULL, 0), 0);
	CHECK_STR_EQ(addr_cidr_str(&c, s, sizeof(s)), "192.0.2.1/32");
	CHECK(in(&c, "192.0.2.1") && !in(&c, "192.0.2.2"));
	CHECK_INT_EQ(addr_cidr_parse("198.51.100.128/25", &c, NULL, 0), 0);
	CHECK(in(&c, "198.51.100.255") && !in(&c, "198.51.100.127"));
	CHECK_INT_EQ(addr_cidr_parse("2001:DB8::/33", &c, NULL, 0), 0);
	CHECK_STR_EQ(addr_cidr_str(&c, s, sizeof(s)), "2001:db8::/33");
	CHECK(in(&c, "2001:db8:7fff::1") && !in(&c, "2001:db8:8000::1") && !in(&c, "10.0.0.1"));
	CHECK_INT_EQ(addr_cidr_parse("::/0", &c, NULL, 0), 0);
	CHECK(in(&c, "2001:db8::1") && !in(&c, "10.0.0.1"));
	CHECK_INT_EQ(addr_cidr_parse("0.0.0.0/0", &c, NULL, 0), 0);
	CHECK(in(&c, "10.0.0.1") && !in(&c, "2001:db8::1"));

	const char *bad[] = {"",
			     "/8",
			     "10.0.0.0/",
			     "10.0.0.0/33",
			     "::/129",
			     "10.0.0.0/-1",
			     "10.0.0.0/8x",
			     "10.0.0.0/ 8",
			     "host/8",
			     "10.0.0/8",
			     "10.0.0.0/8/8",
			     "[::1]/128",
			     "10.0.0.0/0008"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT_EQ(addr_cidr_parse(bad[i], &c, NULL, 0), -EINVAL);
	CHECK_INT_EQ(addr_cidr_parse("10.0.0.0/33", &c, why, sizeof(why)), -EINVAL);
	CHECK_STR_EQ(why, "bad prefix length in \"10.0.0.0/33\" (0..32)");
	CHECK_INT_EQ(addr_cidr_parse("nope/8", &c, why, sizeof(why)), -EINVAL);
	CHECK_STR_EQ(why, "bad address in CIDR \"nope/8\"");
}

static void test_compare_and_canon(void)
{
	struct sockaddr_storage a = sa("::ffff:192.0.2.7"), b = sa("192.0.2.7:53");
	char s[ADDR_STR_LEN];

	CHECK(!addr_equal((const struct sockaddr *)&a, (const struct sockaddr *)&b));
	CHECK_STR_EQ(addr_ip_str((const struct sockaddr *)&a, s, sizeof(s)), "192.0.2.7");
	addr_canon(&a);
	CHECK_INT_EQ(a.ss_family, AF_INET);
	CHECK_INT_EQ(addr_port((const struct sockaddr *)&a), 53);
	CHECK(addr_equal((const struct sockaddr *)&a, (const struct sockaddr *)&b));
	b = sa("192.0.2.7:54");
	CHECK(!addr_equal((const struct sockaddr *)&a, (const struct sockaddr *)&b));
	b = sa("[2001:db8::1]:53");
	addr_canon(&b); /* not mapped: unchanged */
	CHECK_STR_EQ(addr_str((const struct sockaddr *)&b, s, sizeof(s)), "[2001:db8::1]:53");

	CHECK_STR_EQ(addr_ip_canon("::FFFF:10.0.0.1", s, sizeof(s)), "10.0.0.1");
	CHECK_STR_EQ(addr_ip_canon("2001:DB8:0::1", s, sizeof(s)), "2001:db8::1");
	CHECK_STR_EQ(addr_ip_canon("10.0.0.1", s, sizeof(s)), "10.0.0.1");
	CHECK_STR_EQ(addr_ip_canon("nacos.example", s, sizeof(s)), "");
	CHECK_STR_EQ(addr_ip_canon("", s, sizeof(s)), "");
}

int main(void)
{
	test_parse();
	test_port();
	test_messages();
	test_cidr();
	test_compare_and_canon();
	return 0;
}

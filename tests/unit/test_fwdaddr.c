/* fwdaddr: upstreams that would loop back to our own listeners, and resolv.conf text. */
#include <netinet/in.h>

#include "check.h"
#include "zones/net/addr.h"
#include "zones/net/fwdaddr.h"

static void test_reaches(void)
{
	struct sockaddr_storage a, b;

	/* our own listen address is never an upstream */
	CHECK_INT_EQ(addr_parse("127.0.0.1", 53, 0, &a, NULL, 0), 0);
	CHECK_INT_EQ(addr_parse("127.0.0.1:53", 53, 0, &b, NULL, 0), 0);
	CHECK(fwdaddr_reaches((struct sockaddr *)&a, (struct sockaddr *)&b));
	CHECK_INT_EQ(addr_parse("127.0.0.1:5353", 53, 0, &b, NULL, 0), 0);
	CHECK(!fwdaddr_reaches((struct sockaddr *)&a, (struct sockaddr *)&b));
	CHECK_INT_EQ(addr_parse("0.0.0.0:53", 53, 0, &b, NULL, 0), 0);
	CHECK(fwdaddr_reaches((struct sockaddr *)&a, (struct sockaddr *)&b));
	CHECK_INT_EQ(addr_parse("192.0.2.1", 53, 0, &a, NULL, 0), 0);
	CHECK(!fwdaddr_reaches((struct sockaddr *)&a, (struct sockaddr *)&b));
	CHECK_INT_EQ(addr_parse("::1", 53, 0, &a, NULL, 0), 0);
	CHECK_INT_EQ(addr_parse("[::]:53", 53, 0, &b, NULL, 0), 0);
	CHECK(fwdaddr_reaches((struct sockaddr *)&a, (struct sockaddr *)&b));
	CHECK_INT_EQ(addr_parse("127.0.0.1:53", 53, 0, &b, NULL, 0), 0);
	CHECK(!fwdaddr_reaches((struct sockaddr *)&a, (struct sockaddr *)&b));
}

static void test_resolv_conf(void)
{
	struct sockaddr_storage ns[4];
	char s[80];
	const char *text = "# generated\n"
			   "search DEFAULT_GROUP.svc svc\n"
			   "nameserver 127.0.0.1\n"
			   "  nameserver\t192.0.2.53 # office\n"
			   "nameserver ::1\n"
			   "nameserver not-an-address\n"
			   "options ndots:2\n"
			   "nameserver fe80::1%eth0\n"
			   "nameserver 198.51.100.1";

	CHECK_INT_EQ(fwdaddr_parse_resolv(text, ns, 4), 4);
	CHECK_STR_EQ(addr_str((struct sockaddr *)&ns[0], s, sizeof(s)), "127.0.0.1:53");
	CHECK_STR_EQ(addr_str((struct sockaddr *)&ns[1], s, sizeof(s)), "192.0.2.53:53");
	CHECK_STR_EQ(addr_str((struct sockaddr *)&ns[2], s, sizeof(s)), "[::1]:53");
	CHECK_STR_EQ(addr_str((struct sockaddr *)&ns[3], s, sizeof(s)), "198.51.100.1:53");
	CHECK_INT_EQ(fwdaddr_parse_resolv(text, ns, 2), 2);
	CHECK_INT_EQ(fwdaddr_parse_resolv("", ns, 4), 0);
}

int main(void)
{
	test_reaches();
	test_resolv_conf();
	return 0;
}

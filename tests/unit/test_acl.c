/* acl: CIDR parsing and matching of client addresses. */
#include "zones/net/acl.h"
#include "zones/net/addr.h"

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

static bool matches(const struct acl *a, const char *addr)
{
	struct sockaddr_storage ss = sa_of(addr);
	return acl_match(a, (const struct sockaddr *)&ss);
}

/* An ACL from prefixes the configuration parsed already. */
static void test_from_cidrs(void)
{
	struct addr_cidr c[2];
	CHECK_INT_EQ(addr_cidr_parse("10.0.0.0/8", &c[0], NULL, 0), 0);
	CHECK_INT_EQ(addr_cidr_parse("2001:db8::/32", &c[1], NULL, 0), 0);
	struct acl *a = acl_new_cidrs(c, 2);
	CHECK(a != NULL);
	CHECK(matches(a, "10.1.2.3") && matches(a, "2001:db8::1") && matches(a, "::ffff:10.0.0.1"));
	CHECK(!matches(a, "11.0.0.1") && !matches(a, "2001:db9::1"));
	acl_free(a);
	a = acl_new_cidrs(NULL, 0);
	CHECK(a != NULL && !matches(a, "10.1.2.3"));
	acl_free(a);
}

static void test_ipv4(void)
{
	const char *list[] = {"10.0.0.0/8", "192.0.2.1", "198.51.100.128/25", "203.0.113.7/31"};
	struct acl *a = acl_new(list, 4, NULL);
	CHECK(a != NULL);
	CHECK(matches(a, "10.0.0.1"));
	CHECK(matches(a, "10.255.255.255"));
	CHECK(!matches(a, "11.0.0.0"));
	CHECK(!matches(a, "9.255.255.255"));
	CHECK(matches(a, "192.0.2.1"));
	CHECK(!matches(a, "192.0.2.2"));
	CHECK(matches(a, "198.51.100.128"));
	CHECK(matches(a, "198.51.100.255"));
	CHECK(!matches(a, "198.51.100.127"));
	CHECK(matches(a, "203.0.113.6"));
	CHECK(matches(a, "203.0.113.7"));
	CHECK(!matches(a, "203.0.113.8"));
	/* IPv4 entries never match native IPv6 clients, but do match IPv4-mapped ones. */
	CHECK(!matches(a, "::a00:1"));
	CHECK(matches(a, "::ffff:10.1.2.3"));
	CHECK(!matches(a, "::ffff:11.1.2.3"));
	CHECK(matches(a, "::ffff:192.0.2.1"));
	acl_free(a);
}

static void test_ipv6(void)
{
	const char *list[] = {"::1/128", "2001:db8::/32", "fd00::1", "2001:db8:ff00::/41"};
	struct acl *a = acl_new(list, 4, NULL);
	CHECK(a != NULL);
	CHECK(matches(a, "::1"));
	CHECK(!matches(a, "::2"));
	CHECK(matches(a, "2001:db8::1"));
	CHECK(matches(a, "2001:db8:ffff:ffff::1"));
	CHECK(!matches(a, "2001:db9::1"));
	CHECK(matches(a, "fd00::1"));
	CHECK(!matches(a, "fd00::2"));
	CHECK(!matches(a, "127.0.0.1"));
	CHECK(!matches(a, "0.0.0.1"));
	acl_free(a);
}

static void test_host_bits_and_edges(void)
{
	/* Host bits past the prefix are ignored; /0 matches the whole family. */
	const char *list[] = {"10.1.2.3/8", "0.0.0.0/0"};
	struct acl *a = acl_new(list, 1, NULL);
	CHECK(a != NULL);
	CHECK(matches(a, "10.200.0.1"));
	CHECK(!matches(a, "127.0.0.1"));
	acl_free(a);

	a = acl_new(list + 1, 1, NULL);
	CHECK(matches(a, "127.0.0.1"));
	CHECK(matches(a, "255.255.255.255"));
	CHECK(!matches(a, "::1"));
	acl_free(a);

	const char *all6[] = {"::/0"};
	a = acl_new(all6, 1, NULL);
	CHECK(matches(a, "::1"));
	CHECK(matches(a, "2001:db8::1"));
	CHECK(!matches(a, "127.0.0.1"));
	acl_free(a);

	/* An empty list matches nothing; a NULL list matches nothing. */
	a = acl_new(NULL, 0, NULL);
	CHECK(a != NULL);
	CHECK(!matches(a, "127.0.0.1"));
	acl_free(a);
	CHECK(!matches(NULL, "127.0.0.1"));
	acl_free(NULL);

	/* Other address families never match. */
	a = acl_new(list + 1, 1, NULL);
	struct sockaddr_storage un;
	memset(&un, 0, sizeof(un));
	un.ss_family = AF_UNIX;
	CHECK(!acl_match(a, (const struct sockaddr *)&un));
	acl_free(a);
}

static void test_rejects(void)
{
	static const char *const bad[] = {
		"",
		"10.0.0.0/",
		"10.0.0.0/33",
		"::1/129",
		"10.0.0.0/-1",
		"10.0.0.0/+8",
		"10.0.0.0/8x",
		"10.0.0.0/ 8",
		"10.0.0.0 ",
		" 10.0.0.0",
		"10.0.0",
		"10.0.0.0.0",
		"256.0.0.1",
		"10.0.0.0/8/8",
		"example.com",
		"::1/1000",
		"fe80::1%lo",
		"1.2.3.4/0008",
		"/8",
		"::g",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *list[] = {"127.0.0.0/8", bad[i]};
		const char *why = NULL;
		struct acl *a = acl_new(list, 2, &why);
		if (a) {
			fprintf(stderr, "accepted bad entry \"%s\"\n", bad[i]);
			exit(1);
		}
		CHECK(why == bad[i]);
	}
	const char *good[] = {"127.0.0.1", "0.0.0.0/0", "::/0", "::1", "10.0.0.0/008"};
	const char *why = "unset";
	struct acl *a = acl_new(good, 5, &why);
	CHECK(a != NULL);
	CHECK(why == NULL);
	acl_free(a);
}

int main(void)
{
	test_from_cidrs();
	test_ipv4();
	test_ipv6();
	test_host_bits_and_edges();
	test_rejects();
	return 0;
}

#include "zones/net/acl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One prefix. IPv4 entries keep their 4 bytes in addr[0..4). */
struct acl_entry {
	int family; /* AF_INET or AF_INET6 */
	unsigned prefix;
	uint8_t addr[16];
};

struct acl {
	size_t n;
	struct acl_entry e[];
};

/* Digits only (no sign, no space), at most 3 of them, value <= max. */
static int acl_parse_prefix(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (i >= 3 || s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (i == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Clears the bits past the prefix, so matching compares whole bytes plus one partial byte. */
static void acl_mask(uint8_t *addr, size_t len, unsigned prefix)
{
	for (size_t i = 0; i < len; i++) {
		unsigned bits = prefix > i * 8 ? prefix - (unsigned)i * 8 : 0;
		if (bits < 8)
			addr[i] &= (uint8_t)(0xff00u >> bits);
	}
}

static int acl_parse_entry(const char *cidr, struct acl_entry *e)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t len = strlen(cidr);
	char *slash;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, cidr, len + 1);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, e->addr) == 1) {
		e->family = AF_INET;
		e->prefix = 32;
	} else if (inet_pton(AF_INET6, buf, e->addr) == 1) {
		e->family = AF_INET6;
		e->prefix = 128;
	} else {
		return -1;
	}
	if (slash && acl_parse_prefix(slash + 1, e->prefix, &e->prefix) < 0)
		return -1;
	acl_mask(e->addr, e->family == AF_INET ? 4 : 16, e->prefix);
	return 0;
}

struct acl *acl_new(const char *const *cidrs, size_t n, const char **bad)
{
	struct acl *a = calloc(1, sizeof(*a) + n * sizeof(a->e[0]));

	if (bad)
		*bad = NULL;
	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (acl_parse_entry(cidrs[i], &a->e[i]) < 0) {
			if (bad)
				*bad = cidrs[i];
			free(a);
			return NULL;
		}
	}
	a->n = n;
	return a;
}

static bool acl_entry_match(const struct acl_entry *e, int family, const uint8_t *addr)
{
	unsigned full = e->prefix / 8, rest = e->prefix % 8;

	if (e->family != family)
		return false;
	if (memcmp(e->addr, addr, full) != 0)
		return false;
	return rest == 0 || (addr[full] & (uint8_t)(0xff00u >> rest)) == e->addr[full];
}

static bool acl_match_addr(const struct acl *a, int family, const uint8_t *addr)
{
	for (size_t i = 0; i < a->n; i++) {
		if (acl_entry_match(&a->e[i], family, addr))
			return true;
	}
	return false;
}

bool acl_match(const struct acl *a, const struct sockaddr *sa)
{
	if (!a || !sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
		return acl_match_addr(a, AF_INET, (const uint8_t *)&in4->sin_addr);
	}
	if (sa->sa_family != AF_INET6)
		return false;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	const uint8_t *b = in6->sin6_addr.s6_addr;
	/* A dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d; the IPv4 entries apply. */
	if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && acl_match_addr(a, AF_INET, b + 12))
		return true;
	return acl_match_addr(a, AF_INET6, b);
}

void acl_free(struct acl *a)
{
	free(a);
}

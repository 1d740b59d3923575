/* Address strings as inet_pton reads them: no name lookups, so nothing here can block. */
#include "zones/net/fwdaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (*end || v == 0 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int fill(const char *addr, uint16_t port, struct sockaddr_storage *out)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}

int fwdaddr_parse(const char *s, uint16_t default_port, struct sockaddr_storage *out)
{
	char addr[64];
	const char *colon = strchr(s, ':'), *port = NULL;
	size_t n;
	uint16_t p = default_port;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || (close[1] && close[1] != ':'))
			return -EINVAL;
		n = (size_t)(close - s - 1);
		s++;
		port = close[1] ? close + 2 : NULL;
	} else if (colon && !strchr(colon + 1, ':')) {
		n = (size_t)(colon - s); /* one colon: IPv4 with a port */
		port = colon + 1;
	} else {
		n = strlen(s); /* no colon, or a bare IPv6 address */
	}
	if (n == 0 || n >= sizeof(addr) || (port && parse_port(port, &p) < 0))
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';
	return fill(addr, p, out);
}

bool fwdaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

static bool is_wildcard_or_loopback(const struct sockaddr *sa, bool loopback)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);
		return loopback ? (a >> 24) == 127 : a == 0;
	}
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	return loopback ? IN6_IS_ADDR_LOOPBACK(a6) : IN6_IS_ADDR_UNSPECIFIED(a6);
}

static uint16_t port_of(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)sa)->sin_port;
	return ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port;
}

bool fwdaddr_reaches(const struct sockaddr *up, const struct sockaddr *listen)
{
	if (fwdaddr_equal(up, listen))
		return true;
	return up->sa_family == listen->sa_family && port_of(up) == port_of(listen) &&
	       is_wildcard_or_loopback(listen, false) && is_wildcard_or_loopback(up, true);
}

size_t fwdaddr_parse_resolv(const char *text, struct sockaddr_storage *out, size_t max)
{
	size_t n = 0;

	while (*text && n < max) {
		char word[16], addr[64];
		const char *eol = strchr(text, '\n');
		size_t len = eol ? (size_t)(eol - text) : strlen(text);
		char line[256];

		if (len < sizeof(line)) {
			memcpy(line, text, len);
			line[len] = '\0';
			/* "nameserver ADDR"; scoped link-local addresses (fe80::1%eth0) fail
			 * inet_pton and are left out */
			if (sscanf(line, " %15s %63[^ \t#;]", word, addr) == 2 &&
			    strcmp(word, "nameserver") == 0 && !strchr(addr, '[') &&
			    fwdaddr_parse(addr, 53, &out[n]) == 0)
				n++;
		}
		text += len + (eol ? 1 : 0);
	}
	return n;
}

const char *fwdaddr_str(const struct sockaddr *sa, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, a,
			  sizeof(a));
		snprintf(buf, size, "%s:%u", a, ntohs(port_of(sa)));
	} else {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, a,
			  sizeof(a));
		snprintf(buf, size, "[%s]:%u", a, ntohs(port_of(sa)));
	}
	return buf;
}

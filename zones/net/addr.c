#include "zones/net/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static int addr_why(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (why && n) {
		va_start(ap, fmt);
		vsnprintf(why, n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Digits only (no sign, no space), at most max_digits of them, value <= max. */
static int addr_parse_uint(const char *s, size_t max_digits, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (i >= max_digits || s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > max)
			return -EINVAL;
	}
	if (i == 0)
		return -EINVAL;
	*out = v;
	return 0;
}

int addr_parse_port(const char *s, unsigned flags, uint16_t *out)
{
	unsigned v;

	if (addr_parse_uint(s, SIZE_MAX, 65535, &v) < 0 || (v == 0 && !(flags & ADDR_ANY_PORT)))
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* host (NUL-terminated) of family into ss with port. */
static int addr_fill(const char *host, int family, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		if (inet_pton(AF_INET, host, &v4->sin_addr) != 1)
			return -EINVAL;
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) != 1)
		return -EINVAL;
	v6->sin6_family = AF_INET6;
	v6->sin6_port = htons(port);
	return 0;
}

int addr_parse(const char *s, uint16_t default_port, unsigned flags, struct sockaddr_storage *out,
	       char *why, size_t why_len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_s = NULL, *h = s, *colon = strchr(s, ':');
	uint16_t port = default_port;
	int family;
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return addr_why(why, why_len, "missing ']' in \"%s\"", s);
		if (close[1] == ':')
			port_s = close + 2;
		else if (close[1])
			return addr_why(why, why_len, "expects [v6]:PORT, got \"%s\"", s);
		h = s + 1;
		hl = (size_t)(close - h);
		family = AF_INET6;
	} else if (colon && !strchr(colon + 1, ':')) {
		hl = (size_t)(colon - s); /* one colon: IPv4 with a port */
		port_s = colon + 1;
		family = AF_INET;
	} else {
		hl = strlen(s); /* no colon, or a bare IPv6 address */
		family = colon ? AF_INET6 : AF_INET;
	}
	if (hl == 0 || hl >= sizeof(host))
		return addr_why(why, why_len, "bad address \"%.*s\"", (int)(hl < 64 ? hl : 64), h);
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (port_s && addr_parse_port(port_s, flags, &port) < 0)
		return addr_why(why, why_len, "bad port \"%s\" (%d..65535)", port_s,
				flags & ADDR_ANY_PORT ? 0 : 1);
	if (!port_s && !default_port)
		return addr_why(why, why_len, "expects ADDR:PORT or [v6]:PORT, got \"%s\"", s);
	if (addr_fill(host, family, port, out) < 0)
		return addr_why(why, why_len, "bad IPv%d address \"%s\"", family == AF_INET ? 4 : 6,
				host);
	return 0;
}

/* Clears the bits past the prefix, so matching compares whole bytes plus one partial byte. */
static void addr_mask(uint8_t *a, size_t len, unsigned prefix)
{
	for (size_t i = 0; i < len; i++) {
		unsigned bits = prefix > i * 8 ? prefix - (unsigned)i * 8 : 0;
		if (bits < 8)
			a[i] &= (uint8_t)(0xff00u >> bits);
	}
}

int addr_cidr_parse(const char *s, struct addr_cidr *out, char *why, size_t why_len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);

	memset(out, 0, sizeof(*out));
	if (hl == 0 || hl >= sizeof(host))
		return addr_why(why, why_len, "bad CIDR \"%.*s\"", (int)(hl < 64 ? hl : 64), s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		out->prefix = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		out->prefix = 128;
	} else {
		return addr_why(why, why_len, "bad address in CIDR \"%s\"", s);
	}
	if (slash && addr_parse_uint(slash + 1, 3, out->prefix, &out->prefix) < 0)
		return addr_why(why, why_len, "bad prefix length in \"%s\" (0..%u)", s,
				out->family == AF_INET ? 32u : 128u);
	addr_mask(out->addr, out->family == AF_INET ? 4 : 16, out->prefix);
	return 0;
}

static bool addr_cidr_match_bytes(const struct addr_cidr *c, int family, const uint8_t *a)
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;

	if (c->family != family || memcmp(c->addr, a, full) != 0)
		return false;
	return rest == 0 || (a[full] & (uint8_t)(0xff00u >> rest)) == c->addr[full];
}

bool addr_cidr_match(const struct addr_cidr *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)sa;
		return addr_cidr_match_bytes(c, AF_INET, (const uint8_t *)&v4->sin_addr);
	}
	if (sa->sa_family != AF_INET6)
		return false;
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6) && addr_cidr_match_bytes(c, AF_INET, a6->s6_addr + 12))
		return true;
	return addr_cidr_match_bytes(c, AF_INET6, a6->s6_addr);
}

void addr_canon(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 v6;
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;

	if (ss->ss_family != AF_INET6)
		return;
	memcpy(&v6, ss, sizeof(v6));
	if (!IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr))
		return;
	memset(ss, 0, sizeof(*ss));
	v4->sin_family = AF_INET;
	v4->sin_port = v6.sin6_port;
	memcpy(&v4->sin_addr, v6.sin6_addr.s6_addr + 12, 4);
}

socklen_t addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

bool addr_equal(const struct sockaddr *a, const struct sockaddr *b)
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

uint16_t addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return 0;
}

const char *addr_ip_str(const struct sockaddr *sa, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "";

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, a,
			  sizeof(a));
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
			&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			inet_ntop(AF_INET, a6->s6_addr + 12, a, sizeof(a));
		else
			inet_ntop(AF_INET6, a6, a, sizeof(a));
	}
	snprintf(buf, size, "%s", a);
	return buf;
}

const char *addr_str(const struct sockaddr *sa, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, a,
			  sizeof(a));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, a,
			  sizeof(a));
	snprintf(buf, size, sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
		 (unsigned)addr_port(sa));
	return buf;
}

const char *addr_ip_canon(const char *in, char *buf, size_t size)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (addr_fill(in, AF_INET, 0, &ss) < 0 && addr_fill(in, AF_INET6, 0, &ss) < 0)
		ss.ss_family = AF_UNSPEC;
	return addr_ip_str((const struct sockaddr *)&ss, buf, size);
}

const char *addr_cidr_str(const struct addr_cidr *c, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(c->family == AF_INET ? AF_INET : AF_INET6, c->addr, a, sizeof(a));
	snprintf(buf, size, "%s/%u", a, c->prefix);
	return buf;
}

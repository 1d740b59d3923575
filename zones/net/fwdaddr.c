#include "zones/net/fwdaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "zones/net/addr.h"

static bool is_wildcard_or_loopback(const struct sockaddr *sa, bool loopback)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);
		return loopback ? (a >> 24) == 127 : a == 0;
	}
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	return loopback ? IN6_IS_ADDR_LOOPBACK(a6) : IN6_IS_ADDR_UNSPECIFIED(a6);
}

bool fwdaddr_reaches(const struct sockaddr *up, const struct sockaddr *listen)
{
	if (addr_equal(up, listen))
		return true;
	return up->sa_family == listen->sa_family && addr_port(up) == addr_port(listen) &&
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
			    addr_parse(addr, 53, 0, &out[n], NULL, 0) == 0)
				n++;
		}
		text += len + (eol ? 1 : 0);
	}
	return n;
}

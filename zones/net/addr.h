/* Address text: ADDR, ADDR:PORT, [v6]:PORT and CIDR prefixes. inet_pton only, so no name is
 * looked up and nothing here can block. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_STR_LEN 56 /* "[v6]:PORT", "v6/128" or an address alone, and the NUL */

/* addr_parse flags */
#define ADDR_ANY_PORT 0x1u /* port 0 ("any") is accepted */

/* "192.0.2.1:53", "[2001:db8::1]:53", and when default_port is nonzero also "192.0.2.1",
 * "2001:db8::1" and "[2001:db8::1]" (taking default_port). Brackets hold IPv6 only. 0, or
 * -EINVAL with why (when not NULL) telling what is wrong. */
int addr_parse(const char *s, uint16_t default_port, unsigned flags, struct sockaddr_storage *out,
	       char *why, size_t why_len);

/* A port: digits only, 1..65535 (0 too with ADDR_ANY_PORT). 0 or -EINVAL. */
int addr_parse_port(const char *s, unsigned flags, uint16_t *out);

/* A prefix: family AF_INET (the address in addr[0..4)) or AF_INET6, bits past prefix zero. */
struct addr_cidr {
	int family;
	unsigned prefix;
	uint8_t addr[16];
};
/* "10.0.0.0/8", "2001:db8::/32", or an address alone (/32 or /128). 0, or -EINVAL with why. */
int addr_cidr_parse(const char *s, struct addr_cidr *out, char *why, size_t why_len);
/* Is sa inside c? An IPv4-mapped IPv6 address (a dual-stack socket's IPv4 client) is matched
 * as the IPv4 address it holds. */
bool addr_cidr_match(const struct addr_cidr *c, const struct sockaddr *sa);

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes that IPv4 address, port kept. */
void addr_canon(struct sockaddr_storage *ss);
/* The length of sa's family's sockaddr: sockaddr_in6 for AF_INET6, else sockaddr_in. */
socklen_t addr_len(const struct sockaddr *sa);
/* Same family, address and port. */
bool addr_equal(const struct sockaddr *a, const struct sockaddr *b);
uint16_t addr_port(const struct sockaddr *sa); /* host order; 0 for another family */
/* "192.0.2.1:53" or "[2001:db8::1]:53" into buf (ADDR_STR_LEN fits). Returns buf. */
const char *addr_str(const struct sockaddr *sa, char *buf, size_t size);
/* The address alone, IPv4-mapped IPv6 as IPv4; "" for another family. Returns buf. */
const char *addr_ip_str(const struct sockaddr *sa, char *buf, size_t size);
/* The canonical text of an address given as text ("::FFFF:10.0.0.1" -> "10.0.0.1"); "" when
 * in is no address. Returns buf. */
const char *addr_ip_canon(const char *in, char *buf, size_t size);
/* "10.0.0.0/8", "2001:db8::/32" into buf (ADDR_STR_LEN fits). Returns buf. */
const char *addr_cidr_str(const struct addr_cidr *c, char *buf, size_t size);

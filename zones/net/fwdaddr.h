/* Upstream addresses for the forwarder: "ADDR[:PORT]" strings and resolv.conf text. No I/O. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "192.0.2.1", "192.0.2.1:5353", "2001:db8::1", "[2001:db8::1]:5353" (default_port when none).
 * 0 or -EINVAL. */
int fwdaddr_parse(const char *s, uint16_t default_port, struct sockaddr_storage *out);
/* Same family, address and port. */
bool fwdaddr_equal(const struct sockaddr *a, const struct sockaddr *b);
/* Would a query sent to up reach a server listening on listen (same address and port, or a
 * wildcard listen address and a loopback upstream on the same port)? */
bool fwdaddr_reaches(const struct sockaddr *up, const struct sockaddr *listen);
/* The "nameserver ADDR" lines of resolv.conf text (port 53), at most max. Returns how many. */
size_t fwdaddr_parse_resolv(const char *text, struct sockaddr_storage *out, size_t max);
/* "192.0.2.1:53", "[2001:db8::1]:53" into buf (at least 64 bytes). Returns buf. */
const char *fwdaddr_str(const struct sockaddr *sa, char *buf, size_t size);

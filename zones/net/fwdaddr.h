/* Upstream addresses for the forwarder: which would loop back to us, and resolv.conf text.
 * No I/O. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Would a query sent to up reach a server listening on listen (same address and port, or a
 * wildcard listen address and a loopback upstream on the same port)? */
bool fwdaddr_reaches(const struct sockaddr *up, const struct sockaddr *listen);
/* The "nameserver ADDR" lines of resolv.conf text (port 53), at most max. Returns how many. */
size_t fwdaddr_parse_resolv(const char *text, struct sockaddr_storage *out, size_t max);

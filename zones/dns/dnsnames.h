/* The presentation names of DNS types and rcodes, for logs and labels. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* "A", "AAAA", ...; an unnamed type as RFC 3597 writes it ("TYPE65280"). Returns buf. */
const char *dnsnames_type(uint16_t type, char *buf, size_t len);
/* "NOERROR" .. "NOTZONE" for the 4-bit header rcode, "RCODE11" .. "RCODE15" beyond. */
const char *dnsnames_rcode(uint8_t rcode);

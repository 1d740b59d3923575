#include "zones/dns/dnsnames.h"

#include <stdio.h>

static const struct {
	uint16_t code;
	const char *name;
} dnsnames_types[] = {
	{1, "A"},      {2, "NS"},    {5, "CNAME"},  {6, "SOA"},     {12, "PTR"},   {13, "HINFO"},
	{15, "MX"},    {16, "TXT"},  {28, "AAAA"},  {29, "LOC"},    {33, "SRV"},   {35, "NAPTR"},
	{39, "DNAME"}, {41, "OPT"},  {43, "DS"},    {46, "RRSIG"},  {47, "NSEC"},  {48, "DNSKEY"},
	{50, "NSEC3"}, {52, "TLSA"}, {64, "SVCB"},  {65, "HTTPS"},  {99, "SPF"},   {251, "IXFR"},
	{252, "AXFR"}, {255, "ANY"}, {256, "URI"},  {257, "CAA"},
};

static const char *const dnsnames_rcodes[16] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
	"NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",  "RCODE12", "RCODE13", "RCODE14",  "RCODE15",
};

const char *dnsnames_type(uint16_t type, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(dnsnames_types) / sizeof(dnsnames_types[0]); i++)
		if (dnsnames_types[i].code == type)
			return dnsnames_types[i].name;
	snprintf(buf, len, "TYPE%u", (unsigned)type);
	return buf;
}

const char *dnsnames_rcode(uint8_t rcode)
{
	return dnsnames_rcodes[rcode & 0x0f];
}

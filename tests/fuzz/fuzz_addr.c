/* libFuzzer target: address text as the configuration and resolv.conf give it (ADDR[:PORT],
 * [v6]:PORT, CIDR). What parses must print back to text that parses to the same thing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zones/net/addr.h"
#include "zones/net/fwdaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss, again, ns[4];
	struct addr_cidr c, c2;
	char why[128], s[ADDR_STR_LEN], *in = malloc(size + 1);

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	for (unsigned flags = 0; flags <= ADDR_ANY_PORT; flags++) {
		if (addr_parse(in, flags ? 0 : 53, flags, &ss, why, sizeof(why)) < 0)
			continue;
		addr_str((const struct sockaddr *)&ss, s, sizeof(s));
		if (addr_parse(s, 0, ADDR_ANY_PORT, &again, NULL, 0) < 0 ||
		    !addr_equal((const struct sockaddr *)&ss, (const struct sockaddr *)&again))
			abort();
		addr_ip_str((const struct sockaddr *)&ss, s, sizeof(s));
		addr_canon(&ss);
		(void)addr_cidr_match(&(struct addr_cidr){.family = AF_INET, .prefix = 8},
				      (const struct sockaddr *)&ss);
	}
	if (addr_cidr_parse(in, &c, why, sizeof(why)) == 0) {
		addr_cidr_str(&c, s, sizeof(s));
		if (addr_cidr_parse(s, &c2, NULL, 0) < 0 || memcmp(&c, &c2, sizeof(c)) != 0)
			abort();
	}
	addr_ip_canon(in, s, sizeof(s));
	fwdaddr_parse_resolv(in, ns, 4);
	free(in);
	return 0;
}

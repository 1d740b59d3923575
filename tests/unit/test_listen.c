/* The per-address numbers that say "auto": a default off loopback and none on it. */
#include "resolver/serve/listen.h"

#include <string.h>

#include "check.h"
#include "zones/net/addr.h"

static unsigned auto_for(const char *value, const char *addr, unsigned dflt)
{
	struct sockaddr_storage ss;

	CHECK_INT_EQ(addr_parse(addr, 0, 0, &ss, NULL, 0), 0);
	return listen_auto(value, &ss, dflt);
}

int main(void)
{
	CHECK_INT_EQ(auto_for("auto", "127.0.0.1:53", 64), 0);
	CHECK_INT_EQ(auto_for("auto", "[::1]:53", 64), 0);
	CHECK_INT_EQ(auto_for("auto", "192.0.2.1:53", 64), 64);
	CHECK_INT_EQ(auto_for("auto", "[2001:db8::1]:53", 200), 200);
	CHECK_INT_EQ(auto_for("5", "127.0.0.1:53", 64), 5);
	CHECK_INT_EQ(auto_for("0", "192.0.2.1:53", 64), 0);
	return 0;
}

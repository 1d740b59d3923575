#include "resolver/serve/upstats.h"

#include <string.h>

#include "zones/net/addr.h"

void upstats_add(struct upstats *u, const struct sockaddr *sa)
{
	for (size_t i = 0; i < u->n; i++)
		if (addr_equal((const struct sockaddr *)&u->addr[i], sa))
			return;
	if (u->n == UPSTATS_MAX)
		return;
	memcpy(&u->addr[u->n++], sa, addr_len(sa));
}

void upstats_count(struct upstats *u, const struct sockaddr *sa, enum upstats_event e)
{
	for (size_t i = 0; i < u->n; i++) {
		if (addr_equal((const struct sockaddr *)&u->addr[i], sa)) {
			u->count[i][e]++;
			return;
		}
	}
}

const char *upstats_event_name(enum upstats_event e)
{
	static const char *const names[UPSTATS_EVENTS] = {"queries", "answers", "failures",
							  "timeouts"};
	return names[e];
}

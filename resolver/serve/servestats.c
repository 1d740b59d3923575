#include "resolver/serve/servestats.h"

void servestats_add(struct servestats *out, const struct servestats *st)
{
	out->udp_queries += SERVESTATS_GET(st->udp_queries);
	out->tcp_queries += SERVESTATS_GET(st->tcp_queries);
	out->dropped += SERVESTATS_GET(st->dropped);
	out->malformed += SERVESTATS_GET(st->malformed);
	out->forwarded += SERVESTATS_GET(st->forwarded);
	out->fetched += SERVESTATS_GET(st->fetched);
	out->send_errors += SERVESTATS_GET(st->send_errors);
	out->tcp_accepted += SERVESTATS_GET(st->tcp_accepted);
	out->tcp_rejected += SERVESTATS_GET(st->tcp_rejected);
	out->tcp_rejected_client += SERVESTATS_GET(st->tcp_rejected_client);
	out->tcp_idle_closed += SERVESTATS_GET(st->tcp_idle_closed);
	out->rrl_dropped += SERVESTATS_GET(st->rrl_dropped);
	out->rrl_slipped += SERVESTATS_GET(st->rrl_slipped);
	out->cache_hits += SERVESTATS_GET(st->cache_hits);
	out->cache_stale += SERVESTATS_GET(st->cache_stale);
	for (size_t r = 0; r < 16; r++)
		out->rcode[r] += SERVESTATS_GET(st->rcode[r]);
}

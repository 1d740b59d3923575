/* libFuzzer target: the forward cache's reading of an upstream reply, and the answers it makes of
 * what it kept. The first octet: bit 0 the DO bit of the question, bit 1 a stale answer allowed;
 * the rest is the reply, whose own question is the one asked. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "zones/dns/msgcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct msgcache_limits limits = {.min_ttl = 0,
					      .max_ttl = 86400,
					      .max_negative_ttl = 3600,
					      .failure_ttl = 5,
					      .stale_max = 86400,
					      .max_bytes = 1 << 16};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[65535];
	struct msgcache_key k;
	size_t n = 0;
	bool refresh;

	if (size < 1)
		return 0;
	const uint8_t *reply = data + 1;
	size_t len = size - 1;
	if (msgcache_key_make(reply, len, data[0] & 1, &k) < 0)
		return 0;
	struct msgcache *c = msgcache_new(&limits);
	if (!c)
		return 0;
	if (msgcache_store(c, &k, reply, len, 1000) == 0) {
		struct msgcache_ask a = {.query = reply,
					 .len = len,
					 .qend = 12 + k.len - 1,
					 .edns = true,
					 .edns_size = 1232,
					 .max_reply = 512,
					 .now_ms = (data[0] & 2) ? 1000 + 86400000LL : 2000,
					 .stale_ok = (data[0] & 2) != 0};
		int r = msgcache_answer(c, &k, &a, out, sizeof(out), &n, &refresh);
		if (r != MSGCACHE_MISS && (n < 12 || n > 512 + 64))
			abort();
		a.max_reply = sizeof(out);
		r = msgcache_answer(c, &k, &a, out, sizeof(out), &n, &refresh);
		if (r != MSGCACHE_MISS && (n < 12 || n > sizeof(out)))
			abort();
	}
	msgcache_store_failure(c, &k, 3000);
	msgcache_flush(c);
	msgcache_free(c);
	return 0;
}

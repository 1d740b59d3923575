/* Messages built with ldns, as the wire bytes the code under test reads (the test frees them). */
#pragma once
#include <ldns/ldns.h>
#include <stdint.h>

#include "check.h"

struct wire {
	uint8_t *data;
	size_t len;
};

/* Takes p. */
static inline struct wire to_wire(ldns_pkt *p)
{
	struct wire w;
	CHECK(ldns_pkt2wire(&w.data, p, &w.len) == LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return w;
}

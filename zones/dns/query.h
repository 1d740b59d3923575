/* One DNS message in, one reply out, over a snapshot: the hot path. Sans-I/O. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snapshot;

enum query_status {
	QUERY_DROP = -1,   /* not a query we answer (QR set, too short, garbage): send nothing */
	QUERY_ANSWER = 0,  /* out holds the reply */
	QUERY_OUTSIDE = 1, /* name in no zone: out holds REFUSED; forward instead when allowed */
	QUERY_FETCH = 2,   /* service known but not fetched yet: out holds SERVFAIL; service_* say
			      which service; after the fetch, answer again from the new snapshot.
			      service_name NULL: a name whose absence only the sync can settle
			      (query_miss says what it needs); answer again once it has */
};

/* Per query: inputs set by the caller, outputs set by query_answer. */
struct query_info {
	/* in */
	bool tcp;             /* TCP: no size limit but 65535, never TC for size */
	uint32_t client_hash; /* hash of the client address, for SNAPSHOT_ORDER_CLIENT */
	uint64_t random;      /* fresh random bits for this query (weighted order) */
	int64_t now_ms;       /* Unix ms, for ages shown in _info */
	bool settled;         /* the sync has looked for this name: what is not held is absent
				 (NXDOMAIN), whatever the zone's catalogs say */
	/* out: valid when the status is not QUERY_DROP */
	uint16_t qtype;
	uint16_t qclass;
	uint8_t rcode;       /* rcode of the reply in out (low 4 bits; BADVERS is 16) */
	uint16_t client_udp; /* the client's UDP payload size: 512, or its EDNS size capped */
	bool edns;           /* the query had an OPT record */
	bool do_bit;         /* its DO bit (RFC 3225) */
	size_t question_end; /* offset just past the question */
	/* The Nacos service the question named (its own name or a name below it), borrowed from
	 * the snapshot; NULL when it named none. Set for QUERY_ANSWER (so the sync can see which
	 * services are in use) and for QUERY_FETCH (the service to fetch). */
	const char *service_namespace;
	const char *service_group;
	const char *service_name;
};

/* Answers the message in[0..len). out_cap should be 65535 for TCP; for UDP the reply is sized to
 * the client's limit by query_answer itself. Returns an enum query_status. */
int query_answer(const struct snapshot *snap, struct query_info *qi, const uint8_t *in, size_t len,
		 uint8_t *out, size_t out_cap, size_t *out_len);

#define QUERY_MISS_NAMES 3

/* What a QUERY_FETCH without a service leaves to the sync, spelled as the query spelled it
 * (Nacos names are case-sensitive, DNS names are not). */
struct query_miss {
	const char *namespace_id; /* the zone's, borrowed from the snapshot */
	char group[64];           /* the label before the zone; "" when there is none */
	/* The services the name may belong to, longest first: the whole name below the group,
	 * and that name without a leading instance, _info, "<cluster>._cluster" or "_x._proto"
	 * part. Labels that no Nacos name can hold (dots, spaces, controls) leave a name out. */
	char names[QUERY_MISS_NAMES][256];
	size_t n_names;
};

/* The most query_compact writes: header, question, an OPT with the NSID option. */
#define QUERY_COMPACT_MAX (12 + 255 + 4 + 11 + 4)

/* The query in[0..len) as it needs to be kept to be answered later: header, question, and an
 * OPT carrying what the answer depends on (UDP size, version, DO, NSID asked), without the
 * other records or options (padding may make a TCP query 64 KiB). Into out (at least
 * QUERY_COMPACT_MAX octets); its length, or 0 when in is no query query_answer would answer. */
size_t query_compact(const uint8_t *in, size_t len, uint8_t *out);

/* Fills out for the question of in[0..len). 0, or -EINVAL when it names no zone of snap. */
int query_miss(const struct snapshot *snap, const uint8_t *in, size_t len, struct query_miss *out);

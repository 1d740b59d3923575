/*
 * The private layout of a snapshot, shared by snapshot.c (which builds it) and query.c (which
 * reads it). Nothing outside zones/ includes this file.
 *
 * Every owner name is one entry of `names`, found through an open-addressing table keyed by the
 * lowercased wire form of the whole name. Records are kept as prepared wire bytes in `blob`:
 *  - an answer record starts with the owner pointer C0 0C (the question name always sits at
 *    offset 12 and has exactly the owner's length, since lookups are by whole name);
 *  - an SRV target and the owner of an additional record are one label followed by a pointer to
 *    the service name inside the question; that pointer depends on the question (the service
 *    name may be a suffix of it), so it is written as 0 and patched per reply;
 *  - the SOA owner and its RNAME suffix point at the zone apex inside the question: patched too.
 */
#pragma once
#include "zones/base/hash.h"
#include "zones/data/snapshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* RR types and classes both the builder and the query path write. */
#define T_A    1
#define T_NS   2
#define T_SOA  6
#define T_PTR  12
#define T_TXT  16
#define T_AAAA 28
#define T_SRV  33
#define C_IN   1

#define SNAP_NONE UINT32_MAX

/* The largest RRsets we keep: what a 65535-octet TCP reply can carry. */
#define SNAP_MAX_RRS 4096

enum snap_kind {
	SNAP_KIND_APEX = 0, /* zone apex: SOA, NS */
	SNAP_KIND_ENT,      /* empty non-terminal */
	SNAP_KIND_SERVICE,  /* <service>.<group>.<zone> and <cluster>._cluster.<service>... */
	SNAP_KIND_IPLABEL,  /* <ip-label>.<service>...: A or AAAA of one instance */
	SNAP_KIND_INFO,     /* _info.<service>...: TXT rendered per query */
	SNAP_KIND_PENDING,  /* a catalog-only service: QUERY_FETCH */
	SNAP_KIND_GROUP,    /* <group>.<zone> of a listed group: an empty non-terminal */
	SNAP_KIND_REVERSE,  /* <ip>.in-addr.arpa / ip6.arpa of instances: PTR, in no zone */
};

/* Records of one type at one name: count records, len octets at blob + off. */
struct snap_rrset {
	uint32_t off;
	uint32_t len;
	uint32_t count;
	uint32_t weights; /* A/AAAA: index of count weights in snapshot.weights; else SNAP_NONE */
};

/* The prepared data of a service (or of one of its clusters, or of one instance name). */
struct snap_data {
	struct snap_rrset a, aaaa, srv, txt;
	struct snap_rrset add; /* A/AAAA of the SRV targets, for the additional section */
	struct snap_rrset ptr; /* SNAP_KIND_REVERSE: the instance names of an address */
	uint16_t svc_len;      /* wire length of <service>.<group>.<zone>: SRV targets end there */
};

struct snap_name {
	uint32_t hash;
	uint32_t key_off; /* lowercased wire name at keys + key_off */
	uint16_t key_len;
	uint8_t zone;
	uint8_t kind;  /* enum snap_kind */
	uint32_t svc;  /* index into services, or SNAP_NONE */
	uint32_t data; /* index into data (SNAP_KIND_IPLABEL: blob offset of its record); or
			  SNAP_NONE */
};

struct snap_service {
	const char *namespace_id; /* borrowed from the zone */
	char *group;
	char *name;
	char *server;
	char *api;
	int64_t fetched_ms;
	bool stale;
	bool protect;
	bool pending;
	bool uncatalogued; /* see struct nacos_origin */
	uint32_t total, healthy, enabled, usable;
};

struct snap_zone {
	uint8_t wire[256]; /* lowercased */
	uint16_t wire_len;
	char *namespace_id;
	bool partial;     /* see struct snapshot_zone */
	bool open_groups; /* see struct snapshot_zone */
	/* SOA record: C0 xx (owner) type class ttl rdlen MNAME "hostmaster" C0 xx (RNAME) ... */
	uint32_t soa_off, soa_len;
	uint32_t soa_rname_ptr;  /* offset of the RNAME suffix pointer inside the SOA record */
	uint32_t ns_off, ns_len; /* NS record, owner C0 0C (only answered at the apex) */
};

struct snapshot {
	uint32_t generation;
	uint32_t ttl, negative_ttl;
	uint16_t udp_max;
	enum snapshot_order order;
	enum snapshot_overflow overflow;
	char *hostname; /* presentation form without the trailing dot */
	char *version;

	size_t n_zones;
	struct snap_zone zones[SNAPSHOT_MAX_ZONES];

	struct snap_name *names;
	size_t n_names, cap_names;
	uint32_t *table;   /* name index + 1; 0 = empty slot */
	size_t table_size; /* a power of two */

	uint8_t *keys;
	size_t n_keys, cap_keys;
	uint8_t *blob;
	size_t n_blob, cap_blob;
	uint32_t *weights;
	size_t n_weights, cap_weights;
	struct snap_data *data;
	size_t n_data, cap_data;
	struct snap_service *services;
	size_t n_services, cap_services;

	struct snapshot_stats stats;
};

/* FNV-1a over a lowercased wire name. */
static inline uint32_t snap_hash(const uint8_t *key, size_t len)
{
	return hash_fnv32(HASH_FNV32_INIT, key, len);
}

/* The index of the name with this lowercased wire key, or SNAP_NONE. */
static inline uint32_t snap_lookup(const struct snapshot *s, const uint8_t *key, size_t len,
				   uint32_t hash)
{
	if (!s->table_size)
		return SNAP_NONE;
	size_t mask = s->table_size - 1;
	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		uint32_t slot = s->table[i];
		if (!slot)
			return SNAP_NONE;
		const struct snap_name *n = &s->names[slot - 1];
		if (n->hash == hash && n->key_len == len &&
		    memcmp(s->keys + n->key_off, key, len) == 0)
			return slot - 1;
	}
}

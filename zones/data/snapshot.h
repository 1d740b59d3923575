/* The immutable registry the query path reads: zones, owner names -> prepared wire RRsets. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nacos_diag;     /* nacos.h */
struct nacos_registry; /* nacos.h */
struct nacos_service;  /* nacos.h */
struct snapshot;
struct snapshot_builder;

enum snapshot_order {
	SNAPSHOT_ORDER_WEIGHTED = 0, /* weighted random A/AAAA order per response */
	SNAPSHOT_ORDER_CLIENT,       /* weighted order from a hash of the client address */
};

enum snapshot_overflow {
	SNAPSHOT_OVERFLOW_TC = 0, /* RRset does not fit a UDP reply: TC, client retries over TCP */
	SNAPSHOT_OVERFLOW_SUBSET, /* weighted random subset that fits, no TC */
};

struct snapshot_zone {
	const char *name;         /* presentation form, "svc." (trailing dot optional) */
	const char *namespace_id; /* Nacos namespace served in this zone, "public" */
	bool partial; /* its catalog is not listed yet: a name not held may still exist, so
			 queries for one get QUERY_FETCH instead of NXDOMAIN */
	/* A name not held below a group that is not listed (snapshot_builder_add_group) may
	 * still exist: QUERY_FETCH, so that the sync lists that group, or fetches the name
	 * itself when the group cannot be listed. false: such a name is NXDOMAIN. */
	bool open_groups;
};

#define SNAPSHOT_MAX_ZONES 16

/* Everything that shapes answers. Strings are copied by snapshot_builder_new. */
struct snapshot_config {
	struct snapshot_zone zones[SNAPSHOT_MAX_ZONES];
	size_t n_zones;
	uint32_t ttl;          /* answer TTL; default 5 */
	uint32_t negative_ttl; /* SOA minimum and the TTL of negative answers; default 5 */
	uint16_t udp_max;      /* cap on the client's EDNS buffer size; default 1232 */
	enum snapshot_order order;
	enum snapshot_overflow overflow;
	const char *hostname; /* hostname.bind, id.server, SOA MNAME/NS target; NULL: "localhost" */
	const char *version;  /* version.bind; NULL: "nacos-dns" */
};

/* Fills the defaults above with the single zone "svc." -> namespace "public". */
void snapshot_config_defaults(struct snapshot_config *c);

/* NULL on ENOMEM or on an invalid zone name (then d->warn says which). The generation
 * becomes the SOA serial. */
struct snapshot_builder *snapshot_builder_new(const struct snapshot_config *c, uint32_t generation,
					      struct nacos_diag *d);
/* Adds svc's records to every zone that serves namespace_id; svc is borrowed (its data is
 * copied). Returns how many zones took it (0 when none serves the namespace), -EINVAL when its
 * names cannot be DNS names (reported through d, counted in d->skipped), -ENOMEM. A second
 * service with the same owner name (case-insensitively) is skipped and reported. */
int snapshot_builder_add_service(struct snapshot_builder *b, const char *namespace_id,
				 const struct nacos_service *svc, struct nacos_diag *d);
/* A service known from the Nacos catalog whose instances are not fetched yet: queries for it
 * return QUERY_FETCH. Same return values as snapshot_builder_add_service. */
int snapshot_builder_add_pending(struct snapshot_builder *b, const char *namespace_id,
				 const char *group, const char *name, struct nacos_diag *d);
/* A group whose catalog is listed: in zones with open_groups, a name below it that is not held
 * is NXDOMAIN. Same return values as snapshot_builder_add_service (a group that is no single
 * DNS label is -EINVAL). */
int snapshot_builder_add_group(struct snapshot_builder *b, const char *namespace_id,
			       const char *group, struct nacos_diag *d);
/* Every service of every namespace of r. 0, or -ENOMEM. Bad names are skipped (see above). */
int snapshot_builder_add_registry(struct snapshot_builder *b, const struct nacos_registry *r,
				  struct nacos_diag *d);
/* Consumes b (freed whatever happens). NULL on ENOMEM. */
struct snapshot *snapshot_build(struct snapshot_builder *b);
void snapshot_builder_free(struct snapshot_builder *b); /* NULL-safe; for abandoning a build */

void snapshot_free(struct snapshot *s); /* NULL-safe */
uint32_t snapshot_generation(const struct snapshot *s);

struct snapshot_stats {
	size_t zones;
	size_t services; /* with data */
	size_t pending;  /* catalog-only */
	size_t instances;
	size_t usable;
	size_t names; /* owner names, empty non-terminals included */
};
void snapshot_get_stats(const struct snapshot *s, struct snapshot_stats *out);

/* Nacos JSON (instance lists v1/v2/v3, service list, login, registry file) <-> service records. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Receives one message per skipped item or rejected document; msg is valid during the call only. */
typedef void (*nacos_warn_cb)(void *arg, const char *msg);

/* Diagnostics sink shared by every parser and by the snapshot builder. warn may be NULL. */
struct nacos_diag {
	nacos_warn_cb warn;
	void *arg;
	size_t skipped; /* incremented per skipped instance, service or name */
};

struct nacos_instance {
	char *ip;         /* canonical text form (inet_ntop of addr) */
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; the first 4 bytes for AF_INET */
	uint16_t port;    /* 0: registered without a port (no SRV record) */
	double weight;    /* 0 .. 10000, finite */
	bool healthy;
	bool enabled;
	bool ephemeral;
	char *cluster;     /* "DEFAULT" when Nacos sent none */
	char *instance_id; /* NULL when absent */
	size_t n_meta;
	char **meta; /* 2 * n_meta strings: key, value, key, value ... sorted by key */
};

/* Where a service's data came from; shown in _info TXT and kept in the cache file. */
struct nacos_origin {
	char *server;       /* "http://10.0.0.1:8848", "file:/path"; NULL: unknown */
	char *api;          /* "v1", "v3", "file"; NULL: unknown */
	int64_t fetched_ms; /* Unix ms of the last successful fetch; 0: unknown */
	bool stale;         /* the last fetch failed and this is older data */
	bool uncatalogued;  /* its group's catalog cannot be listed: fetched by name for a query */
};

struct nacos_service {
	char *group;            /* "DEFAULT_GROUP" */
	char *name;             /* bare service name, never "GROUP@@name" */
	bool protect_threshold; /* Nacos's reachProtectionThreshold */
	int64_t cache_millis;   /* 0 when absent */
	size_t n_instances;
	struct nacos_instance *instances; /* sorted by (ip, port, cluster) */
	struct nacos_origin origin;
};

/* One namespace of a registry: its id and its services (owned). */
struct nacos_namespace {
	char *id;
	size_t n_services;
	struct nacos_service **services;
	size_t cap_services; /* room in services, kept by nacos.c */
};

/* A whole registry: {"namespaces": {"<id>": [<ServiceInfo>, ...]}}. */
struct nacos_registry {
	size_t n_namespaces;
	struct nacos_namespace *namespaces;
	size_t cap_namespaces; /* room in namespaces, kept by nacos.c */
};

/*
 * Parsers. Each returns 0 and sets *out to a new object, or returns -EBADMSG (document rejected,
 * d->warn told why), -EFBIG (a service of more than 65,536 hosts: refused whole, never cut) or
 * -ENOMEM. In a registry file such a service is skipped and reported. An instance that fails
 * validation (bad ip, port outside 0..65535, weight negative/NaN/over 10000, wrong types) is
 * skipped, reported, and counted in d->skipped. d may be NULL. Unknown keys are ignored everywhere.
 */

/* v1/v2 ServiceInfo object, as /nacos/v1/ns/instance/list returns it ("name" grouped or bare;
 * bare names take default_group, or "DEFAULT_GROUP" when that is NULL). */
int nacos_parse_instance_list(const char *body, size_t len, const char *default_group,
			      struct nacos_diag *d, struct nacos_service **out);
/* v3 client API: {"code":0,"message":"success","data":[<Instance>...]}. The body names no
 * service, so group and name come from the request. */
int nacos_parse_v3_instances(const char *body, size_t len, const char *group, const char *name,
			     struct nacos_diag *d, struct nacos_service **out);
/* v1 service/list: {"count":N,"doms":[...]}. *names: n malloc'ed strings in a malloc'ed array
 * (nacos_strv_free); *total: "count", the size before paging. */
int nacos_parse_service_list(const char *body, size_t len, struct nacos_diag *d, char ***names,
			     size_t *n, size_t *total);
/* A service name from a catalog listing (v1 doms, v3 pageItems) worth fetching: not empty, not
 * starting with '@' (Nacos forbids it; it would read as a group), at most 4096 bytes. */
bool nacos_listed_name_ok(const char *name);

/* Login answer {"accessToken":"...","tokenTtl":N,...}: *token malloc'ed, *ttl_s seconds. */
int nacos_parse_login(const char *body, size_t len, struct nacos_diag *d, char **token,
		      int64_t *ttl_s);
/* Registry file / cache file. */
int nacos_registry_parse(const char *body, size_t len, struct nacos_diag *d,
			 struct nacos_registry **out);

/* Serialises r in the format nacos_registry_parse reads (origin kept as extra keys).
 * Returns a malloc'ed NUL-terminated string, or NULL on ENOMEM. */
char *nacos_registry_dump(const struct nacos_registry *r);

struct nacos_registry *nacos_registry_new(void); /* empty; NULL on ENOMEM */
/* Borrowed; NULL when the namespace is absent. */
struct nacos_namespace *nacos_registry_find(struct nacos_registry *r, const char *namespace_id);
/* Inserts svc into namespace_id (created when absent), replacing a service of the same
 * group and name. 0: r owns svc. <0: error, caller still owns svc. */
int nacos_registry_put_take(struct nacos_registry *r, const char *namespace_id,
			    struct nacos_service *svc);
/* Borrowed; NULL when absent. Names compare exactly (Nacos is case-sensitive). */
struct nacos_service *nacos_registry_get(struct nacos_registry *r, const char *namespace_id,
					 const char *group, const char *name);
/* Removes and frees; 0 removed, -ENOENT absent. */
int nacos_registry_remove(struct nacos_registry *r, const char *namespace_id, const char *group,
			  const char *name);
void nacos_registry_free(struct nacos_registry *r); /* NULL-safe */

struct nacos_service *nacos_service_clone(const struct nacos_service *s); /* NULL on ENOMEM */
/* true when both hold the same instances with the same attributes (origin ignored). */
bool nacos_service_same_instances(const struct nacos_service *a, const struct nacos_service *b);
void nacos_service_free(struct nacos_service *s); /* NULL-safe */
void nacos_strv_free(char **v, size_t n);         /* NULL-safe */

/* Adds skipped to d->skipped and passes the formatted message to d->warn. d may be NULL. */
void nacos_diag_report(struct nacos_diag *d, size_t skipped, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* An instance is usable when enabled, healthy (or the service's protection threshold is
 * reached) and weight > 0: what selectInstances(healthy=true) gives. */
bool nacos_instance_usable(const struct nacos_service *s, const struct nacos_instance *i);

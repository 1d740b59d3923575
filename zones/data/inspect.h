/* Read-only views of a snapshot for operators: its zones and its services' provenance. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snapshot;

struct inspect_service {
	const char *namespace_id, *group, *name;
	const char *server, *api; /* where the data came from; NULL: unknown */
	int64_t fetched_ms;       /* Unix ms of the last successful fetch; 0: unknown */
	bool stale;               /* served from older data after a failed fetch */
	bool pending;             /* known from the catalog only, instances not fetched yet */
	bool protect;             /* Nacos's protection threshold reached */
	bool uncatalogued;        /* its group cannot be listed: fetched by name for a query */
	uint32_t total, healthy, enabled, usable;
};

/* Every service of s, in snapshot order; svc is borrowed for the call. */
typedef void (*inspect_service_cb)(void *arg, const struct inspect_service *svc);
void inspect_services(const struct snapshot *s, inspect_service_cb cb, void *arg);

/* Zone i of s, or NULL when out of range; *namespace_id set to its namespace. Borrowed; name is
 * the presentation form with a trailing dot, written into buf (at least 1025 octets). */
const char *inspect_zone(const struct snapshot *s, size_t i, const char **namespace_id, char *buf,
			 size_t len);

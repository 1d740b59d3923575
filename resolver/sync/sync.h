/* Keeps the registry in step with a Nacos cluster over HTTP, and the cache file. Every function
 * here runs on the loop thread the sync was made on (the daemon's main loop), and so do the
 * callbacks it makes. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "zones/nacos/nacosapi.h"

struct config;
struct query_miss;
struct snapstore;
struct snapshot;
struct sync;

/* snap: a snapshot of the fetched service alone, to answer the waiting query from (valid
 * during the call); NULL: answer from the registry. absent: the name the query asked for is
 * known not to exist (answer NXDOMAIN, query_info.settled). */
typedef void (*sync_fetch_cb)(void *arg, const struct snapshot *snap, bool absent);

/* Loads cfg->cache_file when set, publishes it, and starts syncing. 0 or negative errno. */
int sync_new(uv_loop_t *loop, const struct config *cfg, struct snapstore *reg, struct sync **out);
/* A query hit a catalog service the snapshot it read holds no data of: track it. cb runs once,
 * when its first fetch ends (success or not) or after cfg->fetch_wait_ms, whichever is first,
 * or at once when the data is already in; never inside this call. <0: cb will not run. */
int sync_track(struct sync *s, const char *namespace_id, const char *group, const char *service,
	       sync_fetch_cb cb, void *arg);
/* A query was answered from this service: it stays tracked (cheap; called per answer). */
void sync_touch(struct sync *s, const char *namespace_id, const char *group, const char *service);
/* A query named a name the sync must settle (QUERY_FETCH without a service; m from
 * query_miss): its zone's catalog is not listed yet (wait for it), its group was never listed
 * (list it: any group resolves, up to cfg->max_groups), or its group cannot be listed (fetch
 * the services it may name, rate-limited, absent ones remembered for the negative TTL). cb runs
 * once, never inside this call, within cfg->fetch_wait_ms. <0: cb will not run (-EBUSY: a cap
 * was reached). */
int sync_wait_miss(struct sync *s, const struct query_miss *m, sync_fetch_cb cb, void *arg);
/* The cache file was loaded, or a snapshot with every catalog listed was published. */
bool sync_ready(const struct sync *s);
void sync_close(struct sync *s);
/* SIGHUP: applies cfg (copied) to the running sync, keeping every service's data: TTLs and
 * zones (a new snapshot is published now), intervals, track mode, groups, and the Nacos
 * servers, API pin and credentials (calls in flight start over, logins afresh). 0, or a
 * negative errno with nothing changed (a cfg->nacos without an http(s) server: -EINVAL). */
int sync_reload(struct sync *s, const struct config *cfg);
/* A query named no catalog service: the catalog may be behind, so list it again soon (at most
 * once per 5 s). Cheap; may be called per query. */
void sync_catalog_miss(struct sync *s);

/* Counters for metrics; monotonic unless noted. */
#define SYNC_MAX_SERVERS 16

/* HTTP answers of one Nacos server, by the API asked (0: v1, 1: v3) and what they were. */
struct sync_server_stats {
	char url[256];
	uint64_t results[2][NACOSAPI_RESULT_COUNT];
	int grpc; /* gRPC connection: 0 none (HTTP only), 1 connecting, 2 up */
};

struct sync_stats {
	uint64_t requests;     /* HTTP requests sent to Nacos, logins included */
	uint64_t fetch_ok;     /* instance lists fetched */
	uint64_t fetch_failed; /* instance lists not fetched (kept stale) */
	uint64_t catalog_ok;   /* catalog listings completed */
	uint64_t catalog_failed;
	uint64_t logins;
	uint64_t held_back;  /* answers held back by the mass-removal guard */
	uint64_t publishes;  /* snapshots published */
	double build_ms;     /* now: how long building the last one took (on the thread pool) */
	double build_cpu_ms; /* now: the CPU time that build took */
	uint64_t cache_writes;
	uint64_t cache_write_failures; /* cache file writes that failed */
	/* Refusals by a memory cap (config max-*): Nacos answers over max-response-size, listings
	 * over max-services, instance lists over max-instances, services not tracked for
	 * max-tracked, queries not held for fetch-max-waiting. */
	uint64_t over_response_size, over_services, over_instances, over_tracked;
	uint64_t over_waiting; /* queries answered SERVFAIL at once: fetch-max-waiting reached */
	uint64_t over_groups;  /* groups named by queries not listed: max-groups reached */
	uint64_t over_direct;  /* names of unlistable groups not fetched: over the rate */
	/* UDP pushes: every datagram counts as received and as one of applied (its service
	 * updated, or confirmed unchanged), stale (no newer than the data held, or for a service
	 * not tracked) or rejected (not from a Nacos server, malformed, unknown type). */
	uint64_t push_received, push_applied, push_stale, push_rejected;
	/* gRPC (--nacos-transport): NotifySubscriberRequests received, and each as applied, stale
	 * (no newer than the data held, or not tracked) or rejected (malformed); connections up
	 * again after the first; subscriptions sent again after them; subscriptions confirmed
	 * (now). */
	uint64_t grpc_notifies, grpc_notify_applied, grpc_notify_stale, grpc_notify_rejected;
	uint64_t grpc_reconnects, grpc_resubscriptions, grpc_subscribed;
	uint64_t tracked; /* now: services tracked */
	uint64_t stale;   /* now: services served stale */
	struct sync_server_stats servers[SYNC_MAX_SERVERS];
	size_t n_servers;
};
void sync_get_stats(const struct sync *s, struct sync_stats *out);

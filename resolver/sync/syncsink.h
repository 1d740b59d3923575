/* What a transport tells the sync: the interface the sync implements and every transport (HTTP
 * and gRPC) calls, on the sync's loop thread. A transport holds an entry in flight (inflight
 * set) from the fetch it was asked for until it calls instances or instances_failed,
 * and a catalog from its listing's start until catalog_page returns false or catalog_failed. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nacos_service;
struct synccat_catalog;
struct synctrack_entry;

/* Where an instance list came from: what _info shows, and what decides between answers. */
struct syncsink_source {
	size_t server;   /* the Nacos server's index (synccall_server) */
	const char *api; /* the API that gave it, as _info shows it ("v1", "v3") */
	int64_t ref_ms;  /* the server's lastRefTime of the data (ms); 0: none */
	size_t skipped;  /* instances the transport left out... */
	const char *why; /* ...and the first reason ("" when none) */
	/* Not the answer to a fetch (e's fetch, if one is out, goes on): data a subscription
	 * brought (gRPC), its first answer or, pushed, a change. */
	bool unasked, pushed;
};

struct syncsink {
	void *owner;
	/* e's instance list: svc (taken) is what Nacos has now. e's fetch ends here. */
	void (*instances)(void *owner, struct synctrack_entry *e, struct nacos_service *svc,
			  const struct syncsink_source *from);
	/* e's fetch ended without a list (over_cap: the answer was over a memory cap). */
	void (*instances_failed)(void *owner, struct synctrack_entry *e, const char *why,
				 bool over_cap);
	/* One page of cat's listing: names (n of them, the group's, taken) from a page of `items`
	 * entries (of every group the server matched; page_size asked) of the `total` the server
	 * counts. true: ask for the next page (cat->page is it); false: the listing is over. */
	bool (*catalog_page)(void *owner, struct synccat_catalog *cat, char **names, size_t n,
			     size_t items, size_t total, size_t page_size);
	/* cat's listing ended without a result (refused: a server said no). */
	void (*catalog_failed)(void *owner, struct synccat_catalog *cat, const char *why,
			       bool refused);
};

/* The sync's gRPC transport (--nacos-transport auto|grpc): a tracked service is subscribed over
 * one grpcsub connection, the data its subscription brings (the first answer and every push)
 * is handed to the sync through struct syncsink as unasked data, a catalog is listed with
 * ServiceListRequest while connected, and the HTTP login's token (synccall) goes into the
 * requests' metadata. HTTP polls go on beside it as a safety net. Everything here runs on the
 * sync's loop thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "resolver/sync/grpcsub.h"

struct config;
struct synccall;
struct synccat_catalog;
struct syncgrpc;
struct syncio;
struct syncsink;
struct synctrack;
struct synctrack_entry;

#define SYNCGRPC_POLL_FACTOR 10 /* polls of a subscribed service, this many intervals apart */

struct syncgrpc_hooks {
	void *owner;
	/* The connection came up: catalogs not being listed may be listed over it now. */
	void (*up)(void *owner);
};

/* Counters summed over every connection (monotonic across reloads), and the one open now. */
struct syncgrpc_stats {
	struct grpcsub_stats sub;
	bool on; /* a connection is open: sub.server and sub.up say to whom and how far */
};

/* Over net's servers and tokens, for the entries of track; cfg and io are borrowed (the
 * owner's, cfg changed in place by a reload); sink and h are copied. No connection before
 * syncgrpc_start. NULL on ENOMEM. */
struct syncgrpc *syncgrpc_new(uv_loop_t *loop, const struct config *cfg, const struct syncio *io,
			      struct synccall *net, struct synctrack *track,
			      const struct syncsink *sink, const struct syncgrpc_hooks *h);
/* Connects to net's servers unless cfg says http or io has no gRPC (a failure is logged: HTTP
 * only). Every entry tracked so far is subscribed at its next fetch. */
void syncgrpc_start(struct syncgrpc *g);
/* Closes the connection (its listings are cancelled inside); its counters are kept. */
void syncgrpc_stop(struct syncgrpc *g);
void syncgrpc_free(struct syncgrpc *g); /* NULL-safe; stops g first */
/* Keeps e subscribed (on: a no-op when it is) or not. */
void syncgrpc_track(struct syncgrpc *g, const struct synctrack_entry *e, bool on);
/* e is subscribed and the connection is up: its changes are pushed. */
bool syncgrpc_covers(const struct syncgrpc *g, const struct synctrack_entry *e);
/* Lists cat over gRPC while connected (cat->inflight set); true when it went out. */
bool syncgrpc_list(struct syncgrpc *g, struct synccat_catalog *cat);
void syncgrpc_get_stats(const struct syncgrpc *g, struct syncgrpc_stats *out);

/* Calls to a Nacos cluster over HTTP: which server to ask, failing over and backing off, which
 * API each server speaks, and logging in. A call is one logical request; the owner says what
 * URL to ask and what an answer means, through struct synccall_ops. Knows no services, no
 * catalogs and no snapshots. Everything here runs on the sync's loop thread. */
#pragma once
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "zones/nacos/nacosapi.h"
#include "zones/nacos/syncpolicy.h"

struct config;
struct synccall;
struct syncio;

#define SYNCCALL_PEERS 4 /* addresses remembered per server: pushes come from these */

/* One Nacos server, read-only to the owner. */
struct synccall_server {
	char url[256];
	enum nacosapi_version api;      /* instance lists and login */
	enum nacosapi_version list_api; /* catalog: v1 service/list, or the v3 admin list */
	unsigned failures;
	int64_t retry_at_ms;
	char *token;
	int64_t token_refresh_ms;
	bool login_inflight;
	bool login_failing;              /* logged once per change */
	struct synccall_call *auth_wait; /* calls waiting for a token */
	struct syncpolicy_logins logins; /* this minute's, bounded */
	char local_ip[INET6_ADDRSTRLEN]; /* our end of the last connection to it */
	/* Its addresses: [0] from the URL when it names an IP, then those connected to. */
	char peers[SYNCCALL_PEERS][INET6_ADDRSTRLEN];
	uint64_t results[2][NACOSAPI_RESULT_COUNT]; /* v1 (and not yet detected), v3 */
};

/* What one call asks and does with the answer; owner and arg are the call's (synccall_start). */
struct synccall_ops {
	/* The URL to ask srv (token: NULL when none), malloc'ed; NULL on ENOMEM. Runs at every
	 * send: a failover asks another server, a login brings another token. */
	char *(*url)(void *owner, void *arg, const struct synccall_server *srv, const char *token);
	/* An answer with status 200 from server index `server`. true: ask the same server again
	 * (url runs again: the next page); false: the call is over. */
	bool (*answered)(void *owner, void *arg, size_t server, const char *body, size_t len);
	/* The call is over without an answer; refused: a server answered no (4xx, or the API is
	 * missing) rather than none answering. why is for the log. */
	void (*failed)(void *owner, void *arg, const char *why, bool refused);
	/* The call moves on to another server (NULL: nothing to do). */
	void (*moved)(void *owner, void *arg);
	/* The call ends without a result: the sync closes, or its servers were replaced. */
	void (*cancelled)(void *owner, void *arg);
};

/* Counters: requests sent (logins included), logins, answers over max-response-size. */
struct synccall_stats {
	uint64_t requests, logins, over_response_size;
};

/* The servers of cfg->nacos over io's HTTP layer. cfg is borrowed and read at every call (the
 * owner's copy, changed in place by a reload): credentials, max-response-size. 0, or a negative
 * errno (-EINVAL: no http(s) server in cfg->nacos, logged). */
int synccall_new(uv_loop_t *loop, const struct config *cfg, const struct syncio *io,
		 struct synccall **out);
/* Cancels every call (their ops' cancelled runs inside this call); no call starts after it. */
void synccall_close(struct synccall *n);
void synccall_free(struct synccall *n); /* NULL-safe; closes n first when it is not */
/* Starts a call: listing (a catalog call, on the server's list API) or not; own: the server to
 * ask first unless it backs off (SIZE_MAX: none); urgent: a query waits, so a server that backs
 * off is asked anyway. 0: one of ops runs later or now; -ENOMEM: none will. */
int synccall_start(struct synccall *n, const struct synccall_ops *ops, void *owner, void *arg,
		   bool listing, size_t own, bool urgent);
/* The servers of cfg (a reload): the new HTTP layer is opened, every call in flight is
 * cancelled, the servers are replaced (one kept by URL keeps the API found, unless the pin
 * changed, and its addresses); tokens go. On error nothing changed. */
int synccall_reset(struct synccall *n, const struct config *cfg);
/* Logs in to server now unless a login is out or there are no credentials; renew: its token
 * is dropped first (a server denied it). */
void synccall_login(struct synccall *n, size_t server, bool renew);
/* cb(arg, server) runs each time a login stores server's token (another transport uses it). */
void synccall_watch_tokens(struct synccall *n, void (*cb)(void *arg, size_t server), void *arg);
/* Counts resets: an answer parsed across a reset names servers that are gone. */
uint64_t synccall_generation(const struct synccall *n);

size_t synccall_count(const struct synccall *n);
const struct synccall_server *synccall_server(const struct synccall *n, size_t i);
/* The server a datagram from ip (canonical text) comes from; SIZE_MAX: none. */
size_t synccall_server_of(const struct synccall *n, const char *ip);
void synccall_get_stats(const struct synccall *n, struct synccall_stats *out);

/* The query path of one loop: a DNS message in, an answer from the snapshot, the forward cache,
 * the forwarder or after the sync's fetch, and the reply out with its metrics, query log and
 * dnstap message. One struct dispatch per loop holds what the message being answered needs (the
 * clock, the snapshot, the reply buffer), so the sockets hold none of it. The main loop's
 * dispatch runs on the main loop; worker thread N's on worker thread N, which hands what only
 * the main loop can do (forwarding, first fetches, zone transfers, the sync's notes) to it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "resolver/serve/udp.h"

struct acl;
struct dispatch;
struct dnstap;
struct forward;
struct fwdcache;
struct handoff;
struct handoff_item;
struct metrics;
struct rrl;
struct servestats;
struct snapstore;
struct snapstore_reader;
struct sync;
struct tcp_conn;

/* Borrowed collaborators; all must outlive the server. */
struct dispatch_env {
	struct snapstore *registry;
	struct forward *forward;           /* NULL: names outside the zones get REFUSED */
	struct fwdcache *cache;            /* NULL: forwarded answers are not cached */
	const struct acl *allow_recursion; /* clients whose RD queries are forwarded */
	struct sync *sync;                 /* NULL: no fetch on first query */
	const struct acl *allow_transfer;  /* clients allowed AXFR over TCP; NULL: nobody */
	struct metrics *metrics;           /* NULL: not counted */
	bool query_log;                    /* one log line per reply */
	struct dnstap *dnstap;             /* NULL: no dnstap messages */
};

/* What keeps the main loop's owner alive: a query waiting for the forwarder or the sync holds
 * it. */
struct dispatch_owner {
	void (*hold)(void *arg);
	void (*release)(void *arg);
	void *arg;
};

/* One listen address as the query path of one loop sees it; its owner fills it, and it must
 * outlive every message that came through it. */
struct dispatch_port {
	struct dispatch *d;       /* its loop's */
	struct udp *udp;          /* where UDP replies go */
	struct rrl *rrl;          /* UDP response rate limit; NULL: none */
	struct servestats *stats; /* its counters */
	size_t index;             /* of its listen address */
	const char *name;
};

/* The main loop's: env is read at every message (the owner may replace what it points to
 * between messages). NULL on ENOMEM. */
struct dispatch *dispatch_new(uv_loop_t *loop, const struct dispatch_env *env,
			      const struct dispatch_owner *owner);
/* Worker thread N's, made on the main loop before the thread starts: env changes only under
 * lock, which a batch of datagrams holds; snapshots are read through reader; the main loop's
 * work goes to handoff. NULL on ENOMEM. */
struct dispatch *dispatch_new_worker(uv_loop_t *loop, const struct dispatch_env *env,
				     uv_mutex_t *lock, struct snapstore_reader *reader,
				     struct handoff *handoff);
void dispatch_free(struct dispatch *d); /* NULL-safe; no query may be waiting */
/* The server closes: a query still waiting is not answered. */
void dispatch_shutdown(struct dispatch *d);

/* The callbacks of a port's UDP socket (arg: the struct dispatch_port). */
extern const struct udp_cb dispatch_udp_cb;
/* A TCP message (a tcp_message_cb; port: the struct dispatch_port). Main loop. */
void dispatch_tcp_message(void *port, struct tcp_conn *c, const struct sockaddr *peer,
			  const uint8_t *msg, size_t len);
/* Work a worker handed over, for the main loop's port of its address. */
void dispatch_take(struct dispatch_port *port, const struct handoff_item *it);

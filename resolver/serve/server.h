/* UDP and TCP listeners: DNS messages in, query_answer()/forwarder/sync, replies out. */
#pragma once
#include <stdbool.h>

#include <uv.h>

struct acl;
struct config;
struct dnstap;
struct forward;
struct fwdcache;
struct metrics;
struct snapstore;
struct server;
struct servestats;
struct sync;

/* Borrowed collaborators; all must outlive the server. */
struct server_env {
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

/* Binds every cfg->listen address, UDP and TCP. 0, or a negative errno after logging which
 * address failed. */
int server_new(uv_loop_t *loop, const struct config *cfg, const struct server_env *env,
	       struct server **out);
/* Replaces the collaborators (a reload's new forwarder and ACLs); queries in flight keep the
 * forwarder they were given. */
void server_set_env(struct server *s, const struct server_env *env);
/* Stops listening, closes connections, frees in the last close callback. */
void server_close(struct server *s);

/* Counters since start, summed over every listener. */
void server_get_stats(const struct server *s, struct servestats *out);

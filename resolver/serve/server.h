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
struct server_stats {
	unsigned long long udp_queries;         /* datagrams received */
	unsigned long long udp_main;            /* of those, by the main loop's sockets */
	unsigned long long tcp_queries;         /* TCP messages received */
	unsigned long long dropped;             /* not answered: not a query (QR set, garbage) */
	unsigned long long malformed;           /* too short for a DNS header, or bad TCP framing */
	unsigned long long forwarded;           /* handed to the forwarder */
	unsigned long long fetched;             /* waited for a first fetch of their service */
	unsigned long long send_errors;         /* replies that could not be sent */
	unsigned long long tcp_accepted;        /* connections served */
	unsigned long long tcp_rejected;        /* closed at once: tcp_max_connections reached */
	unsigned long long tcp_rejected_client; /* closed at once: tcp-max-per-client reached */
	unsigned long long tcp_idle_closed;     /* closed by the idle timeout */
	unsigned long long rrl_dropped;         /* UDP replies withheld by the rate limit */
	unsigned long long rrl_slipped;         /* UDP replies sent truncated by the rate limit */
	unsigned long long cache_hits;  /* names outside the zones answered from the cache */
	unsigned long long cache_stale; /* of those, expired answers (upstreams failing) */
	unsigned long long rcode[16];   /* replies sent, by the rcode in their header */
	unsigned long long tcp_open;    /* connections open now */
};
void server_get_stats(const struct server *s, struct server_stats *out);

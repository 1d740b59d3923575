/* UDP and TCP listeners: DNS messages in, query_answer()/forwarder/sync, replies out. Runs on the
 * main loop. The rooms of resolver/serve it wires together, each using only those below it and
 * hearing from them through callbacks:
 *   server      lifetime, --threads, counters (this file)
 *   workers     worker threads: a loop, a dispatch and a UDP socket per address each
 *   listener    one listen address on one loop: its sockets, rate limit and counters
 *   dispatch    the query path of one loop: answer, forward, wait for the sync, reply
 *   udp, tcp    the transports; handoff: the queue from the workers to the main loop
 *   udpsend     the UDP send queue; listen: bound sockets; servestats: the counters */
#pragma once
#include <stdbool.h>

#include <uv.h>

#include "resolver/serve/dispatch.h"

struct config;
struct server;
struct servestats;

/* Binds every cfg->listen address, UDP and TCP. cfg and env's collaborators are borrowed until
 * the server is freed. 0, or a negative errno after logging which address failed. */
int server_new(uv_loop_t *loop, const struct config *cfg, const struct dispatch_env *env,
	       struct server **out);
/* Replaces the collaborators (a reload's new forwarder and ACLs); queries in flight keep the
 * forwarder they were given. Once it returns no thread holds the old ones. */
void server_set_env(struct server *s, const struct dispatch_env *env);
/* Stops listening, closes connections, frees in the last close callback. */
void server_close(struct server *s);

/* Counters since start, summed over every listener. */
void server_get_stats(const struct server *s, struct servestats *out);

/* UDP and TCP listeners: DNS messages in, query_answer()/forwarder/sync, replies out. */
#pragma once
#include <uv.h>

struct acl;
struct config;
struct forward;
struct registry;
struct server;
struct sync;

/* Borrowed collaborators; all must outlive the server. */
struct server_env {
	struct registry *registry;
	struct forward *forward;           /* NULL: names outside the zones get REFUSED */
	const struct acl *allow_recursion; /* clients whose RD queries are forwarded */
	struct sync *sync;                 /* NULL: no fetch on first query */
};

/* Binds every cfg->listen address, UDP and TCP. 0, or a negative errno after logging which
 * address failed. */
int server_new(uv_loop_t *loop, const struct config *cfg, const struct server_env *env,
	       struct server **out);
/* Stops listening, closes connections, frees in the last close callback. */
void server_close(struct server *s);

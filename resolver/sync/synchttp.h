/* The sync's HTTP transport: instance lists and catalog pages asked of the Nacos servers over
 * their HTTP APIs (through synccall), the answers parsed (large instance lists on the thread
 * pool, see syncparse.h), and the results handed to the sync through struct syncsink. Everything
 * here runs on the sync's loop thread. */
#pragma once
#include <stdbool.h>
#include <uv.h>

struct synccall;
struct synccall_server;
struct synccat_catalog;
struct synchttp;
struct syncsink;
struct synctrack_entry;

struct synchttp_hooks {
	void *owner;
	/* A poll of e goes to srv now: the clientIP it asks UDP pushes for (*port their port), or
	 * NULL for none. */
	const char *(*polling)(void *owner, struct synctrack_entry *e,
			       const struct synccall_server *srv, unsigned *port);
	/* Every parse on the pool ended after synchttp_close. */
	void (*closed)(void *owner);
};

/* Calls go through net (borrowed); results to sink. NULL on ENOMEM; sink and h are copied. */
struct synchttp *synchttp_new(uv_loop_t *loop, struct synccall *net, const struct syncsink *sink,
			      const struct synchttp_hooks *h);
/* Fetches e's instance list (e->inflight set here; urgent: a query waits). The sink is told
 * once, maybe inside this call. */
void synchttp_fetch(struct synchttp *t, struct synctrack_entry *e, bool urgent);
/* Lists cat's names, page by page (cat->inflight set here). The sink is told, maybe inside. */
void synchttp_list(struct synchttp *t, struct synccat_catalog *cat);
/* Answers parsed from now on are dropped; the closed hook follows (maybe inside this call). */
void synchttp_close(struct synchttp *t);
void synchttp_free(struct synchttp *t); /* NULL-safe; after the closed hook, or before any call */

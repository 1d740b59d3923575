/* Nacos UDP pushes (v1 HTTP subscribers): the socket, who may push, the acknowledgement, and the
 * checks every pushed service passes (size caps, clock) before the owner may apply it. Knows no
 * tracked services: the owner says which server an address is and what a pushed service does.
 * Everything here runs on the sync's loop thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct config;
struct nacos_service;
struct syncpush;

struct syncpush_hooks {
	void *owner;
	/* The index of the Nacos server whose address ip (canonical text) is; SIZE_MAX: none. */
	size_t (*server_of)(void *owner, const char *ip);
	/* A service pushed by server (svc taken), with its lastRefTime ref: true when it was
	 * applied, false when it was stale (no newer than the data held, or not tracked). */
	bool (*apply)(void *owner, size_t server, struct nacos_service *svc, int64_t ref);
};

/* Every datagram counts as received and as one of applied, stale or rejected; rejections by
 * the size caps count there too. */
struct syncpush_stats {
	uint64_t received, applied, stale, rejected;
	uint64_t over_response_size, over_instances;
};

/* A push room for cfg (borrowed, read live: push, push-listen, push-advertise and the caps);
 * the socket opens at syncpush_start. NULL on ENOMEM. h is copied. */
struct syncpush *syncpush_new(uv_loop_t *loop, const struct config *cfg,
			      const struct syncpush_hooks *h);
/* Opens the socket when push is on. <0 only when an explicit push-listen cannot be bound;
 * without one, a failure leaves polling alone (logged). */
int syncpush_start(struct syncpush *p);
/* Closes the socket (a reload opens it again with syncpush_start). */
void syncpush_stop(struct syncpush *p);
void syncpush_free(struct syncpush *p); /* NULL-safe; stops first */
/* The clientIP that polls ask pushes for: push-advertise, else the address the socket is bound
 * to, else local_ip (ours on the connection to the server polled). NULL: no push (off, no
 * address known yet, or one of a family the socket cannot receive). */
const char *syncpush_client_ip(const struct syncpush *p, const char *local_ip);
unsigned syncpush_port(const struct syncpush *p);
void syncpush_get_stats(const struct syncpush *p, struct syncpush_stats *out);

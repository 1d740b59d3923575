/* dnstap output (https://dnstap.info): client queries and responses as Frame Streams to a unix
 * socket, written by fstrm's I/O thread. Callers never wait: a message that finds the queue full
 * is dropped and counted. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct dnstap;

/* Whether v is a target dnstap_new takes ("unix:/run/dnstap.sock"); 0, or -EINVAL with why. */
int dnstap_check_target(const char *v, char *why, size_t n);
/* Starts the I/O thread writing to target; identity names this server in each message (NULL:
 * none). The socket need not exist yet: the writer retries and messages before it are dropped.
 * 0, or a negative errno after logging why. */
int dnstap_new(const char *target, const char *identity, struct dnstap **out);
/* Flushes what is queued and stops the I/O thread. NULL-safe. */
void dnstap_free(struct dnstap *d);

/* A client's query (response false) or our reply to it (response true), over TCP or UDP between
 * client and local, our listen address as configured ("ADDR:PORT"). Any thread; NULL d: no-op. */
void dnstap_client(struct dnstap *d, bool response, const struct sockaddr *client,
		   const char *local, bool tcp, const uint8_t *wire, size_t len);

struct dnstap_stats {
	uint64_t sent;    /* handed to the I/O thread */
	uint64_t dropped; /* its queue was full, or no memory */
};
void dnstap_stats_get(const struct dnstap *d, struct dnstap_stats *out);

/* The replies of one UDP socket: queued during a batch and sent with one sendmmsg when it ends, or
 * sent at once. Knows nothing about queries. Runs on the thread of the socket's loop (the main
 * loop, or worker thread N for a worker's socket). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

struct servestats;
struct udpsend;

/* A queue for udp, whose replies are counted into st; both borrowed, and udp must be open
 * whenever a reply is sent. NULL on ENOMEM. */
struct udpsend *udpsend_new(uv_udp_t *udp, struct servestats *st);
void udpsend_free(struct udpsend *q); /* NULL-safe; nothing may be queued */

/* Queues a copy of wire for the next udpsend_flush. false: too big for the queue. */
bool udpsend_add(struct udpsend *q, const struct sockaddr *peer, const uint8_t *wire, size_t len);
/* Sends now, or (socket buffer full) queues a copy that libuv sends when the socket is
 * writable. */
void udpsend_now(struct udpsend *q, const struct sockaddr *peer, const uint8_t *wire, size_t len);
/* Sends what is queued with as few sendmmsg calls as the socket allows. */
void udpsend_flush(struct udpsend *q);

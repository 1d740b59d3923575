/* One UDP socket of a listen address on one loop: it reads datagrams in batches and sends the
 * replies of a batch together. It tells its owner through struct udp_cb. Runs on the thread of
 * its loop (the main loop, or worker thread N); udp_new and udp_start before that loop runs
 * elsewhere. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

struct servestats;
struct udp;

/* A batch is what libuv reads in one turn of the loop, until the socket is empty or libuv has
 * read its share: the owner can read the clock or enter a snapshot once for all of it, and the
 * replies sent during a batch go out together at its end (before batch_end is called). */
struct udp_cb {
	void (*batch_begin)(void *arg);
	void (*datagram)(void *arg, const struct sockaddr *peer, const uint8_t *msg, size_t len);
	void (*batch_end)(void *arg);
};

/* cb, arg and st are borrowed. NULL on ENOMEM. */
struct udp *udp_new(const struct udp_cb *cb, void *arg, struct servestats *st);
/* Frees u after its handles closed, or when it never started. NULL-safe. */
void udp_free(struct udp *u);
/* Hands the bound socket *fd to loop and starts reading; *fd becomes -1 once libuv owns it.
 * 0 or a libuv error (then udp_close still closes what was opened). */
int udp_start(struct udp *u, uv_loop_t *loop, int *fd);
/* Stops reading: a batch cut short is still sent. true: closed(arg) is called (when not NULL)
 * once its handles closed; false: nothing was open, or it is closing already. */
bool udp_close(struct udp *u, void (*closed)(void *arg), void *arg);

/* A reply: queued during a batch, else sent now. */
void udp_send(struct udp *u, const struct sockaddr *peer, const uint8_t *wire, size_t len);
bool udp_in_batch(const struct udp *u);
/* The socket, once started. 0 or a libuv error. */
int udp_fileno(const struct udp *u, uv_os_fd_t *fd);

/* One listen address on one loop: its bound sockets until a loop owns them, its UDP socket, its
 * rate limit and counters, and the port through which its messages reach the loop's dispatch.
 * Made and bound on the main loop before any worker starts; afterwards it runs on the thread of
 * its loop (the main loop, or worker thread N). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

struct config;
struct dispatch;
struct dispatch_port;
struct listener;
struct servestats;
struct tcp;

/* The index-th listen address of cfg (borrowed until listener_free), answered through d. NULL on
 * ENOMEM. */
struct listener *listener_new(const struct config *cfg, size_t index, struct dispatch *d);
/* Closes the sockets no loop owns and frees. NULL-safe; its UDP socket must be closed. */
void listener_free(struct listener *l);

/* Binds its sockets (TCP too when tcp) and sets up its rate limit. 0, or a negative errno after
 * logging why. */
int listener_bind(struct listener *l, bool reuseport, bool tcp);
/* Hands the bound UDP socket to loop and starts reading. 0 or a libuv error. */
int listener_start_udp(struct listener *l, uv_loop_t *loop);
/* Hands the bound TCP socket to t, with the per-client cap of the config. 0 or a libuv error. */
int listener_start_tcp(struct listener *l, struct tcp *t);
/* Closes its UDP socket; as udp_close. */
bool listener_close(struct listener *l, void (*closed)(void *arg), void *arg);
/* Closes the bound sockets no loop has taken yet. */
void listener_close_fds(struct listener *l);

const char *listener_name(const struct listener *l);
const struct servestats *listener_stats(const struct listener *l);
struct dispatch_port *listener_port(struct listener *l);
/* Its UDP socket, once started. 0 or a libuv error. */
int listener_fileno(const struct listener *l, uv_os_fd_t *fd);

/* DNS over TCP (RFC 7766): the listening sockets, and per connection the framing, the pause
 * while replies or queries are owed, the idle timeout and the caps on connections. A complete
 * message goes up through tcp_message_cb. Runs on the main loop. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

struct servestats;
struct tcp;
struct tcp_conn;

/* One message from a client of the listening socket that was given port; msg is valid during
 * the call. The connection may be closed (tcp_conn_closing) when it returns. */
typedef void (*tcp_message_cb)(void *port, struct tcp_conn *c, const struct sockaddr *peer,
			       const uint8_t *msg, size_t len);

struct tcp_limits {
	unsigned idle_ms;   /* tcp-idle-timeout */
	unsigned max_conns; /* tcp-max-connections, over every listening socket */
};

/* NULL on ENOMEM. */
struct tcp *tcp_new(uv_loop_t *loop, const struct tcp_limits *lim, tcp_message_cb on_message);
/* Listens on the bound socket *fd (-1 once libuv owns it). name: for the log; per_client: the
 * cap of one client's /24 or /56 (0: none); st counts into it; all borrowed. 0 or a libuv
 * error. */
int tcp_listen(struct tcp *t, int *fd, const char *name, unsigned per_client, struct servestats *st,
	       void *port);
/* Stops listening and closes every connection; closed(arg) is called and t freed once the last
 * handle closed and no query holds a connection (maybe before this returns). */
void tcp_close(struct tcp *t, void (*closed)(void *arg), void *arg);
size_t tcp_count(const struct tcp *t); /* connections open now */

/* Sends one reply: written now when nothing is queued, else queued behind the earlier ones. */
void tcp_send(struct tcp_conn *c, const uint8_t *wire, size_t len);
/* A query of c waits (for the forwarder, the sync): c stays allocated, stops reading at
 * TCP_INFLIGHT of them, and its idle clock stops, until the matching tcp_release. */
void tcp_hold(struct tcp_conn *c);
void tcp_release(struct tcp_conn *c);
bool tcp_conn_closing(const struct tcp_conn *c);

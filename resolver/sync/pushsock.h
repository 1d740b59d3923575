/* The UDP socket Nacos pushes service changes to (v1 HTTP subscribers). Knows no JSON: it
 * receives datagrams, hands them over, and sends what it is given from the same socket. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

struct pushsock;

/* One datagram; data and peer are borrowed for the duration of the call. */
typedef void (*pushsock_recv_cb)(void *arg, const uint8_t *data, size_t len,
				 const struct sockaddr *peer);

/* Binds addr ("ADDR:PORT" or "[v6]:PORT", port 0: ephemeral; "": an ephemeral port on every
 * address, IPv6 and IPv4 where the host has IPv6, else IPv4 only) and starts receiving.
 * 0 or a negative errno. */
int pushsock_new(uv_loop_t *loop, const char *addr, pushsock_recv_cb cb, void *arg,
		 struct pushsock **out);
/* The bound address as text ("0.0.0.0", "::", "192.0.2.1") and port. */
const char *pushsock_address(const struct pushsock *p);
unsigned pushsock_port(const struct pushsock *p);
/* Whether a push to ip (text) can reach this socket: the families match (a dual-stack socket
 * takes both). */
bool pushsock_can_receive(const struct pushsock *p, const char *ip);
/* Sends len bytes (copied) to peer. 0 or a negative errno; best effort, like Nacos. */
int pushsock_send(struct pushsock *p, const struct sockaddr *peer, const void *data, size_t len);
/* Stops receiving; memory goes in the close callback. NULL-safe. */
void pushsock_close(struct pushsock *p);

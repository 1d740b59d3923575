/* Listening sockets: bound (and for TCP listening) before any loop owns them, and the per-address
 * numbers of the config that say "auto". Runs on the main loop's thread, before uv_run() and
 * before any worker thread starts. */
#pragma once
#include <stdbool.h>
#include <sys/socket.h>

#define LISTEN_BACKLOG 1024 /* listen(2) backlog */

/* A bound socket of type (and listening, for TCP). reuseport: one of a SO_REUSEPORT group, where
 * the kernel spreads the datagrams over the sockets by their addresses and ports. fd, or a
 * negative errno. */
int listen_socket(const struct sockaddr *sa, int type, bool reuseport);

/* Binds the UDP socket of name (at sa) into *udp_fd, and with tcp the TCP one into *tcp_fd;
 * an fd not bound stays -1, and what is bound is the caller's to close. 0, or a negative errno
 * after logging which address failed. */
int listen_bind(const struct sockaddr_storage *sa, const char *name, bool reuseport, bool tcp,
		int *udp_fd, int *tcp_fd);

/* A per-address number from the config (validated there): N, or with "auto" dflt off loopback
 * and 0 on it. */
unsigned listen_auto(const char *value, const struct sockaddr_storage *sa, unsigned dflt);

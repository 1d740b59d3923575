#include "resolver/serve/listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resolver/log.h"
#include "zones/dns/rrl.h"
#include "zones/net/addr.h"

int listen_socket(const struct sockaddr *sa, int type, bool reuseport)
{
	int one = 1, fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if ((sa->sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    (type == SOCK_STREAM &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, sa, addr_len(sa)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, LISTEN_BACKLOG) < 0)) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int listen_bind(const struct sockaddr_storage *ss, const char *name, bool reuseport, bool tcp,
		int *udp_fd, int *tcp_fd)
{
	const struct sockaddr *sa = (const struct sockaddr *)ss;
	int fd;

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
		log_err("server", "listen %s: not ADDR:PORT or [ADDR]:PORT", name);
		return -EINVAL;
	}
	if ((fd = listen_socket(sa, SOCK_DGRAM, reuseport)) < 0) {
		log_err("server", "bind %s/udp failed: %s", name, strerror(-fd));
		return fd;
	}
	*udp_fd = fd;
	if (!tcp)
		return 0;
	if ((fd = listen_socket(sa, SOCK_STREAM, false)) < 0) {
		log_err("server", "bind %s/tcp failed: %s", name, strerror(-fd));
		return fd;
	}
	*tcp_fd = fd;
	return 0;
}

unsigned listen_auto(const char *value, const struct sockaddr_storage *sa, unsigned dflt)
{
	if (strcmp(value, "auto") != 0)
		return (unsigned)strtoul(value, NULL, 10);
	return rrl_addr_is_loopback((const struct sockaddr *)sa) ? 0 : dflt;
}

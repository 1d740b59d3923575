#include "resolver/serve/steer.h"

#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Offsets from the network header: the (low word of the) source address, and the UDP source
 * port after a header without options (with options the program still picks one socket per
 * client; only the spread over the workers is less even). */
#define STEER_V4_SRC  12
#define STEER_V4_PORT 20
#define STEER_V6_SRC  20
#define STEER_V6_PORT 40

int steer_attach(int fd, int family, unsigned n)
{
	unsigned src = family == AF_INET6 ? STEER_V6_SRC : STEER_V4_SRC;
	unsigned port = family == AF_INET6 ? STEER_V6_PORT : STEER_V4_PORT;
	/* A = (source ^ port) % n + 1: an index into the group past socket 0. */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (unsigned)SKF_NET_OFF + src),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (unsigned)SKF_NET_OFF + port),
		BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
		BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};

	if (n == 0)
		return -EINVAL;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

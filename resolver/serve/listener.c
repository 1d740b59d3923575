#include "resolver/serve/listener.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "resolver/config.h"
#include "resolver/random.h"
#include "resolver/serve/dispatch.h"
#include "resolver/serve/listen.h"
#include "resolver/serve/servestats.h"
#include "resolver/serve/tcp.h"
#include "resolver/serve/udp.h"
#include "zones/dns/rrl.h"

#define LISTENER_TCP_PER_CLIENT 64 /* tcp-max-per-client auto, off loopback */

struct listener {
	const struct config *cfg;
	const struct sockaddr_storage *sa;
	const char *name;
	int udp_fd, tcp_fd; /* until a loop owns them */
	struct rrl *rrl;
	struct servestats stats;
	struct dispatch_port port;
};

struct listener *listener_new(const struct config *cfg, size_t index, struct dispatch *d)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->cfg = cfg;
	l->sa = &cfg->listen_sa[index];
	l->name = cfg->listen[index];
	l->udp_fd = l->tcp_fd = -1;
	l->port =
		(struct dispatch_port){.d = d, .stats = &l->stats, .index = index, .name = l->name};
	if (!(l->port.udp = udp_new(&dispatch_udp_cb, &l->port, &l->stats))) {
		free(l);
		return NULL;
	}
	return l;
}

void listener_close_fds(struct listener *l)
{
	if (l->udp_fd >= 0)
		close(l->udp_fd);
	if (l->tcp_fd >= 0)
		close(l->tcp_fd);
	l->udp_fd = l->tcp_fd = -1;
}

void listener_free(struct listener *l)
{
	if (!l)
		return;
	listener_close_fds(l);
	udp_free(l->port.udp);
	rrl_free(l->rrl);
	free(l);
}

/* Rate limit: rrl-rate, or with "auto" RRL_DEFAULT_RATE off loopback. */
static int listener_rrl_init(struct listener *l)
{
	unsigned rate = listen_auto(l->cfg->rrl_rate, l->sa, RRL_DEFAULT_RATE);
	uint64_t seed[2];

	if (rate == 0)
		return 0;
	random_seed(seed);
	l->rrl = rrl_new(rate, l->cfg->rrl_slip, RRL_DEFAULT_ENTRIES, seed[0] ^ seed[1]);
	l->port.rrl = l->rrl;
	return l->rrl ? 0 : -ENOMEM;
}

int listener_bind(struct listener *l, bool reuseport, bool tcp)
{
	int rc = listen_bind(l->sa, l->name, reuseport, tcp, &l->udp_fd, &l->tcp_fd);

	return rc < 0 ? rc : listener_rrl_init(l);
}

int listener_start_udp(struct listener *l, uv_loop_t *loop)
{
	return udp_start(l->port.udp, loop, &l->udp_fd);
}

int listener_start_tcp(struct listener *l, struct tcp *t)
{
	unsigned per_client =
		listen_auto(l->cfg->tcp_max_per_client, l->sa, LISTENER_TCP_PER_CLIENT);

	return tcp_listen(t, &l->tcp_fd, l->name, per_client, &l->stats, &l->port);
}

bool listener_close(struct listener *l, void (*closed)(void *arg), void *arg)
{
	return udp_close(l->port.udp, closed, arg);
}

const char *listener_name(const struct listener *l)
{
	return l->name;
}

const struct servestats *listener_stats(const struct listener *l)
{
	return &l->stats;
}

struct dispatch_port *listener_port(struct listener *l)
{
	return &l->port;
}

int listener_fileno(const struct listener *l, uv_os_fd_t *fd)
{
	return udp_fileno(l->port.udp, fd);
}

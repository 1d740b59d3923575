/* Nacos UDP pushes (see syncpush.h). Runs on the sync's loop thread, where pushsock.c
 * delivers datagrams. */
#include "resolver/sync/syncpush.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/clock.h"
#include "resolver/config.h"
#include "resolver/log.h"
#include "resolver/sync/pushsock.h"
#include "zones/nacos/nacos.h"
#include "zones/nacos/push.h"
#include "zones/net/addr.h"

/* A push's lastRefTime is the pushing node's wall clock (ms): one far ahead of ours is a clock
 * gone wrong or a forgery, and would outrank every answer until the next poll. */
#define SYNCPUSH_MAX_AHEAD_MS 60000

struct syncpush {
	uv_loop_t *loop;
	const struct config *cfg;
	struct syncpush_hooks h;
	struct pushsock *sock; /* NULL: push off */
	struct syncpush_stats stats;
};

static void syncpush_on_diag(void *arg, const char *msg)
{
	log_debug("snapshot", "%s", msg);
}

static void syncpush_reject(struct syncpush *p, const struct sockaddr *peer, const char *why)
{
	char ip[INET6_ADDRSTRLEN];
	p->stats.rejected++;
	addr_ip_str(peer, ip, sizeof(ip));
	log_debug("push", "datagram from %s rejected: %s", ip[0] ? ip : "?", why);
}

/* A "dom" push from server: its service, once it passes the caps on answers and the clock
 * check, goes to the owner. */
static void syncpush_dom(struct syncpush *p, size_t server, const struct push_msg *m,
			 const struct sockaddr *peer)
{
	struct nacos_diag d = {.warn = syncpush_on_diag, .arg = p};
	struct nacos_service *svc = NULL;
	int64_t ref = 0;
	if (m->data_len > p->cfg->max_response_size) {
		p->stats.over_response_size++;
		syncpush_reject(p, peer, "data over max-response-size");
		return;
	}
	if (push_service(m, &d, &svc, &ref) < 0 || svc->n_instances > p->cfg->max_instances) {
		p->stats.over_instances += svc != NULL;
		nacos_service_free(svc);
		syncpush_reject(p, peer, "bad service data, or over max-instances");
		return;
	}
	if (ref > clock_wall_ms() + SYNCPUSH_MAX_AHEAD_MS) {
		nacos_service_free(svc);
		syncpush_reject(p, peer, "lastRefTime far ahead of our clock");
		return;
	}
	if (p->h.apply(p->h.owner, server, svc, ref))
		p->stats.applied++;
	else
		p->stats.stale++;
}

/* Every datagram is either acked and used, or rejected; the ack goes from this socket to the
 * sender, which Nacos matches on (address, port, lastRefTime). */
static void on_push(void *arg, const uint8_t *data, size_t len, const struct sockaddr *peer)
{
	struct syncpush *p = arg;
	char ip[INET6_ADDRSTRLEN], ack[128];
	struct push_msg m;
	int rc, n;
	p->stats.received++;
	size_t server = p->h.server_of(p->h.owner, addr_ip_str(peer, ip, sizeof(ip)));
	if (server == SIZE_MAX) {
		syncpush_reject(p, peer, "not from a configured Nacos server");
		return;
	}
	if ((rc = push_parse(data, len, &m)) < 0) {
		syncpush_reject(p, peer, rc == -EMSGSIZE ? "inflates too far" : "malformed");
		return;
	}
	if ((n = push_ack(&m, ack, sizeof(ack))) > 0)
		pushsock_send(p->sock, peer, ack, (size_t)n);
	if (m.type == PUSH_DOM)
		syncpush_dom(p, server, &m, peer);
	else
		syncpush_reject(p, peer, "not a \"dom\" push");
	push_msg_deinit(&m);
}

struct syncpush *syncpush_new(uv_loop_t *loop, const struct config *cfg,
			      const struct syncpush_hooks *h)
{
	struct syncpush *p = calloc(1, sizeof(*p));
	if (p)
		*p = (struct syncpush){.loop = loop, .cfg = cfg, .h = *h};
	return p;
}

int syncpush_start(struct syncpush *p)
{
	const char *listen = p->cfg->push_listen;
	int rc;
	if (!p->cfg->push)
		return 0;
	if ((rc = pushsock_new(p->loop, listen, on_push, p, &p->sock)) < 0) {
		p->sock = NULL;
		log_msg(listen[0] ? LOG_LEVEL_ERR : LOG_LEVEL_WARN, "push",
			"cannot receive Nacos pushes on %s: %s; polling only",
			listen[0] ? listen : "an ephemeral port", uv_strerror(rc));
		return listen[0] ? rc : 0;
	}
	log_info("push", "receiving Nacos pushes on %s port %u", pushsock_address(p->sock),
		 pushsock_port(p->sock));
	return 0;
}

void syncpush_stop(struct syncpush *p)
{
	pushsock_close(p->sock);
	p->sock = NULL;
}

void syncpush_free(struct syncpush *p)
{
	if (!p)
		return;
	syncpush_stop(p);
	free(p);
}

const char *syncpush_client_ip(const struct syncpush *p, const char *local_ip)
{
	const char *ip, *bound;
	if (!p->sock)
		return NULL;
	bound = pushsock_address(p->sock);
	if (p->cfg->push_advertise[0])
		ip = p->cfg->push_advertise;
	else if (strcmp(bound, "0.0.0.0") != 0 && strcmp(bound, "::") != 0)
		ip = bound;
	else
		ip = local_ip;
	return ip[0] && pushsock_can_receive(p->sock, ip) ? ip : NULL;
}

unsigned syncpush_port(const struct syncpush *p)
{
	return p->sock ? pushsock_port(p->sock) : 0;
}

void syncpush_get_stats(const struct syncpush *p, struct syncpush_stats *out)
{
	*out = p->stats;
}

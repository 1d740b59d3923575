#include "resolver/serve/server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/config.h"
#include "resolver/log.h"
#include "resolver/serve/handoff.h"
#include "resolver/serve/listener.h"
#include "resolver/serve/servestats.h"
#include "resolver/serve/steer.h"
#include "resolver/serve/tcp.h"
#include "resolver/serve/workers.h"

struct server {
	uv_loop_t *loop;
	struct dispatch_env env;
	struct dispatch *d; /* the main loop's */
	struct listener **listeners;
	size_t n_listeners;
	struct tcp *tcp;
	struct handoff *handoff; /* --threads N >= 2 */
	struct workers *workers; /* --threads N >= 2 */
	unsigned refs; /* owner + open sockets + tcp + handoff + workers + waiting queries */
	bool closing;
};

static void server_hold(void *arg)
{
	struct server *s = arg;
	s->refs++;
}

static void server_unref(void *arg)
{
	struct server *s = arg;

	if (--s->refs > 0)
		return;
	for (size_t i = 0; i < s->n_listeners; i++)
		listener_free(s->listeners[i]);
	free(s->listeners);
	dispatch_free(s->d);
	free(s);
}

static struct server *server_alloc(uv_loop_t *loop, const struct config *cfg,
				   const struct dispatch_env *env)
{
	struct server *s = calloc(1, sizeof(*s));
	struct dispatch_owner owner = {server_hold, server_unref, s};
	struct tcp_limits lim = {cfg->tcp_idle_timeout_ms, cfg->tcp_max_connections};

	if (!s)
		return NULL;
	s->loop = loop;
	s->env = *env;
	s->refs = 1;
	s->listeners = calloc(cfg->n_listen ? cfg->n_listen : 1, sizeof(*s->listeners));
	if (!s->listeners || !(s->d = dispatch_new(loop, &s->env, &owner)) ||
	    !(s->tcp = tcp_new(loop, &lim, dispatch_tcp_message))) {
		server_unref(s);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_listen; i++) {
		struct listener *l = listener_new(cfg, i, s->d);
		if (!l) {
			server_close(s);
			return NULL;
		}
		s->listeners[s->n_listeners++] = l;
	}
	return s;
}

static void server_on_handoff(void *arg, const struct handoff_item *it)
{
	struct server *s = arg;

	if (it->port < s->n_listeners)
		dispatch_take(listener_port(s->listeners[it->port]), it);
}

/* The main loop's socket of each address was bound first, the workers' after it: queries go to
 * the workers only, and the main loop, which also parses Nacos answers, answers just what a
 * worker hands it. */
static void server_steer(struct server *s, size_t n_workers)
{
	for (size_t i = 0; i < s->n_listeners; i++) {
		struct listener *l = s->listeners[i];
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		uv_os_fd_t fd;
		int rc;
		if (listener_fileno(l, &fd) < 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
			continue;
		if ((rc = steer_attach(fd, ss.ss_family, (unsigned)n_workers)) < 0)
			log_info("server",
				 "%s: queries not steered to the workers (%s); the main "
				 "loop answers a share",
				 listener_name(l), strerror(-rc));
	}
}

static int server_start_workers(struct server *s, const struct config *cfg)
{
	int rc;

	if (!(s->handoff = handoff_new(s->loop, server_on_handoff, s)))
		return -ENOMEM;
	s->refs++;
	s->refs++; /* the workers, even when they fail to start */
	if ((rc = workers_start(s->loop, cfg, &s->env, s->handoff, &s->workers)) < 0)
		return rc;
	server_steer(s, cfg->threads);
	return 0;
}

/* Binds every address and starts the workers; 0 or a negative errno after logging why. */
static int server_listen(struct server *s, const struct config *cfg)
{
	bool reuseport = cfg->threads >= 2;
	int rc = 0;

	for (size_t i = 0; i < s->n_listeners && rc == 0; i++)
		rc = listener_bind(s->listeners[i], reuseport, true);
	for (size_t i = 0; i < s->n_listeners && rc == 0; i++) {
		struct listener *l = s->listeners[i];
		if ((rc = listener_start_tcp(l, s->tcp)) < 0 ||
		    (rc = listener_start_udp(l, s->loop)) < 0)
			log_err("server", "listen %s failed: %s", listener_name(l),
				uv_strerror(rc));
	}
	if (rc == 0 && reuseport)
		rc = server_start_workers(s, cfg);
	return rc;
}

int server_new(uv_loop_t *loop, const struct config *cfg, const struct dispatch_env *env,
	       struct server **out)
{
	struct server *s = server_alloc(loop, cfg, env);
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	if ((rc = server_listen(s, cfg)) < 0) {
		server_close(s); /* the handles opened so far close when the loop runs */
		return rc;
	}
	*out = s;
	return 0;
}

void server_set_env(struct server *s, const struct dispatch_env *env)
{
	s->env = *env;
	workers_set_env(s->workers, env);
}

void server_close(struct server *s)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	dispatch_shutdown(s->d);
	if (s->handoff) /* first: the workers hand work to the main loop */
		workers_close(s->workers, server_unref, s);
	s->workers = NULL;
	for (size_t i = 0; i < s->n_listeners; i++) {
		listener_close_fds(s->listeners[i]);
		s->refs++;
		if (!listener_close(s->listeners[i], server_unref, s))
			s->refs--;
	}
	if (s->handoff)
		handoff_close(s->handoff, server_unref, s);
	s->handoff = NULL;
	if (s->tcp) {
		s->refs++;
		tcp_close(s->tcp, server_unref, s);
		s->tcp = NULL;
	}
	server_unref(s);
}

void server_get_stats(const struct server *s, struct servestats *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < s->n_listeners; i++)
		servestats_add(out, listener_stats(s->listeners[i]));
	out->udp_main = out->udp_queries;
	workers_add_stats(s->workers, out);
	out->tcp_open = s->tcp ? tcp_count(s->tcp) : 0;
}

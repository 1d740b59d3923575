/* nacos-dns: arguments, wiring of the modules, the event loop and teardown. No DNS logic. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "acl.h"
#include "config.h"
#include "filesrc.h"
#include "forward.h"
#include "log.h"
#include "nacos.h"
#include "registry.h"
#include "server.h"
#include "snapshot.h"
#include "sync.h"

/* cfg[0] is the configuration the daemon started with: the server, forwarder, sync and ACL
 * borrow it for their whole life. A reload fills cfg[1] or cfg[2] in turn, so the one the file
 * source was last given stays intact while the next is parsed. */
struct daemon {
	uv_loop_t loop;
	int argc;
	char **argv;
	struct config cfg[3];
	int cur; /* index of the configuration in force */
	struct registry *reg;
	struct filesrc *filesrc;
	struct sync *sync;
	struct acl *acl;
	struct forward *forward;
	struct server *server;
	uv_signal_t sig_term, sig_int, sig_hup;
	int n_signals; /* initialised signal handles */
	bool stopping;
};

static void daemon_stop(struct daemon *d)
{
	uv_signal_t *sigs[] = {&d->sig_term, &d->sig_int, &d->sig_hup};

	if (d->stopping)
		return;
	d->stopping = true;
	/* Forwarder and sync first: their pending callbacks run with cancellation while the
	 * server can still take them. */
	if (d->forward)
		forward_close(d->forward);
	if (d->sync)
		sync_close(d->sync);
	filesrc_close(d->filesrc);
	if (d->server)
		server_close(d->server);
	for (int i = 0; i < d->n_signals; i++)
		uv_close((uv_handle_t *)sigs[i], NULL);
}

/* Settings the running modules took at startup and keep. */
static bool needs_restart(const struct config *boot, const struct config *c)
{
	if (strcmp(c->nacos, boot->nacos) != 0 || c->n_listen != boot->n_listen)
		return true;
	for (size_t i = 0; i < c->n_listen; i++)
		if (strcmp(c->listen[i], boot->listen[i]) != 0)
			return true;
	return false;
}

static void daemon_reload(struct daemon *d)
{
	int next = d->cur == 1 ? 2 : 1;
	struct config *c = &d->cfg[next];

	if (config_from_args(c, d->argc, d->argv) != 0) {
		log_err("main", "reload: configuration rejected, keeping the old one");
		return;
	}
	d->cur = next;
	log_set_level(c->log_level);
	if (needs_restart(&d->cfg[0], c))
		log_warn("main", "reload: changes of nacos and listen take effect on restart");
	if (d->filesrc)
		filesrc_reload(d->filesrc, c);
	log_info("main", "reloaded configuration");
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	if (signum == SIGHUP) {
		daemon_reload(d);
		return;
	}
	log_info("main", "%s received, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
	daemon_stop(d);
}

static int signals_start(struct daemon *d)
{
	uv_signal_t *sigs[] = {&d->sig_term, &d->sig_int, &d->sig_hup};
	int nums[] = {SIGTERM, SIGINT, SIGHUP};

	for (int i = 0; i < 3; i++) {
		int rc = uv_signal_init(&d->loop, sigs[i]);
		if (rc < 0)
			return rc;
		d->n_signals++;
		sigs[i]->data = d;
		if ((rc = uv_signal_start(sigs[i], on_signal, nums[i])) < 0)
			return rc;
	}
	return 0;
}

/* The registry starts empty; the generation is the clock so the SOA serial keeps rising
 * across restarts. */
static int registry_start(struct daemon *d)
{
	struct snapshot_config sc;
	struct nacos_diag diag = {0};
	struct snapshot_builder *b;
	struct snapshot *s;

	config_snapshot(&d->cfg[0], &sc);
	b = snapshot_builder_new(&sc, (uint32_t)time(NULL), &diag);
	if (!b || !(s = snapshot_build(b)) || !(d->reg = registry_new(s))) {
		log_err("main", "cannot create the registry: out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int source_start(struct daemon *d)
{
	const struct config *c = &d->cfg[0];
	int rc;

	if (strncmp(c->nacos, "file:", 5) == 0) {
		d->filesrc = filesrc_new(&d->loop, c->nacos + 5, c, d->reg);
		return d->filesrc ? 0 : -EINVAL;
	}
	if (c->nacos[0] == '\0') {
		log_warn("main", "no --nacos source: the zones stay empty");
		return 0;
	}
	if ((rc = sync_new(&d->loop, c, d->reg, &d->sync)) < 0)
		log_err("main", "cannot start syncing with %s: %s", c->nacos, strerror(-rc));
	return rc;
}

static int forwarding_start(struct daemon *d)
{
	const struct config *c = &d->cfg[0];
	const char *cidrs[CONFIG_MAX_LIST], *bad = NULL;
	int rc;

	for (size_t i = 0; i < c->n_allow_recursion; i++)
		cidrs[i] = c->allow_recursion[i];
	if (!(d->acl = acl_new(cidrs, c->n_allow_recursion, &bad))) {
		log_err("main", "allow-recursion: %s", bad ? bad : "out of memory");
		return -EINVAL;
	}
	if ((rc = forward_new(&d->loop, c, &d->forward)) < 0) {
		log_warn("main", "no forwarder (%s): names outside the zones get REFUSED",
			 strerror(-rc));
		d->forward = NULL;
	}
	return 0;
}

static int daemon_start(struct daemon *d)
{
	struct server_env env;
	int rc;

	if ((rc = registry_start(d)) < 0 || (rc = source_start(d)) < 0 ||
	    (rc = forwarding_start(d)) < 0)
		return rc;
	env = (struct server_env){.registry = d->reg,
				  .forward = d->forward,
				  .allow_recursion = d->acl,
				  .sync = d->sync};
	if ((rc = server_new(&d->loop, &d->cfg[0], &env, &d->server)) < 0) {
		d->server = NULL;
		return rc;
	}
	if ((rc = signals_start(d)) < 0) {
		log_err("main", "cannot handle signals: %s", uv_strerror(rc));
		return rc;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct daemon *d = calloc(1, sizeof(*d));
	int status = 1, rc;

	if (!d)
		return 1;
	d->argc = argc;
	d->argv = argv;
	rc = config_from_args(&d->cfg[0], argc, argv);
	if (rc != 0) {
		free(d);
		return rc == 2 ? 2 : 0;
	}
	log_set_level(d->cfg[0].log_level);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = uv_loop_init(&d->loop)) < 0) {
		log_err("main", "cannot create the event loop: %s", uv_strerror(rc));
		goto out;
	}
	if (daemon_start(d) < 0) {
		daemon_stop(d); /* close what started, then let the loop finish the closing */
		uv_run(&d->loop, UV_RUN_DEFAULT);
		goto out_loop;
	}
	log_info("main", "ready: %zu zone(s), %zu listener(s), threads=%u, source=%s",
		 d->cfg[0].n_zones, d->cfg[0].n_listen, d->cfg[0].threads,
		 d->cfg[0].nacos[0] ? d->cfg[0].nacos : "none");
	uv_run(&d->loop, UV_RUN_DEFAULT);
	status = 0;
out_loop:
	if ((rc = uv_loop_close(&d->loop)) != 0) {
		log_err("main", "event loop still busy at exit: %s", uv_strerror(rc));
		status = 1;
	}
out:
	acl_free(d->acl);
	registry_free(d->reg);
	free(d);
	return status;
}

/* nacos-dns: arguments, wiring of the modules, the event loop and teardown. No DNS logic. */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "resolver/bgwork.h"
#include "resolver/clock.h"
#include "resolver/config.h"
#include "resolver/dnstap.h"
#include "resolver/httpd.h"
#include "resolver/log.h"
#include "resolver/metrics.h"
#include "resolver/serve/forward.h"
#include "resolver/serve/fwdcache.h"
#include "resolver/serve/server.h"
#include "resolver/serve/snapstore.h"
#include "resolver/svcmgr.h"
#include "resolver/sync/filesrc.h"
#include "resolver/sync/sync.h"
#include "zones/data/snapshot.h"
#include "zones/nacos/nacos.h"
#include "zones/net/acl.h"

#include "build_config.h"

/* cfg[0] is the configuration the daemon started with: the server, forwarder and ACL borrow it
 * for their whole life. A reload fills cfg[1] or cfg[2] in turn, so the one the file source and
 * the sync were last given stays intact while the next is parsed. */
struct daemon {
	uv_loop_t loop;
	int argc;
	char **argv;
	struct config cfg[3];
	int cur; /* index of the configuration in force */
	struct snapstore *reg;
	struct filesrc *filesrc;
	struct sync *sync;
	struct acl *acl;
	struct acl *transfer; /* allow-transfer */
	struct forward *forward;
	struct fwdcache *cache; /* NULL: cache = off */
	struct server *server;
	struct metrics *metrics;
	struct dnstap *dnstap; /* NULL: no dnstap output */
	struct httpd *httpd;
	struct httpd_env http_env; /* read by the HTTP endpoints at each request */
	struct svcmgr *svcmgr;
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
	svcmgr_close(d->svcmgr);
	d->svcmgr = NULL;
	httpd_close(d->httpd);
	d->httpd = NULL;
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

/* The ACL of a CIDR list, or NULL after logging why. */
static struct acl *daemon_acl(const char *key, const struct addr_cidr *cidrs, size_t n)
{
	struct acl *a = acl_new_cidrs(cidrs, n);

	if (!a)
		log_err("main", "%s: out of memory", key);
	return a;
}

static void daemon_set_env(struct daemon *d, const struct config *c)
{
	struct dispatch_env env = {.registry = d->reg,
				 .forward = d->forward,
				 .cache = d->cache,
				 .allow_recursion = d->acl,
				 .sync = d->sync,
				 .allow_transfer = d->transfer,
				 .metrics = d->metrics,
				 .query_log = c->query_log,
				 .dnstap = d->dnstap};
	server_set_env(d->server, &env);
	d->http_env.forward = d->forward;
	d->http_env.cache = d->cache;
}

/* Swaps in c's ACLs, query log and (when its upstreams changed) a new forwarder. On error
 * nothing changes. Forwarded queries in flight on a replaced forwarder are cancelled. */
static int daemon_apply(struct daemon *d, const struct config *old, const struct config *c)
{
	struct acl *rec =
		daemon_acl("allow-recursion", c->allow_recursion_cidr, c->n_allow_recursion);
	struct acl *xfr =
		rec ? daemon_acl("allow-transfer", c->allow_transfer_cidr, c->n_allow_transfer)
		    : NULL;
	struct forward *fwd = d->forward;

	if (!xfr) {
		acl_free(rec);
		return -EINVAL;
	}
	if (config_reload_changed(old, c, CONFIG_RELOAD_FORWARD, NULL, 0) > 0) {
		if (forward_new(&d->loop, c, &fwd) < 0)
			fwd = NULL;
		if (d->forward)
			forward_close(d->forward);
		log_info("main", "reload: forwarding to %zu upstream(s)",
			 fwd ? forward_upstream_count(fwd) : 0);
		if (d->cache)
			fwdcache_flush(d->cache); /* answers of the old upstreams */
	}
	struct acl *old_acl = d->acl, *old_transfer = d->transfer;
	d->acl = rec;
	d->transfer = xfr;
	d->forward = fwd;
	daemon_set_env(d, c); /* worker threads hold the old ACLs until it returns */
	acl_free(old_acl);
	acl_free(old_transfer);
	return 0;
}

static void daemon_reload(struct daemon *d)
{
	int next = d->cur == 1 ? 2 : 1;
	struct config *c = &d->cfg[next];
	char names[256] = "";

	if (config_from_args(c, d->argc, d->argv) != 0 || daemon_apply(d, &d->cfg[d->cur], c) < 0) {
		log_err("main", "reload: configuration rejected, keeping the old one");
		metrics_count_reload(d->metrics, METRICS_RELOAD_REJECTED);
		return;
	}
	d->cur = next;
	log_set_level(c->log_level);
	if (config_reload_changed(&d->cfg[0], c, CONFIG_RELOAD_RESTART, names, sizeof(names)) > 0) {
		log_warn("main", "reload: %s changed; the running value stays until a restart",
			 names);
		metrics_count_reload(d->metrics, METRICS_RELOAD_RESTART_NEEDED);
	} else {
		metrics_count_reload(d->metrics, METRICS_RELOAD_OK);
	}
	if (d->filesrc)
		filesrc_reload(d->filesrc, c);
	if (d->sync && config_source(c) == CONFIG_SOURCE_HTTP && sync_reload(d->sync, c) < 0)
		log_err("main", "reload: the Nacos sync keeps its old settings");
	log_info("main", "reloaded configuration");
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	if (signum == SIGHUP) {
		svcmgr_reloading(d->svcmgr);
		daemon_reload(d);
		svcmgr_reloaded(d->svcmgr);
		return;
	}
	log_info("main", "%s received, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
	daemon_stop(d);
}

static void sighup_mask(int how)
{
	sigset_t hup;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	pthread_sigmask(how, &hup, NULL);
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
	sighup_mask(SIG_UNBLOCK);
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
	b = snapshot_builder_new(&sc, (uint32_t)(clock_wall_ms() / 1000), &diag);
	if (!b || !(s = snapshot_build(b)) || !(d->reg = snapstore_new(s))) {
		log_err("main", "cannot create the registry: out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int source_start(struct daemon *d)
{
	const struct config *c = &d->cfg[0];
	int rc;

	if (config_source(c) == CONFIG_SOURCE_FILE) {
		d->filesrc = filesrc_new(&d->loop, c->nacos + 5, c, d->reg);
		return d->filesrc ? 0 : -EINVAL;
	}
	if (config_source(c) == CONFIG_SOURCE_NONE) {
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
	int rc;

	if (!(d->acl = daemon_acl("allow-recursion", c->allow_recursion_cidr,
				  c->n_allow_recursion)) ||
	    !(d->transfer =
		      daemon_acl("allow-transfer", c->allow_transfer_cidr, c->n_allow_transfer)))
		return -EINVAL;
	if (!(d->metrics = metrics_new()))
		return -ENOMEM;
	if ((rc = forward_new(&d->loop, c, &d->forward)) < 0) {
		log_warn("main", "no forwarder (%s): names outside the zones get REFUSED",
			 strerror(-rc));
		d->forward = NULL;
	}
	if (d->forward && (rc = fwdcache_new(c, d->reg, &d->cache)) < 0) {
		log_err("main", "cannot create the forward cache: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* --user: after binding, a daemon started as root keeps no privilege. */
static int daemon_drop_privileges(const char *user)
{
	struct passwd *pw;

	if (!user[0] || geteuid() != 0)
		return 0;
	if (!(pw = getpwnam(user))) {
		log_err("main", "user: no user named %s", user);
		return -ENOENT;
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_err("main", "user: cannot switch to %s: %s", user, strerror(errno));
		return -EPERM;
	}
	log_info("main", "running as user %s", user);
	return 0;
}

/* The HTTP endpoint, then the privilege drop: both need the sockets bound first. */
static int operating_start(struct daemon *d)
{
	const struct config *c = &d->cfg[0];
	int rc;

	d->http_env = (struct httpd_env){.registry = d->reg,
					 .server = d->server,
					 .forward = d->forward,
					 .cache = d->cache,
					 .sync = d->sync,
					 .metrics = d->metrics,
					 .dnstap = d->dnstap,
					 .loaded = d->sync == NULL};
	if (c->http[0] &&
	    (rc = httpd_new(&d->loop, c->http, &c->http_sa, &d->http_env, &d->httpd)) < 0)
		return rc;
	return daemon_drop_privileges(c->user);
}

static int daemon_start(struct daemon *d)
{
	struct dispatch_env env;
	int rc;

	if ((rc = registry_start(d)) < 0 || (rc = source_start(d)) < 0 ||
	    (rc = forwarding_start(d)) < 0)
		return rc;
	if (d->cfg[0].dnstap[0] &&
	    (rc = dnstap_new(d->cfg[0].dnstap, d->cfg[0].hostname, &d->dnstap)) < 0)
		return rc;
	env = (struct dispatch_env){.registry = d->reg,
				  .forward = d->forward,
				  .cache = d->cache,
				  .allow_recursion = d->acl,
				  .sync = d->sync,
				  .allow_transfer = d->transfer,
				  .metrics = d->metrics,
				  .query_log = d->cfg[0].query_log,
				  .dnstap = d->dnstap};
	if ((rc = server_new(&d->loop, &d->cfg[0], &env, &d->server)) < 0) {
		d->server = NULL;
		return rc;
	}
	if ((rc = operating_start(d)) < 0)
		return rc;
	if ((rc = signals_start(d)) < 0) {
		log_err("main", "cannot handle signals: %s", uv_strerror(rc));
		return rc;
	}
	if ((rc = svcmgr_new(&d->loop, &d->http_env, &d->svcmgr)) < 0)
		log_err("main", "cannot start the readiness notifier: %s", strerror(-rc));
	return rc;
}

/* The version and every address, so a log shows what started where. */
static void daemon_log_start(const struct config *c)
{
	char addrs[CONFIG_MAX_LIST * (CONFIG_ADDR_LEN + 2)] = "";
	size_t o = 0;

	for (size_t i = 0; i < c->n_listen && o < sizeof(addrs); i++)
		o += (size_t)snprintf(addrs + o, sizeof(addrs) - o, "%s%s", i ? ", " : "",
				      c->listen[i]);
	log_info("main",
		 "started nacos-dns %s: DNS on %s (UDP and TCP), HTTP on %s; %zu zone(s), "
		 "threads=%u, source=%s",
		 NACOS_DNS_VERSION, addrs, c->http[0] ? c->http : "none", c->n_zones, c->threads,
		 c->nacos[0] ? c->nacos : "none");
}

int main(int argc, char **argv)
{
	struct daemon *d = calloc(1, sizeof(*d));
	int status = 1, rc;

	/* Before the handler is installed, SIGHUP's default action would kill the daemon: it
	 * stays pending until signals_start() and is then applied as a reload. */
	sighup_mask(SIG_BLOCK);
	if (!d)
		return 1;
	d->argc = argc;
	log_init();
	rc = config_from_args(&d->cfg[0], argc, argv);
	if (rc != 0) {
		free(d);
		return rc == 2 ? 2 : 0;
	}
	if (!(d->argv = config_args_hide_secrets(argc, argv))) {
		free(d);
		return 1;
	}
	log_set_level(d->cfg[0].log_level);
	bgwork_setup();
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
	daemon_log_start(&d->cfg[0]);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	status = 0;
out_loop:
	if ((rc = uv_loop_close(&d->loop)) != 0) {
		log_err("main", "event loop still busy at exit: %s", uv_strerror(rc));
		status = 1;
	}
out:
	acl_free(d->acl);
	acl_free(d->transfer);
	metrics_free(d->metrics);
	dnstap_free(d->dnstap);  /* the workers that wrote to it are gone */
	fwdcache_free(d->cache); /* the workers are gone, the forwarder's callbacks have run */
	snapstore_free(d->reg);
	config_args_free(d->argc, d->argv);
	free(d);
	return status;
}

#include "resolver/svcmgr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "resolver/clock.h"
#include "resolver/httpd.h"
#include "resolver/log.h"
#include "resolver/sdnotify.h"
#include "resolver/serve/snapstore.h"
#include "zones/data/snapshot.h"

/* Until the data is in, readiness is polled this often: the sync and the file source know
 * nothing of the service manager. */
#define SVCMGR_POLL_MS 100
/* Once serving, STATUS= is refreshed this often when nothing shorter (a watchdog) is due. */
#define SVCMGR_STATUS_MS 5000

struct svcmgr {
	const struct httpd_env *env;
	uv_timer_t timer;
	uint64_t watchdog_ms; /* 0: no watchdog */
	bool ready, closing;
	char status[160]; /* the last STATUS= sent */
};

static void svcmgr_send(const char *msg)
{
	int rc = sdnotify_send(msg);
	if (rc < 0)
		log_debug("main", "NOTIFY_SOCKET: cannot send %.*s: %s", (int)strcspn(msg, "\n"),
			  msg, strerror(-rc));
}

static void svcmgr_status(const struct svcmgr *m, char *buf, size_t len)
{
	struct snapshot_stats st;

	snapshot_get_stats(snapstore_get(m->env->registry), &st);
	snprintf(buf, len, "serving %zu zone(s), %zu service(s), %zu instance(s) (%zu usable)",
		 st.zones, st.services, st.instances, st.usable);
}

/* READY=1 (when ready is set) with a STATUS= that has changed since the last one. */
static void svcmgr_tell(struct svcmgr *m, bool ready)
{
	char status[sizeof(m->status)], msg[sizeof(m->status) + 32];

	svcmgr_status(m, status, sizeof(status));
	if (!ready && strcmp(status, m->status) == 0)
		return;
	memcpy(m->status, status, sizeof(status));
	snprintf(msg, sizeof(msg), "%sSTATUS=%s", ready ? "READY=1\n" : "", status);
	svcmgr_send(msg);
}

static uint64_t svcmgr_period_ms(const struct svcmgr *m)
{
	uint64_t p = m->ready ? SVCMGR_STATUS_MS : SVCMGR_POLL_MS;
	return m->watchdog_ms && m->watchdog_ms < p ? m->watchdog_ms : p;
}

static void on_tick(uv_timer_t *t)
{
	struct svcmgr *m = t->data;

	if (m->watchdog_ms)
		svcmgr_send("WATCHDOG=1");
	if (m->ready) {
		svcmgr_tell(m, false);
		return;
	}
	if (!httpd_ready(m->env))
		return;
	m->ready = true;
	svcmgr_tell(m, true);
	log_info("main", "%s", m->status);
	uv_timer_set_repeat(t, svcmgr_period_ms(m));
}

int svcmgr_new(uv_loop_t *loop, const struct httpd_env *env, struct svcmgr **out)
{
	struct svcmgr *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->env = env;
	/* systemd asks for a ping at least every half interval. */
	m->watchdog_ms = sdnotify_watchdog_usec(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"),
						(long)getpid()) /
			 2000;
	if (m->watchdog_ms == 0 && getenv("WATCHDOG_USEC"))
		log_warn("main",
			 "WATCHDOG_USEC: not a watchdog interval for this process; ignored");
	uv_timer_init(loop, &m->timer);
	m->timer.data = m;
	uv_unref((uv_handle_t *)&m->timer); /* it never keeps the loop alive */
	/* The first tick on the next loop turn: a file source is ready at once. */
	uv_timer_start(&m->timer, on_tick, 0, svcmgr_period_ms(m));
	*out = m;
	return 0;
}

void svcmgr_reloading(struct svcmgr *m)
{
	char msg[64];

	if (!m)
		return;
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)clock_mono_us());
	svcmgr_send(msg);
}

void svcmgr_reloaded(struct svcmgr *m)
{
	/* Before the data is in, READY=1 waits for it. */
	if (m && m->ready)
		svcmgr_tell(m, true);
}

static void svcmgr_on_close(uv_handle_t *h)
{
	free(h->data);
}

void svcmgr_close(struct svcmgr *m)
{
	if (!m || m->closing)
		return;
	m->closing = true;
	svcmgr_send("STOPPING=1");
	uv_close((uv_handle_t *)&m->timer, svcmgr_on_close);
}

/* What the service manager and the log hear of the daemon's life: "serving" and READY=1 once
 * the data is served (as /readyz says), RELOADING=1 and READY=1 around a reload, STATUS= with
 * the counts, WATCHDOG=1 from the event loop, STOPPING=1 on the way out. */
#pragma once
#include <uv.h>

struct httpd_env;
struct svcmgr;

/* Starts watching env (borrowed, read on the loop) for readiness and, under a watchdog, pinging
 * it. 0, or a negative errno. */
int svcmgr_new(uv_loop_t *loop, const struct httpd_env *env, struct svcmgr **out);
/* A reload begins (SIGHUP) / has been applied. */
void svcmgr_reloading(struct svcmgr *m);
void svcmgr_reloaded(struct svcmgr *m);
/* STOPPING=1, then stops; frees in the close callback. NULL-safe. */
void svcmgr_close(struct svcmgr *m);

/* Builds a snapshot on libuv's thread pool from services the loop lends it, so that no query
 * waits for a rebuild, however large the registry. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct nacos_service;
struct snapshot;
struct snapshot_config;
struct snapjob;

struct snapjob_result {
	struct snapshot *snap; /* set it to NULL to take it (else it is freed); NULL: out of
				  memory, or cancelled */
	bool cancelled;
	size_t skipped;  /* Nacos names that cannot be DNS names (logged at debug level) */
	double build_ms; /* time the build itself took */
	double cpu_ms;   /* CPU time it took: less than build_ms while queries had the CPU */
};

/* Runs on the loop once the build has ended; the job is freed right after it returns. */
typedef void (*snapjob_done_cb)(void *arg, struct snapjob_result *res);

/* A job for a snapshot of generation with the settings of c (copied now). NULL on ENOMEM. */
struct snapjob *snapjob_new(const struct snapshot_config *c, uint32_t generation);
/* svc is lent: it must stay alive and unchanged until the job ends. ns is copied. 0 or -ENOMEM. */
int snapjob_add_service(struct snapjob *j, const char *ns, const struct nacos_service *svc);
/* A catalog name without data yet (strings copied). 0 or -ENOMEM. */
int snapjob_add_pending(struct snapjob *j, const char *ns, const char *group, const char *name);
/* A group whose catalog is listed (snapshot_builder_add_group; strings copied). 0 or -ENOMEM. */
int snapjob_add_group(struct snapjob *j, const char *ns, const char *group);
void snapjob_free(struct snapjob *j); /* NULL-safe; for a job never started */

/* Builds on the pool; cb runs on loop when done. <0: not started, and j is freed. */
int snapjob_start(struct snapjob *j, uv_loop_t *loop, snapjob_done_cb cb, void *arg);
/* Builds on this thread (before uv_run, or when a caller must have the snapshot at once); j
 * is freed. */
void snapjob_run(struct snapjob *j, struct snapjob_result *out);
/* A job not yet picked up by a pool thread ends at once (cancelled); one already building ends
 * as usual. Either way cb runs. */
void snapjob_cancel(struct snapjob *j);

/* --threads N >= 2: N worker threads, each with its own loop, its own dispatch and a
 * SO_REUSEPORT UDP socket per listen address, handing what only the main loop can do to it.
 * These functions run on the main loop; worker thread N runs its loop and what that calls. */
#pragma once
#include <stddef.h>

#include <uv.h>

struct config;
struct dispatch_env;
struct handoff;
struct servestats;
struct workers;

/* Starts cfg->threads workers answering with a copy of env (each with a metrics shard of
 * env->metrics) and handing work to handoff; cfg, env's collaborators and handoff are borrowed
 * until workers_close. *out is set even on failure, for workers_close. 0, or a negative errno
 * after logging why. */
int workers_start(uv_loop_t *loop, const struct config *cfg, const struct dispatch_env *env,
		  struct handoff *handoff, struct workers **out);
/* Ends every thread (each finishes its batch) and frees them; closed(arg) once the main loop's
 * handle closed, then w is freed. */
void workers_close(struct workers *w, void (*closed)(void *arg), void *arg); /* NULL-safe */
/* The workers take the new env between batches; once this returns none holds the old one. */
void workers_set_env(struct workers *w, const struct dispatch_env *env);
size_t workers_count(const struct workers *w);
/* Adds every worker's counters into sum. */
void workers_add_stats(const struct workers *w, struct servestats *sum);

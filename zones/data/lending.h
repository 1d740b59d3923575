/* Services the loop lends to jobs on the thread pool (a snapshot build, a cache file write).
 * While a job that may read a service runs, the loop must neither change nor free it: a service
 * the loop replaces meanwhile is retired here and freed once every job that could hold it has
 * ended. Loop thread only. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lending;
struct nacos_service;

struct lending *lending_new(void);    /* NULL on ENOMEM */
void lending_free(struct lending *l); /* NULL-safe; every job must have ended */
/* A job starts and may read every service held now. Its ticket, for lending_end; 0 on ENOMEM
 * (then the job must not start). */
uint64_t lending_begin(struct lending *l);
/* The job of ticket ended: frees what no running job can hold any more. */
void lending_end(struct lending *l, uint64_t ticket);
/* Whether a job runs: then services are copied before a change, never changed in place. */
bool lending_active(const struct lending *l);
/* Frees svc (taken) now, or once the jobs that may read it have ended. NULL-safe. */
void lending_retire(struct lending *l, struct nacos_service *svc);
size_t lending_pending(const struct lending *l); /* services retired, not freed yet */

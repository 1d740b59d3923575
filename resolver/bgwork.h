/* Work on libuv's thread pool that must never slow the answers down. */
#pragma once
#include <uv.h>

/* Once at start, before any thread: the allocator settings that suit loading and dropping whole
 * registries (see bgwork.c). */
void bgwork_setup(void);

/* Lowers the calling thread's CPU priority (once per thread; later calls cost nothing). Call it
 * first in every uv_queue_work callback: building a snapshot or writing the cache file then
 * takes only the CPU time that answering queries leaves, even on the CPU that answers them. */
void bgwork_lower_priority(void);

/* Hands free heap back to the system once loads have stopped for a while. A load or a snapshot
 * build leaves free heap the size of a registry (a parse tree, the previous snapshot); trimming
 * after each one of a burst would only make the next one fault the same pages in again. */
struct bgwork_trim;
struct bgwork_trim *bgwork_trim_new(uv_loop_t *loop); /* NULL on ENOMEM */
/* Something large was just freed: trim once no poke has come for a second. */
void bgwork_trim_poke(struct bgwork_trim *t);
/* NULL-safe; freed once its timer and a trim in flight have ended. */
void bgwork_trim_close(struct bgwork_trim *t);

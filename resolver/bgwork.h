/* Work on libuv's thread pool that must never slow the answers down. */
#pragma once

/* Lowers the calling thread's CPU priority (once per thread; later calls cost nothing). Call it
 * first in every uv_queue_work callback: building a snapshot or writing the cache file then
 * takes only the CPU time that answering queries leaves, even on the CPU that answers them. */
void bgwork_lower_priority(void);

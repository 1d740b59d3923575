/* The clocks, in milliseconds. Loop code that has a uv_loop_t uses uv_now() (one reading per
 * loop turn); these are for code with no loop at hand or on another thread. */
#pragma once
#include <stdint.h>

int64_t clock_mono_ms(void); /* CLOCK_MONOTONIC: intervals, deadlines */
uint64_t clock_mono_us(void);
int64_t clock_wall_ms(void);  /* CLOCK_REALTIME: what is shown or stored as a date */
uint64_t clock_wall_ns(void); /* CLOCK_REALTIME in nanoseconds: timestamps sent out (dnstap) */
uint64_t clock_thread_cpu_ns(void); /* CPU time of the calling thread */
uint64_t clock_mono_ns(void);

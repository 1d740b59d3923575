/* The process's own figures, as Prometheus's process collector names them. Linux /proc. */
#pragma once
#include <stdbool.h>

struct procstats {
	double start_time_s;   /* Unix seconds */
	double cpu_s;          /* user + system */
	double resident_bytes; /* RSS */
	double virtual_bytes;
	double open_fds;
	double max_fds; /* soft RLIMIT_NOFILE */
};

/* Reads /proc/self. 0, or a negative errno when /proc is not there (then *out is unusable). */
int procstats_get(struct procstats *out);

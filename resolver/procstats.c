#include "resolver/procstats.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The boot time in Unix seconds, from /proc/stat's btime line. */
static int procstats_boot_time(double *out)
{
	char line[256];
	FILE *f = fopen("/proc/stat", "r");
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long bt;
		if (sscanf(line, "btime %llu", &bt) == 1) {
			*out = (double)bt;
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

/* utime, stime (fields 14, 15), starttime (22), vsize (23), rss (24) of /proc/self/stat. */
static int procstats_stat(struct procstats *out, double boot_s)
{
	char buf[1024], *p;
	unsigned long long utime, stime, start, vsize;
	long long rss;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name in parentheses may hold spaces: fields count from the last ')'. */
	if (!(p = strrchr(buf, ')')) || tick <= 0 || page <= 0)
		return -EINVAL;
	if (sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
		   "%llu %llu %lld",
		   &utime, &stime, &start, &vsize, &rss) != 5)
		return -EINVAL;
	out->cpu_s = (double)(utime + stime) / (double)tick;
	out->start_time_s = boot_s + (double)start / (double)tick;
	out->virtual_bytes = (double)vsize;
	out->resident_bytes = (double)rss * (double)page;
	return 0;
}

static int procstats_fds(struct procstats *out)
{
	struct rlimit rl;
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	double n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	out->open_fds = n - 1; /* the directory stream's own */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	out->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur;
	return 0;
}

int procstats_get(struct procstats *out)
{
	double boot_s;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = procstats_boot_time(&boot_s)) < 0 || (rc = procstats_stat(out, boot_s)) < 0)
		return rc;
	return procstats_fds(out);
}

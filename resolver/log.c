#include "resolver/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "resolver/clock.h"
#include "resolver/sdnotify.h"

/* Set by the main loop (SIGHUP), read by worker threads too. */
static atomic_int log_threshold = LOG_LEVEL_INFO;

static const char *const log_names[] = {"error", "warn", "info", "debug"};
/* The syslog priority of each level (err, warning, info, debug), as journald reads it from a
 * "<N>" at the start of a line (sd-daemon(3)). */
static const char *const log_prefixes[] = {"<3>", "<4>", "<6>", "<7>"};

/* Set once by log_init(), before any other thread starts. */
static bool log_journal;

void log_init(void)
{
	uint64_t dev, ino;
	struct stat st;

	log_journal = sdnotify_journal_stream(getenv("JOURNAL_STREAM"), &dev, &ino) == 0 &&
		      fstat(STDERR_FILENO, &st) == 0 && (uint64_t)st.st_dev == dev &&
		      (uint64_t)st.st_ino == ino;
}

const char *log_prefix(enum log_level l)
{
	return log_journal ? log_prefixes[l] : "";
}

void log_set_level(enum log_level l)
{
	atomic_store_explicit(&log_threshold, (int)l, memory_order_relaxed);
}

bool log_enabled(enum log_level l)
{
	return (int)l <= atomic_load_explicit(&log_threshold, memory_order_relaxed);
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* "PREFIXts=... level=... subsys=..." into line; returns its length. */
static size_t log_head(char *line, size_t len, enum log_level l, const char *subsys)
{
	char ts[32];
	int64_t now = clock_wall_ms();
	time_t sec = (time_t)(now / 1000);
	struct tm tm;

	gmtime_r(&sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	return (size_t)snprintf(line, len, "%sts=%s.%03ldZ level=%s subsys=%s", log_prefix(l), ts,
				(long)(now % 1000), log_names[l], subsys);
}

void log_fields(enum log_level l, const char *subsys, const char *fields)
{
	char line[4096];
	size_t o, n = strlen(fields);

	if (!log_enabled(l))
		return;
	o = log_head(line, sizeof(line), l, subsys);
	if (n > sizeof(line) - o - 2)
		n = sizeof(line) - o - 2;
	line[o++] = ' ';
	memcpy(line + o, fields, n);
	o += n;
	line[o++] = '\n';
	fwrite(line, 1, o, stderr);
}

/* The message is quoted, and quotes, backslashes and control bytes in it are escaped, so a
 * name taken from a packet or from Nacos can never forge a second log line or key. */
__attribute__((format(printf, 3, 0))) static void log_vwrite(enum log_level l, const char *subsys,
							     const char *fmt, va_list ap)
{
	char msg[1024], line[2300];
	size_t o = 0;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	o = log_head(line, sizeof(line), l, subsys);
	o += (size_t)snprintf(line + o, sizeof(line) - o, " msg=\"");
	for (const unsigned char *p = (const unsigned char *)msg; *p && o < sizeof(line) - 8; p++) {
		if (*p == '"' || *p == '\\')
			o += (size_t)snprintf(line + o, sizeof(line) - o, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(line + o, sizeof(line) - o, "\\x%02x", *p);
		else
			line[o++] = (char)*p;
	}
	line[o++] = '"';
	line[o++] = '\n';
	fwrite(line, 1, o, stderr);
}

void log_msg(enum log_level l, const char *subsys, const char *fmt, ...)
{
	va_list ap;
	if (!log_enabled(l))
		return;
	va_start(ap, fmt);
	log_vwrite(l, subsys, fmt, ap);
	va_end(ap);
}

#define LOG_DEFINE(fn, level)                                                                      \
	void fn(const char *subsys, const char *fmt, ...)                                          \
	{                                                                                          \
		va_list ap;                                                                        \
		if (!log_enabled(level))                                                           \
			return;                                                                    \
		va_start(ap, fmt);                                                                 \
		log_vwrite(level, subsys, fmt, ap);                                                \
		va_end(ap);                                                                        \
	}

LOG_DEFINE(log_err, LOG_LEVEL_ERR)
LOG_DEFINE(log_warn, LOG_LEVEL_WARN)
LOG_DEFINE(log_info, LOG_LEVEL_INFO)
LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG)

bool log_limit_pass(struct log_limit *l, int64_t now_ms, int64_t interval_ms,
		    unsigned long long *suppressed)
{
	if (l->last_ms && now_ms - l->last_ms < interval_ms) {
		l->suppressed++;
		return false;
	}
	*suppressed = l->suppressed;
	l->last_ms = now_ms ? now_ms : 1;
	l->suppressed = 0;
	return true;
}

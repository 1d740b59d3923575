/* One line per event, key=value, to stderr. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_ERR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* When $JOURNAL_STREAM names our stderr, each line starts with its syslog priority ("<4>") so
 * journald files it as such. Call before any thread starts. */
void log_init(void);
void log_set_level(enum log_level l);
/* What starts a line of level l on stderr: journald's "<N>" priority, or "". */
const char *log_prefix(enum log_level l);
bool log_enabled(enum log_level l);
/* "error"|"warn"|"info"|"debug" -> *out; -EINVAL otherwise. */
int log_parse_level(const char *s, enum log_level *out);

void log_msg(enum log_level l, const char *subsys, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A line whose fields the caller formatted ("key=value key=value", each value already escaped
 * as logfmt requires) instead of a msg="...". */
void log_fields(enum log_level l, const char *subsys, const char *fields);
void log_err(const char *subsys, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warn(const char *subsys, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_info(const char *subsys, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *subsys, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Lines about one kind of trouble at most once per interval, counting what was left out. */
struct log_limit {
	int64_t last_ms; /* when the last line went out; 0: never */
	unsigned long long suppressed;
};
/* May a line go out at now_ms (a monotonic clock)? If not, it is counted as left out. If so,
 * *suppressed is how many were left out since the last one, and the count starts again. */
bool log_limit_pass(struct log_limit *l, int64_t now_ms, int64_t interval_ms,
		    unsigned long long *suppressed);

#include "resolver/checkconf.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "resolver/config.h"

__attribute__((format(printf, 3, 4))) static int
checkconf_fail(const struct config *c, const char *key, const char *fmt, ...)
{
	char where[CONFIG_PATH_LEN + 64], why[CONFIG_PATH_LEN + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	config_origin_text(c, key, where, sizeof(where));
	fprintf(stderr, "%s%s: %s\n", log_prefix(LOG_LEVEL_ERR), where, why);
	return -EINVAL;
}

/* The file a file: source serves is read at start (and at each reload). */
static int checkconf_source(const struct config *c)
{
	const char *path = c->nacos + 5;

	if (strncmp(c->nacos, "file:", 5) != 0)
		return 0;
	if (access(path, R_OK) < 0)
		return checkconf_fail(c, "nacos", "cannot read %s: %s", path, strerror(errno));
	return 0;
}

/* --user is looked up at start, after binding, when started as root. */
static int checkconf_user(const struct config *c)
{
	struct passwd *pw;

	if (!c->user[0])
		return 0;
	errno = 0;
	if (!(pw = getpwnam(c->user)))
		return checkconf_fail(c, "user", "no user named %s%s%s", c->user, errno ? ": " : "",
				      errno ? strerror(errno) : "");
	return 0;
}

int checkconf_start(const struct config *c)
{
	int rc = checkconf_source(c);
	return checkconf_user(c) < 0 ? -EINVAL : rc;
}

#include "resolver/sdnotify.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sdnotify_addr(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = name ? strlen(name) : 0;

	if (n < 2 || n >= sizeof(sa->sun_path) || (name[0] != '/' && name[0] != '@'))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, n);
	if (name[0] == '@') {
		/* An abstract address: a leading NUL, and its length counts, not a terminator. */
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

int sdnotify_send(const char *state)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	int fd, rc = 0;

	if (!name)
		return 0;
	if (sdnotify_addr(name, &sa, &len) < 0)
		return -EINVAL;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   len) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* A decimal number of at most max, digits only, followed by stop: *out, and *next points at
 * the stop character. */
static int sdnotify_parse_num(const char *s, uint64_t max, char stop, uint64_t *out,
			      const char **next)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end != stop || v > max)
		return -EINVAL;
	*out = v;
	*next = end;
	return 0;
}

uint64_t sdnotify_watchdog_usec(const char *usec, const char *pid, long mypid)
{
	uint64_t v, p;
	const char *end;

	if (sdnotify_parse_num(usec, UINT64_MAX / 2, '\0', &v, &end) < 0 || v == 0)
		return 0;
	if (pid && (sdnotify_parse_num(pid, LONG_MAX, '\0', &p, &end) < 0 || (long)p != mypid))
		return 0;
	return v;
}

int sdnotify_journal_stream(const char *s, uint64_t *dev, uint64_t *ino)
{
	const char *colon, *end;

	if (sdnotify_parse_num(s, UINT64_MAX, ':', dev, &colon) < 0 ||
	    sdnotify_parse_num(colon + 1, UINT64_MAX, '\0', ino, &end) < 0)
		return -EINVAL;
	return 0;
}

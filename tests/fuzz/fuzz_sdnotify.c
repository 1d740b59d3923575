/* libFuzzer target: what systemd passes in the environment ($NOTIFY_SOCKET, $WATCHDOG_USEC and
 * $WATCHDOG_PID, $JOURNAL_STREAM). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/sdnotify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sa;
	socklen_t len;
	uint64_t dev, ino;
	char *s = malloc(size + 1);
	const char *nul;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (sdnotify_addr(s, &sa, &len) == 0 && (len > sizeof(sa) || sa.sun_family != AF_UNIX))
		abort();
	/* A NUL in the input splits it into the two watchdog variables. */
	nul = memchr(data, '\0', size);
	sdnotify_watchdog_usec(s, nul ? s + (nul - (const char *)data) + 1 : NULL, 42);
	sdnotify_journal_stream(s, &dev, &ino);
	free(s);
	return 0;
}

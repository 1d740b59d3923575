/* libFuzzer target: the INI config parser (config_load_file on a scratch file). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "resolver/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[4096];
static int fd = -1;

static void fuzz_cleanup(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("TMPDIR");

	snprintf(path, sizeof(path), "%s/nacos-dns-fuzz-config-XXXXXX", dir && *dir ? dir : "/tmp");
	if ((fd = mkstemp(path)) < 0)
		abort();
	atexit(fuzz_cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char buf[256];

	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	config_defaults(&c);
	if (config_load_file(&c, path) == 0) {
		/* What was accepted must print. */
		if (config_get(&c, "listen", buf, sizeof(buf)) != 0)
			abort();
	}
	return 0;
}

#include "resolver/random.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t got = getrandom(p, n, GRND_NONBLOCK);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -EAGAIN;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

void random_seed(uint64_t st[2])
{
	if (random_bytes(st, sizeof(uint64_t) * 2) < 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		st[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
		st[1] = (uint64_t)ts.tv_sec ^ (uintptr_t)st;
	}
	if (st[0] == 0 && st[1] == 0)
		st[1] = 1;
}

uint64_t random_next(uint64_t st[2])
{
	uint64_t x = st[0], y = st[1];
	st[0] = y;
	x ^= x << 23;
	st[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
	return st[1] + y;
}

#include "zones/base/array.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

int array_grow(void **p, size_t *cap, size_t used, size_t n, size_t elem)
{
	size_t ncap = *cap ? *cap : 16;
	void *np;

	if (used + n >= used && used + n <= *cap)
		return 0;
	if (used + n < used || elem == 0)
		return -ENOMEM;
	while (ncap < used + n) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / elem || !(np = realloc(*p, ncap * elem)))
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

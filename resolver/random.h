/* Random numbers from the kernel's CSPRNG. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* n random bytes into buf. 0, or -EAGAIN when the kernel has none yet (early boot). */
int random_bytes(void *buf, size_t n);
/* A seed for a fast generator (xorshift128+): random, or when the kernel has none yet,
 * the time and the process id. Never all zero. */
void random_seed(uint64_t st[2]);

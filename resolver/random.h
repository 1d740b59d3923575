/* Random numbers from the kernel's CSPRNG. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* n random bytes into buf. 0, or -EAGAIN when the kernel has none yet (early boot). */
int random_bytes(void *buf, size_t n);
/* A seed for a fast generator (xorshift128+): random, or when the kernel has none yet,
 * the time and the process id. Never all zero. */
void random_seed(uint64_t st[2]);
/* The next number of a fast generator (xorshift128+) whose state random_seed made: for jitter
 * and spreading, never for secrets. */
uint64_t random_next(uint64_t st[2]);

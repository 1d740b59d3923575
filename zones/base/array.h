/* Growable arrays: the one rule for making room (capacity doubles, from 16). */
#pragma once
#include <stddef.h>

/* Makes room in *p (capacity *cap elements of size elem, used of them in use) for n more.
 * 0, or -ENOMEM with *p and *cap unchanged (also when the size would overflow). */
int array_grow(void **p, size_t *cap, size_t used, size_t n, size_t elem);

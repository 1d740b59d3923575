#include "zones/nacos/synccatalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int synccatalog_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void synccatalog_normalise(char **v, size_t *n)
{
	size_t k = 0;
	if (*n > 1)
		qsort(v, *n, sizeof(*v), synccatalog_strcmp);
	for (size_t i = 0; i < *n; i++) {
		if (k && strcmp(v[k - 1], v[i]) == 0)
			free(v[i]);
		else
			v[k++] = v[i];
	}
	*n = k;
}

void synccatalog_union(char ***fresh, size_t *n, char *const *old, size_t n_old)
{
	char **v = realloc(*fresh, (*n + n_old + 1) * sizeof(*v));
	if (!v)
		return;
	for (size_t i = 0; i < n_old; i++)
		if ((v[*n] = strdup(old[i])))
			(*n)++;
	*fresh = v;
	synccatalog_normalise(*fresh, n);
}

static void synccatalog_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int synccatalog_append(char ***acc, size_t *n_acc, char **names, size_t n, size_t max)
{
	if (*n_acc + n > max) {
		synccatalog_strv_free(names, n);
		return -E2BIG;
	}
	char **v = realloc(*acc, (*n_acc + n + 1) * sizeof(*v));
	if (!v) {
		synccatalog_strv_free(names, n);
		return -ENOMEM;
	}
	if (n)
		memcpy(v + *n_acc, names, n * sizeof(*v));
	free(names); /* the strings moved into acc */
	*acc = v;
	*n_acc += n;
	return 0;
}

bool synccatalog_more(size_t got, unsigned page, size_t page_size, size_t total, unsigned max_pages)
{
	return got == page_size && (size_t)page * page_size < total && page < max_pages;
}

bool synccatalog_partial(size_t first_total, size_t last_total, size_t n_raw)
{
	return last_total != first_total || n_raw < last_total;
}

size_t synccatalog_gone(char *const *old, size_t n_old, char *const *fresh, size_t n,
			void (*cb)(void *arg, const char *name), void *arg)
{
	size_t gone = 0, j = 0;
	for (size_t i = 0; i < n_old; i++) {
		while (j < n && strcmp(fresh[j], old[i]) < 0)
			j++;
		if (j < n && strcmp(fresh[j], old[i]) == 0)
			continue;
		gone++;
		if (cb)
			cb(arg, old[i]);
	}
	return gone;
}

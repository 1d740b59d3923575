#include "zones/data/lending.h"

#include <stdlib.h>

#include "zones/base/array.h"
#include "zones/nacos/nacos.h"

struct lending_retired {
	struct nacos_service *svc;
	uint64_t newest; /* the newest ticket out when it was retired */
};

struct lending {
	uint64_t next; /* tickets are 1, 2, ... */
	uint64_t *active;
	size_t n_active, cap_active;
	struct lending_retired *retired;
	size_t n_retired, cap_retired;
};

struct lending *lending_new(void)
{
	struct lending *l = calloc(1, sizeof(*l));
	if (l)
		l->next = 1;
	return l;
}

void lending_free(struct lending *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_retired; i++)
		nacos_service_free(l->retired[i].svc);
	free(l->retired);
	free(l->active);
	free(l);
}

uint64_t lending_begin(struct lending *l)
{
	if (array_grow((void **)&l->active, &l->cap_active, l->n_active, 1, sizeof(uint64_t)) < 0)
		return 0;
	l->active[l->n_active++] = l->next;
	return l->next++;
}

/* The oldest ticket still out; UINT64_MAX when none is. */
static uint64_t lending_oldest(const struct lending *l)
{
	uint64_t m = UINT64_MAX;
	for (size_t i = 0; i < l->n_active; i++)
		if (l->active[i] < m)
			m = l->active[i];
	return m;
}

void lending_end(struct lending *l, uint64_t ticket)
{
	for (size_t i = 0; i < l->n_active; i++)
		if (l->active[i] == ticket) {
			l->active[i] = l->active[--l->n_active];
			break;
		}
	uint64_t oldest = lending_oldest(l);
	size_t kept = 0;
	for (size_t i = 0; i < l->n_retired; i++) {
		if (l->retired[i].newest < oldest)
			nacos_service_free(l->retired[i].svc);
		else
			l->retired[kept++] = l->retired[i];
	}
	l->n_retired = kept;
}

bool lending_active(const struct lending *l)
{
	return l->n_active > 0;
}

void lending_retire(struct lending *l, struct nacos_service *svc)
{
	if (!svc)
		return;
	if (!lending_active(l)) {
		nacos_service_free(svc);
		return;
	}
	if (array_grow((void **)&l->retired, &l->cap_retired, l->n_retired, 1,
		       sizeof(*l->retired)) < 0) {
		/* Out of memory: leaking one service beats freeing what a job reads. */
		return;
	}
	l->retired[l->n_retired++] = (struct lending_retired){svc, l->next - 1};
}

size_t lending_pending(const struct lending *l)
{
	return l->n_retired;
}

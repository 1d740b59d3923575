#include "zones/net/acl.h"

#include <stdlib.h>
#include <string.h>

#include "zones/net/addr.h"

struct acl {
	size_t n;
	struct addr_cidr e[];
};

struct acl *acl_new(const char *const *cidrs, size_t n, const char **bad)
{
	struct acl *a = calloc(1, sizeof(*a) + n * sizeof(a->e[0]));

	if (bad)
		*bad = NULL;
	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (addr_cidr_parse(cidrs[i], &a->e[i], NULL, 0) < 0) {
			if (bad)
				*bad = cidrs[i];
			free(a);
			return NULL;
		}
	}
	a->n = n;
	return a;
}

struct acl *acl_new_cidrs(const struct addr_cidr *cidrs, size_t n)
{
	struct acl *a = calloc(1, sizeof(*a) + n * sizeof(a->e[0]));

	if (!a)
		return NULL;
	if (n)
		memcpy(a->e, cidrs, n * sizeof(a->e[0]));
	a->n = n;
	return a;
}

bool acl_match(const struct acl *a, const struct sockaddr *sa)
{
	if (!a || !sa)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (addr_cidr_match(&a->e[i], sa))
			return true;
	}
	return false;
}

void acl_free(struct acl *a)
{
	free(a);
}

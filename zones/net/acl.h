/* Address lists (CIDR) for recursion and transfer permissions. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct acl;
struct addr_cidr; /* zones/net/addr.h */

/* From n strings "10.0.0.0/8", "::1/128", "192.0.2.1" (host). NULL on ENOMEM or a bad entry
 * (*bad then points at it). */
struct acl *acl_new(const char *const *cidrs, size_t n, const char **bad);
/* From n parsed prefixes (copied). NULL on ENOMEM. */
struct acl *acl_new_cidrs(const struct addr_cidr *cidrs, size_t n);
bool acl_match(const struct acl *a, const struct sockaddr *sa); /* false for a NULL acl */
void acl_free(struct acl *a);                                   /* NULL-safe */

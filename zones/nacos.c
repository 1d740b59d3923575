/* STUB: replaced by the real implementation. */
#include "nacos.h"

#include <errno.h>
#include <stdlib.h>

int nacos_parse_instance_list(const char *body, size_t len, const char *default_group,
			      struct nacos_diag *d, struct nacos_service **out)
{
	return -ENOSYS;
}
int nacos_parse_v3_instances(const char *body, size_t len, const char *group, const char *name,
			     struct nacos_diag *d, struct nacos_service **out)
{
	return -ENOSYS;
}
int nacos_parse_service_list(const char *body, size_t len, struct nacos_diag *d, char ***names,
			     size_t *n, size_t *total)
{
	return -ENOSYS;
}
int nacos_parse_login(const char *body, size_t len, struct nacos_diag *d, char **token,
		      int64_t *ttl_s)
{
	return -ENOSYS;
}
int nacos_registry_parse(const char *body, size_t len, struct nacos_diag *d,
			 struct nacos_registry **out)
{
	return -ENOSYS;
}
char *nacos_registry_dump(const struct nacos_registry *r)
{
	return NULL;
}
struct nacos_registry *nacos_registry_new(void)
{
	return calloc(1, sizeof(struct nacos_registry));
}
struct nacos_namespace *nacos_registry_find(struct nacos_registry *r, const char *namespace_id)
{
	return NULL;
}
int nacos_registry_put_take(struct nacos_registry *r, const char *namespace_id,
			    struct nacos_service *svc)
{
	return -ENOSYS;
}
struct nacos_service *nacos_registry_get(struct nacos_registry *r, const char *namespace_id,
					 const char *group, const char *name)
{
	return NULL;
}
int nacos_registry_remove(struct nacos_registry *r, const char *namespace_id, const char *group,
			  const char *name)
{
	return -ENOENT;
}
void nacos_registry_free(struct nacos_registry *r)
{
	free(r);
}
struct nacos_service *nacos_service_clone(const struct nacos_service *s)
{
	return NULL;
}
bool nacos_service_same_instances(const struct nacos_service *a, const struct nacos_service *b)
{
	return false;
}
void nacos_service_free(struct nacos_service *s)
{
}
void nacos_strv_free(char **v, size_t n)
{
}
bool nacos_instance_usable(const struct nacos_service *s, const struct nacos_instance *i)
{
	return i->enabled && i->weight > 0 && (i->healthy || s->protect_threshold);
}

/* STUB: replaced by the real implementation. */
#include "snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct snapshot_builder {
	uint32_t generation;
};
struct snapshot {
	uint32_t generation;
};

void snapshot_config_defaults(struct snapshot_config *c)
{
	memset(c, 0, sizeof(*c));
	c->zones[0] = (struct snapshot_zone){"svc.", "public"};
	c->n_zones = 1;
	c->ttl = 5;
	c->negative_ttl = 5;
	c->udp_max = 1232;
}
struct snapshot_builder *snapshot_builder_new(const struct snapshot_config *c,
					      uint32_t generation, struct nacos_diag *d)
{
	struct snapshot_builder *b = calloc(1, sizeof(*b));
	if (b)
		b->generation = generation;
	return b;
}
int snapshot_builder_add_service(struct snapshot_builder *b, const char *namespace_id,
				 const struct nacos_service *svc, struct nacos_diag *d)
{
	return 0;
}
int snapshot_builder_add_pending(struct snapshot_builder *b, const char *namespace_id,
				 const char *group, const char *name, struct nacos_diag *d)
{
	return 0;
}
int snapshot_builder_add_registry(struct snapshot_builder *b, const struct nacos_registry *r,
				  struct nacos_diag *d)
{
	return 0;
}
struct snapshot *snapshot_build(struct snapshot_builder *b)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	if (s)
		s->generation = b->generation;
	free(b);
	return s;
}
void snapshot_builder_free(struct snapshot_builder *b)
{
	free(b);
}
void snapshot_free(struct snapshot *s)
{
	free(s);
}
uint32_t snapshot_generation(const struct snapshot *s)
{
	return s->generation;
}
void snapshot_get_stats(const struct snapshot *s, struct snapshot_stats *out)
{
	memset(out, 0, sizeof(*out));
}

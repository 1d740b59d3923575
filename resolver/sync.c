/* STUB: replaced by the real implementation. */
#include "sync.h"

#include <errno.h>

int sync_new(uv_loop_t *loop, const struct config *cfg, struct registry *reg, struct sync **out)
{
	return -ENOSYS;
}
int sync_track(struct sync *s, const char *namespace_id, const char *group, const char *service,
	       sync_fetch_cb cb, void *arg)
{
	return -ENOSYS;
}
void sync_touch(struct sync *s, const char *namespace_id, const char *group, const char *service)
{
}
bool sync_ready(const struct sync *s)
{
	return false;
}
void sync_close(struct sync *s)
{
}

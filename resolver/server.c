/* STUB: replaced by the real implementation. */
#include "server.h"

#include <errno.h>

int server_new(uv_loop_t *loop, const struct config *cfg, const struct server_env *env,
	       struct server **out)
{
	return -ENOSYS;
}
void server_close(struct server *s)
{
}

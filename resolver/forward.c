/* STUB: replaced by the real implementation. */
#include "forward.h"

#include <errno.h>

int forward_new(uv_loop_t *loop, const struct config *cfg, struct forward **out)
{
	return -ENOSYS;
}
int forward_query(struct forward *f, const uint8_t *query, size_t len, size_t max_reply,
		  forward_cb cb, void *arg)
{
	return -ENOSYS;
}
void forward_close(struct forward *f)
{
}

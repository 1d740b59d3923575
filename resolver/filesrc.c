/* STUB: replaced by the real implementation. */
#include "filesrc.h"

#include <stddef.h>

struct filesrc *filesrc_new(uv_loop_t *loop, const char *path, const struct config *cfg,
			    struct registry *reg)
{
	return NULL;
}
void filesrc_reload(struct filesrc *f, const struct config *cfg)
{
}
void filesrc_close(struct filesrc *f)
{
}

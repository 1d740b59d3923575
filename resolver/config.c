/* STUB: replaced by the real implementation. */
#include "config.h"

#include <string.h>

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
}
int config_from_args(struct config *c, int argc, char **argv)
{
	config_defaults(c);
	return 0;
}
int config_load_file(struct config *c, const char *path)
{
	return 0;
}
void config_snapshot(const struct config *c, struct snapshot_config *out)
{
	snapshot_config_defaults(out);
}

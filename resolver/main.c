/* STUB: replaced by the real implementation. */
#include "config.h"

int main(int argc, char **argv)
{
	struct config cfg;
	int rc = config_from_args(&cfg, argc, argv);
	return rc == 1 || rc == 3 ? 0 : rc;
}

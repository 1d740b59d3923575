/* libFuzzer target: the registry/cache file loader, the snapshot build and the dump round trip. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zones/nacos/nacos.h"
#include "zones/data/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_snapshot(const struct nacos_registry *r)
{
	struct snapshot_config c;

	snapshot_config_defaults(&c);
	c.zones[1] = (struct snapshot_zone){.name = "a.b.", .namespace_id = "prod"};
	c.n_zones = 2;
	struct snapshot_builder *b = snapshot_builder_new(&c, 1, NULL);
	if (!b)
		abort();
	if (snapshot_builder_add_registry(b, r, NULL) < 0) {
		snapshot_builder_free(b);
		return;
	}
	snapshot_free(snapshot_build(b));
}

/* What we dump must load again and dump to the same text. */
static void fuzz_round_trip(const struct nacos_registry *r)
{
	char *first = nacos_registry_dump(r);
	struct nacos_registry *again = NULL;

	if (!first)
		abort();
	if (nacos_registry_parse(first, strlen(first), NULL, &again) != 0)
		abort();
	char *second = nacos_registry_dump(again);
	if (!second || strcmp(first, second) != 0)
		abort();
	free(second);
	free(first);
	nacos_registry_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nacos_diag d = {0};
	struct nacos_registry *r = NULL;

	if (nacos_registry_parse((const char *)data, size, &d, &r) != 0)
		return 0;
	fuzz_snapshot(r);
	fuzz_round_trip(r);
	nacos_registry_free(r);
	return 0;
}

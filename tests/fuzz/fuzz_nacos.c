/* libFuzzer target: the Nacos JSON parsers, chosen by the first input byte. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "zones/nacos/nacos.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_instance_list(const char *body, size_t len, int v3)
{
	struct nacos_diag d = {0};
	struct nacos_service *svc = NULL;
	int rc = v3 ? nacos_parse_v3_instances(body, len, "G", "svc", &d, &svc)
		    : nacos_parse_instance_list(body, len, NULL, &d, &svc);

	if (rc == 0) {
		struct nacos_service *copy = nacos_service_clone(svc);
		if (copy && !nacos_service_same_instances(svc, copy))
			abort();
		for (size_t i = 0; i < svc->n_instances; i++)
			(void)nacos_instance_usable(svc, &svc->instances[i]);
		nacos_service_free(copy);
	}
	nacos_service_free(svc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	struct nacos_diag d = {0};

	switch (data[0] % 4) {
	case 0:
	case 1:
		fuzz_instance_list(body, len, data[0] % 4);
		break;
	case 2: {
		char **names = NULL;
		size_t n = 0, total = 0;
		if (nacos_parse_service_list(body, len, &d, &names, &n, &total) == 0)
			nacos_strv_free(names, n);
		break;
	}
	default: {
		char *token = NULL;
		int64_t ttl = 0;
		if (nacos_parse_login(body, len, &d, &token, &ttl) == 0)
			free(token);
		break;
	}
	}
	return 0;
}

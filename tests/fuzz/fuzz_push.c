/* libFuzzer target: Nacos UDP push datagrams (raw or gzip), their service and their ack. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zones/nacos/nacos.h"
#include "zones/nacos/push.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_message(const struct push_msg *m)
{
	char ack[128];
	struct nacos_service *svc = NULL;
	int64_t ref_ms = 0;
	struct nacos_diag d = {0};
	if (push_ack(m, ack, sizeof(ack)) <= 0)
		abort(); /* any int64 fits */
	if (push_service(m, &d, &svc, &ref_ms) == 0 && !svc)
		abort();
	nacos_service_free(svc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct push_msg m;
	int64_t ref = 0;
	if (push_parse(data, size, &m) == 0) {
		if (!m.data || strlen(m.data) > m.data_len)
			abort();
		fuzz_message(&m);
	} else if (m.data) {
		abort(); /* a failed parse leaves nothing to free */
	}
	push_msg_deinit(&m);
	(void)push_ref_time((const char *)data, size, &ref);
	return 0;
}

/* Nacos gRPC envelope: stream framing then Payload decoding of whatever a server sends, and the
 * naming answers and pushes its body may carry (serviceInfo, a service list, result codes). */
#include <stddef.h>
#include <stdint.h>

#include "zones/nacos/grpcmsg.h"
#include "zones/nacos/grpcnaming.h"
#include "zones/nacos/nacos.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void body(const struct grpcmsg *m)
{
	struct nacos_service *svc;
	int64_t ref;
	char **names;
	size_t n, total;
	long code;
	if (nacos_parse_grpc_service(m->json, m->json_len, NULL, &svc, &ref) == 0)
		nacos_service_free(svc);
	if (nacos_parse_grpc_service_list(m->json, m->json_len, NULL, &names, &n, &total) == 0)
		nacos_strv_free(names, n);
	(void)grpcnaming_result(m->json, m->json_len, &code);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct grpcmsg m;
	const char *why;
	if (grpcmsg_decode(data, size, &m, &why) == 0)
		body(&m);
	const uint8_t *msg;
	size_t len, used;
	while (grpcmsg_frame_next(data, size, &msg, &len, &used) == 1) {
		if (grpcmsg_decode(msg, len, &m, &why) == 0)
			body(&m);
		data += used;
		size -= used;
	}
	return 0;
}

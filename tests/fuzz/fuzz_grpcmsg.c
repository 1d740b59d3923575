/* Nacos gRPC envelope: stream framing then Payload decoding of whatever a server sends. */
#include <stddef.h>
#include <stdint.h>

#include "zones/nacos/grpcmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct grpcmsg m;
	const char *why;
	(void)grpcmsg_decode(data, size, &m, &why);
	const uint8_t *msg;
	size_t len, used;
	while (grpcmsg_frame_next(data, size, &msg, &len, &used) == 1) {
		(void)grpcmsg_decode(msg, len, &m, &why);
		data += used;
		size -= used;
	}
	return 0;
}

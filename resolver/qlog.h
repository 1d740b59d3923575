/* The query log: one logfmt line per reply, each fact its own key, e.g.
 *   client=192.0.2.7 transport=udp name=order-service.DEFAULT_GROUP.svc. type=A rcode=NOERROR
 *   answers=2 us=41
 * The name is in DNS presentation form (as dig prints it: "\." for a dot inside a label, "\\",
 * "\"", "\DDD" for spaces and control bytes), and quoted as logfmt requires when that form holds
 * a backslash, so a name from a packet can never forge a key or a line. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The fields of reply (a DNS message that echoes its question) into out, NUL-terminated. Returns
 * the length, or 0 when reply has no header (nothing written beyond a NUL). */
size_t qlog_format(char *out, size_t cap, const struct sockaddr *client, bool tcp,
		   const uint8_t *reply, size_t len, uint64_t usec);
/* qlog_format()'s line, logged at info with subsystem "query". */
void qlog_reply(const struct sockaddr *client, bool tcp, const uint8_t *reply, size_t len,
		uint64_t usec);

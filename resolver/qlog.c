#include "resolver/qlog.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "resolver/log.h"
#include "zones/dns/dnsnames.h"

#define QLOG_HDR      12
#define QLOG_NAME_MAX (255 * 4 + 1) /* every octet as \DDD */
#define QLOG_LINE_MAX (2 * QLOG_NAME_MAX + 256)

/* The presentation form of the question name at wire[12] into out (cap >= QLOG_NAME_MAX + 1);
 * *end is the offset after it. "" when the name is cut short or compressed. */
static void qlog_name(const uint8_t *wire, size_t len, char *out, size_t *end)
{
	size_t o = QLOG_HDR, n = 0;

	out[0] = '\0';
	while (o < len && wire[o] != 0) {
		size_t l = wire[o];
		if ((l & 0xc0) || o + 1 + l > len || n + 4 * l + 2 > QLOG_NAME_MAX)
			return;
		for (size_t i = 0; i < l; i++) {
			uint8_t c = wire[o + 1 + i];
			if (c <= 0x20 || c >= 0x7f)
				n += (size_t)snprintf(out + n, 5, "\\%03u", c);
			else if (strchr("\"().;\\@$", c))
				n += (size_t)snprintf(out + n, 3, "\\%c", c);
			else
				out[n++] = (char)c;
		}
		out[n++] = '.';
		o += 1 + l;
	}
	if (o >= len)
		return;
	if (n == 0)
		out[n++] = '.';
	out[n] = '\0';
	*end = o + 1;
}

/* v as a logfmt value: bare when it can be, else quoted with \ and " escaped. */
static size_t qlog_value(char *out, size_t cap, const char *v)
{
	size_t o = 0;

	if (v[0] && !strpbrk(v, " =\"\\")) {
		snprintf(out, cap, "%s", v);
		return strlen(out);
	}
	if (cap < 3)
		return 0;
	out[o++] = '"';
	for (; *v && o + 4 < cap; v++) {
		if (*v == '"' || *v == '\\')
			out[o++] = '\\';
		out[o++] = *v;
	}
	out[o++] = '"';
	out[o] = '\0';
	return o;
}

static void qlog_client(const struct sockaddr *sa, char *out, size_t cap)
{
	const void *a = NULL;

	if (sa && sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!a || !inet_ntop(sa->sa_family, a, out, (socklen_t)cap))
		snprintf(out, cap, "unknown");
}

size_t qlog_format(char *out, size_t cap, const struct sockaddr *client, bool tcp,
		   const uint8_t *reply, size_t len, uint64_t usec)
{
	char addr[INET6_ADDRSTRLEN], name[QLOG_NAME_MAX + 1], value[2 * QLOG_NAME_MAX + 3],
		tbuf[16];
	size_t end = 0;
	int n;

	if (cap)
		out[0] = '\0';
	if (len < QLOG_HDR || cap == 0)
		return 0;
	qlog_client(client, addr, sizeof(addr));
	if (reply[4] == 0 && reply[5] == 0)
		name[0] = '\0';
	else
		qlog_name(reply, len, name, &end);
	qlog_value(value, sizeof(value), name);
	uint16_t qtype = end && end + 2 <= len ? (uint16_t)(reply[end] << 8 | reply[end + 1]) : 0;
	n = snprintf(out, cap, "client=%s transport=%s name=%s type=%s rcode=%s answers=%u us=%llu",
		     addr, tcp ? "tcp" : "udp", value,
		     end ? dnsnames_type(qtype, tbuf, sizeof(tbuf)) : "\"\"",
		     dnsnames_rcode(reply[3] & 0x0f), (unsigned)(reply[6] << 8 | reply[7]),
		     (unsigned long long)usec);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

void qlog_reply(const struct sockaddr *client, bool tcp, const uint8_t *reply, size_t len,
		uint64_t usec)
{
	char line[QLOG_LINE_MAX];

	if (!log_enabled(LOG_LEVEL_INFO))
		return;
	if (qlog_format(line, sizeof(line), client, tcp, reply, len, usec))
		log_fields(LOG_LEVEL_INFO, "query", line);
}

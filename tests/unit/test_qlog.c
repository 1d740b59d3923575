/* The query log line: every fact its own logfmt key, and a hostile name escaped. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "resolver/qlog.h"
#include "tests/unit/check.h"

/* A reply header (rcode, one question, ancount) and the question name's labels, type 1. */
static size_t reply(uint8_t *w, uint8_t rcode, uint16_t an, const char *const *labels,
		    uint16_t qtype)
{
	size_t o = 12;

	memset(w, 0, 12);
	w[2] = 0x81;
	w[3] = (uint8_t)(0x80 | rcode);
	w[5] = 1;
	w[7] = (uint8_t)an;
	for (; *labels; labels++) {
		w[o++] = (uint8_t)strlen(*labels);
		memcpy(w + o, *labels, strlen(*labels));
		o += strlen(*labels);
	}
	w[o++] = 0;
	w[o++] = (uint8_t)(qtype >> 8);
	w[o++] = (uint8_t)qtype;
	w[o++] = 0;
	w[o++] = 1;
	return o;
}

int main(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	const struct sockaddr *peer = (const struct sockaddr *)&sin;
	const char *plain[] = {"order-service", "DEFAULT_GROUP", "svc", NULL};
	const char *odd[] = {"a\"b\\c d\x01"
			     "e",
			     "x.y", "svc", NULL};
	const char *root[] = {NULL};
	char line[4096];
	uint8_t w[512];
	size_t n;

	n = reply(w, 0, 2, plain, 33);
	CHECK(qlog_format(line, sizeof(line), peer, false, w, n, 41) > 0);
	CHECK(strcmp(line, "client=127.0.0.1 transport=udp name=order-service.DEFAULT_GROUP.svc. "
			   "type=SRV rcode=NOERROR answers=2 us=41") == 0);

	n = reply(w, 3, 0, odd, 65280);
	CHECK(qlog_format(line, sizeof(line), peer, true, w, n, 7) > 0);
	CHECK(strcmp(line, "client=127.0.0.1 transport=tcp "
			   "name=\"a\\\\\\\"b\\\\\\\\c\\\\032d\\\\001e.x\\\\.y.svc.\" "
			   "type=TYPE65280 rcode=NXDOMAIN answers=0 us=7") == 0);
	CHECK(!strchr(line, '\n'));

	n = reply(w, 5, 0, root, 2);
	CHECK(qlog_format(line, sizeof(line), peer, false, w, n, 0) > 0);
	CHECK(strstr(line, " name=. type=NS rcode=REFUSED ") != NULL);

	/* Cut short inside the name: no name, no type, still one line. */
	n = reply(w, 2, 0, plain, 1);
	CHECK(qlog_format(line, sizeof(line), peer, false, w, 20, 0) > 0);
	CHECK(strstr(line, " name=\"\" type=\"\" rcode=SERVFAIL ") != NULL);
	CHECK(qlog_format(line, sizeof(line), peer, false, w, 11, 0) == 0);
	/* A small buffer truncates, NUL-terminated. */
	n = reply(w, 0, 2, plain, 1);
	CHECK(qlog_format(line, 16, peer, false, w, n, 0) == 15);
	CHECK(strlen(line) == 15);
	return 0;
}

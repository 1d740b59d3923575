/* Nacos UDP push datagrams (v1 HTTP subscribers): parse, read the pushed ServiceInfo, build the
 * ack. Pure: bytes in, bytes out. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct nacos_diag;
struct nacos_service;

/* Cap on a gzip datagram's inflated size (a datagram holds 64 KiB, gzip can grow it 1000x). */
#define PUSH_MAX_INFLATED (4u << 20)

enum push_type {
	PUSH_DOM,   /* "dom": one service's ServiceInfo */
	PUSH_OTHER, /* any other type ("dump" of 1.x included): answered with unknown-ack */
};

struct push_msg {
	enum push_type type;
	int64_t ref; /* outer lastRefTime (JVM nanoTime), echoed in the ack as is */
	char *data;  /* the "data" string (malloc'ed, NUL-terminated); "" when absent */
	size_t data_len;
};

/* Parses one datagram, raw JSON or gzip (magic 1f 8b). 0 and *m filled (push_msg_deinit), or
 * -EBADMSG (not a push: bad gzip, bad JSON, lastRefTime missing, not an integer or a string of
 * one, or beyond int64), -EMSGSIZE (inflates over PUSH_MAX_INFLATED), -ENOMEM; *m then empty. */
int push_parse(const uint8_t *pkt, size_t len, struct push_msg *m);
void push_msg_deinit(struct push_msg *m); /* NULL-safe, idempotent */

/* The ServiceInfo of a PUSH_DOM message: *svc new (nacos_service_free), group from its grouped
 * "name"; *ref_ms its inner lastRefTime (server ms), 0 when absent. 0, -EBADMSG or -ENOMEM. */
int push_service(const struct push_msg *m, struct nacos_diag *d, struct nacos_service **svc,
		 int64_t *ref_ms);

/* The ack of m: {"type":"push-ack","lastRefTime":<m->ref>,"data":""} for PUSH_DOM,
 * "unknown-ack" otherwise. Writes at most cap bytes; returns the length, or -ENOSPC. */
int push_ack(const struct push_msg *m, char *out, size_t cap);

/* The top-level "lastRefTime" integer of a JSON object text (a ServiceInfo, polled or pushed),
 * found without building a tree; nested keys of the same name are skipped. 0, -ENOENT (absent
 * or not an integer) or -EBADMSG (not an object). */
int push_ref_time(const char *json, size_t len, int64_t *out);

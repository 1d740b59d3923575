/* Nacos UDP push datagrams. The outer lastRefTime is a JVM nanoTime above 2^53 that the server
 * matches exactly in the ack, so it never passes through a double: jansson keeps integers as
 * int64 (JSON_DECODE_INT_AS_REAL is off), and strings of digits are read here. */
#include "zones/nacos/push.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include "zones/nacos/nacos.h"

#define PUSH_INFLATE_START 16384

/* n bytes of [-]digits, in int64 range. */
static int push_strtoi64(const char *s, size_t n, int64_t *out)
{
	bool neg = n > 0 && s[0] == '-';
	uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	size_t i = neg ? 1 : 0;
	if (i == n)
		return -EINVAL;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (limit - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* gzip -> *out (malloc'ed, NUL-terminated). Stops at PUSH_MAX_INFLATED. */
static int push_inflate(const uint8_t *in, size_t len, char **out, size_t *out_len)
{
	z_stream z = {.next_in = (Bytef *)(uintptr_t)in, .avail_in = (uInt)len};
	size_t cap = 0, n = 0;
	char *buf = NULL;
	int rc = 0;
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			size_t next = cap ? cap * 2 : PUSH_INFLATE_START;
			char *b = cap >= PUSH_MAX_INFLATED ? NULL : realloc(buf, next + 1);
			if (!b) {
				rc = cap >= PUSH_MAX_INFLATED ? -EMSGSIZE : -ENOMEM;
				break;
			}
			buf = b;
			cap = next;
		}
		z.next_out = (Bytef *)buf + n;
		z.avail_out = (uInt)(cap - n);
		int zr = inflate(&z, Z_NO_FLUSH);
		n = cap - z.avail_out;
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK) {
			rc = zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
			break;
		}
	}
	inflateEnd(&z);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return 0;
}

static int push_int64(const json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) &&
	    push_strtoi64(json_string_value(v), json_string_length(v), out) == 0)
		return 0;
	return -EBADMSG;
}

static int push_parse_json(const char *text, size_t len, struct push_msg *m)
{
	json_error_t err;
	json_t *root = json_loadb(text, len, 0, &err);
	const char *type = json_string_value(json_object_get(root, "type"));
	const json_t *data = json_object_get(root, "data");
	int rc = -EBADMSG;
	if (!type || push_int64(json_object_get(root, "lastRefTime"), &m->ref) < 0)
		goto out;
	m->type = strcmp(type, "dom") == 0 ? PUSH_DOM : PUSH_OTHER;
	if (m->type == PUSH_DOM && !json_is_string(data))
		goto out;
	m->data_len = json_is_string(data) ? json_string_length(data) : 0;
	rc = -ENOMEM;
	if (!(m->data = malloc(m->data_len + 1)))
		goto out;
	if (m->data_len)
		memcpy(m->data, json_string_value(data), m->data_len);
	m->data[m->data_len] = '\0';
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int push_parse(const uint8_t *pkt, size_t len, struct push_msg *m)
{
	char *text = NULL;
	size_t text_len = 0;
	int rc;
	memset(m, 0, sizeof(*m));
	if (len >= 2 && pkt[0] == 0x1f && pkt[1] == 0x8b) {
		if ((rc = push_inflate(pkt, len, &text, &text_len)) < 0)
			return rc;
		rc = push_parse_json(text, text_len, m);
		free(text);
	} else {
		rc = push_parse_json((const char *)pkt, len, m);
	}
	if (rc < 0)
		push_msg_deinit(m);
	return rc;
}

void push_msg_deinit(struct push_msg *m)
{
	if (!m)
		return;
	free(m->data);
	memset(m, 0, sizeof(*m));
}

int push_service(const struct push_msg *m, struct nacos_diag *d, struct nacos_service **svc,
		 int64_t *ref_ms)
{
	*svc = NULL;
	*ref_ms = 0;
	if (m->type != PUSH_DOM || !m->data)
		return -EBADMSG;
	int rc = nacos_parse_instance_list(m->data, m->data_len, NULL, d, svc);
	if (rc < 0)
		return rc;
	if (push_ref_time(m->data, m->data_len, ref_ms) < 0)
		*ref_ms = 0;
	return 0;
}

int push_ack(const struct push_msg *m, char *out, size_t cap)
{
	int n = snprintf(out, cap, "{\"type\":\"%s\",\"lastRefTime\":%" PRId64 ",\"data\":\"\"}",
			 m->type == PUSH_DOM ? "push-ack" : "unknown-ack", m->ref);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

/* ---- a top-level key without a tree ------------------------------------------------------ */

static size_t push_skip_ws(const char *s, size_t i, size_t len)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* s[i] is '"': the index after the closing quote, or len when it is missing. */
static size_t push_skip_string(const char *s, size_t i, size_t len)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return len;
}

/* The index of the ',' or '}' (or ']') that ends the value starting at s[i], or len. */
static size_t push_skip_value(const char *s, size_t i, size_t len)
{
	size_t depth = 0;
	while (i < len) {
		char c = s[i];
		if (c == '"') {
			i = push_skip_string(s, i, len);
			continue;
		}
		if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return i;
			depth--;
		} else if (c == ',' && depth == 0) {
			return i;
		}
		i++;
	}
	return len;
}

/* A value's text (trailing blanks trimmed) as an integer, bare or quoted. */
static int push_value_int(const char *v, size_t n, int64_t *out)
{
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\n' || v[n - 1] == '\r'))
		n--;
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	return push_strtoi64(v, n, out) == 0 ? 0 : -ENOENT;
}

int push_ref_time(const char *json, size_t len, int64_t *out)
{
	static const char key[] = "lastRefTime";
	size_t i = push_skip_ws(json, 0, len);
	if (i >= len || json[i] != '{')
		return -EBADMSG;
	for (i++; (i = push_skip_ws(json, i, len)) < len && json[i] == '"';) {
		size_t start = i + 1, end = push_skip_string(json, i, len);
		bool match = end - start == sizeof(key) && json[end - 1] == '"' &&
			     memcmp(json + start, key, sizeof(key) - 1) == 0;
		i = push_skip_ws(json, end, len);
		if (i >= len || json[i] != ':')
			return -EBADMSG;
		i = push_skip_ws(json, i + 1, len);
		size_t vend = push_skip_value(json, i, len);
		if (match)
			return push_value_int(json + i, vend - i, out);
		if (vend >= len || json[vend] != ',')
			break;
		i = vend + 1;
	}
	return -ENOENT;
}

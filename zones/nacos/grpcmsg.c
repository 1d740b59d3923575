/* A tiny protobuf codec for exactly the messages Nacos's gRPC service carries (see grpcmsg.h), so
 * the daemon needs no protobuf library: varints and length-delimited fields, everything else
 * skipped by wire type, every length checked against what is left. */
#include "zones/nacos/grpcmsg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* Field numbers from nacos_grpc_service.proto and google/protobuf/any.proto. */
enum {
	F_PAYLOAD_METADATA = 2,
	F_PAYLOAD_BODY = 3,
	F_META_TYPE = 3,
	F_META_HEADERS = 7,
	F_META_CLIENT_IP = 8,
	F_ANY_VALUE = 2,
	F_ENTRY_KEY = 1,
	F_ENTRY_VALUE = 2,
};

struct wbuf {
	uint8_t *p;
	size_t len;
};

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void put_varint(struct wbuf *w, uint64_t v)
{
	while (v >= 0x80) {
		w->p[w->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	w->p[w->len++] = (uint8_t)v;
}

static size_t field_len(size_t body)
{
	return 1 + varint_len(body) + body; /* every tag used here fits one byte */
}

static void put_field(struct wbuf *w, unsigned field, size_t body_len, const void *body)
{
	put_varint(w, (uint64_t)(field << 3 | WT_LEN));
	put_varint(w, body_len);
	if (body) {
		memcpy(w->p + w->len, body, body_len);
		w->len += body_len;
	}
}

static size_t entry_len(const struct grpcmsg_header *h)
{
	return field_len(strlen(h->key)) + field_len(strlen(h->value));
}

static size_t metadata_len(const char *type, const struct grpcmsg_header *hs, size_t n)
{
	size_t len = field_len(strlen(type));
	for (size_t i = 0; i < n; i++)
		len += field_len(entry_len(&hs[i]));
	return len;
}

int grpcmsg_encode(const char *type, const struct grpcmsg_header *headers, size_t n_headers,
		   const char *json, size_t json_len, uint8_t **out, size_t *out_len)
{
	if (!type || !json || (n_headers && !headers))
		return -EINVAL;
	for (size_t i = 0; i < n_headers; i++)
		if (!headers[i].key || !headers[i].value)
			return -EINVAL;
	if (json_len > GRPCMSG_MAX || strlen(type) > GRPCMSG_MAX)
		return -EMSGSIZE;
	size_t meta = metadata_len(type, headers, n_headers);
	size_t any = field_len(json_len);
	size_t payload = field_len(meta) + field_len(any);
	if (payload > GRPCMSG_MAX)
		return -EMSGSIZE;
	struct wbuf w = {.p = malloc(GRPCMSG_FRAME_HDR + payload), .len = 0};
	if (!w.p)
		return -ENOMEM;
	w.p[w.len++] = 0; /* not compressed */
	for (int shift = 24; shift >= 0; shift -= 8)
		w.p[w.len++] = (uint8_t)(payload >> shift);
	put_field(&w, F_PAYLOAD_METADATA, meta, NULL);
	put_field(&w, F_META_TYPE, strlen(type), type);
	for (size_t i = 0; i < n_headers; i++) {
		put_field(&w, F_META_HEADERS, entry_len(&headers[i]), NULL);
		put_field(&w, F_ENTRY_KEY, strlen(headers[i].key), headers[i].key);
		put_field(&w, F_ENTRY_VALUE, strlen(headers[i].value), headers[i].value);
	}
	put_field(&w, F_PAYLOAD_BODY, any, NULL);
	put_field(&w, F_ANY_VALUE, json_len, json);
	*out = w.p;
	*out_len = w.len;
	return 0;
}

struct rbuf {
	const uint8_t *p;
	size_t len, pos;
	const char **why;
};

static bool fail(struct rbuf *r, const char *why)
{
	*r->why = why;
	return false;
}

static bool get_varint(struct rbuf *r, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->pos >= r->len)
			return fail(r, "truncated varint");
		uint8_t b = r->p[r->pos++];
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return fail(r, "varint longer than 10 bytes");
}

/* Reads one tag; for length-delimited fields also the body's bounds. */
static bool get_field(struct rbuf *r, unsigned *field, unsigned *wt, struct rbuf *body)
{
	uint64_t tag, n;
	if (!get_varint(r, &tag))
		return false;
	*field = (unsigned)(tag >> 3);
	*wt = (unsigned)(tag & 7);
	if (*field == 0 || tag >> 32)
		return fail(r, "bad field number");
	switch (*wt) {
	case WT_VARINT:
		return get_varint(r, &n);
	case WT_I64:
	case WT_I32:
		n = *wt == WT_I64 ? 8 : 4;
		if (r->len - r->pos < n)
			return fail(r, "truncated fixed-size field");
		r->pos += n;
		return true;
	case WT_LEN:
		if (!get_varint(r, &n))
			return false;
		if (n > r->len - r->pos)
			return fail(r, "length past the end of the message");
		*body = (struct rbuf){.p = r->p + r->pos, .len = n, .pos = 0, .why = r->why};
		r->pos += n;
		return true;
	default:
		return fail(r, "unsupported wire type");
	}
}

static bool decode_entry(struct rbuf *r, struct grpcmsg *m)
{
	struct grpcmsg_header_view h = {.key = "", .value = ""};
	while (r->pos < r->len) {
		unsigned f, wt;
		struct rbuf b;
		if (!get_field(r, &f, &wt, &b))
			return false;
		if (wt == WT_LEN && f == F_ENTRY_KEY) {
			h.key = (const char *)b.p;
			h.key_len = b.len;
		} else if (wt == WT_LEN && f == F_ENTRY_VALUE) {
			h.value = (const char *)b.p;
			h.value_len = b.len;
		}
	}
	if (m->n_headers >= GRPCMSG_MAX_HEADERS)
		return fail(r, "too many headers");
	m->headers[m->n_headers++] = h;
	return true;
}

static bool decode_metadata(struct rbuf *r, struct grpcmsg *m)
{
	while (r->pos < r->len) {
		unsigned f, wt;
		struct rbuf b;
		if (!get_field(r, &f, &wt, &b))
			return false;
		if (wt == WT_LEN && f == F_META_TYPE) {
			m->type = (const char *)b.p;
			m->type_len = b.len;
		} else if (wt == WT_LEN && f == F_META_HEADERS && !decode_entry(&b, m)) {
			return false;
		}
	}
	return true;
}

static bool decode_any(struct rbuf *r, struct grpcmsg *m)
{
	while (r->pos < r->len) {
		unsigned f, wt;
		struct rbuf b;
		if (!get_field(r, &f, &wt, &b))
			return false;
		if (wt == WT_LEN && f == F_ANY_VALUE) {
			m->json = (const char *)b.p;
			m->json_len = b.len;
		}
	}
	return true;
}

int grpcmsg_decode(const uint8_t *buf, size_t len, struct grpcmsg *m, const char **why)
{
	const char *reason = NULL;
	*m = (struct grpcmsg){.type = NULL};
	struct rbuf r = {.p = buf, .len = len, .pos = 0, .why = &reason};
	bool ok = len <= GRPCMSG_MAX || fail(&r, "message larger than 10 MiB");
	while (ok && r.pos < r.len) {
		unsigned f, wt;
		struct rbuf b;
		ok = get_field(&r, &f, &wt, &b);
		if (ok && wt == WT_LEN && f == F_PAYLOAD_METADATA)
			ok = decode_metadata(&b, m);
		else if (ok && wt == WT_LEN && f == F_PAYLOAD_BODY)
			ok = decode_any(&b, m);
	}
	if (ok && (!m->type || m->type_len == 0))
		ok = fail(&r, "no metadata.type");
	if (ok && !m->json)
		ok = fail(&r, "no body");
	if (!ok) {
		*why = reason;
		return -EBADMSG;
	}
	return 0;
}

int grpcmsg_frame_next(const uint8_t *buf, size_t len, const uint8_t **msg, size_t *msg_len,
		       size_t *consumed)
{
	if (len < GRPCMSG_FRAME_HDR)
		return 0;
	if (buf[0] != 0)
		return -EPROTO;
	uint32_t n =
		(uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
	if (n > GRPCMSG_MAX)
		return -EMSGSIZE;
	if (len - GRPCMSG_FRAME_HDR < n)
		return 0;
	*msg = buf + GRPCMSG_FRAME_HDR;
	*msg_len = n;
	*consumed = GRPCMSG_FRAME_HDR + n;
	return 1;
}

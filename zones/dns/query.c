/*
 * The hot path: one DNS message in, one reply out, over an immutable snapshot. The reply is the
 * query's own header and question followed by the snapshot's prepared bytes, with flags, counts,
 * record order and the few question-relative pointers patched in the caller's buffer. Nothing
 * here allocates, locks or calls ldns (the _info name formats text on the stack).
 */
#include "zones/dns/query.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "zones/data/snapshot_internal.h"
#include "zones/dns/wire.h"

/* Sets up to this many records get a full weighted shuffle, larger ones a weighted rotation. */
#define SHUFFLE_MAX 16

/* What the reader took from the datagram. */
struct question {
	const uint8_t *in;
	uint8_t key[256]; /* the question name, lowercased */
	size_t qlen;      /* its wire length */
	uint8_t label_off[128];
	size_t n_labels;
	uint32_t hash;
	uint16_t qtype, qclass;
	size_t qend; /* offset just past the question */
	bool edns, do_bit;
	bool nsid; /* the OPT asked for the server's identifier */
	uint16_t edns_size;
	uint8_t edns_version;
};

/* The reply being written in the caller's buffer. */
struct reply {
	uint8_t *p;
	size_t len;
	size_t limit; /* where records must stop (the OPT record has its room after it) */
	size_t cap;   /* where the reply must stop: OPT options go in up to here */
	uint16_t an, ns, ar;
	bool tc;
	const char *nsid;     /* the identifier to put in the OPT when asked for; NULL: none */
	const char *ede_text; /* an extended error (RFC 8914) to put in the OPT; NULL: none */
	uint16_t ede;
};

/* ---- reading the query ---- */

/* The question name after the header: plain labels only (a pointer there is malformed). */
static int read_qname(struct question *q, size_t len)
{
	size_t at = DNS_HDR_LEN;
	q->qlen = 0;
	q->n_labels = 0;
	for (;;) {
		if (at >= len)
			return -1;
		uint8_t n = q->in[at];
		if (n > 63 || q->qlen + 1 + n > 255 || at + 1 + n > len)
			return -1;
		q->label_off[q->n_labels++] = (uint8_t)q->qlen;
		q->key[q->qlen++] = n;
		for (size_t k = 0; k < n; k++) {
			uint8_t c = q->in[at + 1 + k];
			q->key[q->qlen++] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
		}
		at += 1 + (size_t)n;
		if (n == 0)
			break;
	}
	if (at + 4 > len)
		return -1;
	q->qtype = wire_get16(q->in + at);
	q->qclass = wire_get16(q->in + at + 2);
	q->qend = at + 4;
	q->hash = snap_hash(q->key, q->qlen);
	return 0;
}

/* Skips a (possibly compressed) name at *at. */
static int skip_name(const uint8_t *in, size_t len, size_t *at)
{
	size_t p = *at;
	for (size_t guard = 0; guard < 128; guard++) {
		if (p >= len)
			return -1;
		uint8_t n = in[p];
		if ((n & DNS_PTR_MASK) == DNS_PTR_MASK) {
			if (p + 2 > len)
				return -1;
			*at = p + 2;
			return 0;
		}
		if (n > 63)
			return -1;
		p += 1 + (size_t)n;
		if (n == 0) {
			*at = p;
			return 0;
		}
	}
	return -1;
}

/* rr: the OPT record after its owner name; its RDATA (options) is within the message. */
static int read_opt(struct question *q, const uint8_t *rr, bool root_owner)
{
	if (q->edns || !root_owner)
		return -1; /* RFC 6891 6.1.1: one OPT, owned by the root */
	q->edns = true;
	q->edns_size = wire_get16(rr + 2);
	q->edns_version = rr[5];
	q->do_bit = (rr[6] & DNS_OPT_FLAG_DO) != 0;
	size_t rdlen = wire_get16(rr + 8), at = 0;
	while (at < rdlen) {
		if (at + 4 > rdlen || at + 4 + wire_get16(rr + 10 + at + 2) > rdlen)
			return -1; /* an option overruns the record: FORMERR (RFC 6891 7) */
		q->nsid = q->nsid || wire_get16(rr + 10 + at) == DNS_EDNS_NSID;
		at += 4 + wire_get16(rr + 10 + at + 2);
	}
	return 0;
}

/* Walks the answer, authority and additional sections looking for the OPT record. */
static int read_records(struct question *q, size_t len)
{
	const uint8_t *in = q->in;
	size_t at = q->qend;
	size_t n_before = (size_t)wire_get16(in + 6) + wire_get16(in + 8),
	       n = n_before + wire_get16(in + 10);
	for (size_t k = 0; k < n; k++) {
		size_t owner = at;
		if (skip_name(in, len, &at) < 0 || at + 10 > len)
			return -1;
		size_t end = at + 10 + wire_get16(in + at + 8);
		if (end > len)
			return -1;
		if (k >= n_before && wire_get16(in + at) == DNS_TYPE_OPT &&
		    read_opt(q, in + at, in[owner] == 0) < 0)
			return -1;
		at = end;
	}
	return 0;
}

/* ---- writing the reply ---- */

static bool put(struct reply *r, const void *p, size_t n)
{
	if (r->len + n > r->limit)
		return false;
	memcpy(r->p + r->len, p, n);
	r->len += n;
	return true;
}

/* Header (ID, opcode, RD and CD of the query) and, unless header_only, the question. */
static void reply_begin(struct reply *r, const struct question *q, uint8_t rcode, bool aa,
			bool header_only)
{
	const uint8_t *in = q->in;
	memset(r->p, 0, DNS_HDR_LEN);
	r->p[0] = in[0];
	r->p[1] = in[1];
	r->p[DNS_OFF_FL1] = (uint8_t)(DNS_FLAG_QR | (in[DNS_OFF_FL1] & DNS_FL1_ECHOED) |
				      (aa ? DNS_FLAG_AA : 0));
	r->p[DNS_OFF_FL2] = (uint8_t)((in[DNS_OFF_FL2] & DNS_FLAG_CD) | (rcode & DNS_RCODE_MASK));
	r->len = DNS_HDR_LEN;
	if (header_only)
		return;
	memcpy(r->p + DNS_HDR_LEN, in + DNS_HDR_LEN, q->qend - DNS_HDR_LEN);
	r->len = q->qend;
	r->p[5] = 1;
}

/* Appends an option to the OPT record at opt when it fits (options are optional): a
 * prefix_len-octet prefix (the EDE info code) and text. */
static void put_option(struct reply *r, uint8_t *opt, uint16_t code, size_t prefix_len,
		       const char *text)
{
	size_t n = strlen(text), data = prefix_len + n;
	if (r->len + 4 + data > r->cap)
		return;
	uint8_t *o = r->p + r->len;
	wire_put16(o, code);
	wire_put16(o + 2, (uint16_t)data);
	if (prefix_len)
		wire_put16(o + 4, r->ede);
	memcpy(o + 4 + prefix_len, text, n);
	r->len += 4 + data;
	wire_put16(opt + 9, (uint16_t)(wire_get16(opt + 9) + 4 + data));
}

/* Counts, TC and the OPT record (there is always room for it: see reply_limits). */
static void reply_end(struct reply *r, const struct question *q, struct query_info *qi,
		      uint16_t max_udp, uint8_t rcode)
{
	wire_set_rcode(r->p, rcode);
	if (r->tc)
		wire_set_tc(r->p);
	if (q->edns) {
		uint8_t *o = r->p + r->len;
		o[0] = 0;
		wire_put16(o + 1, DNS_TYPE_OPT);
		wire_put16(o + 3, max_udp);
		o[5] = (uint8_t)(rcode >> 4); /* extended rcode: BADVERS */
		o[6] = 0;                     /* version 0 */
		o[7] = q->do_bit ? DNS_OPT_FLAG_DO : 0;
		o[8] = 0;
		wire_put16(o + 9, 0);
		r->len += DNS_OPT_FIXED_LEN;
		r->ar++;
		if (q->nsid && r->nsid)
			put_option(r, o, DNS_EDNS_NSID, 0, r->nsid);
		if (r->ede_text)
			put_option(r, o, DNS_EDNS_EDE, 2, r->ede_text);
	}
	wire_put16(r->p + 6, r->an);
	wire_put16(r->p + 8, r->ns);
	wire_put16(r->p + 10, r->ar);
	qi->rcode = rcode;
}

/* Drops every record written after the question and sets TC. */
static void reply_truncate(struct reply *r, const struct question *q)
{
	r->len = q->qend;
	r->an = r->ns = r->ar = 0;
	r->tc = true;
}

/* A whole reply that carries no records: errors, REFUSED, SERVFAIL, BADVERS. */
static void reply_empty(struct reply *r, const struct question *q, struct query_info *qi,
			uint16_t max_udp, uint8_t rcode)
{
	reply_begin(r, q, rcode, false, false);
	reply_end(r, q, qi, max_udp, rcode);
}

/* One prepared record; the service pointer at ptr_at (0: none) gets the value svc_ptr. */
static bool put_rr(struct reply *r, const uint8_t *rr, size_t n, size_t ptr_at, uint16_t svc_ptr)
{
	if (!put(r, rr, n))
		return false;
	if (ptr_at)
		wire_put16(r->p + r->len - n + ptr_at, svc_ptr);
	return true;
}

/* Pointer to the service name inside the question (the question name ends with it). */
static uint16_t svc_pointer(const struct question *q, const struct snap_data *d)
{
	return (uint16_t)(0xC000 | (DNS_HDR_LEN + q->qlen - d->svc_len));
}

/* ---- record sets ---- */

static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Index of the record a weighted draw lands on, among idx[from..n). */
static uint32_t weighted_pick(const uint32_t *w, const uint16_t *idx, uint32_t from, uint32_t n,
			      uint64_t *rng)
{
	uint64_t total = 0;
	for (uint32_t k = from; k < n; k++)
		total += w[idx[k]];
	uint64_t x = rng_next(rng) % total;
	for (uint32_t k = from; k < n; k++) {
		if (x < w[idx[k]])
			return k;
		x -= w[idx[k]];
	}
	return n - 1;
}

/* A weighted random permutation: small sets are drawn one by one without replacement; large
 * ones get a weighted first record and keep their cyclic order from there (linear time). */
static void order_weighted(const uint32_t *w, uint32_t n, uint64_t *rng, uint16_t *idx)
{
	for (uint32_t k = 0; k < n; k++)
		idx[k] = (uint16_t)k;
	if (n <= SHUFFLE_MAX) {
		for (uint32_t k = 0; k + 1 < n; k++) {
			uint32_t j = weighted_pick(w, idx, k, n, rng);
			uint16_t t = idx[k];
			idx[k] = idx[j];
			idx[j] = t;
		}
		return;
	}
	uint32_t first = weighted_pick(w, idx, 0, n, rng);
	for (uint32_t k = 0; k < n; k++)
		idx[k] = (uint16_t)((first + k) % n);
}

/* A/AAAA records (all the same size) in weighted order. false: one did not fit. */
static bool put_ordered(struct reply *r, const struct snapshot *s, const struct snap_rrset *rs,
			uint64_t *rng, uint16_t *idx)
{
	size_t size = rs->len / rs->count;
	order_weighted(s->weights + rs->weights, rs->count, rng, idx);
	for (uint32_t k = 0; k < rs->count; k++) {
		if (!put(r, s->blob + rs->off + (size_t)idx[k] * size, size))
			return false;
		r->an++;
	}
	return true;
}

/* Answer records in their stored order from record start on, wrapping around; SRV targets get
 * the service pointer. */
static bool put_seq(struct reply *r, const struct snapshot *s, const struct snap_rrset *rs,
		    bool srv, uint16_t svc_ptr, uint32_t start)
{
	const uint8_t *base = s->blob + rs->off, *p = base;
	for (uint32_t k = 0; k < start; k++)
		p += 12 + (size_t)wire_get16(p + 10);
	for (uint32_t k = 0; k < rs->count; k++) {
		if (k + start == rs->count)
			p = base;
		size_t size = 12 + (size_t)wire_get16(p + 10);
		if (!put_rr(r, p, size, srv ? size - 2 : 0, svc_ptr))
			return false;
		r->an++;
		p += size;
	}
	return true;
}

/* Addresses of the SRV targets, as far as they fit (they never cause TC). */
static void put_additional(struct reply *r, const struct snapshot *s, const struct snap_rrset *rs,
			   uint16_t svc_ptr)
{
	const uint8_t *p = s->blob + rs->off;
	for (uint32_t k = 0; k < rs->count; k++) {
		size_t owner = 1 + (size_t)p[0] + 2;
		size_t size = owner + 10 + wire_get16(p + owner + 8);
		if (!put_rr(r, p, size, owner - 2, svc_ptr))
			return;
		r->ar++;
		p += size;
	}
}

/* The RRsets of d that answer qtype. Returns false when there are none (NODATA). */
static bool answer_data(const struct snapshot *s, const struct question *q,
			const struct query_info *qi, struct reply *r, const struct snap_data *d)
{
	const struct snap_rrset *sets[2] = {NULL, NULL};
	uint16_t idx[SNAP_MAX_RRS];
	uint64_t rng = s->order == SNAPSHOT_ORDER_CLIENT ? qi->client_hash : qi->random;
	uint16_t ptr = svc_pointer(q, d);
	bool ok = true;
	sets[0] = q->qtype == T_A || q->qtype == DNS_TYPE_ANY ? &d->a
		  : q->qtype == T_AAAA                        ? &d->aaaa
		  : q->qtype == T_SRV                         ? &d->srv
		  : q->qtype == T_TXT                         ? &d->txt
							      : NULL;
	sets[1] = q->qtype == DNS_TYPE_ANY ? &d->aaaa : NULL;
	if (!sets[0] || sets[0]->count + (sets[1] ? sets[1]->count : 0) == 0)
		return false;
	for (size_t k = 0; k < 2 && ok && sets[k]; k++) {
		size_t len = r->len;
		uint16_t an = r->an;
		bool weighted = sets[k]->weights != SNAP_NONE && sets[k]->count > 1;
		ok = weighted ? put_ordered(r, s, sets[k], &rng, idx)
			      : put_seq(r, s, sets[k], q->qtype == T_SRV, ptr, 0);
		if (ok || !qi->tcp)
			continue;
		/* Over TCP an RRset larger than a message is sent as the part that fits, never as
		 * an empty TC: A/AAAA come in weighted random order already; SRV and TXT start
		 * at a random record, so that every record is served in turn. */
		if (!weighted) {
			r->len = len;
			r->an = an;
			put_seq(r, s, sets[k], q->qtype == T_SRV, ptr,
				(uint32_t)(rng % sets[k]->count));
		}
	}
	bool keep_part = r->an > 0 && (qi->tcp || s->overflow == SNAPSHOT_OVERFLOW_SUBSET);
	if (!ok && !keep_part)
		reply_truncate(r, q);
	else if (ok && q->qtype == T_SRV)
		put_additional(r, s, &d->add, ptr);
	return true;
}

/* The A or AAAA record of an instance name. false: not of the asked type (NODATA). */
static bool answer_instance(struct reply *r, const struct snapshot *s, const struct question *q,
			    uint32_t off)
{
	const uint8_t *rr = s->blob + off;
	if (q->qtype != wire_get16(rr + 2) && q->qtype != DNS_TYPE_ANY)
		return false;
	if (put(r, rr, 12 + (size_t)wire_get16(rr + 10)))
		r->an++;
	else
		reply_truncate(r, q);
	return true;
}

/* The zone's SOA, owned by the apex inside the question. */
static void put_soa(struct reply *r, const struct snapshot *s, const struct question *q,
		    size_t zone, bool answer)
{
	const struct snap_zone *z = &s->zones[zone];
	uint16_t apex = (uint16_t)(0xC000 | (DNS_HDR_LEN + q->qlen - z->wire_len));
	if (!put(r, s->blob + z->soa_off, z->soa_len)) {
		reply_truncate(r, q);
		return;
	}
	uint8_t *rr = r->p + r->len - z->soa_len;
	wire_put16(rr, apex);
	wire_put16(rr + z->soa_rname_ptr, apex);
	if (answer)
		r->an++;
	else
		r->ns++;
}

/* ---- slow names: _info, class CH ---- */

static void put_str(struct reply *r, const char *str, bool *ok)
{
	size_t n = strlen(str);
	uint8_t l = (uint8_t)(n > 255 ? 255 : n);
	*ok = *ok && put(r, &l, 1) && put(r, str, l);
}

/* One TXT record of character-strings, built from text. false: it did not fit. */
static bool put_txt_head(struct reply *r, uint16_t qclass, uint32_t ttl, size_t *rdlen_at)
{
	uint8_t h[12] = {0xC0,
			 0x0C,
			 0,
			 T_TXT,
			 (uint8_t)(qclass >> 8),
			 (uint8_t)qclass,
			 (uint8_t)(ttl >> 24),
			 (uint8_t)(ttl >> 16),
			 (uint8_t)(ttl >> 8),
			 (uint8_t)ttl,
			 0,
			 0};
	*rdlen_at = r->len + 10;
	return put(r, h, sizeof(h));
}

static void put_txt_end(struct reply *r, size_t rdlen_at, bool ok)
{
	if (!ok) {
		r->len = rdlen_at - 10;
		r->tc = true;
		return;
	}
	wire_put16(r->p + rdlen_at, (uint16_t)(r->len - rdlen_at - 2));
	r->an++;
}

static void put_info(struct reply *r, const struct snapshot *s, const struct query_info *qi,
		     const struct snap_service *v)
{
	char str[300];
	size_t at;
	bool ok = put_txt_head(r, C_IN, s->ttl, &at);
	const char *names[4] = {"total", "healthy", "enabled", "usable"};
	uint32_t counts[4] = {v->total, v->healthy, v->enabled, v->usable};
	for (size_t k = 0; k < 4; k++) {
		snprintf(str, sizeof(str), "%s=%lu", names[k], (unsigned long)counts[k]);
		put_str(r, str, &ok);
	}
	if (v->fetched_ms > 0 && qi->now_ms >= v->fetched_ms)
		snprintf(str, sizeof(str), "age=%llds",
			 (long long)((qi->now_ms - v->fetched_ms) / 1000));
	else
		snprintf(str, sizeof(str), "age=unknown");
	put_str(r, str, &ok);
	snprintf(str, sizeof(str), "server=%s", v->server ? v->server : "unknown");
	put_str(r, str, &ok);
	snprintf(str, sizeof(str), "api=%s", v->api ? v->api : "unknown");
	put_str(r, str, &ok);
	put_str(r, v->stale ? "stale=yes" : "stale=no", &ok);
	put_str(r, v->protect ? "protect-threshold=reached" : "protect-threshold=no", &ok);
	/* catalog=none: its group cannot be listed, so it was fetched because a query named it */
	put_str(r, v->uncatalogued ? "catalog=none" : "catalog=yes", &ok);
	snprintf(str, sizeof(str), "generation=%lu", (unsigned long)s->generation);
	put_str(r, str, &ok);
	put_txt_end(r, at, ok);
}

static bool key_is(const struct question *q, const char *wire, size_t n)
{
	return q->qlen == n && memcmp(q->key, wire, n) == 0;
}

/* version.bind, version.server, hostname.bind, id.server; other CH names are REFUSED. */
static void answer_ch(struct reply *r, const struct snapshot *s, const struct question *q,
		      struct query_info *qi, uint16_t max_udp)
{
	const char *text = NULL;
	if (key_is(q, "\7version\4bind", 14) || key_is(q, "\7version\6server", 16))
		text = s ? s->version : "nacos-dns";
	else if (key_is(q, "\10hostname\4bind", 15) || key_is(q, "\2id\6server", 11))
		text = s ? s->hostname : "localhost";
	if (!text) {
		reply_empty(r, q, qi, max_udp, DNS_RCODE_REFUSED);
		return;
	}
	reply_begin(r, q, 0, true, false);
	if (q->qtype == T_TXT || q->qtype == DNS_TYPE_ANY) {
		size_t at;
		bool ok = put_txt_head(r, DNS_CLASS_CH, 0, &at);
		put_str(r, text, &ok);
		put_txt_end(r, at, ok);
	}
	reply_end(r, q, qi, max_udp, 0);
}

/* ---- names ---- */

enum { HIT_NXDOMAIN = 100, HIT_SRV_ALIAS };

struct hit {
	int kind; /* enum snap_kind, HIT_NXDOMAIN or HIT_SRV_ALIAS */
	uint32_t svc;
	uint32_t data;
};

/* The zone the question is in (the longest apex it ends with), or SNAP_NONE. *apex_label: the
 * index of the apex's first label in the question. */
static uint32_t find_zone(const struct snapshot *s, const struct question *q, size_t *apex_label)
{
	uint32_t best = SNAP_NONE;
	for (size_t z = 0; s && z < s->n_zones; z++) {
		size_t zl = s->zones[z].wire_len;
		for (size_t k = 0; k < q->n_labels; k++) {
			if (q->qlen - q->label_off[k] != zl ||
			    memcmp(q->key + q->label_off[k], s->zones[z].wire, zl) != 0)
				continue;
			if (best == SNAP_NONE || k < *apex_label) {
				best = (uint32_t)z;
				*apex_label = k;
			}
		}
	}
	return best;
}

static bool label_is_proto(const struct question *q, size_t label)
{
	const uint8_t *l = q->key + q->label_off[label];
	return l[0] == 4 && (memcmp(l + 1, "_tcp", 4) == 0 || memcmp(l + 1, "_udp", 4) == 0);
}

/* A name that is not stored: _tcp/_udp below a service (empty non-terminal), the RFC 2782
 * _x._proto form (SRV), a name below a pending service (fetch), or NXDOMAIN. */
static void resolve_missing(const struct snapshot *s, const struct question *q, size_t apex_label,
			    struct hit *h)
{
	*h = (struct hit){HIT_NXDOMAIN, SNAP_NONE, SNAP_NONE};
	for (size_t k = 1; k < apex_label; k++) {
		size_t off = q->label_off[k];
		uint32_t idx = snap_lookup(s, q->key + off, q->qlen - off,
					   snap_hash(q->key + off, q->qlen - off));
		if (idx == SNAP_NONE)
			continue;
		const struct snap_name *n = &s->names[idx];
		if (n->kind == SNAP_KIND_SERVICE && k == 1 && label_is_proto(q, 0))
			*h = (struct hit){SNAP_KIND_ENT, n->svc, SNAP_NONE};
		else if (n->kind == SNAP_KIND_SERVICE && k == 2 && label_is_proto(q, 1) &&
			 q->key[1] == '_')
			*h = (struct hit){HIT_SRV_ALIAS, n->svc, n->data};
		else if (n->kind == SNAP_KIND_PENDING)
			*h = (struct hit){SNAP_KIND_PENDING, n->svc, SNAP_NONE};
		h->svc = n->svc;
		if (n->svc != SNAP_NONE)
			return;
	}
}

static void resolve(const struct snapshot *s, const struct question *q, size_t apex_label,
		    struct hit *h)
{
	uint32_t idx = snap_lookup(s, q->key, q->qlen, q->hash);
	if (idx == SNAP_NONE) {
		resolve_missing(s, q, apex_label, h);
		return;
	}
	const struct snap_name *n = &s->names[idx];
	*h = (struct hit){n->kind, n->svc, n->data};
}

/* Fills the answer (or NODATA/NXDOMAIN with the SOA) for a name inside a zone. */
static uint8_t answer_zone(struct reply *r, const struct snapshot *s, const struct question *q,
			   const struct query_info *qi, size_t zone, const struct hit *h)
{
	bool found = false;
	if (h->kind == HIT_NXDOMAIN) {
		put_soa(r, s, q, zone, false);
		return DNS_RCODE_NXDOMAIN;
	}
	if (h->kind == SNAP_KIND_APEX && (q->qtype == T_SOA || q->qtype == DNS_TYPE_ANY)) {
		put_soa(r, s, q, zone, true);
		found = true;
	} else if (h->kind == SNAP_KIND_APEX && q->qtype == T_NS) {
		const struct snap_zone *z = &s->zones[zone];
		found = true;
		if (put(r, s->blob + z->ns_off, z->ns_len))
			r->an++;
		else
			reply_truncate(r, q);
	} else if (h->kind == SNAP_KIND_IPLABEL) {
		found = answer_instance(r, s, q, h->data);
	} else if (h->kind == SNAP_KIND_SERVICE ||
		   (h->kind == HIT_SRV_ALIAS && q->qtype == T_SRV)) {
		found = answer_data(s, q, qi, r, &s->data[h->data]);
	} else if (h->kind == SNAP_KIND_INFO && (q->qtype == T_TXT || q->qtype == DNS_TYPE_ANY)) {
		put_info(r, s, qi, &s->services[h->svc]);
		found = true;
	}
	if (!found)
		put_soa(r, s, q, zone, false);
	return 0;
}

static void set_service(struct query_info *qi, const struct snapshot *s, uint32_t svc)
{
	if (svc == SNAP_NONE)
		return;
	qi->service_namespace = s->services[svc].namespace_id;
	qi->service_group = s->services[svc].group;
	qi->service_name = s->services[svc].name;
}

/* Why a name not held may still exist, so that only the sync can settle it: its zone's catalog
 * is not listed yet, or it lies below a group that is not listed. NULL: it is absent. */
static const char *miss_unsettled(const struct snapshot *s, const struct question *q, size_t zone,
				  size_t apex_label)
{
	const struct snap_zone *z = &s->zones[zone];
	if (z->partial)
		return "Nacos catalog not listed yet";
	if (!z->open_groups || apex_label < 1)
		return NULL;
	size_t off = q->label_off[apex_label - 1];
	uint32_t idx =
		snap_lookup(s, q->key + off, q->qlen - off, snap_hash(q->key + off, q->qlen - off));
	if (idx != SNAP_NONE && s->names[idx].kind == SNAP_KIND_GROUP)
		return NULL;
	return "Nacos group not listed";
}

/* The PTR of an instance address outside every zone: its instance names. false: no such
 * reverse name or another type, left to the forwarder like any other outside name. */
static bool answer_reverse(struct reply *r, const struct snapshot *s, const struct question *q,
			   struct query_info *qi, uint16_t max_udp)
{
	uint32_t idx =
		s && q->qtype == T_PTR ? snap_lookup(s, q->key, q->qlen, q->hash) : SNAP_NONE;
	if (idx == SNAP_NONE || s->names[idx].kind != SNAP_KIND_REVERSE)
		return false;
	reply_begin(r, q, 0, true, false);
	if (!put_seq(r, s, &s->data[s->names[idx].data].ptr, false, 0, 0))
		reply_truncate(r, q);
	reply_end(r, q, qi, max_udp, 0);
	return true;
}

/* Class IN: in a zone, outside every zone (REFUSED), or a service still to fetch. */
static int answer_in(struct reply *r, const struct snapshot *s, const struct question *q,
		     struct query_info *qi, uint16_t max_udp)
{
	size_t apex_label = 0;
	uint32_t zone = find_zone(s, q, &apex_label);
	struct hit h;
	if (zone == SNAP_NONE) {
		if (answer_reverse(r, s, q, qi, max_udp))
			return QUERY_ANSWER;
		reply_empty(r, q, qi, max_udp, DNS_RCODE_REFUSED);
		return QUERY_OUTSIDE;
	}
	resolve(s, q, apex_label, &h);
	set_service(qi, s, h.svc);
	const char *why = h.kind == SNAP_KIND_PENDING ? "Nacos service not fetched yet"
			  : h.kind == HIT_NXDOMAIN && !qi->settled
				  ? miss_unsettled(s, q, zone, apex_label)
				  : NULL;
	if (why) {
		/* The SERVFAIL sent when the wait ends without the data says why. */
		r->ede = DNS_EDE_NOT_READY;
		r->ede_text = why;
		reply_empty(r, q, qi, max_udp, DNS_RCODE_SERVFAIL);
		return QUERY_FETCH;
	}
	if (q->qtype == DNS_TYPE_AXFR || q->qtype == DNS_TYPE_IXFR) {
		reply_empty(r, q, qi, max_udp, DNS_RCODE_REFUSED);
		return QUERY_ANSWER;
	}
	reply_begin(r, q, 0, true, false);
	uint8_t rcode = answer_zone(r, s, q, qi, zone, &h);
	reply_end(r, q, qi, max_udp, rcode);
	return QUERY_ANSWER;
}

/* Reads header, question and OPT. 0, or the rcode of a header-only error reply. */
static uint8_t read_query(struct question *q, const uint8_t *in, size_t len)
{
	memset(q, 0, offsetof(struct question, key));
	q->in = in;
	q->edns = q->do_bit = q->nsid = false;
	q->edns_version = 0;
	if (wire_opcode(in) != DNS_OPCODE_QUERY)
		return DNS_RCODE_NOTIMP;
	if (wire_get16(in + 4) != 1 || read_qname(q, len) < 0)
		return DNS_RCODE_FORMERR;
	if (read_records(q, len) < 0) {
		q->edns = false;
		return DNS_RCODE_FORMERR;
	}
	return 0;
}

/* Reports the question and sizes the reply: the client's UDP limit (512 without EDNS, else its
 * size between 512 and udp_max) or 65535 over TCP, never more than out_cap. false: no room. */
static bool reply_size(struct reply *r, struct query_info *qi, const struct question *q,
		       uint16_t max_udp, size_t out_cap)
{
	qi->qtype = q->qtype;
	qi->qclass = q->qclass;
	qi->edns = q->edns;
	qi->do_bit = q->do_bit;
	qi->question_end = q->qend;
	if (q->edns)
		qi->client_udp = q->edns_size < 512       ? 512
				 : q->edns_size > max_udp ? max_udp
							  : q->edns_size;
	size_t limit = qi->tcp ? 65535 : qi->client_udp;
	limit = limit < out_cap ? limit : out_cap;
	if (limit < q->qend + (q->edns ? DNS_OPT_FIXED_LEN : 0))
		return false;
	r->limit = limit - (q->edns ? DNS_OPT_FIXED_LEN : 0);
	r->cap = limit;
	return true;
}

int query_answer(const struct snapshot *snap, struct query_info *qi, const uint8_t *in, size_t len,
		 uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct question q;
	struct reply r = {.p = out, .nsid = snap ? snap->hostname : NULL};
	uint16_t max_udp = snap ? snap->udp_max : 1232;
	*qi = (struct query_info){.tcp = qi->tcp,
				  .client_hash = qi->client_hash,
				  .random = qi->random,
				  .now_ms = qi->now_ms,
				  .settled = qi->settled,
				  .client_udp = 512};
	if (len < DNS_HDR_LEN || wire_is_reply(in) || out_cap < DNS_HDR_LEN)
		return QUERY_DROP;
	uint8_t err = read_query(&q, in, len);
	if (err) {
		reply_begin(&r, &q, err, false, true);
		qi->rcode = err;
		*out_len = r.len;
		return QUERY_ANSWER;
	}
	if (!reply_size(&r, qi, &q, max_udp, out_cap))
		return QUERY_DROP;
	int status = QUERY_ANSWER;
	if (q.edns && q.edns_version > 0)
		reply_empty(&r, &q, qi, max_udp, DNS_RCODE_BADVERS);
	else if (q.qclass == DNS_CLASS_CH)
		answer_ch(&r, snap, &q, qi, max_udp);
	else if (q.qclass != C_IN)
		reply_empty(&r, &q, qi, max_udp, DNS_RCODE_REFUSED);
	else
		status = answer_in(&r, snap, &q, qi, max_udp);
	*out_len = r.len;
	return status;
}

/* Label k of the question as the query spelled it, as text, into out (cap octets). false when
 * no Nacos name can hold it: a dot, white space or a control character. */
static bool miss_label(const struct question *q, size_t k, char *out, size_t cap)
{
	const uint8_t *l = q->in + DNS_HDR_LEN + q->label_off[k];
	if ((size_t)l[0] + 1 > cap)
		return false;
	for (size_t i = 0; i < l[0]; i++) {
		if (l[1 + i] <= ' ' || l[1 + i] == '.' || l[1 + i] == 0x7f)
			return false;
		out[i] = (char)l[1 + i];
	}
	out[l[0]] = '\0';
	return true;
}

/* Labels from..to-1 joined by dots into out (256 octets). false when one cannot be a name's. */
static bool miss_join(const struct question *q, size_t from, size_t to, char *out)
{
	size_t len = 0;
	for (size_t k = from; k < to; k++) {
		char label[64];
		if (!miss_label(q, k, label, sizeof(label)) || len + strlen(label) + 2 > 256)
			return false;
		if (len)
			out[len++] = '.';
		memcpy(out + len, label, strlen(label) + 1);
		len += strlen(label);
	}
	return len > 0;
}

static bool label_is(const struct question *q, size_t k, const char *lower_text)
{
	const uint8_t *l = q->key + q->label_off[k];
	return l[0] == strlen(lower_text) && memcmp(l + 1, lower_text, l[0]) == 0;
}

int query_miss(const struct snapshot *snap, const uint8_t *in, size_t len, struct query_miss *out)
{
	struct question q = {.in = in};
	size_t apex_label = 0;
	memset(out, 0, sizeof(*out));
	if (!snap || len < DNS_HDR_LEN || read_qname(&q, len) < 0)
		return -EINVAL;
	uint32_t zone = find_zone(snap, &q, &apex_label);
	if (zone == SNAP_NONE)
		return -EINVAL;
	out->namespace_id = snap->zones[zone].namespace_id;
	if (apex_label < 1 || !miss_label(&q, apex_label - 1, out->group, sizeof(out->group)))
		return 0;
	size_t rel = apex_label - 1; /* labels below the group */
	size_t starts[QUERY_MISS_NAMES] = {0, 1, 2};
	bool use[QUERY_MISS_NAMES] = {rel >= 1, rel >= 2,
				      rel >= 3 &&
					      (label_is(&q, 1, "_cluster") ||
					       label_is(&q, 1, "_tcp") || label_is(&q, 1, "_udp"))};
	for (size_t i = 0; i < QUERY_MISS_NAMES; i++)
		if (use[i] && miss_join(&q, starts[i], rel, out->names[out->n_names]))
			out->n_names++;
	return 0;
}

size_t query_compact(const uint8_t *in, size_t len, uint8_t *out)
{
	struct question q;
	if (len < DNS_HDR_LEN || wire_is_reply(in) || read_query(&q, in, len) != 0)
		return 0;
	memcpy(out, in, q.qend);
	memset(out + 6, 0, 6); /* no answer, authority or additional record but the OPT */
	size_t n = q.qend;
	if (!q.edns)
		return n;
	out[11] = 1;
	out[n++] = 0; /* root owner */
	wire_put16(out + n, DNS_TYPE_OPT);
	wire_put16(out + n + 2, q.edns_size);
	out[n + 4] = 0;
	out[n + 5] = q.edns_version;
	out[n + 6] = q.do_bit ? DNS_OPT_FLAG_DO : 0;
	out[n + 7] = 0;
	wire_put16(out + n + 8, q.nsid ? 4 : 0);
	n += 10;
	if (q.nsid) {
		wire_put16(out + n, DNS_EDNS_NSID);
		wire_put16(out + n + 2, 0);
		n += 4;
	}
	return n;
}

/* Forwarded answers cached. Readers never write an entry but its atomics (last use, the refresh
 * claim); the writer links a fully built entry in, and unlinks one before it is retired, so a
 * reader that finds an entry finds it whole and alive until its epoch ends. Links are stored and
 * loaded sequentially consistent, as the epochs are: a reader that announces its epoch after the
 * writer advanced it then cannot load a link the writer changed before (a plain load on x86). */
#include "zones/dns/msgcache.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "zones/base/hash.h"
#include "zones/dns/wire.h"

#define STALE_TTL        30 /* RFC 8767 */
#define RECHECK_MS       30000 /* after a failure, expired answers go out stale at once for this long */
#define MAX_CHAIN        8
#define MAX_HOPS         64
#define MIN_BUCKETS      256
#define MAX_BUCKETS      (1u << 22)
#define BYTES_PER_BUCKET 256

struct entry {
	_Atomic(struct entry *) next; /* hash chain */
	struct entry *lru_prev, *lru_next, *retired_next;
	uint64_t hash, epoch;
	int64_t stored_ms, expire_ms, queued_ms; /* queued_ms: when it last went to the LRU tail */
	_Atomic int64_t used_ms;
	_Atomic int64_t failed_ms; /* the last failed refresh; 0: none */
	_Atomic int refreshing;
	size_t bytes, key_len, len, n_ttl;
	uint32_t ttl;
	uint16_t an, ns;
	uint8_t rcode;
	bool ad;
	uint16_t *ttl_at; /* into data */
	uint8_t *records; /* into data */
	uint8_t data[];   /* key, records, TTL offsets */
};

struct msgcache {
	struct msgcache_limits lim;
	_Atomic(struct entry *) *buckets;
	size_t mask;
	struct entry *lru_head, *lru_tail;     /* writer only; head: least recently queued */
	struct entry *unsealed, *retired;      /* writer only */
	struct msgcache_stats stats;           /* writer only */
	uint8_t records[MSGCACHE_RECORDS_MAX]; /* the writer's scratch */
	uint16_t ttl_at[MSGCACHE_TTLS_MAX];
};

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
	wire_put16(p, (uint16_t)(v >> 16));
	wire_put16(p + 2, (uint16_t)v);
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Names in wire form, ASCII case folded; length octets are < 64, which folding never changes. */
static bool name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* name is zone or below it. */
static bool name_under(const uint8_t *name, size_t len, const uint8_t *zone, size_t zlen)
{
	for (size_t at = 0; at < len && len - at >= zlen; at += 1u + name[at])
		if (name_eq(name + at, len - at, zone, zlen))
			return true;
	return false;
}

/* Reads the (possibly compressed) name at *at into out (255 octets), moving *at past it. Pointers
 * must go backwards, so a loop cannot form. 0 or -1. */
static int read_name(const uint8_t *m, size_t len, size_t *at, uint8_t *out, size_t *out_len)
{
	size_t p = *at, n = 0, end = 0;
	unsigned hops = 0;

	for (;;) {
		if (p >= len)
			return -1;
		uint8_t c = m[p];
		if ((c & DNS_PTR_MASK) == DNS_PTR_MASK) {
			if (p + 2 > len || ++hops > MAX_HOPS)
				return -1;
			size_t to = (size_t)(c & 0x3f) << 8 | m[p + 1];
			if (!end)
				end = p + 2;
			if (to >= p)
				return -1;
			p = to;
			continue;
		}
		if (c > 63 || p + 1u + c > len || n + 1u + c > 255)
			return -1;
		memcpy(out + n, m + p, 1u + c);
		n += 1u + c;
		p += 1u + c;
		if (c == 0)
			break;
	}
	*at = end ? end : p;
	*out_len = n;
	return 0;
}

static uint64_t key_hash(const uint8_t *p, size_t n)
{
	uint64_t h = hash_fnv64(HASH_FNV64_INIT, p, n);
	return h ^ (h >> 29);
}

int msgcache_key_make(const uint8_t *msg, size_t len, bool do_bit, struct msgcache_key *k)
{
	size_t at = DNS_HDR_LEN;

	if (len < DNS_HDR_LEN)
		return -EBADMSG;
	while (at < len && msg[at] != 0) {
		if (msg[at] > 63 || at + 1u + msg[at] >= len ||
		    at + 1u + msg[at] - DNS_HDR_LEN >= 255)
			return -EBADMSG;
		at += 1u + msg[at];
	}
	if (at + 5 > len)
		return -EBADMSG;
	size_t n = at + 1 - DNS_HDR_LEN;
	for (size_t i = 0; i < n; i++)
		k->data[i] = lower(msg[DNS_HDR_LEN + i]);
	memcpy(k->data + n, msg + at + 1, 4);
	k->data[n + 4] = do_bit;
	k->len = n + 5;
	k->hash = key_hash(k->data, k->len);
	return 0;
}

/* ---- the reply parser ---- */

/* One record being read: where its fixed part and RDATA are. */
struct rr {
	uint8_t owner[255];
	size_t owner_len;
	uint16_t type, klass;
	uint32_t ttl;
	size_t rdata, rdlen;
};

static int read_rr(const uint8_t *m, size_t len, size_t *at, struct rr *r)
{
	if (read_name(m, len, at, r->owner, &r->owner_len) < 0 || *at + 10 > len)
		return -1;
	r->type = wire_get16(m + *at);
	r->klass = wire_get16(m + *at + 2);
	r->ttl = rd32(m + *at + 4);
	r->rdlen = wire_get16(m + *at + 8);
	r->rdata = *at + 10;
	if (r->rdata + r->rdlen > len)
		return -1;
	*at = r->rdata + r->rdlen;
	return 0;
}

/* Appends bytes to the records being kept. */
struct writer {
	struct msgcache_parsed *p;
	bool full;
};

static void put(struct writer *w, const void *src, size_t n)
{
	if (w->full || w->p->len + n > MSGCACHE_RECORDS_MAX) {
		w->full = true;
		return;
	}
	memcpy(w->p->records + w->p->len, src, n);
	w->p->len += n;
}

/* The names in RDATA of the types RFC 3597 allows to be compressed (and SRV, which some servers
 * compress) are written out whole, so the kept records stand on their own. */
static int put_rdata(struct writer *w, const uint8_t *m, size_t len, const struct rr *r)
{
	static const struct {
		uint16_t type;
		uint8_t before, names, after; /* fixed octets, names, fixed octets */
	} forms[] = {{DNS_TYPE_NS, 0, 1, 0}, {DNS_TYPE_CNAME, 0, 1, 0}, {DNS_TYPE_PTR, 0, 1, 0},
		     {DNS_TYPE_MX, 2, 1, 0}, {DNS_TYPE_SRV, 6, 1, 0},   {DNS_TYPE_SOA, 0, 2, 20}};
	uint8_t name[255];
	size_t n, at = r->rdata, end = r->rdata + r->rdlen;

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		if (forms[i].type != r->type)
			continue;
		size_t start = w->p->len;
		put(w, "\0\0", 2);
		if (at + forms[i].before > end)
			return -1;
		put(w, m + at, forms[i].before);
		at += forms[i].before;
		for (unsigned k = 0; k < forms[i].names; k++) {
			if (read_name(m, end, &at, name, &n) < 0)
				return -1;
			put(w, name, n);
		}
		if (at + forms[i].after != end)
			return -1;
		put(w, m + at, forms[i].after);
		if (!w->full)
			wire_put16(w->p->records + start, (uint16_t)(w->p->len - start - 2));
		return 0;
	}
	put(w, (const uint8_t[]){(uint8_t)(r->rdlen >> 8), (uint8_t)r->rdlen}, 2);
	put(w, m + r->rdata, r->rdlen);
	return 0;
}

static int put_rr(struct writer *w, const uint8_t *m, size_t len, const struct rr *r)
{
	uint8_t fixed[8];

	if (w->p->n_ttl >= MSGCACHE_TTLS_MAX)
		return -1;
	wire_put16(fixed, r->type);
	wire_put16(fixed + 2, r->klass);
	wr32(fixed + 4, 0); /* the entry's TTL, written when an answer is made */
	put(w, r->owner, r->owner_len);
	w->p->ttl_at[w->p->n_ttl++] = (uint16_t)(w->p->len + 4);
	put(w, fixed, sizeof(fixed));
	return put_rdata(w, m, len, r);
}

/* The question's name, type and class from the key. */
struct want {
	const uint8_t *name;
	size_t name_len;
	uint16_t type, klass;
	bool do_bit;
};

static void want_from_key(const struct msgcache_key *k, struct want *q)
{
	q->name = k->data;
	q->name_len = k->len - 5;
	q->type = wire_get16(k->data + q->name_len);
	q->klass = wire_get16(k->data + q->name_len + 2);
	q->do_bit = k->data[k->len - 1] != 0;
}

/* The chain of names answered so far: the name asked, then each CNAME target. */
struct chain {
	uint8_t names[MAX_CHAIN][255];
	size_t lens[MAX_CHAIN];
	size_t n;
};

static bool chain_has(const struct chain *c, const struct rr *r)
{
	for (size_t i = 0; i < c->n; i++)
		if (name_eq(c->names[i], c->lens[i], r->owner, r->owner_len))
			return true;
	return false;
}

static uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* The answer section: keeps the chain from the name asked and its records of the type asked. */
static int parse_answer(const uint8_t *m, size_t len, size_t *at, unsigned count,
			const struct want *q, struct chain *ch, struct writer *w, uint32_t *ttl,
			bool *final)
{
	struct rr r;

	for (unsigned i = 0; i < count; i++) {
		if (read_rr(m, len, at, &r) < 0)
			return -1;
		size_t last = ch->n - 1;
		bool at_target = name_eq(ch->names[last], ch->lens[last], r.owner, r.owner_len);
		bool keep = false;
		if (r.klass != q->klass)
			continue;
		if (at_target && r.type == q->type) {
			keep = *final = true;
		} else if (at_target && r.type == DNS_TYPE_CNAME && !*final && ch->n < MAX_CHAIN) {
			size_t p = r.rdata;
			if (read_name(m, r.rdata + r.rdlen, &p, ch->names[ch->n],
				      &ch->lens[ch->n]) < 0)
				return -1;
			ch->n++;
			keep = true;
		} else if (r.type == DNS_TYPE_RRSIG && q->do_bit && chain_has(ch, &r)) {
			keep = true;
		}
		if (!keep)
			continue;
		if (put_rr(w, m, len, &r) < 0)
			return -1;
		w->p->an++;
		*ttl = min32(*ttl, r.ttl);
	}
	return 0;
}

/* The authority section of a negative answer: the SOA of a zone holding the chain's last name. */
static int parse_soa(const uint8_t *m, size_t len, size_t *at, unsigned count, const struct want *q,
		     const struct chain *ch, struct writer *w, uint32_t *ttl)
{
	const uint8_t *target = ch->names[ch->n - 1];
	size_t tlen = ch->lens[ch->n - 1];
	struct rr r;

	for (unsigned i = 0; i < count; i++) {
		if (read_rr(m, len, at, &r) < 0)
			return -1;
		if (r.type != DNS_TYPE_SOA || r.klass != q->klass || r.rdlen < 22 ||
		    !name_under(target, tlen, r.owner, r.owner_len))
			continue;
		uint32_t minimum = rd32(m + r.rdata + r.rdlen - 4);
		if (put_rr(w, m, len, &r) < 0)
			return -1;
		w->p->ns = 1;
		*ttl = min32(*ttl, min32(r.ttl, minimum));
		return 1;
	}
	return 0;
}

/* The header and question of an upstream reply to q. 0, -ENOENT, -EBADMSG. */
static int check_header(const uint8_t *m, size_t len, const struct want *q, size_t *at)
{
	uint8_t name[255];
	size_t n;

	*at = DNS_HDR_LEN;
	if (len < DNS_HDR_LEN || !wire_is_reply(m) || wire_get16(m + 4) != 1)
		return -EBADMSG;
	if (read_name(m, len, at, name, &n) < 0 || *at + 4 > len)
		return -EBADMSG;
	if (!name_eq(name, n, q->name, q->name_len) || wire_get16(m + *at) != q->type ||
	    wire_get16(m + *at + 2) != q->klass)
		return -EBADMSG;
	*at += 4;
	if (wire_opcode(m) != DNS_OPCODE_QUERY || wire_tc(m) || q->type == DNS_TYPE_ANY ||
	    q->type == DNS_TYPE_OPT)
		return -ENOENT;
	uint8_t rcode = wire_rcode(m);
	return rcode == DNS_RCODE_NOERROR || rcode == DNS_RCODE_NXDOMAIN ? 0 : -ENOENT;
}

int msgcache_parse_reply(const struct msgcache_key *k, const uint8_t *m, size_t len,
			 const struct msgcache_limits *lim, struct msgcache_parsed *p)
{
	struct writer w = {.p = p};
	struct want q;
	struct chain ch;
	uint32_t ttl = UINT32_MAX;
	bool final = false;
	size_t at;
	int rc;

	want_from_key(k, &q);
	p->len = p->n_ttl = 0;
	p->an = p->ns = 0;
	if ((rc = check_header(m, len, &q, &at)) < 0)
		return rc;
	p->rcode = wire_rcode(m);
	p->ad = (m[3] & DNS_FLAG_AD) != 0;
	memcpy(ch.names[0], q.name, q.name_len);
	ch.lens[0] = q.name_len;
	ch.n = 1;
	if (parse_answer(m, len, &at, wire_get16(m + 6), &q, &ch, &w, &ttl, &final) < 0)
		return -EBADMSG;
	p->negative = p->rcode == DNS_RCODE_NXDOMAIN || !final;
	if (p->negative) {
		/* DNSSEC denial proofs are not kept: a validating client asks upstream each time.
		 */
		if (q.do_bit)
			return -ENOENT;
		rc = parse_soa(m, len, &at, wire_get16(m + 8), &q, &ch, &w, &ttl);
		if (rc < 0)
			return -EBADMSG;
		if (rc == 0)
			return -ENOENT; /* a referral, or no SOA to time it by (RFC 2308 5) */
		ttl = min32(ttl, lim->max_negative_ttl);
	} else {
		ttl = ttl < lim->min_ttl ? lim->min_ttl : min32(ttl, lim->max_ttl);
	}
	if (w.full)
		return -ENOENT;
	p->ttl = ttl;
	return ttl > 0 ? 0 : -ENOENT;
}

/* ---- the table ---- */

struct msgcache *msgcache_new(const struct msgcache_limits *lim)
{
	struct msgcache *c = calloc(1, sizeof(*c));
	size_t n = MIN_BUCKETS;

	if (!c)
		return NULL;
	c->lim = *lim;
	while (n < MAX_BUCKETS && n * BYTES_PER_BUCKET < lim->max_bytes)
		n <<= 1;
	c->buckets = calloc(n, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	c->mask = n - 1;
	return c;
}

static void free_list(struct entry *e, size_t offset)
{
	while (e) {
		struct entry *next = *(struct entry **)((char *)e + offset);
		free(e);
		e = next;
	}
}

void msgcache_free(struct msgcache *c)
{
	if (!c)
		return;
	free_list(c->lru_head, offsetof(struct entry, lru_next));
	free_list(c->unsealed, offsetof(struct entry, retired_next));
	free_list(c->retired, offsetof(struct entry, retired_next));
	free(c->buckets);
	free(c);
}

static const uint8_t *entry_key(const struct entry *e)
{
	return e->data;
}

/* The entry of k, or NULL; the slot pointing to it in *slot when slot is not NULL. */
static struct entry *find(struct msgcache *c, const struct msgcache_key *k,
			  _Atomic(struct entry *) **slot)
{
	_Atomic(struct entry *) *s = &c->buckets[k->hash & c->mask];

	for (struct entry *e = atomic_load_explicit(s, memory_order_seq_cst); e;
	     e = atomic_load_explicit(s, memory_order_seq_cst)) {
		if (e->hash == k->hash && e->key_len == k->len &&
		    memcmp(entry_key(e), k->data, k->len) == 0) {
			if (slot)
				*slot = s;
			return e;
		}
		s = &e->next;
	}
	return NULL;
}

static void lru_unlink(struct msgcache *c, struct entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		c->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		c->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_append(struct msgcache *c, struct entry *e, int64_t now_ms)
{
	e->queued_ms = now_ms;
	e->lru_prev = c->lru_tail;
	e->lru_next = NULL;
	if (c->lru_tail)
		c->lru_tail->lru_next = e;
	else
		c->lru_head = e;
	c->lru_tail = e;
}

/* Unlinks e (found through slot) and queues it to be freed after the readers' epoch. */
static void retire(struct msgcache *c, _Atomic(struct entry *) *slot, struct entry *e)
{
	atomic_store_explicit(slot, atomic_load_explicit(&e->next, memory_order_relaxed),
			      memory_order_seq_cst);
	lru_unlink(c, e);
	c->stats.entries--;
	c->stats.bytes -= e->bytes;
	e->retired_next = c->unsealed;
	c->unsealed = e;
}

/* Least recently used first: an entry used since it was queued gets queued again (a clock that
 * reads the readers' last-use stamps instead of moving entries on every hit). */
static void evict(struct msgcache *c, size_t need, int64_t now_ms)
{
	size_t requeued = 0;

	while (c->lru_head && c->stats.bytes + need > c->lim.max_bytes) {
		struct entry *e = c->lru_head;
		struct msgcache_key k;
		_Atomic(struct entry *) *slot = NULL;
		if (atomic_load_explicit(&e->used_ms, memory_order_relaxed) > e->queued_ms &&
		    requeued++ < c->stats.entries) {
			lru_unlink(c, e);
			lru_append(c, e, now_ms);
			continue;
		}
		k.hash = e->hash;
		k.len = e->key_len;
		memcpy(k.data, entry_key(e), e->key_len);
		if (find(c, &k, &slot) == e) {
			retire(c, slot, e);
			c->stats.evictions++;
		}
	}
}

static struct entry *entry_new(const struct msgcache_key *k, const struct msgcache_parsed *p,
			       int64_t now_ms, uint32_t ttl)
{
	size_t bytes = sizeof(struct entry) + k->len + p->len + p->n_ttl * sizeof(uint16_t) + 1;
	struct entry *e = malloc(bytes);

	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	atomic_init(&e->next, NULL);
	atomic_init(&e->used_ms, 0);
	atomic_init(&e->failed_ms, 0);
	atomic_init(&e->refreshing, 0);
	e->bytes = bytes;
	e->hash = k->hash;
	e->key_len = k->len;
	memcpy(e->data, k->data, k->len);
	e->records = e->data + k->len;
	if (p->len)
		memcpy(e->records, p->records, p->len);
	e->len = p->len;
	/* the offsets 2-byte aligned: the size has an octet to spare for it */
	e->ttl_at = (uint16_t *)(((uintptr_t)(e->records + p->len) + 1) & ~(uintptr_t)1);
	if (p->n_ttl)
		memcpy(e->ttl_at, p->ttl_at, p->n_ttl * sizeof(uint16_t));
	e->n_ttl = p->n_ttl;
	e->an = p->an;
	e->ns = p->ns;
	e->rcode = p->rcode;
	e->ad = p->ad;
	e->ttl = ttl;
	e->stored_ms = now_ms;
	e->expire_ms = now_ms + (int64_t)ttl * 1000;
	return e;
}

/* Links e in place of k's entry, or at its bucket's head; then keeps memory under the cap. */
static void link_entry(struct msgcache *c, const struct msgcache_key *k, struct entry *e,
		       int64_t now_ms)
{
	_Atomic(struct entry *) *slot = NULL;
	struct entry *old = find(c, k, &slot);

	if (old)
		retire(c, slot, old);
	evict(c, e->bytes, now_ms);
	slot = &c->buckets[k->hash & c->mask];
	atomic_store_explicit(&e->next, atomic_load_explicit(slot, memory_order_relaxed),
			      memory_order_relaxed);
	atomic_store_explicit(slot, e, memory_order_seq_cst);
	lru_append(c, e, now_ms);
	c->stats.entries++;
	c->stats.bytes += e->bytes;
	c->stats.stored++;
}

int msgcache_store(struct msgcache *c, const struct msgcache_key *k, const uint8_t *reply,
		   size_t len, int64_t now_ms)
{
	struct msgcache_parsed p = {.records = c->records, .ttl_at = c->ttl_at};
	int rc = msgcache_parse_reply(k, reply, len, &c->lim, &p);
	struct entry *e;

	if (rc < 0)
		return rc;
	if (!(e = entry_new(k, &p, now_ms, p.ttl)))
		return -ENOMEM;
	if (e->bytes > c->lim.max_bytes) {
		free(e);
		return -ENOENT;
	}
	link_entry(c, k, e, now_ms);
	return 0;
}

void msgcache_store_failure(struct msgcache *c, const struct msgcache_key *k, int64_t now_ms)
{
	struct entry *e = find(c, k, NULL);
	struct msgcache_parsed p = {.rcode = DNS_RCODE_SERVFAIL};

	if (e && e->rcode != DNS_RCODE_SERVFAIL) {
		atomic_store_explicit(&e->failed_ms, now_ms, memory_order_relaxed);
		atomic_store_explicit(&e->refreshing, 0, memory_order_relaxed);
		return;
	}
	if (c->lim.failure_ttl == 0 || !(e = entry_new(k, &p, now_ms, c->lim.failure_ttl)))
		return;
	link_entry(c, k, e, now_ms);
}

void msgcache_refresh_done(struct msgcache *c, const struct msgcache_key *k)
{
	struct entry *e = find(c, k, NULL);

	if (e)
		atomic_store_explicit(&e->refreshing, 0, memory_order_relaxed);
}

void msgcache_flush(struct msgcache *c)
{
	while (c->lru_head) {
		struct entry *e = c->lru_head;
		_Atomic(struct entry *) *slot = &c->buckets[e->hash & c->mask];
		while (atomic_load_explicit(slot, memory_order_relaxed) != e)
			slot = &atomic_load_explicit(slot, memory_order_relaxed)->next;
		retire(c, slot, e);
	}
}

bool msgcache_seal(struct msgcache *c, uint64_t epoch)
{
	bool any = c->unsealed != NULL;

	while (c->unsealed) {
		struct entry *e = c->unsealed;
		c->unsealed = e->retired_next;
		e->epoch = epoch;
		e->retired_next = c->retired;
		c->retired = e;
	}
	return any;
}

void msgcache_reclaim(struct msgcache *c, uint64_t min_seen)
{
	struct entry **pp = &c->retired;

	while (*pp) {
		struct entry *e = *pp;
		if (e->epoch > min_seen) {
			pp = &e->retired_next;
			continue;
		}
		*pp = e->retired_next;
		free(e);
	}
}

void msgcache_stats_get(const struct msgcache *c, struct msgcache_stats *out)
{
	*out = c->stats;
}

/* ---- answers ---- */

/* The header, question and (when the client sent one) OPT; counts set by the caller. */
static size_t answer_begin(const struct entry *e, const struct msgcache_ask *a, uint8_t *out,
			   bool do_bit)
{
	memcpy(out, a->query, a->qend);
	out[2] = (uint8_t)(DNS_FLAG_QR | (a->query[DNS_OFF_FL1] & DNS_FL1_ECHOED)); /* opcode, RD */
	out[3] = (uint8_t)((a->query[DNS_OFF_FL2] & DNS_FLAG_CD) |
			   (do_bit && e->ad ? DNS_FLAG_AD : 0) | e->rcode);
	wire_put16(out + 4, 1);
	memset(out + 6, 0, 6);
	return a->qend;
}

static size_t put_opt(uint8_t *p, const struct msgcache_ask *a, bool do_bit, bool stale)
{
	p[0] = 0;
	wire_put16(p + 1, DNS_TYPE_OPT);
	wire_put16(p + 3, a->edns_size);
	wr32(p + 5, do_bit ? 0x8000u : 0);
	wire_put16(p + 9, stale ? 6 : 0);
	if (!stale)
		return DNS_OPT_FIXED_LEN;
	wire_put16(p + 11, 15); /* EDE */
	wire_put16(p + 13, 2);
	wire_put16(p + 15, DNS_EDE_STALE_ANSWER);
	return DNS_OPT_FIXED_LEN + 6;
}

static size_t build(const struct entry *e, const struct msgcache_ask *a, bool do_bit, bool stale,
		    uint32_t ttl, uint8_t *out, size_t cap)
{
	size_t opt = a->edns ? DNS_OPT_FIXED_LEN + (stale ? 6 : 0) : 0;
	size_t n = answer_begin(e, a, out, do_bit);
	size_t limit = cap < a->max_reply ? cap : a->max_reply;

	if (n + e->len + opt > limit) {
		if (n + opt > cap)
			return 0;
		wire_set_tc(out);
	} else {
		memcpy(out + n, e->records, e->len);
		for (size_t i = 0; i < e->n_ttl; i++)
			wr32(out + n + e->ttl_at[i], ttl);
		n += e->len;
		wire_put16(out + 6, e->an);
		wire_put16(out + 8, e->ns);
	}
	if (a->edns) {
		n += put_opt(out + n, a, do_bit, stale);
		wire_put16(out + 10, 1);
	}
	return n;
}

/* Claims the entry's background refresh: true for the one caller that gets it. */
static bool claim_refresh(struct entry *e)
{
	int expected = 0;

	if (atomic_load_explicit(&e->refreshing, memory_order_relaxed))
		return false;
	return atomic_compare_exchange_strong_explicit(&e->refreshing, &expected, 1,
						       memory_order_relaxed, memory_order_relaxed);
}

enum msgcache_result msgcache_answer(struct msgcache *c, const struct msgcache_key *k,
				     const struct msgcache_ask *a, uint8_t *out, size_t cap,
				     size_t *out_len, bool *refresh)
{
	struct entry *e = find(c, k, NULL);
	bool do_bit = k->data[k->len - 1] != 0, stale = false, due;
	uint32_t ttl;

	*refresh = false;
	if (!e || a->qend < DNS_HDR_LEN || a->qend > a->len)
		return MSGCACHE_MISS;
	if (a->now_ms < e->expire_ms) {
		int64_t left = e->expire_ms - a->now_ms;
		ttl = (uint32_t)(left / 1000);
		due = e->rcode != DNS_RCODE_SERVFAIL && left * 10 < (int64_t)e->ttl * 1000;
	} else {
		int64_t failed = atomic_load_explicit(&e->failed_ms, memory_order_relaxed);
		bool recheck = failed && a->now_ms - failed < RECHECK_MS;
		if (e->rcode == DNS_RCODE_SERVFAIL || !(recheck || a->stale_ok) ||
		    a->now_ms - e->expire_ms > (int64_t)c->lim.stale_max * 1000)
			return MSGCACHE_MISS;
		stale = true;
		ttl = STALE_TTL;
		due = !a->stale_ok;
	}
	*out_len = build(e, a, do_bit, stale, ttl, out, cap);
	if (*out_len == 0)
		return MSGCACHE_MISS; /* a buffer too small even for the question */
	if (atomic_load_explicit(&e->used_ms, memory_order_relaxed) != a->now_ms)
		atomic_store_explicit(&e->used_ms, a->now_ms, memory_order_relaxed);
	*refresh = due && claim_refresh(e);
	return stale ? MSGCACHE_STALE : MSGCACHE_HIT;
}

/* Builds the immutable snapshot: owner names -> prepared wire RRsets (layout: snapshot_internal.h).
 */
#include "zones/data/snapshot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "zones/base/array.h"
#include "zones/data/snapshot_internal.h"
#include "zones/nacos/nacos.h"

#define MAX_TXT 4096 /* rdata cap of one instance's TXT record; metadata beyond it is dropped */

/* An instance name to answer the reverse lookup of its address with: its wire name, in the
 * case Nacos gave, at targets + off. */
struct reverse_item {
	uint8_t addr[16];
	uint8_t family;
	uint8_t len;
	uint32_t off;
};

struct snapshot_builder {
	struct snapshot *s;
	int err; /* sticky: the first -ENOMEM of a blob write */
	struct reverse_item *rev;
	size_t n_rev, cap_rev;
	uint8_t *targets;
	size_t n_targets, cap_targets;
};

/* An address of a set, with the largest weight of its instances. */
struct addr_w {
	const struct nacos_instance *inst;
	double weight;
};

void snapshot_config_defaults(struct snapshot_config *c)
{
	memset(c, 0, sizeof(*c));
	c->zones[0] = (struct snapshot_zone){.name = "svc.", .namespace_id = "public"};
	c->n_zones = 1;
	c->ttl = 5;
	c->negative_ttl = 5;
	c->udp_max = 1232;
}

/* ---- prepared bytes ---- */

static void blob_put(struct snapshot_builder *b, const void *p, size_t n)
{
	struct snapshot *s = b->s;
	if (b->err || array_grow((void **)&s->blob, &s->cap_blob, s->n_blob, n, 1) < 0) {
		b->err = -ENOMEM;
		return;
	}
	memcpy(s->blob + s->n_blob, p, n);
	s->n_blob += n;
}

static void blob_u16(struct snapshot_builder *b, uint16_t v)
{
	uint8_t w[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	blob_put(b, w, 2);
}

static void blob_u32(struct snapshot_builder *b, uint32_t v)
{
	uint8_t w[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	blob_put(b, w, 4);
}

/* Writes type, class, TTL and a placeholder RDLENGTH; returns where RDLENGTH goes. */
static size_t rr_head(struct snapshot_builder *b, uint16_t type, uint32_t ttl)
{
	blob_u16(b, type);
	blob_u16(b, C_IN);
	blob_u32(b, ttl);
	size_t at = b->s->n_blob;
	blob_u16(b, 0);
	return at;
}

static void rr_end(struct snapshot_builder *b, size_t rdlen_at)
{
	if (b->err)
		return;
	size_t n = b->s->n_blob - rdlen_at - 2;
	b->s->blob[rdlen_at] = (uint8_t)(n >> 8);
	b->s->blob[rdlen_at + 1] = (uint8_t)n;
}

/* One character-string (truncated to 255 octets), unless it would take rdata past MAX_TXT. */
static void txt_string(struct snapshot_builder *b, size_t rdlen_at, const char *str)
{
	size_t n = strlen(str);
	if (n > 255)
		n = 255;
	if (b->err || b->s->n_blob - rdlen_at - 2 + 1 + n > MAX_TXT)
		return;
	uint8_t l = (uint8_t)n;
	blob_put(b, &l, 1);
	blob_put(b, str, n);
}

/* "meta.<key>=<value>", truncated to 255 octets like every string. */
static void render_txt_meta(struct snapshot_builder *b, size_t rdlen_at, const char *key,
			    const char *value)
{
	char str[300];
	snprintf(str, sizeof(str), "meta.%s=%s", key, value);
	txt_string(b, rdlen_at, str);
}

/* ---- names ---- */

static void lower(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] >= 'A' && p[i] <= 'Z')
			p[i] = (uint8_t)(p[i] + 32);
}

/* Appends text as labels split at dots (octets kept as they are). -EINVAL: not a DNS name. */
static int name_append_text(uint8_t *w, size_t *len, const char *text)
{
	const char *p = text;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n == 0 || n > 63 || *len + 1 + n > 255)
			return -EINVAL;
		w[(*len)++] = (uint8_t)n;
		memcpy(w + *len, p, n);
		*len += n;
		if (!dot)
			return 0;
		p = dot + 1;
	}
}

/* prefix labels + a lowercased wire name (root included). 0 or -EINVAL. */
static int name_prefix(uint8_t *out, size_t *out_len, const char *prefix, const uint8_t *base,
		       size_t base_len)
{
	size_t len = 0;
	if (name_append_text(out, &len, prefix) < 0 || len + base_len > 255)
		return -EINVAL;
	memcpy(out + len, base, base_len);
	lower(out, len);
	*out_len = len + base_len;
	return 0;
}

static int table_grow(struct snapshot *s)
{
	size_t size = s->table_size ? s->table_size * 2 : 64;
	uint32_t *t = calloc(size, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_names; i++) {
		size_t j = s->names[i].hash & (size - 1);
		while (t[j])
			j = (j + 1) & (size - 1);
		t[j] = (uint32_t)i + 1;
	}
	free(s->table);
	s->table = t;
	s->table_size = size;
	return 0;
}

/* Adds a name that is not in the table yet. Its index, or SNAP_NONE on ENOMEM. */
static uint32_t name_insert(struct snapshot *s, const uint8_t *key, size_t len, size_t zone,
			    enum snap_kind kind, uint32_t svc, uint32_t data)
{
	if ((s->n_names + 1) * 2 > s->table_size && table_grow(s) < 0)
		return SNAP_NONE;
	if (array_grow((void **)&s->names, &s->cap_names, s->n_names, 1, sizeof(*s->names)) < 0 ||
	    array_grow((void **)&s->keys, &s->cap_keys, s->n_keys, len, 1) < 0)
		return SNAP_NONE;
	uint32_t idx = (uint32_t)s->n_names++;
	struct snap_name *n = &s->names[idx];
	*n = (struct snap_name){.hash = snap_hash(key, len),
				.key_off = (uint32_t)s->n_keys,
				.key_len = (uint16_t)len,
				.zone = (uint8_t)zone,
				.kind = (uint8_t)kind,
				.svc = svc,
				.data = data};
	memcpy(s->keys + s->n_keys, key, len);
	s->n_keys += len;
	size_t mask = s->table_size - 1, j = n->hash & mask;
	while (s->table[j])
		j = (j + 1) & mask;
	s->table[j] = idx + 1;
	return idx;
}

static uint32_t name_find(const struct snapshot *s, const uint8_t *key, size_t len)
{
	return snap_lookup(s, key, len, snap_hash(key, len));
}

/* Every name between key (exclusive) and its suffix of stop_len octets (exclusive) exists, as an
 * empty non-terminal when it did not. 0 or -ENOMEM. */
static int ensure_ents(struct snapshot *s, const uint8_t *key, size_t len, size_t stop_len,
		       size_t zone, uint32_t svc)
{
	for (size_t off = (size_t)key[0] + 1; len - off > stop_len; off += (size_t)key[off] + 1) {
		if (name_find(s, key + off, len - off) != SNAP_NONE)
			continue;
		if (name_insert(s, key + off, len - off, zone, SNAP_KIND_ENT, svc, SNAP_NONE) ==
		    SNAP_NONE)
			return -ENOMEM;
	}
	return 0;
}

/* Claims a name for real data: new, or an empty non-terminal taken over. idx: the name's index
 * when the caller looked it up already (SNAP_NONE: absent). SNAP_NONE with *err 0: the name
 * belongs to something else already. */
static uint32_t name_claim_at(struct snapshot *s, uint32_t idx, const uint8_t *key, size_t len,
			      size_t zone, enum snap_kind kind, uint32_t svc, uint32_t data,
			      int *err)
{
	*err = 0;
	if (idx == SNAP_NONE) {
		idx = name_insert(s, key, len, zone, kind, svc, data);
		if (idx == SNAP_NONE)
			*err = -ENOMEM;
		return idx;
	}
	struct snap_name *n = &s->names[idx];
	if (n->kind != SNAP_KIND_ENT)
		return SNAP_NONE;
	n->kind = (uint8_t)kind;
	n->svc = svc;
	n->data = data;
	return idx;
}

static uint32_t name_claim(struct snapshot *s, const uint8_t *key, size_t len, size_t zone,
			   enum snap_kind kind, uint32_t svc, uint32_t data, int *err)
{
	return name_claim_at(s, name_find(s, key, len), key, len, zone, kind, svc, data, err);
}

/* ---- records of a set of instances ---- */

/* Decimal digits of v at p; returns the end. */
static char *put_uint(char *p, unsigned v)
{
	char tmp[10];
	size_t n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* The Kubernetes pod form of an instance's address: 10-0-0-7, 2001-db8--7. IPv4 is written
 * here, since glibc's inet_ntop formats it with sprintf, three times per instance per build. */
static void ip_label(const struct nacos_instance *i, char *out, size_t cap)
{
	if (i->family == AF_INET && cap >= INET_ADDRSTRLEN) {
		char *p = out;
		for (int k = 0; k < 4; k++) {
			if (k)
				*p++ = '-';
			p = put_uint(p, i->addr[k]);
		}
		*p = '\0';
		return;
	}
	if (!inet_ntop(i->family, i->addr, out, (socklen_t)cap)) {
		out[0] = '\0';
		return;
	}
	for (char *p = out; *p; p++)
		if (*p == '.' || *p == ':')
			*p = '-';
}

static const char *inst_cluster(const struct nacos_instance *i)
{
	return i->cluster ? i->cluster : "DEFAULT";
}

static bool in_set(const struct nacos_service *svc, const struct nacos_instance *i,
		   const char *cluster, bool need_usable)
{
	if (cluster && strcmp(inst_cluster(i), cluster) != 0)
		return false;
	return !need_usable || nacos_instance_usable(svc, i);
}

/* Distinct addresses of family among the usable instances of the set (with a port when
 * need_port), each with its largest weight. Returns how many (at most SNAP_MAX_RRS). */
static size_t collect_addrs(const struct nacos_service *svc, const char *cluster, int family,
			    bool need_port, struct addr_w *out)
{
	size_t n = 0;
	for (size_t k = 0; k < svc->n_instances; k++) {
		const struct nacos_instance *i = &svc->instances[k];
		if (i->family != family || !in_set(svc, i, cluster, true) ||
		    (need_port && !i->port))
			continue;
		size_t alen = family == AF_INET ? 4 : 16, j = 0;
		while (j < n && memcmp(out[j].inst->addr, i->addr, alen) != 0)
			j++;
		if (j < n) {
			if (i->weight > out[j].weight)
				out[j].weight = i->weight;
		} else if (n < SNAP_MAX_RRS) {
			out[n++] = (struct addr_w){i, i->weight};
		}
	}
	return n;
}

static uint32_t weight_int(double w)
{
	double v = round(w * 100);
	return v < 1 ? 1 : (uint32_t)v;
}

/* A or AAAA records of the set, with their weights for the per-reply order. */
static void render_addrs(struct snapshot_builder *b, const struct nacos_service *svc,
			 const char *cluster, int family, struct addr_w *tmp, struct snap_rrset *rs)
{
	struct snapshot *s = b->s;
	size_t n = collect_addrs(svc, cluster, family, false, tmp);
	size_t alen = family == AF_INET ? 4 : 16;
	*rs = (struct snap_rrset){(uint32_t)s->n_blob, 0, (uint32_t)n, SNAP_NONE};
	if (!n)
		return;
	if (array_grow((void **)&s->weights, &s->cap_weights, s->n_weights, n, sizeof(uint32_t)) <
	    0) {
		b->err = -ENOMEM;
		return;
	}
	rs->weights = (uint32_t)s->n_weights;
	for (size_t j = 0; j < n; j++) {
		blob_u16(b, 0xC00C);
		size_t at = rr_head(b, family == AF_INET ? T_A : T_AAAA, s->ttl);
		blob_put(b, tmp[j].inst->addr, alen);
		rr_end(b, at);
		s->weights[s->n_weights++] = weight_int(tmp[j].weight);
	}
	rs->len = (uint32_t)(s->n_blob - rs->off);
}

static void put_label(struct snapshot_builder *b, const struct nacos_instance *i)
{
	char label[INET6_ADDRSTRLEN];
	ip_label(i, label, sizeof(label));
	uint8_t n = (uint8_t)strlen(label);
	blob_put(b, &n, 1);
	blob_put(b, label, n);
	blob_u16(b, 0); /* pointer to the service name, patched per reply */
}

/* Orders instances by family, address and port. */
static int endpoint_cmp(const struct nacos_instance *x, const struct nacos_instance *y)
{
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	int c = memcmp(x->addr, y->addr, x->family == AF_INET ? 4 : 16);
	if (c || x->port == y->port)
		return c;
	return x->port < y->port ? -1 : 1;
}

static int by_endpoint(const void *a, const void *b)
{
	const struct nacos_instance *x = ((const struct addr_w *)a)->inst;
	const struct nacos_instance *y = ((const struct addr_w *)b)->inst;
	int c = endpoint_cmp(x, y);
	return c ? c : (x > y) - (x < y); /* ties: the instance listed first first */
}

static int by_position(const void *a, const void *b)
{
	const struct nacos_instance *x = ((const struct addr_w *)a)->inst;
	const struct nacos_instance *y = ((const struct addr_w *)b)->inst;
	return (x > y) - (x < y);
}

/* The usable endpoints of the set with a port, in instance order, each ip:port once (RFC 2181
 * 5.2: the same address and port in two clusters is one record) with its largest weight.
 * Returns how many are in tmp. */
static size_t collect_endpoints(const struct nacos_service *svc, const char *cluster,
				struct addr_w *tmp)
{
	size_t n = 0, kept = 0;
	for (size_t k = 0; k < svc->n_instances; k++) {
		const struct nacos_instance *i = &svc->instances[k];
		if (in_set(svc, i, cluster, true) && i->port)
			tmp[n++] = (struct addr_w){i, i->weight};
	}
	if (!n)
		return 0;
	qsort(tmp, n, sizeof(*tmp), by_endpoint);
	for (size_t j = 0; j < n; j++) {
		if (kept && endpoint_cmp(tmp[kept - 1].inst, tmp[j].inst) == 0) {
			if (tmp[j].weight > tmp[kept - 1].weight)
				tmp[kept - 1].weight = tmp[j].weight;
			continue;
		}
		tmp[kept++] = tmp[j];
	}
	qsort(tmp, kept, sizeof(*tmp), by_position);
	return kept;
}

/* SRV records of the set; weights scaled so the heaviest is 65535 and none is 0. */
static void render_srv(struct snapshot_builder *b, const struct nacos_service *svc,
		       const char *cluster, struct addr_w *tmp, struct snap_rrset *rs)
{
	double max_w = 0;
	size_t n = collect_endpoints(svc, cluster, tmp);
	if (n > SNAP_MAX_RRS)
		n = SNAP_MAX_RRS;
	for (size_t j = 0; j < n; j++)
		if (tmp[j].weight > max_w)
			max_w = tmp[j].weight;
	rs->off = (uint32_t)b->s->n_blob;
	rs->weights = SNAP_NONE;
	for (size_t j = 0; j < n; j++) {
		const struct nacos_instance *i = tmp[j].inst;
		double w = round(65535.0 * tmp[j].weight / max_w);
		blob_u16(b, 0xC00C);
		size_t at = rr_head(b, T_SRV, b->s->ttl);
		blob_u16(b, 0);
		blob_u16(b, w < 1 ? 1 : (uint16_t)w);
		blob_u16(b, i->port);
		put_label(b, i);
		rr_end(b, at);
	}
	rs->count = (uint32_t)n;
	rs->len = (uint32_t)(b->s->n_blob - rs->off);
}

/* A/AAAA of the SRV targets, owners "<ip-label>" + pointer to the service name. */
static void render_additional(struct snapshot_builder *b, const struct nacos_service *svc,
			      const char *cluster, struct addr_w *tmp, struct snap_rrset *rs)
{
	rs->off = (uint32_t)b->s->n_blob;
	rs->weights = SNAP_NONE;
	rs->count = 0;
	for (int f = 0; f < 2; f++) {
		int family = f ? AF_INET6 : AF_INET;
		size_t n = collect_addrs(svc, cluster, family, true, tmp);
		for (size_t j = 0; j < n; j++) {
			put_label(b, tmp[j].inst);
			size_t at = rr_head(b, f ? T_AAAA : T_A, b->s->ttl);
			blob_put(b, tmp[j].inst->addr, f ? 16 : 4);
			rr_end(b, at);
		}
		rs->count += (uint32_t)n;
	}
	rs->len = (uint32_t)(b->s->n_blob - rs->off);
}

/* One character-string "<key><value>" (truncated to 255 octets, as txt_string does), built in
 * place: a snapshot of 100,000 instances writes this 800,000 times. */
static void txt_kv(struct snapshot_builder *b, size_t rdlen_at, const char *key, const char *value)
{
	size_t kn = strlen(key), vn = strlen(value);
	if (kn > 255)
		kn = 255;
	if (kn + vn > 255)
		vn = 255 - kn;
	if (b->err || b->s->n_blob - rdlen_at - 2 + 1 + kn + vn > MAX_TXT)
		return;
	uint8_t l = (uint8_t)(kn + vn);
	blob_put(b, &l, 1);
	blob_put(b, key, kn);
	blob_put(b, value, vn);
}

static void render_txt_one(struct snapshot_builder *b, const struct nacos_instance *i)
{
	char num[32];
	blob_u16(b, 0xC00C);
	size_t at = rr_head(b, T_TXT, b->s->ttl);
	txt_kv(b, at, "ip=", i->ip ? i->ip : "");
	*put_uint(num, i->port) = '\0';
	txt_kv(b, at, "port=", num);
	if (i->weight == 1.0)
		txt_kv(b, at, "weight=", "1"); /* what %g writes, for the usual weight */
	else {
		snprintf(num, sizeof(num), "%g", i->weight);
		txt_kv(b, at, "weight=", num);
	}
	txt_string(b, at, i->healthy ? "healthy=true" : "healthy=false");
	txt_string(b, at, i->enabled ? "enabled=true" : "enabled=false");
	txt_string(b, at, i->ephemeral ? "ephemeral=true" : "ephemeral=false");
	txt_kv(b, at, "cluster=", inst_cluster(i));
	for (size_t m = 0; m < i->n_meta; m++)
		render_txt_meta(b, at, i->meta[2 * m], i->meta[2 * m + 1]);
	rr_end(b, at);
}

static void render_txt(struct snapshot_builder *b, const struct nacos_service *svc,
		       const char *cluster, struct snap_rrset *rs)
{
	rs->off = (uint32_t)b->s->n_blob;
	rs->weights = SNAP_NONE;
	rs->count = 0;
	for (size_t k = 0; k < svc->n_instances && rs->count < SNAP_MAX_RRS; k++) {
		if (!in_set(svc, &svc->instances[k], cluster, false))
			continue;
		render_txt_one(b, &svc->instances[k]);
		rs->count++;
	}
	rs->len = (uint32_t)(b->s->n_blob - rs->off);
}

/* Renders the records of svc (restricted to cluster when not NULL). Index into data, or
 * SNAP_NONE on ENOMEM. */
static uint32_t render_data(struct snapshot_builder *b, const struct nacos_service *svc,
			    const char *cluster, size_t svc_len, struct addr_w *tmp)
{
	struct snapshot *s = b->s;
	if (array_grow((void **)&s->data, &s->cap_data, s->n_data, 1, sizeof(*s->data)) < 0)
		return SNAP_NONE;
	struct snap_data d = {.svc_len = (uint16_t)svc_len};
	render_addrs(b, svc, cluster, AF_INET, tmp, &d.a);
	render_addrs(b, svc, cluster, AF_INET6, tmp, &d.aaaa);
	render_srv(b, svc, cluster, tmp, &d.srv);
	render_additional(b, svc, cluster, tmp, &d.add);
	render_txt(b, svc, cluster, &d.txt);
	if (b->err)
		return SNAP_NONE;
	s->data[s->n_data] = d;
	return (uint32_t)s->n_data++;
}

/* The A or AAAA record of an instance name; its offset in the blob, or SNAP_NONE on ENOMEM. */
static uint32_t render_instance(struct snapshot_builder *b, const struct nacos_instance *i)
{
	struct snapshot *s = b->s;
	uint32_t off = (uint32_t)s->n_blob;
	blob_u16(b, 0xC00C);
	size_t at = rr_head(b, i->family == AF_INET ? T_A : T_AAAA, s->ttl);
	blob_put(b, i->addr, i->family == AF_INET ? 4 : 16);
	rr_end(b, at);
	return b->err ? SNAP_NONE : off;
}

/* ---- services ---- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void service_deinit(struct snap_service *v)
{
	free(v->group);
	free(v->name);
	free(v->server);
	free(v->api);
}

/* Appends the service record (strings copied). Its index, or SNAP_NONE on ENOMEM. */
static uint32_t service_new(struct snapshot *s, const char *group, const char *name,
			    const struct nacos_service *svc)
{
	if (array_grow((void **)&s->services, &s->cap_services, s->n_services, 1,
		       sizeof(*s->services)) < 0)
		return SNAP_NONE;
	struct snap_service v = {.group = strdup(group), .name = strdup(name), .pending = !svc};
	if (svc) {
		v.server = dup_or_null(svc->origin.server);
		v.api = dup_or_null(svc->origin.api);
		v.fetched_ms = svc->origin.fetched_ms;
		v.stale = svc->origin.stale;
		v.uncatalogued = svc->origin.uncatalogued;
		v.protect = svc->protect_threshold;
		v.total = (uint32_t)svc->n_instances;
		for (size_t k = 0; k < svc->n_instances; k++) {
			const struct nacos_instance *i = &svc->instances[k];
			v.healthy += i->healthy;
			v.enabled += i->enabled;
			v.usable += nacos_instance_usable(svc, i);
		}
	}
	if (!v.group || !v.name ||
	    (svc && ((svc->origin.server && !v.server) || (svc->origin.api && !v.api)))) {
		service_deinit(&v);
		return SNAP_NONE;
	}
	s->services[s->n_services] = v;
	return (uint32_t)s->n_services++;
}

/* The wire name <name>.<group>.<zone>, lowercased. 0 or -EINVAL. */
static int service_owner(const struct snap_zone *z, const char *group, const char *name,
			 uint8_t *key, size_t *len)
{
	*len = 0;
	if (name_append_text(key, len, name) < 0 || name_append_text(key, len, group) < 0 ||
	    *len + z->wire_len > 255)
		return -EINVAL;
	memcpy(key + *len, z->wire, z->wire_len);
	*len += z->wire_len;
	lower(key, *len);
	return 0;
}

/* <prefix>.<service owner> holding data (or an empty non-terminal when data is SNAP_NONE and
 * kind is SNAP_KIND_ENT). Names that cannot be DNS names or are taken are reported and skipped. */
static int add_child(struct snapshot_builder *b, size_t zone, const char *prefix,
		     const uint8_t *base, size_t base_len, enum snap_kind kind, uint32_t svc,
		     uint32_t data, struct nacos_diag *d)
{
	struct snapshot *s = b->s;
	uint8_t key[256];
	size_t len;
	int err;
	if (name_prefix(key, &len, prefix, base, base_len) < 0) {
		nacos_diag_report(d, 1, "%s.%s.%s: name \"%s\" below it is not a DNS name, skipped",
				  s->services[svc].name, s->services[svc].group,
				  s->zones[zone].namespace_id, prefix);
		return 0;
	}
	if (ensure_ents(s, key, len, base_len, zone, svc) < 0)
		return -ENOMEM;
	uint32_t idx = name_find(s, key, len);
	if (idx != SNAP_NONE && s->names[idx].svc == svc && kind == s->names[idx].kind)
		return 0; /* the same address or cluster listed twice */
	if (name_claim_at(s, idx, key, len, zone, kind, svc, data, &err) == SNAP_NONE && !err)
		nacos_diag_report(d, 1, "%s.%s: name \"%s\" below it is taken already, skipped",
				  s->services[svc].name, s->services[svc].group, prefix);
	return err;
}

/* ---- reverse names ---- */

/* Notes that the instance name label.<service>.<group>.<zone> answers the reverse lookup of i's
 * address. 0 or -ENOMEM (a name too long was skipped before: its instance name is not kept). */
static int reverse_note(struct snapshot_builder *b, const struct nacos_instance *i,
			const char *label, const struct nacos_service *svc,
			const struct snap_zone *z)
{
	uint8_t t[255];
	size_t len = 0;
	if (name_append_text(t, &len, label) < 0 || name_append_text(t, &len, svc->name) < 0 ||
	    name_append_text(t, &len, svc->group) < 0 || len + z->wire_len > 255)
		return 0;
	memcpy(t + len, z->wire, z->wire_len);
	len += z->wire_len;
	if (array_grow((void **)&b->rev, &b->cap_rev, b->n_rev, 1, sizeof(*b->rev)) < 0 ||
	    array_grow((void **)&b->targets, &b->cap_targets, b->n_targets, len, 1) < 0)
		return -ENOMEM;
	struct reverse_item *r = &b->rev[b->n_rev++];
	memset(r, 0, sizeof(*r));
	r->family = (uint8_t)i->family;
	memcpy(r->addr, i->addr, i->family == AF_INET ? 4 : 16);
	r->len = (uint8_t)len;
	r->off = (uint32_t)b->n_targets;
	memcpy(b->targets + b->n_targets, t, len);
	b->n_targets += len;
	return 0;
}

static int reverse_cmp(const void *a, const void *b)
{
	const struct reverse_item *x = a, *y = b;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

/* The reverse name of an address (RFC 1035 3.5, RFC 3596 2.5), lowercased wire form. */
static size_t reverse_name(const struct reverse_item *r, uint8_t *out)
{
	static const char hex[] = "0123456789abcdef";
	static const uint8_t v4[] = "\7in-addr\4arpa", v6[] = "\3ip6\4arpa";
	size_t n = 0;
	if (r->family == AF_INET) {
		for (int k = 3; k >= 0; k--) {
			char *end = put_uint((char *)out + n + 1, r->addr[k]);
			out[n] = (uint8_t)(end - (char *)out - n - 1);
			n = (size_t)(end - (char *)out);
		}
		memcpy(out + n, v4, sizeof(v4));
		return n + sizeof(v4);
	}
	for (int k = 15; k >= 0; k--) {
		out[n++] = 1;
		out[n++] = (uint8_t)hex[r->addr[k] & 15];
		out[n++] = 1;
		out[n++] = (uint8_t)hex[r->addr[k] >> 4];
	}
	memcpy(out + n, v6, sizeof(v6));
	return n + sizeof(v6);
}

/* The PTR records of rev[from..to) (one address), and its reverse name. A name some zone holds
 * already is left to the zone. */
static void reverse_add(struct snapshot_builder *b, size_t from, size_t to)
{
	struct snapshot *s = b->s;
	uint8_t key[80];
	size_t len = reverse_name(&b->rev[from], key);
	if (name_find(s, key, len) != SNAP_NONE ||
	    array_grow((void **)&s->data, &s->cap_data, s->n_data, 1, sizeof(*s->data)) < 0)
		return;
	struct snap_data *d = &s->data[s->n_data];
	memset(d, 0, sizeof(*d));
	d->ptr.off = (uint32_t)s->n_blob;
	d->ptr.weights = SNAP_NONE;
	for (size_t k = from; k < to; k++) {
		if (k > from && b->rev[k].len == b->rev[k - 1].len &&
		    memcmp(b->targets + b->rev[k].off, b->targets + b->rev[k - 1].off,
			   b->rev[k].len) == 0)
			continue;
		blob_u16(b, 0xC00C);
		size_t at = rr_head(b, T_PTR, s->ttl);
		blob_put(b, b->targets + b->rev[k].off, b->rev[k].len);
		rr_end(b, at);
		d->ptr.count++;
	}
	d->ptr.len = (uint32_t)(s->n_blob - d->ptr.off);
	if (b->err || d->ptr.count > SNAP_MAX_RRS)
		return;
	if (name_insert(s, key, len, UINT8_MAX, SNAP_KIND_REVERSE, SNAP_NONE,
			(uint32_t)s->n_data) != SNAP_NONE)
		s->n_data++;
}

/* Every address's reverse name. Out of memory, some are missing: those are forwarded. */
static void reverse_build(struct snapshot_builder *b)
{
	qsort(b->rev, b->n_rev, sizeof(*b->rev), reverse_cmp);
	for (size_t from = 0, to; from < b->n_rev; from = to) {
		for (to = from + 1; to < b->n_rev && reverse_cmp(&b->rev[from], &b->rev[to]) == 0;
		     to++)
			;
		reverse_add(b, from, to);
	}
	b->err = 0;
}

static int add_instances(struct snapshot_builder *b, size_t zone, const uint8_t *base,
			 size_t base_len, uint32_t svc_idx, const struct nacos_service *svc,
			 struct nacos_diag *d)
{
	char label[INET6_ADDRSTRLEN];
	for (size_t k = 0; k < svc->n_instances; k++) {
		const struct nacos_instance *i = &svc->instances[k];
		ip_label(i, label, sizeof(label));
		uint8_t key[256];
		size_t len;
		if (name_prefix(key, &len, label, base, base_len) < 0) {
			nacos_diag_report(
				d, 1, "%s.%s.%s: name \"%s\" below it is not a DNS name, skipped",
				svc->name, svc->group, b->s->zones[zone].namespace_id, label);
			continue;
		}
		/* One label below the service name: no empty non-terminal between them. */
		uint32_t idx = name_find(b->s, key, len);
		if (idx != SNAP_NONE && b->s->names[idx].kind != SNAP_KIND_ENT) {
			const struct snap_name *n = &b->s->names[idx];
			if (n->svc != svc_idx || n->kind != SNAP_KIND_IPLABEL)
				nacos_diag_report(d, 1,
						  "%s@@%s: name \"%s\" is taken already, skipped",
						  svc->group, svc->name, label);
			continue; /* else the same address listed twice */
		}
		uint32_t data = render_instance(b, i);
		int err = data == SNAP_NONE ? -ENOMEM : 0;
		if (!err)
			name_claim_at(b->s, idx, key, len, zone, SNAP_KIND_IPLABEL, svc_idx, data,
				      &err);
		if (!err)
			err = reverse_note(b, i, label, svc, &b->s->zones[zone]);
		if (err < 0)
			return err;
	}
	return 0;
}

/* <cluster>._cluster.<service>: one name per Nacos cluster. A service with a single cluster
 * shares its records with it. */
static int add_clusters(struct snapshot_builder *b, size_t zone, const uint8_t *base,
			size_t base_len, uint32_t svc_idx, const struct nacos_service *svc,
			uint32_t svc_data, struct addr_w *tmp, struct nacos_diag *d)
{
	bool single = true;
	for (size_t k = 1; k < svc->n_instances; k++)
		if (strcmp(inst_cluster(&svc->instances[k]), inst_cluster(&svc->instances[0])) != 0)
			single = false;
	for (size_t k = 0; k < svc->n_instances; k++) {
		const char *c = inst_cluster(&svc->instances[k]);
		size_t seen = 0;
		while (seen < k && strcmp(inst_cluster(&svc->instances[seen]), c) != 0)
			seen++;
		if (seen < k)
			continue;
		char prefix[300];
		snprintf(prefix, sizeof(prefix), "%s._cluster", c);
		uint32_t data = single ? svc_data : render_data(b, svc, c, base_len, tmp);
		if (data == SNAP_NONE)
			return -ENOMEM;
		int err = add_child(b, zone, prefix, base, base_len, SNAP_KIND_SERVICE, svc_idx,
				    data, d);
		if (err < 0)
			return err;
	}
	return 0;
}

static bool label_is(const uint8_t *l, const char *text)
{
	size_t n = strlen(text);
	return l[0] == n && memcmp(l + 1, text, n) == 0;
}

static bool label_is_proto(const uint8_t *l)
{
	return label_is(l, "_tcp") || label_is(l, "_udp");
}

/* A service name that reads as a name another service derives from its own <rest>: _info.<rest>,
 * <cluster>._cluster.<rest>, and the RFC 2782 forms _x._tcp.<rest> and _tcp.<rest> (or _udp).
 * Such a service would answer in their place, whichever of the two came first. */
static bool reserved_form(const char *name)
{
	uint8_t k[256];
	size_t len = 0, labels = 0;
	if (name_append_text(k, &len, name) < 0)
		return false;
	lower(k, len);
	for (size_t o = 0; o < len; o += 1 + (size_t)k[o])
		labels++;
	if (labels < 2)
		return false;
	const uint8_t *second = k + 1 + k[0];
	if (label_is(k, "_info") || label_is_proto(k))
		return true;
	return labels >= 3 &&
	       (label_is(second, "_cluster") || (k[1] == '_' && label_is_proto(second)));
}

/* Every name of svc in one zone. 1: added, 0: skipped (reported), <0: error. */
static int add_to_zone(struct snapshot_builder *b, size_t zone, const char *group, const char *name,
		       const struct nacos_service *svc, uint32_t svc_idx, struct addr_w *tmp,
		       struct nacos_diag *d)
{
	struct snapshot *s = b->s;
	const struct snap_zone *z = &s->zones[zone];
	uint8_t key[256];
	size_t len;
	int err;
	if (service_owner(z, group, name, key, &len) < 0) {
		nacos_diag_report(d, 1,
				  "service %s@@%s: not a DNS name in zone of namespace %s, skipped",
				  group, name, z->namespace_id);
		return -EINVAL;
	}
	if (reserved_form(name)) {
		nacos_diag_report(
			d, 1,
			"service %s@@%s: its name has the form of another service's _info, "
			"_cluster or SRV (_x._tcp/_udp) name, skipped",
			group, name);
		return 0;
	}
	uint32_t taken = name_find(s, key, len);
	if (taken != SNAP_NONE && s->names[taken].kind != SNAP_KIND_ENT) {
		nacos_diag_report(d, 1, "service %s@@%s: its name is taken already, skipped", group,
				  name);
		return 0;
	}
	uint32_t data = svc ? render_data(b, svc, NULL, len, tmp) : SNAP_NONE;
	if ((svc && data == SNAP_NONE) || ensure_ents(s, key, len, z->wire_len, zone, SNAP_NONE))
		return -ENOMEM;
	name_claim(s, key, len, zone, svc ? SNAP_KIND_SERVICE : SNAP_KIND_PENDING, svc_idx, data,
		   &err);
	if (err < 0 || !svc)
		return err < 0 ? err : 1;
	if ((err = add_child(b, zone, "_info", key, len, SNAP_KIND_INFO, svc_idx, SNAP_NONE, d)) <
		    0 ||
	    (err = add_instances(b, zone, key, len, svc_idx, svc, d)) < 0 ||
	    (err = add_clusters(b, zone, key, len, svc_idx, svc, data, tmp, d)) < 0)
		return err;
	return 1;
}

static void count_service(struct snapshot *s, const struct nacos_service *svc, uint32_t svc_idx)
{
	if (!svc) {
		s->stats.pending++;
		return;
	}
	s->stats.services++;
	s->stats.instances += svc->n_instances;
	s->stats.usable += s->services[svc_idx].usable;
}

/* Adds a service (svc NULL: pending) to every zone serving namespace_id. */
static int add_common(struct snapshot_builder *b, const char *namespace_id, const char *group,
		      const char *name, const struct nacos_service *svc, struct nacos_diag *d)
{
	struct snapshot *s = b->s;
	if (!group || !name)
		return -EINVAL;
	struct addr_w *tmp = NULL;
	if (svc && svc->n_instances && !(tmp = calloc(svc->n_instances, sizeof(*tmp))))
		return -ENOMEM;
	uint32_t svc_idx = service_new(s, group, name, svc);
	int took = 0, err = svc_idx == SNAP_NONE ? -ENOMEM : 0, bad = 0;
	for (size_t z = 0; z < s->n_zones && err == 0; z++) {
		if (strcmp(s->zones[z].namespace_id, namespace_id) != 0)
			continue;
		s->services[svc_idx].namespace_id = s->zones[z].namespace_id;
		int r = add_to_zone(b, z, group, name, svc, svc_idx, tmp, d);
		if (r == -EINVAL)
			bad = 1;
		else if (r < 0)
			err = r;
		else
			took += r;
	}
	free(tmp);
	if (err == 0 && b->err)
		err = b->err;
	if (err == 0 && took == 0 && svc_idx == s->n_services - 1)
		service_deinit(&s->services[--s->n_services]);
	if (err < 0)
		return err;
	if (took)
		count_service(s, svc, svc_idx);
	return took ? took : bad ? -EINVAL : 0;
}

int snapshot_builder_add_service(struct snapshot_builder *b, const char *namespace_id,
				 const struct nacos_service *svc, struct nacos_diag *d)
{
	return add_common(b, namespace_id, svc->group, svc->name, svc, d);
}

int snapshot_builder_add_group(struct snapshot_builder *b, const char *namespace_id,
			       const char *group, struct nacos_diag *d)
{
	struct snapshot *s = b->s;
	int took = 0, err = 0;
	for (size_t z = 0; z < s->n_zones && err == 0; z++) {
		const struct snap_zone *zone = &s->zones[z];
		uint8_t key[256];
		size_t len = 0;
		if (strcmp(zone->namespace_id, namespace_id) != 0)
			continue;
		if (!group || strchr(group, '.') || name_append_text(key, &len, group) < 0 ||
		    len + zone->wire_len > 255) {
			nacos_diag_report(d, 1, "group %s: not a DNS label, skipped",
					  group ? group : "(null)");
			return -EINVAL;
		}
		memcpy(key + len, zone->wire, zone->wire_len);
		len += zone->wire_len;
		lower(key, len);
		uint32_t idx = name_find(s, key, len);
		if (idx == SNAP_NONE &&
		    name_insert(s, key, len, z, SNAP_KIND_GROUP, SNAP_NONE, SNAP_NONE) == SNAP_NONE)
			err = -ENOMEM;
		else if (idx != SNAP_NONE && s->names[idx].kind == SNAP_KIND_ENT)
			s->names[idx].kind = SNAP_KIND_GROUP;
		took += err == 0;
	}
	return err < 0 ? err : took;
}

int snapshot_builder_add_pending(struct snapshot_builder *b, const char *namespace_id,
				 const char *group, const char *name, struct nacos_diag *d)
{
	return add_common(b, namespace_id, group, name, NULL, d);
}

int snapshot_builder_add_registry(struct snapshot_builder *b, const struct nacos_registry *r,
				  struct nacos_diag *d)
{
	for (size_t n = 0; n < r->n_namespaces; n++) {
		const struct nacos_namespace *ns = &r->namespaces[n];
		for (size_t k = 0; k < ns->n_services; k++)
			if (snapshot_builder_add_service(b, ns->id, ns->services[k], d) == -ENOMEM)
				return -ENOMEM;
	}
	return 0;
}

/* ---- zones ---- */

/* Presentation name -> lowercased wire form (root label included). 0 or -EINVAL. */
static int wire_from_text(const char *text, uint8_t *out, size_t *len)
{
	ldns_rdf *rdf = NULL;
	if (ldns_str2rdf_dname(&rdf, text) != LDNS_STATUS_OK || !rdf)
		return -EINVAL;
	*len = ldns_rdf_size(rdf);
	memcpy(out, ldns_rdf_data(rdf), *len);
	ldns_rdf_deep_free(rdf);
	lower(out, *len);
	return 0;
}

/* SOA and NS of a zone. */
static void zone_render(struct snapshot_builder *b, struct snap_zone *z, const uint8_t *host,
			size_t host_len)
{
	struct snapshot *s = b->s;
	static const uint8_t hostmaster[] = "\012hostmaster";
	z->soa_off = (uint32_t)s->n_blob;
	blob_u16(b, 0); /* owner: the apex inside the question, patched */
	size_t at = rr_head(b, T_SOA, s->negative_ttl);
	blob_put(b, host, host_len);
	blob_put(b, hostmaster, 11);
	z->soa_rname_ptr = (uint32_t)(s->n_blob - z->soa_off);
	blob_u16(b, 0);
	blob_u32(b, s->generation);
	blob_u32(b, 60);
	blob_u32(b, 30);
	blob_u32(b, 3600);
	blob_u32(b, s->negative_ttl);
	rr_end(b, at);
	z->soa_len = (uint32_t)(s->n_blob - z->soa_off);
	z->ns_off = (uint32_t)s->n_blob;
	blob_u16(b, 0xC00C);
	at = rr_head(b, T_NS, s->ttl);
	blob_put(b, host, host_len);
	rr_end(b, at);
	z->ns_len = (uint32_t)(s->n_blob - z->ns_off);
}

static int zones_init(struct snapshot_builder *b, const struct snapshot_config *c,
		      struct nacos_diag *d)
{
	struct snapshot *s = b->s;
	uint8_t host[256];
	size_t host_len;
	if (wire_from_text(s->hostname, host, &host_len) < 0) {
		nacos_diag_report(d, 1, "hostname \"%s\" is not a DNS name", s->hostname);
		return -EINVAL;
	}
	for (size_t k = 0; k < c->n_zones && k < SNAPSHOT_MAX_ZONES; k++) {
		struct snap_zone *z = &s->zones[k];
		size_t len;
		if (!c->zones[k].name || wire_from_text(c->zones[k].name, z->wire, &len) < 0) {
			nacos_diag_report(d, 1, "zone \"%s\" is not a DNS name",
					  c->zones[k].name ? c->zones[k].name : "(null)");
			return -EINVAL;
		}
		z->wire_len = (uint16_t)len;
		s->n_zones = k + 1;
		z->namespace_id =
			strdup(c->zones[k].namespace_id ? c->zones[k].namespace_id : "public");
		if (!z->namespace_id)
			return -ENOMEM;
		z->partial = c->zones[k].partial;
		z->open_groups = c->zones[k].open_groups;
		if (name_find(s, z->wire, len) == SNAP_NONE &&
		    name_insert(s, z->wire, len, k, SNAP_KIND_APEX, SNAP_NONE, SNAP_NONE) ==
			    SNAP_NONE)
			return -ENOMEM;
		zone_render(b, z, host, host_len);
	}
	return b->err;
}

static int config_copy(struct snapshot *s, const struct snapshot_config *c, uint32_t generation)
{
	s->generation = generation;
	s->ttl = c->ttl;
	s->negative_ttl = c->negative_ttl;
	s->udp_max = c->udp_max < 512 ? 512 : c->udp_max;
	s->order = c->order;
	s->overflow = c->overflow;
	const char *host = c->hostname ? c->hostname : "localhost";
	size_t hl = strlen(host);
	if (hl > 1 && host[hl - 1] == '.')
		hl--;
	s->hostname = strndup(host, hl);
	s->version = strdup(c->version ? c->version : "nacos-dns");
	return s->hostname && s->version ? 0 : -ENOMEM;
}

struct snapshot_builder *snapshot_builder_new(const struct snapshot_config *c, uint32_t generation,
					      struct nacos_diag *d)
{
	struct snapshot_builder *b = calloc(1, sizeof(*b));
	if (!b || !(b->s = calloc(1, sizeof(*b->s)))) {
		free(b);
		return NULL;
	}
	if (config_copy(b->s, c, generation) < 0 || zones_init(b, c, d) < 0) {
		snapshot_builder_free(b);
		return NULL;
	}
	return b;
}

/* Gives back what the doubling over-allocated; a failed shrink keeps the larger block. */
static void shrink(void **p, size_t *cap, size_t used, size_t elem)
{
	void *np = used ? realloc(*p, used * elem) : NULL;
	if (np) {
		*p = np;
		*cap = used;
	}
}

struct snapshot *snapshot_build(struct snapshot_builder *b)
{
	struct snapshot *s = b->s;
	if (b->rev)
		reverse_build(b);
	free(b->rev);
	free(b->targets);
	free(b);
	s->stats.zones = s->n_zones;
	s->stats.names = s->n_names;
	shrink((void **)&s->blob, &s->cap_blob, s->n_blob, 1);
	shrink((void **)&s->keys, &s->cap_keys, s->n_keys, 1);
	shrink((void **)&s->names, &s->cap_names, s->n_names, sizeof(*s->names));
	shrink((void **)&s->data, &s->cap_data, s->n_data, sizeof(*s->data));
	shrink((void **)&s->weights, &s->cap_weights, s->n_weights, sizeof(*s->weights));
	shrink((void **)&s->services, &s->cap_services, s->n_services, sizeof(*s->services));
	return s;
}

void snapshot_builder_free(struct snapshot_builder *b)
{
	if (!b)
		return;
	snapshot_free(b->s);
	free(b->rev);
	free(b->targets);
	free(b);
}

void snapshot_free(struct snapshot *s)
{
	if (!s)
		return;
	for (size_t k = 0; k < s->n_services; k++)
		service_deinit(&s->services[k]);
	for (size_t k = 0; k < s->n_zones; k++)
		free(s->zones[k].namespace_id);
	free(s->services);
	free(s->names);
	free(s->table);
	free(s->keys);
	free(s->blob);
	free(s->weights);
	free(s->data);
	free(s->hostname);
	free(s->version);
	free(s);
}

uint32_t snapshot_generation(const struct snapshot *s)
{
	return s->generation;
}

void snapshot_get_stats(const struct snapshot *s, struct snapshot_stats *out)
{
	*out = s->stats;
}

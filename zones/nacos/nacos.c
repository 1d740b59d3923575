/* Nacos JSON <-> service records. Everything here distrusts its input: a bad instance is skipped
 * and reported, a bad document is rejected with a message, and no input can crash or leak. */
#include "zones/nacos/nacos.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "zones/base/array.h"

/* Bounds against hostile documents; real Nacos data stays far below them. */
#define NACOS_MAX_INSTANCES 65536
#define NACOS_MAX_META      128
#define NACOS_MAX_STR       4096
#define NACOS_DEFAULT_GROUP "DEFAULT_GROUP"
#define NACOS_DEFAULT_TTL_S 18000 /* nacos.core.auth.plugin.nacos.token.expire.seconds */
/* A "never expires" from an auth plugin (INT64_MAX) becomes a year: no caller overflows. */
#define NACOS_MAX_TOKEN_LEN   4096 /* a JWT of Nacos's is about 150 */
#define NACOS_MAX_TOKEN_TTL_S ((json_int_t)366 * 86400)
#define NACOS_LABEL_MAX       420 /* service label in messages, "GROUP@@name" shortened */

/* What each host message names: the service, the host's index and, once known, its ip. */
struct hostref {
	struct nacos_diag *d;
	const char *svc;
	size_t idx;
	const char *ip;
};

/* Borrowed values of one host object, valid while the document lives. */
struct host_fields {
	const char *ip, *cluster, *id;
	json_int_t port;
	double weight;
	json_t *healthy, *valid, *meta;
	int enabled, ephemeral;
};

/* An instance plus its position in the document, so sorting keeps the first duplicate. */
struct slot {
	struct nacos_instance in;
	size_t pos;
};

struct meta_pair {
	const char *key, *value;
};

void nacos_diag_report(struct nacos_diag *d, size_t skipped, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!d)
		return;
	d->skipped += skipped;
	if (!d->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->warn(d->arg, msg);
}

/* Reports why a host is skipped; returns 1, the "skipped" result of the host parsers. */
__attribute__((format(printf, 2, 3))) static int host_skip(const struct hostref *h, const char *fmt,
							   ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (h->ip)
		nacos_diag_report(h->d, 1, "%s: host %zu (ip \"%.64s\"): %s", h->svc, h->idx, h->ip,
				  why);
	else
		nacos_diag_report(h->d, 1, "%s: host %zu: %s", h->svc, h->idx, why);
	return 1;
}

/* json_loadb leaves the error blank when its first allocation (the lexer buffer) fails. */
static bool json_oom(const json_error_t *err)
{
	return json_error_code(err) == json_error_out_of_memory || err->text[0] == '\0';
}

/* Jackson and fastjson may write null for an absent value; treat both the same. */
static void json_drop_nulls(json_t *obj)
{
	const char *key;
	json_t *v;
	void *tmp;

	if (!json_is_object(obj))
		return;
	json_object_foreach_safe(obj, tmp, key, v)
	{
		if (json_is_null(v))
			json_object_del(obj, key);
	}
}

/* 0 and *root set, -ENOMEM, or -EBADMSG with the reason reported. */
static int nacos_load(const char *body, size_t len, const char *what, struct nacos_diag *d,
		      json_t **root)
{
	json_error_t err;

	*root = body ? json_loadb(body, len, 0, &err) : NULL;
	if (*root)
		return 0;
	if (!body) {
		nacos_diag_report(d, 0, "%s: empty body", what);
		return -EBADMSG;
	}
	if (json_oom(&err))
		return -ENOMEM;
	nacos_diag_report(d, 0, "%s: bad JSON at %d:%d: %s", what, err.line, err.column, err.text);
	return -EBADMSG;
}

static bool str_too_long(const char *s)
{
	return strnlen(s, NACOS_MAX_STR + 1) > NACOS_MAX_STR;
}

/* One key of a declared shape, for naming the culprit of a failed json_unpack_ex: jansson's
 * message says "Expected integer, got string" but not which key. fmt is "{s:X}" or "{s?X}". */
struct shape_key {
	const char *key, *fmt;
};

#define SHAPE_END                                                                                  \
	{                                                                                          \
		NULL, NULL                                                                         \
	}

static const struct shape_key host_shape[] = {{"ip", "{s:s}"},         {"port", "{s:I}"},
					      {"weight", "{s?F}"},     {"enabled", "{s?b}"},
					      {"ephemeral", "{s?b}"},  {"clusterName", "{s?s}"},
					      {"instanceId", "{s?s}"}, SHAPE_END};

/* err->text, prefixed with the first key of shape whose value does not fit. */
static void shape_why(json_t *obj, const json_error_t *err, const struct shape_key *shape,
		      char *why, size_t size)
{
	json_error_t e;

	for (; json_is_object(obj) && shape->key; shape++) {
		if (json_unpack_ex(obj, &e, JSON_VALIDATE_ONLY, shape->fmt, shape->key) < 0) {
			bool missing = json_error_code(&e) == json_error_item_not_found;
			snprintf(why, size, "%s: %s", shape->key, missing ? "missing" : e.text);
			return;
		}
	}
	snprintf(why, size, "%s", err->text);
}

/* A failed json_unpack_ex: -ENOMEM, or -EBADMSG with the reason reported. */
static int nacos_shape_error(json_t *obj, const json_error_t *err, const struct shape_key *shape,
			     const char *what, struct nacos_diag *d)
{
	char why[256];

	if (json_oom(err))
		return -ENOMEM;
	shape_why(obj, err, shape, why, sizeof(why));
	nacos_diag_report(d, 0, "%s: %s", what, why);
	return -EBADMSG;
}

static const struct shape_key name_shape[] = {{"name", "{s:s}"}, {"groupName", "{s?s}"}, SHAPE_END};
static const struct shape_key service_shape[] = {{"hosts", "{s:o}"},
						 {"reachProtectionThreshold", "{s?b}"},
						 {"cacheMillis", "{s?I}"},
						 SHAPE_END};
static const struct shape_key v3_shape[] = {{"code", "{s:I}"}, SHAPE_END};
static const struct shape_key list_shape[] = {{"count", "{s?I}"}, {"doms", "{s:o}"}, SHAPE_END};
static const struct shape_key login_shape[] = {
	{"accessToken", "{s:s}"}, {"tokenTtl", "{s?I}"}, SHAPE_END};
static const struct shape_key registry_shape[] = {{"namespaces", "{s:o}"}, SHAPE_END};

/* ---- one instance ---- */

static int host_unpack(json_t *h, struct hostref *ref, struct host_fields *f)
{
	json_error_t err;

	json_drop_nulls(h);
	if (json_unpack_ex(h, &err, 0, "{s:s, s:I, s?F, s?o, s?o, s?b, s?b, s?s, s?s, s?o}", "ip",
			   &f->ip, "port", &f->port, "weight", &f->weight, "healthy", &f->healthy,
			   "valid", &f->valid, "enabled", &f->enabled, "ephemeral", &f->ephemeral,
			   "clusterName", &f->cluster, "instanceId", &f->id, "metadata",
			   &f->meta) < 0) {
		char why[256];
		if (json_oom(&err))
			return -ENOMEM;
		shape_why(h, &err, host_shape, why, sizeof(why));
		return host_skip(ref, "%s", why);
	}
	ref->ip = f->ip;
	return 0;
}

/* Range and type checks json_unpack cannot express. 0 or 1 (skipped). */
static int host_check(const struct hostref *ref, const struct host_fields *f)
{
	if (str_too_long(f->ip) || str_too_long(f->cluster) || (f->id && str_too_long(f->id)))
		return host_skip(ref, "string longer than %d bytes", NACOS_MAX_STR);
	if (f->port < 0 || f->port > 65535)
		return host_skip(ref, "port %lld outside 0..65535", (long long)f->port);
	if (!isfinite(f->weight) || f->weight < 0 || f->weight > 10000)
		return host_skip(ref, "weight %g outside 0..10000", f->weight);
	if (f->healthy && !json_is_boolean(f->healthy))
		return host_skip(ref, "healthy: expected true or false");
	if (!f->healthy && f->valid && !json_is_boolean(f->valid))
		return host_skip(ref, "valid: expected true or false");
	if (f->meta && !json_is_object(f->meta))
		return host_skip(ref, "metadata: expected an object");
	return 0;
}

/* 0, 1 (not an address: skipped) or -ENOMEM. Stores the canonical text form. */
static int host_addr(const struct hostref *ref, const char *ip, struct nacos_instance *in)
{
	char text[INET6_ADDRSTRLEN];

	memset(in->addr, 0, sizeof(in->addr));
	if (inet_pton(AF_INET, ip, in->addr) == 1)
		in->family = AF_INET;
	else if (inet_pton(AF_INET6, ip, in->addr) == 1)
		in->family = AF_INET6;
	else
		return host_skip(ref, "not an IPv4 or IPv6 address");
	if (!inet_ntop(in->family, in->addr, text, sizeof(text)))
		return host_skip(ref, "not an IPv4 or IPv6 address");
	in->ip = strdup(text);
	return in->ip ? 0 : -ENOMEM;
}

static int meta_pair_cmp(const void *a, const void *b)
{
	return strcmp(((const struct meta_pair *)a)->key, ((const struct meta_pair *)b)->key);
}

/* Usable metadata pairs, borrowed from meta, sorted by key; drops are counted in *dropped. */
static size_t meta_collect(json_t *meta, struct meta_pair *pairs, size_t *dropped)
{
	const char *key;
	json_t *v;
	size_t n = 0;

	json_object_foreach(meta, key, v)
	{
		if (!json_is_string(v) || str_too_long(key) || str_too_long(json_string_value(v)) ||
		    n == NACOS_MAX_META) {
			(*dropped)++;
			continue;
		}
		pairs[n].key = key;
		pairs[n++].value = json_string_value(v);
	}
	qsort(pairs, n, sizeof(*pairs), meta_pair_cmp);
	return n;
}

static int host_meta(const struct hostref *ref, json_t *meta, struct nacos_instance *in)
{
	struct meta_pair pairs[NACOS_MAX_META];
	size_t dropped = 0, n = meta ? meta_collect(meta, pairs, &dropped) : 0;

	if (dropped)
		nacos_diag_report(
			ref->d, 0,
			"%s: host %zu (ip \"%.64s\"): metadata: %zu keys dropped (not a string, "
			"longer than %d bytes, or over %d pairs)",
			ref->svc, ref->idx, ref->ip, dropped, NACOS_MAX_STR, NACOS_MAX_META);
	if (n == 0)
		return 0;
	in->meta = calloc(2 * n, sizeof(char *));
	if (!in->meta)
		return -ENOMEM;
	in->n_meta = n;
	for (size_t i = 0; i < n; i++) {
		in->meta[2 * i] = strdup(pairs[i].key);
		in->meta[2 * i + 1] = strdup(pairs[i].value);
		if (!in->meta[2 * i] || !in->meta[2 * i + 1])
			return -ENOMEM;
	}
	return 0;
}

static void instance_deinit(struct nacos_instance *in)
{
	for (size_t i = 0; in->meta && i < 2 * in->n_meta; i++)
		free(in->meta[i]);
	free(in->meta);
	free(in->ip);
	free(in->cluster);
	free(in->instance_id);
	memset(in, 0, sizeof(*in));
}

/* 0: *in filled. 1: skipped and reported (in left empty). -ENOMEM. */
static int instance_from_json(json_t *h, struct hostref *ref, struct nacos_instance *in)
{
	struct host_fields f = {.cluster = "DEFAULT", .weight = 1.0, .enabled = 1, .ephemeral = 1};
	json_t *healthy;
	int rc;

	if ((rc = host_unpack(h, ref, &f)) != 0 || (rc = host_check(ref, &f)) != 0)
		return rc;
	if ((rc = host_addr(ref, f.ip, in)) != 0)
		return rc;
	healthy = f.healthy ? f.healthy : f.valid; /* "valid" is 1.x's deprecated alias */
	in->port = (uint16_t)f.port;
	in->weight = f.weight;
	in->healthy = healthy ? json_is_true(healthy) : true;
	in->enabled = f.enabled;
	in->ephemeral = f.ephemeral;
	in->cluster = strdup(f.cluster);
	in->instance_id = f.id ? strdup(f.id) : NULL;
	if (!in->cluster || (f.id && !in->instance_id))
		rc = -ENOMEM;
	if (rc == 0)
		rc = host_meta(ref, f.meta, in);
	if (rc < 0)
		instance_deinit(in);
	return rc;
}

/* ---- instance arrays ---- */

static int instance_cmp(const struct nacos_instance *a, const struct nacos_instance *b)
{
	int c;

	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	if ((c = memcmp(a->addr, b->addr, sizeof(a->addr))) != 0)
		return c;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return strcmp(a->cluster, b->cluster);
}

static int slot_cmp(const void *pa, const void *pb)
{
	const struct slot *a = pa, *b = pb;
	int c = instance_cmp(&a->in, &b->in);

	if (c)
		return c;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Sorts the parsed slots and moves them into s, dropping later duplicates of (ip, port, cluster).
 */
static void slots_move(struct slot *slots, size_t n, const char *svc, struct nacos_diag *d,
		       struct nacos_service *s)
{
	qsort(slots, n, sizeof(*slots), slot_cmp);
	for (size_t i = 0; i < n; i++) {
		if (s->n_instances &&
		    instance_cmp(&s->instances[s->n_instances - 1], &slots[i].in) == 0) {
			nacos_diag_report(
				d, 1,
				"%s: host %zu (ip \"%s\"): duplicate of port %u cluster \"%.64s\"",
				svc, slots[i].pos, slots[i].in.ip, slots[i].in.port,
				slots[i].in.cluster);
			instance_deinit(&slots[i].in);
			continue;
		}
		s->instances[s->n_instances++] = slots[i].in;
	}
}

/* Fills s->instances from a JSON array of Instance objects. 0 or -ENOMEM. */
static int instances_from_array(json_t *hosts, const char *svc, struct nacos_diag *d,
				struct nacos_service *s)
{
	size_t cap = json_array_size(hosts), n = 0;
	struct slot *slots;
	int rc = 0;

	if (cap > NACOS_MAX_INSTANCES) { /* refused whole: a cut list would be served as true */
		nacos_diag_report(d, 0, "%s: %zu hosts, over the limit of %d", svc, cap,
				  NACOS_MAX_INSTANCES);
		return -EFBIG;
	}
	slots = calloc(cap ? cap : 1, sizeof(*slots));
	s->instances = calloc(cap ? cap : 1, sizeof(*s->instances));
	if (!slots || !s->instances) {
		free(slots);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cap && rc >= 0; i++) {
		struct hostref ref = {.d = d, .svc = svc, .idx = i};
		rc = instance_from_json(json_array_get(hosts, i), &ref, &slots[n].in);
		if (rc == 0)
			slots[n++].pos = i;
	}
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			instance_deinit(&slots[i].in);
		free(slots);
		return rc;
	}
	slots_move(slots, n, svc, d, s);
	free(slots);
	return 0;
}

/* ---- services ---- */

static struct nacos_service *service_new(const char *group, const char *name)
{
	struct nacos_service *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->group = strdup(group);
	s->name = strdup(name);
	if (!s->group || !s->name) {
		nacos_service_free(s);
		return NULL;
	}
	return s;
}

/* Splits "GROUP@@name" on the first "@@"; a bare name takes group_field or default_group.
 * 0 and *out set, -EBADMSG (reported) or -ENOMEM. */
static int service_named(const char *full, const char *group_field, const char *default_group,
			 struct nacos_diag *d, struct nacos_service **out)
{
	const char *sep = strstr(full, "@@");
	const char *gstart = full, *name = sep ? sep + 2 : full;
	char group[NACOS_MAX_STR + 1];
	size_t glen;

	if (!sep) {
		gstart = group_field     ? group_field
			 : default_group ? default_group
					 : NACOS_DEFAULT_GROUP;
		sep = gstart + strlen(gstart);
	}
	glen = (size_t)(sep - gstart);
	/* Nacos forbids '@' in a group and at the start of a name: with either, the grouped form
	 * written back ("G@@@x", "G@@@@x") would split somewhere else when read again. */
	if (memchr(gstart, '@', glen) || *name == '@') {
		nacos_diag_report(d, 0, "service \"%.200s\": %s", name,
				  *name == '@' ? "name starts with '@'" : "group contains '@'");
		return -EBADMSG;
	}
	if (glen > NACOS_MAX_STR || str_too_long(name)) {
		nacos_diag_report(d, 0, "service \"%.64s...\": name longer than %d bytes", name,
				  NACOS_MAX_STR);
		return -EBADMSG;
	}
	if (glen == 0 || *name == '\0') {
		nacos_diag_report(d, 0, "service \"%.*s@@%.200s\": empty %s",
				  (int)(glen < 200 ? glen : 200), gstart, name,
				  glen == 0 ? "group" : "name");
		return -EBADMSG;
	}
	memcpy(group, gstart, glen);
	group[glen] = '\0';
	*out = service_new(group, name);
	return *out ? 0 : -ENOMEM;
}

static void service_label(const struct nacos_service *s, char *buf, size_t size)
{
	snprintf(buf, size, "%.200s@@%.200s", s->group, s->name);
}

/* The body of a ServiceInfo (nacos-api.md 3.2 and 3.3). 0, -EBADMSG (reported) or -ENOMEM. */
static int service_fill(json_t *root, struct nacos_service *s, struct nacos_diag *d)
{
	char label[NACOS_LABEL_MAX];
	json_t *hosts;
	int protect = 0;
	json_int_t cache = 0;
	json_error_t err;

	service_label(s, label, sizeof(label));
	if (json_unpack_ex(root, &err, 0, "{s:o, s?b, s?I}", "hosts", &hosts,
			   "reachProtectionThreshold", &protect, "cacheMillis", &cache) < 0)
		return nacos_shape_error(root, &err, service_shape, label, d);
	if (!json_is_array(hosts)) {
		nacos_diag_report(d, 0, "%s: hosts: expected an array", label);
		return -EBADMSG;
	}
	if (cache < 0) {
		nacos_diag_report(d, 0, "%s: cacheMillis %lld is negative", label,
				  (long long)cache);
		return -EBADMSG;
	}
	s->protect_threshold = protect;
	s->cache_millis = cache;
	return instances_from_array(hosts, label, d, s);
}

static int service_from_json(json_t *root, const char *default_group, struct nacos_diag *d,
			     struct nacos_service **out)
{
	const char *full, *group = NULL;
	json_error_t err;
	int rc;

	json_drop_nulls(root);
	if (json_unpack_ex(root, &err, 0, "{s:s, s?s}", "name", &full, "groupName", &group) < 0)
		return nacos_shape_error(root, &err, name_shape, "ServiceInfo", d);
	if ((rc = service_named(full, group, default_group, d, out)) != 0)
		return rc;
	if ((rc = service_fill(root, *out, d)) != 0) {
		nacos_service_free(*out);
		*out = NULL;
	}
	return rc;
}

int nacos_parse_instance_list(const char *body, size_t len, const char *default_group,
			      struct nacos_diag *d, struct nacos_service **out)
{
	json_t *root;
	int rc = nacos_load(body, len, "instance list", d, &root);

	*out = NULL;
	if (rc == 0)
		rc = service_from_json(root, default_group, d, out);
	json_decref(root);
	return rc;
}

static int v3_envelope(json_t *root, const char *label, struct nacos_diag *d, json_t **data)
{
	json_int_t code;
	json_t *message = NULL;
	json_error_t err;

	*data = NULL;
	if (json_unpack_ex(root, &err, 0, "{s:I, s?o, s?o}", "code", &code, "message", &message,
			   "data", data) < 0)
		return nacos_shape_error(root, &err, v3_shape, label, d);
	if (code != 0) {
		nacos_diag_report(d, 0, "%s: code %lld: %.200s", label, (long long)code,
				  json_is_string(message) ? json_string_value(message)
							  : "(no message)");
		return -EBADMSG;
	}
	if (!json_is_array(*data)) {
		nacos_diag_report(d, 0, "%s: data: expected an array", label);
		return -EBADMSG;
	}
	return 0;
}

int nacos_parse_v3_instances(const char *body, size_t len, const char *group, const char *name,
			     struct nacos_diag *d, struct nacos_service **out)
{
	char label[NACOS_LABEL_MAX];
	json_t *root, *data;
	int rc;

	*out = NULL;
	if (!group || !name || !*group || !*name)
		return -EINVAL;
	snprintf(label, sizeof(label), "%.200s@@%.200s", group, name);
	if ((rc = nacos_load(body, len, label, d, &root)) != 0)
		return rc;
	if ((rc = v3_envelope(root, label, d, &data)) == 0) {
		*out = service_new(group, name);
		rc = *out ? instances_from_array(data, label, d, *out) : -ENOMEM;
	}
	if (rc < 0) {
		nacos_service_free(*out);
		*out = NULL;
	}
	json_decref(root);
	return rc;
}

/* ---- service list and login ---- */

bool nacos_listed_name_ok(const char *name)
{
	return *name && *name != '@' && !str_too_long(name);
}

static int doms_copy(json_t *doms, struct nacos_diag *d, char ***names, size_t *n)
{
	size_t size = json_array_size(doms), bad = 0;
	json_t *v;
	size_t i;

	*names = calloc(size ? size : 1, sizeof(char *));
	if (!*names)
		return -ENOMEM;
	json_array_foreach(doms, i, v)
	{
		const char *s = json_string_value(v);
		if (!s || !nacos_listed_name_ok(s)) {
			bad++;
			continue;
		}
		if (!((*names)[*n] = strdup(s)))
			return -ENOMEM;
		(*n)++;
	}
	if (bad)
		nacos_diag_report(d, bad,
				  "service list: %zu names skipped (not a string, empty, starting "
				  "with '@' or longer than %d bytes)",
				  bad, NACOS_MAX_STR);
	return 0;
}

int nacos_parse_service_list(const char *body, size_t len, struct nacos_diag *d, char ***names,
			     size_t *n, size_t *total)
{
	json_int_t count = -1;
	json_t *root, *doms;
	json_error_t err;
	int rc;

	*names = NULL;
	*n = 0;
	if ((rc = nacos_load(body, len, "service list", d, &root)) != 0)
		return rc;
	if (json_unpack_ex(root, &err, 0, "{s?I, s:o}", "count", &count, "doms", &doms) < 0) {
		rc = nacos_shape_error(root, &err, list_shape, "service list", d);
	} else if (!json_is_array(doms)) {
		nacos_diag_report(d, 0, "service list: doms: expected an array");
		rc = -EBADMSG;
	} else if ((rc = doms_copy(doms, d, names, n)) == 0) {
		*total = count >= 0 ? (size_t)count : *n;
	}
	if (rc < 0) {
		nacos_strv_free(*names, *n);
		*names = NULL;
		*n = 0;
	}
	json_decref(root);
	return rc;
}

/* ---- gRPC answers (Nacos 2.x and later) ---- */

int nacos_parse_grpc_service(const char *body, size_t len, struct nacos_diag *d,
			     struct nacos_service **out, int64_t *ref_ms)
{
	json_int_t ref = 0;
	json_t *root, *info;
	int rc;

	*out = NULL;
	*ref_ms = 0;
	if ((rc = nacos_load(body, len, "gRPC answer", d, &root)) != 0)
		return rc;
	info = json_object_get(root, "serviceInfo");
	if (!json_is_object(info)) {
		nacos_diag_report(d, 0, "gRPC answer: serviceInfo: expected an object");
		rc = -EBADMSG;
	} else if ((rc = service_from_json(info, NULL, d, out)) == 0) {
		json_unpack(info, "{s?I}", "lastRefTime", &ref);
		*ref_ms = ref > 0 ? (int64_t)ref : 0;
	}
	json_decref(root);
	return rc;
}

int nacos_parse_grpc_service_list(const char *body, size_t len, struct nacos_diag *d, char ***names,
				  size_t *n, size_t *total)
{
	json_int_t count = -1;
	json_t *root, *list = NULL;
	int rc;

	*names = NULL;
	*n = 0;
	if ((rc = nacos_load(body, len, "service list", d, &root)) != 0)
		return rc;
	json_drop_nulls(root);
	json_unpack(root, "{s?I, s?o}", "count", &count, "serviceNames", &list);
	if (!list) { /* a group with no service: Nacos sends no names at all */
		*names = calloc(1, sizeof(char *));
		rc = *names ? 0 : -ENOMEM;
	} else if (!json_is_array(list)) {
		nacos_diag_report(d, 0, "service list: serviceNames: expected an array");
		rc = -EBADMSG;
	} else {
		rc = doms_copy(list, d, names, n);
	}
	if (rc == 0)
		*total = count >= 0 ? (size_t)count : *n;
	if (rc < 0) {
		nacos_strv_free(*names, *n);
		*names = NULL;
		*n = 0;
	}
	json_decref(root);
	return rc;
}

/* The token goes into an HTTP header and every URL: printable ASCII only (a CR or LF would
 * add headers of Nacos's choosing), and short enough that requests still fit. */
static const char *login_token_problem(const char *tok)
{
	size_t n = strlen(tok);
	if (n == 0)
		return "empty accessToken";
	if (n > NACOS_MAX_TOKEN_LEN)
		return "accessToken longer than 4096 characters";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f)
			return "accessToken has a character that is not printable ASCII";
	return NULL;
}

int nacos_parse_login(const char *body, size_t len, struct nacos_diag *d, char **token,
		      int64_t *ttl_s)
{
	json_int_t ttl = NACOS_DEFAULT_TTL_S;
	const char *tok, *why = NULL;
	json_t *root;
	json_error_t err;
	int rc;

	*token = NULL;
	if ((rc = nacos_load(body, len, "login", d, &root)) != 0)
		return rc;
	if (json_unpack_ex(root, &err, 0, "{s:s, s?I}", "accessToken", &tok, "tokenTtl", &ttl) <
	    0) {
		rc = nacos_shape_error(root, &err, login_shape, "login", d);
	} else if ((why = login_token_problem(tok)) || ttl < 0) {
		nacos_diag_report(d, 0, "login: %s", why ? why : "tokenTtl is negative");
		rc = -EBADMSG;
	} else if (!(*token = strdup(tok))) {
		rc = -ENOMEM;
	} else {
		*ttl_s = ttl < NACOS_MAX_TOKEN_TTL_S ? ttl : NACOS_MAX_TOKEN_TTL_S;
	}
	json_decref(root);
	return rc;
}

/* ---- registry container ---- */

/* Binary search; returns the index of id, or where it would go (then *found is false). */
static size_t ns_index(const struct nacos_registry *r, const char *id, bool *found)
{
	size_t lo = 0, hi = r->n_namespaces;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->namespaces[mid].id, id);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int svc_cmp(const struct nacos_service *s, const char *group, const char *name)
{
	int c = strcmp(s->group, group);

	return c ? c : strcmp(s->name, name);
}

static size_t svc_index(const struct nacos_namespace *ns, const char *group, const char *name,
			bool *found)
{
	size_t lo = 0, hi = ns->n_services;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = svc_cmp(ns->services[mid], group, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct nacos_registry *nacos_registry_new(void)
{
	return calloc(1, sizeof(struct nacos_registry));
}

struct nacos_namespace *nacos_registry_find(struct nacos_registry *r, const char *namespace_id)
{
	bool found;
	size_t i = ns_index(r, namespace_id, &found);

	return found ? &r->namespaces[i] : NULL;
}

static struct nacos_namespace *ns_add(struct nacos_registry *r, const char *id)
{
	bool found;
	size_t i = ns_index(r, id, &found);
	char *copy;

	if (found)
		return &r->namespaces[i];
	if (array_grow((void **)&r->namespaces, &r->cap_namespaces, r->n_namespaces, 1,
		       sizeof(*r->namespaces)) < 0)
		return NULL;
	if (!(copy = strdup(id)))
		return NULL;
	memmove(&r->namespaces[i + 1], &r->namespaces[i],
		(r->n_namespaces - i) * sizeof(*r->namespaces));
	r->namespaces[i] = (struct nacos_namespace){.id = copy};
	r->n_namespaces++;
	return &r->namespaces[i];
}

int nacos_registry_put_take(struct nacos_registry *r, const char *namespace_id,
			    struct nacos_service *svc)
{
	struct nacos_namespace *ns = ns_add(r, namespace_id);
	bool found;
	size_t i;

	if (!ns)
		return -ENOMEM;
	i = svc_index(ns, svc->group, svc->name, &found);
	if (found) {
		nacos_service_free(ns->services[i]);
		ns->services[i] = svc;
		return 0;
	}
	if (array_grow((void **)&ns->services, &ns->cap_services, ns->n_services, 1,
		       sizeof(*ns->services)) < 0)
		return -ENOMEM;
	memmove(&ns->services[i + 1], &ns->services[i],
		(ns->n_services - i) * sizeof(*ns->services));
	ns->services[i] = svc;
	ns->n_services++;
	return 0;
}

struct nacos_service *nacos_registry_get(struct nacos_registry *r, const char *namespace_id,
					 const char *group, const char *name)
{
	struct nacos_namespace *ns = nacos_registry_find(r, namespace_id);
	bool found;
	size_t i;

	if (!ns)
		return NULL;
	i = svc_index(ns, group, name, &found);
	return found ? ns->services[i] : NULL;
}

int nacos_registry_remove(struct nacos_registry *r, const char *namespace_id, const char *group,
			  const char *name)
{
	struct nacos_namespace *ns = nacos_registry_find(r, namespace_id);
	bool found;
	size_t i;

	if (!ns)
		return -ENOENT;
	i = svc_index(ns, group, name, &found);
	if (!found)
		return -ENOENT;
	nacos_service_free(ns->services[i]);
	ns->n_services--;
	memmove(&ns->services[i], &ns->services[i + 1],
		(ns->n_services - i) * sizeof(*ns->services));
	return 0;
}

void nacos_registry_free(struct nacos_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_namespaces; i++) {
		struct nacos_namespace *ns = &r->namespaces[i];
		for (size_t j = 0; j < ns->n_services; j++)
			nacos_service_free(ns->services[j]);
		free(ns->services);
		free(ns->id);
	}
	free(r->namespaces);
	free(r);
}

void nacos_registry_free_lent(struct nacos_registry *r)
{
	for (size_t i = 0; r && i < r->n_namespaces; i++)
		for (size_t k = 0; k < r->namespaces[i].n_services; k++)
			r->namespaces[i].services[k] = NULL; /* nacos_service_free(NULL): no-op */
	nacos_registry_free(r);
}

/* ---- registry file ---- */

/* The cache file's "origin" extra; a field of the wrong type is ignored like an unknown key. */
static int origin_from_json(json_t *svc_json, struct nacos_origin *o)
{
	json_t *origin = json_object_get(svc_json, "origin");
	json_t *server = json_object_get(origin, "server"), *api = json_object_get(origin, "api");
	json_t *fetched = json_object_get(origin, "fetchedMs");
	json_t *stale = json_object_get(origin, "stale");

	if (json_is_string(server) && !str_too_long(json_string_value(server)) &&
	    !(o->server = strdup(json_string_value(server))))
		return -ENOMEM;
	if (json_is_string(api) && !str_too_long(json_string_value(api)) &&
	    !(o->api = strdup(json_string_value(api))))
		return -ENOMEM;
	if (json_is_integer(fetched))
		o->fetched_ms = json_integer_value(fetched);
	o->stale = json_is_true(stale);
	return 0;
}

/* One ServiceInfo of a namespace: a bad one is skipped and counted, not fatal. */
static int registry_add_json(struct nacos_registry *r, const char *id, json_t *v,
			     struct nacos_diag *d)
{
	struct nacos_service *svc;
	int rc = service_from_json(v, NULL, d, &svc);

	if (rc == -EBADMSG || rc == -EFBIG) {
		nacos_diag_report(d, 1, "namespace \"%.200s\": service skipped", id);
		return 0;
	}
	if (rc < 0)
		return rc;
	if (nacos_registry_get(r, id, svc->group, svc->name)) {
		nacos_diag_report(d, 1,
				  "namespace \"%.200s\": %.200s@@%.200s: duplicate service skipped",
				  id, svc->group, svc->name);
		nacos_service_free(svc);
		return 0;
	}
	if ((rc = origin_from_json(v, &svc->origin)) == 0)
		rc = nacos_registry_put_take(r, id, svc);
	if (rc < 0)
		nacos_service_free(svc);
	return rc;
}

static int registry_add_namespace(struct nacos_registry *r, const char *id, json_t *services,
				  struct nacos_diag *d)
{
	json_t *v;
	size_t i;
	int rc;

	if (!json_is_array(services)) {
		nacos_diag_report(d, 0, "registry: namespace \"%.200s\": expected an array", id);
		return -EBADMSG;
	}
	if (str_too_long(id)) {
		nacos_diag_report(d, 1, "registry: namespace id longer than %d bytes skipped",
				  NACOS_MAX_STR);
		return 0;
	}
	if (!ns_add(r, id))
		return -ENOMEM;
	json_array_foreach(services, i, v)
	{
		if ((rc = registry_add_json(r, id, v, d)) < 0)
			return rc;
	}
	return 0;
}

static int registry_from_json(json_t *root, struct nacos_diag *d, struct nacos_registry *r)
{
	json_t *nss, *services;
	const char *id;
	json_error_t err;
	int rc;

	if (json_unpack_ex(root, &err, 0, "{s:o}", "namespaces", &nss) < 0)
		return nacos_shape_error(root, &err, registry_shape, "registry", d);
	if (!json_is_object(nss)) {
		nacos_diag_report(d, 0, "registry: namespaces: expected an object");
		return -EBADMSG;
	}
	json_object_foreach(nss, id, services)
	{
		if ((rc = registry_add_namespace(r, id, services, d)) < 0)
			return rc;
	}
	return 0;
}

int nacos_registry_parse(const char *body, size_t len, struct nacos_diag *d,
			 struct nacos_registry **out)
{
	json_t *root;
	int rc;

	*out = NULL;
	if ((rc = nacos_load(body, len, "registry", d, &root)) != 0)
		return rc;
	*out = nacos_registry_new();
	rc = *out ? registry_from_json(root, d, *out) : -ENOMEM;
	if (rc < 0) {
		nacos_registry_free(*out);
		*out = NULL;
	}
	json_decref(root);
	return rc;
}

/* ---- service objects ---- */

static int instance_copy(struct nacos_instance *dst, const struct nacos_instance *src)
{
	*dst = *src;
	dst->ip = strdup(src->ip);
	dst->cluster = strdup(src->cluster);
	dst->instance_id = src->instance_id ? strdup(src->instance_id) : NULL;
	dst->meta = src->n_meta ? calloc(2 * src->n_meta, sizeof(char *)) : NULL;
	if (!dst->ip || !dst->cluster || (src->instance_id && !dst->instance_id) ||
	    (src->n_meta && !dst->meta)) {
		instance_deinit(dst);
		return -ENOMEM;
	}
	for (size_t i = 0; i < 2 * src->n_meta; i++) {
		if (!(dst->meta[i] = strdup(src->meta[i]))) {
			instance_deinit(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

static int origin_copy(struct nacos_origin *dst, const struct nacos_origin *src)
{
	*dst = *src;
	dst->server = src->server ? strdup(src->server) : NULL;
	dst->api = src->api ? strdup(src->api) : NULL;
	if ((src->server && !dst->server) || (src->api && !dst->api))
		return -ENOMEM;
	return 0;
}

struct nacos_service *nacos_service_clone(const struct nacos_service *s)
{
	struct nacos_service *c = service_new(s->group, s->name);

	if (!c)
		return NULL;
	c->protect_threshold = s->protect_threshold;
	c->cache_millis = s->cache_millis;
	if (origin_copy(&c->origin, &s->origin) < 0)
		goto fail;
	c->instances = calloc(s->n_instances ? s->n_instances : 1, sizeof(*c->instances));
	if (!c->instances)
		goto fail;
	for (; c->n_instances < s->n_instances; c->n_instances++) {
		if (instance_copy(&c->instances[c->n_instances], &s->instances[c->n_instances]) < 0)
			goto fail;
	}
	return c;
fail:
	nacos_service_free(c);
	return NULL;
}

static bool str_eq_null(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool instance_same(const struct nacos_instance *a, const struct nacos_instance *b)
{
	if (a->family != b->family || memcmp(a->addr, b->addr, sizeof(a->addr)) != 0 ||
	    a->port != b->port || a->weight != b->weight || a->healthy != b->healthy ||
	    a->enabled != b->enabled || a->ephemeral != b->ephemeral ||
	    strcmp(a->cluster, b->cluster) != 0 || !str_eq_null(a->instance_id, b->instance_id) ||
	    a->n_meta != b->n_meta)
		return false;
	for (size_t i = 0; i < 2 * a->n_meta; i++) {
		if (strcmp(a->meta[i], b->meta[i]) != 0)
			return false;
	}
	return true;
}

bool nacos_service_same_instances(const struct nacos_service *a, const struct nacos_service *b)
{
	if (a->n_instances != b->n_instances || a->protect_threshold != b->protect_threshold ||
	    a->cache_millis != b->cache_millis)
		return false;
	for (size_t i = 0; i < a->n_instances; i++) {
		if (!instance_same(&a->instances[i], &b->instances[i]))
			return false;
	}
	return true;
}

void nacos_service_free(struct nacos_service *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_instances; i++)
		instance_deinit(&s->instances[i]);
	free(s->instances);
	free(s->group);
	free(s->name);
	free(s->origin.server);
	free(s->origin.api);
	free(s);
}

void nacos_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

bool nacos_instance_usable(const struct nacos_service *s, const struct nacos_instance *i)
{
	return i->enabled && i->weight > 0 && (i->healthy || s->protect_threshold);
}

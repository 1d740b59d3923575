/* zones/nacos.c: data-driven parser cases (nacos/{valid,invalid}/<case>), the registry
 * container, limits, and a failing-allocator loop over every valid case. */
#include "zones/nacos/nacos.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "check.h"

/* ---- buffers and files ---- */

struct sbuf {
	char *p;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	CHECK(n >= 0);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		CHECK(b->p);
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	if (!f)
		return NULL;
	CHECK(fseek(f, 0, SEEK_END) == 0);
	size = ftell(f);
	CHECK(size >= 0);
	rewind(f);
	buf = malloc((size_t)size + 1);
	CHECK(buf);
	CHECK(fread(buf, 1, (size_t)size, f) == (size_t)size);
	buf[size] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)size;
	return buf;
}

/* Counts reports and keeps the last one. */
struct reports {
	size_t n;
	char last[1024];
	bool quiet;
};

static void on_warn(void *arg, const char *msg)
{
	struct reports *r = arg;

	r->n++;
	snprintf(r->last, sizeof(r->last), "%s", msg);
	if (!r->quiet && getenv("TEST_VERBOSE"))
		fprintf(stderr, "  report: %s\n", msg);
}

/* ---- canonical text rendering of parse results ---- */

static void render_service(struct sbuf *b, const struct nacos_service *s)
{
	const struct nacos_origin *o = &s->origin;

	sb_printf(b, "service %s %s protect=%d cacheMillis=%lld\n", s->group, s->name,
		  s->protect_threshold, (long long)s->cache_millis);
	if (o->server || o->api || o->fetched_ms || o->stale)
		sb_printf(b, "origin server=%s api=%s fetchedMs=%lld stale=%d\n",
			  o->server ? o->server : "-", o->api ? o->api : "-",
			  (long long)o->fetched_ms, o->stale);
	for (size_t i = 0; i < s->n_instances; i++) {
		const struct nacos_instance *in = &s->instances[i];
		sb_printf(b,
			  "%s %s port=%u weight=%g healthy=%d enabled=%d ephemeral=%d cluster=%s",
			  in->family == AF_INET ? "v4" : "v6", in->ip, in->port, in->weight,
			  in->healthy, in->enabled, in->ephemeral, in->cluster);
		sb_printf(b, " id=%s meta={", in->instance_id ? in->instance_id : "-");
		for (size_t j = 0; j < in->n_meta; j++)
			sb_printf(b, "%s%s=%s", j ? "," : "", in->meta[2 * j], in->meta[2 * j + 1]);
		sb_printf(b, "}\n");
	}
}

static void render_registry(struct sbuf *b, const struct nacos_registry *r)
{
	for (size_t i = 0; i < r->n_namespaces; i++) {
		sb_printf(b, "namespace %s\n", r->namespaces[i].id);
		for (size_t j = 0; j < r->namespaces[i].n_services; j++)
			render_service(b, r->namespaces[i].services[j]);
	}
}

/* ---- one case: the "api" file picks the parser, default instance-list ---- */

struct api {
	char kind[32], arg1[128], arg2[128];
};

static void api_read(const char *dir, struct api *a)
{
	char path[1024], *text;
	int n;

	memset(a, 0, sizeof(*a));
	snprintf(path, sizeof(path), "%s/api", dir);
	text = read_file(path, NULL);
	if (!text) {
		strcpy(a->kind, "instance-list");
		return;
	}
	n = sscanf(text, "%31s %127s %127s", a->kind, a->arg1, a->arg2);
	CHECK(n >= 1);
	free(text);
}

/* Dumps r, parses the dump back and checks that nothing changed. */
static void check_round_trip(const struct nacos_registry *r)
{
	struct reports rep = {0};
	struct nacos_diag d = {.warn = on_warn, .arg = &rep};
	struct nacos_registry *back = NULL;
	struct sbuf a = {0}, b = {0};
	char *dump = nacos_registry_dump(r);

	CHECK(dump);
	CHECK_INT_EQ(nacos_registry_parse(dump, strlen(dump), &d, &back), 0);
	CHECK_INT_EQ(rep.n, 0);
	render_registry(&a, r);
	render_registry(&b, back);
	CHECK_STR_EQ(a.p ? a.p : "", b.p ? b.p : "");
	for (size_t i = 0; i < r->n_namespaces; i++) {
		for (size_t j = 0; j < r->namespaces[i].n_services; j++) {
			const struct nacos_service *s = r->namespaces[i].services[j];
			CHECK(nacos_service_same_instances(
				s,
				nacos_registry_get(back, r->namespaces[i].id, s->group, s->name)));
		}
	}
	free(a.p);
	free(b.p);
	free(dump);
	nacos_registry_free(back);
}

static int run_service(const struct api *a, const char *body, size_t len, struct nacos_diag *d,
		       struct sbuf *out, bool round_trip)
{
	struct nacos_service *s = NULL;
	struct nacos_registry *r;
	int rc;

	if (strcmp(a->kind, "v3") == 0)
		rc = nacos_parse_v3_instances(body, len, a->arg1, a->arg2, d, &s);
	else
		rc = nacos_parse_instance_list(body, len, a->arg1[0] ? a->arg1 : NULL, d, &s);
	if (rc != 0) {
		CHECK(!s);
		return rc;
	}
	render_service(out, s);
	if (!round_trip) {
		nacos_service_free(s);
		return 0;
	}
	r = nacos_registry_new();
	CHECK(r);
	CHECK_INT_EQ(nacos_registry_put_take(r, "public", s), 0);
	check_round_trip(r);
	/* A registry lent the service frees itself only: s is still whole (ASan checks). */
	struct nacos_registry *lent = nacos_registry_new();
	CHECK(lent);
	CHECK_INT_EQ(nacos_registry_put_take(lent, "public", s), 0);
	nacos_registry_free_lent(lent);
	nacos_registry_free_lent(NULL);
	CHECK(s->name && s->group);
	nacos_registry_free(r);
	return 0;
}

static int run_list(const char *body, size_t len, struct nacos_diag *d, struct sbuf *out)
{
	char **names = NULL;
	size_t n = 0, total = 0;
	int rc = nacos_parse_service_list(body, len, d, &names, &n, &total);

	if (rc != 0) {
		CHECK(!names);
		return rc;
	}
	sb_printf(out, "total %zu\n", total);
	for (size_t i = 0; i < n; i++)
		sb_printf(out, "name %s\n", names[i]);
	nacos_strv_free(names, n);
	return 0;
}

static int run_login(const char *body, size_t len, struct nacos_diag *d, struct sbuf *out)
{
	char *token = NULL;
	int64_t ttl = -1;
	int rc = nacos_parse_login(body, len, d, &token, &ttl);

	if (rc != 0) {
		CHECK(!token);
		return rc;
	}
	sb_printf(out, "token %s ttl %lld\n", token, (long long)ttl);
	free(token);
	return 0;
}

static int run_registry(const char *body, size_t len, struct nacos_diag *d, struct sbuf *out,
			bool round_trip)
{
	struct nacos_registry *r = NULL;
	int rc = nacos_registry_parse(body, len, d, &r);

	if (rc != 0) {
		CHECK(!r);
		return rc;
	}
	render_registry(out, r);
	if (round_trip)
		check_round_trip(r);
	nacos_registry_free(r);
	return 0;
}

static int run_parser(const struct api *a, const char *body, size_t len, struct nacos_diag *d,
		      struct sbuf *out, bool round_trip)
{
	if (strcmp(a->kind, "instance-list") == 0 || strcmp(a->kind, "v3") == 0)
		return run_service(a, body, len, d, out, round_trip);
	if (strcmp(a->kind, "service-list") == 0)
		return run_list(body, len, d, out);
	if (strcmp(a->kind, "login") == 0)
		return run_login(body, len, d, out);
	CHECK(strcmp(a->kind, "registry") == 0);
	return run_registry(body, len, d, out, round_trip);
}

static void run_valid(const char *dir)
{
	char path[1024];
	struct api a;
	struct reports rep = {0};
	struct nacos_diag d = {.warn = on_warn, .arg = &rep};
	struct sbuf out = {0};
	size_t len;
	char *body, *expected;

	api_read(dir, &a);
	snprintf(path, sizeof(path), "%s/input.json", dir);
	CHECK((body = read_file(path, &len)) != NULL);
	snprintf(path, sizeof(path), "%s/expected", dir);
	CHECK((expected = read_file(path, NULL)) != NULL);
	CHECK_INT_EQ(run_parser(&a, body, len, &d, &out, true), 0);
	sb_printf(&out, "reports %zu\n", rep.n);
	if (strcmp(out.p, expected) != 0)
		fprintf(stderr, "%s: got\n%s", dir, out.p);
	CHECK_STR_EQ(out.p, expected);
	free(out.p);
	free(body);
	free(expected);
}

static void run_invalid(const char *dir)
{
	char path[1024];
	struct api a;
	struct reports rep = {0};
	struct nacos_diag d = {.warn = on_warn, .arg = &rep};
	struct sbuf out = {0};
	size_t len;
	char *body, *error;

	api_read(dir, &a);
	snprintf(path, sizeof(path), "%s/input.json", dir);
	CHECK((body = read_file(path, &len)) != NULL);
	snprintf(path, sizeof(path), "%s/error", dir);
	CHECK((error = read_file(path, NULL)) != NULL);
	error[strcspn(error, "\n")] = '\0';
	CHECK_INT_EQ(run_parser(&a, body, len, &d, &out, false), -EBADMSG);
	CHECK(rep.n >= 1);
	if (!strstr(rep.last, error))
		fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", dir, rep.last, error);
	CHECK(strstr(rep.last, error) != NULL);
	free(out.p);
	free(body);
	free(error);
}

/* Calls fn for every case directory under root; returns how many there were. */
static size_t for_each_case(const char *root, void (*fn)(const char *dir))
{
	DIR *dir = opendir(root);
	struct dirent *e;
	size_t n = 0;
	char path[1024];

	CHECK(dir);
	while ((e = readdir(dir)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, e->d_name);
		fn(path);
		n++;
	}
	closedir(dir);
	return n;
}

/* ---- failing allocator: jansson's allocations fail at the Nth call ---- */

static long alloc_calls, alloc_fail_at = -1;

static void *failing_malloc(size_t size)
{
	if (alloc_fail_at >= 0 && alloc_calls++ == alloc_fail_at)
		return NULL;
	return malloc(size);
}

/* How many allocations json_loadb makes for this document. */
static long loader_allocs(const char *body, size_t len)
{
	json_t *root;

	alloc_calls = 0;
	alloc_fail_at = LONG_MAX;
	root = json_loadb(body, len, 0, NULL);
	alloc_fail_at = -1;
	CHECK(root);
	json_decref(root);
	return alloc_calls;
}

static void chaos_case(const char *dir)
{
	char path[1024], *body, *expected;
	struct api a;
	size_t len;

	api_read(dir, &a);
	snprintf(path, sizeof(path), "%s/input.json", dir);
	CHECK((body = read_file(path, &len)) != NULL);
	snprintf(path, sizeof(path), "%s/expected", dir);
	CHECK((expected = read_file(path, NULL)) != NULL);
	/* Failures start after json_loadb's own allocations: jansson's lexer is not safe
	 * against a failing allocator (it drops the byte and can then write past its buffer,
	 * akheron/jansson#362), which no caller can work around. */
	for (long n = loader_allocs(body, len);; n++) {
		struct reports rep = {.quiet = true};
		struct nacos_diag d = {.warn = on_warn, .arg = &rep};
		struct sbuf out = {0};
		int rc;

		alloc_calls = 0;
		alloc_fail_at = n;
		rc = run_parser(&a, body, len, &d, &out, false);
		alloc_fail_at = -1;
		if (rc != 0 && rc != -ENOMEM)
			fprintf(stderr, "%s: allocation %ld: rc %d: %s\n", dir, n, rc, rep.last);
		CHECK(rc == 0 || rc == -ENOMEM);
		if (rc == 0) {
			sb_printf(&out, "reports %zu\n", rep.n);
			CHECK_STR_EQ(out.p, expected); /* an unreported failure would show here */
		}
		free(out.p);
		if (rc == 0 && alloc_calls <= n)
			break; /* the Nth allocation never happened: every failure point was tried
				*/
	}
	free(body);
	free(expected);
}

static void test_dump_chaos(void)
{
	char *body = read_file("nacos/valid/registry/input.json", NULL), *dump = NULL;
	struct nacos_registry *r = NULL;

	CHECK(body);
	CHECK_INT_EQ(nacos_registry_parse(body, strlen(body), NULL, &r), 0);
	for (long n = 0;; n++) {
		alloc_calls = 0;
		alloc_fail_at = n;
		dump = nacos_registry_dump(r);
		alloc_fail_at = -1;
		if (dump && alloc_calls <= n)
			break;
		free(dump);
	}
	CHECK(strstr(dump, "\"namespaces\""));
	free(dump);
	free(body);
	nacos_registry_free(r);
}

/* ---- the container and object functions ---- */

static struct nacos_service *svc_make(const char *group, const char *name, const char *ip)
{
	char body[512];
	struct nacos_service *s = NULL;

	snprintf(body, sizeof(body),
		 "{\"name\":\"%s@@%s\",\"hosts\":[{\"ip\":\"%s\",\"port\":80,"
		 "\"metadata\":{\"b\":\"2\",\"a\":\"1\"}}]}",
		 group, name, ip);
	CHECK_INT_EQ(nacos_parse_instance_list(body, strlen(body), NULL, NULL, &s), 0);
	return s;
}

static void test_registry_container(void)
{
	struct nacos_registry *r = nacos_registry_new();
	struct nacos_service *s;

	CHECK(r);
	CHECK(!nacos_registry_find(r, "public"));
	CHECK_INT_EQ(nacos_registry_put_take(r, "public", svc_make("G", "b", "10.0.0.2")), 0);
	CHECK_INT_EQ(nacos_registry_put_take(r, "dev", svc_make("G", "x", "10.0.0.9")), 0);
	CHECK_INT_EQ(nacos_registry_put_take(r, "public", svc_make("G", "a", "10.0.0.1")), 0);
	CHECK_INT_EQ(nacos_registry_put_take(r, "public", svc_make("A", "z", "10.0.0.3")), 0);
	CHECK_INT_EQ(r->n_namespaces, 2);
	CHECK_STR_EQ(r->namespaces[0].id, "dev"); /* sorted, so dumps are stable */
	CHECK_INT_EQ(nacos_registry_find(r, "public")->n_services, 3);
	CHECK_STR_EQ(nacos_registry_find(r, "public")->services[0]->group, "A");
	CHECK_STR_EQ(nacos_registry_get(r, "public", "G", "a")->instances[0].ip, "10.0.0.1");
	CHECK(!nacos_registry_get(r, "public", "g", "a")); /* case-sensitive like Nacos */
	CHECK(!nacos_registry_get(r, "nope", "G", "a"));
	/* replacing frees the old copy (ASan would see a leak otherwise) */
	CHECK_INT_EQ(nacos_registry_put_take(r, "public", svc_make("G", "a", "10.0.0.7")), 0);
	CHECK_INT_EQ(nacos_registry_find(r, "public")->n_services, 3);
	CHECK_STR_EQ(nacos_registry_get(r, "public", "G", "a")->instances[0].ip, "10.0.0.7");
	CHECK_INT_EQ(nacos_registry_remove(r, "public", "G", "a"), 0);
	CHECK_INT_EQ(nacos_registry_remove(r, "public", "G", "a"), -ENOENT);
	CHECK_INT_EQ(nacos_registry_remove(r, "nope", "G", "b"), -ENOENT);
	CHECK(!nacos_registry_get(r, "public", "G", "a"));
	CHECK(nacos_registry_get(r, "public", "G", "b"));
	for (int i = 0; i < 100; i++) {
		char name[16];
		snprintf(name, sizeof(name), "s%03d", 99 - i);
		CHECK_INT_EQ(nacos_registry_put_take(r, "many", svc_make("G", name, "::1")), 0);
	}
	s = nacos_registry_find(r, "many")->services[42];
	CHECK_STR_EQ(s->name, "s042");
	check_round_trip(r);
	nacos_registry_free(r);
	nacos_registry_free(NULL);
}

static void test_clone_and_compare(void)
{
	struct nacos_service *a = svc_make("G", "svc", "2001:db8::1"), *b;

	a->origin.server = strdup("http://127.0.0.1:8848");
	a->origin.fetched_ms = 1714000000000;
	CHECK((b = nacos_service_clone(a)) != NULL);
	CHECK(nacos_service_same_instances(a, b));
	CHECK_STR_EQ(b->origin.server, "http://127.0.0.1:8848");
	CHECK_STR_EQ(b->instances[0].meta[0], "a"); /* sorted by key */
	b->origin.stale = true;                     /* origin is not compared */
	CHECK(nacos_service_same_instances(a, b));
	free(b->instances[0].meta[3]);
	b->instances[0].meta[3] = strdup("3");
	CHECK(!nacos_service_same_instances(a, b));
	nacos_service_free(b);
	CHECK((b = nacos_service_clone(a)) != NULL);
	b->protect_threshold = true;
	CHECK(!nacos_service_same_instances(a, b));
	b->protect_threshold = false;
	b->instances[0].weight = 2;
	CHECK(!nacos_service_same_instances(a, b));
	nacos_service_free(b);
	nacos_service_free(a);
	nacos_service_free(NULL);
	nacos_strv_free(NULL, 0);
}

static void test_usable(void)
{
	struct nacos_service s = {0};
	struct nacos_instance i = {.weight = 1, .healthy = true, .enabled = true};

	CHECK(nacos_instance_usable(&s, &i));
	i.weight = 0;
	CHECK(!nacos_instance_usable(&s, &i));
	i.weight = 1;
	i.healthy = false;
	CHECK(!nacos_instance_usable(&s, &i));
	s.protect_threshold = true;
	CHECK(nacos_instance_usable(&s, &i));
	i.enabled = false;
	CHECK(!nacos_instance_usable(&s, &i));
}

/* Hosts and metadata beyond the limits are skipped and reported, the rest is kept. */
static void test_limits(void)
{
	struct reports rep = {.quiet = true};
	struct nacos_diag d = {.warn = on_warn, .arg = &rep};
	struct nacos_service *s = NULL;
	struct sbuf b = {0};
	char long_ip[4200];

	sb_printf(&b, "{\"name\":\"G@@big\",\"hosts\":[");
	for (unsigned i = 0; i < 65537; i++)
		sb_printf(&b, "%s{\"ip\":\"10.%u.%u.%u\",\"port\":1}", i ? "," : "", i >> 16,
			  (i >> 8) & 255, i & 255);
	sb_printf(&b, "]}");
	/* One host over the limit: the list is refused whole, never served cut short. */
	CHECK_INT_EQ(nacos_parse_instance_list(b.p, b.len, NULL, &d, &s), -EFBIG);
	CHECK(!s);
	CHECK_INT_EQ(rep.n, 1);
	CHECK(strstr(rep.last, "65537 hosts, over the limit of 65536"));
	b.len -= strlen(",{\"ip\":\"10.1.0.0\",\"port\":1}]}");
	sb_printf(&b, "]}");
	CHECK_INT_EQ(nacos_parse_instance_list(b.p, b.len, NULL, &d, &s), 0);
	CHECK_INT_EQ(s->n_instances, 65536);
	CHECK_STR_EQ(s->instances[65535].ip, "10.0.255.255");
	nacos_service_free(s);

	memset(long_ip, '1', sizeof(long_ip));
	long_ip[4097] = '\0';
	b.len = 0;
	sb_printf(&b, "{\"name\":\"G@@m\",\"hosts\":[{\"ip\":\"%s\",\"port\":1},", long_ip);
	sb_printf(&b, "{\"ip\":\"127.0.0.1\",\"port\":2,\"metadata\":{");
	for (int i = 0; i < 130; i++)
		sb_printf(&b, "%s\"k%03d\":\"v\"", i ? "," : "", i);
	sb_printf(&b, ",\"long\":\"%s\"}}]}", long_ip);
	rep.n = 0;
	d.skipped = 0;
	CHECK_INT_EQ(nacos_parse_instance_list(b.p, b.len, NULL, &d, &s), 0);
	CHECK_INT_EQ(s->n_instances, 1);
	CHECK_INT_EQ(s->instances[0].n_meta, 128);
	CHECK_INT_EQ(d.skipped, 1); /* the long ip; dropped metadata keys are not instances */
	CHECK_INT_EQ(rep.n, 2);
	CHECK(strstr(rep.last, "3 keys dropped"));
	nacos_service_free(s);
	free(b.p);
}

static void test_arguments(void)
{
	struct nacos_service *s = (struct nacos_service *)&s;
	struct nacos_registry *r = NULL;

	CHECK_INT_EQ(nacos_parse_v3_instances("{}", 2, "", "svc", NULL, &s), -EINVAL);
	CHECK(!s);
	CHECK_INT_EQ(nacos_parse_instance_list(NULL, 0, NULL, NULL, &s), -EBADMSG);
	CHECK_INT_EQ(nacos_registry_parse("", 0, NULL, &r), -EBADMSG);
	CHECK(!r);
}

int main(void)
{
	json_set_alloc_funcs(failing_malloc, free);
	CHECK(for_each_case("nacos/valid", run_valid) >= 10);
	CHECK(for_each_case("nacos/invalid", run_invalid) >= 10);
	test_registry_container();
	test_clone_and_compare();
	test_usable();
	test_limits();
	test_arguments();
	for_each_case("nacos/valid", chaos_case);
	test_dump_chaos();
	return 0;
}

#include "resolver/configset.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/config_internal.h"
#include "resolver/configval.h"
#include "resolver/readfile.h"

/* A password file holds one line. */
#define CONFIG_MAX_PASSWORD_FILE 4096

/* ---- setting one key ---- */

static int parse_ulong(const char *v, unsigned long *out)
{
	char *end;
	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	*out = strtoul(v, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static int set_uint(struct config *c, const struct config_key *k, const char *v, char *why,
		    size_t n)
{
	unsigned long x;
	if (parse_ulong(v, &x) < 0 || x < k->min || x > k->max)
		return configval_why(why, n, "expects an integer in %lu..%lu, got \"%s\"", k->min,
				     k->max, v);
	if (k->size == sizeof(uint16_t)) {
		uint16_t u = (uint16_t)x;
		memcpy((char *)c + k->off, &u, sizeof(u));
	} else {
		uint32_t u = (uint32_t)x;
		memcpy((char *)c + k->off, &u, sizeof(u));
	}
	return 0;
}

/* "250ms", "5s", "2m", or bare seconds -> milliseconds. */
static int set_duration(struct config *c, const struct config_key *k, const char *v, char *why,
			size_t n)
{
	char *end;
	unsigned long long x, mult = 1000;
	errno = 0;
	x = isdigit((unsigned char)*v) ? strtoull(v, &end, 10) : 0;
	if (!isdigit((unsigned char)*v) || errno)
		return configval_why(why, n,
				     "expects a duration such as 500ms, 5s or 2m, got \"%s\"", v);
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0)
		mult = 60000;
	else if (*end && strcmp(end, "s") != 0)
		return configval_why(why, n,
				     "expects a duration such as 500ms, 5s or 2m, got \"%s\"", v);
	if (x > k->max / mult || x * mult < k->min)
		return configval_why(why, n, "duration out of range (%lums..%lums): \"%s\"", k->min,
				     k->max, v);
	uint32_t ms = (uint32_t)(x * mult);
	memcpy((char *)c + k->off, &ms, sizeof(ms));
	return 0;
}

static int set_enum(struct config *c, const struct config_key *k, const char *v, char *why,
		    size_t n)
{
	char *field = (char *)c + k->off;
	for (int i = 0; k->choices[i]; i++) {
		if (strcmp(k->choices[i], v) != 0)
			continue;
		if (k->size == sizeof(bool)) /* track -> track_all */
			*(bool *)(void *)field = i != 0;
		else if (k->size == sizeof(int)) /* enums */
			memcpy(field, &i, sizeof(i));
		else /* kept as text: nacos_api */
			snprintf(field, k->size, "%s", v);
		return 0;
	}
	return configval_why(why, n, "expects %s, got \"%s\"", k->arg, v);
}

static int set_string(struct config *c, const struct config_key *k, const char *v, char *why,
		      size_t n)
{
	char buf[CONFIG_PATH_LEN];
	if (configval_copy(buf, k->size, v, why, n) < 0)
		return -EINVAL;
	if (k->check && k->check(buf, k->size, why, n) < 0)
		return -EINVAL;
	memcpy((char *)c + k->off, buf, strlen(buf) + 1);
	return 0;
}

static int set_list(struct config *c, const struct config_key *k, const char *v,
		    struct configset_layer *l, char *why, size_t n)
{
	char(*items)[CONFIG_ADDR_LEN] = (void *)((char *)c + k->off);
	size_t *count = (size_t *)(void *)((char *)c + k->off2);
	uint64_t bit = UINT64_C(1) << (k - config_keys);
	char buf[CONFIG_ADDR_LEN] = {0};

	if (configval_copy(buf, sizeof(buf), v, why, n) < 0 ||
	    k->check(buf, sizeof(buf), why, n) < 0)
		return -EINVAL;
	if (!(l->lists_seen & bit)) {
		l->lists_seen |= bit;
		*count = 0;
	}
	if (*count >= CONFIG_MAX_LIST)
		return configval_why(why, n, "too many entries (at most %d)", CONFIG_MAX_LIST);
	memcpy(items[(*count)++], buf, sizeof(buf));
	return 0;
}

static int set_password_file(struct config *c, const struct config_key *k, const char *v, char *why,
			     size_t n)
{
	char *buf;
	size_t len;
	int rc = readfile(v, CONFIG_MAX_PASSWORD_FILE, &buf, &len, NULL);
	if (rc < 0)
		return configval_why(why, n, "cannot read %s: %s", v, readfile_strerror(rc));
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len >= sizeof(c->password) || memchr(buf, '\0', len)) {
		free(buf);
		return configval_why(why, n, "%s: password too long or not text", v);
	}
	if (configval_copy(c->password_file, sizeof(c->password_file), v, why, n) < 0) {
		free(buf);
		return -EINVAL;
	}
	memcpy(c->password, buf, len);
	c->password[len] = '\0';
	free(buf);
	configval_warn_readable(v, "a password");
	return 0;
}

/* --zone/--namespace on the command line: the zone list becomes its first zone alone. */
static void zone_collapse(struct config *c, struct configset_layer *l)
{
	if (l->is_flags && !l->zone_collapsed) {
		l->zone_collapsed = true;
		c->n_zones = 1;
	}
}

static int set_zone_key(struct config *c, const struct config_key *k, const char *v,
			struct configset_layer *l, char *why, size_t n)
{
	struct config_zone *z = &c->zones[0];
	if (l->zone_sections)
		return configval_why(why, n, "cannot be combined with [zone NAME] sections");
	zone_collapse(c, l);
	if (k->kind == CK_ZONE)
		return configval_zone_name(z->name, sizeof(z->name), v, why, n);
	if (!*v)
		return configval_why(why, n, "empty namespace");
	return configval_copy(z->namespace_id, sizeof(z->namespace_id), v, why, n);
}

static int config_set_value(struct config *c, const struct config_key *k, const char *v,
			    struct configset_layer *l)
{
	char *why = l->why;
	size_t n = sizeof(l->why);

	switch (k->kind) {
	case CK_STR:
	case CK_SECRET:
		if (k->kind == CK_SECRET)
			l->has_password = true;
		return set_string(c, k, v, why, n);
	case CK_UINT:
		return set_uint(c, k, v, why, n);
	case CK_DUR:
		return set_duration(c, k, v, why, n);
	case CK_LIST:
		return set_list(c, k, v, l, why, n);
	case CK_ENUM:
		return set_enum(c, k, v, why, n);
	case CK_ZONE:
	case CK_NAMESPACE:
		return set_zone_key(c, k, v, l, why, n);
	case CK_PASSFILE:
		return set_password_file(c, k, v, why, n);
	}
	return -EINVAL;
}

int configset_key(struct config *c, const char *key, const char *v, struct configset_layer *l)
{
	const struct config_key *k = config_key_find(key);
	int rc;

	if (!k)
		return configval_why(l->why, sizeof(l->why), "unknown key");
	if ((rc = config_set_value(c, k, v, l)) == 0)
		c->origin[k - config_keys] = l->origin;
	return rc;
}

/* ---- environment ---- */

/* NACOS_SERVER_ADDR: "host:port,host:port"; a source without a scheme gets "http://", as the
 * Nacos SDKs do. */
static int env_server_addr(struct config *c, const char *v, struct configset_layer *l)
{
	char buf[CONFIG_PATH_LEN];
	size_t o = 0;

	for (const char *p = v;;) {
		size_t len = strcspn(p, ",");
		bool bare = !strstr(p, "://") || strstr(p, "://") > p + len;
		bare = bare && strncmp(p, "file:", 5) != 0;
		int w = snprintf(buf + o, sizeof(buf) - o, "%s%s%.*s", o ? "," : "",
				 bare ? "http://" : "", (int)len, p);
		if (w < 0 || (size_t)w >= sizeof(buf) - o)
			return configval_why(l->why, sizeof(l->why), "too long");
		o += (size_t)w;
		if (!p[len])
			break;
		p += len + 1;
	}
	return configset_key(c, "nacos", buf, l);
}

int configset_env(struct config *c)
{
	static const struct {
		const char *env, *key;
	} vars[] = {{"NACOS_SERVER_ADDR", "nacos"},
		    {"NACOS_NAMESPACE", "namespace"},
		    {"NACOS_USERNAME", "username"},
		    {"NACOS_PASSWORD", "password"}};
	struct configset_layer l = {.origin.from = CONFIG_FROM_ENV};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i].env);
		int rc;
		if (!v || !*v)
			continue;
		if (i == 0)
			rc = env_server_addr(c, v, &l);
		else
			rc = configset_key(c, vars[i].key, v, &l);
		if (rc < 0) {
			configval_complain("%s: %s\n", vars[i].env, l.why);
			return -EINVAL;
		}
	}
	return 0;
}

/* Showing the configuration: values as text, where they came from, --help and
 * --check-config --print. */
#include "resolver/configprint.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "resolver/config.h"
#include "resolver/config_internal.h"

/* ---- values as text ---- */

static uint32_t field_u32(const struct config *c, const struct config_key *k)
{
	const char *field = (const char *)c + k->off;
	uint32_t u;
	uint16_t s;
	if (k->size == sizeof(uint16_t)) {
		memcpy(&s, field, sizeof(s));
		return s;
	}
	memcpy(&u, field, sizeof(u));
	return u;
}

static void show_list(const struct config *c, const struct config_key *k, char *buf, size_t n)
{
	const char *field = (const char *)c + k->off;
	size_t count, o = 0;
	memcpy(&count, (const char *)c + k->off2, sizeof(count));
	for (size_t i = 0; i < count && o < n; i++)
		o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? "," : "",
				      field + i * CONFIG_ADDR_LEN);
	if (!count)
		snprintf(buf, n, "none");
}

static const char *show_enum(const struct config *c, const struct config_key *k)
{
	const char *field = (const char *)c + k->off;
	int e = 0;
	if (k->size > sizeof(int)) /* kept as text */
		return field;
	if (k->size == sizeof(bool))
		e = *(const bool *)(const void *)field;
	else
		memcpy(&e, field, sizeof(e));
	return k->choices[e];
}

static void show_value(const struct config *c, const struct config_key *k, char *buf, size_t n)
{
	const char *field = (const char *)c + k->off;
	uint32_t u;

	switch (k->kind) {
	case CK_STR:
		snprintf(buf, n, "%s", *field ? field : "none");
		break;
	case CK_SECRET:
	case CK_PASSFILE:
		snprintf(buf, n, "none"); /* never shown */
		break;
	case CK_UINT:
		snprintf(buf, n, "%u", field_u32(c, k));
		break;
	case CK_DUR:
		u = field_u32(c, k);
		snprintf(buf, n, u % 1000 ? "%ums" : "%us", u % 1000 ? u : u / 1000);
		break;
	case CK_LIST:
		show_list(c, k, buf, n);
		break;
	case CK_ENUM:
		snprintf(buf, n, "%s", show_enum(c, k));
		break;
	case CK_ZONE:
		snprintf(buf, n, "%s", c->zones[0].name);
		break;
	case CK_NAMESPACE:
		snprintf(buf, n, "%s", c->zones[0].namespace_id);
		break;
	}
}

int config_get(const struct config *c, const char *key, char *buf, size_t len)
{
	const struct config_key *k = config_key_find(key);
	if (!k)
		return -ENOENT;
	show_value(c, k, buf, len);
	return 0;
}

void configprint_help(const char *prog)
{
	struct config d;
	char val[CONFIG_MAX_LIST * CONFIG_ADDR_LEN];

	config_defaults(&d);
	printf("Usage: %s [OPTION...]\n"
	       "DNS server for the services registered in Nacos.\n\n"
	       "  -c, --config FILE                    read settings from an INI file (same key "
	       "names)\n"
	       "      --check-config FILE              validate FILE and exit 0, or 2 on an error\n"
	       "      --print                          with --check-config: print every key, its "
	       "value and where it came from\n"
	       "  -h, --help                           show this help and exit\n"
	       "  -V, --version                        show the version and exit\n",
	       prog);
	for (size_t i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		char flag[64];
		show_value(&d, k, val, sizeof(val));
		snprintf(flag, sizeof(flag), "%s--%s %s", k == config_keys ? "-l, " : "    ",
			 k->name, k->arg);
		printf("  %-36s %s (default: %s)\n", flag, k->help, val);
	}
	printf("\nDurations take ms, s or m (bare numbers are seconds). Environment: "
	       "NACOS_SERVER_ADDR, NACOS_NAMESPACE, NACOS_USERNAME, NACOS_PASSWORD.\n");
}

void config_origin_text(const struct config *c, const char *key, char *buf, size_t len)
{
	const struct config_key *k = config_key_find(key);
	const struct config_origin *o = k ? &c->origin[k - config_keys] : NULL;

	if (!o || o->from == CONFIG_FROM_DEFAULT)
		snprintf(buf, len, "default: %s", key);
	else if (o->from == CONFIG_FROM_ENV)
		snprintf(buf, len, "environment: %s", key);
	else if (o->from == CONFIG_FROM_FLAG)
		snprintf(buf, len, "--%s", key);
	else
		snprintf(buf, len, "%s:%d: %s", c->config_file, o->line, key);
}

/* show_value, but every zone and namespace, whether a secret is set, the password file's path. */
static void print_value(const struct config *c, const struct config_key *k, char *buf, size_t n)
{
	const char *field = (const char *)c + k->off;
	size_t o = 0;

	if (k->kind == CK_SECRET) {
		snprintf(buf, n, "%s", *field ? "(set, not shown)" : "none");
	} else if (k->kind == CK_PASSFILE) {
		snprintf(buf, n, "%s", *field ? field : "none");
	} else if (k->kind == CK_ZONE || k->kind == CK_NAMESPACE) {
		buf[0] = '\0';
		for (size_t i = 0; i < c->n_zones && o < n; i++)
			o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? "," : "",
					      k->kind == CK_ZONE ? c->zones[i].name
								 : c->zones[i].namespace_id);
	} else {
		show_value(c, k, buf, n);
	}
}

void config_print(const struct config *c, FILE *out)
{
	static const char *const from[] = {"default", "environment", "file", "flag"};
	char val[CONFIG_MAX_LIST * 400];

	for (size_t i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		const struct config_origin *o = &c->origin[i];
		print_value(c, k, val, sizeof(val));
		if (o->from == CONFIG_FROM_FILE)
			fprintf(out, "%s = %s  # %s:%d\n", k->name, val, c->config_file, o->line);
		else
			fprintf(out, "%s = %s  # %s\n", k->name, val, from[o->from]);
	}
}

/* The command line: flags over the environment and the file (config_from_args), and argv
 * without secrets for ps. */
#include "resolver/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "resolver/checkconf.h"
#include "resolver/config_internal.h"
#include "resolver/configprint.h"
#include "resolver/configset.h"
#include "resolver/configval.h"
#include "zones/net/addr.h"

/* "-c FILE", "-cFILE", "-l ADDR", "-lADDR", "-h", "-V": the long name, or NULL. */
static const char *flag_short(const char *a, const char **value)
{
	static const struct {
		char s;
		const char *l;
		bool arg;
	} shorts[] = {{'c', "config", true},
		      {'l', "listen", true},
		      {'h', "help", false},
		      {'V', "version", false}};
	if (a[0] != '-' || !a[1])
		return NULL;
	for (size_t s = 0; s < sizeof(shorts) / sizeof(shorts[0]); s++) {
		if (a[1] != shorts[s].s || (a[2] && !shorts[s].arg))
			continue;
		*value = a[2] ? a + 2 : NULL;
		return shorts[s].l;
	}
	return NULL;
}

/* argv[*i] as a flag: its key (without dashes) and value, advancing *i past the value.
 * 0, or -EINVAL after printing "--flag: problem". Flags without a value get *value NULL. */
static int flag_next(int argc, char **argv, int *i, char *key, size_t key_len, const char **value)
{
	const char *a = argv[*i], *eq, *name;
	bool takes_value;

	*value = NULL;
	if ((name = flag_short(a, value))) {
		snprintf(key, key_len, "%s", name);
	} else if (strncmp(a, "--", 2) == 0 && a[2]) {
		eq = strchr(a, '=');
		snprintf(key, key_len, "%.*s", (int)(eq ? (size_t)(eq - a - 2) : strlen(a + 2)),
			 a + 2);
		*value = eq ? eq + 1 : NULL;
	} else {
		configval_complain("%s: unexpected argument (see --help)\n", a);
		return -EINVAL;
	}
	takes_value = strcmp(key, "help") != 0 && strcmp(key, "version") != 0 &&
		      strcmp(key, "print") != 0;
	if (takes_value && !config_key_find(key) && strcmp(key, "config") != 0 &&
	    strcmp(key, "check-config") != 0) {
		configval_complain("--%s: unknown flag (see --help)\n", key);
		return -EINVAL;
	}
	if (!takes_value && *value) {
		configval_complain("--%s: takes no value\n", key);
		return -EINVAL;
	}
	if (takes_value && !*value) {
		if (*i + 1 >= argc) {
			configval_complain("--%s: missing value\n", key);
			return -EINVAL;
		}
		*value = argv[++*i];
	}
	return 0;
}

/* First pass: -h, -V, the config file and flag syntax. Returns 1 (help/version printed), 2 on
 * a bad flag, else 0 with *file set (NULL: none), *check true for --check-config and *print
 * for --print. */
static int flags_scan(int argc, char **argv, const char **file, bool *check, bool *print)
{
	char key[64];
	const char *v;
	*file = NULL;
	*check = *print = false;
	for (int i = 1; i < argc; i++) {
		if (flag_next(argc, argv, &i, key, sizeof(key), &v) < 0)
			return 2;
		if (strcmp(key, "help") == 0) {
			configprint_help(argv[0]);
			return 1;
		}
		if (strcmp(key, "version") == 0) {
			printf("nacos-dns %s\n", NACOS_DNS_VERSION);
			return 1;
		}
		if (strcmp(key, "config") == 0 && !*check)
			*file = v;
		if (strcmp(key, "check-config") == 0) {
			*file = v;
			*check = true;
		}
		*print = *print || strcmp(key, "print") == 0;
	}
	if (*print && !*check) {
		configval_complain("--print: only with --check-config\n");
		return 2;
	}
	return 0;
}

static int flags_apply(struct config *c, int argc, char **argv)
{
	struct configset_layer l = {.is_flags = true, .origin.from = CONFIG_FROM_FLAG};
	char key[64];
	const char *v;
	for (int i = 1; i < argc; i++) {
		if (flag_next(argc, argv, &i, key, sizeof(key), &v) < 0)
			return -EINVAL;
		if (strcmp(key, "config") == 0 || strcmp(key, "check-config") == 0 ||
		    strcmp(key, "print") == 0)
			continue;
		if (configset_key(c, key, v, &l) < 0) {
			configval_complain("--%s: %s\n", key, l.why);
			return -EINVAL;
		}
	}
	return 0;
}

void config_args_free(int argc, char **copy)
{
	for (int i = 0; copy && i < argc; i++)
		free(copy[i]);
	free(copy);
}

char **config_args_hide_secrets(int argc, char **argv)
{
	char **copy = calloc((size_t)argc + 1, sizeof(*copy));
	char key[64];
	const char *v;

	for (int i = 0; copy && i < argc; i++)
		if (!(copy[i] = strdup(argv[i]))) {
			config_args_free(argc, copy);
			return NULL;
		}
	for (int i = 1; copy && i < argc; i++)
		if (flag_next(argc, argv, &i, key, sizeof(key), &v) == 0 && v &&
		    strcmp(key, "password") == 0)
			memset((char *)v, '*', strlen(v)); /* v points into argv's own storage */
	return copy;
}

/* Fills the parsed copies of the address keys from their text, which the key checks accepted
 * (so a failure here is a bug, reported as such). 0 or -EINVAL. */
static int config_addrs_parse(struct config *c)
{
	char why[128];
	int rc = 0;

	memset(&c->http_sa, 0, sizeof(c->http_sa));
	memset(&c->push_listen_sa, 0, sizeof(c->push_listen_sa));
	for (size_t i = 0; rc == 0 && i < c->n_listen; i++)
		rc = addr_parse(c->listen[i], 0, 0, &c->listen_sa[i], why, sizeof(why));
	for (size_t i = 0; rc == 0 && i < c->n_upstream; i++)
		rc = addr_parse(c->upstream[i], 53, 0, &c->upstream_sa[i], why, sizeof(why));
	for (size_t i = 0; rc == 0 && i < c->n_allow_recursion; i++)
		rc = addr_cidr_parse(c->allow_recursion[i], &c->allow_recursion_cidr[i], why,
				     sizeof(why));
	for (size_t i = 0; rc == 0 && i < c->n_allow_transfer; i++)
		rc = addr_cidr_parse(c->allow_transfer[i], &c->allow_transfer_cidr[i], why,
				     sizeof(why));
	if (rc == 0 && c->http[0])
		rc = addr_parse(c->http, 0, 0, &c->http_sa, why, sizeof(why));
	if (rc == 0 && c->push_listen[0])
		rc = addr_parse(c->push_listen, 0, ADDR_ANY_PORT, &c->push_listen_sa, why,
				sizeof(why));
	if (rc < 0)
		configval_complain(
			"config: an address the checks passed does not parse (a bug): %s\n", why);
	return rc;
}

int config_from_args(struct config *c, int argc, char **argv)
{
	struct config *tmp;
	const char *file;
	bool check, print;
	int rc = flags_scan(argc, argv, &file, &check, &print);

	if (rc)
		return rc;
	if (!(tmp = malloc(sizeof(*tmp)))) {
		configval_complain("config: out of memory\n");
		return 2;
	}
	config_defaults(tmp);
	if (configset_env(tmp) < 0 || (file && config_load_file(tmp, file) < 0) ||
	    flags_apply(tmp, argc, argv) < 0 || config_addrs_parse(tmp) < 0 ||
	    (check && checkconf_start(tmp) < 0)) {
		free(tmp);
		return 2;
	}
	tmp->check_print = print;
	*c = *tmp;
	free(tmp);
	if (print)
		config_print(c, stdout);
	if (check)
		printf("%s: ok\n", file);
	return check ? 3 : 0;
}

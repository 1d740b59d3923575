/* The INI configuration file (config_load_file). */
#include "resolver/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "resolver/config_internal.h"
#include "resolver/configset.h"
#include "resolver/configval.h"
#include "resolver/readfile.h"

/* A configuration is a few kB. */
#define CONFIG_MAX_FILE (1u << 20)

struct config_file {
	struct config *cfg;
	struct configset_layer layer;
	FILE *fp;
	int line;
	int err_line; /* first error: line, key and why */
	char err_key[320];
	char err_why[sizeof(((struct configset_layer *)0)->why)];
};

/* Records the first error; returns 0, what inih's handler returns to flag one. */
static int file_error(struct config_file *f, const char *key, const char *why)
{
	if (f->err_line)
		return 0;
	f->err_line = f->line;
	snprintf(f->err_key, sizeof(f->err_key), "%s", key);
	snprintf(f->err_why, sizeof(f->err_why), "%s", why);
	return 0;
}

/* "[server]" or "[zone NAME]"; a zone section adds a zone (the first one clears the list). */
static int file_section(struct config_file *f, const char *sect)
{
	struct config *c = f->cfg;
	struct configset_layer *l = &f->layer;
	char name[256];

	if (strcmp(sect, "server") == 0)
		return 1;
	if (strncmp(sect, "zone", 4) != 0 || !isspace((unsigned char)sect[4]))
		return file_error(f, sect, "unknown section (expects [server] or [zone NAME])");
	if (configval_zone_name(name, sizeof(name), sect + 5 + strspn(sect + 5, " \t"), l->why,
				sizeof(l->why)) < 0)
		return file_error(f, "zone", l->why);
	if (!l->zone_sections) {
		c->origin[config_key_find("zone") - config_keys] =
			(struct config_origin){CONFIG_FROM_FILE, f->line};
		l->zone_sections = true;
		snprintf(l->default_ns, sizeof(l->default_ns), "%s", c->zones[0].namespace_id);
		c->n_zones = 0;
	}
	for (size_t i = 0; i < c->n_zones; i++)
		if (strcmp(c->zones[i].name, name) == 0)
			return file_error(f, "zone", "zone defined twice");
	if (c->n_zones >= CONFIG_MAX_LIST)
		return file_error(f, "zone", "too many zones");
	memcpy(c->zones[c->n_zones].name, name, sizeof(name));
	memcpy(c->zones[c->n_zones].namespace_id, l->default_ns, sizeof(l->default_ns));
	c->n_zones++;
	return 1;
}

/* Reads lines for inih, counting them (inih tells its handler no line number) and noting
 * sections as they start, so that an empty [zone NAME] still defines its zone. */
static char *file_reader(char *str, int num, void *stream)
{
	struct config_file *f = stream;
	size_t len;
	char *p;

	if (f->err_line || !fgets(str, num, f->fp))
		return NULL;
	f->line++;
	if (f->line == 1 && strncmp(str, "\xEF\xBB\xBF", 3) == 0)
		memmove(str, str + 3, strlen(str + 3) + 1); /* inih skips the BOM too */
	len = strlen(str);
	if (len + 1 == (size_t)num && str[len - 1] != '\n' && !feof(f->fp)) {
		file_error(f, "line", "too long");
		return NULL;
	}
	p = str + strspn(str, " \t");
	if (*p == '[') {
		char sect[300];
		size_t sl = strcspn(p + 1, "]");
		if (p[1 + sl] == ']' && sl < sizeof(sect)) {
			memcpy(sect, p + 1, sl);
			sect[sl] = '\0';
			file_section(f, sect);
		}
	}
	return str;
}

static int file_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_file *f = user;
	if (f->err_line)
		return 0;
	if (strncmp(section, "zone", 4) == 0 && isspace((unsigned char)section[4])) {
		struct config_zone *z = &f->cfg->zones[f->cfg->n_zones - 1];
		if (strcmp(name, "namespace") != 0)
			return file_error(f, name, "unknown key in a [zone] section");
		if (!*value)
			return file_error(f, name, "empty namespace");
		if (configval_copy(z->namespace_id, sizeof(z->namespace_id), value, f->layer.why,
				   sizeof(f->layer.why)) < 0)
			return file_error(f, name, f->layer.why);
		return 1;
	}
	f->layer.origin = (struct config_origin){CONFIG_FROM_FILE, f->line};
	if (configset_key(f->cfg, name, value, &f->layer) < 0)
		return file_error(f, name, f->layer.why);
	return 1;
}

/* The file as a stream over its bytes: read whole through readfile, capped, regular only. */
static FILE *config_open(const char *path, char **text)
{
	size_t len;
	int rc = readfile(path, CONFIG_MAX_FILE, text, &len, NULL);
	FILE *fp;
	if (rc < 0) {
		configval_complain("%s: cannot open: %s\n", path, readfile_strerror(rc));
		return NULL;
	}
	/* fmemopen refuses a size of 0: an empty file is its one NUL. */
	if (!(fp = fmemopen(*text, len ? len : 1, "r"))) {
		configval_complain("%s: cannot read: %s\n", path, strerror(errno));
		free(*text);
	}
	return fp;
}

int config_load_file(struct config *c, const char *path)
{
	char *text = NULL;
	struct config_file f = {.fp = config_open(path, &text)};
	bool ok = false;
	int rc;

	if (!f.fp)
		return -EINVAL;
	if (!(f.cfg = malloc(sizeof(*f.cfg)))) {
		fclose(f.fp);
		free(text);
		return -ENOMEM;
	}
	*f.cfg = *c;
	rc = ini_parse_stream(file_reader, &f, file_handler, &f);
	fclose(f.fp);
	free(text);
	if (f.err_line)
		configval_complain("%s:%d: %s: %s\n", path, f.err_line, f.err_key, f.err_why);
	else if (rc != 0)
		configval_complain("%s:%d: syntax error (expects key = value or [section])\n", path,
				   rc);
	else if (configval_copy(f.cfg->config_file, sizeof(f.cfg->config_file), path, f.layer.why,
				sizeof(f.layer.why)) < 0)
		configval_complain("%s: path %s\n", path, f.layer.why);
	else {
		if (f.layer.has_password)
			configval_warn_readable(path, "a password");
		*c = *f.cfg;
		ok = true;
	}
	free(f.cfg);
	return ok ? 0 : -EINVAL;
}

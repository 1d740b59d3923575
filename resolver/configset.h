/*
 * Setting configuration keys from text, one source of settings (a layer) at a time: the
 * environment, one file, the flags. Shared by the configuration's files.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "resolver/config.h"

/* One source of settings. A list key named in a layer replaces the list the layers before it
 * built. Zero it, then set origin (and is_flags for the command line). */
struct configset_layer {
	uint64_t lists_seen;         /* bit per config_keys index */
	struct config_origin origin; /* recorded for each key this layer sets */
	bool is_flags;
	bool zone_sections;  /* file: a [zone] section was seen */
	bool zone_collapsed; /* flags: --zone/--namespace cut the zone list down to one */
	bool has_password;   /* file: holds a password */
	char default_ns[128];
	char why[192]; /* the problem, when a call fails */
};

/* Sets key to the text v in c, recording l->origin: 0, or -EINVAL with l->why filled. */
int configset_key(struct config *c, const char *key, const char *v, struct configset_layer *l);
/* Applies NACOS_SERVER_ADDR, NACOS_NAMESPACE, NACOS_USERNAME and NACOS_PASSWORD: 0, or -EINVAL
 * after printing "VARIABLE: problem". */
int configset_env(struct config *c);

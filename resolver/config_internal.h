/*
 * The table of configuration keys, shared by the files of the configuration (config.c holds
 * the table; configset.c, configfile.c, configargs.c and configprint.c read it). Nothing outside
 * resolver/config*.c includes this header.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "resolver/config.h"

/*
 * Every setting is one row of config_keys: the same name is the INI key and the flag, and the
 * row says how to parse it, where it lives in struct config and what --help says.
 */
enum config_kind {
	CK_STR,       /* char[size], optionally checked/normalised by check */
	CK_SECRET,    /* like CK_STR, never shown */
	CK_UINT,      /* uint16_t or 32-bit unsigned, min..max */
	CK_DUR,       /* milliseconds, min..max; "5", "5s", "500ms", "2m" */
	CK_LIST,      /* char[CONFIG_MAX_LIST][CONFIG_ADDR_LEN] + size_t count at off2 */
	CK_ENUM,      /* index into choices, stored as int, bool or the text itself */
	CK_ZONE,      /* the single default zone's name */
	CK_NAMESPACE, /* the single default zone's namespace */
	CK_PASSFILE,  /* reads the password from a file */
};

struct config_key {
	const char *name;
	enum config_kind kind;
	size_t off, size; /* the field in struct config */
	size_t off2;      /* CK_LIST: its count */
	unsigned long min, max;
	const char *const *choices;
	/* Validates (and may normalise) val in place: 0, or -EINVAL with why filled. A
	 * configval_* function. */
	int (*check)(char *val, size_t size, char *why, size_t why_len);
	const char *arg;
	const char *help;
	enum config_reload reload; /* what a change of it on SIGHUP needs */
};

/* The table, in --help's order; config_origin[] and config_layer bits are indexed by it. */
extern const struct config_key config_keys[];
extern const size_t config_n_keys;

/* The row named name (an INI key or a flag without its dashes), or NULL. */
const struct config_key *config_key_find(const char *name);

/*
 * Configuration: defaults, INI file, environment, command line. No zone or Nacos state.
 * config.c holds the key table (config_internal.h), the defaults and what a reload changes;
 * configval.c checks values, configset.c sets keys from text and the environment, configfile.c
 * reads the INI file, configargs.c the command line, configprint.c shows values and --help.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "resolver/log.h"
#include "zones/data/snapshot.h"
#include "zones/net/addr.h"

#define CONFIG_MAX_LIST 16
#define CONFIG_ADDR_LEN 64 /* "ADDR:PORT", "[v6]:PORT", "CIDR" */
#define CONFIG_PATH_LEN 1024
#define CONFIG_STR_LEN  256

struct config_zone {
	char name[256]; /* "svc." */
	char namespace_id[128];
};

/* Where a key's value came from, for --check-config --print and its messages. */
enum config_from { CONFIG_FROM_DEFAULT = 0, CONFIG_FROM_ENV, CONFIG_FROM_FILE, CONFIG_FROM_FLAG };
struct config_origin {
	enum config_from from;
	int line; /* CONFIG_FROM_FILE: the line in config_file */
};
#define CONFIG_MAX_KEYS 64

struct config {
	char config_file[CONFIG_PATH_LEN];            /* "" when none */
	struct config_origin origin[CONFIG_MAX_KEYS]; /* by key, in --help's order */
	bool check_print;                             /* --check-config --print */

	/* serving */
	char listen[CONFIG_MAX_LIST][CONFIG_ADDR_LEN]; /* default "127.0.0.1:53" */
	size_t n_listen;
	struct config_zone zones[CONFIG_MAX_LIST]; /* default one: "svc." -> "public" */
	size_t n_zones;
	uint32_t ttl;                    /* default 5 */
	uint32_t negative_ttl;           /* default 5 */
	uint16_t edns_buffer;            /* UDP size cap, 512..4096, default 1232 */
	enum snapshot_order order;       /* order = weighted | client */
	enum snapshot_overflow overflow; /* truncate = tc | subset */
	char hostname[CONFIG_STR_LEN];   /* default gethostname() */
	unsigned tcp_idle_timeout_ms;    /* default 10000 */
	unsigned tcp_max_connections;    /* default 1000 */
	char tcp_max_per_client[16];     /* "auto" (64 per /24 or /56, none on loopback), or N */
	unsigned threads;                /* default: number of CPUs */
	char rrl_rate[16];               /* "auto" (200/s, none on loopback), or N; 0: off */
	unsigned rrl_slip;               /* every Nth limited reply is TC; 0: none; default 2 */
	enum log_level log_level;        /* default info */

	/* forwarding */
	char upstream[CONFIG_MAX_LIST][CONFIG_ADDR_LEN]; /* none: /etc/resolv.conf */
	size_t n_upstream;
	char allow_recursion[CONFIG_MAX_LIST][CONFIG_ADDR_LEN]; /* default 127.0.0.0/8, ::1/128 */
	size_t n_allow_recursion;
	unsigned forward_timeout_ms;     /* whole budget per query; default 2000 */
	unsigned forward_max_inflight;   /* default 1000 */
	bool cache;                      /* cache = on | off: forwarded answers cached; on */
	unsigned cache_size;             /* bytes of cached entries; default 64 MiB */
	unsigned cache_min_ttl;          /* clamp of cached TTLs; default 0 */
	unsigned cache_max_ttl;          /* default 86400 */
	unsigned cache_max_negative_ttl; /* NXDOMAIN/NODATA; default 3600 */
	unsigned cache_stale_max;        /* served stale this long past expiry; 0: never; 86400 */

	/* memory caps on what Nacos sends */
	unsigned max_response_size; /* bytes of one HTTP answer; default 32 MiB */
	unsigned max_services;      /* names listed per namespace and group; default 100000 */
	unsigned max_instances;     /* instances of one service; default 65536 */
	unsigned max_tracked;       /* services polled; default 100000 */
	unsigned fetch_max_waiting; /* queries waiting for a fetch or the catalog; default 10000 */
	unsigned max_groups;        /* groups listed because a query named them; default 64 */

	/* Nacos */
	char nacos[CONFIG_PATH_LEN]; /* SOURCE[,SOURCE...]: file:PATH or http(s)://host:port */
	char nacos_api[8];           /* auto | v1 | v3; default auto */
	char nacos_ca[CONFIG_PATH_LEN];
	char username[CONFIG_STR_LEN];
	char password[CONFIG_STR_LEN];       /* from password, password-file or NACOS_PASSWORD */
	char password_file[CONFIG_PATH_LEN]; /* "" when the password came from elsewhere */
	char groups[CONFIG_PATH_LEN];        /* comma list; default DEFAULT_GROUP */
	unsigned catalog_interval_ms;        /* default 30000 */
	unsigned poll_interval_ms;           /* default 5000 */
	unsigned fetch_wait_ms; /* first query waits this long for a fetch; default 1000 */
	bool track_all;         /* track = all | queried; default queried */
	bool any_group;         /* any-group = on | off: serve groups queries name; default on */
	char cache_file[CONFIG_PATH_LEN];
	bool push;                            /* push = on | off: UDP push subscriptions; on */
	char push_listen[CONFIG_ADDR_LEN];    /* "ADDR:PORT", port 0 ephemeral; "": every addr */
	char push_advertise[CONFIG_ADDR_LEN]; /* clientIP sent to Nacos; "": learned per server */

	/* operating */
	char http[CONFIG_ADDR_LEN];                            /* "" (default): no HTTP endpoint */
	char allow_transfer[CONFIG_MAX_LIST][CONFIG_ADDR_LEN]; /* default 127.0.0.0/8, ::1/128 */
	size_t n_allow_transfer;
	bool query_log;            /* query-log = off | on */
	char user[CONFIG_STR_LEN]; /* drop to this user after binding when started as root */

	/* The addresses above, parsed once by config_from_args: the same count and order, and
	 * family AF_UNSPEC where the text is "". */
	struct sockaddr_storage listen_sa[CONFIG_MAX_LIST];
	struct sockaddr_storage upstream_sa[CONFIG_MAX_LIST]; /* port 53 when none was given */
	struct addr_cidr allow_recursion_cidr[CONFIG_MAX_LIST];
	struct addr_cidr allow_transfer_cidr[CONFIG_MAX_LIST];
	struct sockaddr_storage http_sa;
	struct sockaddr_storage push_listen_sa; /* port 0: any */
	char dnstap[CONFIG_PATH_LEN];           /* "unix:PATH", or "" (default): no dnstap output */
};

void config_defaults(struct config *c);

/* What a change of a key needs on SIGHUP; each key of the configuration table names one. */
enum config_reload {
	CONFIG_RELOAD_NONE,     /* its new value is used from the reload on */
	CONFIG_RELOAD_SNAPSHOT, /* the next snapshot is built with it */
	CONFIG_RELOAD_FORWARD,  /* a new forwarder (the queries in flight are cancelled) */
	CONFIG_RELOAD_PUSH,     /* the push socket is opened again */
	CONFIG_RELOAD_NACOS,    /* the calls to Nacos start over and everything is fetched again */
	CONFIG_RELOAD_RESTART,  /* the running value stays until a restart */
};
/* The keys whose change needs `need` and whose values differ between a and b: how many, and
 * their names appended to names (", "-separated; names may be NULL). Secrets are compared too.
 * The one place that decides what a SIGHUP changes: the key table's reload column, and for
 * CONFIG_RELOAD_RESTART also a change of the kind of registry source or of a file: source's
 * path (a file source is opened once). */
size_t config_reload_changed(const struct config *a, const struct config *b,
			     enum config_reload need, char *names, size_t len);

/* Where the registry comes from: nacos = "" (none), file:PATH, or http(s) servers. */
enum config_source { CONFIG_SOURCE_NONE, CONFIG_SOURCE_FILE, CONFIG_SOURCE_HTTP };
enum config_source config_source(const struct config *c);

/*
 * Builds the whole configuration: defaults, then the environment (NACOS_SERVER_ADDR,
 * NACOS_NAMESPACE, NACOS_USERNAME, NACOS_PASSWORD), then the file named by -c/--config, then the
 * flags. Returns 0 to run, 1 when --help/--version was printed (exit 0), 2 on an error already
 * printed as "file:line: key: problem" or "--flag: problem" (exit 2), 3 when --check-config
 * validated its file (exit 0). *c is written only on 0 or 3.
 */
int config_from_args(struct config *c, int argc, char **argv);

/*
 * What ps shows must not hold the password: returns a copy of argv (argc strings and a NULL, for
 * reloads, freed with config_args_free) and overwrites each --password value in argv itself with
 * '*'. NULL on ENOMEM (argv then unchanged). Call after config_from_args accepted argv.
 */
char **config_args_hide_secrets(int argc, char **argv);
void config_args_free(int argc, char **copy); /* NULL-safe */

/* Reads an INI file over *c: all or nothing (on error *c is unchanged). 0, or -EINVAL after
 * printing "path:line: key: problem" to stderr. */
int config_load_file(struct config *c, const char *path);

/* key's value in c as text, the way --help shows defaults ("5s", "a,b", "none"); secrets read
 * "none". 0, or -ENOENT for an unknown key. */
int config_get(const struct config *c, const char *key, char *buf, size_t len);
/* Where key's value came from, as a message prefix names it: "FILE:LINE: key", "--key",
 * "environment: key" or "default: key". */
void config_origin_text(const struct config *c, const char *key, char *buf, size_t len);
/* Every key with its value and where it came from ("key = value  # FILE:LINE"), one a line;
 * secrets are not shown. */
void config_print(const struct config *c, FILE *out);

/* The snapshot settings of c (borrowing c's strings). */
void config_snapshot(const struct config *c, struct snapshot_config *out);

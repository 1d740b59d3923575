/* The configuration's keys: the table every other part reads, the defaults, and what a change
 * of each key needs on reload. */
#include "resolver/config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "build_config.h"
#include "resolver/config_internal.h"
#include "resolver/configval.h"

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define DUR_MAX  2147483647UL
#define TTL_MAX  2147483647UL

static const char *const order_names[] = {"weighted", "client", NULL};
static const char *const truncate_names[] = {"tc", "subset", NULL};
static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const api_names[] = {"auto", "v1", "v3", NULL};
static const char *const track_names[] = {"queried", "all", NULL};
static const char *const onoff_names[] = {"off", "on", NULL};

/*
 * Every key, in --help's order: its name (the INI key and the flag), how its text is parsed and
 * checked, its field, its --help line, and what a change of it needs on SIGHUP. A new key is one
 * row here, its field in struct config and its default in config_defaults().
 */
const struct config_key config_keys[] = {
	{"listen", CK_LIST, FIELD(listen), offsetof(struct config, n_listen), 0, 0, NULL,
	 configval_listen, "ADDR:PORT",
	 "address to serve DNS on, \"[v6]:PORT\" for IPv6 (repeatable)", CONFIG_RELOAD_RESTART},
	{"nacos", CK_STR, FIELD(nacos), 0, 0, 0, NULL, configval_nacos, "SOURCE[,SOURCE...]",
	 "registry source: file:PATH, or http(s)://host:port of each Nacos server",
	 CONFIG_RELOAD_NACOS},
	{"namespace", CK_NAMESPACE, 0, 0, 0, 0, 0, NULL, NULL, "ID",
	 "Nacos namespace of the zone (with --zone: replaces the file's zones)",
	 CONFIG_RELOAD_NACOS},
	{"zone", CK_ZONE, 0, 0, 0, 0, 0, NULL, NULL, "NAME",
	 "zone to serve (replaces the file's [zone] sections)", CONFIG_RELOAD_SNAPSHOT},
	{"ttl", CK_UINT, FIELD(ttl), 0, 0, TTL_MAX, NULL, NULL, "SEC", "TTL of answers",
	 CONFIG_RELOAD_SNAPSHOT},
	{"negative-ttl", CK_UINT, FIELD(negative_ttl), 0, 0, TTL_MAX, NULL, NULL, "SEC",
	 "TTL of negative answers (SOA minimum)", CONFIG_RELOAD_SNAPSHOT},
	{"edns-buffer", CK_UINT, FIELD(edns_buffer), 0, 512, 4096, NULL, NULL, "BYTES",
	 "cap on the client's EDNS UDP size", CONFIG_RELOAD_SNAPSHOT},
	{"order", CK_ENUM, FIELD(order), 0, 0, 0, order_names, NULL, "weighted|client",
	 "A/AAAA order: weighted random, or weighted by a hash of the client",
	 CONFIG_RELOAD_SNAPSHOT},
	{"truncate", CK_ENUM, FIELD(overflow), 0, 0, 0, truncate_names, NULL, "tc|subset",
	 "answer too big for UDP: set TC, or send a weighted subset that fits",
	 CONFIG_RELOAD_SNAPSHOT},
	{"hostname", CK_STR, FIELD(hostname), 0, 0, 0, NULL, configval_hostname, "NAME",
	 "name in hostname.bind, id.server and the SOA", CONFIG_RELOAD_SNAPSHOT},
	{"tcp-idle-timeout", CK_DUR, FIELD(tcp_idle_timeout_ms), 0, 1, DUR_MAX, NULL, NULL, "DUR",
	 "close idle TCP connections after this long", CONFIG_RELOAD_RESTART},
	{"tcp-max-connections", CK_UINT, FIELD(tcp_max_connections), 0, 1, 1000000, NULL, NULL, "N",
	 "cap on open TCP connections", CONFIG_RELOAD_RESTART},
	{"tcp-max-per-client", CK_STR, FIELD(tcp_max_per_client), 0, 0, 0, NULL,
	 configval_auto_count, "N|auto",
	 "cap on open TCP connections per client /24 or /56 (0: off; auto: 64, none on "
	 "loopback)",
	 CONFIG_RELOAD_RESTART},
	{"rrl-rate", CK_STR, FIELD(rrl_rate), 0, 0, 0, NULL, configval_auto_count, "N|auto",
	 "UDP responses per second per client /24 or /56 (0: off; auto: 200, none on loopback)",
	 CONFIG_RELOAD_RESTART},
	{"rrl-slip", CK_UINT, FIELD(rrl_slip), 0, 0, 100, NULL, NULL, "N",
	 "every Nth rate-limited UDP response is sent truncated, the rest dropped (0: drop all)",
	 CONFIG_RELOAD_RESTART},
	{"threads", CK_UINT, FIELD(threads), 0, 1, 256, NULL, NULL, "N", "worker threads",
	 CONFIG_RELOAD_RESTART},
	{"log-level", CK_ENUM, FIELD(log_level), 0, 0, 0, level_names, NULL,
	 "error|warn|info|debug", "least severe level logged", CONFIG_RELOAD_NONE},
	{"upstream", CK_LIST, FIELD(upstream), offsetof(struct config, n_upstream), 0, 0, NULL,
	 configval_upstream, "ADDR[:PORT]",
	 "resolver for names outside the zones (repeatable; none: /etc/resolv.conf)",
	 CONFIG_RELOAD_FORWARD},
	{"allow-recursion", CK_LIST, FIELD(allow_recursion),
	 offsetof(struct config, n_allow_recursion), 0, 0, NULL, configval_cidr, "CIDR",
	 "clients whose queries outside the zones are forwarded (repeatable)", CONFIG_RELOAD_NONE},
	{"forward-timeout", CK_DUR, FIELD(forward_timeout_ms), 0, 1, DUR_MAX, NULL, NULL, "DUR",
	 "time budget of one forwarded query", CONFIG_RELOAD_FORWARD},
	{"forward-max-inflight", CK_UINT, FIELD(forward_max_inflight), 0, 1, 1000000, NULL, NULL,
	 "N", "cap on forwarded queries in flight", CONFIG_RELOAD_FORWARD},
	{"cache", CK_ENUM, FIELD(cache), 0, 0, 0, onoff_names, NULL, "off|on",
	 "cache forwarded answers", CONFIG_RELOAD_RESTART},
	{"cache-size", CK_UINT, FIELD(cache_size), 0, 65536, 4294967295UL, NULL, NULL, "BYTES",
	 "memory of the cached answers; the least recently used go first", CONFIG_RELOAD_RESTART},
	{"cache-min-ttl", CK_UINT, FIELD(cache_min_ttl), 0, 0, TTL_MAX, NULL, NULL, "SEC",
	 "shortest TTL a cached answer is kept for", CONFIG_RELOAD_RESTART},
	{"cache-max-ttl", CK_UINT, FIELD(cache_max_ttl), 0, 0, TTL_MAX, NULL, NULL, "SEC",
	 "longest TTL a cached answer is kept for", CONFIG_RELOAD_RESTART},
	{"cache-max-negative-ttl", CK_UINT, FIELD(cache_max_negative_ttl), 0, 0, TTL_MAX, NULL,
	 NULL, "SEC", "longest TTL a cached NXDOMAIN or NODATA is kept for", CONFIG_RELOAD_RESTART},
	{"cache-stale-max", CK_UINT, FIELD(cache_stale_max), 0, 0, TTL_MAX, NULL, NULL, "SEC",
	 "how long past its TTL an answer is served when the upstreams fail (0: never)",
	 CONFIG_RELOAD_RESTART},
	{"max-response-size", CK_UINT, FIELD(max_response_size), 0, 4096, 1UL << 30, NULL, NULL,
	 "BYTES", "cap on the body of one Nacos HTTP answer", CONFIG_RELOAD_NACOS},
	{"max-services", CK_UINT, FIELD(max_services), 0, 1, 1000000, NULL, NULL, "N",
	 "cap on service names listed per namespace and group", CONFIG_RELOAD_NONE},
	{"max-instances", CK_UINT, FIELD(max_instances), 0, 1, 65536, NULL, NULL, "N",
	 "cap on the instances of one service", CONFIG_RELOAD_NONE},
	{"max-tracked", CK_UINT, FIELD(max_tracked), 0, 1, 1000000, NULL, NULL, "N",
	 "cap on services whose instances are polled", CONFIG_RELOAD_NONE},
	{"fetch-max-waiting", CK_UINT, FIELD(fetch_max_waiting), 0, 1, 1000000, NULL, NULL, "N",
	 "cap on queries waiting for a first fetch or the catalog", CONFIG_RELOAD_NONE},
	{"nacos-api", CK_ENUM, FIELD(nacos_api), 0, 0, 0, api_names, NULL, "auto|v1|v3",
	 "Nacos HTTP API to speak", CONFIG_RELOAD_NACOS},
	{"nacos-ca", CK_STR, FIELD(nacos_ca), 0, 0, 0, NULL, configval_readable, "FILE",
	 "CA bundle for https Nacos servers", CONFIG_RELOAD_NACOS},
	{"username", CK_STR, FIELD(username), 0, 0, 0, NULL, NULL, "NAME", "Nacos user",
	 CONFIG_RELOAD_NACOS},
	{"password", CK_SECRET, FIELD(password), 0, 0, 0, NULL, NULL, "PASSWORD",
	 "Nacos password (prefer password-file)", CONFIG_RELOAD_NACOS},
	{"password-file", CK_PASSFILE, FIELD(password_file), 0, 0, 0, NULL, NULL, "FILE",
	 "file holding the Nacos password", CONFIG_RELOAD_NONE},
	{"groups", CK_STR, FIELD(groups), 0, 0, 0, NULL, configval_groups, "GROUP[,GROUP...]",
	 "Nacos groups listed from the start", CONFIG_RELOAD_NACOS},
	{"any-group", CK_ENUM, FIELD(any_group), 0, 0, 0, onoff_names, NULL, "on|off",
	 "also serve a group a query names (off: only the groups listed)", CONFIG_RELOAD_NACOS},
	{"max-groups", CK_UINT, FIELD(max_groups), 0, 1, 100000, NULL, NULL, "N",
	 "cap on groups listed because a query named them", CONFIG_RELOAD_NACOS},
	{"catalog-interval", CK_DUR, FIELD(catalog_interval_ms), 0, 1, DUR_MAX, NULL, NULL, "DUR",
	 "period of the service catalog refresh", CONFIG_RELOAD_NONE},
	{"poll-interval", CK_DUR, FIELD(poll_interval_ms), 0, 1, DUR_MAX, NULL, NULL, "DUR",
	 "period of the instance list refresh of tracked services", CONFIG_RELOAD_NONE},
	{"fetch-wait", CK_DUR, FIELD(fetch_wait_ms), 0, 0, DUR_MAX, NULL, NULL, "DUR",
	 "how long a first query waits for its service's fetch", CONFIG_RELOAD_NONE},
	{"track", CK_ENUM, FIELD(track_all), 0, 0, 0, track_names, NULL, "queried|all",
	 "services kept fresh: those queried, or all", CONFIG_RELOAD_NONE},
	{"cache-file", CK_STR, FIELD(cache_file), 0, 0, 0, NULL, NULL, "FILE",
	 "where the registry is kept across restarts", CONFIG_RELOAD_NONE},
	{"push", CK_ENUM, FIELD(push), 0, 0, 0, onoff_names, NULL, "off|on",
	 "subscribe to Nacos UDP pushes of tracked services (polling stays the safety net)",
	 CONFIG_RELOAD_PUSH},
	{"push-listen", CK_STR, FIELD(push_listen), 0, 0, 0, NULL, configval_push_listen,
	 "ADDR:PORT", "UDP address for Nacos pushes, port 0: any (none: any port on every address)",
	 CONFIG_RELOAD_PUSH},
	{"push-advertise", CK_STR, FIELD(push_advertise), 0, 0, 0, NULL, configval_ip, "IP",
	 "address Nacos sends pushes to (none: our address on the connection to each server)",
	 CONFIG_RELOAD_NONE},
	{"http", CK_STR, FIELD(http), 0, 0, 0, NULL, configval_listen, "ADDR:PORT",
	 "serve /metrics, /healthz, /readyz and /snapshot over HTTP here", CONFIG_RELOAD_RESTART},
	{"allow-transfer", CK_LIST, FIELD(allow_transfer),
	 offsetof(struct config, n_allow_transfer), 0, 0, NULL, configval_cidr, "CIDR",
	 "clients allowed AXFR of the zones over TCP (repeatable)", CONFIG_RELOAD_NONE},
	{"query-log", CK_ENUM, FIELD(query_log), 0, 0, 0, onoff_names, NULL, "off|on",
	 "log one line per query: client, name, type, rcode, answers, microseconds",
	 CONFIG_RELOAD_NONE},
	{"user", CK_STR, FIELD(user), 0, 0, 0, NULL, NULL, "NAME",
	 "when started as root, switch to this user after binding", CONFIG_RELOAD_RESTART},
	{"dnstap", CK_STR, FIELD(dnstap), 0, 0, 0, NULL, configval_dnstap, "unix:PATH",
	 "send client queries and responses as dnstap to this Frame Streams socket",
	 CONFIG_RELOAD_RESTART},
};

#define N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))
const size_t config_n_keys = N_KEYS;
_Static_assert(N_KEYS <= 64 && N_KEYS <= CONFIG_MAX_KEYS,
	       "config_layer.lists_seen has one bit per key, config.origin one entry");

const struct config_key *config_key_find(const char *name)
{
	for (size_t i = 0; i < config_n_keys; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* ---- defaults ---- */

void config_defaults(struct config *c)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	char why[64];

	memset(c, 0, sizeof(*c));
	snprintf(c->listen[0], sizeof(c->listen[0]), "127.0.0.1:53");
	c->n_listen = 1;
	snprintf(c->zones[0].name, sizeof(c->zones[0].name), "svc.");
	snprintf(c->zones[0].namespace_id, sizeof(c->zones[0].namespace_id), "public");
	c->n_zones = 1;
	c->ttl = 5;
	c->negative_ttl = 5;
	c->edns_buffer = 1232;
	c->order = SNAPSHOT_ORDER_WEIGHTED;
	c->overflow = SNAPSHOT_OVERFLOW_TC;
	if (gethostname(c->hostname, sizeof(c->hostname) - 1) < 0 ||
	    configval_dns_name(c->hostname, why, sizeof(why)) < 0)
		snprintf(c->hostname, sizeof(c->hostname), "localhost");
	c->tcp_idle_timeout_ms = 10000;
	c->tcp_max_connections = 1000;
	snprintf(c->rrl_rate, sizeof(c->rrl_rate), "auto");
	snprintf(c->tcp_max_per_client, sizeof(c->tcp_max_per_client), "auto");
	c->rrl_slip = 2;
	c->threads = cpus < 1 ? 1 : cpus > 256 ? 256 : (unsigned)cpus;
	c->log_level = LOG_LEVEL_INFO;
	snprintf(c->allow_recursion[0], CONFIG_ADDR_LEN, "127.0.0.0/8");
	snprintf(c->allow_recursion[1], CONFIG_ADDR_LEN, "::1/128");
	c->n_allow_recursion = 2;
	snprintf(c->allow_transfer[0], CONFIG_ADDR_LEN, "127.0.0.0/8");
	snprintf(c->allow_transfer[1], CONFIG_ADDR_LEN, "::1/128");
	c->n_allow_transfer = 2;
	c->forward_timeout_ms = 2000;
	c->forward_max_inflight = 1000;
	c->cache = true;
	c->cache_size = 64u << 20;
	c->cache_min_ttl = 0;
	c->cache_max_ttl = 86400;
	c->cache_max_negative_ttl = 3600;
	c->cache_stale_max = 86400;
	c->max_response_size = 32u << 20;
	c->max_services = 100000;
	c->max_instances = 65536;
	c->max_tracked = 100000;
	c->fetch_max_waiting = 10000;
	c->max_groups = 64;
	c->any_group = true;
	snprintf(c->nacos_api, sizeof(c->nacos_api), "auto");
	snprintf(c->groups, sizeof(c->groups), "DEFAULT_GROUP");
	c->catalog_interval_ms = 30000;
	c->poll_interval_ms = 5000;
	c->fetch_wait_ms = 1000;
	c->push = true;
}

/* ---- what a reload changes ---- */

enum config_source config_source(const struct config *c)
{
	if (c->nacos[0] == '\0')
		return CONFIG_SOURCE_NONE;
	return strncmp(c->nacos, "file:", 5) == 0 ? CONFIG_SOURCE_FILE : CONFIG_SOURCE_HTTP;
}

/* A file source is opened once; an http(s) source takes new servers at once. */
static bool nacos_needs_restart(const struct config *a, const struct config *b)
{
	enum config_source kind = config_source(a);

	return kind != config_source(b) ||
	       (kind == CONFIG_SOURCE_FILE && strcmp(a->nacos, b->nacos) != 0);
}

static bool config_key_differs(const struct config_key *k, const struct config *a,
			       const struct config *b)
{
	const char *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;

	switch (k->kind) {
	case CK_LIST: {
		size_t na, nb;
		memcpy(&na, (const char *)a + k->off2, sizeof(na));
		memcpy(&nb, (const char *)b + k->off2, sizeof(nb));
		if (na != nb)
			return true;
		for (size_t i = 0; i < na; i++)
			if (strcmp(fa + i * CONFIG_ADDR_LEN, fb + i * CONFIG_ADDR_LEN) != 0)
				return true;
		return false;
	}
	case CK_ZONE:
	case CK_NAMESPACE:
		if (a->n_zones != b->n_zones)
			return true;
		for (size_t z = 0; z < a->n_zones; z++)
			if (strcmp(k->kind == CK_ZONE ? a->zones[z].name : a->zones[z].namespace_id,
				   k->kind == CK_ZONE ? b->zones[z].name
						      : b->zones[z].namespace_id) != 0)
				return true;
		return false;
	case CK_STR:
	case CK_SECRET:
	case CK_PASSFILE:
		return strcmp(fa, fb) != 0;
	case CK_ENUM: /* stored as bool or int, or as its text */
		if (k->size != sizeof(bool) && k->size != sizeof(int))
			return strcmp(fa, fb) != 0;
		return memcmp(fa, fb, k->size) != 0;
	case CK_UINT:
	case CK_DUR:
		return memcmp(fa, fb, k->size) != 0;
	}
	return true;
}

/* Keys whose change needs a restart in some cases although their reload column says less. */
static const struct {
	const char *key;
	bool (*needs_restart)(const struct config *a, const struct config *b);
} config_restart_cases[] = {{"nacos", nacos_needs_restart}};

size_t config_reload_changed(const struct config *a, const struct config *b,
			     enum config_reload need, char *names, size_t len)
{
	size_t n = 0, o = 0;

	for (size_t i = 0; i < config_n_keys; i++) {
		if (config_keys[i].reload != need || !config_key_differs(&config_keys[i], a, b))
			continue;
		if (names && o < len)
			o += (size_t)snprintf(names + o, len - o, "%s%s", n ? ", " : "",
					      config_keys[i].name);
		n++;
	}
	for (size_t i = 0; need == CONFIG_RELOAD_RESTART &&
			   i < sizeof(config_restart_cases) / sizeof(config_restart_cases[0]);
	     i++) {
		if (!config_restart_cases[i].needs_restart(a, b))
			continue;
		if (names && o < len)
			o += (size_t)snprintf(names + o, len - o, "%s%s", n ? ", " : "",
					      config_restart_cases[i].key);
		n++;
	}
	return n;
}

void config_snapshot(const struct config *c, struct snapshot_config *out)
{
	snapshot_config_defaults(out);
	out->n_zones = c->n_zones < SNAPSHOT_MAX_ZONES ? c->n_zones : SNAPSHOT_MAX_ZONES;
	for (size_t i = 0; i < out->n_zones; i++) {
		out->zones[i].name = c->zones[i].name;
		out->zones[i].namespace_id = c->zones[i].namespace_id;
	}
	out->ttl = c->ttl;
	out->negative_ttl = c->negative_ttl;
	out->udp_max = c->edns_buffer;
	out->order = c->order;
	out->overflow = c->overflow;
	out->hostname = c->hostname;
	out->version = "nacos-dns " NACOS_DNS_VERSION;
}

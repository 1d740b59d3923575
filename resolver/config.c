#include "resolver/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "build_config.h"
#include "resolver/checkconf.h"
#include "resolver/dnstap.h"
#include "resolver/readfile.h"
#include "zones/net/addr.h"

/* A configuration is a few kB; a password file holds one line. */
#define CONFIG_MAX_FILE          (1u << 20)
#define CONFIG_MAX_PASSWORD_FILE 4096

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

struct config_key;
/* Validates (and may normalise) val in place. 0, or -EINVAL with why filled. */
typedef int (*config_check_cb)(const struct config_key *k, char *val, size_t size, char *why,
			       size_t why_len);

struct config_key {
	const char *name;
	enum config_kind kind;
	size_t off, size; /* the field in struct config */
	size_t off2;      /* CK_LIST: its count */
	unsigned long min, max;
	const char *const *choices;
	config_check_cb check;
	const char *arg;
	const char *help;
	enum config_reload reload; /* what a change of it on SIGHUP needs */
};

/* One source of settings (environment, one file, the flags). A list key named in a layer
 * replaces the list the layers before it built. */
struct config_layer {
	uint64_t lists_seen;         /* bit per config_keys index */
	struct config_origin origin; /* recorded for each key this layer sets */
	bool is_flags;
	bool zone_sections;  /* file: a [zone] section was seen */
	bool zone_collapsed; /* flags: --zone/--namespace cut the zone list down to one */
	bool has_password;   /* file: holds a password */
	char default_ns[128];
	char why[192];
};

/* A configuration error, as the operator reads it ("file:line: key: problem"): plain on
 * stderr, with journald's error priority when it is listening there. */
__attribute__((format(printf, 1, 2))) static void config_complain(const char *fmt, ...)
{
	va_list ap;

	fputs(log_prefix(LOG_LEVEL_ERR), stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define DUR_MAX  2147483647UL
#define TTL_MAX  2147483647UL

static const char *const order_names[] = {"weighted", "client", NULL};
static const char *const truncate_names[] = {"tc", "subset", NULL};
static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const api_names[] = {"auto", "v1", "v3", NULL};
static const char *const transport_names[] = {"auto", "grpc", "http", NULL};
static const char *const track_names[] = {"queried", "all", NULL};
static const char *const onoff_names[] = {"off", "on", NULL};

static int check_listen(const struct config_key *k, char *v, size_t size, char *why, size_t n);
static int check_upstream(const struct config_key *k, char *v, size_t size, char *why, size_t n);
static int check_cidr(const struct config_key *k, char *v, size_t size, char *why, size_t n);
static int check_nacos(const struct config_key *k, char *v, size_t size, char *why, size_t n);
static int check_hostname(const struct config_key *k, char *v, size_t size, char *why, size_t n);
static int check_readable(const struct config_key *k, char *v, size_t size, char *why, size_t n);
static int check_groups(const struct config_key *k, char *v, size_t size, char *why, size_t n);
static int check_auto_count(const struct config_key *k, char *v, size_t size, char *why, size_t n);
static int check_push_listen(const struct config_key *k, char *v, size_t size, char *why, size_t n);
static int check_ip(const struct config_key *k, char *v, size_t size, char *why, size_t n);
static int check_dnstap(const struct config_key *k, char *v, size_t size, char *why, size_t n);

static const struct config_key config_keys[] = {
	{"listen", CK_LIST, FIELD(listen), offsetof(struct config, n_listen), 0, 0, NULL,
	 check_listen, "ADDR:PORT", "address to serve DNS on, \"[v6]:PORT\" for IPv6 (repeatable)",
	 CONFIG_RELOAD_RESTART},
	{"nacos", CK_STR, FIELD(nacos), 0, 0, 0, NULL, check_nacos, "SOURCE[,SOURCE...]",
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
	{"hostname", CK_STR, FIELD(hostname), 0, 0, 0, NULL, check_hostname, "NAME",
	 "name in hostname.bind, id.server and the SOA", CONFIG_RELOAD_SNAPSHOT},
	{"tcp-idle-timeout", CK_DUR, FIELD(tcp_idle_timeout_ms), 0, 1, DUR_MAX, NULL, NULL, "DUR",
	 "close idle TCP connections after this long", CONFIG_RELOAD_RESTART},
	{"tcp-max-connections", CK_UINT, FIELD(tcp_max_connections), 0, 1, 1000000, NULL, NULL, "N",
	 "cap on open TCP connections", CONFIG_RELOAD_RESTART},
	{"tcp-max-per-client", CK_STR, FIELD(tcp_max_per_client), 0, 0, 0, NULL, check_auto_count,
	 "N|auto",
	 "cap on open TCP connections per client /24 or /56 (0: off; auto: 64, none on "
	 "loopback)",
	 CONFIG_RELOAD_RESTART},
	{"rrl-rate", CK_STR, FIELD(rrl_rate), 0, 0, 0, NULL, check_auto_count, "N|auto",
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
	 check_upstream, "ADDR[:PORT]",
	 "resolver for names outside the zones (repeatable; none: /etc/resolv.conf)",
	 CONFIG_RELOAD_FORWARD},
	{"allow-recursion", CK_LIST, FIELD(allow_recursion),
	 offsetof(struct config, n_allow_recursion), 0, 0, NULL, check_cidr, "CIDR",
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
	{"nacos-transport", CK_ENUM, FIELD(nacos_transport), 0, 0, 0, transport_names, NULL,
	 "auto|grpc|http",
	 "Nacos transport: gRPC (port + 1000) with pushes, HTTP polls, or gRPC when it answers",
	 CONFIG_RELOAD_NACOS},
	{"nacos-ca", CK_STR, FIELD(nacos_ca), 0, 0, 0, NULL, check_readable, "FILE",
	 "CA bundle for https Nacos servers", CONFIG_RELOAD_NACOS},
	{"username", CK_STR, FIELD(username), 0, 0, 0, NULL, NULL, "NAME", "Nacos user",
	 CONFIG_RELOAD_NACOS},
	{"password", CK_SECRET, FIELD(password), 0, 0, 0, NULL, NULL, "PASSWORD",
	 "Nacos password (prefer password-file)", CONFIG_RELOAD_NACOS},
	{"password-file", CK_PASSFILE, FIELD(password_file), 0, 0, 0, NULL, NULL, "FILE",
	 "file holding the Nacos password", CONFIG_RELOAD_NONE},
	{"groups", CK_STR, FIELD(groups), 0, 0, 0, NULL, check_groups, "GROUP[,GROUP...]",
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
	{"push-listen", CK_STR, FIELD(push_listen), 0, 0, 0, NULL, check_push_listen, "ADDR:PORT",
	 "UDP address for Nacos pushes, port 0: any (none: any port on every address)",
	 CONFIG_RELOAD_PUSH},
	{"push-advertise", CK_STR, FIELD(push_advertise), 0, 0, 0, NULL, check_ip, "IP",
	 "address Nacos sends pushes to (none: our address on the connection to each server)",
	 CONFIG_RELOAD_NONE},
	{"http", CK_STR, FIELD(http), 0, 0, 0, NULL, check_listen, "ADDR:PORT",
	 "serve /metrics, /healthz, /readyz and /snapshot over HTTP here", CONFIG_RELOAD_RESTART},
	{"allow-transfer", CK_LIST, FIELD(allow_transfer),
	 offsetof(struct config, n_allow_transfer), 0, 0, NULL, check_cidr, "CIDR",
	 "clients allowed AXFR of the zones over TCP (repeatable)", CONFIG_RELOAD_NONE},
	{"query-log", CK_ENUM, FIELD(query_log), 0, 0, 0, onoff_names, NULL, "off|on",
	 "log one line per query: client, name, type, rcode, answers, microseconds",
	 CONFIG_RELOAD_NONE},
	{"user", CK_STR, FIELD(user), 0, 0, 0, NULL, NULL, "NAME",
	 "when started as root, switch to this user after binding", CONFIG_RELOAD_RESTART},
	{"dnstap", CK_STR, FIELD(dnstap), 0, 0, 0, NULL, check_dnstap, "unix:PATH",
	 "send client queries and responses as dnstap to this Frame Streams socket",
	 CONFIG_RELOAD_RESTART},
};

#define N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))
_Static_assert(N_KEYS <= 64 && N_KEYS <= CONFIG_MAX_KEYS,
	       "config_layer.lists_seen has one bit per key, config.origin one entry");

static const struct config_key *config_key_find(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

static int why_set(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_set(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int copy_str(char *dst, size_t size, const char *v, char *why, size_t n)
{
	size_t len = strlen(v);
	if (len >= size)
		return why_set(why, n, "too long (at most %zu bytes)", size - 1);
	memcpy(dst, v, len + 1);
	return 0;
}

/* ---- value checks ---- */

/* ADDR:PORT or [v6]:PORT (also a bare address when default_port is nonzero), rewritten in the
 * canonical form addr_str prints. */
static int check_hostport(char *v, size_t size, uint16_t default_port, unsigned flags, char *why,
			  size_t n)
{
	struct sockaddr_storage ss;

	if (addr_parse(v, default_port, flags, &ss, why, n) < 0)
		return -EINVAL;
	addr_str((const struct sockaddr *)&ss, v, size);
	return 0;
}

static int check_listen(const struct config_key *k, char *v, size_t size, char *why, size_t n)
{
	return check_hostport(v, size, 0, 0, why, n);
}

static int check_upstream(const struct config_key *k, char *v, size_t size, char *why, size_t n)
{
	return check_hostport(v, size, 53, 0, why, n);
}

static int check_cidr(const struct config_key *k, char *v, size_t size, char *why, size_t n)
{
	struct addr_cidr c;
	return addr_cidr_parse(v, &c, why, n);
}

/* A DNS name in presentation form: labels of 1..63 letters, digits, '-' or '_'. */
static int check_dns_name(const char *v, char *why, size_t n)
{
	size_t len = strlen(v), label = 0;
	if (len == 0 || strcmp(v, ".") == 0)
		return why_set(why, n, "empty name");
	if (len > 254 || (len == 254 && v[253] != '.'))
		return why_set(why, n, "name too long");
	for (const char *p = v; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return why_set(why, n, "empty label in \"%s\"", v);
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return why_set(why, n, "bad character '%c' in \"%s\"", *p, v);
		if (++label > 63)
			return why_set(why, n, "label longer than 63 in \"%s\"", v);
	}
	return 0;
}

/* A zone name, normalised to lowercase with a trailing dot. */
static int zone_name_set(char *dst, size_t size, const char *v, char *why, size_t n)
{
	size_t len = strlen(v);
	if (check_dns_name(v, why, n) < 0)
		return -EINVAL;
	if (len + 2 > size)
		return why_set(why, n, "name too long");
	for (size_t i = 0; i < len; i++)
		dst[i] = (char)tolower((unsigned char)v[i]);
	if (dst[len - 1] != '.')
		dst[len++] = '.';
	dst[len] = '\0';
	return 0;
}

static int check_hostname(const struct config_key *k, char *v, size_t size, char *why, size_t n)
{
	return check_dns_name(v, why, n);
}

static int check_readable(const struct config_key *k, char *v, size_t size, char *why, size_t n)
{
	if (*v && access(v, R_OK) < 0)
		return why_set(why, n, "cannot read %s: %s", v, strerror(errno));
	return 0;
}

static int check_groups(const struct config_key *k, char *v, size_t size, char *why, size_t n)
{
	const char *p = v;
	for (;;) {
		size_t len = strcspn(p, ",");
		if (len == 0)
			return why_set(why, n, "empty group name");
		if (memchr(p, ' ', len) || (strstr(p, "@@") && strstr(p, "@@") < p + len))
			return why_set(why, n, "bad group name \"%.*s\"", (int)len, p);
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static int check_auto_count(const struct config_key *k, char *v, size_t size, char *why, size_t n)
{
	char *end;
	unsigned long rate;

	if (strcmp(v, "auto") == 0)
		return 0;
	errno = 0;
	rate = strtoul(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end || errno || rate > 1000000)
		return why_set(why, n, "\"%s\" is not auto or a number 0..1000000", v);
	return 0;
}

/* "" (any address, any port), or ADDR:PORT / [v6]:PORT where port 0 means any. */
static int check_push_listen(const struct config_key *k, char *v, size_t size, char *why, size_t n)
{
	return *v ? check_hostport(v, size, 0, ADDR_ANY_PORT, why, n) : 0;
}

static int check_ip(const struct config_key *k, char *v, size_t size, char *why, size_t n)
{
	char ip[ADDR_STR_LEN];
	if (*v && !*addr_ip_canon(v, ip, sizeof(ip)))
		return why_set(why, n, "\"%s\" is not an IPv4 or IPv6 address", v);
	return 0;
}

static int check_dnstap(const struct config_key *k, char *v, size_t size, char *why, size_t n)
{
	return *v ? dnstap_check_target(v, why, n) : 0;
}

/* One http(s)://host:port[/...] source. */
static int check_nacos_url(const char *s, size_t len, char *why, size_t n)
{
	size_t scheme = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;
	const char *host = s + scheme, *end = s + len, *colon;
	const char *hend = memchr(host, '/', (size_t)(end - host));
	char port[8];
	uint16_t p;

	if (memchr(s, '@', len)) /* not echoed: it may hold a password */
		return why_set(why, n,
			       "a URL with credentials (user:password@) is refused: "
			       "use --username and --password-file");
	if (!scheme)
		return why_set(why, n, "\"%.*s\": expects file:PATH or http(s)://host:port",
			       (int)len, s);
	hend = hend ? hend : end;
	colon = host[0] == '[' ? memchr(host, ']', (size_t)(hend - host)) : host;
	colon = colon ? memchr(colon, ':', (size_t)(hend - colon)) : NULL;
	if (!colon || colon == host || (size_t)(hend - colon - 1) >= sizeof(port))
		return why_set(why, n, "\"%.*s\": expects http(s)://host:port", (int)len, s);
	memcpy(port, colon + 1, (size_t)(hend - colon - 1));
	port[hend - colon - 1] = '\0';
	if (addr_parse_port(port, 0, &p) < 0)
		return why_set(why, n, "\"%.*s\": bad port (1..65535)", (int)len, s);
	return 0;
}

static int check_nacos(const struct config_key *k, char *v, size_t size, char *why, size_t n)
{
	if (strncmp(v, "file:", 5) == 0) {
		if (!v[5])
			return why_set(why, n, "file: needs a path");
		if (strchr(v, ','))
			return why_set(why, n, "a file: source cannot be combined with others");
		return 0;
	}
	for (const char *p = v;;) {
		size_t len = strcspn(p, ",");
		if (check_nacos_url(p, len, why, n) < 0)
			return -EINVAL;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

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
		return why_set(why, n, "expects an integer in %lu..%lu, got \"%s\"", k->min, k->max,
			       v);
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
		return why_set(why, n, "expects a duration such as 500ms, 5s or 2m, got \"%s\"", v);
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0)
		mult = 60000;
	else if (*end && strcmp(end, "s") != 0)
		return why_set(why, n, "expects a duration such as 500ms, 5s or 2m, got \"%s\"", v);
	if (x > k->max / mult || x * mult < k->min)
		return why_set(why, n, "duration out of range (%lums..%lums): \"%s\"", k->min,
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
		else /* kept as text: nacos_api, nacos_transport */
			snprintf(field, k->size, "%s", v);
		return 0;
	}
	return why_set(why, n, "expects %s, got \"%s\"", k->arg, v);
}

static int set_string(struct config *c, const struct config_key *k, const char *v, char *why,
		      size_t n)
{
	char buf[CONFIG_PATH_LEN];
	if (copy_str(buf, k->size, v, why, n) < 0)
		return -EINVAL;
	if (k->check && k->check(k, buf, k->size, why, n) < 0)
		return -EINVAL;
	memcpy((char *)c + k->off, buf, strlen(buf) + 1);
	return 0;
}

static int set_list(struct config *c, const struct config_key *k, const char *v,
		    struct config_layer *l, char *why, size_t n)
{
	char(*items)[CONFIG_ADDR_LEN] = (void *)((char *)c + k->off);
	size_t *count = (size_t *)(void *)((char *)c + k->off2);
	uint64_t bit = UINT64_C(1) << (k - config_keys);
	char buf[CONFIG_ADDR_LEN] = {0};

	if (copy_str(buf, sizeof(buf), v, why, n) < 0 || k->check(k, buf, sizeof(buf), why, n) < 0)
		return -EINVAL;
	if (!(l->lists_seen & bit)) {
		l->lists_seen |= bit;
		*count = 0;
	}
	if (*count >= CONFIG_MAX_LIST)
		return why_set(why, n, "too many entries (at most %d)", CONFIG_MAX_LIST);
	memcpy(items[(*count)++], buf, sizeof(buf));
	return 0;
}

static void warn_if_readable(const char *path, const char *what)
{
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
		log_warn("config", "%s holds %s and is readable by group or others (chmod 600)",
			 path, what);
}

static int set_password_file(struct config *c, const struct config_key *k, const char *v, char *why,
			     size_t n)
{
	char *buf;
	size_t len;
	int rc = readfile(v, CONFIG_MAX_PASSWORD_FILE, &buf, &len, NULL);
	if (rc < 0)
		return why_set(why, n, "cannot read %s: %s", v, readfile_strerror(rc));
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len >= sizeof(c->password) || memchr(buf, '\0', len)) {
		free(buf);
		return why_set(why, n, "%s: password too long or not text", v);
	}
	if (copy_str(c->password_file, sizeof(c->password_file), v, why, n) < 0) {
		free(buf);
		return -EINVAL;
	}
	memcpy(c->password, buf, len);
	c->password[len] = '\0';
	free(buf);
	warn_if_readable(v, "a password");
	return 0;
}

/* --zone/--namespace on the command line: the zone list becomes its first zone alone. */
static void zone_collapse(struct config *c, struct config_layer *l)
{
	if (l->is_flags && !l->zone_collapsed) {
		l->zone_collapsed = true;
		c->n_zones = 1;
	}
}

static int set_zone_key(struct config *c, const struct config_key *k, const char *v,
			struct config_layer *l, char *why, size_t n)
{
	struct config_zone *z = &c->zones[0];
	if (l->zone_sections)
		return why_set(why, n, "cannot be combined with [zone NAME] sections");
	zone_collapse(c, l);
	if (k->kind == CK_ZONE)
		return zone_name_set(z->name, sizeof(z->name), v, why, n);
	if (!*v)
		return why_set(why, n, "empty namespace");
	return copy_str(z->namespace_id, sizeof(z->namespace_id), v, why, n);
}

static int config_set_value(struct config *c, const struct config_key *k, const char *v,
			    struct config_layer *l)
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

static int config_set(struct config *c, const char *key, const char *v, struct config_layer *l)
{
	const struct config_key *k = config_key_find(key);
	int rc;

	if (!k)
		return why_set(l->why, sizeof(l->why), "unknown key");
	if ((rc = config_set_value(c, k, v, l)) == 0)
		c->origin[k - config_keys] = l->origin;
	return rc;
}

/* ---- defaults and environment ---- */

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
	    check_dns_name(c->hostname, why, sizeof(why)) < 0)
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
	snprintf(c->nacos_transport, sizeof(c->nacos_transport), "auto");
	snprintf(c->groups, sizeof(c->groups), "DEFAULT_GROUP");
	c->catalog_interval_ms = 30000;
	c->poll_interval_ms = 5000;
	c->fetch_wait_ms = 1000;
	c->push = true;
}

/* NACOS_SERVER_ADDR: "host:port,host:port"; a source without a scheme gets "http://", as the
 * Nacos SDKs do. */
static int env_server_addr(struct config *c, const char *v, struct config_layer *l)
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
			return why_set(l->why, sizeof(l->why), "too long");
		o += (size_t)w;
		if (!p[len])
			break;
		p += len + 1;
	}
	return config_set(c, "nacos", buf, l);
}

static int config_apply_env(struct config *c)
{
	static const struct {
		const char *env, *key;
	} vars[] = {{"NACOS_SERVER_ADDR", "nacos"},
		    {"NACOS_NAMESPACE", "namespace"},
		    {"NACOS_USERNAME", "username"},
		    {"NACOS_PASSWORD", "password"}};
	struct config_layer l = {.origin.from = CONFIG_FROM_ENV};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i].env);
		int rc;
		if (!v || !*v)
			continue;
		if (i == 0)
			rc = env_server_addr(c, v, &l);
		else
			rc = config_set(c, vars[i].key, v, &l);
		if (rc < 0) {
			config_complain("%s: %s\n", vars[i].env, l.why);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- the INI file ---- */

struct config_file {
	struct config *cfg;
	struct config_layer layer;
	FILE *fp;
	int line;
	int err_line; /* first error: line, key and why */
	char err_key[320];
	char err_why[sizeof(((struct config_layer *)0)->why)];
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
	struct config_layer *l = &f->layer;
	char name[256];

	if (strcmp(sect, "server") == 0)
		return 1;
	if (strncmp(sect, "zone", 4) != 0 || !isspace((unsigned char)sect[4]))
		return file_error(f, sect, "unknown section (expects [server] or [zone NAME])");
	if (zone_name_set(name, sizeof(name), sect + 5 + strspn(sect + 5, " \t"), l->why,
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
		if (copy_str(z->namespace_id, sizeof(z->namespace_id), value, f->layer.why,
			     sizeof(f->layer.why)) < 0)
			return file_error(f, name, f->layer.why);
		return 1;
	}
	f->layer.origin = (struct config_origin){CONFIG_FROM_FILE, f->line};
	if (config_set(f->cfg, name, value, &f->layer) < 0)
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
		config_complain("%s: cannot open: %s\n", path, readfile_strerror(rc));
		return NULL;
	}
	/* fmemopen refuses a size of 0: an empty file is its one NUL. */
	if (!(fp = fmemopen(*text, len ? len : 1, "r"))) {
		config_complain("%s: cannot read: %s\n", path, strerror(errno));
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
		config_complain("%s:%d: %s: %s\n", path, f.err_line, f.err_key, f.err_why);
	else if (rc != 0)
		config_complain("%s:%d: syntax error (expects key = value or [section])\n", path,
				rc);
	else if (copy_str(f.cfg->config_file, sizeof(f.cfg->config_file), path, f.layer.why,
			  sizeof(f.layer.why)) < 0)
		config_complain("%s: path %s\n", path, f.layer.why);
	else {
		if (f.layer.has_password)
			warn_if_readable(path, "a password");
		*c = *f.cfg;
		ok = true;
	}
	free(f.cfg);
	return ok ? 0 : -EINVAL;
}

/* ---- the command line ---- */

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

static void config_print_help(const char *prog)
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
	for (size_t i = 0; i < N_KEYS; i++) {
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
		config_complain("%s: unexpected argument (see --help)\n", a);
		return -EINVAL;
	}
	takes_value = strcmp(key, "help") != 0 && strcmp(key, "version") != 0 &&
		      strcmp(key, "print") != 0;
	if (takes_value && !config_key_find(key) && strcmp(key, "config") != 0 &&
	    strcmp(key, "check-config") != 0) {
		config_complain("--%s: unknown flag (see --help)\n", key);
		return -EINVAL;
	}
	if (!takes_value && *value) {
		config_complain("--%s: takes no value\n", key);
		return -EINVAL;
	}
	if (takes_value && !*value) {
		if (*i + 1 >= argc) {
			config_complain("--%s: missing value\n", key);
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
			config_print_help(argv[0]);
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
		config_complain("--print: only with --check-config\n");
		return 2;
	}
	return 0;
}

static int flags_apply(struct config *c, int argc, char **argv)
{
	struct config_layer l = {.is_flags = true, .origin.from = CONFIG_FROM_FLAG};
	char key[64];
	const char *v;
	for (int i = 1; i < argc; i++) {
		if (flag_next(argc, argv, &i, key, sizeof(key), &v) < 0)
			return -EINVAL;
		if (strcmp(key, "config") == 0 || strcmp(key, "check-config") == 0 ||
		    strcmp(key, "print") == 0)
			continue;
		if (config_set(c, key, v, &l) < 0) {
			config_complain("--%s: %s\n", key, l.why);
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
		config_complain("config: an address the checks passed does not parse (a bug): %s\n",
				why);
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
		config_complain("config: out of memory\n");
		return 2;
	}
	config_defaults(tmp);
	if (config_apply_env(tmp) < 0 || (file && config_load_file(tmp, file) < 0) ||
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

	for (size_t i = 0; i < N_KEYS; i++) {
		const struct config_key *k = &config_keys[i];
		const struct config_origin *o = &c->origin[i];
		print_value(c, k, val, sizeof(val));
		if (o->from == CONFIG_FROM_FILE)
			fprintf(out, "%s = %s  # %s:%d\n", k->name, val, c->config_file, o->line);
		else
			fprintf(out, "%s = %s  # %s\n", k->name, val, from[o->from]);
	}
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

size_t config_reload_changed(const struct config *a, const struct config *b,
			     enum config_reload need, char *names, size_t len)
{
	size_t n = 0, o = 0;

	for (size_t i = 0; i < N_KEYS; i++) {
		if (config_keys[i].reload != need || !config_key_differs(&config_keys[i], a, b))
			continue;
		if (names && o < len)
			o += (size_t)snprintf(names + o, len - o, "%s%s", n ? ", " : "",
					      config_keys[i].name);
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

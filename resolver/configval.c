#include "resolver/configval.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resolver/dnstap.h"
#include "resolver/log.h"
#include "zones/net/addr.h"

void configval_complain(const char *fmt, ...)
{
	va_list ap;

	fputs(log_prefix(LOG_LEVEL_ERR), stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

int configval_why(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int configval_copy(char *dst, size_t size, const char *v, char *why, size_t n)
{
	size_t len = strlen(v);
	if (len >= size)
		return configval_why(why, n, "too long (at most %zu bytes)", size - 1);
	memcpy(dst, v, len + 1);
	return 0;
}

void configval_warn_readable(const char *path, const char *what)
{
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
		log_warn("config", "%s holds %s and is readable by group or others (chmod 600)",
			 path, what);
}

/* ---- value checks ---- */

/* ADDR:PORT or [v6]:PORT (also a bare address when default_port is nonzero), rewritten in the
 * canonical form addr_str prints. */
static int hostport(char *v, size_t size, uint16_t default_port, unsigned flags, char *why,
		    size_t n)
{
	struct sockaddr_storage ss;

	if (addr_parse(v, default_port, flags, &ss, why, n) < 0)
		return -EINVAL;
	addr_str((const struct sockaddr *)&ss, v, size);
	return 0;
}

int configval_listen(char *v, size_t size, char *why, size_t n)
{
	return hostport(v, size, 0, 0, why, n);
}

int configval_upstream(char *v, size_t size, char *why, size_t n)
{
	return hostport(v, size, 53, 0, why, n);
}

int configval_cidr(char *v, size_t size, char *why, size_t n)
{
	struct addr_cidr c;
	return addr_cidr_parse(v, &c, why, n);
}

/* A DNS name in presentation form: labels of 1..63 letters, digits, '-' or '_'. */
int configval_dns_name(const char *v, char *why, size_t n)
{
	size_t len = strlen(v), label = 0;
	if (len == 0 || strcmp(v, ".") == 0)
		return configval_why(why, n, "empty name");
	if (len > 254 || (len == 254 && v[253] != '.'))
		return configval_why(why, n, "name too long");
	for (const char *p = v; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return configval_why(why, n, "empty label in \"%s\"", v);
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return configval_why(why, n, "bad character '%c' in \"%s\"", *p, v);
		if (++label > 63)
			return configval_why(why, n, "label longer than 63 in \"%s\"", v);
	}
	return 0;
}

/* A zone name, normalised to lowercase with a trailing dot. */
int configval_zone_name(char *dst, size_t size, const char *v, char *why, size_t n)
{
	size_t len = strlen(v);
	if (configval_dns_name(v, why, n) < 0)
		return -EINVAL;
	if (len + 2 > size)
		return configval_why(why, n, "name too long");
	for (size_t i = 0; i < len; i++)
		dst[i] = (char)tolower((unsigned char)v[i]);
	if (dst[len - 1] != '.')
		dst[len++] = '.';
	dst[len] = '\0';
	return 0;
}

int configval_hostname(char *v, size_t size, char *why, size_t n)
{
	return configval_dns_name(v, why, n);
}

int configval_readable(char *v, size_t size, char *why, size_t n)
{
	if (*v && access(v, R_OK) < 0)
		return configval_why(why, n, "cannot read %s: %s", v, strerror(errno));
	return 0;
}

int configval_groups(char *v, size_t size, char *why, size_t n)
{
	const char *p = v;
	for (;;) {
		size_t len = strcspn(p, ",");
		if (len == 0)
			return configval_why(why, n, "empty group name");
		if (memchr(p, ' ', len) || (strstr(p, "@@") && strstr(p, "@@") < p + len))
			return configval_why(why, n, "bad group name \"%.*s\"", (int)len, p);
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

int configval_auto_count(char *v, size_t size, char *why, size_t n)
{
	char *end;
	unsigned long rate;

	if (strcmp(v, "auto") == 0)
		return 0;
	errno = 0;
	rate = strtoul(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end || errno || rate > 1000000)
		return configval_why(why, n, "\"%s\" is not auto or a number 0..1000000", v);
	return 0;
}

/* "" (any address, any port), or ADDR:PORT / [v6]:PORT where port 0 means any. */
int configval_push_listen(char *v, size_t size, char *why, size_t n)
{
	return *v ? hostport(v, size, 0, ADDR_ANY_PORT, why, n) : 0;
}

int configval_ip(char *v, size_t size, char *why, size_t n)
{
	char ip[ADDR_STR_LEN];
	if (*v && !*addr_ip_canon(v, ip, sizeof(ip)))
		return configval_why(why, n, "\"%s\" is not an IPv4 or IPv6 address", v);
	return 0;
}

int configval_dnstap(char *v, size_t size, char *why, size_t n)
{
	return *v ? dnstap_check_target(v, why, n) : 0;
}

/* One http(s)://host:port[/...] source. */
static int nacos_url(const char *s, size_t len, char *why, size_t n)
{
	size_t scheme = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;
	const char *host = s + scheme, *end = s + len, *colon;
	const char *hend = memchr(host, '/', (size_t)(end - host));
	char port[8];
	uint16_t p;

	if (memchr(s, '@', len)) /* not echoed: it may hold a password */
		return configval_why(why, n,
				     "a URL with credentials (user:password@) is refused: "
				     "use --username and --password-file");
	if (!scheme)
		return configval_why(why, n, "\"%.*s\": expects file:PATH or http(s)://host:port",
				     (int)len, s);
	hend = hend ? hend : end;
	colon = host[0] == '[' ? memchr(host, ']', (size_t)(hend - host)) : host;
	colon = colon ? memchr(colon, ':', (size_t)(hend - colon)) : NULL;
	if (!colon || colon == host || (size_t)(hend - colon - 1) >= sizeof(port))
		return configval_why(why, n, "\"%.*s\": expects http(s)://host:port", (int)len, s);
	memcpy(port, colon + 1, (size_t)(hend - colon - 1));
	port[hend - colon - 1] = '\0';
	if (addr_parse_port(port, 0, &p) < 0)
		return configval_why(why, n, "\"%.*s\": bad port (1..65535)", (int)len, s);
	return 0;
}

int configval_nacos(char *v, size_t size, char *why, size_t n)
{
	if (strncmp(v, "file:", 5) == 0) {
		if (!v[5])
			return configval_why(why, n, "file: needs a path");
		if (strchr(v, ','))
			return configval_why(why, n,
					     "a file: source cannot be combined with others");
		return 0;
	}
	for (const char *p = v;;) {
		size_t len = strcspn(p, ",");
		if (nacos_url(p, len, why, n) < 0)
			return -EINVAL;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/* Configuration: files under config/ (good-*.conf name their expected values in "# expect KEY =
 * VALUE" lines, bad-*.conf the error's line and key in "# expect LINE KEY"), flags, environment. */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "resolver/config.h"

#define EXAMPLE "../../contrib/nacos-dns.conf.example"

static char captured[65536];

struct capture {
	int fd, saved, tmp;
};

/* Sends fd (1 or 2) to a temporary file until capture_end, which leaves its text in captured. */
static void capture_begin(struct capture *cap, int fd)
{
	char path[] = "/tmp/test_config_XXXXXX";
	cap->fd = fd;
	cap->tmp = mkstemp(path);
	CHECK(cap->tmp >= 0);
	unlink(path);
	fflush(fd == 1 ? stdout : stderr);
	cap->saved = dup(fd);
	CHECK(cap->saved >= 0 && dup2(cap->tmp, fd) == fd);
}

static void capture_end(struct capture *cap)
{
	ssize_t n;
	fflush(cap->fd == 1 ? stdout : stderr);
	CHECK(dup2(cap->saved, cap->fd) == cap->fd);
	close(cap->saved);
	n = pread(cap->tmp, captured, sizeof(captured) - 1, 0);
	CHECK(n >= 0);
	captured[n] = '\0';
	close(cap->tmp);
}

static int run_args_capture(int fd, struct config *c, int argc, char **argv)
{
	struct capture cap;
	int rc;
	capture_begin(&cap, fd);
	rc = config_from_args(c, argc, argv);
	capture_end(&cap);
	return rc;
}

#define ARGS(...)                                                                                  \
	(char *[])                                                                                 \
	{                                                                                          \
		"nacos-dns", __VA_ARGS__, NULL                                                     \
	}
#define NARGS(...)  (int)(sizeof((char *[]){"nacos-dns", __VA_ARGS__}) / sizeof(char *))
#define RUN(c, ...) run_args_capture(2, c, NARGS(__VA_ARGS__), ARGS(__VA_ARGS__))

static void show(const struct config *c, const char *key, char *buf, size_t n)
{
	if (strcmp(key, "zones") == 0) { /* not a key: the zone list, "name=ns,..." */
		size_t o = 0;
		buf[0] = '\0';
		for (size_t i = 0; i < c->n_zones; i++)
			o += (size_t)snprintf(buf + o, n - o, "%s%s=%s", i ? "," : "",
					      c->zones[i].name, c->zones[i].namespace_id);
		return;
	}
	CHECK_INT_EQ(config_get(c, key, buf, n), 0);
}

static void check_good_file(const char *path)
{
	char line[512], key[64], want[400], got[1200];
	struct config c;
	size_t n = 0;
	FILE *f;

	CHECK_INT_EQ(RUN(&c, "-c", (char *)path), 0);
	CHECK_STR_EQ(captured, "");
	CHECK_STR_EQ(c.config_file, path);
	CHECK((f = fopen(path, "r")) != NULL);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "# expect %63s = %399[^\n]", key, want) != 2)
			continue;
		show(&c, key, got, sizeof(got));
		if (strcmp(got, want) != 0)
			fprintf(stderr, "%s: %s\n", path, key);
		CHECK_STR_EQ(got, want);
		n++;
	}
	fclose(f);
	CHECK(n > 0);
}

static void check_bad_file(const char *path)
{
	char line[512], key[64], want[600];
	struct config c, before;
	int lineno;
	FILE *f;

	CHECK((f = fopen(path, "r")) != NULL);
	CHECK(fgets(line, sizeof(line), f) != NULL);
	fclose(f);
	CHECK(sscanf(line, "# expect %d %63s", &lineno, key) == 2);
	snprintf(want, sizeof(want), "%s:%d: %s", path, lineno, key);

	/* through the whole loader, and through --check-config */
	CHECK_INT_EQ(RUN(&c, "-c", (char *)path), 2);
	if (!strstr(captured, want))
		fprintf(stderr, "want \"%s\" in: %s", want, captured);
	CHECK(strstr(captured, want) == captured);
	CHECK_INT_EQ(RUN(&c, "--check-config", (char *)path), 2);
	CHECK(strstr(captured, want) == captured);

	/* config_load_file alone leaves the config untouched */
	struct capture cap;
	config_defaults(&c);
	before = c;
	capture_begin(&cap, 2);
	CHECK(config_load_file(&c, path) < 0);
	capture_end(&cap);
	CHECK(strstr(captured, want) == captured);
	CHECK(memcmp(&c, &before, sizeof(c)) == 0);
}

static void test_files(void)
{
	struct dirent **ents;
	int good = 0, bad = 0, n = scandir("config", &ents, NULL, alphasort);
	CHECK(n > 0);
	for (int i = 0; i < n; i++) {
		char path[300];
		const char *name = ents[i]->d_name;
		size_t len = strlen(name);
		snprintf(path, sizeof(path), "config/%s", name);
		if (len > 5 && strcmp(name + len - 5, ".conf") == 0) {
			if (strncmp(name, "good-", 5) == 0) {
				check_good_file(path);
				good++;
			} else if (strncmp(name, "bad-", 4) == 0) {
				check_bad_file(path);
				bad++;
			}
		}
		free(ents[i]);
	}
	free(ents);
	CHECK(good >= 5);
	CHECK(bad >= 20);
}

static void test_defaults(void)
{
	struct config c;
	CHECK_INT_EQ(RUN(&c, "--ttl", "5"), 0);
	CHECK_INT_EQ(c.n_listen, 1);
	CHECK_STR_EQ(c.listen[0], "127.0.0.1:53");
	CHECK_INT_EQ(c.n_zones, 1);
	CHECK_STR_EQ(c.zones[0].name, "svc.");
	CHECK_STR_EQ(c.zones[0].namespace_id, "public");
	CHECK_INT_EQ(c.ttl, 5);
	CHECK_INT_EQ(c.negative_ttl, 5);
	CHECK_INT_EQ(c.edns_buffer, 1232);
	CHECK_INT_EQ(c.order, SNAPSHOT_ORDER_WEIGHTED);
	CHECK_INT_EQ(c.overflow, SNAPSHOT_OVERFLOW_TC);
	CHECK_INT_EQ(c.tcp_idle_timeout_ms, 10000);
	CHECK_INT_EQ(c.tcp_max_connections, 1000);
	CHECK(c.threads >= 1 && c.threads <= 256);
	CHECK_INT_EQ(c.log_level, LOG_LEVEL_INFO);
	CHECK_INT_EQ(c.n_upstream, 0);
	CHECK_INT_EQ(c.n_allow_recursion, 2);
	CHECK_INT_EQ(c.forward_timeout_ms, 2000);
	CHECK_STR_EQ(c.nacos, "");
	CHECK_STR_EQ(c.nacos_api, "auto");
	CHECK_STR_EQ(c.groups, "DEFAULT_GROUP");
	CHECK_INT_EQ(c.catalog_interval_ms, 30000);
	CHECK_INT_EQ(c.poll_interval_ms, 5000);
	CHECK_INT_EQ(c.fetch_wait_ms, 1000);
	CHECK(!c.track_all);
	CHECK(c.hostname[0] != '\0');
	CHECK_STR_EQ(c.config_file, "");
}

static void test_flags_beat_file(void)
{
	struct config c;
	CHECK_INT_EQ(RUN(&c, "--ttl=60", "-c", "config/good-basic.conf", "-l", "127.0.0.2:53",
			 "--order", "weighted", "--edns-buffer", "512"),
		     0);
	CHECK_INT_EQ(c.ttl, 60);
	CHECK_INT_EQ(c.negative_ttl, 60); /* from the file */
	CHECK_INT_EQ(c.order, SNAPSHOT_ORDER_WEIGHTED);
	CHECK_INT_EQ(c.edns_buffer, 512);
	CHECK_INT_EQ(c.n_listen, 1); /* the flag's list replaces the file's */
	CHECK_STR_EQ(c.listen[0], "127.0.0.2:53");

	/* --zone/--namespace make one zone, whatever zones the file defines */
	CHECK_INT_EQ(RUN(&c, "-c", "config/good-zones.conf", "--zone", "Mesh.Local", "--namespace",
			 "dev"),
		     0);
	CHECK_INT_EQ(c.n_zones, 1);
	CHECK_STR_EQ(c.zones[0].name, "mesh.local.");
	CHECK_STR_EQ(c.zones[0].namespace_id, "dev");
	CHECK_INT_EQ(RUN(&c, "-c", "config/good-zones.conf"), 0);
	CHECK_INT_EQ(c.n_zones, 3);
}

static void test_lists(void)
{
	struct config c;
	CHECK_INT_EQ(RUN(&c, "-l", "127.0.0.1:1053", "--listen", "[::1]:1053", "-l127.0.0.3:1",
			 "--upstream", "::1", "--upstream", "192.0.2.1:5353", "--allow-recursion",
			 "0.0.0.0/0"),
		     0);
	CHECK_INT_EQ(c.n_listen, 3);
	CHECK_STR_EQ(c.listen[1], "[::1]:1053");
	CHECK_STR_EQ(c.listen[2], "127.0.0.3:1");
	CHECK_INT_EQ(c.n_upstream, 2);
	CHECK_STR_EQ(c.upstream[0], "[::1]:53");
	CHECK_STR_EQ(c.upstream[1], "192.0.2.1:5353");
	CHECK_INT_EQ(c.n_allow_recursion, 1);
	CHECK_STR_EQ(c.allow_recursion[0], "0.0.0.0/0");

	/* the parsed copies match the text */
	char s[ADDR_STR_LEN];
	CHECK_STR_EQ(addr_str((const struct sockaddr *)&c.listen_sa[1], s, sizeof(s)),
		     "[::1]:1053");
	CHECK_STR_EQ(addr_str((const struct sockaddr *)&c.upstream_sa[0], s, sizeof(s)),
		     "[::1]:53");
	CHECK_STR_EQ(addr_str((const struct sockaddr *)&c.upstream_sa[1], s, sizeof(s)),
		     "192.0.2.1:5353");
	CHECK_STR_EQ(addr_cidr_str(&c.allow_recursion_cidr[0], s, sizeof(s)), "0.0.0.0/0");
	CHECK_INT_EQ(c.http_sa.ss_family, AF_UNSPEC);
	CHECK_INT_EQ(RUN(&c, "--http", "127.0.0.1:9153", "--push-listen", "[::]:0"), 0);
	CHECK_STR_EQ(addr_str((const struct sockaddr *)&c.http_sa, s, sizeof(s)), "127.0.0.1:9153");
	CHECK_STR_EQ(addr_str((const struct sockaddr *)&c.push_listen_sa, s, sizeof(s)), "[::]:0");
}

static void test_durations(void)
{
	static const struct {
		const char *in;
		long ms; /* -1: rejected */
	} cases[] = {{"7", 7000},  {"250ms", 250},   {"3s", 3000},   {"2m", 120000},
		     {"0", -1},    {"5h", -1},       {"-1", -1},     {"", -1},
		     {"1.5s", -1}, {"s", -1},        {" 5", -1},     {"99999999999", -1},
		     {"1ms", 1},   {"2147484s", -1}, {"35792m", -1}, {"2147483s", 2147483000L}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c;
		int rc = RUN(&c, "--poll-interval", (char *)cases[i].in);
		if ((rc == 0) != (cases[i].ms >= 0))
			fprintf(stderr, "duration \"%s\"\n", cases[i].in);
		if (cases[i].ms < 0) {
			CHECK_INT_EQ(rc, 2);
			CHECK(strncmp(captured, "--poll-interval: ", 17) == 0);
		} else {
			CHECK_INT_EQ(rc, 0);
			CHECK_INT_EQ(c.poll_interval_ms, cases[i].ms);
		}
	}
}

static void test_flag_errors(void)
{
	struct config c;
	CHECK_INT_EQ(RUN(&c, "--ttl", "abc"), 2);
	CHECK(strncmp(captured, "--ttl: ", 7) == 0);
	CHECK_INT_EQ(RUN(&c, "--no-such-flag", "1"), 2);
	CHECK(strncmp(captured, "--no-such-flag: unknown", 23) == 0);
	CHECK_INT_EQ(RUN(&c, "--listen"), 2);
	CHECK(strncmp(captured, "--listen: missing value", 23) == 0);
	CHECK_INT_EQ(RUN(&c, "--listen", "[::1]"), 2);
	CHECK(strncmp(captured, "--listen: ", 10) == 0);
	CHECK_INT_EQ(RUN(&c, "stray"), 2);
	CHECK_INT_EQ(RUN(&c, "--zone", "a..b"), 2);
	CHECK(strncmp(captured, "--zone: ", 8) == 0);
	CHECK_INT_EQ(RUN(&c, "--threads", "257"), 2);
	CHECK_INT_EQ(RUN(&c, "--truncate", "drop"), 2);
	CHECK(strncmp(captured, "--truncate: expects tc|subset", 29) == 0);
	CHECK_INT_EQ(RUN(&c, "-c", "config/no-such-file.conf"), 2);
	CHECK(strstr(captured, "config/no-such-file.conf: cannot open") == captured);
	/* Regular files only: a directory is no configuration, /dev/zero never ends. */
	CHECK_INT_EQ(RUN(&c, "--check-config", "/etc"), 2);
	CHECK(strstr(captured, "/etc: cannot open: Is a directory") == captured);
	CHECK_INT_EQ(RUN(&c, "-c", "/dev/zero"), 2);
	CHECK(strstr(captured, "/dev/zero: cannot open: not a regular file") == captured);
	CHECK_INT_EQ(RUN(&c, "--password-file", "/dev/zero"), 2);
	CHECK(strstr(captured, "not a regular file"));
	CHECK_INT_EQ(RUN(&c, "--password-file", "/etc"), 2);
	/* 17 list entries: one too many */
	char *argv[40] = {"nacos-dns"};
	int argc = 1;
	char addrs[17][32];
	for (int i = 0; i < 17; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%d", 1000 + i);
		argv[argc++] = "-l";
		argv[argc++] = addrs[i];
	}
	CHECK_INT_EQ(run_args_capture(2, &c, argc, argv), 2);
	CHECK(strncmp(captured, "--listen: too many", 18) == 0);
}

static void test_env(void)
{
	struct config c;
	setenv("NACOS_SERVER_ADDR", "10.0.0.1:8848,https://nacos.example.com:8443", 1);
	setenv("NACOS_NAMESPACE", "staging", 1);
	setenv("NACOS_USERNAME", "dns", 1);
	setenv("NACOS_PASSWORD", "from-env", 1);
	CHECK_INT_EQ(RUN(&c, "--ttl", "1"), 0);
	CHECK_STR_EQ(c.nacos, "http://10.0.0.1:8848,https://nacos.example.com:8443");
	CHECK_STR_EQ(c.zones[0].namespace_id, "staging");
	CHECK_STR_EQ(c.username, "dns");
	CHECK_STR_EQ(c.password, "from-env");

	/* the file beats the environment, flags beat both */
	CHECK_INT_EQ(RUN(&c, "-c", "config/good-server-section.conf", "--username", "flag"), 0);
	CHECK_STR_EQ(c.nacos, "http://10.0.0.1:8848,https://nacos.example.com:8443/nacos");
	CHECK_STR_EQ(c.zones[0].namespace_id, "prod");
	CHECK_STR_EQ(c.username, "flag");

	setenv("NACOS_SERVER_ADDR", "10.0.0.1", 1);
	CHECK_INT_EQ(RUN(&c, "--ttl", "1"), 2);
	CHECK(strncmp(captured, "NACOS_SERVER_ADDR: ", 19) == 0);
	unsetenv("NACOS_SERVER_ADDR");
	unsetenv("NACOS_NAMESPACE");
	unsetenv("NACOS_USERNAME");
	unsetenv("NACOS_PASSWORD");
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	CHECK(fchmod(fd, mode) == 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void test_password_file(void)
{
	char dir[] = "/tmp/test_config_pw_XXXXXX", pw[64], conf[64];
	struct config c;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(pw, sizeof(pw), "%s/pw", dir);
	snprintf(conf, sizeof(conf), "%s/c.conf", dir);
	write_file(pw, "s3cret\n", 0600);
	CHECK_INT_EQ(RUN(&c, "--password-file", pw), 0);
	CHECK_STR_EQ(c.password, "s3cret");
	CHECK_STR_EQ(captured, ""); /* private file: no warning */

	chmod(pw, 0644);
	CHECK_INT_EQ(RUN(&c, "--password-file", pw), 0);
	CHECK(strstr(captured, "level=warn") && strstr(captured, "readable by group or others"));
	CHECK(!strstr(captured, "s3cret"));

	/* a world-readable config holding a password */
	write_file(conf, "password = hunter2\n", 0644);
	CHECK_INT_EQ(RUN(&c, "-c", conf), 0);
	CHECK_STR_EQ(c.password, "hunter2");
	CHECK(strstr(captured, "readable by group or others") && !strstr(captured, "hunter2"));
	write_file(conf, "password = hunter2\nttl = x\n", 0600);
	CHECK_INT_EQ(RUN(&c, "-c", conf), 2);
	CHECK(!strstr(captured, "hunter2"));
	unlink(pw);
	unlink(conf);
	rmdir(dir);
}

static void test_help_version(void)
{
	struct config c;
	char line[200];
	FILE *f;

	CHECK_INT_EQ(run_args_capture(1, &c, 2, ARGS("-V")), 1);
	CHECK_STR_EQ(captured, "nacos-dns 0.1.0\n");
	CHECK_INT_EQ(run_args_capture(1, &c, 4, ARGS("--ttl", "x", "--help")), 1);
	CHECK(strstr(captured, "--poll-interval DUR") && strstr(captured, "(default: 5s)"));
	CHECK(strstr(captured, "--check-config FILE"));
	CHECK(strstr(captured, "-l, --listen ADDR:PORT"));

	/* every flag --help lists is documented in the example config as "key =" */
	const char *help_end = captured + strlen(captured);
	char example[16384];
	CHECK((f = fopen(EXAMPLE, "r")) != NULL);
	size_t n = fread(example, 1, sizeof(example) - 1, f);
	example[n] = '\0';
	fclose(f);
	int keys = 0;
	for (const char *p = strstr(captured, "\n      --"); p && p < help_end;
	     p = strstr(p + 1, "\n      --")) {
		if (sscanf(p, "\n      --%60s", line) != 1 || strcmp(line, "check-config") == 0 ||
		    strcmp(line, "print") == 0)
			continue;
		strcat(line, " =");
		if (!strstr(example, line))
			fprintf(stderr, "%s missing from the example config\n", line);
		CHECK(strstr(example, line) != NULL);
		keys++;
	}
	CHECK(keys >= 28);
}

static void test_example(void)
{
	struct config c;
	CHECK_INT_EQ(RUN(&c, "--check-config", EXAMPLE), 3);
	CHECK_INT_EQ(RUN(&c, "-c", EXAMPLE), 0);
	CHECK_STR_EQ(captured, "");
	CHECK_STR_EQ(c.zones[0].name, "svc.");
	CHECK_INT_EQ(c.n_listen, 2);
	CHECK_STR_EQ(c.nacos, "http://127.0.0.1:8848");
}

static void test_snapshot_config(void)
{
	struct config c;
	struct snapshot_config sc;
	CHECK_INT_EQ(RUN(&c, "-c", "config/good-zones.conf", "--ttl", "9", "--negative-ttl", "3",
			 "--edns-buffer", "1400", "--truncate", "subset", "--hostname", "ns.test"),
		     0);
	config_snapshot(&c, &sc);
	CHECK_INT_EQ(sc.n_zones, 3);
	CHECK_STR_EQ(sc.zones[1].name, "prod.svc.");
	CHECK_STR_EQ(sc.zones[1].namespace_id, "prod-ns");
	CHECK_INT_EQ(sc.ttl, 9);
	CHECK_INT_EQ(sc.negative_ttl, 3);
	CHECK_INT_EQ(sc.udp_max, 1400);
	CHECK_INT_EQ(sc.overflow, SNAPSHOT_OVERFLOW_SUBSET);
	CHECK_STR_EQ(sc.hostname, "ns.test");
	CHECK(sc.version && strstr(sc.version, "0.1.0"));
}

/* What a reload needs comes from the key table: restart-only keys are named, secrets compared. */
static void test_reload_changed(void)
{
	static struct config a, b;
	char names[256] = "";

	CHECK_INT_EQ(RUN(&a, "-l", "127.0.0.1:1053", "--threads", "2", "--ttl", "5"), 0);
	CHECK_INT_EQ(RUN(&b, "-l", "[::1]:1053", "--threads", "3", "--ttl", "9", "--upstream",
			 "192.0.2.1", "--password", "x", "--push-listen", "0.0.0.0:0"),
		     0);
	CHECK_INT_EQ(config_reload_changed(&a, &b, CONFIG_RELOAD_RESTART, names, sizeof(names)), 2);
	CHECK_STR_EQ(names, "listen, threads");
	CHECK_INT_EQ(config_reload_changed(&a, &b, CONFIG_RELOAD_SNAPSHOT, NULL, 0), 1);
	CHECK_INT_EQ(config_reload_changed(&a, &b, CONFIG_RELOAD_FORWARD, NULL, 0), 1);
	CHECK_INT_EQ(config_reload_changed(&a, &b, CONFIG_RELOAD_NACOS, NULL, 0), 1);
	CHECK_INT_EQ(config_reload_changed(&a, &b, CONFIG_RELOAD_PUSH, NULL, 0), 1);
	CHECK_INT_EQ(config_reload_changed(&a, &a, CONFIG_RELOAD_RESTART, NULL, 0), 0);
	/* the same address written another way is no change */
	CHECK_INT_EQ(RUN(&b, "-l", "127.0.0.1:01053", "--threads", "2", "--ttl", "5"), 0);
	CHECK_INT_EQ(config_reload_changed(&a, &b, CONFIG_RELOAD_RESTART, NULL, 0), 0);
}

/* A file: source is opened once: another file, or another kind of source, waits for a restart;
 * other http(s) servers do not. */
static void test_reload_source(void)
{
	static struct config a, b;
	char names[256] = "";

	CHECK_INT_EQ(RUN(&a, "--nacos", "file:/a.json", "--threads", "2"), 0);
	CHECK_INT_EQ(config_source(&a), CONFIG_SOURCE_FILE);
	CHECK_INT_EQ(RUN(&b, "--nacos", "file:/b.json", "--threads", "3"), 0);
	CHECK_INT_EQ(config_reload_changed(&a, &b, CONFIG_RELOAD_RESTART, names, sizeof(names)), 2);
	CHECK_STR_EQ(names, "threads, nacos");
	CHECK_INT_EQ(RUN(&b, "--nacos", "http://127.0.0.1:8848", "--threads", "2"), 0);
	CHECK_INT_EQ(config_source(&b), CONFIG_SOURCE_HTTP);
	CHECK_INT_EQ(config_reload_changed(&a, &b, CONFIG_RELOAD_RESTART, NULL, 0), 1);
	CHECK_INT_EQ(RUN(&a, "--nacos", "http://127.0.0.1:8849", "--threads", "2"), 0);
	CHECK_INT_EQ(config_reload_changed(&a, &b, CONFIG_RELOAD_RESTART, NULL, 0), 0);
	CHECK_INT_EQ(config_reload_changed(&a, &b, CONFIG_RELOAD_NACOS, NULL, 0), 1);
	CHECK_INT_EQ(RUN(&a, "--threads", "2"), 0);
	CHECK_INT_EQ(config_source(&a), CONFIG_SOURCE_NONE);
}

int main(void)
{
	unsetenv("NACOS_SERVER_ADDR");
	unsetenv("NACOS_NAMESPACE");
	unsetenv("NACOS_USERNAME");
	unsetenv("NACOS_PASSWORD");
	test_defaults();
	test_flags_beat_file();
	test_lists();
	test_durations();
	test_flag_errors();
	test_env();
	test_password_file();
	test_help_version();
	test_example();
	test_snapshot_config();
	test_reload_changed();
	test_reload_source();
	test_files();
	return 0;
}

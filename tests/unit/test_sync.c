/* The sync's pure parts: URLs and forms per API version, error classification, backoff,
 * jitter, token refresh timing, idle time, change detection and the mass-removal guard. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "zones/nacos/nacos.h"
#include "zones/nacos/nacosapi.h"
#include "zones/nacos/syncpolicy.h"

static void test_split_servers(void)
{
	char out[NACOSAPI_MAX_SERVERS][256];
	CHECK_INT_EQ(nacosapi_split_servers("http://a:8848,https://b:8848/ , file:/x.json", out,
					    NACOSAPI_MAX_SERVERS),
		     2);
	CHECK_STR_EQ(out[0], "http://a:8848");
	CHECK_STR_EQ(out[1], "https://b:8848");
	CHECK_INT_EQ(nacosapi_split_servers("ftp://a", out, NACOSAPI_MAX_SERVERS), -EINVAL);
	CHECK_INT_EQ(nacosapi_split_servers("file:/only.json", out, NACOSAPI_MAX_SERVERS), 0);
	CHECK_INT_EQ(nacosapi_split_servers("http://a,http://b,http://c", out, 2), -EINVAL);
}

static void test_url_host(void)
{
	char h[64];
	CHECK_STR_EQ(nacosapi_url_host("http://10.0.0.1:8848", h, sizeof(h)), "10.0.0.1");
	CHECK_STR_EQ(nacosapi_url_host("https://[2001:db8::1]:8848/x", h, sizeof(h)),
		     "2001:db8::1");
	CHECK_STR_EQ(nacosapi_url_host("http://nacos.example/", h, sizeof(h)), "nacos.example");
	CHECK_STR_EQ(nacosapi_url_host("nacos:8848", h, sizeof(h)), "");
	CHECK_STR_EQ(nacosapi_url_host("http://a-very-long-host-name.example:1", h, 8), "");
	CHECK(nacosapi_group_valid("DEFAULT_GROUP"));
	CHECK(nacosapi_group_valid("a-b:c_9"));
	CHECK(!nacosapi_group_valid(""));
	CHECK(!nacosapi_group_valid("a.b"));
	CHECK(!nacosapi_group_valid("a b"));
}

static void test_versions(void)
{
	enum nacosapi_version v;
	CHECK_INT_EQ(nacosapi_parse_version("v1", &v), 0);
	CHECK_INT_EQ(v, NACOSAPI_V1);
	CHECK_INT_EQ(nacosapi_parse_version("v3", &v), 0);
	CHECK_INT_EQ(v, NACOSAPI_V3);
	CHECK_INT_EQ(nacosapi_parse_version("", &v), 0);
	CHECK_INT_EQ(v, NACOSAPI_AUTO);
	CHECK_INT_EQ(nacosapi_parse_version("v2", &v), -EINVAL);
	CHECK_STR_EQ(nacosapi_version_name(NACOSAPI_V3), "v3");
}

static void test_urls(void)
{
	char *u =
		nacosapi_instance_list_url("http://h:8848", NACOSAPI_V1, "public", "DEFAULT_GROUP",
					   "providers:com.acme.Api:1.0.0:", "t/k=");
	CHECK_STR_EQ(u, "http://h:8848/nacos/v1/ns/instance/list?namespaceId=public&groupName="
			"DEFAULT_GROUP&serviceName=providers%3Acom.acme.Api%3A1.0.0%3A&healthyOnly="
			"false&accessToken=t%2Fk%3D");
	free(u);
	/* "," lists every cluster (see nacosapi_instance_list_url) */
	u = nacosapi_instance_list_url("http://h:8848", NACOSAPI_V3, "ns 1", "G", "a b", "secret");
	CHECK_STR_EQ(u,
		     "http://h:8848/nacos/v3/client/ns/instance/list?namespaceId=ns%201&groupName="
		     "G&serviceName=a%20b&clusterName=%2C");
	CHECK(!strstr(u, "secret")); /* v3 sends the token as a header only */
	free(u);
	u = nacosapi_subscribe_take(
		nacosapi_instance_list_url("http://h", NACOSAPI_V1, "p", "G", "s", NULL), "fe80::1",
		40123);
	CHECK_STR_EQ(u,
		     "http://h/nacos/v1/ns/instance/list?namespaceId=p&groupName=G&serviceName=s&"
		     "healthyOnly=false&udpPort=40123&clientIP=fe80%3A%3A1");
	free(u);
	CHECK(nacosapi_subscribe_take(NULL, "10.0.0.1", 1) == NULL);
	u = nacosapi_service_list_url("http://h", NACOSAPI_V1, "public", "G", 2, NACOSAPI_PAGE_SIZE,
				      NULL);
	CHECK_STR_EQ(u, "http://h/nacos/v1/ns/service/list?namespaceId=public&groupName=G&pageNo=2&"
			"pageSize=10000");
	free(u);
	u = nacosapi_service_list_url("http://h", NACOSAPI_V3, "public", "G", 1, 500, "x");
	CHECK_STR_EQ(u,
		     "http://h/nacos/v3/admin/ns/service/list?namespaceId=public&groupNameParam=G&"
		     "ignoreEmptyService=false&pageNo=1&pageSize=500");
	free(u);
	u = nacosapi_login_url("https://h", NACOSAPI_V3);
	CHECK_STR_EQ(u, "https://h/nacos/v3/auth/user/login");
	free(u);
	u = nacosapi_login_url("https://h", NACOSAPI_AUTO);
	CHECK_STR_EQ(u, "https://h/nacos/v1/auth/login");
	free(u);
	u = nacosapi_login_form("na cos", "p&w=d");
	CHECK_STR_EQ(u, "username=na%20cos&password=p%26w%3Dd");
	free(u);
	u = nacosapi_token_header("abc");
	CHECK_STR_EQ(u, "accessToken: abc");
	free(u);
}

static void test_classify(void)
{
	CHECK(nacosapi_api_missing(404, NULL));
	CHECK(nacosapi_api_missing(410, ""));
	/* 3.2 without the legacy adapter: DistroFilter's 501 for /v1/ns, Spring's
	 * NoResourceFoundException as a 500 elsewhere */
	CHECK(nacosapi_api_missing(501, "{\"status\":501,\"message\":\"no such api:GET:/nacos/"
					"v1/ns/instance/list\"}"));
	CHECK(nacosapi_api_missing(500, "{\"code\":10002,\"message\":\"data access error\","
					"\"data\":\"No static resource nacos/v2/ns/x.\"}"));
	CHECK(!nacosapi_api_missing(500, "caused: java.lang.IllegalStateException;"));
	CHECK(!nacosapi_api_missing(500, NULL));
	CHECK(!nacosapi_api_missing(403, "no such api"));
	CHECK(nacosapi_server_error(500));
	CHECK(nacosapi_server_error(503));
	CHECK(!nacosapi_server_error(400));
	CHECK(nacosapi_auth_failed(403, "{\"status\":403,\"message\":\"token expired!\"}"));
	CHECK(nacosapi_auth_failed(403, "{\"message\":\"user not found!\"}"));
	CHECK(nacosapi_auth_failed(403, "Code: 401, Message: token invalid!."));
	CHECK(!nacosapi_auth_failed(403, "{\"message\":\"authorization failed!\"}"));
	CHECK(!nacosapi_auth_failed(500, "token"));
	/* The per-server counters' classes, in the order the sync acts on them. */
	CHECK_INT_EQ(nacosapi_classify(-EMSGSIZE, 0, NULL, true), NACOSAPI_RESULT_REJECTED);
	CHECK_INT_EQ(nacosapi_classify(-ETIMEDOUT, 0, NULL, true), NACOSAPI_RESULT_ERROR);
	CHECK_INT_EQ(nacosapi_classify(0, 501, "no such api", true), NACOSAPI_RESULT_API_MISSING);
	CHECK_INT_EQ(nacosapi_classify(0, 503, "busy", true), NACOSAPI_RESULT_ERROR);
	CHECK_INT_EQ(nacosapi_classify(0, 403, "token expired!", true), NACOSAPI_RESULT_AUTH);
	CHECK_INT_EQ(nacosapi_classify(0, 403, "token expired!", false), NACOSAPI_RESULT_REJECTED);
	CHECK_INT_EQ(nacosapi_classify(0, 200, "{}", true), NACOSAPI_RESULT_OK);
	CHECK_INT_EQ(nacosapi_classify(0, 400, "bad", true), NACOSAPI_RESULT_REJECTED);
	CHECK_STR_EQ(nacosapi_result_name(NACOSAPI_RESULT_API_MISSING), "api_missing");
	CHECK_STR_EQ(nacosapi_result_name(NACOSAPI_RESULT_COUNT), "unknown");
}

/* A run of failures is logged at its start, then at most once a minute with the count. */
static void test_streak(void)
{
	struct syncpolicy_streak k = {0};
	unsigned n = 99;
	CHECK(syncpolicy_streak_due(&k, 1000, true, &n));
	CHECK_INT_EQ(n, 0);
	CHECK(!syncpolicy_streak_due(&k, 2000, false, &n));
	CHECK(!syncpolicy_streak_due(&k, 1000 + SYNCPOLICY_STREAK_LOG_MS - 1, false, &n));
	CHECK(syncpolicy_streak_due(&k, 1000 + SYNCPOLICY_STREAK_LOG_MS, false, &n));
	CHECK_INT_EQ(n, 2);
	CHECK(syncpolicy_streak_due(&k, 1000 + SYNCPOLICY_STREAK_LOG_MS + 1, true, &n));
	CHECK_INT_EQ(n, 0); /* a new run */
}

static void test_v3_service_list(void)
{
	const char *body = "{\"code\":0,\"message\":\"success\",\"data\":{\"totalCount\":3,"
			   "\"pageNumber\":1,\"pageItems\":[{\"name\":\"a\",\"groupName\":\"G\"},"
			   "{\"name\":\"b\",\"groupName\":\"OTHER\"},{\"name\":\"c\"}]}}";
	char **names = NULL;
	size_t n = 0, items = 0, total = 0;
	CHECK_INT_EQ(
		nacosapi_parse_v3_service_list(body, strlen(body), "G", &names, &n, &items, &total),
		0);
	CHECK_INT_EQ(n, 2);
	CHECK_INT_EQ(items, 3); /* paging counts what the server matched, every group */
	CHECK_INT_EQ(total, 3);
	CHECK_STR_EQ(names[0], "a");
	CHECK_STR_EQ(names[1], "c");
	nacos_strv_free(names, n);
	/* Names v1 would skip are skipped here too: empty, '@' first, 100 kB long. */
	char *big = malloc(100 * 1024 + 200);
	CHECK(big);
	int off = sprintf(big, "{\"code\":0,\"data\":{\"totalCount\":4,\"pageItems\":["
			       "{\"name\":\"\"},{\"name\":\"@x\"},{\"name\":\"ok\"},{\"name\":\"");
	memset(big + off, 'n', 100 * 1024);
	strcpy(big + off + 100 * 1024, "\"}]}}");
	CHECK_INT_EQ(
		nacosapi_parse_v3_service_list(big, strlen(big), "G", &names, &n, &items, &total),
		0);
	CHECK_INT_EQ(n, 1);
	CHECK_INT_EQ(items, 4);
	CHECK_STR_EQ(names[0], "ok");
	nacos_strv_free(names, n);
	free(big);
	const char *bad = "{\"code\":403,\"data\":null}";
	CHECK_INT_EQ(
		nacosapi_parse_v3_service_list(bad, strlen(bad), "G", &names, &n, &items, &total),
		-EBADMSG);
}

static void test_backoff_and_timing(void)
{
	CHECK_INT_EQ(syncpolicy_backoff_ms(1, 0), 500);
	CHECK_INT_EQ(syncpolicy_backoff_ms(2, 0), 1000);
	CHECK_INT_EQ(syncpolicy_backoff_ms(4, 0), 4000);
	CHECK_INT_EQ(syncpolicy_backoff_ms(50, 0), 10000);
	for (uint32_t r = 0; r < 5000; r += 7) {
		int64_t b = syncpolicy_backoff_ms(3, r);
		CHECK(b > 1600 && b <= 2000); /* at most 20 % less */
		int64_t j = syncpolicy_jitter_ms(5000, r);
		CHECK(j >= 4500 && j <= 5000);
	}
	CHECK(syncpolicy_jitter_ms(0, 3) >= 1);
	CHECK_INT_EQ(syncpolicy_token_refresh_at(1000, 18000), 1000 + 16200000);
	CHECK_INT_EQ(syncpolicy_token_refresh_at(0, 10), 9000);
	CHECK_INT_EQ(syncpolicy_token_refresh_at(0, 0), 9000);
	CHECK_INT_EQ(syncpolicy_token_refresh_at(0, -1), 9000);
	/* "never" from an auth plugin: no overflow, a refresh within the cap. */
	CHECK_INT_EQ(syncpolicy_token_refresh_at(1000, INT64_MAX),
		     1000 + (int64_t)SYNCPOLICY_TOKEN_TTL_MAX_S * 900);
	CHECK_INT_EQ(syncpolicy_token_refresh_at(1000, INT64_MIN), 10000);
	CHECK_INT_EQ(syncpolicy_idle_ms(30000), 300000);
	CHECK_INT_EQ(syncpolicy_idle_ms(60000), 600000);
}

static void test_login_budget(void)
{
	struct syncpolicy_logins l = {0};
	for (unsigned i = 0; i < SYNCPOLICY_LOGINS_PER_MINUTE; i++)
		CHECK(syncpolicy_login_take(&l, 5000 + i));
	CHECK(!syncpolicy_login_take(&l, 5000 + 59999)); /* same minute: refused */
	CHECK(syncpolicy_login_take(&l, 5000 + 60000));  /* next minute: allowed again */
	CHECK_INT_EQ(l.count, 1);
	CHECK(syncpolicy_login_take(&l, 0)); /* a clock that went back starts a window */
}

static struct nacos_service *svc_with(size_t n, const char *ip0)
{
	char body[2048];
	size_t off = (size_t)snprintf(body, sizeof(body), "{\"name\":\"G@@s\",\"hosts\":[");
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(
			body + off, sizeof(body) - off,
			"%s{\"ip\":\"%s%zu\",\"port\":80,\"weight\":1.0,"
			"\"healthy\":true,\"enabled\":true,\"clusterName\":\"DEFAULT\"}",
			i ? "," : "", ip0, i + 1);
	snprintf(body + off, sizeof(body) - off, "]}");
	struct nacos_service *s = NULL;
	CHECK_INT_EQ(nacos_parse_instance_list(body, strlen(body), NULL, NULL, &s), 0);
	CHECK_INT_EQ(s->n_instances, n);
	return s;
}

static void test_compare(void)
{
	struct nacos_service *a = svc_with(2, "10.0.0."), *b = svc_with(2, "10.0.0.");
	struct nacos_service *c = svc_with(2, "10.0.1."), *d = svc_with(0, "");
	CHECK_INT_EQ(syncpolicy_compare(NULL, a), SYNCPOLICY_NEW);
	CHECK_INT_EQ(syncpolicy_compare(a, b), SYNCPOLICY_SAME);
	b->origin.stale = true; /* where data came from is not a change */
	CHECK_INT_EQ(syncpolicy_compare(a, b), SYNCPOLICY_SAME);
	CHECK_INT_EQ(syncpolicy_compare(a, c), SYNCPOLICY_CHANGED);
	CHECK_INT_EQ(syncpolicy_compare(a, d), SYNCPOLICY_CHANGED);
	b->instances[0].healthy = false;
	CHECK_INT_EQ(syncpolicy_compare(a, b), SYNCPOLICY_CHANGED);
	b->instances[0].healthy = true;
	b->protect_threshold = true;
	CHECK_INT_EQ(syncpolicy_compare(a, b), SYNCPOLICY_CHANGED);
	nacos_service_free(a);
	nacos_service_free(b);
	nacos_service_free(c);
	nacos_service_free(d);
}

static void test_guard(void)
{
	struct syncpolicy_guard g;
	bool started;
	syncpolicy_guard_init(&g, 5000, 30000);
	/* small registries are never held */
	CHECK(syncpolicy_guard_allow(&g, 0, 4, 4, &started));
	syncpolicy_guard_init(&g, 5000, 30000);
	/* 100 instances: removing 30 then 20 is half, not more; 1 more is held */
	CHECK(syncpolicy_guard_allow(&g, 1000, 100, 30, &started));
	CHECK(!started);
	CHECK(syncpolicy_guard_allow(&g, 1100, 70, 20, &started));
	CHECK(!syncpolicy_guard_allow(&g, 1200, 50, 1, &started));
	CHECK(started);
	CHECK(!syncpolicy_guard_allow(&g, 2000, 50, 10, &started));
	CHECK(!started); /* reported once */
	/* still held within the hold time, even after the window */
	CHECK(!syncpolicy_guard_allow(&g, 30000, 50, 10, &started));
	/* Nacos kept saying it: applied during one release window */
	CHECK(syncpolicy_guard_allow(&g, 31300, 50, 40, &started));
	CHECK(syncpolicy_guard_allow(&g, 32000, 10, 5, &started));
	/* a fresh window after the release: guard again */
	CHECK(syncpolicy_guard_allow(&g, 45000, 100, 10, &started));
	CHECK(!syncpolicy_guard_allow(&g, 45100, 90, 45, &started));
	CHECK(started);
	/* Nacos recovered during the hold: a blip when the hold would have ended is held again,
	 * not released */
	syncpolicy_guard_init(&g, 5000, 30000);
	CHECK(!syncpolicy_guard_allow(&g, 1000, 100, 100, &started));
	CHECK(started);
	syncpolicy_guard_recovered(&g);
	CHECK(!syncpolicy_guard_allow(&g, 31000, 100, 100, &started));
	CHECK(started);
	/* a new window on its own resets the count */
	syncpolicy_guard_init(&g, 5000, 30000);
	CHECK(syncpolicy_guard_allow(&g, 0, 100, 40, &started));
	CHECK(syncpolicy_guard_allow(&g, 6000, 60, 25, &started));
}

static void test_escape(void)
{
	char *e = nacosapi_escape("a-Z_0.~ @:/é");
	CHECK_STR_EQ(e, "a-Z_0.~%20%40%3A%2F%C3%A9");
	free(e);
}

int main(void)
{
	test_split_servers();
	test_url_host();
	test_versions();
	test_urls();
	test_classify();
	test_streak();
	test_v3_service_list();
	test_backoff_and_timing();
	test_login_budget();
	test_compare();
	test_guard();
	test_escape();
	return 0;
}

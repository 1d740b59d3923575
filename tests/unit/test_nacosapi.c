/* nacosapi: the Nacos servers of a source, API versions, URLs and forms per version, answers
 * classified, the v3 service list, URL escaping. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "zones/nacos/nacos.h"
#include "zones/nacos/nacosapi.h"

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

static void test_escape(void)
{
	char *e = nacosapi_escape("a-Z_0.~ @:/é");
	CHECK_STR_EQ(e, "a-Z_0.~%20%40%3A%2F%C3%A9");
	free(e);
}

int main(void)
{
	test_split_servers();
	test_versions();
	test_urls();
	test_classify();
	test_v3_service_list();
	test_escape();
	return 0;
}

/* Nacos's gRPC naming messages: the serviceInfo of answers and pushes (bare name, groupName
 * beside it), the service list, the request bodies and the result codes. */
#include "zones/nacos/grpcnaming.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "zones/nacos/nacos.h"

static int parse(const char *body, struct nacos_service **svc, int64_t *ref)
{
	return nacos_parse_grpc_service(body, strlen(body), NULL, svc, ref);
}

static void test_service_info(void)
{
	struct nacos_service *svc;
	int64_t ref;
	/* As SubscribeServiceResponse carries it (naming/.../SubscribeServiceRequestHandler). */
	CHECK_INT_EQ(parse("{\"resultCode\":200,\"serviceInfo\":{\"name\":\"web\",\"groupName\":"
			   "\"G1\",\"clusters\":\"\",\"cacheMillis\":10000,\"lastRefTime\":"
			   "1700000000123,\"hosts\":[{\"ip\":\"10.0.0.2\",\"port\":80,"
			   "\"weight\":1.0,\"healthy\":true,\"enabled\":true,\"clusterName\":"
			   "\"DEFAULT\",\"metadata\":{}}],\"valid\":true}}",
			   &svc, &ref),
		     0);
	CHECK_STR_EQ(svc->group, "G1");
	CHECK_STR_EQ(svc->name, "web");
	CHECK_INT_EQ(svc->n_instances, 1);
	CHECK_STR_EQ(svc->instances[0].ip, "10.0.0.2");
	CHECK_INT_EQ(ref, 1700000000123LL);
	nacos_service_free(svc);
	/* A name with dots and no groupName: DEFAULT_GROUP; a grouped name still splits. */
	CHECK_INT_EQ(
		parse("{\"serviceInfo\":{\"name\":\"com.acme.Order\",\"hosts\":[]}}", &svc, &ref),
		0);
	CHECK_STR_EQ(svc->group, "DEFAULT_GROUP");
	CHECK_STR_EQ(svc->name, "com.acme.Order");
	CHECK_INT_EQ(ref, 0);
	nacos_service_free(svc);
	CHECK_INT_EQ(parse("{\"serviceInfo\":{\"name\":\"G2@@x\",\"hosts\":[]}}", &svc, &ref), 0);
	CHECK_STR_EQ(svc->group, "G2");
	CHECK_STR_EQ(svc->name, "x");
	nacos_service_free(svc);
	/* Rejected: no serviceInfo, not JSON, hosts not an array, '@' in the group. */
	CHECK_INT_EQ(parse("{\"resultCode\":200}", &svc, &ref), -EBADMSG);
	CHECK(svc == NULL);
	CHECK_INT_EQ(parse("{", &svc, &ref), -EBADMSG);
	CHECK_INT_EQ(parse("{\"serviceInfo\":{\"name\":\"a\",\"hosts\":3}}", &svc, &ref), -EBADMSG);
	CHECK_INT_EQ(parse("{\"serviceInfo\":{\"name\":\"a\",\"groupName\":\"G@x\",\"hosts\":[]}}",
			   &svc, &ref),
		     -EBADMSG);
}

static void test_service_list(void)
{
	char **names;
	size_t n, total;
	const char *body =
		"{\"resultCode\":200,\"count\":3,\"serviceNames\":[\"a\",\"@bad\",\"b\"]}";
	struct nacos_diag d = {0};
	CHECK_INT_EQ(nacos_parse_grpc_service_list(body, strlen(body), &d, &names, &n, &total), 0);
	CHECK_INT_EQ(n, 2);
	CHECK_INT_EQ(total, 3);
	CHECK_INT_EQ(d.skipped, 1);
	CHECK_STR_EQ(names[0], "a");
	CHECK_STR_EQ(names[1], "b");
	nacos_strv_free(names, n);
	body = "{\"resultCode\":200,\"count\":0,\"serviceNames\":null}";
	CHECK_INT_EQ(nacos_parse_grpc_service_list(body, strlen(body), NULL, &names, &n, &total),
		     0);
	CHECK_INT_EQ(n, 0);
	CHECK_INT_EQ(total, 0);
	nacos_strv_free(names, n);
	body = "{\"count\":1,\"serviceNames\":\"a\"}";
	CHECK_INT_EQ(nacos_parse_grpc_service_list(body, strlen(body), NULL, &names, &n, &total),
		     -EBADMSG);
}

static void test_requests(void)
{
	char *s = grpcnaming_subscribe("ns1", "G", "web", true);
	json_t *j = json_loads(s, 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "namespace")), "ns1");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "groupName")), "G");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "serviceName")), "web");
	CHECK(json_is_true(json_object_get(j, "subscribe")));
	json_decref(j);
	free(s);
	s = grpcnaming_service_list("public", "DEFAULT_GROUP", 2, 500);
	j = json_loads(s, 0, NULL);
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "pageNo")), 2);
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "pageSize")), 500);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "groupName")), "DEFAULT_GROUP");
	json_decref(j);
	free(s);
}

static enum grpcnaming_result result(const char *s, long *code)
{
	return grpcnaming_result(s, strlen(s), code);
}

static void test_results(void)
{
	long code;
	CHECK_INT_EQ(result("{\"resultCode\":200,\"errorCode\":0}", &code), GRPCNAMING_OK);
	CHECK_INT_EQ(result("{\"resultCode\":500,\"errorCode\":403}", &code), GRPCNAMING_DENIED);
	CHECK_INT_EQ(code, 403);
	CHECK_INT_EQ(result("{\"resultCode\":500,\"errorCode\":302}", &code), GRPCNAMING_UNKNOWN);
	CHECK_INT_EQ(result("{\"resultCode\":500,\"errorCode\":500}", &code), GRPCNAMING_FAILED);
	CHECK_INT_EQ(result("[1]", &code), GRPCNAMING_FAILED);
	CHECK_INT_EQ(result("{\"errorCode\":0}", &code), GRPCNAMING_FAILED);
}

int main(void)
{
	test_service_info();
	test_service_list();
	test_requests();
	test_results();
	return 0;
}

#include "zones/nacos/grpcnaming.h"

#include <jansson.h>

static char *dump(json_t *j)
{
	char *out = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return out;
}

char *grpcnaming_subscribe(const char *ns, const char *group, const char *name, bool subscribe)
{
	return dump(json_pack("{s:{}, s:s, s:s, s:s, s:s, s:s, s:b}", "headers", "namespace", ns,
			      "serviceName", name, "groupName", group, "module", "naming",
			      "clusters", "", "subscribe", subscribe));
}

char *grpcnaming_service_list(const char *ns, const char *group, unsigned page, unsigned size)
{
	return dump(json_pack("{s:{}, s:s, s:s, s:s, s:s, s:i, s:i, s:{s:s}}", "headers",
			      "namespace", ns, "serviceName", "", "groupName", group, "module",
			      "naming", "pageNo", (int)page, "pageSize", (int)size, "selector",
			      "type", "none"));
}

enum grpcnaming_result grpcnaming_result(const char *json, size_t len, long *code)
{
	json_int_t result = 0, error = 0;
	json_t *root = json_loadb(json, len, 0, NULL);
	*code = 0;
	if (!json_is_object(root) ||
	    json_unpack(root, "{s:I, s?I}", "resultCode", &result, "errorCode", &error) < 0) {
		json_decref(root);
		return GRPCNAMING_FAILED;
	}
	json_decref(root);
	*code = (long)(error ? error : result);
	if (result == 200)
		return GRPCNAMING_OK;
	if (error == 403)
		return GRPCNAMING_DENIED;
	return error == 302 ? GRPCNAMING_UNKNOWN : GRPCNAMING_FAILED;
}

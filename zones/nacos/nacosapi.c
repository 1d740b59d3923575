#include "zones/nacos/nacosapi.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "zones/base/array.h"
#include "zones/nacos/nacos.h"

int nacosapi_parse_version(const char *s, enum nacosapi_version *out)
{
	if (!s || !s[0] || strcmp(s, "auto") == 0)
		*out = NACOSAPI_AUTO;
	else if (strcmp(s, "v1") == 0)
		*out = NACOSAPI_V1;
	else if (strcmp(s, "v3") == 0)
		*out = NACOSAPI_V3;
	else
		return -EINVAL;
	return 0;
}

const char *nacosapi_version_name(enum nacosapi_version v)
{
	return v == NACOSAPI_V1 ? "v1" : v == NACOSAPI_V3 ? "v3" : "auto";
}

static int nacosapi_add_server(const char *src, size_t len, char out[][256], size_t *n, size_t max)
{
	while (len && (src[len - 1] == '/' || src[len - 1] == ' '))
		len--;
	if (len >= 5 && strncmp(src, "file:", 5) == 0)
		return 0;
	if (!((len > 7 && strncmp(src, "http://", 7) == 0) ||
	      (len > 8 && strncmp(src, "https://", 8) == 0)))
		return -EINVAL;
	if (len >= 256 || *n >= max)
		return -EINVAL;
	memcpy(out[*n], src, len);
	out[(*n)++][len] = '\0';
	return 0;
}

int nacosapi_split_servers(const char *list, char out[][256], size_t max)
{
	size_t n = 0;
	const char *p = list;
	while (p && *p) {
		while (*p == ' ')
			p++;
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len && nacosapi_add_server(p, len, out, &n, max) < 0)
			return -EINVAL;
		p = end ? end + 1 : NULL;
	}
	return (int)n;
}

char *nacosapi_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/* A growing string; any failure sticks, and nacosapi_buf_take then returns NULL. */
struct nacosapi_buf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void nacosapi_buf_add(struct nacosapi_buf *b, const char *s)
{
	size_t n = strlen(s);
	if (b->failed)
		return;
	if (array_grow((void **)&b->s, &b->cap, b->len, n + 1, 1) < 0) {
		b->failed = true;
		return;
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

/* Appends "<sep>key=<escaped value>"; sep is '?' for the first parameter. */
static void nacosapi_buf_param(struct nacosapi_buf *b, const char *key, const char *value)
{
	char *esc = nacosapi_escape(value);
	if (!esc) {
		b->failed = true;
		return;
	}
	nacosapi_buf_add(b, b->s && strchr(b->s, '?') ? "&" : "?");
	nacosapi_buf_add(b, key);
	nacosapi_buf_add(b, "=");
	nacosapi_buf_add(b, esc);
	free(esc);
}

static char *nacosapi_buf_take(struct nacosapi_buf *b)
{
	if (b->failed) {
		free(b->s);
		return NULL;
	}
	return b->s;
}

char *nacosapi_instance_list_url(const char *server, enum nacosapi_version v, const char *ns,
				 const char *group, const char *service, const char *token)
{
	struct nacosapi_buf b = {0};
	nacosapi_buf_add(&b, server);
	if (v == NACOSAPI_V3) {
		nacosapi_buf_add(&b, "/nacos/v3/client/ns/instance/list");
		nacosapi_buf_param(&b, "namespaceId", ns);
		nacosapi_buf_param(&b, "groupName", group);
		nacosapi_buf_param(&b, "serviceName", service);
		/* A blank clusterName means DEFAULT only (naming/model/form/InstanceListForm.java
		 * fillDefaultValue). "," is not blank, and Java's ",".split(",") is empty, which
		 * ServiceUtil.doSelectInstances (naming/utils/ServiceUtil.java checkCluster) takes
		 * as every cluster: the one way to see them all without the admin API. */
		nacosapi_buf_param(&b, "clusterName", ",");
		return nacosapi_buf_take(&b);
	}
	nacosapi_buf_add(&b, "/nacos/v1/ns/instance/list");
	nacosapi_buf_param(&b, "namespaceId", ns);
	nacosapi_buf_param(&b, "groupName", group);
	nacosapi_buf_param(&b, "serviceName", service);
	nacosapi_buf_param(&b, "healthyOnly", "false");
	if (token)
		nacosapi_buf_param(&b, "accessToken", token);
	return nacosapi_buf_take(&b);
}

char *nacosapi_subscribe_take(char *url, const char *client_ip, unsigned udp_port)
{
	char port[16];
	if (!url)
		return NULL;
	struct nacosapi_buf b = {.s = url, .len = strlen(url), .cap = strlen(url) + 1};
	snprintf(port, sizeof(port), "%u", udp_port);
	nacosapi_buf_param(&b, "udpPort", port);
	nacosapi_buf_param(&b, "clientIP", client_ip);
	return nacosapi_buf_take(&b);
}

char *nacosapi_service_list_url(const char *server, enum nacosapi_version v, const char *ns,
				const char *group, unsigned page_no, unsigned page_size,
				const char *token)
{
	char no[16], size[16];
	snprintf(no, sizeof(no), "%u", page_no);
	snprintf(size, sizeof(size), "%u", page_size);
	struct nacosapi_buf b = {0};
	nacosapi_buf_add(&b, server);
	if (v == NACOSAPI_V3) {
		nacosapi_buf_add(&b, "/nacos/v3/admin/ns/service/list");
		nacosapi_buf_param(&b, "namespaceId", ns);
		nacosapi_buf_param(&b, "groupNameParam", group);
		nacosapi_buf_param(&b, "ignoreEmptyService", "false");
	} else {
		nacosapi_buf_add(&b, "/nacos/v1/ns/service/list");
		nacosapi_buf_param(&b, "namespaceId", ns);
		nacosapi_buf_param(&b, "groupName", group);
	}
	nacosapi_buf_param(&b, "pageNo", no);
	nacosapi_buf_param(&b, "pageSize", size);
	if (token && v != NACOSAPI_V3)
		nacosapi_buf_param(&b, "accessToken", token);
	return nacosapi_buf_take(&b);
}

char *nacosapi_login_url(const char *server, enum nacosapi_version v)
{
	struct nacosapi_buf b = {0};
	nacosapi_buf_add(&b, server);
	nacosapi_buf_add(&b,
			 v == NACOSAPI_V3 ? "/nacos/v3/auth/user/login" : "/nacos/v1/auth/login");
	return nacosapi_buf_take(&b);
}

char *nacosapi_login_form(const char *username, const char *password)
{
	struct nacosapi_buf b = {0};
	char *u = nacosapi_escape(username), *p = nacosapi_escape(password);
	if (!u || !p)
		b.failed = true;
	nacosapi_buf_add(&b, "username=");
	nacosapi_buf_add(&b, u ? u : "");
	nacosapi_buf_add(&b, "&password=");
	nacosapi_buf_add(&b, p ? p : "");
	free(u);
	free(p);
	return nacosapi_buf_take(&b);
}

char *nacosapi_token_header(const char *token)
{
	struct nacosapi_buf b = {0};
	nacosapi_buf_add(&b, "accessToken: ");
	nacosapi_buf_add(&b, token);
	return nacosapi_buf_take(&b);
}

static bool nacosapi_contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

bool nacosapi_api_missing(long status, const char *body)
{
	if (status == 404 || status == 410 || status == 501)
		return true;
	return status == 500 && body &&
	       (nacosapi_contains_ci(body, "no such api") ||
		nacosapi_contains_ci(body, "No static resource"));
}

bool nacosapi_auth_failed(long status, const char *body)
{
	if (status != 401 && status != 403)
		return false;
	return body && (nacosapi_contains_ci(body, "token") || nacosapi_contains_ci(body, "user"));
}

bool nacosapi_server_error(long status)
{
	return status >= 500 || status == 429;
}

static int nacosapi_collect_names(json_t *items, const char *group, char ***names, size_t *n)
{
	size_t i, k = 0;
	json_t *it;
	char **v = calloc(json_array_size(items) + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	json_array_foreach(items, i, it)
	{
		const char *name = NULL, *g = NULL;
		if (json_unpack(it, "{s:s, s?s}", "name", &name, "groupName", &g) < 0 ||
		    !nacos_listed_name_ok(name))
			continue;
		if (g && strcmp(g, group) != 0)
			continue; /* groupNameParam filters loosely; keep the exact group */
		if (!(v[k] = strdup(name))) {
			nacos_strv_free(v, k);
			return -ENOMEM;
		}
		k++;
	}
	*names = v;
	*n = k;
	return 0;
}

int nacosapi_parse_v3_service_list(const char *body, size_t len, const char *group, char ***names,
				   size_t *n, size_t *items_n, size_t *total)
{
	json_error_t err;
	json_t *items = NULL, *root = json_loadb(body, len, 0, &err);
	json_int_t count = 0, code = 0;
	if (!root ||
	    json_unpack_ex(root, &err, 0, "{s?I, s:{s?I, s:o}}", "code", &code, "data",
			   "totalCount", &count, "pageItems", &items) < 0 ||
	    code != 0 || !json_is_array(items)) {
		json_decref(root);
		return -EBADMSG;
	}
	int rc = nacosapi_collect_names(items, group, names, n);
	*items_n = json_array_size(items);
	*total = count > 0 ? (size_t)count : 0;
	json_decref(root);
	return rc;
}

/* Nacos HTTP API details shared by the sync: URLs, forms, the v1/v3 differences, error bodies.
 * Pure string work, no I/O. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

enum nacosapi_version {
	NACOSAPI_AUTO = 0, /* not known yet: try v1, then v3 when v1 is missing */
	NACOSAPI_V1,       /* /nacos/v1/ns/... (Nacos 1.x, 2.x, 3.0, 3.1) */
	NACOSAPI_V3,       /* /nacos/v3/client/... (Nacos 3.x; the only one left in 3.2+) */
};

#define NACOSAPI_MAX_SERVERS 16
/* Names per service list page. Neither v1 service/list nor the v3 admin list caps pageSize
 * (naming/controllers/ServiceController.java, core/model/form/PageForm.java), and one page is one
 * consistent listing: pages of a changing HashSet can skip or repeat names. */
#define NACOSAPI_PAGE_SIZE 10000

/* "v1" | "v3" | "auto" (or "") -> *out; -EINVAL otherwise. */
int nacosapi_parse_version(const char *s, enum nacosapi_version *out);
const char *nacosapi_version_name(enum nacosapi_version v); /* "v1", "v3", "auto" */

/* Splits "http://a:8848,https://b:8848/" into base URLs without a trailing '/', skipping
 * "file:" sources. Returns how many (at most max), or -EINVAL for a source that is neither. */
int nacosapi_split_servers(const char *list, char out[][256], size_t max);

/* The host of "http://host:port/..." (an IPv6 address without its brackets) into out; "" when
 * url has no "://" or the host does not fit. Returns out. */
const char *nacosapi_url_host(const char *url, char *out, size_t size);
/* Nacos's rule for a group name (common/paramcheck/ParamCheckRule.java: ^[a-zA-Z0-9-_:\.]*$, at
 * most 128), less the dot, which no single DNS label can stand for here; and not empty. */
bool nacosapi_group_valid(const char *group);

/* Percent-encodes s (RFC 3986 unreserved kept). malloc'ed; NULL on ENOMEM. */
char *nacosapi_escape(const char *s);

/* The instance list URL of one service, every cluster. v1: bare serviceName + groupName.
 * token (v1 only, NULL: none) goes in as accessToken. malloc'ed; NULL on ENOMEM. */
char *nacosapi_instance_list_url(const char *server, enum nacosapi_version v, const char *ns,
				 const char *group, const char *service, const char *token);
/* url (a v1 instance list URL; taken, freed whatever happens) with udpPort and clientIP added:
 * the call then subscribes client_ip:udp_port to UDP pushes of the service (section 7 of the
 * Nacos notes). malloc'ed; NULL on ENOMEM. */
char *nacosapi_subscribe_take(char *url, const char *client_ip, unsigned udp_port);
/* One page (from 1) of service names of a group. v1: service/list; v3: the admin service list,
 * the only listing Nacos 3.2 keeps. malloc'ed; NULL on ENOMEM. */
char *nacosapi_service_list_url(const char *server, enum nacosapi_version v, const char *ns,
				const char *group, unsigned page_no, unsigned page_size,
				const char *token);
/* Login: URL and form body ("username=..&password=..", escaped). malloc'ed; NULL on ENOMEM. */
char *nacosapi_login_url(const char *server, enum nacosapi_version v);
char *nacosapi_login_form(const char *username, const char *password);
/* "accessToken: <token>" for requests; malloc'ed; NULL on ENOMEM. */
char *nacosapi_token_header(const char *token);

/* The server lacks the API just asked: 404, 410 (a 3.x compatibility switch), 501 (the naming
 * DistroFilter's "no such api" for a /v1/ns path with no controller, as on 3.2 without the
 * legacy adapter), or a 500 whose body says so (Spring's NoResourceFoundException through
 * core/exception/NacosApiExceptionHandler.java). body may be NULL. */
bool nacosapi_api_missing(long status, const char *body);
/* A 401/403 worth one re-login and retry: its message names the token or the user. */
bool nacosapi_auth_failed(long status, const char *body);
/* A failure of the server rather than of the request: 5xx (and 429), worth failing over. */
bool nacosapi_server_error(long status);

/* What one HTTP answer of a Nacos server was, as counted per server (and in the metrics). */
enum nacosapi_result {
	NACOSAPI_RESULT_OK,          /* 200 */
	NACOSAPI_RESULT_ERROR,       /* no answer, timeout, or 5xx: failed over */
	NACOSAPI_RESULT_API_MISSING, /* 404/410/501 (or a 500 saying so): this API is not there */
	NACOSAPI_RESULT_AUTH,        /* 401/403 naming the token or user */
	NACOSAPI_RESULT_REJECTED,    /* any other status, or an answer over the size cap */
	NACOSAPI_RESULT_COUNT
};
/* error: the transport's (0: an answer came, with status and body; -EMSGSIZE: it was over the
 * size cap). auth: credentials are in use and the call was no login, so a 401/403 naming the
 * token or user is an auth failure. The same tests, in the same order, as the sync acts on. */
enum nacosapi_result nacosapi_classify(int error, long status, const char *body, bool auth);
const char *nacosapi_result_name(enum nacosapi_result r); /* "ok", "error", ... */

/* v3 admin service list page: {"code":0,"data":{"totalCount":N,"pageItems":[{"name",
 * "groupName"}...]}}. The server filters groups by the regex ".*G.*@@.*"
 * (naming/core/CatalogServiceV2Impl.java patternServices), so items of other groups whose names
 * contain ours come back too, and totalCount counts them: *items is how many the page held, to
 * page by; *names the names of group only. Same contract as nacos_parse_service_list. */
int nacosapi_parse_v3_service_list(const char *body, size_t len, const char *group, char ***names,
				   size_t *n, size_t *items, size_t *total);

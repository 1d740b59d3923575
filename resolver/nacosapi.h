/* Nacos HTTP API details shared by the sync: URLs, forms, the v1/v3 differences, error bodies.
 * Pure string work, no I/O. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

enum nacosapi_version {
	NACOSAPI_AUTO = 0, /* not known yet: try v1, then v3 on 404/410 */
	NACOSAPI_V1,       /* /nacos/v1/ns/... (Nacos 1.x, 2.x, 3.0, 3.1) */
	NACOSAPI_V3,       /* /nacos/v3/client/... (Nacos 3.x; the only one left in 3.2+) */
};

#define NACOSAPI_MAX_SERVERS 16
/* Names per service/list page. v1 takes any size, and one page is one consistent listing
 * (pages of a HashSet can skip or repeat names); the v3 admin list is paged like v2 (500). */
#define NACOSAPI_V1_PAGE_SIZE 10000
#define NACOSAPI_V3_PAGE_SIZE 500

/* "v1" | "v3" | "auto" (or "") -> *out; -EINVAL otherwise. */
int nacosapi_parse_version(const char *s, enum nacosapi_version *out);
const char *nacosapi_version_name(enum nacosapi_version v); /* "v1", "v3", "auto" */

/* Splits "http://a:8848,https://b:8848/" into base URLs without a trailing '/', skipping
 * "file:" sources. Returns how many (at most max), or -EINVAL for a source that is neither. */
int nacosapi_split_servers(const char *list, char out[][256], size_t max);

/* Percent-encodes s (RFC 3986 unreserved kept). malloc'ed; NULL on ENOMEM. */
char *nacosapi_escape(const char *s);

/* The instance list URL of one service. v1: bare serviceName + groupName, all clusters.
 * v3: clusters is a comma list of cluster names (NULL or "": DEFAULT only, as Nacos does).
 * token (v1 only, NULL: none) goes in as accessToken. malloc'ed; NULL on ENOMEM. */
char *nacosapi_instance_list_url(const char *server, enum nacosapi_version v, const char *ns,
				 const char *group, const char *service, const char *clusters,
				 const char *token);
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

/* The server lacks this API version (404, or 410 from a 3.x compatibility switch). */
bool nacosapi_api_missing(long status);
/* A 401/403 worth one re-login and retry: its message names the token or the user. */
bool nacosapi_auth_failed(long status, const char *body);
/* A failure of the server rather than of the request: 5xx (and 429), worth failing over. */
bool nacosapi_server_error(long status);

/* v3 admin service list page: {"code":0,"data":{"totalCount":N,"pageItems":[{"name",
 * "groupName"}...]}}; names of group only. Same contract as nacos_parse_service_list. */
int nacosapi_parse_v3_service_list(const char *body, size_t len, const char *group, char ***names,
				   size_t *n, size_t *total);

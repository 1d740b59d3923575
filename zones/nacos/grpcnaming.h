/* Nacos's naming requests over gRPC as JSON bodies, and the result fields of their answers.
 * Pure: strings in, strings out. The request classes are alibaba/nacos
 * api/src/main/java/com/alibaba/nacos/api/naming/remote/request/SubscribeServiceRequest.java and
 * ServiceListRequest.java (both AbstractNamingRequest: namespace, serviceName, groupName,
 * module "naming"); the answers carry resultCode (200: success) and errorCode (403: denied by
 * core/.../auth/RemoteRequestAuthFilter.java). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* SubscribeServiceRequest for every cluster; subscribe false unsubscribes. malloc'd, or NULL on
 * ENOMEM. */
char *grpcnaming_subscribe(const char *ns, const char *group, const char *name, bool subscribe);
/* ServiceListRequest of one page (from 1) of the services of group, matched exactly. */
char *grpcnaming_service_list(const char *ns, const char *group, unsigned page, unsigned size);

enum grpcnaming_result {
	GRPCNAMING_OK,      /* resultCode 200 */
	GRPCNAMING_DENIED,  /* errorCode 403: log in again */
	GRPCNAMING_FAILED,  /* any other code, or no answer object */
	GRPCNAMING_UNKNOWN, /* errorCode 302 "RequestHandler Not Found": not a naming server */
};
/* What an answer says; *code: its errorCode (or resultCode when that is 0). */
enum grpcnaming_result grpcnaming_result(const char *json, size_t len, long *code);

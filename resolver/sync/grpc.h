/* A Nacos 2.x gRPC connection on the libuv loop: h2c, or h2 over TLS (ALPN "h2") for https
 * servers, over one TCP connection, driven by nghttp2.
 * Its life follows the Java client (alibaba/nacos common/src/main/java/com/alibaba/nacos/common/
 * remote/client/grpc/GrpcClient.java): ServerCheckRequest, then the bi-directional stream with a
 * ConnectionSetupRequest, then unary requests; server requests arrive on the stream. It knows the
 * connection's own messages (health checks, detection probes, resets, push acknowledgements) and
 * nothing of services: the owner sends requests as JSON and reads answers as JSON. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct grpc;

struct grpc_options {
	const char *host;           /* name or numeric address, as the URL gave it; copied */
	uint16_t port;              /* Nacos's gRPC port: its HTTP port + 1000 */
	bool tls;                   /* TLS with ALPN h2; the certificate must match host */
	const char *ca_file;        /* TLS: the CA bundle, NULL or "": the system's; copied */
	const char *client_version; /* ConnectionSetupRequest.clientVersion; copied */
	const char *tenant;         /* the namespace id, "" for public; copied */
	const char *module;         /* labels.module: "naming"; copied */
	long timeout_ms;            /* connect, server check and health check timeout; 0: 3000 */
	bool quiet;                 /* failures before the first connection logged at debug */
};

/* Borrowed for the duration of each call. */
struct grpc_handlers {
	void *owner;
	/* The connection is registered (up: every request may be sent) or lost (!up: every
	 * subscription is gone; reconnection is already scheduled). why: a short reason. */
	void (*on_state)(void *owner, bool up, const char *why);
	/* A request the server sent on the stream other than the connection's own, for example
	 * NotifySubscriberRequest; a NotifySubscriberRequest is acknowledged after this returns. */
	void (*on_push)(void *owner, const char *type, const char *json, size_t len);
};

/* error 0: an answer arrived (type and json are its metadata.type and body, borrowed; the
 * owner reads resultCode and errorCode, for example 403 for an unauthorised request).
 * Otherwise a negative errno: -ETIMEDOUT, -ECONNRESET (the connection was lost), -EBADMSG (a
 * malformed answer, logged), -EPROTO (a gRPC error status, logged), -ECANCELED (grpc_close). */
typedef void (*grpc_reply_cb)(void *arg, int error, const char *type, const char *json, size_t len);

/* 0 or -EINVAL (no host or port, logged) or -ENOMEM. Nothing happens before grpc_start. */
int grpc_new(uv_loop_t *loop, const struct grpc_options *o, const struct grpc_handlers *h,
	     struct grpc **out);
/* Begins connecting; reconnects with backoff (1 s doubling to 30 s) whenever the connection is
 * lost, until grpc_close. */
int grpc_start(struct grpc *g);
/* Sent as metadata.headers.accessToken on every later request; NULL or "" sends none. */
int grpc_set_token(struct grpc *g, const char *token);
bool grpc_is_up(const struct grpc *g);
/* Sends one unary request (type: its Java simple class name; json: its body) when the
 * connection is up. 0: cb runs exactly once, later. -ENOTCONN (not up), -EMSGSIZE, -ENOMEM:
 * cb will not run. timeout_ms 0: the options' timeout. */
int grpc_request(struct grpc *g, const char *type, const char *json, long timeout_ms,
		 grpc_reply_cb cb, void *arg);
/* Fails every request with -ECANCELED (inside this call), then frees g once its handles are
 * closed. No on_state call follows. */
void grpc_close(struct grpc *g);

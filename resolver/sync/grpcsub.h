/* Subscriptions and catalog listings over Nacos's gRPC transport, on one struct grpc connection
 * at a time (to one server of the cluster, the next one when it does not come up). It keeps
 * the set of subscribed services, sends SubscribeServiceRequest for each (again after every
 * reconnect: the server forgets them with the connection), hands each answer's and each
 * NotifySubscriberRequest's serviceInfo up parsed, and lists a group's services with
 * ServiceListRequest. It knows nothing of the sync's entries: the owner decides what applies. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct grpcsub;
struct nacos_service;

struct grpcsub_options {
	const char (*urls)[256]; /* the Nacos servers, "http(s)://host:port": h2c, or TLS */
	const char *ca_file;     /* TLS: the CA bundle (--nacos-ca), NULL or "": the system's */
	size_t n_servers;
	const char *tenant; /* ConnectionSetupRequest.tenant: the first zone's namespace */
	bool required; /* --nacos-transport grpc: a server without gRPC is logged as a problem */
};

struct grpcsub_handlers {
	void *owner;
	/* The connection to server came up (every subscription is being sent again) or was lost
	 * (no service is covered any more). */
	void (*on_state)(void *owner, size_t server, bool up);
	/* Data of ns/svc->group/svc->name arrived from server (svc taken), as the answer to a
	 * subscription or as a push; ref: its lastRefTime (server ms), 0 when absent. Returns
	 * whether it was applied (else counted stale). */
	bool (*on_service)(void *owner, size_t server, const char *ns, struct nacos_service *svc,
			   int64_t ref, bool pushed);
	/* A request to server was denied (errorCode 403): the owner logs in again and calls
	 * grpcsub_set_token; denied subscriptions wait for that. */
	void (*on_denied)(void *owner, size_t server);
};

struct grpcsub_stats {
	uint64_t notifies;        /* NotifySubscriberRequest received */
	uint64_t notify_applied;  /* of those, applied */
	uint64_t notify_stale;    /* no newer than the data held, or for a service not tracked */
	uint64_t notify_rejected; /* malformed serviceInfo */
	uint64_t reconnects;      /* connections up again after the first */
	uint64_t resubscriptions; /* subscriptions sent again after a reconnect */
	uint64_t subscribed;      /* now: subscriptions confirmed by the server */
	size_t server;            /* now: the server connected or being connected to */
	bool up;                  /* now: that connection is registered */
};

/* 0, -EINVAL (no server speaks h2c: every URL is https), or -ENOMEM. Connects at once. */
int grpcsub_new(uv_loop_t *loop, const struct grpcsub_options *o, const struct grpcsub_handlers *h,
		struct grpcsub **out);
/* Ends every request (list callbacks run with -ECANCELED inside this call) and frees g once its
 * handles are closed. NULL-safe. */
void grpcsub_close(struct grpcsub *g);
/* Keeps ns/group/name subscribed (a no-op when it is). 0 or -ENOMEM. */
int grpcsub_subscribe(struct grpcsub *g, const char *ns, const char *group, const char *name);
void grpcsub_unsubscribe(struct grpcsub *g, const char *ns, const char *group, const char *name);
/* The connection is up and the server confirmed the subscription: it pushes changes. */
bool grpcsub_covers(const struct grpcsub *g, const char *ns, const char *group, const char *name);
/* The connection is up: catalog listings may go over gRPC. *server: its index. */
bool grpcsub_up(const struct grpcsub *g, size_t *server);
/* The token for requests to server (NULL: none); denied subscriptions are sent again. */
int grpcsub_set_token(struct grpcsub *g, size_t server, const char *token);

/* error 0: names (taken, nacos_strv_free) of one page and total, the server's count.
 * Else -EACCES (denied: on_denied was called), -EBADMSG, -ECONNRESET, -ETIMEDOUT, -EPROTO,
 * -ECANCELED (grpcsub_close). */
typedef void (*grpcsub_list_cb)(void *arg, int error, char **names, size_t n, size_t total);
/* Lists one page (from 1) of the services of ns/group, exact group. 0: cb runs once, later;
 * -ENOTCONN (not up) or -ENOMEM: it will not. */
int grpcsub_list(struct grpcsub *g, const char *ns, const char *group, unsigned page, unsigned size,
		 grpcsub_list_cb cb, void *arg);
void grpcsub_get_stats(const struct grpcsub *g, struct grpcsub_stats *out);

#include "resolver/sync/http.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <curl/curl.h>

#include "resolver/log.h"
#include "zones/base/array.h"

#define HTTP_DEFAULT_TIMEOUT_MS 3000
#define HTTP_LOW_SPEED          1024L /* bytes/s: slower than this for timeout_ms is a stall */
#define HTTP_MAX_STALLS         40    /* a request lasts at most this many stall periods */
#define HTTP_DEFAULT_MAX_BODY   (32u << 20)
#define HTTP_DEFAULT_INFLIGHT   8

struct http_req {
	struct http_req *next; /* queued or running list */
	struct http *h;
	CURL *easy;
	struct curl_slist *headers;
	char *url;
	char *form;
	char *header;
	http_done_cb cb;
	void *arg;
	char *body;
	size_t len, cap;
	bool too_big;
	char errbuf[CURL_ERROR_SIZE];
};

struct http_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct http *h;
	struct http_sock *next, **pprev; /* open sockets, so close can reach strays */
};

struct http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer; /* curl's timeouts */
	uv_timer_t kick;  /* starts queued requests on the next loop turn */
	int pending_closes;
	struct http_req *queue, **queue_tail; /* waiting for a slot */
	struct http_req *running;             /* added to multi */
	struct http_sock *socks;
	unsigned n_running, n_queued, max_inflight;
	long timeout_ms;
	size_t max_body;
	char *user_agent;
	char *ca_file;
	bool closing;
};

static void http_drain(struct http *h);
static void http_start_queued(struct http *h);

static void http_req_free(struct http_req *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->url);
	free(r->form);
	free(r->header);
	free(r->body);
	free(r);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_req *r = userp;
	size_t n = size * nmemb;
	if (r->len + n > r->h->max_body) {
		r->too_big = true;
		return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
	}
	if (array_grow((void **)&r->body, &r->cap, r->len, n + 1, 1) < 0)
		return 0;
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static int http_errno(CURLcode rc, bool too_big)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_WRITE_ERROR:
		return too_big ? -EMSGSIZE : -ENOMEM;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPROTO;
	default:
		return -EIO;
	}
}

/* Runs the callback and frees r; r is already off every list. */
static void http_req_finish(struct http_req *r, int error, long status, const char *reason)
{
	struct http_response resp = {
		.error = error,
		.status = error ? 0 : status,
		.answering = error && status > 0,
		.body = r->body ? r->body : "",
		.len = r->body ? r->len : 0,
		.reason = reason ? reason : "",
		.local_ip = "",
		.primary_ip = "",
	};
	char *local = NULL, *primary = NULL; /* borrowed from the easy handle */
	if (r->easy && curl_easy_getinfo(r->easy, CURLINFO_LOCAL_IP, &local) == CURLE_OK && local)
		resp.local_ip = local;
	if (r->easy && curl_easy_getinfo(r->easy, CURLINFO_PRIMARY_IP, &primary) == CURLE_OK &&
	    primary)
		resp.primary_ip = primary;
	r->cb(r->arg, &resp);
	http_req_free(r);
}

static void http_running_unlink(struct http *h, struct http_req *r)
{
	for (struct http_req **p = &h->running; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			h->n_running--;
			return;
		}
	}
}

static void http_on_done(struct http *h, CURL *easy, CURLcode rc)
{
	struct http_req *r = NULL;
	long status = 0;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(h->multi, easy);
	http_running_unlink(h, r);
	if (rc != CURLE_OK) {
		const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
		http_req_finish(r, http_errno(rc, r->too_big), status, why);
	} else {
		http_req_finish(r, 0, status, NULL);
	}
}

static void http_drain(struct http *h)
{
	CURLMsg *msg;
	int left;
	while (!h->closing && (msg = curl_multi_info_read(h->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURLcode rc = msg->data.result; /* copy before remove_handle invalidates msg */
		http_on_done(h, msg->easy_handle, rc);
	}
	if (!h->closing)
		http_start_queued(h);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct http_sock *s = p->data;
	struct http *h = s->h;
	int flags = 0;
	if (h->closing)
		return;
	/* An error on the socket (a reset of a kept-alive connection the server closed just as a
	 * request went out on it) is left to libcurl's own read or write to find: it then retries
	 * such a request on a new connection, where CURL_CSELECT_ERR would fail it. */
	if (status < 0)
		flags = CURL_CSELECT_IN | CURL_CSELECT_OUT;
	else
		flags = (events & UV_READABLE ? CURL_CSELECT_IN : 0) |
			(events & UV_WRITABLE ? CURL_CSELECT_OUT : 0);
	int running;
	curl_multi_socket_action(h->multi, s->fd, flags, &running);
	http_drain(h);
}

static void on_timer(uv_timer_t *t)
{
	struct http *h = t->data;
	int running;
	if (h->closing)
		return;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_drain(h);
}

static void http_sock_on_close(uv_handle_t *hd)
{
	free(hd->data);
}

static void http_sock_close(struct http_sock *s)
{
	*s->pprev = s->next;
	if (s->next)
		s->next->pprev = s->pprev;
	uv_close((uv_handle_t *)&s->poll, http_sock_on_close);
}

static struct http_sock *http_sock_new(struct http *h, curl_socket_t fd)
{
	struct http_sock *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
		free(s);
		return NULL;
	}
	s->poll.data = s;
	s->fd = fd;
	s->h = h;
	s->next = h->socks;
	if (s->next)
		s->next->pprev = &s->next;
	s->pprev = &h->socks;
	h->socks = s;
	curl_multi_assign(h->multi, fd, s);
	return s;
}

/* Only arms or disarms libuv: never calls back into curl. */
static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct http *h = userp;
	struct http_sock *s = sockp;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(h->multi, fd, NULL);
			http_sock_close(s);
		}
		return 0;
	}
	if (!s && !(s = http_sock_new(h, fd)))
		return -1;
	int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
	return uv_poll_start(&s->poll, ev, on_poll) == 0 ? 0 : -1;
}

static int on_curl_timer(CURLM *m, long ms, void *userp)
{
	struct http *h = userp;
	if (ms < 0)
		return uv_timer_stop(&h->timer) == 0 ? 0 : -1;
	return uv_timer_start(&h->timer, on_timer, (uint64_t)ms, 0) == 0 ? 0 : -1;
}

static int http_req_setup(struct http *h, struct http_req *r)
{
	CURL *e = r->easy = curl_easy_init();
	if (!e)
		return -ENOMEM;
	if (r->header && !(r->headers = curl_slist_append(NULL, r->header)))
		return -ENOMEM;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, HTTP_MAX_STALLS * h->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, HTTP_LOW_SPEED);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (h->timeout_ms + 999) / 1000);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent);
	if (h->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
	if (r->headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	if (r->form)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->form);
	return 0;
}

static void http_start_queued(struct http *h)
{
	while (h->queue && h->n_running < h->max_inflight) {
		struct http_req *r = h->queue;
		h->queue = r->next;
		if (!h->queue)
			h->queue_tail = &h->queue;
		h->n_queued--;
		int rc = http_req_setup(h, r);
		if (rc == 0 && curl_multi_add_handle(h->multi, r->easy) != CURLM_OK)
			rc = -ENOMEM;
		if (rc < 0) {
			http_req_finish(r, rc, 0, "cannot start request");
			continue;
		}
		r->next = h->running;
		h->running = r;
		h->n_running++;
	}
}

static void on_kick(uv_timer_t *t)
{
	struct http *h = t->data;
	if (!h->closing)
		http_start_queued(h);
}

int http_submit(struct http *h, const struct http_request *req, http_done_cb cb, void *arg)
{
	if (h->closing)
		return -ECANCELED;
	struct http_req *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->h = h;
	r->cb = cb;
	r->arg = arg;
	r->url = strdup(req->url);
	r->form = req->form ? strdup(req->form) : NULL;
	r->header = req->header ? strdup(req->header) : NULL;
	if (!r->url || (req->form && !r->form) || (req->header && !r->header)) {
		http_req_free(r);
		return -ENOMEM;
	}
	*h->queue_tail = r;
	h->queue_tail = &r->next;
	h->n_queued++;
	/* Start from the loop, so that a failure to start still reports through cb, later. */
	if (!uv_is_active((uv_handle_t *)&h->kick))
		uv_timer_start(&h->kick, on_kick, 0, 0);
	return 0;
}

unsigned http_pending(const struct http *h)
{
	return h->n_running + h->n_queued;
}

int http_new(uv_loop_t *loop, const struct http_options *o, struct http **out)
{
	curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	if (!(vi->features & CURL_VERSION_ASYNCHDNS))
		log_warn("http",
			 "libcurl %s resolves names synchronously: a slow DNS lookup of a "
			 "Nacos host stalls the loop; use IP addresses",
			 vi->version);
	struct http *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->loop = loop;
	h->queue_tail = &h->queue;
	h->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	h->max_body = o->max_body ? o->max_body : HTTP_DEFAULT_MAX_BODY;
	h->max_inflight = o->max_inflight ? o->max_inflight : HTTP_DEFAULT_INFLIGHT;
	h->user_agent = strdup(o->user_agent ? o->user_agent : "nacos-dns");
	h->ca_file = o->ca_file && o->ca_file[0] ? strdup(o->ca_file) : NULL;
	h->multi = curl_multi_init();
	if (!h->user_agent || (o->ca_file && o->ca_file[0] && !h->ca_file) || !h->multi) {
		curl_multi_cleanup(h->multi);
		free(h->user_agent);
		free(h->ca_file);
		free(h);
		return -ENOMEM;
	}
	uv_timer_init(loop, &h->timer);
	uv_timer_init(loop, &h->kick);
	h->timer.data = h;
	h->kick.data = h;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	*out = h;
	return 0;
}

static void http_on_timer_close(uv_handle_t *hd)
{
	struct http *h = hd->data;
	if (--h->pending_closes > 0)
		return;
	free(h->user_agent);
	free(h->ca_file);
	free(h);
}

void http_close(struct http *h)
{
	if (!h || h->closing)
		return;
	h->closing = true; /* callbacks below may not submit */
	struct http_req *r;
	while ((r = h->running)) {
		h->running = r->next;
		h->n_running--;
		curl_multi_remove_handle(h->multi, r->easy);
		http_req_finish(r, -ECANCELED, 0, "cancelled");
	}
	while ((r = h->queue)) {
		h->queue = r->next;
		h->n_queued--;
		http_req_finish(r, -ECANCELED, 0, "cancelled");
	}
	curl_multi_cleanup(h->multi);
	while (h->socks) /* a socket curl never announced as removed */
		http_sock_close(h->socks);
	h->pending_closes = 2;
	uv_close((uv_handle_t *)&h->timer, http_on_timer_close);
	uv_close((uv_handle_t *)&h->kick, http_on_timer_close);
}

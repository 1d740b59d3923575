#include "resolver/dnstap.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <fstrm.h>

#include "build_config.h"
#include "resolver/clock.h"
#include "resolver/log.h"
#include "zones/dns/dnstapmsg.h"
#include "zones/net/addr.h"

#define DNSTAP_CONTENT_TYPE "protobuf:dnstap.Dnstap"
#define DNSTAP_QUEUE_SIZE   4096 /* frames waiting for the I/O thread; a power of 2 */
#define DNSTAP_PREFIX       "unix:"
#define DNSTAP_PATH_MAX     (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

struct dnstap {
	struct fstrm_iothr *iothr;
	struct fstrm_iothr_queue *queue; /* one, multi-producer: every worker thread submits */
	char *identity;
	uint64_t sent, dropped; /* several threads count: atomic adds */
};

int dnstap_check_target(const char *v, char *why, size_t n)
{
	size_t pre = strlen(DNSTAP_PREFIX), len = strlen(v);

	if (strncmp(v, DNSTAP_PREFIX, pre) != 0 || len == pre) {
		snprintf(why, n, "not unix:PATH");
		return -EINVAL;
	}
	if (len - pre > DNSTAP_PATH_MAX) {
		snprintf(why, n, "socket path longer than %zu bytes", DNSTAP_PATH_MAX);
		return -EINVAL;
	}
	return 0;
}

static struct fstrm_writer *dnstap_writer(const char *path)
{
	struct fstrm_unix_writer_options *uo = fstrm_unix_writer_options_init();
	struct fstrm_writer_options *wo = fstrm_writer_options_init();
	struct fstrm_writer *w = NULL;

	if (uo && wo) {
		fstrm_unix_writer_options_set_socket_path(uo, path);
		fstrm_writer_options_add_content_type(wo, DNSTAP_CONTENT_TYPE,
						      strlen(DNSTAP_CONTENT_TYPE));
		w = fstrm_unix_writer_init(uo, wo);
	}
	if (uo)
		fstrm_unix_writer_options_destroy(&uo);
	if (wo)
		fstrm_writer_options_destroy(&wo);
	return w;
}

static struct fstrm_iothr *dnstap_iothr(struct fstrm_writer **w)
{
	struct fstrm_iothr_options *io = fstrm_iothr_options_init();
	struct fstrm_iothr *t = NULL;

	if (!io)
		return NULL;
	if (fstrm_iothr_options_set_queue_model(io, FSTRM_IOTHR_QUEUE_MODEL_MPSC) ==
		    fstrm_res_success &&
	    fstrm_iothr_options_set_input_queue_size(io, DNSTAP_QUEUE_SIZE) == fstrm_res_success &&
	    fstrm_iothr_options_set_reopen_interval(io, 1) == fstrm_res_success)
		t = fstrm_iothr_init(io, w);
	fstrm_iothr_options_destroy(&io);
	return t;
}

int dnstap_new(const char *target, const char *identity, struct dnstap **out)
{
	char why[128];
	struct dnstap *d;
	struct fstrm_writer *w;

	if (dnstap_check_target(target, why, sizeof(why)) < 0) {
		log_err("dnstap", "%s: %s", target, why);
		return -EINVAL;
	}
	if (!(d = calloc(1, sizeof(*d))) || (identity && !(d->identity = strdup(identity))))
		goto nomem;
	if (!(w = dnstap_writer(target + strlen(DNSTAP_PREFIX))))
		goto nomem;
	if (!(d->iothr = dnstap_iothr(&w))) {
		fstrm_writer_destroy(&w);
		log_err("dnstap", "%s: cannot start the I/O thread", target);
		free(d->identity);
		free(d);
		return -ENOMEM;
	}
	d->queue = fstrm_iothr_get_input_queue(d->iothr);
	log_info("dnstap", "writing client queries and responses to %s", target);
	*out = d;
	return 0;
nomem:
	log_err("dnstap", "%s: out of memory", target);
	if (d)
		free(d->identity);
	free(d);
	return -ENOMEM;
}

void dnstap_free(struct dnstap *d)
{
	if (!d)
		return;
	fstrm_iothr_destroy(&d->iothr);
	free(d->identity);
	free(d);
}

static void dnstap_addr(struct dnstapmsg_addr *a, const struct sockaddr *sa)
{
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(a->ip, &in->sin_addr, 4);
		a->len = 4;
		a->port = ntohs(in->sin_port);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		memcpy(a->ip, &in6->sin6_addr, 16);
		a->len = 16;
		a->port = ntohs(in6->sin6_port);
	}
}

void dnstap_client(struct dnstap *d, bool response, const struct sockaddr *client,
		   const char *local, bool tcp, const uint8_t *wire, size_t len)
{
	struct dnstapmsg m = {.type = response ? DNSTAPMSG_CLIENT_RESPONSE : DNSTAPMSG_CLIENT_QUERY,
			      .tcp = tcp,
			      .wire = wire,
			      .wire_len = len,
			      .identity = d ? d->identity : NULL,
			      .version = "nacos-dns " NACOS_DNS_VERSION};
	struct sockaddr_storage ss;
	uint64_t now_ns;
	size_t cap, n;
	uint8_t *buf;

	if (!d)
		return;
	now_ns = clock_wall_ns();
	m.sec = now_ns / 1000000000u;
	m.nsec = (uint32_t)(now_ns % 1000000000u);
	dnstap_addr(&m.query_addr, client);
	if (local && addr_parse(local, 53, 0, &ss, NULL, 0) == 0)
		dnstap_addr(&m.response_addr, (const struct sockaddr *)&ss);
	cap = dnstapmsg_max_len(len, m.identity, m.version);
	if (!(buf = malloc(cap)) || !(n = dnstapmsg_encode(&m, buf, cap)) ||
	    fstrm_iothr_submit(d->iothr, d->queue, buf, n, fstrm_free_wrapper, NULL) !=
		    fstrm_res_success) {
		free(buf);
		__atomic_fetch_add(&d->dropped, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&d->sent, 1, __ATOMIC_RELAXED);
}

void dnstap_stats_get(const struct dnstap *d, struct dnstap_stats *out)
{
	out->sent = __atomic_load_n(&d->sent, __ATOMIC_RELAXED);
	out->dropped = __atomic_load_n(&d->dropped, __ATOMIC_RELAXED);
}

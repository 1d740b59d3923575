/* See tlspipe.h. */
#include "resolver/sync/tlspipe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct tlspipe {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out; /* owned by ssl: in holds ciphertext received, out ciphertext to send */
	char alpn[16];
	bool ready;
	char error[256];
};

static void tlspipe_fail(struct tlspipe *t, const char *what)
{
	unsigned long e = ERR_get_error();
	long v = t->ssl ? SSL_get_verify_result(t->ssl) : X509_V_OK;
	if (v != X509_V_OK)
		snprintf(t->error, sizeof t->error, "%s: certificate: %s", what,
			 X509_verify_cert_error_string(v));
	else if (e) {
		char buf[200];
		ERR_error_string_n(e, buf, sizeof buf);
		snprintf(t->error, sizeof t->error, "%s: %s", what, buf);
	} else
		snprintf(t->error, sizeof t->error, "%s", what);
	ERR_clear_error();
}

static int tlspipe_verify_host(struct tlspipe *t, const char *host)
{
	unsigned char addr[16];
	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host) == 1 ? 0 : -1;
	/* SNI is for names only (RFC 6066 section 3). */
	if (SSL_set_tlsext_host_name(t->ssl, host) != 1 || SSL_set1_host(t->ssl, host) != 1)
		return -1;
	return 0;
}

static int tlspipe_setup(struct tlspipe *t, const char *host, const char *ca_file, const char *alpn)
{
	unsigned char protos[sizeof t->alpn + 1];
	size_t n = strlen(alpn);
	if (n == 0 || n >= sizeof t->alpn)
		return -EINVAL;
	memcpy(t->alpn, alpn, n + 1);
	protos[0] = (unsigned char)n; /* the wire form: length-prefixed names */
	memcpy(protos + 1, alpn, n);
	if (!(t->ctx = SSL_CTX_new(TLS_client_method())))
		return -ENOMEM;
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION); /* RFC 7540 section 9.2 */
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file && *ca_file ? SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL) != 1
				: SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		tlspipe_fail(t, ca_file && *ca_file ? ca_file : "the system's CA store");
		return -EINVAL;
	}
	t->ssl = SSL_new(t->ctx);
	t->in = BIO_new(BIO_s_mem());
	t->out = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->in || !t->out) {
		BIO_free(t->in); /* not yet the session's */
		BIO_free(t->out);
		return -ENOMEM;
	}
	BIO_set_mem_eof_return(t->in, -1); /* an empty input is "wait", not end of stream */
	SSL_set_bio(t->ssl, t->in, t->out);
	SSL_set_connect_state(t->ssl);
	/* SSL_set_alpn_protos returns 0 on success. */
	if (SSL_set_alpn_protos(t->ssl, protos, (unsigned)n + 1) != 0 ||
	    tlspipe_verify_host(t, host) < 0) {
		tlspipe_fail(t, "TLS setup");
		return -EINVAL;
	}
	return 0;
}

int tlspipe_new(const char *host, const char *ca_file, const char *alpn, struct tlspipe **out,
		char *err, size_t errlen)
{
	struct tlspipe *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	int rc = tlspipe_setup(t, host, ca_file, alpn);
	if (rc < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s", t->error[0] ? t->error : strerror(-rc));
		tlspipe_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int tlspipe_feed(struct tlspipe *t, const uint8_t *in, size_t len)
{
	while (len > 0) {
		int chunk = len > 1 << 30 ? 1 << 30 : (int)len;
		int n = BIO_write(t->in, in, chunk);
		if (n <= 0)
			return -ENOMEM;
		in += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 0 when done or waiting for more, -EPROTO with the reason kept. */
static int tlspipe_handshake(struct tlspipe *t)
{
	int r = SSL_do_handshake(t->ssl);
	if (r != 1) {
		int e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 0;
		tlspipe_fail(t, "TLS handshake");
		return -EPROTO;
	}
	const unsigned char *p;
	unsigned len;
	SSL_get0_alpn_selected(t->ssl, &p, &len);
	if (len != strlen(t->alpn) || memcmp(p, t->alpn, len) != 0) {
		snprintf(t->error, sizeof t->error, "TLS handshake: the server did not agree to %s",
			 t->alpn);
		return -EPROTO;
	}
	t->ready = true;
	return 0;
}

ssize_t tlspipe_read(struct tlspipe *t, uint8_t *buf, size_t cap)
{
	if (!t->ready) {
		int rc = tlspipe_handshake(t);
		if (rc < 0 || !t->ready)
			return rc;
	}
	int n = SSL_read(t->ssl, buf, cap > 1 << 30 ? 1 << 30 : (int)cap);
	if (n > 0)
		return n;
	switch (SSL_get_error(t->ssl, n)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(t->error, sizeof t->error, "the server closed the TLS session");
		return -ECONNRESET;
	default:
		tlspipe_fail(t, "TLS");
		return -EPROTO;
	}
}

int tlspipe_write(struct tlspipe *t, const uint8_t *plain, size_t len)
{
	if (!t->ready)
		return -EPROTO;
	while (len > 0) {
		int chunk = len > 1 << 30 ? 1 << 30 : (int)len;
		int n = SSL_write(t->ssl, plain, chunk); /* a memory BIO takes everything */
		if (n <= 0) {
			tlspipe_fail(t, "TLS");
			return -EPROTO;
		}
		plain += n;
		len -= (size_t)n;
	}
	return 0;
}

size_t tlspipe_take(struct tlspipe *t, uint8_t *buf, size_t cap)
{
	int n = BIO_read(t->out, buf, cap > 1 << 30 ? 1 << 30 : (int)cap);
	return n > 0 ? (size_t)n : 0;
}

bool tlspipe_ready(const struct tlspipe *t)
{
	return t->ready;
}

const char *tlspipe_error(const struct tlspipe *t)
{
	return t->error;
}

void tlspipe_free(struct tlspipe *t)
{
	if (!t)
		return;
	SSL_free(t->ssl); /* frees the BIOs it was given */
	SSL_CTX_free(t->ctx);
	free(t);
}

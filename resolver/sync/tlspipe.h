/* A TLS client over bytes the caller carries: ciphertext from the socket goes in, plaintext for
 * the protocol comes out, and the ciphertext to send waits to be taken. No socket and no event
 * loop of its own, so the gRPC connection keeps its one libuv TCP handle (OpenSSL memory BIOs).
 * The server's certificate is always verified: against ca_file, or the system's store. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tlspipe;

/* host: the name (SNI and certificate check) or numeric address (certificate IP check) the
 * URL gave; ca_file: NULL or "" for the system's store; alpn: the one protocol asked for, as
 * "h2". 0, or -EINVAL (a CA file that cannot be read; err says why) or -ENOMEM. The first
 * tlspipe_read starts the handshake. */
int tlspipe_new(const char *host, const char *ca_file, const char *alpn, struct tlspipe **out,
		char *err, size_t errlen);
/* Ciphertext read from the socket. 0 or -ENOMEM. */
int tlspipe_feed(struct tlspipe *t, const uint8_t *in, size_t len);
/* Advances the handshake, then decrypts: bytes of plaintext (> 0), 0 when more ciphertext is
 * needed, -ECONNRESET when the server closed the session, -EPROTO on a failed handshake or
 * record (tlspipe_error says why, for example a certificate that does not verify, or a server
 * that did not agree to the ALPN protocol). */
ssize_t tlspipe_read(struct tlspipe *t, uint8_t *buf, size_t cap);
/* Plaintext to encrypt; only once tlspipe_ready. 0, or -EPROTO. */
int tlspipe_write(struct tlspipe *t, const uint8_t *plain, size_t len);
/* Up to cap bytes of ciphertext waiting to be sent; 0 when none. */
size_t tlspipe_take(struct tlspipe *t, uint8_t *buf, size_t cap);
/* The handshake is done, the certificate verified and the ALPN protocol agreed. */
bool tlspipe_ready(const struct tlspipe *t);
const char *tlspipe_error(const struct tlspipe *t);
void tlspipe_free(struct tlspipe *t);

/* TLS over memory buffers (wolfSSL): no sockets, no ring. The connection feeds ciphertext in
 * and gets plaintext out through a callback; whatever TLS has to send (handshake, records,
 * alerts) is appended to the connection's output queue. io/ composes it into its streams.
 *
 * A context holds the certificate, key and policy and is shared by the connections made from
 * it (reference counted, so a replacement can take over for new handshakes while old
 * connections keep theirs). Contexts are immutable once made: any thread may use them. */
#ifndef URPC_TLS_H
#define URPC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/outq.h"

typedef struct tls_ctx tls_ctx;
typedef struct tls_conn tls_conn;

typedef struct tls_config {
  const char *cert_file;      /* PEM chain, leaf first */
  const char *key_file;       /* PEM private key (ECDSA or RSA) */
  bool allow_tls12;           /* also TLS 1.2 with ECDHE + AEAD suites; default TLS 1.3 only */
  const char *client_ca_file; /* PEM bundle: verify client certificates against it (mTLS) */
  bool client_cert_required;  /* with client_ca_file: refuse clients without a certificate */
} tls_config;

/* Who the peer is, read once at the end of the handshake. Strings owned by the session. */
typedef struct tls_peer {
  bool verified;         /* presented a certificate that verified against the client CA */
  const char *spiffe_id; /* the X.509-SVID's ID (exactly one spiffe:// URI SAN, leaf not a
                            CA), or NULL */
  const char *subject;   /* "/CN=..." of the certificate, or NULL without one */
  const char *dns;       /* the first DNS SAN, or NULL */
  const char *sni;       /* the server name the client asked for (SNI), or NULL */
} tls_peer;

/* Frees what wolfSSL caches per thread (its ECC fixed-point tables): call when a thread that
 * did handshakes ends. */
void tls_thread_exit(void);

/* Session tickets: keys are shared by every context of the process and replaced every
 * `seconds` (default 3600); a ticket resumes for up to two lifetimes. Any thread. */
void tls_tickets_set_lifetime(unsigned seconds);

/* Loads the files and makes a context. Returns 0, or -errno with one line in `why`. */
int tls_ctx_new(const tls_config *cfg, tls_ctx **out, char *why, size_t why_len);
void tls_ctx_ref(tls_ctx *ctx);
void tls_ctx_unref(tls_ctx *ctx);

enum {
  TLS_CLOSED = 1, /* the peer closed the session (close_notify): stop reading */
};

/* A server-side session on `ctx` (which it references). NULL if out of memory. */
tls_conn *tls_conn_new(tls_ctx *ctx);
void tls_conn_free(tls_conn *c);
/* Feeds `n` bytes of ciphertext. Plaintext goes to on_plain(ud, p, n) (a negative return
 * stops and is returned); handshake messages and alerts are appended to `out`. Returns 0,
 * TLS_CLOSED, or a negative code: the connection must close after `out` is sent. */
int tls_conn_recv(tls_conn *c, const uint8_t *p, size_t n,
                  int (*on_plain)(void *ud, const uint8_t *p, size_t n), void *ud, core_outq *out);
/* Encrypts all of `plain` (consumed) into records appended to `out`. Only after the
 * handshake. Returns 0 or a negative code. */
int tls_conn_seal(tls_conn *c, core_outq *plain, core_outq *out);
/* The handshake is complete (application data may flow). */
bool tls_conn_ready(const tls_conn *c);
/* Why a handshake failed, for the stats (the log line says it in words). */
typedef enum tls_failure {
  TLS_FAIL_NONE,
  TLS_FAIL_PROTOCOL,    /* bad records, no shared version or cipher suite, bad handshake */
  TLS_FAIL_ALPN,        /* the client did not offer h2 */
  TLS_FAIL_CLIENT_CERT, /* mTLS: no client certificate, or one that did not verify */
} tls_failure;
tls_failure tls_conn_failure(const tls_conn *c);
/* The handshake resumed an earlier session (a ticket): no certificate work was done. */
bool tls_conn_resumed(const tls_conn *c);
/* The peer's identity; valid once ready, for the session's life. */
const tls_peer *tls_conn_peer(const tls_conn *c);

#endif

/* TLS over memory buffers (wolfSSL): no sockets, no ring. The connection feeds ciphertext in
 * and gets plaintext out through a callback; whatever TLS has to send (handshake, records,
 * alerts) is appended to the connection's output queue. io/ composes it into its streams.
 * Both ends: a server context (tls_ctx_new) serves h2 to clients; a client context
 * (tls_client_ctx_new) connects to a server and verifies its chain and name.
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

/* The client side: what a connection to a server trusts and shows. */
typedef struct tls_client_config {
  const char *ca_file;   /* PEM bundle the server's chain must verify against; NULL: the
                            system bundle (/etc/ssl/certs/ca-certificates.crt) */
  const char *cert_file; /* optional client certificate (PEM chain, leaf first) for mTLS, */
  const char *key_file;  /* with its PEM private key: both or neither */
  const char *alpn;      /* one protocol to offer ("h2", "http/1.1"), or NULL for no ALPN; a
                            server choosing another fails the handshake, one choosing none does
                            not (tls_peer.alpn says what was agreed) */
  const char *expected_spiffe_id; /* if set, the server's X.509-SVID must carry exactly this
                                     SPIFFE ID */
  bool allow_tls12;               /* also TLS 1.2 (ECDHE + AEAD); default TLS 1.3 only */
} tls_client_config;

/* Who the peer is, read once at the end of the handshake. Strings owned by the session. */
typedef struct tls_peer {
  bool verified;         /* presented a certificate that verified against the CA bundle */
  const char *spiffe_id; /* the X.509-SVID's ID (exactly one spiffe:// URI SAN, leaf not a
                            CA), or NULL */
  const char *subject;   /* "/CN=..." of the certificate, or NULL without one */
  const char *dns;       /* the first DNS SAN, or NULL */
  const char *sni;       /* server side: the name the client asked for (SNI), or NULL */
  const char *alpn;      /* the protocol ALPN agreed on, or NULL */
} tls_peer;

/* Frees what wolfSSL caches per thread (its ECC fixed-point tables): call when a thread that
 * did handshakes ends. */
void tls_thread_exit(void);

/* Session tickets: keys are shared by every context of the process and replaced every
 * `seconds` (default 3600); a ticket resumes for up to two lifetimes. Any thread. */
void tls_tickets_set_lifetime(unsigned seconds);

/* Loads the files and makes a server context. Returns 0, or -errno with one line in `why`. */
int tls_ctx_new(const tls_config *cfg, tls_ctx **out, char *why, size_t why_len);
/* Loads the files and makes a client context (tls_client_conn_new). Returns 0, or -errno with
 * one line in `why` naming the file and what was wrong with it. */
int tls_client_ctx_new(const tls_client_config *cfg, tls_ctx **out, char *why, size_t why_len);
void tls_ctx_ref(tls_ctx *ctx);
void tls_ctx_unref(tls_ctx *ctx);

enum {
  TLS_CLOSED = 1, /* the peer closed the session (close_notify): stop reading */
};

/* A server-side session on `ctx` (which it references). NULL if out of memory. */
tls_conn *tls_conn_new(tls_ctx *ctx);
/* A client-side session on a client context (which it references), to `server_name`: a DNS
 * name (sent as SNI) or an IP address literal, which the server's certificate must name
 * (subjectAltName). NULL if out of memory or `server_name` is NULL or empty. The client speaks
 * first: tls_conn_start, then tls_conn_recv with each piece of the server's answer. */
tls_conn *tls_client_conn_new(tls_ctx *ctx, const char *server_name);
/* Appends the ClientHello to `out`. Once, on a client session. Returns 0 or a negative code. */
int tls_conn_start(tls_conn *c, core_outq *out);
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
  TLS_FAIL_PROTOCOL,  /* bad records, no shared version or cipher suite, bad handshake */
  TLS_FAIL_ALPN,      /* the client did not offer h2 */
  TLS_FAIL_PEER_CERT, /* server side, mTLS: no client certificate, or one that did not
                         verify; client side: the server's did not verify (chain, name or
                         SPIFFE ID) */
} tls_failure;
tls_failure tls_conn_failure(const tls_conn *c);
/* A client session's failure in one line ("the server's certificate was rejected: ..."), for
 * its caller to log as it sees fit (a client retries; tls/ does not log for it). NULL before a
 * failure, and on server sessions, which log their own. Valid for the session's life. */
const char *tls_conn_error(const tls_conn *c);
/* The handshake resumed an earlier session (a ticket): no certificate work was done. */
bool tls_conn_resumed(const tls_conn *c);
/* The peer's identity; valid once ready, for the session's life. */
const tls_peer *tls_conn_peer(const tls_conn *c);

#endif

/* Private to tls/. */
#ifndef URPC_TLS_IMPL_H
#define URPC_TLS_IMPL_H

#include <stdatomic.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>

#include "tls/tls.h"

struct tls_ctx {
  WOLFSSL_CTX *ctx;
  _Atomic unsigned refs;
  bool client;           /* made by tls_client_ctx_new: sessions connect, not accept */
  char *ca_file;         /* the bundle peers are verified against (named in messages), or NULL */
  char *alpn;            /* client: the protocol offered, or NULL */
  char *expected_spiffe; /* client: the server's SPIFFE ID must be this, or NULL */
};

struct tls_conn {
  WOLFSSL *ssl;
  tls_ctx *ctx;
  const uint8_t *in; /* ciphertext not yet read by wolfSSL, during tls_conn_recv */
  size_t in_len;
  core_outq *out; /* where wolfSSL's output goes, during recv and seal */
  bool ready;
  bool failed;
  bool alerted;    /* we sent a fatal alert ourselves: wolfSSL's output is dropped */
  bool said_why;   /* the handshake's failure is already logged */
  uint8_t failure; /* tls_failure */
  tls_peer peer;
  char *spiffe, *subject, *dns, *sni, *alpn; /* owned strings behind peer */
  char *server_name;                         /* client: whom we connect to */
  char *why; /* client: the failure in words (tls_conn_error), or NULL */
};

/* context.c: the pieces both kinds of context are made of. */
void tls_init_once(void);
int tls_check_readable(const char *path, const char *what, char *why, size_t why_len);
int tls_ctx_make(bool client, bool allow_tls12, tls_ctx **out, char *why, size_t why_len);
int tls_ctx_use_pair(tls_ctx *t, const char *cert_file, const char *key_file, char *why,
                     size_t why_len);
int tls_ctx_use_ca(tls_ctx *t, const char *ca_file, char *why, size_t why_len);

/* session.c */
tls_conn *tls_conn_alloc(tls_ctx *ctx);
void tls_conn_set_error(tls_conn *c, tls_failure f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* client.c: a client session's failure `e` of `what` ("TLS handshake", "TLS"), in words. */
void tls_client_failed(tls_conn *c, const char *what, int e);
/* peer.c: the identity a certificate carries, and the peer's read at the handshake's end. */
void tls_cert_ids(WOLFSSL_X509 *x, char **spiffe, char **dns);
void tls_read_peer(tls_conn *c);

int tls_io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx);
int tls_io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx);
bool tls_offered_h2(WOLFSSL *ssl);
int tls_require_h2(WOLFSSL *ssl, void *arg);
int tls_verify_peer(int preverify, WOLFSSL_X509_STORE_CTX *store);
int tls_ticket_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                  unsigned char iv[WOLFSSL_TICKET_IV_SZ], unsigned char mac[WOLFSSL_TICKET_MAC_SZ],
                  int enc, unsigned char *ticket, int len, int *out_len, void *ud);
unsigned tls_tickets_lifetime(void);

#endif

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
  char *spiffe, *subject, *dns, *sni; /* owned strings behind peer */
};

int tls_io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx);
int tls_io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx);
bool tls_offered_h2(WOLFSSL *ssl);
int tls_require_h2(WOLFSSL *ssl, void *arg);
int tls_verify_client(int preverify, WOLFSSL_X509_STORE_CTX *store);
int tls_ticket_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                  unsigned char iv[WOLFSSL_TICKET_IV_SZ], unsigned char mac[WOLFSSL_TICKET_MAC_SZ],
                  int enc, unsigned char *ticket, int len, int *out_len, void *ud);
unsigned tls_tickets_lifetime(void);

#endif

/* The wolfSSL context: TLS 1.3 (optionally 1.2 with ECDHE+AEAD), certificate chain and key,
 * X25519 and P-256, and the memory IO callbacks every session uses. The server's context is
 * made here; a client's (client.c) from the same pieces. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/openssl/evp.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include "core/log.h"
#include "tls/tls_impl.h"

static atomic_flag g_init = ATOMIC_FLAG_INIT;

static const char *tls12_suites =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/* Proves the private key belongs to the leaf certificate: sign with one, verify with the
 * other. wolfSSL 5.5's check_private_key compares RSA moduli but accepts any ECC key of the
 * right curve, which would only show up as failed handshakes. */
static bool key_matches_cert(WOLFSSL_CTX *ctx) {
  static const unsigned char probe[] = "uringrpc: does this key belong to the certificate?";
  WOLFSSL_X509 *leaf = wolfSSL_CTX_get0_certificate(ctx);
  WOLFSSL_EVP_PKEY *key = wolfSSL_CTX_get0_privatekey(ctx);
  WOLFSSL_EVP_PKEY *pub = leaf ? wolfSSL_X509_get_pubkey(leaf) : NULL;
  WOLFSSL_EVP_MD_CTX *sign = wolfSSL_EVP_MD_CTX_new(), *verify = wolfSSL_EVP_MD_CTX_new();
  unsigned char sig[1024]; /* up to RSA-8192 */
  size_t sig_len = sizeof(sig);
  bool ok = key && pub && sign && verify &&
            wolfSSL_EVP_DigestSignInit(sign, NULL, wolfSSL_EVP_sha256(), NULL, key) == 1 &&
            wolfSSL_EVP_DigestSignUpdate(sign, probe, sizeof(probe)) == 1 &&
            wolfSSL_EVP_DigestSignFinal(sign, sig, &sig_len) == 1 &&
            wolfSSL_EVP_DigestVerifyInit(verify, NULL, wolfSSL_EVP_sha256(), NULL, pub) == 1 &&
            wolfSSL_EVP_DigestVerifyUpdate(verify, probe, sizeof(probe)) == 1 &&
            wolfSSL_EVP_DigestVerifyFinal(verify, sig, sig_len) == 1;
  wolfSSL_EVP_MD_CTX_free(sign);
  wolfSSL_EVP_MD_CTX_free(verify);
  wolfSSL_EVP_PKEY_free(pub);
  return ok;
}

void tls_init_once(void) {
  if (!atomic_flag_test_and_set(&g_init)) wolfSSL_Init(); /* once per process */
}

/* A file wolfSSL would fail on with no reason given: say which and why. */
int tls_check_readable(const char *path, const char *what, char *why, size_t why_len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    snprintf(why, why_len, "cannot read the %s %s: %s", what, path, strerror(e));
    return -e;
  }
  close(fd);
  return 0;
}

int tls_ctx_make(bool client, bool allow_tls12, tls_ctx **out, char *why, size_t why_len) {
  tls_init_once();
  tls_ctx *t = calloc(1, sizeof(*t));
  if (!t) return -ENOMEM;
  atomic_init(&t->refs, 1);
  t->client = client;
  WOLFSSL_METHOD *m =
      client ? (allow_tls12 ? wolfSSLv23_client_method() : wolfTLSv1_3_client_method())
             : (allow_tls12 ? wolfSSLv23_server_method() : wolfTLSv1_3_server_method());
  t->ctx = m ? wolfSSL_CTX_new(m) : NULL;
  if (!t->ctx) {
    free(t);
    snprintf(why, why_len, "cannot create a TLS context (wolfSSL)");
    return -ENOMEM;
  }
  if (allow_tls12 && (wolfSSL_CTX_SetMinVersion(t->ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS ||
                      wolfSSL_CTX_set_cipher_list(t->ctx, tls12_suites) != WOLFSSL_SUCCESS)) {
    tls_ctx_unref(t);
    snprintf(why, why_len, "cannot restrict TLS 1.2 to ECDHE+AEAD suites");
    return -EINVAL;
  }
  wolfSSL_CTX_SetIORecv(t->ctx, tls_io_recv);
  wolfSSL_CTX_SetIOSend(t->ctx, tls_io_send);
  *out = t;
  return 0;
}

int tls_ctx_use_pair(tls_ctx *t, const char *cert_file, const char *key_file, char *why,
                     size_t why_len) {
  int rc = tls_check_readable(cert_file, "certificate chain", why, why_len);
  if (!rc) rc = tls_check_readable(key_file, "private key", why, why_len);
  if (rc) return rc;
  if (wolfSSL_CTX_use_certificate_chain_file(t->ctx, cert_file) != WOLFSSL_SUCCESS) {
    snprintf(why, why_len,
             "cannot load the certificate chain from %s: expected PEM certificates, leaf first",
             cert_file);
    return -EINVAL;
  }
  if (wolfSSL_CTX_use_PrivateKey_file(t->ctx, key_file, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
    snprintf(why, why_len, "cannot load the private key from %s: expected a PEM ECDSA or RSA key",
             key_file);
    return -EINVAL;
  }
  if (wolfSSL_CTX_check_private_key(t->ctx) != WOLFSSL_SUCCESS || !key_matches_cert(t->ctx)) {
    snprintf(why, why_len, "the key in %s does not match the certificate in %s", key_file,
             cert_file);
    return -EINVAL;
  }
  return 0;
}

int tls_ctx_use_ca(tls_ctx *t, const char *ca_file, char *why, size_t why_len) {
  int rc = tls_check_readable(ca_file, "CA bundle", why, why_len);
  if (rc) return rc;
  if (wolfSSL_CTX_load_verify_locations(t->ctx, ca_file, NULL) != WOLFSSL_SUCCESS) {
    snprintf(why, why_len, "cannot load the CA bundle from %s: expected PEM certificates", ca_file);
    return -EINVAL;
  }
  free(t->ca_file);
  t->ca_file = strdup(ca_file);
  return t->ca_file ? 0 : -ENOMEM;
}

int tls_ctx_new(const tls_config *cfg, tls_ctx **out, char *why, size_t why_len) {
  if (!cfg->cert_file || !cfg->key_file) {
    snprintf(why, why_len, "TLS needs a certificate and a key: give --tls-cert and --tls-key");
    return -EINVAL;
  }
  tls_ctx *t;
  int err = tls_ctx_make(false, cfg->allow_tls12, &t, why, why_len);
  if (err) return err;
  err = tls_ctx_use_pair(t, cfg->cert_file, cfg->key_file, why, why_len);
  if (!err && cfg->client_ca_file) err = tls_ctx_use_ca(t, cfg->client_ca_file, why, why_len);
  if (err) {
    tls_ctx_unref(t);
    return err;
  }
  if (cfg->client_ca_file)
    wolfSSL_CTX_set_verify(
        t->ctx,
        WOLFSSL_VERIFY_PEER | (cfg->client_cert_required ? WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
        tls_verify_peer);
  else
    wolfSSL_CTX_set_verify(t->ctx, WOLFSSL_VERIFY_NONE, NULL);
  /* SNI: wolfSSL parses the client's server_name only for a name we "use"; any name is
   * accepted (continue on mismatch) and handed to handlers. */
  static const char sni_any[] = "uringrpc";
  if (wolfSSL_CTX_UseSNI(t->ctx, WOLFSSL_SNI_HOST_NAME, sni_any, sizeof(sni_any) - 1) ==
      WOLFSSL_SUCCESS)
    wolfSSL_CTX_SNI_SetOptions(t->ctx, WOLFSSL_SNI_HOST_NAME,
                               WOLFSSL_SNI_CONTINUE_ON_MISMATCH | WOLFSSL_SNI_ANSWER_ON_MISMATCH);
  wolfSSL_CTX_set_TicketEncCb(t->ctx, tls_ticket_cb);
  wolfSSL_CTX_set_TicketHint(t->ctx, (int)tls_tickets_lifetime());
  wolfSSL_CTX_set_cert_cb(t->ctx, tls_require_h2, NULL);
  *out = t;
  return 0;
}

void tls_ctx_ref(tls_ctx *ctx) {
  atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
}

void tls_ctx_unref(tls_ctx *ctx) {
  if (!ctx || atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1) return;
  wolfSSL_CTX_free(ctx->ctx);
  free(ctx->ca_file);
  free(ctx->alpn);
  free(ctx->expected_spiffe);
  free(ctx);
}

void tls_thread_exit(void) {
#ifdef FP_ECC
  wc_ecc_fp_free();
#endif
}

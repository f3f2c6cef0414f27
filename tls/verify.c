/* Peer certificates, both ways. A server verifying client certificates (mTLS): wolfSSL checks
 * the chain against --tls-client-ca, dates and the extendedKeyUsage; we add what it leaves out
 * for a client and say why a certificate was refused, in one line an operator can act on. A
 * client verifying a server: wolfSSL checks the chain, dates, extendedKeyUsage and the name
 * (wolfSSL_check_domain_name); we add the expected SPIFFE ID and keep the reason on the
 * session for the caller (tls_conn_error) instead of logging it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/openssl/x509v3.h>

#include "core/log.h"
#include "tls/tls_impl.h"

/* wolfSSL reports a failure with an X509_V_ERR code, some of them its own way (an expired
 * certificate is "error in notAfter field", 14), or with one of its negative codes; neither
 * has a string in wolfSSL 5.5 for most, so the reasons an operator meets are named here.
 * `bundle` names the CA bundle, `usage` the extendedKeyUsage the peer's role needs. */
static const char *reject_reason(int e, const char *bundle, const char *usage, char *buf,
                                 size_t len) {
  switch (e) {
  case X509_V_ERR_CERT_HAS_EXPIRED:
  case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
  case ASN_AFTER_DATE_E:
    return "certificate has expired";
  case X509_V_ERR_CERT_NOT_YET_VALID:
  case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
  case ASN_BEFORE_DATE_E:
    return "certificate is not yet valid";
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case ASN_NO_SIGNER_E:
    snprintf(buf, len, "unknown CA: its issuer is not in the %s bundle", bundle);
    return buf;
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
  case ASN_SELF_SIGNED_E:
    snprintf(buf, len, "unknown CA: a self-signed certificate that is not in the %s bundle",
             bundle);
    return buf;
  case X509_V_ERR_CERT_SIGNATURE_FAILURE:
  case ASN_SIG_CONFIRM_E:
    return "its signature does not verify against the issuer";
  case X509_V_ERR_INVALID_PURPOSE:
  case EXTKEYUSE_AUTH_E:
    snprintf(buf, len, "bad usage: extendedKeyUsage does not allow %s", usage);
    return buf;
  case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE:
  case KEYUSE_SIGNATURE_E:
    return "bad usage: keyUsage does not allow digitalSignature";
  default:
    return e < 0 ? wolfSSL_ERR_reason_error_string((unsigned long)e)
                 : wolfSSL_X509_verify_cert_error_string(e);
  }
}

/* The peer proves its key with a signature (CertificateVerify): a leaf whose keyUsage is
 * present but lacks digitalSignature must not be used for that (RFC 5280 4.2.1.3). */
static bool leaf_may_sign(WOLFSSL_X509_STORE_CTX *store) {
  if (wolfSSL_X509_STORE_CTX_get_error_depth(store) != 0) return true;
  WOLFSSL_X509 *leaf = wolfSSL_X509_STORE_CTX_get_current_cert(store);
  unsigned ku = leaf ? wolfSSL_X509_get_keyUsage(leaf) : 0; /* 0: no keyUsage extension */
  return ku == 0 || (ku & KU_DIGITAL_SIGNATURE);
}

/* Client side: the server's leaf carries exactly the SPIFFE ID asked for. NULL when it does,
 * else the reason. */
static const char *spiffe_mismatch(const tls_conn *c, WOLFSSL_X509_STORE_CTX *store, char *buf,
                                   size_t len) {
  if (!c->ctx->expected_spiffe || wolfSSL_X509_STORE_CTX_get_error_depth(store) != 0) return NULL;
  char *id = NULL;
  WOLFSSL_X509 *leaf = wolfSSL_X509_STORE_CTX_get_current_cert(store);
  if (leaf) tls_cert_ids(leaf, &id, NULL);
  const char *why = NULL;
  if (!id || strcmp(id, c->ctx->expected_spiffe)) {
    snprintf(buf, len, "its SPIFFE ID is %s, not %s", id ? id : "missing", c->ctx->expected_spiffe);
    why = buf;
  }
  free(id);
  return why;
}

int tls_verify_peer(int preverify, WOLFSSL_X509_STORE_CTX *store) {
  WOLFSSL *ssl =
      wolfSSL_X509_STORE_CTX_get_ex_data(store, wolfSSL_get_ex_data_X509_STORE_CTX_idx());
  tls_conn *c = ssl ? wolfSSL_GetIOWriteCtx(ssl) : NULL;
  bool client = c && c->ctx->client;
  char buf[256];
  const char *why = NULL;
  if (preverify && !leaf_may_sign(store)) {
    wolfSSL_X509_STORE_CTX_set_error(store, X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE);
    preverify = 0;
  }
  if (preverify && client && (why = spiffe_mismatch(c, store, buf, sizeof(buf)))) {
    wolfSSL_X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    preverify = 0;
  }
  if (preverify) return 1;
  int e = wolfSSL_X509_STORE_CTX_get_error(store);
  const char *bundle = c && c->ctx->ca_file ? c->ctx->ca_file : "CA";
  if (client) {
    if (!why && (e == DOMAIN_NAME_MISMATCH || e == IPADDR_MISMATCH)) {
      snprintf(buf, sizeof(buf), "it does not name %s (subjectAltName)", c->server_name);
      why = buf;
    }
    if (!why) why = reject_reason(e, bundle, "serverAuth", buf, sizeof(buf));
    tls_conn_set_error(c, TLS_FAIL_PEER_CERT,
                       "TLS handshake with %s failed: the server's "
                       "certificate was rejected: %s",
                       c->server_name, why);
    return 0;
  }
  LOG_WARN("client certificate rejected: %s",
           reject_reason(e, "--tls-client-ca", "clientAuth", buf, sizeof(buf)));
  if (c) { /* this line is the one about this handshake */
    c->said_why = true;
    c->failure = TLS_FAIL_PEER_CERT;
  }
  return 0;
}

/* Who the peer is: the identities a certificate carries (the X.509-SVID's SPIFFE ID, the first
 * DNS name), read from the leaf by the verify callback (client.c's expected SPIFFE ID) and
 * once at the end of every handshake (tls_peer). */
#include <stdlib.h>
#include <string.h>

#include "tls/tls_impl.h"

#define TLS_SAN_DNS 2 /* GeneralName choices (RFC 5280): dNSName, uniformResourceIdentifier */
#define TLS_SAN_URI 6

static char *dup_bytes(const void *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) return NULL;
  memcpy(s, p, n);
  s[n] = 0;
  return s;
}

static char *asn1_strdup(WOLFSSL_ASN1_STRING *a) {
  if (!a) return NULL;
  int n = wolfSSL_ASN1_STRING_length(a);
  const unsigned char *d = wolfSSL_ASN1_STRING_data(a);
  return n < 0 || !d ? NULL : dup_bytes(d, (size_t)n);
}

/* X.509-SVID: exactly one URI SAN, and it is spiffe://; the leaf must not be a CA. Other
 * certificates still work, with no SPIFFE ID. Out of memory reads as no ID: refused where one
 * is required. */
void tls_cert_ids(WOLFSSL_X509 *x, char **spiffe, char **dns) {
  *spiffe = NULL;
  if (dns) *dns = NULL;
  WOLFSSL_STACK *sans = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  int uris = 0;
  char *uri = NULL;
  for (int i = 0; sans && i < wolfSSL_sk_GENERAL_NAME_num(sans); i++) {
    WOLFSSL_GENERAL_NAME *g = wolfSSL_sk_GENERAL_NAME_value(sans, i);
    if (g->type == TLS_SAN_URI) {
      uris++;
      free(uri);
      uri = asn1_strdup(g->d.uniformResourceIdentifier);
    } else if (g->type == TLS_SAN_DNS && dns && !*dns) {
      *dns = asn1_strdup(g->d.dNSName);
    }
  }
  if (sans) wolfSSL_GENERAL_NAMES_free(sans);
  if (uris == 1 && uri && strncmp(uri, "spiffe://", 9) == 0 && !wolfSSL_X509_get_isCA(x))
    *spiffe = uri;
  else
    free(uri);
}

void tls_read_peer(tls_conn *c) {
  void *name = NULL;
  char *proto = NULL;
  unsigned short len = 0;
  if (c->ctx->client) { /* a server session's ALPN is always h2 (session.c) */
    if (wolfSSL_ALPN_GetProtocol(c->ssl, &proto, &len) == WOLFSSL_SUCCESS && proto && len)
      c->peer.alpn = c->alpn = dup_bytes(proto, len);
  } else {
    len = wolfSSL_SNI_GetRequest(c->ssl, WOLFSSL_SNI_HOST_NAME, &name);
    if (len && name) c->peer.sni = c->sni = dup_bytes(name, len);
  }
  WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(c->ssl);
  if (!x) return;
  c->peer.verified = wolfSSL_get_verify_result(c->ssl) == 0; /* X509_V_OK */
  char subject[256];
  if (wolfSSL_X509_NAME_oneline(wolfSSL_X509_get_subject_name(x), subject, sizeof(subject)))
    c->subject = strdup(subject);
  tls_cert_ids(x, &c->spiffe, &c->dns);
  wolfSSL_X509_free(x);
  c->peer.spiffe_id = c->spiffe;
  c->peer.subject = c->subject;
  c->peer.dns = c->dns;
}

/* The client side of tls/: a context that trusts a CA bundle (the system's by default), may
 * show a client certificate (mTLS) and offer one ALPN protocol; sessions that speak first, send
 * SNI for DNS names and verify that the server's certificate names the server (DNS or IP
 * subjectAltName) and, when asked, carries an expected SPIFFE ID (verify.c). Same memory IO
 * and record code as the server side (session.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls_impl.h"

#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt" /* Debian's ca-certificates */

static int dup_opt(const char *s, char **out) {
  *out = s ? strdup(s) : NULL;
  return s && !*out ? -ENOMEM : 0;
}

int tls_client_ctx_new(const tls_client_config *cfg, tls_ctx **out, char *why, size_t why_len) {
  if (!cfg->cert_file != !cfg->key_file) {
    snprintf(why, why_len,
             "a client certificate needs its key and a key its certificate: "
             "give both or neither");
    return -EINVAL;
  }
  if (cfg->alpn && (!*cfg->alpn || strlen(cfg->alpn) > 255)) {
    snprintf(why, why_len, "bad ALPN protocol name '%s'", cfg->alpn);
    return -EINVAL;
  }
  tls_ctx *t;
  int err = tls_ctx_make(true, cfg->allow_tls12, &t, why, why_len);
  if (err) return err;
  err = tls_ctx_use_ca(t, cfg->ca_file ? cfg->ca_file : SYSTEM_CA_BUNDLE, why, why_len);
  if (!err && cfg->cert_file)
    err = tls_ctx_use_pair(t, cfg->cert_file, cfg->key_file, why, why_len);
  if (!err) err = dup_opt(cfg->alpn, &t->alpn);
  if (!err) err = dup_opt(cfg->expected_spiffe_id, &t->expected_spiffe);
  if (err) {
    if (err == -ENOMEM) snprintf(why, why_len, "out of memory");
    tls_ctx_unref(t);
    return err;
  }
  wolfSSL_CTX_set_verify(t->ctx, WOLFSSL_VERIFY_PEER, tls_verify_peer);
  *out = t;
  return 0;
}

static bool is_ip_literal(const char *name) {
  unsigned char addr[16];
  return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

tls_conn *tls_client_conn_new(tls_ctx *ctx, const char *server_name) {
  if (!ctx->client || !server_name || !*server_name) return NULL;
  tls_conn *c = tls_conn_alloc(ctx);
  if (!c) return NULL;
  c->server_name = strdup(server_name);
  /* RFC 6066: SNI carries host names only, never address literals; the certificate must name
   * the server either way (wolfSSL matches DNS and IP subjectAltNames, then the CN). */
  bool ok = c->server_name &&
            (is_ip_literal(server_name) ||
             wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, server_name,
                            (unsigned short)strlen(server_name)) == WOLFSSL_SUCCESS) &&
            wolfSSL_check_domain_name(c->ssl, server_name) == WOLFSSL_SUCCESS &&
            (!ctx->alpn || wolfSSL_UseALPN(c->ssl, ctx->alpn, (unsigned)strlen(ctx->alpn),
                                           WOLFSSL_ALPN_FAILED_ON_MISMATCH) == WOLFSSL_SUCCESS);
  if (!ok) {
    tls_conn_free(c);
    return NULL;
  }
  return c;
}

/* RFC 8446 6.2's names for the alerts a refusing server sends; wolfSSL 5.5 lacks some. */
static const char *alert_name(int a) {
  static const struct {
    int code;
    const char *name;
  } names[] = {{40, "handshake_failure"},       {42, "bad_certificate"},
               {43, "unsupported_certificate"}, {44, "certificate_revoked"},
               {45, "certificate_expired"},     {46, "certificate_unknown"},
               {47, "illegal_parameter"},       {48, "unknown_ca"},
               {49, "access_denied"},           {50, "decode_error"},
               {51, "decrypt_error"},           {70, "protocol_version"},
               {71, "insufficient_security"},   {80, "internal_error"},
               {109, "missing_extension"},      {112, "unrecognized_name"},
               {116, "certificate_required"},   {120, "no_application_protocol"}};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (names[i].code == a) return names[i].name;
  return "alert";
}

/* A client session's failure, in words for its caller: `what` failed ("TLS handshake",
 * "TLS"), with the server's alert when it sent one (TLS 1.3 servers refuse a client
 * certificate after the client has finished its handshake, so it shows up on a read). */
void tls_client_failed(tls_conn *c, const char *what, int e) {
  if (c->why) return; /* the verify callback named the reason */
  WOLFSSL_ALERT_HISTORY h;
  if (e == FATAL_ERROR && wolfSSL_get_alert_history(c->ssl, &h) == WOLFSSL_SUCCESS &&
      h.last_rx.code >= 0) {
    int a = h.last_rx.code;
    tls_conn_set_error(c, TLS_FAIL_PROTOCOL, "%s with %s failed: the server sent %s (%d)%s", what,
                       c->server_name, alert_name(a), a,
                       a == 116             ? ": it requires a client certificate"
                       : a >= 42 && a <= 49 ? ": it refused our client certificate"
                       : a == 120           ? ": it does not speak the protocol we offered (ALPN)"
                                            : "");
    return;
  }
  char msg[80];
  tls_conn_set_error(c, e == DOMAIN_NAME_MISMATCH ? TLS_FAIL_PEER_CERT : TLS_FAIL_PROTOCOL,
                     "%s with %s failed: %s", what, c->server_name,
                     e == DOMAIN_NAME_MISMATCH ? "the server's certificate does not name it"
                                               : wolfSSL_ERR_error_string((unsigned long)e, msg));
}

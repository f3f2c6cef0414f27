/* One TLS session over memory, server or client side: wolfSSL reads ciphertext from the bytes
 * being fed and writes records into the connection's output queue. Input that wolfSSL has not
 * consumed by the end of a feed cannot stay behind (the caller's buffer goes back to the ring):
 * wolfSSL buffers partial records itself, so every byte offered is always taken. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "tls/tls_impl.h"

#define READ_CHUNK     16384
#define TLS_RECORD_MAX 16384 /* plaintext bytes in one TLS record */

static const char alpn_h2[] = "h2";

/* RFC 8446 section 6: before the server's first flight records are plaintext, so the fatal
 * no_application_protocol (120) alert is these seven bytes, in TLS 1.2 as in 1.3. */
static const uint8_t alert_no_application_protocol[] = {21, 3, 3, 0, 2, 2, 120};

int tls_io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx) {
  (void)ssl;
  tls_conn *c = ctx;
  if (c->in_len == 0) return WOLFSSL_CBIO_ERR_WANT_READ;
  size_t n = (size_t)sz < c->in_len ? (size_t)sz : c->in_len;
  memcpy(buf, c->in, n);
  c->in += n;
  c->in_len -= n;
  return (int)n;
}

int tls_io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx) {
  (void)ssl;
  tls_conn *c = ctx;
  if (c->alerted) return sz; /* our alert is the last word; wolfSSL's own goes nowhere */
  if (!c->out || core_outq_copy(c->out, buf, (size_t)sz) < 0) return WOLFSSL_CBIO_ERR_GENERAL;
  return sz;
}

/* A session on `ctx` with the memory IO wired, either side. */
tls_conn *tls_conn_alloc(tls_ctx *ctx) {
  tls_conn *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  c->ssl = wolfSSL_new(ctx->ctx);
  if (!c->ssl) {
    free(c);
    return NULL;
  }
  wolfSSL_SetIOReadCtx(c->ssl, c);
  wolfSSL_SetIOWriteCtx(c->ssl, c);
  tls_ctx_ref(ctx);
  c->ctx = ctx;
  return c;
}

tls_conn *tls_conn_new(tls_ctx *ctx) {
  tls_conn *c = tls_conn_alloc(ctx);
  /* h2 or nothing: a client without it gets the no_application_protocol alert. */
  if (c && wolfSSL_UseALPN(c->ssl, (char *)alpn_h2, sizeof(alpn_h2) - 1,
                           WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS) {
    tls_conn_free(c);
    return NULL;
  }
  return c;
}

void tls_conn_free(tls_conn *c) {
  if (!c) return;
  free(c->spiffe);
  free(c->subject);
  free(c->dns);
  free(c->sni);
  free(c->alpn);
  free(c->server_name);
  free(c->why);
  wolfSSL_free(c->ssl);
  tls_ctx_unref(c->ctx);
  free(c);
}

bool tls_conn_ready(const tls_conn *c) {
  return c->ready;
}

const tls_peer *tls_conn_peer(const tls_conn *c) {
  return &c->peer;
}

static bool negotiated_h2(WOLFSSL *ssl) {
  char *proto = NULL;
  unsigned short len = 0;
  return wolfSSL_ALPN_GetProtocol(ssl, &proto, &len) == WOLFSSL_SUCCESS && len == 2 &&
         memcmp(proto, alpn_h2, 2) == 0;
}

/* Whether the ClientHello's ALPN list (wolfSSL gives it comma-separated) names h2; usable
 * before wolfSSL has chosen a protocol, as when a ticket is opened. */
bool tls_offered_h2(WOLFSSL *ssl) {
  char *list = NULL;
  unsigned short len = 0;
  if (wolfSSL_ALPN_GetPeerProtocol(ssl, &list, &len) != WOLFSSL_SUCCESS || !list) return false;
  bool found = false;
  for (size_t i = 0; i < len && !found;) {
    size_t end = i;
    while (end < len && list[end] != ',') end++;
    found = end - i == 2 && memcmp(list + i, alpn_h2, 2) == 0;
    i = end + 1;
  }
  wolfSSL_ALPN_FreePeerProtocol(ssl, &list);
  return found;
}

/* wolfSSL's certificate callback runs while it processes the ClientHello, after ALPN and
 * before the server says anything. A client offering ALPN without h2 has already failed in
 * wolfSSL with no_application_protocol; one offering no ALPN at all passes there, so it gets
 * the same alert from here: wolfSSL 5.5 exports no call to send an alert, and the
 * internal_error it sends for a refusing callback is dropped (tls_io_send). */
int tls_require_h2(WOLFSSL *ssl, void *arg) {
  (void)arg;
  tls_conn *c = wolfSSL_GetIOWriteCtx(ssl);
  if (negotiated_h2(ssl)) return 1;
  if (c->out)
    core_outq_copy(c->out, alert_no_application_protocol, sizeof(alert_no_application_protocol));
  c->alerted = true;
  return 0;
}

/* The handshake finished: h2 was required before (tls_require_h2, and tls_offered_h2 for
 * tickets); checked once more, cheaply, as the last word. */
static int check_alpn(tls_conn *c) {
  if (negotiated_h2(c->ssl)) return 0;
  c->failure = TLS_FAIL_ALPN;
  LOG_DEBUG("TLS client did not negotiate h2 (ALPN)");
  return -EPROTO;
}

void tls_conn_set_error(tls_conn *c, tls_failure f, const char *fmt, ...) {
  c->failure = (uint8_t)f;
  if (c->why) return; /* the first reason is the one */
  char line[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  c->why = strdup(line);
}

const char *tls_conn_error(const tls_conn *c) {
  return c->why;
}

/* One line per failed handshake, and its reason for the stats. */
static void note_failure(tls_conn *c, int e) {
  if (c->ctx->client) {
    tls_client_failed(c, "TLS handshake", e);
    return;
  }
  if (c->said_why) return; /* the client-certificate check named the reason */
  if (e == NO_PEER_CERT) {
    c->failure = TLS_FAIL_PEER_CERT;
    LOG_WARN("client certificate rejected: none was sent (--tls-client-auth required)");
    return;
  }
  if (c->alerted || e == UNKNOWN_ALPN_PROTOCOL_NAME_E) {
    c->failure = TLS_FAIL_ALPN;
    LOG_INFO("TLS handshake failed: the client did not offer ALPN h2 (sent "
             "no_application_protocol)");
    return;
  }
  c->failure = TLS_FAIL_PROTOCOL;
  char msg[80];
  LOG_INFO("TLS handshake failed: %s", wolfSSL_ERR_error_string((unsigned long)e, msg));
}

tls_failure tls_conn_failure(const tls_conn *c) {
  return (tls_failure)c->failure;
}

bool tls_conn_resumed(const tls_conn *c) {
  return wolfSSL_session_reused(c->ssl) == 1;
}

/* One step of the handshake with the bytes being fed: 0 (done or wants more) or -EPROTO. */
static int handshake(tls_conn *c) {
  int r = c->ctx->client ? wolfSSL_connect(c->ssl) : wolfSSL_accept(c->ssl);
  if (r != WOLFSSL_SUCCESS) {
    int e = wolfSSL_get_error(c->ssl, r);
    if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE) return 0;
    note_failure(c, e);
    return -EPROTO;
  }
  if (c->ctx->client) {
    c->ready = true;
    tls_read_peer(c);
    return 0;
  }
  int rc = check_alpn(c);
  if (rc) return rc;
  c->ready = true;
  tls_read_peer(c);
  c->peer.alpn = alpn_h2;
  /* The handshake's key-schedule arrays are kept by wolfSSL 5.5 on a TLS 1.3 server (its
   * tickets went out with the handshake); an idle connection does not need them: ~5 KiB. */
  wolfSSL_FreeArrays(c->ssl);
  return 0;
}

int tls_conn_start(tls_conn *c, core_outq *out) {
  if (!c->ctx->client || c->ready || c->failed) return -EINVAL;
  c->out = out;
  int rc = handshake(c);
  if (rc < 0) c->failed = true;
  c->out = NULL;
  return rc;
}

int tls_conn_recv(tls_conn *c, const uint8_t *p, size_t n,
                  int (*on_plain)(void *ud, const uint8_t *p, size_t n), void *ud, core_outq *out) {
  if (c->failed) return -EPROTO;
  c->in = p;
  c->in_len = n;
  c->out = out;
  int rc = 0;
  if (!c->ready) rc = handshake(c);
  uint8_t buf[READ_CHUNK];
  while (rc == 0 && c->ready) {
    int r = wolfSSL_read(c->ssl, buf, sizeof(buf));
    if (r > 0) {
      rc = on_plain(ud, buf, (size_t)r);
      continue;
    }
    int e = wolfSSL_get_error(c->ssl, r);
    if (e == WOLFSSL_ERROR_WANT_READ) break;
    rc = e == WOLFSSL_ERROR_ZERO_RETURN ? TLS_CLOSED : -EPROTO;
    if (rc < 0 && c->ctx->client) tls_client_failed(c, "TLS", e);
  }
  if (rc < 0) c->failed = true;
  c->in = NULL;
  c->in_len = 0;
  c->out = NULL;
  return rc;
}

static int write_records(tls_conn *c, const uint8_t *p, size_t n) {
  return wolfSSL_write(c->ssl, p, (int)n) == (int)n ? 0 : -EPROTO;
}

/* The plaintext is cut into as few records as possible: every record but the last of a flush
 * is a full 16 KiB, whatever the segments (HTTP/2 frame headers in copy blocks, payloads by
 * reference). Small segments are gathered in a stack buffer; whole records of a large segment
 * go to wolfSSL straight from it. A record costs 22 bytes and one AEAD call. */
int tls_conn_seal(tls_conn *c, core_outq *plain, core_outq *out) {
  if (!c->ready || c->failed) return -EPROTO;
  c->out = out;
  struct iovec iov[16];
  uint8_t stage[TLS_RECORD_MAX];
  size_t staged = 0;
  int rc = 0;
  while (plain->bytes && rc == 0) {
    int n = core_outq_iov(plain, iov, 16);
    size_t taken = 0;
    for (int i = 0; i < n && rc == 0; i++) {
      const uint8_t *p = iov[i].iov_base;
      size_t len = iov[i].iov_len;
      if (staged == 0 && len >= TLS_RECORD_MAX) {
        size_t whole = len - len % TLS_RECORD_MAX;
        rc = write_records(c, p, whole);
        p += whole, len -= whole;
      }
      while (rc == 0 && len) {
        size_t k = len < TLS_RECORD_MAX - staged ? len : TLS_RECORD_MAX - staged;
        memcpy(stage + staged, p, k);
        staged += k, p += k, len -= k;
        if (staged == TLS_RECORD_MAX) rc = write_records(c, stage, staged), staged = 0;
      }
      taken += iov[i].iov_len;
    }
    core_outq_consume(plain, taken);
  }
  if (rc == 0 && staged) rc = write_records(c, stage, staged);
  if (rc < 0) c->failed = true;
  c->out = NULL;
  return rc;
}

/* The TLS server session (tls/session.c over wolfSSL) consuming what a client sends: a
 * tls_conn on one of four contexts (first input byte: TLS 1.3 only; 1.2 allowed; mTLS required;
 * mTLS optional, 1.2 allowed), fed the rest of the input in pieces (second byte: piece size, 0
 * for all at once), its output drained between pieces, as io/ would. The certificate and key
 * are test files of this folder (tls/); the client CA is the same self-signed certificate. */
#include <string.h>

#include "core/log.h"
#include "core/outq.h"
#include "core/pool.h"
#include "fuzz_check.h"
#include "tls/tls.h"

#ifndef URPC_FUZZ_TLS_DIR
#error "URPC_FUZZ_TLS_DIR: the folder with cert.pem and key.pem"
#endif

static tls_ctx *ctxs[4];
static core_pool blocks;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  core_log_set_level(CORE_LOG_OFF); /* a refused handshake logs a line: millions of them here */
  core_pool_init(&blocks, core_outq_block_size(), 16);
  const char *cert = URPC_FUZZ_TLS_DIR "/cert.pem", *key = URPC_FUZZ_TLS_DIR "/key.pem";
  tls_config cfg[4] = {
      {.cert_file = cert, .key_file = key},
      {.cert_file = cert, .key_file = key, .allow_tls12 = true},
      {.cert_file = cert,
       .key_file = key,
       .allow_tls12 = true,
       .client_ca_file = cert,
       .client_cert_required = true},
      {.cert_file = cert, .key_file = key, .client_ca_file = cert},
  };
  for (int i = 0; i < 4; i++) {
    char why[256];
    if (tls_ctx_new(&cfg[i], &ctxs[i], why, sizeof(why)) < 0) {
      fprintf(stderr, "fuzz_tls: %s\n", why);
      abort();
    }
  }
  return 0;
}

static size_t plain_bytes;

static int on_plain(void *ud, const uint8_t *p, size_t n) {
  (void)ud;
  FUZZ_CHECK(n > 0 && p != NULL, "empty plaintext");
  plain_bytes += n;
  return 0;
}

static void drain(core_outq *out) {
  struct iovec iov[64];
  for (;;) {
    int n = core_outq_iov(out, iov, 64);
    if (n == 0) break;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += iov[i].iov_len;
    core_outq_consume(out, total);
  }
  FUZZ_CHECK(out->bytes == 0, "%zu bytes left in the output", out->bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  tls_conn *c = tls_conn_new(ctxs[data[0] & 3]);
  if (!c) abort();
  size_t step = data[1] ? data[1] : size;
  data += 2, size -= 2;
  core_outq out;
  core_outq_init(&out, &blocks);
  int rc = 0;
  for (size_t off = 0; off < size && rc == 0;) {
    size_t k = size - off < step ? size - off : step;
    rc = tls_conn_recv(c, data + off, k, on_plain, NULL, &out);
    FUZZ_CHECK(rc == 0 || rc == TLS_CLOSED || rc < 0, "rc %d", rc);
    drain(&out);
    off += k;
  }
  /* Bytes after an error are refused, as io/ closes the connection. */
  if (rc < 0) FUZZ_CHECK(tls_conn_recv(c, data, size, on_plain, NULL, &out) < 0, "fed after error");
  drain(&out);
  if (!tls_conn_ready(c)) FUZZ_CHECK(plain_bytes == 0, "plaintext before the handshake");
  core_outq_dispose(&out);
  tls_conn_free(c);
  plain_bytes = 0;
  return 0;
}

/* The TLS layer sans-IO: a wolfSSL client in this process and a tls_conn exchange bytes
 * through memory; certificates are made once with the openssl command. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "core/outq.h"
#include "core/pool.h"
#include "tls/tls.h"

static char dir[64];
static char cert[128], key[128];

static void make_certs(void) {
  strcpy(dir, "/tmp/urpc-tls-unit-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(cert, sizeof(cert), "%s/c.pem", dir);
  snprintf(key, sizeof(key), "%s/k.pem", dir);
  char cmd[512];
  snprintf(cmd, sizeof(cmd),
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s "
           "-out %s -days 2 -subj /CN=localhost >/dev/null 2>&1",
           key, cert);
  cr_assert_eq(system(cmd), 0, "openssl could not make a certificate");
}

/* The client side: wolfSSL over two byte buffers. */
typedef struct pipe_buf {
  uint8_t data[1 << 16];
  size_t len, off;
} pipe_buf;

static pipe_buf to_server, to_client;

static int cli_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx) {
  (void)ssl, (void)ctx;
  size_t left = to_client.len - to_client.off;
  if (!left) return WOLFSSL_CBIO_ERR_WANT_READ;
  size_t n = left < (size_t)sz ? left : (size_t)sz;
  memcpy(buf, to_client.data + to_client.off, n);
  to_client.off += n;
  return (int)n;
}

static int cli_send(WOLFSSL *ssl, char *buf, int sz, void *ctx) {
  (void)ssl, (void)ctx;
  cr_assert_leq(to_server.len + (size_t)sz, sizeof(to_server.data));
  memcpy(to_server.data + to_server.len, buf, (size_t)sz);
  to_server.len += (size_t)sz;
  return sz;
}

static core_pool blocks;
static tls_ctx *ctx;
static char received[4096];
static size_t received_len;

static int on_plain(void *ud, const uint8_t *p, size_t n) {
  (void)ud;
  cr_assert_leq(received_len + n, sizeof(received));
  memcpy(received + received_len, p, n);
  received_len += n;
  return 0;
}

/* Server output → the client's input buffer. */
static void drain(core_outq *out) {
  struct iovec iov[64];
  int n = core_outq_iov(out, iov, 64);
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    cr_assert_leq(to_client.len + iov[i].iov_len, sizeof(to_client.data));
    memcpy(to_client.data + to_client.len, iov[i].iov_base, iov[i].iov_len);
    to_client.len += iov[i].iov_len;
    total += iov[i].iov_len;
  }
  core_outq_consume(out, total);
}

/* Client bytes → the server session, `step` bytes at a time. */
static int feed(tls_conn *s, core_outq *out, size_t step) {
  int rc = 0;
  while (to_server.off < to_server.len && rc == 0) {
    size_t n = to_server.len - to_server.off;
    if (n > step) n = step;
    rc = tls_conn_recv(s, to_server.data + to_server.off, n, on_plain, NULL, out);
    to_server.off += n;
  }
  drain(out);
  return rc;
}

static void setup(void) {
  memset(&to_server, 0, sizeof(to_server));
  memset(&to_client, 0, sizeof(to_client));
  received_len = 0;
  make_certs();
  core_pool_init(&blocks, core_outq_block_size(), 16);
  char why[256];
  tls_config cfg = {.cert_file = cert, .key_file = key};
  cr_assert_eq(tls_ctx_new(&cfg, &ctx, why, sizeof(why)), 0, "%s", why);
}

static void teardown(void) {
  tls_ctx_unref(ctx);
  core_pool_dispose(&blocks);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(tls, .init = setup, .fini = teardown);

static WOLFSSL_CTX *client_ctx(void) {
  WOLFSSL_CTX *c = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
  cr_assert_not_null(c);
  wolfSSL_CTX_set_verify(c, WOLFSSL_VERIFY_NONE, NULL);
  wolfSSL_CTX_SetIORecv(c, cli_recv);
  wolfSSL_CTX_SetIOSend(c, cli_send);
  return c;
}

/* Runs the handshake to its end; returns the server's last tls_conn_recv code. */
static int handshake(WOLFSSL *cli, tls_conn *srv, core_outq *out, size_t step) {
  int rc = 0;
  for (int round = 0; round < 20 && rc == 0; round++) {
    int r = wolfSSL_connect(cli);
    rc = feed(srv, out, step);
    if (r == WOLFSSL_SUCCESS && tls_conn_ready(srv)) break;
  }
  return rc;
}

static void roundtrip(size_t step) {
  WOLFSSL_CTX *cctx = client_ctx();
  WOLFSSL *cli = wolfSSL_new(cctx);
  char alpn[] = "h2";
  cr_assert_eq(wolfSSL_UseALPN(cli, alpn, 2, WOLFSSL_ALPN_FAILED_ON_MISMATCH), WOLFSSL_SUCCESS);
  tls_conn *srv = tls_conn_new(ctx);
  core_outq out;
  core_outq_init(&out, &blocks);
  cr_assert_eq(handshake(cli, srv, &out, step), 0);
  cr_assert(tls_conn_ready(srv), "handshake did not complete");
  char *proto;
  unsigned short plen;
  cr_assert_eq(wolfSSL_ALPN_GetProtocol(cli, &proto, &plen), WOLFSSL_SUCCESS);
  cr_assert(plen == 2 && !memcmp(proto, "h2", 2));
  /* client → server */
  const char msg[] = "PRI * HTTP/2.0 and then some";
  cr_assert_eq(wolfSSL_write(cli, msg, sizeof(msg)), (int)sizeof(msg));
  cr_assert_eq(feed(srv, &out, step), 0);
  cr_assert_eq(received_len, sizeof(msg));
  cr_assert_eq(memcmp(received, msg, sizeof(msg)), 0);
  /* server → client: two segments sealed */
  core_outq plain;
  core_outq_init(&plain, &blocks);
  cr_assert_eq(core_outq_copy(&plain, "hello ", 6), 0);
  cr_assert_eq(core_outq_copy(&plain, "world", 5), 0);
  cr_assert_eq(tls_conn_seal(srv, &plain, &out), 0);
  cr_assert_eq(plain.bytes, 0);
  drain(&out);
  char got[64] = {0};
  int n = 0, r;
  while ((r = wolfSSL_read(cli, got + n, (int)sizeof(got) - 1 - n)) > 0) n += r;
  cr_assert_str_eq(got, "hello world");
  core_outq_dispose(&plain);
  core_outq_dispose(&out);
  tls_conn_free(srv);
  wolfSSL_free(cli);
  wolfSSL_CTX_free(cctx);
}

/* Counts the TLS records in the bytes the client has not read yet. */
static int records_pending(void) {
  int records = 0;
  for (size_t off = to_client.off; off + 5 <= to_client.len; records++)
    off += 5 + ((size_t)to_client.data[off + 3] << 8 | to_client.data[off + 4]);
  return records;
}

static void no_release(void *arg) {
  (void)arg;
}

/* Frame headers copied, payloads by reference, as HTTP/2 output looks: 2 + 20,000 + 9 +
 * 30,000 + 5 = 50,016 bytes make 4 records (three of 16 KiB and the rest), not the 7 that
 * one write per segment gives. */
Test(tls, sealing_makes_as_few_records_as_possible) {
  WOLFSSL_CTX *cctx = client_ctx();
  WOLFSSL *cli = wolfSSL_new(cctx);
  char alpn[] = "h2";
  cr_assert_eq(wolfSSL_UseALPN(cli, alpn, 2, WOLFSSL_ALPN_FAILED_ON_MISMATCH), WOLFSSL_SUCCESS);
  tls_conn *srv = tls_conn_new(ctx);
  core_outq out, plain;
  core_outq_init(&out, &blocks);
  core_outq_init(&plain, &blocks);
  cr_assert_eq(handshake(cli, srv, &out, 1 << 20), 0);
  cr_assert(tls_conn_ready(srv));
  while (wolfSSL_read(cli, received, sizeof(received)) > 0) {
  } /* the tickets after the handshake */
  cr_assert_eq(records_pending(), 0);
  static uint8_t big1[20000], big2[30000];
  for (size_t i = 0; i < sizeof(big1); i++) big1[i] = (uint8_t)i;
  for (size_t i = 0; i < sizeof(big2); i++) big2[i] = (uint8_t)(i * 7);
  cr_assert_eq(core_outq_copy(&plain, "ab", 2), 0);
  cr_assert_eq(core_outq_ref(&plain, big1, sizeof(big1), no_release, NULL), 0);
  cr_assert_eq(core_outq_copy(&plain, "123456789", 9), 0);
  cr_assert_eq(core_outq_ref(&plain, big2, sizeof(big2), no_release, NULL), 0);
  cr_assert_eq(core_outq_copy(&plain, "tail!", 5), 0);
  cr_assert_eq(tls_conn_seal(srv, &plain, &out), 0);
  drain(&out);
  cr_assert_eq(records_pending(), 4, "%d records for 50,016 bytes", records_pending());
  static uint8_t got[60000];
  size_t n = 0;
  int r;
  while ((r = wolfSSL_read(cli, got + n, (int)(sizeof(got) - n))) > 0) n += (size_t)r;
  cr_assert_eq(n, 2 + sizeof(big1) + 9 + sizeof(big2) + 5);
  cr_assert_eq(memcmp(got, "ab", 2), 0);
  cr_assert_eq(memcmp(got + 2, big1, sizeof(big1)), 0);
  cr_assert_eq(memcmp(got + 2 + sizeof(big1), "123456789", 9), 0);
  cr_assert_eq(memcmp(got + 11 + sizeof(big1), big2, sizeof(big2)), 0);
  cr_assert_eq(memcmp(got + 11 + sizeof(big1) + sizeof(big2), "tail!", 5), 0);
  core_outq_dispose(&plain);
  core_outq_dispose(&out);
  tls_conn_free(srv);
  wolfSSL_free(cli);
  wolfSSL_CTX_free(cctx);
}

Test(tls, handshake_alpn_and_data_both_ways) {
  roundtrip(1 << 20);
}

Test(tls, handshake_fed_one_byte_at_a_time) {
  roundtrip(1);
}

/* A client offering `alpn` (NULL: no ALPN extension at all) must get exactly one plaintext
 * fatal no_application_protocol alert and nothing else from the server. */
static void refused_with_no_application_protocol(const char *alpn) {
  WOLFSSL_CTX *cctx = client_ctx();
  WOLFSSL *cli = wolfSSL_new(cctx);
  char list[16];
  if (alpn) {
    snprintf(list, sizeof(list), "%s", alpn);
    cr_assert_eq(
        wolfSSL_UseALPN(cli, list, (unsigned)strlen(list), WOLFSSL_ALPN_CONTINUE_ON_MISMATCH),
        WOLFSSL_SUCCESS);
  }
  tls_conn *srv = tls_conn_new(ctx);
  core_outq out;
  core_outq_init(&out, &blocks);
  int rc = handshake(cli, srv, &out, 1 << 20);
  cr_assert_lt(rc, 0, "the server must refuse");
  cr_assert_not(tls_conn_ready(srv));
  static const uint8_t alert[] = {21, 3, 3, 0, 2, 2, 120}; /* fatal no_application_protocol */
  cr_assert_eq(to_client.len, sizeof(alert), "server wrote %zu bytes, not one alert",
               to_client.len);
  cr_assert_eq(memcmp(to_client.data, alert, sizeof(alert)), 0);
  cr_assert_neq(wolfSSL_connect(cli), WOLFSSL_SUCCESS, "the alert ends the client's handshake");
  WOLFSSL_ALERT_HISTORY h;
  cr_assert_eq(wolfSSL_get_alert_history(cli, &h), WOLFSSL_SUCCESS);
  cr_assert_eq(h.last_rx.code, 120, "client saw alert %d", h.last_rx.code);
  core_outq_dispose(&out);
  tls_conn_free(srv);
  wolfSSL_free(cli);
  wolfSSL_CTX_free(cctx);
}

Test(tls, alpn_without_h2_gets_no_application_protocol) {
  refused_with_no_application_protocol("http/1.1");
}

Test(tls, no_alpn_gets_no_application_protocol) {
  refused_with_no_application_protocol(NULL);
}

Test(tls, garbage_is_refused) {
  tls_conn *srv = tls_conn_new(ctx);
  core_outq out;
  core_outq_init(&out, &blocks);
  uint8_t junk[512];
  for (size_t i = 0; i < sizeof(junk); i++) junk[i] = (uint8_t)(i * 31 + 7);
  cr_assert_lt(tls_conn_recv(srv, junk, sizeof(junk), on_plain, NULL, &out), 0);
  cr_assert_lt(tls_conn_recv(srv, junk, 1, on_plain, NULL, &out), 0, "stays failed");
  cr_assert_eq(received_len, 0);
  core_outq_dispose(&out);
  tls_conn_free(srv);
}

Test(tls, bad_files_name_the_problem) {
  char why[256];
  tls_ctx *t;
  tls_config none = {.cert_file = "/nonexistent.pem", .key_file = key};
  cr_assert_lt(tls_ctx_new(&none, &t, why, sizeof(why)), 0);
  cr_assert(strstr(why, "/nonexistent.pem"), "%s", why);
  tls_config nokey = {.cert_file = cert, .key_file = NULL};
  cr_assert_lt(tls_ctx_new(&nokey, &t, why, sizeof(why)), 0);
  cr_assert(strstr(why, "--tls-key"), "%s", why);
}

Test(tls, a_key_that_is_not_the_certificates_is_refused) {
  char other[300], cmd[400], why[256];
  snprintf(other, sizeof(other), "%s/other.pem", dir);
  snprintf(cmd, sizeof(cmd),
           "openssl ecparam -name prime256v1 -genkey -noout -out %s >/dev/null 2>&1", other);
  cr_assert_eq(system(cmd), 0, "openssl could not make a key");
  tls_ctx *t = NULL;
  tls_config wrong = {.cert_file = cert, .key_file = other};
  cr_assert_lt(tls_ctx_new(&wrong, &t, why, sizeof(why)), 0,
               "a P-256 key of another "
               "certificate was accepted");
  cr_assert(strstr(why, "does not match"), "%s", why);
}

/* The client side of tls/ against this project's own server side, both sans-IO: two tls_conn
 * pass their output to each other through memory. A throwaway PKI made once with the openssl
 * command (as tests/integration/pki.py makes it): a CA, an unrelated CA, a server certificate
 * for localhost and 127.0.0.1 that is also an X.509-SVID, and a client SVID. */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/outq.h"
#include "core/pool.h"
#include "tls/tls.h"
#include "../common/test_pki.h"

#define SERVER_ID "spiffe://example.org/collector"
#define CLIENT_ID "spiffe://example.org/ns/prod/sa/exporter"

/* Once, in the runner before the tests start: every test reads the same files. */
ReportHook(PRE_ALL)(struct criterion_test_set *set) {
  (void)set;
  test_pki_make("urpc-tls-client");
  if (test_pki_leaf("srv", "DNS:localhost,IP:127.0.0.1,URI:" SERVER_ID, "serverAuth") ||
      test_pki_leaf("cli", "URI:" CLIENT_ID, "clientAuth"))
    abort();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
  (void)stats;
  test_pki_remove();
}

/* ---- two ends in memory ---- */

typedef struct end {
  tls_conn *c;
  core_outq out;
  int rc; /* the last tls_conn_recv code; negative: failed */
  char got[4096];
  size_t got_len;
} end;

static core_pool blocks;

static int on_plain(void *ud, const uint8_t *p, size_t n) {
  end *e = ud;
  cr_assert_leq(e->got_len + n, sizeof(e->got));
  memcpy(e->got + e->got_len, p, n);
  e->got_len += n;
  return 0;
}

/* Moves what `from` wrote into `to`; true if there was anything. */
static bool pass(end *from, end *to) {
  bool any = false;
  struct iovec iov[64];
  while (from->out.bytes) {
    int n = core_outq_iov(&from->out, iov, 64);
    size_t taken = 0;
    for (int i = 0; i < n; i++) {
      if (to->rc >= 0)
        to->rc = tls_conn_recv(to->c, iov[i].iov_base, iov[i].iov_len, on_plain, to, &to->out);
      taken += iov[i].iov_len;
    }
    core_outq_consume(&from->out, taken);
    any = true;
  }
  return any;
}

static void pump(end *cli, end *srv) {
  for (int round = 0; round < 20; round++) {
    bool a = pass(cli, srv), b = pass(srv, cli);
    if (!a && !b) return;
  }
  cr_assert_fail("the two ends kept talking");
}

typedef struct pair {
  tls_ctx *sctx, *cctx;
  end cli, srv;
} pair;

static void setup(void) {
  cr_assert(test_pki_use(), "the PKI was not made");
  core_pool_init(&blocks, core_outq_block_size(), 16);
}

static void teardown(void) {
  core_pool_dispose(&blocks);
}

TestSuite(tls_client, .init = setup, .fini = teardown);

/* A server (mTLS against ca.pem when `mtls`) and a client to `name`, handshake pumped. */
static void connect_pair(pair *p, const tls_client_config *ccfg, const char *name, bool mtls) {
  memset(p, 0, sizeof(*p));
  char why[256];
  tls_config scfg = {.cert_file = test_pki_path("srv.pem"),
                     .key_file = test_pki_path("srv.key"),
                     .client_ca_file = mtls ? test_pki_path("ca.pem") : NULL,
                     .client_cert_required = mtls};
  cr_assert_eq(tls_ctx_new(&scfg, &p->sctx, why, sizeof(why)), 0, "%s", why);
  cr_assert_eq(tls_client_ctx_new(ccfg, &p->cctx, why, sizeof(why)), 0, "%s", why);
  p->srv.c = tls_conn_new(p->sctx);
  p->cli.c = tls_client_conn_new(p->cctx, name);
  cr_assert(p->srv.c && p->cli.c);
  core_outq_init(&p->srv.out, &blocks);
  core_outq_init(&p->cli.out, &blocks);
  p->cli.rc = tls_conn_start(p->cli.c, &p->cli.out);
  cr_assert_eq(p->cli.rc, 0);
  cr_assert_gt(p->cli.out.bytes, 0, "no ClientHello");
  pump(&p->cli, &p->srv);
}

static void free_pair(pair *p) {
  tls_conn_free(p->cli.c);
  tls_conn_free(p->srv.c);
  core_outq_dispose(&p->cli.out);
  core_outq_dispose(&p->srv.out);
  tls_ctx_unref(p->cctx);
  tls_ctx_unref(p->sctx);
}

static void seal(end *e, const char *text) {
  core_outq plain;
  core_outq_init(&plain, &blocks);
  cr_assert_eq(core_outq_copy(&plain, text, strlen(text)), 0);
  cr_assert_eq(tls_conn_seal(e->c, &plain, &e->out), 0);
  core_outq_dispose(&plain);
}

static void expect_connected(pair *p) {
  cr_assert_eq(p->cli.rc, 0, "%s", tls_conn_error(p->cli.c));
  cr_assert_geq(p->srv.rc, 0);
  cr_assert(tls_conn_ready(p->cli.c) && tls_conn_ready(p->srv.c));
  cr_assert_null(tls_conn_error(p->cli.c));
}

static void expect_refused(pair *p, const char *words) {
  cr_assert_lt(p->cli.rc, 0, "the client accepted the server");
  cr_assert_not(tls_conn_ready(p->srv.c), "the server finished a handshake the client refused");
  const char *err = tls_conn_error(p->cli.c);
  cr_assert_not_null(err);
  cr_assert_not_null(strstr(err, words), "error: %s", err);
  cr_log_info("refused: %s", err);
}

Test(tls_client, handshake_and_data_with_the_right_ca) {
  pair p;
  tls_client_config cfg = {.ca_file = test_pki_path("ca.pem"), .alpn = "h2"};
  connect_pair(&p, &cfg, "localhost", false);
  expect_connected(&p);
  const tls_peer *server = tls_conn_peer(p.cli.c);
  cr_assert(server->verified);
  cr_assert_str_eq(server->alpn, "h2");
  cr_assert_str_eq(server->spiffe_id, SERVER_ID);
  cr_assert_str_eq(tls_conn_peer(p.srv.c)->sni, "localhost");
  cr_assert_not(tls_conn_peer(p.srv.c)->verified, "no client certificate was sent");
  seal(&p.cli, "POST /v1/traces HTTP/1.1\r\n");
  pump(&p.cli, &p.srv);
  cr_assert_eq(p.srv.got_len, 26);
  cr_assert_eq(memcmp(p.srv.got, "POST /v1/traces HTTP/1.1\r\n", 26), 0);
  seal(&p.srv, "HTTP/1.1 200 OK\r\n");
  pump(&p.cli, &p.srv);
  cr_assert_eq(p.cli.rc, 0);
  cr_assert_eq(p.cli.got_len, 17);
  cr_assert_eq(memcmp(p.cli.got, "HTTP/1.1 200 OK\r\n", 17), 0);
  free_pair(&p);
}

Test(tls_client, an_ip_address_matches_its_ip_san) {
  pair p;
  tls_client_config cfg = {.ca_file = test_pki_path("ca.pem"), .alpn = "h2"};
  connect_pair(&p, &cfg, "127.0.0.1", false);
  expect_connected(&p);
  cr_assert_null(tls_conn_peer(p.srv.c)->sni, "an address literal went out as SNI");
  free_pair(&p);
}

Test(tls_client, a_wrong_ca_fails) {
  pair p;
  tls_client_config cfg = {.ca_file = test_pki_path("other.pem"), .alpn = "h2"};
  connect_pair(&p, &cfg, "localhost", false);
  expect_refused(&p, "unknown CA");
  cr_assert_eq(tls_conn_failure(p.cli.c), TLS_FAIL_PEER_CERT);
  cr_assert_not_null(strstr(tls_conn_error(p.cli.c), "other.pem"), "names the bundle");
  free_pair(&p);
}

Test(tls_client, the_system_bundle_does_not_trust_a_private_ca) {
  if (access("/etc/ssl/certs/ca-certificates.crt", R_OK)) cr_skip_test("no system CA bundle");
  pair p;
  tls_client_config cfg = {.alpn = "h2"};
  connect_pair(&p, &cfg, "localhost", false);
  expect_refused(&p, "unknown CA");
  free_pair(&p);
}

Test(tls_client, a_hostname_mismatch_fails) {
  static const char *const names[] = {"collector.example.com", "localhost.evil", "127.0.0.2",
                                      "::1"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    pair p;
    tls_client_config cfg = {.ca_file = test_pki_path("ca.pem"), .alpn = "h2"};
    connect_pair(&p, &cfg, names[i], false);
    expect_refused(&p, names[i]);
    cr_assert_eq(tls_conn_failure(p.cli.c), TLS_FAIL_PEER_CERT, "%s", names[i]);
    free_pair(&p);
  }
}

Test(tls_client, mtls_client_certificate_seen_by_the_server) {
  pair p;
  tls_client_config cfg = {.ca_file = test_pki_path("ca.pem"),
                           .alpn = "h2",
                           .cert_file = test_pki_path("cli.pem"),
                           .key_file = test_pki_path("cli.key")};
  connect_pair(&p, &cfg, "localhost", true);
  expect_connected(&p);
  const tls_peer *client = tls_conn_peer(p.srv.c);
  cr_assert(client->verified);
  cr_assert_str_eq(client->spiffe_id, CLIENT_ID);
  cr_assert_str_eq(client->subject, "/CN=cli");
  free_pair(&p);
}

Test(tls_client, mtls_without_a_client_certificate_fails) {
  pair p;
  tls_client_config cfg = {.ca_file = test_pki_path("ca.pem"), .alpn = "h2"};
  connect_pair(&p, &cfg, "localhost", true);
  cr_assert_lt(p.srv.rc, 0);
  cr_assert_not(tls_conn_ready(p.srv.c));
  cr_assert_eq(tls_conn_failure(p.srv.c), TLS_FAIL_PEER_CERT);
  /* TLS 1.3: the client has finished when the server's alert comes; it fails on it */
  cr_assert_lt(p.cli.rc, 0, "the client did not see the server's alert");
  const char *err = tls_conn_error(p.cli.c);
  cr_assert_not_null(err);
  cr_log_info("refused: %s", err);
  cr_assert_not_null(strstr(err, "the server sent "), "%s", err);
  free_pair(&p);
}

Test(tls_client, expected_spiffe_id) {
  pair p;
  tls_client_config cfg = {
      .ca_file = test_pki_path("ca.pem"), .alpn = "h2", .expected_spiffe_id = SERVER_ID};
  connect_pair(&p, &cfg, "localhost", false);
  expect_connected(&p);
  free_pair(&p);

  cfg.expected_spiffe_id = "spiffe://example.org/someone-else";
  connect_pair(&p, &cfg, "localhost", false);
  expect_refused(&p, "its SPIFFE ID is " SERVER_ID ", not spiffe://example.org/someone-else");
  cr_assert_eq(tls_conn_failure(p.cli.c), TLS_FAIL_PEER_CERT);
  free_pair(&p);
}

Test(tls_client, alpn_the_server_does_not_speak_fails) {
  pair p;
  tls_client_config cfg = {.ca_file = test_pki_path("ca.pem"), .alpn = "http/1.1"};
  connect_pair(&p, &cfg, "localhost", false);
  expect_refused(&p, "no_application_protocol");
  free_pair(&p);
}

Test(tls_client, bad_files_name_the_problem) {
  char why[256];
  tls_ctx *t;
  tls_client_config missing = {.ca_file = test_pki_path("nope.pem")};
  cr_assert_lt(tls_client_ctx_new(&missing, &t, why, sizeof(why)), 0);
  cr_assert_not_null(strstr(why, "cannot read the CA bundle"), "%s", why);
  cr_assert_not_null(strstr(why, "nope.pem"), "%s", why);
  tls_client_config not_pem = {.ca_file = test_pki_path("srv.ext")};
  cr_assert_lt(tls_client_ctx_new(&not_pem, &t, why, sizeof(why)), 0);
  cr_assert_not_null(strstr(why, "expected PEM certificates"), "%s", why);
  tls_client_config half = {.ca_file = test_pki_path("ca.pem"),
                            .cert_file = test_pki_path("cli.pem")};
  cr_assert_lt(tls_client_ctx_new(&half, &t, why, sizeof(why)), 0);
  cr_assert_not_null(strstr(why, "give both"), "%s", why);
  tls_client_config wrong_key = {.ca_file = test_pki_path("ca.pem"),
                                 .cert_file = test_pki_path("cli.pem"),
                                 .key_file = test_pki_path("srv.key")};
  cr_assert_lt(tls_client_ctx_new(&wrong_key, &t, why, sizeof(why)), 0);
  cr_assert_not_null(strstr(why, "does not match"), "%s", why);
  if (geteuid() != 0) { /* root reads anything */
    test_pki_sh("cp %s %s && chmod 000 %s", test_pki_path("cli.key"), test_pki_path("locked.key"),
                test_pki_path("locked.key"));
    tls_client_config locked = {.ca_file = test_pki_path("ca.pem"),
                                .cert_file = test_pki_path("cli.pem"),
                                .key_file = test_pki_path("locked.key")};
    cr_assert_lt(tls_client_ctx_new(&locked, &t, why, sizeof(why)), 0);
    cr_assert_not_null(strstr(why, "cannot read the private key"), "%s", why);
    cr_assert_not_null(strstr(why, "Permission denied"), "%s", why);
  }
  tls_client_config ok = {.ca_file = test_pki_path("ca.pem")};
  cr_assert_eq(tls_client_ctx_new(&ok, &t, why, sizeof(why)), 0, "%s", why);
  cr_assert_null(tls_client_conn_new(t, NULL));
  cr_assert_null(tls_client_conn_new(t, ""));
  tls_ctx_unref(t);
}

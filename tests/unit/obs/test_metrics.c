/* urpc_metrics end to end without a network: two shards of one server, each with a connection
 * driven sans-IO (HEADERS, DATA and RST_STREAM frames made here, HPACK by nghttp2's deflater,
 * the server's answers read back with its inflater), every call counted by the metrics
 * interceptor into its shard's table; urpc_metrics_write sums the shards. The counts asserted
 * are exactly the calls made: OK, NOT_FOUND from the handler, UNIMPLEMENTED for unknown paths
 * (grpc_method="unknown"), CANCELLED by a client reset, PERMISSION_DENIED by an interceptor
 * after the metrics one, and a server-streaming Health/Watch. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "grpc/health/v1/health.pb-c.h"
#include "helloworld.pb-c.h"
#include "obs/urpc_metrics.h"
#include "rpc/rpc_impl.h"

#define N_SHARDS 2
#define MAX_SIDS 64

/* ---- one shard with one client connection ---- */

typedef struct peer {
  rpc_shard sh;
  core_timer_wheel wheel;
  rpc_conn *conn;
  nghttp2_hd_deflater *deflater;
  nghttp2_hd_inflater *inflater;
  uint8_t pending[1 << 16]; /* server output not yet split into frames */
  size_t pending_len;
  int grpc_status[MAX_SIDS]; /* by stream id / 2; -1 until seen */
  bool reset[MAX_SIDS];
  int data_frames[MAX_SIDS];
} peer;

static struct {
  urpc_server *server;
  urpc_metrics *metrics;
  core_pool blocks;
  peer p[N_SHARDS];
} E;

static void say_hello(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  const Helloworld__HelloRequest *req = (const Helloworld__HelloRequest *)request;
  if (strcmp(req->name, "missing") == 0) {
    urpc_call_fail(call, URPC_STATUS_NOT_FOUND, "no such name");
    return;
  }
  Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
  reply.message = "hi";
  urpc_call_reply(call, &reply.base);
}

/* After the metrics interceptor: rejects calls that carry x-deny. */
static urpc_status_code deny_start(urpc_call *call, void *user, void **state, const char **msg) {
  (void)user, (void)state;
  size_t len;
  if (urpc_call_metadata(call, "x-deny", &len)) {
    *msg = "denied by the test";
    return URPC_STATUS_PERMISSION_DENIED;
  }
  return URPC_STATUS_OK;
}

static void make_server(const urpc_metrics_options *mo) {
  urpc_server_options o;
  urpc_server_options_init(&o);
  cr_assert_eq(urpc_server_new(&o, &E.server), 0);
  urpc_method m[] = {{.name = "SayHello", .handler = say_hello, .user = NULL}};
  cr_assert_eq(urpc_server_add_service(E.server, &helloworld__greeter__descriptor, m, 1), 0);
  cr_assert_eq(rpc_health_register(E.server), 0);
  cr_assert_eq(urpc_metrics_new(E.server, mo, &E.metrics), 0);
  urpc_interceptor deny = {.on_start = deny_start};
  cr_assert_eq(urpc_server_add_interceptor(E.server, &deny), 0);
}

static void setup(void) {
  memset(&E, 0, sizeof(E));
  core_pool_init(&E.blocks, core_outq_block_size(), 16);
}

static void open_peers(void) {
  for (int i = 0; i < N_SHARDS; i++) {
    peer *p = &E.p[i];
    cr_assert_eq(rpc_shard_init(&p->sh, E.server, i), 0);
    cr_assert_eq(rpc_health_copy_to_shard(E.server, &p->sh), 0);
    core_timer_wheel_init(&p->wheel, core_now_ms());
    p->sh.timers = &p->wheel;
    p->conn = rpc_conn_open(&p->sh, NULL);
    cr_assert_not_null(p->conn);
    cr_assert_eq(nghttp2_hd_deflate_new(&p->deflater, 4096), 0);
    cr_assert_eq(nghttp2_hd_inflate_new(&p->inflater), 0);
    for (int s = 0; s < MAX_SIDS; s++) p->grpc_status[s] = -1;
  }
}

static void teardown(void) {
  for (int i = 0; i < N_SHARDS; i++) {
    peer *p = &E.p[i];
    if (!p->deflater) continue;
    if (p->conn) rpc_conn_closed(p->conn);
    rpc_shard_dispose(&p->sh);
    nghttp2_hd_deflate_del(p->deflater);
    nghttp2_hd_inflate_del(p->inflater);
  }
  urpc_server_free(E.server);
  urpc_metrics_free(E.metrics); /* after the server, as urpc_metrics.h asks */
  core_pool_dispose(&E.blocks);
}

TestSuite(metrics, .init = setup, .fini = teardown);

/* ---- frames ---- */

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void decode_status(peer *p, int32_t sid, const uint8_t *in, size_t n) {
  for (;;) {
    nghttp2_nv nv;
    int flags;
    ssize_t used = nghttp2_hd_inflate_hd2(p->inflater, &nv, &flags, in, n, 1);
    cr_assert_geq(used, 0, "bad HPACK from the server");
    in += used;
    n -= (size_t)used;
    if ((flags & NGHTTP2_HD_INFLATE_EMIT) && nv.namelen == 11 &&
        !memcmp(nv.name, "grpc-status", 11)) {
      char v[16];
      snprintf(v, sizeof(v), "%.*s", (int)nv.valuelen, nv.value);
      p->grpc_status[sid / 2] = atoi(v);
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(p->inflater);
      return;
    }
    if (n == 0 && !(flags & NGHTTP2_HD_INFLATE_EMIT)) return;
  }
}

static void scan_frames(peer *p) {
  size_t off = 0;
  while (p->pending_len - off >= 9) {
    const uint8_t *h = p->pending + off;
    size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
    if (p->pending_len - off < 9 + len) break;
    int32_t sid = (int32_t)(be32(h + 5) & 0x7fffffff);
    cr_assert_lt(sid / 2, MAX_SIDS);
    if (h[3] == NGHTTP2_HEADERS) decode_status(p, sid, h + 9, len);
    if (h[3] == NGHTTP2_DATA && len) p->data_frames[sid / 2]++;
    if (h[3] == NGHTTP2_RST_STREAM) p->reset[sid / 2] = true;
    off += 9 + len;
  }
  memmove(p->pending, p->pending + off, p->pending_len - off);
  p->pending_len -= off;
}

/* Runs handlers and collects the server's output until it has nothing more to say. */
static void pump(peer *p) {
  for (int round = 0; round < 50; round++) {
    rpc_shard_after_batch(&p->sh);
    core_outq out;
    core_outq_init(&out, &E.blocks);
    cr_assert_geq(rpc_conn_produce(p->conn, &out), 0);
    size_t got = out.bytes;
    struct iovec iov[64];
    int n = core_outq_iov(&out, iov, 64);
    for (int i = 0; i < n; i++) {
      cr_assert_leq(p->pending_len + iov[i].iov_len, sizeof(p->pending));
      memcpy(p->pending + p->pending_len, iov[i].iov_base, iov[i].iov_len);
      p->pending_len += iov[i].iov_len;
    }
    core_outq_consume(&out, got);
    core_outq_dispose(&out);
    scan_frames(p);
    if (!got) return;
  }
  cr_assert_fail("server kept producing output");
}

static void feed(peer *p, const void *data, size_t n) {
  cr_assert_eq(rpc_conn_recv(p->conn, data, n), 0);
  pump(p);
}

static size_t frame(uint8_t *out, uint8_t type, uint8_t flags, int32_t sid, const void *payload,
                    size_t len) {
  out[0] = (uint8_t)(len >> 16);
  out[1] = (uint8_t)(len >> 8);
  out[2] = (uint8_t)len;
  out[3] = type;
  out[4] = flags;
  out[5] = (uint8_t)(sid >> 24);
  out[6] = (uint8_t)(sid >> 16);
  out[7] = (uint8_t)(sid >> 8);
  out[8] = (uint8_t)sid;
  if (len) memcpy(out + 9, payload, len);
  return 9 + len;
}

static void preface(peer *p) {
  static const char magic[] = NGHTTP2_CLIENT_MAGIC;
  uint8_t buf[64];
  memcpy(buf, magic, NGHTTP2_CLIENT_MAGIC_LEN);
  size_t n = NGHTTP2_CLIENT_MAGIC_LEN +
             frame(buf + NGHTTP2_CLIENT_MAGIC_LEN, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
  feed(p, buf, n);
}

#define NVS(n, v)                                                                                  \
  { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

static void grpc_headers(peer *p, int32_t sid, const char *path, bool deny, uint8_t flags) {
  nghttp2_nv nv[] = {NVS(":method", "POST"),
                     NVS(":scheme", "http"),
                     NVS(":path", path),
                     NVS(":authority", "test"),
                     NVS("content-type", "application/grpc"),
                     NVS("te", "trailers"),
                     NVS("x-deny", "1")};
  uint8_t block[4096], buf[4200];
  ssize_t len = nghttp2_hd_deflate_hd(p->deflater, block, sizeof(block), nv, deny ? 7 : 6);
  cr_assert_gt(len, 0);
  feed(p, buf,
       frame(buf, NGHTTP2_HEADERS, flags | NGHTTP2_FLAG_END_HEADERS, sid, block, (size_t)len));
}

static void send_message(peer *p, int32_t sid, const ProtobufCMessage *m, bool end) {
  uint8_t msg[512], buf[600];
  size_t n = protobuf_c_message_pack(m, msg + 5);
  rpc_frame_prefix(msg, false, (uint32_t)n);
  feed(p, buf, frame(buf, NGHTTP2_DATA, end ? NGHTTP2_FLAG_END_STREAM : 0, sid, msg, n + 5));
}

static void hello(peer *p, int32_t sid, const char *name) {
  grpc_headers(p, sid, "/helloworld.Greeter/SayHello", false, 0);
  Helloworld__HelloRequest req = HELLOWORLD__HELLO_REQUEST__INIT;
  req.name = (char *)name;
  send_message(p, sid, &req.base, true);
}

static void health(peer *p, int32_t sid, const char *method, const char *service) {
  char path[64];
  snprintf(path, sizeof(path), "/grpc.health.v1.Health/%s", method);
  grpc_headers(p, sid, path, false, 0);
  Grpc__Health__V1__HealthCheckRequest hr = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  hr.service = (char *)service;
  send_message(p, sid, &hr.base, true);
}

static void rst(peer *p, int32_t sid) {
  static const uint8_t cancel[4] = {0, 0, 0, NGHTTP2_CANCEL};
  uint8_t buf[16];
  feed(p, buf, frame(buf, NGHTTP2_RST_STREAM, 0, sid, cancel, 4));
}

static void assert_status(peer *p, int32_t sid, int want) {
  cr_assert_eq(p->grpc_status[sid / 2], want, "shard %d stream %d: grpc-status %d, want %d",
               p->sh.index, sid, p->grpc_status[sid / 2], want);
}

/* ---- the scrape ---- */

static char *scrape(bool openmetrics) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  cr_assert_not_null(f);
  cr_assert_eq(urpc_metrics_write(E.metrics, f, openmetrics), 0);
  cr_assert_eq(fclose(f), 0);
  return text;
}

/* The value of the one sample whose name and labels are exactly `series`; -1 if absent. */
static double sample(const char *text, const char *series) {
  size_t n = strlen(series);
  double v = -1;
  int found = 0;
  for (const char *l = text; *l;) {
    const char *nl = strchr(l, '\n');
    cr_assert_not_null(nl);
    if ((size_t)(nl - l) > n && !strncmp(l, series, n) && l[n] == ' ') {
      char *end;
      v = strtod(l + n + 1, &end);
      cr_assert_eq(end, nl, "bad value in %.*s", (int)(nl - l), l);
      found++;
    }
    l = nl + 1;
  }
  cr_assert_leq(found, 1, "%s appears %d times", series, found);
  return v;
}

#define GREETER "grpc_type=\"unary\",grpc_service=\"helloworld.Greeter\",grpc_method=\"SayHello\""
#define UNKNOWN "grpc_type=\"unary\",grpc_service=\"unknown\",grpc_method=\"unknown\""
#define CHECK   "grpc_type=\"unary\",grpc_service=\"grpc.health.v1.Health\",grpc_method=\"Check\""
#define WATCH                                                                                      \
  "grpc_type=\"server_stream\",grpc_service=\"grpc.health.v1.Health\",grpc_method=\"Watch\""

static void assert_sample(const char *text, const char *series, double want) {
  double got = sample(text, series);
  cr_assert_eq(got, want, "%s = %g, want %g", series, got, want);
}

static void assert_handled(const char *text, const char *labels, const char *code, double want) {
  char series[512];
  snprintf(series, sizeof(series), "grpc_server_handled_total{%s,grpc_code=\"%s\"}", labels, code);
  assert_sample(text, series, want);
}

static void assert_counter(const char *text, const char *family, const char *labels, double want) {
  char series[512];
  snprintf(series, sizeof(series), "%s{%s}", family, labels);
  assert_sample(text, series, want);
}

/* _count, the +Inf bucket and the sum of the handled codes agree; buckets never decrease. */
static void assert_histogram(const char *text, const char *labels, double count,
                             const char *const *les, size_t n_les) {
  char series[512];
  snprintf(series, sizeof(series), "grpc_server_handling_seconds_count{%s}", labels);
  assert_sample(text, series, count);
  double prev = 0;
  for (size_t i = 0; i < n_les; i++) {
    snprintf(series, sizeof(series), "grpc_server_handling_seconds_bucket{%s,le=\"%s\"}", labels,
             les[i]);
    double b = sample(text, series);
    cr_assert_geq(b, prev, "%s = %g after %g: not cumulative", series, b, prev);
    prev = b;
  }
  snprintf(series, sizeof(series), "grpc_server_handling_seconds_bucket{%s,le=\"+Inf\"}", labels);
  assert_sample(text, series, count);
  snprintf(series, sizeof(series), "grpc_server_handling_seconds_sum{%s}", labels);
  double sum = sample(text, series);
  cr_assert(count == 0 ? sum == 0 : sum > 0, "%s = %g for %g calls", series, sum, count);
}

/* ---- tests ---- */

Test(metrics, every_kind_of_call_counted_once_and_summed_over_shards) {
  make_server(NULL);
  open_peers();
  peer *a = &E.p[0], *b = &E.p[1];
  preface(a);
  preface(b);
  /* OK: 3 on shard 0, 2 on shard 1. */
  hello(a, 1, "x");
  hello(a, 3, "y");
  hello(a, 5, "z");
  hello(b, 1, "x");
  hello(b, 3, "y");
  for (int32_t s = 1; s <= 5; s += 2) assert_status(a, s, URPC_STATUS_OK);
  assert_status(b, 1, URPC_STATUS_OK);
  assert_status(b, 3, URPC_STATUS_OK);
  /* NOT_FOUND from the handler, one per shard; and from Health/Check of an unknown service. */
  hello(a, 7, "missing");
  hello(b, 5, "missing");
  health(b, 7, "Check", "no.such.Service");
  assert_status(a, 7, URPC_STATUS_NOT_FOUND);
  assert_status(b, 5, URPC_STATUS_NOT_FOUND);
  assert_status(b, 7, URPC_STATUS_NOT_FOUND);
  /* UNIMPLEMENTED: unknown method and unknown service, both under grpc_method="unknown". */
  grpc_headers(a, 9, "/helloworld.Greeter/Nope", false, NGHTTP2_FLAG_END_STREAM);
  grpc_headers(b, 9, "/nope.Nope/SayHello", false, NGHTTP2_FLAG_END_STREAM);
  assert_status(a, 9, URPC_STATUS_UNIMPLEMENTED);
  assert_status(b, 9, URPC_STATUS_UNIMPLEMENTED);
  /* CANCELLED: headers in (so started), then the client resets before its message. */
  grpc_headers(a, 11, "/helloworld.Greeter/SayHello", false, 0);
  rst(a, 11);
  /* PERMISSION_DENIED by the interceptor after the metrics one: counted, handler never ran. */
  grpc_headers(b, 11, "/helloworld.Greeter/SayHello", true, 0);
  assert_status(b, 11, URPC_STATUS_PERMISSION_DENIED);
  /* A Watch: one status sent, still open when scraped; reset later. */
  health(a, 13, "Watch", "");
  cr_assert_eq(a->data_frames[13 / 2], 1, "Watch sent its first status");

  char *t = scrape(false);
  /* started counts every call that reached the interceptor, the open Watch included. */
  assert_counter(t, "grpc_server_started_total", GREETER, 5 + 2 + 1 + 1);
  assert_counter(t, "grpc_server_started_total", UNKNOWN, 2);
  assert_counter(t, "grpc_server_started_total", CHECK, 1);
  assert_counter(t, "grpc_server_started_total", WATCH, 1);
  assert_handled(t, GREETER, "OK", 5);
  assert_handled(t, GREETER, "NotFound", 2);
  assert_handled(t, GREETER, "Canceled", 1);
  assert_handled(t, GREETER, "PermissionDenied", 1);
  assert_handled(t, GREETER, "Unknown", 0);
  assert_handled(t, UNKNOWN, "Unimplemented", 2);
  assert_handled(t, CHECK, "NotFound", 1);
  assert_handled(t, WATCH, "OK", 0);
  assert_handled(t, WATCH, "Canceled", 0);
  /* Messages: each OK and NOT_FOUND SayHello got its request; only the OK ones answered. */
  assert_counter(t, "grpc_server_msg_received_total", GREETER, 7);
  assert_counter(t, "grpc_server_msg_sent_total", GREETER, 5);
  assert_counter(t, "grpc_server_msg_received_total", CHECK, 1);
  assert_counter(t, "grpc_server_msg_sent_total", CHECK, 0);
  static const char *const les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                    "0.5",   "1",    "2.5",   "5",    "10"};
  assert_histogram(t, GREETER, 9, les, 11);
  assert_histogram(t, UNKNOWN, 2, les, 11);
  assert_histogram(t, CHECK, 1, les, 11);
  assert_histogram(t, WATCH, 0, les, 11);
  free(t);

  /* The Watch ends by the client's reset: counted as Canceled, with its one message out. */
  rst(a, 13);
  t = scrape(false);
  assert_handled(t, WATCH, "Canceled", 1);
  assert_counter(t, "grpc_server_msg_received_total", WATCH, 1);
  assert_counter(t, "grpc_server_msg_sent_total", WATCH, 1);
  assert_histogram(t, WATCH, 1, les, 11);
  free(t);

  for (int i = 0; i < N_SHARDS; i++) {
    rpc_conn_closed(E.p[i].conn);
    E.p[i].conn = NULL;
    cr_assert_eq(E.p[i].sh.call_pool.live, 0, "shard %d: calls leaked", i);
  }
}

Test(metrics, openmetrics_scrape_names_counter_families_without_total_and_ends_with_eof) {
  make_server(NULL);
  open_peers();
  preface(&E.p[0]);
  hello(&E.p[0], 1, "x");
  assert_status(&E.p[0], 1, URPC_STATUS_OK);
  char *t = scrape(true);
  cr_assert_not_null(strstr(t, "# TYPE grpc_server_handled counter\n"));
  cr_assert_null(strstr(t, "# TYPE grpc_server_handled_total"));
  cr_assert_not_null(strstr(t, "# TYPE grpc_server_handling_seconds histogram\n"));
  assert_handled(t, GREETER, "OK", 1);
  size_t len = strlen(t);
  cr_assert(len > 6 && !strcmp(t + len - 6, "# EOF\n"), "ends with %s", t + len - 20);
  cr_assert_eq(strstr(t, "# EOF"), t + len - 6, "# EOF before the end");
  free(t);
  t = scrape(false);
  cr_assert_null(strstr(t, "# EOF"));
  cr_assert_not_null(strstr(t, "# TYPE grpc_server_handled_total counter\n"));
  cr_assert_not_null(strstr(t, "# TYPE process_open_fds gauge\n"));
  cr_assert_not_null(strstr(t, "\nuringrpc_build_info{version=\""));
  free(t);
}

Test(metrics, configured_buckets) {
  static const double bounds[] = {0.25, 3600};
  urpc_metrics_options mo = {bounds, 2};
  make_server(&mo);
  open_peers();
  preface(&E.p[1]);
  hello(&E.p[1], 1, "x");
  hello(&E.p[1], 3, "missing");
  char *t = scrape(false);
  static const char *const les[] = {"0.25", "3600"};
  assert_histogram(t, GREETER, 2, les, 2);
  /* Nothing here takes an hour: every call is in the 3600 s bucket. */
  assert_sample(t, "grpc_server_handling_seconds_bucket{" GREETER ",le=\"3600\"}", 2);
  cr_assert_null(strstr(t, "le=\"0.005\""), "default buckets written too");
  free(t);
}

Test(metrics, options_are_checked) {
  urpc_server_options o;
  urpc_server_options_init(&o);
  cr_assert_eq(urpc_server_new(&o, &E.server), 0);
  urpc_metrics *m = NULL;
  static const double descending[] = {1, 0.5}, equal[] = {1, 1}, zero[] = {0, 1};
  double nan_bound[] = {NAN};
  double many[33];
  for (int i = 0; i < 33; i++) many[i] = i + 1;
  urpc_metrics_options bad[] = {{descending, 2}, {equal, 2}, {zero, 2}, {nan_bound, 1}, {many, 33}};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_assert_eq(urpc_metrics_new(E.server, &bad[i], &m), -EINVAL, "options %zu accepted", i);
  urpc_metrics_options most = {many, 32};
  cr_assert_eq(urpc_metrics_new(E.server, &most, &E.metrics), 0);
}

/* The tracing interceptor sans-IO: one shard with one client connection driven by frames made
 * here (as test_metrics.c does); spans reach the test through on_span on the exporter thread.
 * Checks the W3C propagation (continue a valid parent, a new root for bad or duplicated
 * traceparents, tracestate passed on), the samplers, the span's name, status and ERROR rule,
 * urpc_call_trace in the handler, dropping (counted) when the exporter is stuck, and the
 * message events (off by default; bounded per span). */
#include <criterion/criterion.h>
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "example.pb-c.h"
#include "helloworld.pb-c.h"
#include "obs/urpc_metrics.h"
#include "obs/urpc_trace.h"
#include "rpc/rpc_impl.h"

#define MAX_SIDS  256
#define MAX_SPANS 64

typedef struct peer {
  rpc_shard sh;
  core_timer_wheel wheel;
  rpc_conn *conn;
  nghttp2_hd_deflater *deflater;
  nghttp2_hd_inflater *inflater;
  uint8_t pending[1 << 16];
  size_t pending_len;
  int grpc_status[MAX_SIDS];
  bool reset[MAX_SIDS];
  int data_frames[MAX_SIDS];
} peer;

static struct {
  urpc_server *server;
  urpc_metrics *metrics;
  urpc_tracer *tracer;
  core_pool blocks;
  peer p[1];
  /* what the handler saw of its last call */
  bool had_trace;
  urpc_trace_info seen;
  char seen_traceparent[64], seen_tracestate[600];
  /* spans, from the exporter thread */
  pthread_mutex_t mu;
  urpc_span spans[MAX_SPANS];
  size_t n_spans;
  _Atomic bool block_exporter, exporter_blocked;
} E;

static void on_span(const urpc_span *s, void *arg) {
  (void)arg;
  atomic_store(&E.exporter_blocked, true);
  while (atomic_load(&E.block_exporter)) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  pthread_mutex_lock(&E.mu);
  if (E.n_spans < MAX_SPANS) E.spans[E.n_spans++] = *s;
  pthread_mutex_unlock(&E.mu);
}

static void say_hello(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  const urpc_trace_info *ti = urpc_call_trace(call);
  E.had_trace = ti != NULL;
  if (ti) {
    E.seen = *ti;
    snprintf(E.seen_traceparent, sizeof(E.seen_traceparent), "%s", ti->traceparent);
    snprintf(E.seen_tracestate, sizeof(E.seen_tracestate), "%s",
             ti->tracestate ? ti->tracestate : "(null)");
  }
  const Helloworld__HelloRequest *req = (const Helloworld__HelloRequest *)request;
  if (strcmp(req->name, "attrs") == 0) {
    cr_assert_eq(urpc_call_trace_set_string(call, "app.user", "alice"), 0);
    cr_assert_eq(urpc_call_trace_set_int(call, "app.items", 3), 0);
    cr_assert_eq(urpc_call_trace_set_int(call, "app.items", 4), 0, "set again: replaced");
    cr_assert_eq(urpc_call_trace_set_string(
                     call, "app.long",
                     "0123456789012345678901234567890123456789012345678901234567890123456789"),
                 0);
    /* unsampled: nothing is kept and every call says 0 */
    bool on = urpc_call_trace(call)->sampled;
    int bad = urpc_call_trace_set_string(call, "a-key-that-is-much-too-long-for-a-span-attr", "x");
    cr_assert_eq(bad, on ? -EINVAL : 0, "got %d", bad);
    for (int i = 0; i < 6; i++) {
      char k[16];
      snprintf(k, sizeof(k), "app.k%d", i);
      cr_assert_eq(urpc_call_trace_set_int(call, k, i), i < 5 || !on ? 0 : -ENOSPC);
    }
    for (int i = 0; i < 9; i++)
      cr_assert_eq(urpc_call_trace_add_event(call, "cache.miss"), i < 8 || !on ? 0 : -ENOSPC);
  }
  if (strcmp(req->name, "missing") == 0) {
    urpc_call_fail(call, URPC_STATUS_NOT_FOUND, "no such name");
    return;
  }
  if (strcmp(req->name, "broken") == 0) {
    urpc_call_fail(call, URPC_STATUS_INTERNAL, "broken");
    return;
  }
  Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
  reply.message = "hi";
  urpc_call_reply(call, &reply.base);
}

/* Demo/StreamFromWorker here: int(name) replies from the shard thread, then OK. */
static void stream_replies(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  int n = atoi(((const Helloworld__HelloRequest *)request)->name);
  Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
  reply.message = "part";
  for (int i = 0; i < n; i++) cr_assert_eq(urpc_call_send(call, &reply.base), 0);
  urpc_call_finish(call, URPC_STATUS_OK, NULL);
}

static void preface(peer *p);

static void start(urpc_trace_options *to) {
  memset(&E, 0, sizeof(E));
  pthread_mutex_init(&E.mu, NULL);
  core_pool_init(&E.blocks, core_outq_block_size(), 16);
  urpc_server_options o;
  urpc_server_options_init(&o);
  cr_assert_eq(urpc_server_new(&o, &E.server), 0);
  urpc_method m[] = {{.name = "SayHello", .handler = say_hello, .user = NULL}};
  cr_assert_eq(urpc_server_add_service(E.server, &helloworld__greeter__descriptor, m, 1), 0);
  urpc_method d[] = {{.name = "StreamFromWorker",
                      .handler = stream_replies,
                      .flags = URPC_METHOD_SERVER_STREAMING}};
  cr_assert_eq(urpc_server_add_service(E.server, &urpc__example__demo__descriptor, d, 1), 0);
  cr_assert_eq(urpc_metrics_new(E.server, NULL, &E.metrics), 0);
  to->on_span = on_span;
  cr_assert_eq(urpc_tracer_new(E.server, to, E.metrics, &E.tracer), 0);
  peer *p = &E.p[0];
  cr_assert_eq(rpc_shard_init(&p->sh, E.server, 0), 0);
  core_timer_wheel_init(&p->wheel, core_now_ms());
  p->sh.timers = &p->wheel;
  p->conn = rpc_conn_open(&p->sh, NULL);
  cr_assert_not_null(p->conn);
  cr_assert_eq(nghttp2_hd_deflate_new(&p->deflater, 4096), 0);
  cr_assert_eq(nghttp2_hd_inflate_new(&p->inflater), 0);
  for (int s = 0; s < MAX_SIDS; s++) p->grpc_status[s] = -1;
  preface(p);
}

static void setup_default(void) {
  urpc_trace_options to;
  urpc_trace_options_init(&to);
  start(&to);
}

static void teardown(void) {
  atomic_store(&E.block_exporter, false);
  peer *p = &E.p[0];
  if (p->conn) rpc_conn_closed(p->conn);
  rpc_shard_dispose(&p->sh);
  nghttp2_hd_deflate_del(p->deflater);
  nghttp2_hd_inflate_del(p->inflater);
  urpc_server_free(E.server);
  urpc_tracer_free(E.tracer);
  urpc_metrics_free(E.metrics);
  core_pool_dispose(&E.blocks);
}

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

static void grpc_headers(peer *p, int32_t sid, const char *path, const nghttp2_nv *extra,
                         size_t n_extra) {
  nghttp2_nv nv[16] = {NVS(":method", "POST"),
                       NVS(":scheme", "http"),
                       NVS(":path", path),
                       NVS(":authority", "test"),
                       NVS("content-type", "application/grpc"),
                       NVS("te", "trailers")};
  cr_assert_leq(n_extra, 10);
  if (n_extra) memcpy(nv + 6, extra, n_extra * sizeof(*extra));
  uint8_t block[4096], buf[4200];
  ssize_t len = nghttp2_hd_deflate_hd(p->deflater, block, sizeof(block), nv, 6 + n_extra);
  cr_assert_gt(len, 0);
  feed(p, buf, frame(buf, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, sid, block, (size_t)len));
}

static void send_message(peer *p, int32_t sid, const ProtobufCMessage *m, bool end) {
  uint8_t msg[512], buf[600];
  size_t n = protobuf_c_message_pack(m, msg + 5);
  rpc_frame_prefix(msg, false, (uint32_t)n);
  feed(p, buf, frame(buf, NGHTTP2_DATA, end ? NGHTTP2_FLAG_END_STREAM : 0, sid, msg, n + 5));
}

static int32_t next_sid = 1;

static void call_with(const char *path, const char *name, const nghttp2_nv *extra, size_t n_extra) {
  peer *p = &E.p[0];
  int32_t sid = next_sid;
  next_sid += 2;
  cr_assert_lt(sid / 2, MAX_SIDS);
  grpc_headers(p, sid, path, extra, n_extra);
  Helloworld__HelloRequest req = HELLOWORLD__HELLO_REQUEST__INIT;
  req.name = (char *)name;
  send_message(p, sid, &req.base, true);
}

static void hello(const char *name, const nghttp2_nv *extra, size_t n_extra) {
  call_with("/helloworld.Greeter/SayHello", name, extra, n_extra);
}

static size_t flushed_spans(void) {
  cr_assert_eq(urpc_tracer_flush(E.tracer, 5000), 0);
  pthread_mutex_lock(&E.mu);
  size_t n = E.n_spans;
  pthread_mutex_unlock(&E.mu);
  return n;
}

static void hex(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

#define TID       "0af7651916cd43dd8448eb211c80319c"
#define PID       "b7ad6b7169203331"
#define TP(flags) "00-" TID "-" PID "-" flags

TestSuite(trace, .init = setup_default, .fini = teardown);

Test(trace, continues_a_valid_parent) {
  next_sid = 1;
  nghttp2_nv h[] = {NVS("traceparent", TP("01")), NVS("tracestate", "congo=t61rcWkgMzE"),
                    NVS("tracestate", "rojo=00f067aa0ba902b7")};
  hello("world", h, 3);
  cr_assert(E.had_trace);
  cr_assert(E.seen.sampled);
  char tid[33], sid[17];
  hex(E.seen.trace_id, 16, tid);
  hex(E.seen.span_id, 8, sid);
  cr_assert_str_eq(tid, TID);
  cr_assert_str_neq(sid, PID);
  char want[64];
  snprintf(want, sizeof(want), "00-%s-%s-01", TID, sid);
  cr_assert_str_eq(E.seen_traceparent, want);
  cr_assert_str_eq(E.seen_tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  cr_assert_eq(flushed_spans(), 1);
  urpc_span *s = &E.spans[0];
  char got[33];
  hex(s->trace_id, 16, got);
  cr_assert_str_eq(got, TID);
  hex(s->parent_span_id, 8, got);
  cr_assert_str_eq(got, PID);
  hex(s->span_id, 8, got);
  cr_assert_str_eq(got, sid);
  cr_assert(s->has_parent);
  cr_assert_str_eq(s->name, "helloworld.Greeter/SayHello");
  cr_assert_eq(s->service_len, strlen("helloworld.Greeter"));
  cr_assert_eq(s->status, URPC_STATUS_OK);
  cr_assert(!s->error);
  cr_assert_str_eq(s->tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  cr_assert_geq(s->end_unix_ns, s->start_unix_ns);
  cr_assert_gt(s->start_unix_ns, 1600000000ull * 1000000000ull);
  cr_assert_eq(s->msgs_in, 1);
  cr_assert_eq(s->msgs_out, 1);
}

Test(trace, bad_or_duplicate_traceparent_starts_a_new_root) {
  next_sid = 1;
  static const char *const bad[] = {
      "ff-" TID "-" PID "-01",
      "00-" TID "-" PID "-01-",
      "00-0AF7651916CD43DD8448EB211C80319C-" PID "-01",
      "00-00000000000000000000000000000000-" PID "-01",
      "00-" TID "-0000000000000000-01",
      "00-" TID "-" PID "-0g",
      "00-" TID "-" PID,
      "",
      "garbage",
  };
  size_t n = sizeof(bad) / sizeof(bad[0]);
  for (size_t i = 0; i < n; i++) {
    nghttp2_nv h[] = {NVS("traceparent", bad[i]), NVS("tracestate", "a=1")};
    hello("world", h, 2);
    cr_assert(E.had_trace);
    cr_assert(E.seen.sampled, "root, parentbased_always_on");
    char tid[33];
    hex(E.seen.trace_id, 16, tid);
    cr_assert_str_neq(tid, TID, "%s", bad[i]);
    cr_assert_str_eq(E.seen_tracestate, "(null)", "tracestate dropped without a parent");
  }
  nghttp2_nv dup[] = {NVS("traceparent", TP("01")), NVS("traceparent", TP("01"))};
  hello("world", dup, 2);
  char tid[33];
  hex(E.seen.trace_id, 16, tid);
  cr_assert_str_neq(tid, TID);
  hello("world", NULL, 0);
  cr_assert_eq(flushed_spans(), n + 2);
  for (size_t i = 0; i < n + 2; i++) {
    cr_assert(!E.spans[i].has_parent);
    for (size_t j = 0; j < i; j++) cr_assert(memcmp(E.spans[i].trace_id, E.spans[j].trace_id, 16));
  }
}

Test(trace, unsampled_parent_is_followed) {
  next_sid = 1;
  nghttp2_nv h[] = {NVS("traceparent", TP("00"))};
  hello("world", h, 1);
  cr_assert(E.had_trace);
  cr_assert(!E.seen.sampled);
  cr_assert_eq(strcmp(E.seen_traceparent + 53, "00"), 0, "%s", E.seen_traceparent);
  cr_assert_eq(flushed_spans(), 0);
}

Test(trace, status_and_error) {
  next_sid = 1;
  hello("missing", NULL, 0);
  hello("broken", NULL, 0);
  peer *p = &E.p[0];
  grpc_headers(p, next_sid, "/helloworld.Greeter/Nope", NULL, 0);
  Helloworld__HelloRequest req = HELLOWORLD__HELLO_REQUEST__INIT;
  req.name = "x";
  send_message(p, next_sid, &req.base, true);
  next_sid += 2;
  /* a call the client resets before sending its message */
  grpc_headers(p, next_sid, "/helloworld.Greeter/SayHello", NULL, 0);
  static const uint8_t cancel[4] = {0, 0, 0, NGHTTP2_CANCEL};
  uint8_t buf[16];
  feed(p, buf, frame(buf, NGHTTP2_RST_STREAM, 0, next_sid, cancel, 4));
  next_sid += 2;
  cr_assert_eq(flushed_spans(), 4);
  cr_assert_eq(E.spans[0].status, URPC_STATUS_NOT_FOUND);
  cr_assert(!E.spans[0].error, "NOT_FOUND is no server error");
  cr_assert_eq(E.spans[1].status, URPC_STATUS_INTERNAL);
  cr_assert(E.spans[1].error);
  cr_assert_eq(E.spans[2].status, URPC_STATUS_UNIMPLEMENTED);
  cr_assert(E.spans[2].error);
  cr_assert_str_eq(E.spans[2].name, "helloworld.Greeter/Nope");
  cr_assert_eq(E.spans[3].status, URPC_STATUS_CANCELLED);
  cr_assert(E.spans[3].cancelled);
  cr_assert(!E.spans[3].error);
  /* the grpc-message goes along only with ERROR */
  cr_assert_str_eq(E.spans[0].status_message, "");
  cr_assert_str_eq(E.spans[1].status_message, "broken");
  cr_assert_str_eq(E.spans[3].status_message, "");
  /* :authority as the client sent it; no socket behind this test's connection */
  cr_assert_str_eq(E.spans[0].authority, "test");
  cr_assert_eq(E.spans[0].peer_family, 0);
  cr_assert_eq(E.spans[0].n_messages, 0, "message events are off by default");
  cr_assert(!E.server->ic_on_message, "and then the tracer asks for no message");
}

Test(trace, full_pool_drops_and_counts) {
  next_sid = 1;
  /* a new tracer with two records and one-span batches, so the first export holds the
   * exporter while the shard fills its pool */
  teardown();
  urpc_trace_options to;
  urpc_trace_options_init(&to);
  to.max_queue_size = 2;
  to.max_export_batch_size = 1;
  start(&to);
  atomic_store(&E.block_exporter, true);
  hello("world", NULL, 0);
  for (int i = 0; i < 5000 && !atomic_load(&E.exporter_blocked); i++) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  cr_assert(atomic_load(&E.exporter_blocked));
  for (int i = 0; i < 9; i++) hello("world", NULL, 0);
  urpc_tracer_stats st;
  urpc_tracer_get_stats(E.tracer, &st);
  /* the exporter holds the first record while exporting it: one left for the shard */
  cr_assert_eq(st.spans_ended, 10);
  cr_assert_eq(st.spans_dropped, 8);
  atomic_store(&E.block_exporter, false);
  cr_assert_eq(flushed_spans(), 2);
  urpc_tracer_get_stats(E.tracer, &st);
  cr_assert_eq(st.spans_exported, 2);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  cr_assert_eq(urpc_metrics_write(E.metrics, f, false), 0);
  fclose(f);
  cr_assert_not_null(strstr(text, "\nuringrpc_spans_dropped_total 8\n"), "%s", text);
  cr_assert_not_null(strstr(text, "\nuringrpc_spans_exported_total 2\n"), "%s", text);
  cr_assert_not_null(strstr(text, "\nuringrpc_spans_export_failed_total 0\n"), "%s", text);
  free(text);
}

static void sampler_run(urpc_trace_sampler sampler, double ratio, size_t want_root,
                        size_t want_sampled_parent, size_t want_unsampled_parent) {
  next_sid = 1;
  teardown();
  urpc_trace_options to;
  urpc_trace_options_init(&to);
  to.sampler = sampler;
  to.ratio = ratio;
  start(&to);
  for (int i = 0; i < 10; i++) hello("world", NULL, 0);
  size_t roots = flushed_spans();
  nghttp2_nv on[] = {NVS("traceparent", TP("01"))}, off[] = {NVS("traceparent", TP("00"))};
  for (int i = 0; i < 10; i++) hello("world", on, 1);
  size_t sampled = flushed_spans() - roots;
  for (int i = 0; i < 10; i++) hello("world", off, 1);
  size_t unsampled = flushed_spans() - roots - sampled;
  cr_assert_eq(roots, want_root, "sampler %d roots %zu", sampler, roots);
  cr_assert_eq(sampled, want_sampled_parent, "sampler %d sampled parents %zu", sampler, sampled);
  cr_assert_eq(unsampled, want_unsampled_parent, "sampler %d", sampler);
}

Test(trace, samplers) {
  sampler_run(URPC_SAMPLER_PARENTBASED_ALWAYS_ON, 1, 10, 10, 0);
  sampler_run(URPC_SAMPLER_ALWAYS_ON, 1, 10, 10, 10);
  sampler_run(URPC_SAMPLER_ALWAYS_OFF, 1, 0, 0, 0);
  sampler_run(URPC_SAMPLER_TRACEIDRATIO, 0, 0, 0, 0);
  sampler_run(URPC_SAMPLER_TRACEIDRATIO, 1, 10, 10, 10);
  sampler_run(URPC_SAMPLER_PARENTBASED_TRACEIDRATIO, 0, 0, 10, 0);
  sampler_run(URPC_SAMPLER_PARENTBASED_ALWAYS_OFF, 1, 0, 10, 0);
}

Test(trace, ratio_is_about_right) {
  next_sid = 1;
  teardown();
  urpc_trace_options to;
  urpc_trace_options_init(&to);
  to.sampler = URPC_SAMPLER_TRACEIDRATIO;
  to.ratio = 0.25;
  to.max_queue_size = 256;
  start(&to);
  int n = 0;
  for (int i = 0; i < 120; i++) {
    hello("world", NULL, 0);
    n += E.seen.sampled;
  }
  cr_assert(n >= 10 && n <= 55, "%d of 120 sampled at 0.25", n);
  cr_assert_eq(flushed_spans(), (size_t)(n < MAX_SPANS ? n : MAX_SPANS));
}

Test(trace_env, from_env) {
  urpc_trace_options o;
  urpc_trace_options_init(&o);
  setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", 1);
  setenv("OTEL_TRACES_SAMPLER_ARG", "0.5", 1);
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/", 1);
  setenv("OTEL_SERVICE_NAME", "svc", 1);
  setenv("OTEL_BSP_SCHEDULE_DELAY", "100", 1);
  setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64", 1);
  cr_assert_eq(urpc_trace_options_from_env(&o), 0);
  cr_assert_eq(o.sampler, URPC_SAMPLER_PARENTBASED_TRACEIDRATIO);
  cr_assert_eq(o.ratio, 0.5);
  cr_assert_str_eq(o.endpoint, "http://collector:4318/v1/traces");
  cr_assert_str_eq(o.service_name, "svc");
  cr_assert_eq(o.schedule_delay_ms, 100);
  cr_assert_eq(o.max_export_batch_size, 64);
  setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other:1234/x", 1);
  cr_assert_eq(urpc_trace_options_from_env(&o), 0);
  cr_assert_str_eq(o.endpoint, "http://other:1234/x");
  setenv("OTEL_TRACES_SAMPLER", "sometimes", 1);
  cr_assert_eq(urpc_trace_options_from_env(&o), -EINVAL);
  setenv("OTEL_TRACES_SAMPLER", "always_on", 1);
  setenv("OTEL_TRACES_SAMPLER_ARG", "2", 1);
  cr_assert_eq(urpc_trace_options_from_env(&o), -EINVAL);
}

Test(trace, handler_attributes_and_events) {
  next_sid = 1;
  hello("attrs", NULL, 0);
  cr_assert_eq(flushed_spans(), 1);
  const urpc_span *s = &E.spans[0];
  cr_assert_eq(s->n_attrs, URPC_SPAN_MAX_ATTRS);
  cr_assert_str_eq(s->attrs[0].key, "app.user");
  cr_assert_str_eq(s->attrs[0].string_value, "alice");
  cr_assert(s->attrs[1].is_int);
  cr_assert_eq(s->attrs[1].int_value, 4);
  cr_assert_eq(strlen(s->attrs[2].string_value), URPC_SPAN_VALUE_MAX - 1);
  cr_assert_eq(s->dropped_attrs, 1);
  cr_assert_eq(s->n_events, URPC_SPAN_MAX_EVENTS);
  cr_assert_eq(s->dropped_events, 1);
  cr_assert_str_eq(s->events[0].name, "cache.miss");
  cr_assert_geq(s->events[0].time_unix_ns, s->start_unix_ns);
  /* an unsampled call keeps nothing and says 0 */
  nghttp2_nv h[] = {NVS("traceparent", TP("00"))};
  hello("attrs", h, 1);
  cr_assert_eq(flushed_spans(), 1);
}

static void setup_message_events(void) {
  urpc_trace_options to;
  urpc_trace_options_init(&to);
  to.message_events = true;
  start(&to);
}

TestSuite(trace_events, .init = setup_message_events, .fini = teardown);

Test(trace_events, message_events) {
  next_sid = 1;
  cr_assert(E.server->ic_on_message);
  hello("alice", NULL, 0);
  call_with("/urpc.example.Demo/StreamFromWorker", "3", NULL, 0);
  call_with("/urpc.example.Demo/StreamFromWorker", "40", NULL, 0);
  cr_assert_eq(flushed_spans(), 3);

  const urpc_span *u = &E.spans[0];
  Helloworld__HelloRequest req = HELLOWORLD__HELLO_REQUEST__INIT;
  req.name = "alice";
  cr_assert_eq(u->n_messages, 2);
  cr_assert_eq(u->dropped_messages, 0);
  cr_assert(!u->messages[0].sent);
  cr_assert_eq(u->messages[0].id, 1);
  cr_assert_eq(u->messages[0].size, protobuf_c_message_get_packed_size(&req.base));
  cr_assert(!u->messages[0].compressed);
  cr_assert(u->messages[1].sent);
  cr_assert_eq(u->messages[1].id, 1);
  cr_assert_gt(u->messages[1].size, 0);
  cr_assert_geq(u->messages[0].time_unix_ns, u->start_unix_ns);
  cr_assert_geq(u->messages[1].time_unix_ns, u->messages[0].time_unix_ns);
  cr_assert_leq(u->messages[1].time_unix_ns, u->end_unix_ns);

  const urpc_span *s3 = &E.spans[1];
  cr_assert_str_eq(s3->name, "urpc.example.Demo/StreamFromWorker");
  cr_assert_eq(s3->n_messages, 4);
  for (int i = 1; i < 4; i++) {
    cr_assert(s3->messages[i].sent);
    cr_assert_eq(s3->messages[i].id, i, "ids count each way from 1");
  }

  /* 41 messages: the first URPC_SPAN_MAX_MESSAGES kept, in order; the rest counted */
  const urpc_span *s40 = &E.spans[2];
  cr_assert_eq(s40->n_messages, URPC_SPAN_MAX_MESSAGES);
  cr_assert_eq(s40->dropped_messages, 41 - URPC_SPAN_MAX_MESSAGES);
  cr_assert_eq(s40->messages[URPC_SPAN_MAX_MESSAGES - 1].id, URPC_SPAN_MAX_MESSAGES - 1);
  cr_assert_eq(s40->msgs_out, 40, "the counts stay whole");
}

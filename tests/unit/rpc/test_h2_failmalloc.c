/* Allocation failure (nghttp2's failmalloc): each scenario is a sans-IO connection (as in
 * test_h2_session.c) run once counting the allocations it makes, then once for every N with
 * the N-th failing. Counted and failed are nghttp2's allocations (the shard's nghttp2_mem,
 * wrapped here) and our own code's malloc/calloc/realloc (the test links with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, which catches the calls of every statically
 * linked object: core, rpc, the handlers here; zlib and protobuf-c's own are not). Nothing
 * may crash; after the close no call may be live and nghttp2's slab must be empty; with ASan
 * LeakSanitizer must find nothing; and the call must either succeed or fail in a way the
 * client sees (a grpc-status, RST_STREAM, or the connection closing), never hang.
 *
 * FAILMALLOC_TRACE=1 prints the stack of each failed allocation, FAILMALLOC_LIBC=1 gives
 * nghttp2 libc's allocator (ASan then sees its memory errors). */
#include <criterion/criterion.h>
#include <errno.h>
#include <execinfo.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/clock.h"
#include "grpc/testing/messages.pb-c.h"
#include "grpc/testing/test.pb-c.h"
#include "helloworld.pb-c.h"
#include "rpc/base64.h"
#include "rpc/rpc_impl.h"

/* ---- allocation hooks ---- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

static bool armed;             /* count (and maybe fail) allocations */
static long fail_at = -1;      /* the allocation index to fail; -1 for none */
static long allocs;            /* allocations seen while armed */
static bool failed_one;        /* the N-th allocation came and was refused */
static bool trace;             /* FAILMALLOC_TRACE=1: print where each failed allocation was made */
static bool failed_h2_realloc; /* the refused allocation was nghttp2's realloc */
static char fail_site[512];    /* the nghttp2 functions on the stack of the failed allocation */

static bool inject(bool h2_realloc) {
  if (!armed) return false;
  if (allocs++ != fail_at) return false;
  failed_one = true;
  failed_h2_realloc = h2_realloc;
  /* Where it was made: the exported nghttp2 functions on the stack name the site. */
  void *bt[24];
  int n = backtrace(bt, 24);
  char **names = backtrace_symbols(bt, n);
  fail_site[0] = 0;
  for (int i = 0; names && i < n; i++) {
    const char *f = strstr(names[i], "(nghttp2_");
    size_t used = strlen(fail_site);
    if (f && used + 64 < sizeof(fail_site))
      snprintf(fail_site + used, sizeof(fail_site) - used, "%.*s ", (int)strcspn(f + 1, "+)"),
               f + 1);
  }
  free(names);
  if (trace) {
    fprintf(stderr, "---- failing allocation %ld (%s)\n", fail_at, fail_site);
    backtrace_symbols_fd(bt, n, 2);
  }
  return true;
}

void *__wrap_malloc(size_t size) {
  return inject(false) ? NULL : __real_malloc(size);
}
void *__wrap_calloc(size_t n, size_t size) {
  return inject(false) ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t size) {
  return inject(false) ? NULL : __real_realloc(p, size);
}

/* nghttp2's allocator, around the shard's own. */
static nghttp2_mem shard_mem;

/* FAILMALLOC_LIBC=1 gives nghttp2 libc's allocator instead of the shard's slab, so that ASan
 * sees nghttp2's own memory errors (the slab check is then skipped). */
static bool h2_libc;

static void *h2_malloc(size_t size, void *ud) {
  if (inject(false)) return NULL;
  return h2_libc ? __real_malloc(size) : shard_mem.malloc(size, ud);
}
static void h2_free(void *p, void *ud) {
  if (h2_libc)
    free(p);
  else
    shard_mem.free(p, ud);
}
static void *h2_calloc(size_t n, size_t size, void *ud) {
  if (inject(false)) return NULL;
  return h2_libc ? __real_calloc(n, size) : shard_mem.calloc(n, size, ud);
}
static void *h2_realloc(void *p, size_t size, void *ud) {
  if (inject(true)) return NULL;
  return h2_libc ? __real_realloc(p, size) : shard_mem.realloc(p, size, ud);
}

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

/* ---- services ---- */

static void say_hello(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  const Helloworld__HelloRequest *req = (const Helloworld__HelloRequest *)request;
  /* Echo the metadata: response metadata allocates too. */
  size_t len;
  const uint8_t *v = urpc_call_metadata(call, "x-md", &len);
  if (v) urpc_call_add_initial_metadata(call, "x-md", v, len);
  v = urpc_call_metadata(call, "x-blob-bin", &len);
  if (v) urpc_call_add_trailing_metadata(call, "x-blob-bin", v, len);
  char *text = urpc_call_alloc(call, 300);
  if (!text) {
    urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  snprintf(text, 300, "Hello %s", req->name);
  Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
  reply.message = text;
  urpc_call_reply(call, &reply.base);
}

/* Server streaming: one response per response_parameters entry, then OK. */
static void streaming_output(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  const Grpc__Testing__StreamingOutputCallRequest *req =
      (const Grpc__Testing__StreamingOutputCallRequest *)request;
  for (size_t i = 0; i < req->n_response_parameters; i++) {
    uint8_t body[64] = {0};
    Grpc__Testing__Payload payload = GRPC__TESTING__PAYLOAD__INIT;
    payload.body.len = (size_t)req->response_parameters[i]->size % sizeof(body);
    payload.body.data = body;
    Grpc__Testing__StreamingOutputCallResponse resp =
        GRPC__TESTING__STREAMING_OUTPUT_CALL_RESPONSE__INIT;
    resp.payload = &payload;
    if (urpc_call_send(call, &resp.base) == -ENOMEM) {
      urpc_call_finish(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
      return;
    }
  }
  urpc_call_finish(call, URPC_STATUS_OK, NULL);
}

/* Client streaming: the sizes of the payloads, summed, at half-close. */
static void input_start(urpc_call *call, void *user) {
  (void)user;
  int32_t *sum = urpc_call_alloc(call, sizeof(*sum));
  if (sum) *sum = 0;
  urpc_call_set_user(call, sum);
  if (!sum) urpc_call_finish(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

static void input_message(urpc_call *call, const ProtobufCMessage *msg, void *user) {
  (void)user;
  const Grpc__Testing__StreamingInputCallRequest *req =
      (const Grpc__Testing__StreamingInputCallRequest *)msg;
  int32_t *sum = urpc_call_user(call);
  if (sum && req->payload) *sum += (int32_t)req->payload->body.len;
}

static void input_half_close(urpc_call *call, void *user) {
  (void)user;
  int32_t *sum = urpc_call_user(call);
  if (!sum) return; /* finished in on_start */
  Grpc__Testing__StreamingInputCallResponse resp =
      GRPC__TESTING__STREAMING_INPUT_CALL_RESPONSE__INIT;
  resp.aggregated_payload_size = *sum;
  urpc_call_reply(call, &resp.base);
}

static void input_cancel(urpc_call *call, void *user) {
  (void)user;
  if (urpc_call_user(call)) urpc_call_finish(call, URPC_STATUS_CANCELLED, NULL);
}

static const urpc_stream_handler input_ops = {.on_start = input_start,
                                              .on_message = input_message,
                                              .on_half_close = input_half_close,
                                              .on_cancel = input_cancel};

/* ---- the client's bytes, made once per scenario (not counted) ---- */

typedef struct script {
  uint8_t bytes[8192];
  size_t len;
  size_t cuts[32]; /* the bytes go to rpc_conn_recv in pieces ending here */
  int n_cuts;
} script;

static nghttp2_hd_deflater *deflater;

static void put_frame(script *s, uint8_t type, uint8_t flags, int32_t sid, const void *p,
                      size_t n) {
  cr_assert_leq(s->len + 9 + n, sizeof(s->bytes));
  uint8_t *h = s->bytes + s->len;
  h[0] = (uint8_t)(n >> 16), h[1] = (uint8_t)(n >> 8), h[2] = (uint8_t)n;
  h[3] = type, h[4] = flags;
  h[5] = (uint8_t)(sid >> 24), h[6] = (uint8_t)(sid >> 16), h[7] = (uint8_t)(sid >> 8);
  h[8] = (uint8_t)sid;
  if (n) memcpy(h + 9, p, n);
  s->len += 9 + n;
}

static void cut(script *s) {
  cr_assert_lt(s->n_cuts, 32);
  s->cuts[s->n_cuts++] = s->len;
}

#define NVS(n, v)                                                                                  \
  { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

static void put_headers(script *s, int32_t sid, const char *path, const nghttp2_nv *extra,
                        size_t n_extra, uint8_t flags) {
  nghttp2_nv nv[16] = {NVS(":method", "POST"),
                       NVS(":scheme", "http"),
                       NVS(":path", path),
                       NVS(":authority", "test"),
                       NVS("content-type", "application/grpc"),
                       NVS("te", "trailers")};
  cr_assert_leq(n_extra, 10);
  if (n_extra) memcpy(nv + 6, extra, n_extra * sizeof(*nv));
  uint8_t block[2048];
  ssize_t len = nghttp2_hd_deflate_hd(deflater, block, sizeof(block), nv, 6 + n_extra);
  cr_assert_gt(len, 0);
  put_frame(s, NGHTTP2_HEADERS, flags | NGHTTP2_FLAG_END_HEADERS, sid, block, (size_t)len);
}

/* A length-prefixed message (gzip-compressed if asked) as one DATA frame. */
static void put_message(script *s, int32_t sid, const ProtobufCMessage *m, bool gzip, bool end) {
  uint8_t plain[512], buf[1024];
  size_t n = protobuf_c_message_pack(m, plain);
  size_t len = n;
  const uint8_t *body = plain;
  uint8_t z[600];
  if (gzip) {
    z_stream zs = {0};
    cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = plain, zs.avail_in = (uInt)n, zs.next_out = z, zs.avail_out = sizeof(z);
    cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    len = sizeof(z) - zs.avail_out;
    deflateEnd(&zs);
    body = z;
  }
  rpc_frame_prefix(buf, gzip, (uint32_t)len);
  memcpy(buf + RPC_FRAME_PREFIX, body, len);
  put_frame(s, NGHTTP2_DATA, end ? NGHTTP2_FLAG_END_STREAM : 0, sid, buf, RPC_FRAME_PREFIX + len);
}

static void put_preface(script *s) {
  memcpy(s->bytes, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
  s->len = NGHTTP2_CLIENT_MAGIC_LEN;
  static const uint8_t no_rfc7540_priorities[6] = {
      0, NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 0, 0, 0, 1};
  put_frame(s, NGHTTP2_SETTINGS, 0, 0, no_rfc7540_priorities, 6);
  cut(s);
}

/* ---- one run ---- */

#define MAX_STREAMS 8

typedef struct stream_seen {
  int32_t id;
  int grpc_status; /* -1: none */
  bool ended, reset;
  size_t data_bytes;
} stream_seen;

typedef struct result {
  stream_seen streams[MAX_STREAMS];
  int n;
  bool closed; /* the connection asked to be closed, or could not be opened */
} result;

typedef struct env {
  urpc_server *server;
  rpc_shard sh;
  core_pool blocks;
  core_timer_wheel wheel;
  nghttp2_hd_inflater *inflater;
  uint8_t pending[1 << 16];
  size_t pending_len;
} env;

static env E;

static stream_seen *seen(result *r, int32_t id) {
  for (int i = 0; i < r->n; i++)
    if (r->streams[i].id == id) return &r->streams[i];
  cr_assert_lt(r->n, MAX_STREAMS);
  r->streams[r->n] = (stream_seen){.id = id, .grpc_status = -1};
  return &r->streams[r->n++];
}

static void decode_headers(stream_seen *s, const uint8_t *p, size_t n) {
  for (;;) {
    nghttp2_nv nv;
    int flags;
    ssize_t used = nghttp2_hd_inflate_hd2(E.inflater, &nv, &flags, p, n, 1);
    cr_assert_geq(used, 0, "bad HPACK from the server");
    p += used, n -= (size_t)used;
    if ((flags & NGHTTP2_HD_INFLATE_EMIT) && nv.namelen == 11 &&
        !memcmp(nv.name, "grpc-status", 11))
      s->grpc_status = atoi((const char *)nv.value); /* digits, then a non-digit or the end */
    if (flags & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(E.inflater);
      return;
    }
    if (n == 0 && !(flags & NGHTTP2_HD_INFLATE_EMIT)) return;
  }
}

static void scan(result *r) {
  size_t off = 0;
  while (E.pending_len - off >= 9) {
    const uint8_t *h = E.pending + off;
    size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
    if (E.pending_len - off < 9 + len) break;
    int32_t sid =
        (int32_t)((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]) &
        0x7fffffff;
    if (h[3] == NGHTTP2_HEADERS) decode_headers(seen(r, sid), h + 9, len);
    if (h[3] == NGHTTP2_DATA) seen(r, sid)->data_bytes += len;
    if ((h[3] == NGHTTP2_HEADERS || h[3] == NGHTTP2_DATA) && (h[4] & NGHTTP2_FLAG_END_STREAM))
      seen(r, sid)->ended = true;
    if (h[3] == NGHTTP2_RST_STREAM) seen(r, sid)->reset = true;
    if (h[3] == NGHTTP2_GOAWAY) r->closed = true;
    off += 9 + len;
  }
  memmove(E.pending, E.pending + off, E.pending_len - off);
  E.pending_len -= off;
}

static void pump(rpc_conn *conn, result *r) {
  for (int round = 0; round < 50 && !r->closed; round++) {
    rpc_shard_after_batch(&E.sh);
    core_outq out;
    core_outq_init(&out, &E.blocks);
    int rc = rpc_conn_produce(conn, &out);
    size_t got = out.bytes;
    struct iovec iov[64];
    for (;;) {
      int n = core_outq_iov(&out, iov, 64);
      if (!n) break;
      size_t taken = 0;
      for (int i = 0; i < n; i++) {
        cr_assert_leq(E.pending_len + iov[i].iov_len, sizeof(E.pending));
        memcpy(E.pending + E.pending_len, iov[i].iov_base, iov[i].iov_len);
        E.pending_len += iov[i].iov_len;
        taken += iov[i].iov_len;
      }
      core_outq_consume(&out, taken);
    }
    core_outq_dispose(&out);
    scan(r);
    /* -1: the output could not be made (io/ closes the connection); 1: close after it. */
    if (rc != 0) r->closed = true;
    if (!got) return;
  }
}

static void env_up(void) {
  memset(&E, 0, sizeof(E));
  rpc_compress_thread_release(); /* every run starts without zlib streams, so counts match */
  urpc_server_options o;
  urpc_server_options_init(&o);
  o.response_compression = "gzip"; /* clients that accept it get compressed responses */
  cr_assert_eq(urpc_server_new(&o, &E.server), 0);
  urpc_method hello[] = {{.name = "SayHello", .handler = say_hello}};
  cr_assert_eq(urpc_server_add_service(E.server, &helloworld__greeter__descriptor, hello, 1), 0);
  urpc_method test[] = {
      {.name = "StreamingOutputCall",
       .handler = streaming_output,
       .flags = URPC_METHOD_SERVER_STREAMING},
      {.name = "StreamingInputCall", .flags = URPC_METHOD_CLIENT_STREAMING, .stream = &input_ops},
  };
  cr_assert_eq(urpc_server_add_service(E.server, &grpc__testing__test_service__descriptor, test, 2),
               0);
  cr_assert_eq(rpc_shard_init(&E.sh, E.server, 0), 0);
  shard_mem = E.sh.h2_mem;
  E.sh.h2_mem = (nghttp2_mem){shard_mem.mem_user_data, h2_malloc, h2_free, h2_calloc, h2_realloc};
  core_timer_wheel_init(&E.wheel, core_now_ms());
  E.sh.timers = &E.wheel;
  core_pool_init(&E.blocks, core_outq_block_size(), 16);
  cr_assert_eq(nghttp2_hd_inflate_new(&E.inflater), 0);
}

static void env_down(void) {
  rpc_shard_dispose(&E.sh);
  urpc_server_free(E.server);
  core_pool_dispose(&E.blocks);
  nghttp2_hd_inflate_del(E.inflater);
}

/* nghttp2 1.52 frees a DATA item twice when queueing it fails for lack of memory
 * (growing the DATA queue, nghttp2_pq_push's realloc, fails; session_attach_stream_item
 * leaves the item on the stream after nghttp2_submit_data has freed it, and
 * nghttp2_session_del frees it again): upstream's bug, reported, not ours to fix. The
 * shard's slab then counts the item's bytes twice; the run is otherwise checked as any other
 * (FAILMALLOC_LIBC=1 shows it to ASan). */
static bool nghttp2_double_free(void) {
  return failed_one && failed_h2_realloc && strstr(fail_site, "nghttp2_submit_data ") != NULL;
}

/* Runs the script with allocation `fail` failing (-1: none); returns what the client saw. */
static result run(const script *s, long fail) {
  result r = {.n = 0};
  env_up();
  allocs = 0;
  failed_one = false;
  fail_at = fail;
  armed = true;
  rpc_conn *conn = rpc_conn_open(&E.sh, NULL);
  if (!conn) {
    r.closed = true; /* the io layer closes a connection it cannot open */
  } else {
    pump(conn, &r);
    size_t from = 0;
    for (int i = 0; i < s->n_cuts && !r.closed; i++) {
      cr_assert_eq(rpc_conn_recv(conn, s->bytes + from, s->cuts[i] - from), 0);
      from = s->cuts[i];
      pump(conn, &r);
    }
    rpc_conn_closed(conn);
  }
  rpc_shard_after_batch(&E.sh);
  armed = false;
  cr_assert_eq(E.sh.call_pool.live, 0, "allocation %ld failing: %llu calls live after the close",
               fail, (unsigned long long)E.sh.call_pool.live);
  cr_assert(h2_libc || nghttp2_double_free() || E.sh.h2_slab.bytes == 0,
            "allocation %ld failing: %zu bytes of nghttp2 memory left", fail, E.sh.h2_slab.bytes);
  cr_assert_eq(E.wheel.count, 0, "allocation %ld failing: %u timers armed after the close", fail,
               E.wheel.count);
  env_down();
  return r;
}

/* The stream's outcome is one the client can act on. */
static bool clean(const result *r, int32_t sid) {
  if (r->closed) return true;
  for (int i = 0; i < r->n; i++)
    if (r->streams[i].id == sid) return r->streams[i].reset || r->streams[i].ended;
  return false;
}

/* Counts the scenario's allocations with a run that must fully succeed, then fails each. */
static void failmalloc(const char *name, const script *s, const int32_t *sids, int n_sids) {
  result ok = run(s, -1);
  long total = allocs;
  cr_assert_gt(total, 0);
  for (int i = 0; i < n_sids; i++) {
    stream_seen *st = seen(&ok, sids[i]);
    cr_assert(st->ended && st->grpc_status == 0, "%s: stream %d did not succeed (status %d)", name,
              sids[i], st->grpc_status);
  }
  cr_assert_not(ok.closed, "%s: the connection closed without a failure", name);
  long hung = 0, first_hung = -1;
  for (long n = 0; n < total; n++) {
    result r = run(s, n);
    cr_assert(failed_one, "%s: allocation %ld of %ld never came (not deterministic?)", name, n,
              total);
    if (nghttp2_double_free())
      fprintf(stderr, "%s: allocation %ld failing (in %s): nghttp2's own double free (upstream)\n",
              name, n, fail_site);
    for (int i = 0; i < n_sids; i++) {
      if (clean(&r, sids[i])) continue;
      fprintf(stderr, "%s: allocation %ld failing (in %s) leaves stream %d hanging\n", name, n,
              fail_site[0] ? fail_site : "our code", sids[i]);
      if (first_hung < 0) first_hung = n;
      hung++;
    }
    if (__lsan_do_recoverable_leak_check)
      cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
                   "%s: allocation %ld failing leaks (see the LSan report)", name, n);
  }
  fprintf(stderr, "%s: %ld allocations, each failed once\n", name, total);
  cr_assert_eq(hung, 0, "%s: %ld runs left a stream hanging, the first failing allocation %ld",
               name, hung, first_hung);
}

static void setup(void) {
  trace = getenv("FAILMALLOC_TRACE") != NULL;
  h2_libc = getenv("FAILMALLOC_LIBC") != NULL;
  cr_assert_eq(nghttp2_hd_deflate_new(&deflater, 4096), 0);
}
static void teardown(void) {
  nghttp2_hd_deflate_del(deflater);
}

TestSuite(h2_failmalloc, .init = setup, .fini = teardown, .timeout = 300);

static Helloworld__HelloRequest hello_req(const char *name) {
  Helloworld__HelloRequest req = HELLOWORLD__HELLO_REQUEST__INIT;
  req.name = (char *)name;
  return req;
}

Test(h2_failmalloc, unary) {
  static script s;
  put_preface(&s);
  put_headers(&s, 1, "/helloworld.Greeter/SayHello", NULL, 0, 0);
  cut(&s);
  Helloworld__HelloRequest req = hello_req("world");
  put_message(&s, 1, &req.base, false, true);
  cut(&s);
  int32_t sids[] = {1};
  failmalloc("unary", &s, sids, 1);
}

Test(h2_failmalloc, metadata_and_compression) {
  static script s;
  put_preface(&s);
  char blob[64];
  static const uint8_t raw[] = {0, 1, 2, 0xfe, 0xff, 'b', 'i', 'n'};
  blob[rpc_base64_encode(raw, sizeof(raw), blob)] = 0;
  nghttp2_nv extra[] = {NVS("grpc-encoding", "gzip"), NVS("grpc-accept-encoding", "gzip"),
                        NVS("grpc-timeout", "10S"), NVS("x-md", "value"), NVS("x-blob-bin", blob)};
  put_headers(&s, 1, "/helloworld.Greeter/SayHello", extra, 5, 0);
  Helloworld__HelloRequest req = hello_req("compressed and with metadata");
  put_message(&s, 1, &req.base, true, true);
  cut(&s);
  int32_t sids[] = {1};
  failmalloc("metadata_and_compression", &s, sids, 1);
}

Test(h2_failmalloc, server_streaming) {
  static script s;
  put_preface(&s);
  put_headers(&s, 1, "/grpc.testing.TestService/StreamingOutputCall", NULL, 0, 0);
  Grpc__Testing__ResponseParameters p[3], *pp[3];
  for (int i = 0; i < 3; i++) {
    p[i] = (Grpc__Testing__ResponseParameters)GRPC__TESTING__RESPONSE_PARAMETERS__INIT;
    p[i].size = 10 * (i + 1);
    pp[i] = &p[i];
  }
  Grpc__Testing__StreamingOutputCallRequest req =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
  req.n_response_parameters = 3;
  req.response_parameters = pp;
  put_message(&s, 1, &req.base, false, true);
  cut(&s);
  int32_t sids[] = {1};
  failmalloc("server_streaming", &s, sids, 1);
}

Test(h2_failmalloc, client_streaming) {
  static script s;
  put_preface(&s);
  put_headers(&s, 1, "/grpc.testing.TestService/StreamingInputCall", NULL, 0, 0);
  cut(&s);
  uint8_t body[20] = {0};
  Grpc__Testing__Payload payload = GRPC__TESTING__PAYLOAD__INIT;
  payload.body.data = body;
  Grpc__Testing__StreamingInputCallRequest req = GRPC__TESTING__STREAMING_INPUT_CALL_REQUEST__INIT;
  req.payload = &payload;
  for (int i = 0; i < 3; i++) {
    payload.body.len = (size_t)(5 + i);
    put_message(&s, 1, &req.base, false, false);
    cut(&s);
  }
  put_frame(&s, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, NULL, 0);
  cut(&s);
  int32_t sids[] = {1};
  failmalloc("client_streaming", &s, sids, 1);
}

Test(h2_failmalloc, reset_stream_then_a_call) {
  static script s;
  put_preface(&s);
  put_headers(&s, 1, "/helloworld.Greeter/SayHello", NULL, 0, 0);
  cut(&s);
  static const uint8_t cancel[4] = {0, 0, 0, NGHTTP2_CANCEL};
  put_frame(&s, NGHTTP2_RST_STREAM, 0, 1, cancel, 4);
  cut(&s);
  put_headers(&s, 3, "/helloworld.Greeter/SayHello", NULL, 0, 0);
  Helloworld__HelloRequest req = hello_req("after the reset");
  put_message(&s, 3, &req.base, false, true);
  cut(&s);
  int32_t sids[] = {3};
  failmalloc("reset_stream_then_a_call", &s, sids, 1);
}

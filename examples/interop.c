/* grpc.testing.TestService as grpc's doc/interop-test-descriptions.md asks of a server:
 * payload sizes, response_status, echo of x-grpc-test-echo-initial / -trailing-bin metadata,
 * compression on request, and streams whose responses come after interval_us — timed on the
 * shard's timer wheel (urpc_call_defer), never by blocking. UnimplementedCall stays
 * unregistered, so it answers UNIMPLEMENTED. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/testing/empty.pb-c.h"
#include "grpc/testing/messages.pb-c.h"
#include "grpc/testing/test.pb-c.h"
#include "services.h"

#ifndef INTEROP_MAX_PAYLOAD
#define INTEROP_MAX_PAYLOAD (4 << 20) /* the fuzz target (tests/fuzz) asks for less */
#endif
#define MAX_PAYLOAD INTEROP_MAX_PAYLOAD

static const uint8_t *zeros(size_t n) {
  static uint8_t *z; /* MAX_PAYLOAD zero bytes, made once before the server starts */
  return n <= MAX_PAYLOAD ? z ? z : (z = calloc(1, MAX_PAYLOAD)) : NULL;
}

/* The client's response_status.code as a status: one outside gRPC's codes is UNKNOWN, as a
 * client takes a code it does not know (and the library's status table has 17 entries). */
static urpc_status_code status_code(int32_t code) {
  return code >= URPC_STATUS_OK && code <= URPC_STATUS_UNAUTHENTICATED ? (urpc_status_code)code
                                                                       : URPC_STATUS_UNKNOWN;
}

static void echo_metadata(urpc_call *call) {
  size_t len;
  const uint8_t *v = urpc_call_metadata(call, "x-grpc-test-echo-initial", &len);
  if (v) urpc_call_add_initial_metadata(call, "x-grpc-test-echo-initial", v, len);
  v = urpc_call_metadata(call, "x-grpc-test-echo-trailing-bin", &len);
  if (v) urpc_call_add_trailing_metadata(call, "x-grpc-test-echo-trailing-bin", v, len);
}

/* expect_compressed: the client says whether it compressed; a mismatch is INVALID_ARGUMENT. */
static bool compression_ok(urpc_call *call, const Grpc__Testing__BoolValue *expect) {
  return !expect || !expect->value || urpc_call_request_compressed(call);
}

static void empty_call(urpc_call *call, const ProtobufCMessage *req, void *user) {
  (void)req, (void)user;
  echo_metadata(call);
  Grpc__Testing__Empty e = GRPC__TESTING__EMPTY__INIT;
  urpc_call_reply(call, &e.base);
}

static void unary_call(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  const Grpc__Testing__SimpleRequest *req = (const Grpc__Testing__SimpleRequest *)request;
  echo_metadata(call);
  if (!compression_ok(call, req->expect_compressed)) {
    urpc_call_fail(call, URPC_STATUS_INVALID_ARGUMENT, "expected a compressed request");
    return;
  }
  if (req->response_status && req->response_status->code) {
    urpc_call_fail(call, status_code(req->response_status->code), req->response_status->message);
    return;
  }
  if (req->response_size < 0 || !zeros((size_t)req->response_size)) {
    urpc_call_fail(call, URPC_STATUS_INVALID_ARGUMENT, "response_size out of range");
    return;
  }
  if (req->response_compressed && req->response_compressed->value)
    urpc_call_set_compression(call, "gzip");
  Grpc__Testing__Payload payload = GRPC__TESTING__PAYLOAD__INIT;
  payload.body.len = (size_t)req->response_size;
  payload.body.data = (uint8_t *)zeros(payload.body.len);
  Grpc__Testing__SimpleResponse resp = GRPC__TESTING__SIMPLE_RESPONSE__INIT;
  resp.payload = &payload;
  urpc_call_reply(call, &resp.base);
}

/* ---- streams whose responses are timed ---- */

typedef struct pending_send {
  struct pending_send *next;
  int32_t size, interval_us;
  bool compressed;
} pending_send;

typedef struct stream_state {
  pending_send *head, *tail; /* responses still to send, in order */
  pending_send *buffered;    /* HalfDuplexCall: held until half-close */
  bool timer_armed, half_closed, done, half_duplex;
  bool blocked;          /* the send buffer is full: wait for on_writable */
  urpc_status_code code; /* response_status asked for */
  const char *message;
  int32_t aggregated; /* StreamingInputCall */
} stream_state;

static void finish(urpc_call *call, stream_state *st, urpc_status_code code, const char *msg) {
  if (st->done) return;
  st->done = true;
  urpc_call_finish(call, code, msg);
}

static void pump(urpc_call *call, stream_state *st);

/* Sends the head response. Returns false when the call's send buffer is full: the rest waits
 * for on_writable, so a slow reader holds the stream back instead of filling memory. */
static bool send_head(urpc_call *call, stream_state *st) {
  pending_send *p = st->head;
  st->head = p->next;
  if (!st->head) st->tail = NULL;
  Grpc__Testing__Payload payload = GRPC__TESTING__PAYLOAD__INIT;
  payload.body.len = (size_t)p->size;
  payload.body.data = (uint8_t *)zeros(payload.body.len);
  Grpc__Testing__StreamingOutputCallResponse resp =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_RESPONSE__INIT;
  resp.payload = &payload;
  urpc_call_set_compression(call, p->compressed ? "gzip" : "identity");
  int rc = urpc_call_send(call, &resp.base);
  free(p);
  if (rc == -EAGAIN) st->blocked = true;
  return rc == 0;
}

static void on_timer(urpc_call *call, void *arg) {
  stream_state *st = arg;
  st->timer_armed = false;
  if (st->done) return;
  if (urpc_call_cancelled(call)) {
    finish(call, st, URPC_STATUS_CANCELLED, NULL);
    return;
  }
  send_head(call, st);
  pump(call, st);
}

/* Sends what is due now, arms the timer for a response that waits, or ends the call once all
 * is sent. */
static void pump(urpc_call *call, stream_state *st) {
  while (!st->timer_armed && !st->done && !st->blocked) {
    if (!st->head) {
      if (st->code)
        finish(call, st, st->code, st->message);
      else if (st->half_closed)
        finish(call, st, URPC_STATUS_OK, NULL);
      return;
    }
    if (st->head->interval_us <= 0) {
      if (urpc_call_cancelled(call)) {
        finish(call, st, URPC_STATUS_CANCELLED, NULL);
        return;
      }
      send_head(call, st);
      continue;
    }
    st->timer_armed =
        urpc_call_defer(call, (uint64_t)st->head->interval_us * 1000u, on_timer, st) == 0;
    if (!st->timer_armed) finish(call, st, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
}

static void stream_writable(urpc_call *call, void *user) {
  (void)user;
  stream_state *st = urpc_call_user(call);
  if (!st) return;
  st->blocked = false;
  pump(call, st);
}

static bool add_responses(urpc_call *call, stream_state *st,
                          const Grpc__Testing__StreamingOutputCallRequest *req) {
  for (size_t i = 0; i < req->n_response_parameters; i++) {
    const Grpc__Testing__ResponseParameters *rp = req->response_parameters[i];
    if (rp->size < 0 || !zeros((size_t)rp->size)) {
      finish(call, st, URPC_STATUS_INVALID_ARGUMENT, "response size out of range");
      return false;
    }
    pending_send *p = calloc(1, sizeof(*p));
    if (!p) {
      finish(call, st, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
      return false;
    }
    p->size = rp->size;
    p->interval_us = rp->interval_us;
    p->compressed = rp->compressed && rp->compressed->value;
    /* The response headers announce gzip if the first message is compressed. */
    if (p->compressed && !st->head && !st->buffered) urpc_call_set_compression(call, "gzip");
    pending_send **tail =
        st->half_duplex ? &st->buffered : (st->tail ? &st->tail->next : &st->head);
    while (*tail) tail = &(*tail)->next;
    *tail = p;
    if (!st->half_duplex) st->tail = p;
  }
  if (req->response_status && req->response_status->code) {
    st->code = status_code(req->response_status->code);
    /* The message outlives this request: copy it into the call's arena. */
    size_t n = strlen(req->response_status->message);
    char *m = urpc_call_alloc(call, n + 1);
    if (m) memcpy(m, req->response_status->message, n + 1);
    st->message = m;
  }
  return true;
}

static void free_pending(pending_send *p) {
  while (p) {
    pending_send *next = p->next;
    free(p);
    p = next;
  }
}

static void stream_cleanup(void *arg) {
  stream_state *st = arg;
  free_pending(st->head);
  free_pending(st->buffered);
}

static stream_state *new_state(urpc_call *call) {
  stream_state *st = urpc_call_alloc(call, sizeof(*st));
  if (!st) return NULL;
  memset(st, 0, sizeof(*st));
  if (urpc_call_on_end(call, stream_cleanup, st) < 0) return NULL;
  return st;
}

/* StreamingOutputCall: one request, then its responses. */
static void streaming_output(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  echo_metadata(call);
  stream_state *st = new_state(call);
  if (!st) {
    urpc_call_finish(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  st->half_closed = true;
  urpc_call_set_user(call, st);
  if (add_responses(call, st, (const Grpc__Testing__StreamingOutputCallRequest *)request))
    pump(call, st);
}

/* The per-call state of the client-streaming methods hangs off the call's user slot. */
static void duplex_start(urpc_call *call, void *user) {
  echo_metadata(call);
  stream_state *st = new_state(call);
  if (!st) {
    urpc_call_finish(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  st->half_duplex = user != NULL;
  urpc_call_set_user(call, st);
}

static void duplex_message(urpc_call *call, const ProtobufCMessage *msg, void *user) {
  (void)user;
  stream_state *st = urpc_call_user(call);
  if (!st || st->done) return;
  if (add_responses(call, st, (const Grpc__Testing__StreamingOutputCallRequest *)msg))
    pump(call, st);
}

static void duplex_half_close(urpc_call *call, void *user) {
  (void)user;
  stream_state *st = urpc_call_user(call);
  if (!st || st->done) return;
  st->half_closed = true;
  if (st->half_duplex) { /* now send what was held */
    st->head = st->buffered;
    st->buffered = NULL;
    st->tail = st->head;
    while (st->tail && st->tail->next) st->tail = st->tail->next;
  }
  pump(call, st);
}

static void stream_cancel(urpc_call *call, void *user) {
  (void)user;
  stream_state *st = urpc_call_user(call);
  if (st && !st->timer_armed)
    finish(call, st, URPC_STATUS_CANCELLED, NULL);
  else if (!st)
    urpc_call_finish(call, URPC_STATUS_CANCELLED, NULL);
  /* an armed timer finishes the call when it fires */
}

static void output_cancel(urpc_call *call, void *user) {
  stream_cancel(call, user);
}

/* StreamingInputCall: add up the payloads, answer at half-close. */
static void input_start(urpc_call *call, void *user) {
  (void)user;
  echo_metadata(call);
  stream_state *st = new_state(call);
  if (!st) {
    urpc_call_finish(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  urpc_call_set_user(call, st);
}

static void input_message(urpc_call *call, const ProtobufCMessage *msg, void *user) {
  (void)user;
  const Grpc__Testing__StreamingInputCallRequest *req =
      (const Grpc__Testing__StreamingInputCallRequest *)msg;
  stream_state *st = urpc_call_user(call);
  if (!st || st->done) return;
  if (!compression_ok(call, req->expect_compressed)) {
    finish(call, st, URPC_STATUS_INVALID_ARGUMENT, "expected a compressed message");
    return;
  }
  if (req->payload) st->aggregated += (int32_t)req->payload->body.len;
}

static void input_half_close(urpc_call *call, void *user) {
  (void)user;
  stream_state *st = urpc_call_user(call);
  if (!st || st->done) return;
  st->done = true;
  Grpc__Testing__StreamingInputCallResponse resp =
      GRPC__TESTING__STREAMING_INPUT_CALL_RESPONSE__INIT;
  resp.aggregated_payload_size = st->aggregated;
  urpc_call_reply(call, &resp.base);
}

static const urpc_stream_handler output_ops = {.on_writable = stream_writable,
                                               .on_cancel = output_cancel};
static const urpc_stream_handler duplex_ops = {.on_start = duplex_start,
                                               .on_message = duplex_message,
                                               .on_half_close = duplex_half_close,
                                               .on_writable = stream_writable,
                                               .on_cancel = stream_cancel};
static const urpc_stream_handler input_ops = {.on_start = input_start,
                                              .on_message = input_message,
                                              .on_half_close = input_half_close,
                                              .on_cancel = stream_cancel};

int interop_register(urpc_server *s) {
  if (!zeros(0)) return -1;
  static int half_duplex = 1;
  const unsigned bidi = URPC_METHOD_CLIENT_STREAMING | URPC_METHOD_SERVER_STREAMING;
  const urpc_method methods[] = {
      {.name = "EmptyCall", .handler = empty_call},
      {.name = "UnaryCall", .handler = unary_call},
      {.name = "CacheableUnaryCall", .handler = unary_call},
      {.name = "StreamingOutputCall",
       .handler = streaming_output,
       .flags = URPC_METHOD_SERVER_STREAMING,
       .stream = &output_ops},
      {.name = "StreamingInputCall", .flags = URPC_METHOD_CLIENT_STREAMING, .stream = &input_ops},
      {.name = "FullDuplexCall", .flags = bidi, .stream = &duplex_ops},
      {.name = "HalfDuplexCall", .user = &half_duplex, .flags = bidi, .stream = &duplex_ops},
  };
  return urpc_server_add_service(s, &grpc__testing__test_service__descriptor, methods,
                                 sizeof(methods) / sizeof(methods[0]));
}

/* Compression: client_compressed_unary / _streaming (requests gzip'd, with the server's
 * expect_compressed probe first; the streaming case's second message goes plain inside the gzip
 * call) and server_compressed_unary / _streaming (responses: each message's compressed flag on
 * the wire must match what the request asked for). */
#include <stdlib.h>

#include "cases.h"

#define LARGE_REQUEST  271828
#define LARGE_RESPONSE 314159

static const urpc_client_call_options gzip_opts = {.compression = "gzip"};

/* The description's "MUST (NOT) have the compressed message flag set", for response i. */
static bool check_compressed_flag(ic_call *c, size_t i, bool want, const char *what, char *why,
                                  size_t why_len) {
  bool got = ic_call_response_compressed(c, i);
  if (got == want) return true;
  return ic_fail(why, why_len, "%s: response %zu came %s (compressed flag %s), expected it %s",
                 what, i + 1, got ? "compressed" : "uncompressed", got ? "set" : "not set",
                 want ? "compressed" : "uncompressed");
}

/* The one SimpleResponse of an OK call: the golden payload, and when the request said
 * response_compressed, the message's compressed flag as asked. */
static bool check_simple_response(ic_call *c, const Grpc__Testing__BoolValue *response_compressed,
                                  const char *what, char *why, size_t why_len) {
  if (ic_call_response_count(c) != 1)
    return ic_fail(why, why_len, "%s: %zu responses, expected one", what,
                   ic_call_response_count(c));
  ic_bytes b;
  ic_call_response(c, 0, &b);
  ProtobufCMessage *m =
      ic_unpack(&grpc__testing__simple_response__descriptor, &b, what, why, why_len);
  bool ok = m && ic_check_payload(((Grpc__Testing__SimpleResponse *)m)->payload, LARGE_RESPONSE,
                                  what, why, why_len);
  if (m) protobuf_c_message_free_unpacked(m, NULL);
  if (ok && response_compressed)
    ok = check_compressed_flag(c, 0, response_compressed->value, what, why, why_len);
  return ok;
}

/* One UnaryCall, made with the call driver rather than ic_unary: only on_message can tell
 * whether the response came compressed. */
static bool unary_with(ic_ctx *ctx, const urpc_client_call_options *o, bool expect_compressed,
                       const Grpc__Testing__BoolValue *response_compressed, urpc_status_code want,
                       const char *what, char *why, size_t why_len) {
  Grpc__Testing__Payload payload;
  ic_zero_payload(&payload, LARGE_REQUEST);
  Grpc__Testing__BoolValue expect = GRPC__TESTING__BOOL_VALUE__INIT;
  expect.value = expect_compressed;
  Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
  req.response_size = LARGE_RESPONSE;
  req.payload = &payload;
  req.expect_compressed = response_compressed ? NULL : &expect;
  req.response_compressed = (Grpc__Testing__BoolValue *)response_compressed; /* only packed */
  ic_call *c = ic_call_start(ctx, IC_SERVICE "UnaryCall", o);
  if (!c) return ic_fail(why, why_len, "%s: out of memory", what);
  bool ok = ic_call_send(c, &req.base) == 0 && ic_call_close_send(c) == 0;
  if (!ok) ok = ic_fail(why, why_len, "%s: out of memory", what);
  if (ok && want != URPC_STATUS_OK) ok = ic_expect_end(c, want, NULL, what, why, why_len);
  if (ok && want == URPC_STATUS_OK)
    ok = ic_expect_ok(c, what, why, why_len) &&
         check_simple_response(c, response_compressed, what, why, why_len);
  ic_call_free(c);
  return ok;
}

bool ic_case_client_compressed_unary(ic_ctx *ctx, char *why, size_t why_len) {
  /* The probe: an uncompressed request that says it is compressed. A server that checks
   * answers INVALID_ARGUMENT; one that does not cannot take part in this case. */
  return unary_with(ctx, NULL, true, NULL, URPC_STATUS_INVALID_ARGUMENT,
                    "UnaryCall probe (uncompressed, expect_compressed true)", why, why_len) &&
         unary_with(ctx, &gzip_opts, true, NULL, URPC_STATUS_OK,
                    "UnaryCall (gzip, expect_compressed true)", why, why_len) &&
         unary_with(ctx, NULL, false, NULL, URPC_STATUS_OK,
                    "UnaryCall (uncompressed, expect_compressed false)", why, why_len);
}

/* The server compresses as asked: this client offers gzip and deflate (grpc-accept-encoding),
 * decompresses whatever comes, and checks each response's compressed flag. */
bool ic_case_server_compressed_unary(ic_ctx *ctx, char *why, size_t why_len) {
  Grpc__Testing__BoolValue yes = GRPC__TESTING__BOOL_VALUE__INIT,
                           no = GRPC__TESTING__BOOL_VALUE__INIT;
  yes.value = true;
  return unary_with(ctx, NULL, false, &yes, URPC_STATUS_OK, "UnaryCall (response_compressed true)",
                    why, why_len) &&
         unary_with(ctx, NULL, false, &no, URPC_STATUS_OK, "UnaryCall (response_compressed false)",
                    why, why_len);
}

static bool send_input(ic_call *c, size_t size, bool expect_compressed, unsigned flags) {
  Grpc__Testing__Payload payload;
  ic_zero_payload(&payload, size);
  Grpc__Testing__BoolValue expect = GRPC__TESTING__BOOL_VALUE__INIT;
  expect.value = expect_compressed;
  Grpc__Testing__StreamingInputCallRequest req = GRPC__TESTING__STREAMING_INPUT_CALL_REQUEST__INIT;
  req.payload = &payload;
  req.expect_compressed = &expect;
  return ic_call_send_flags(c, &req.base, flags) == 0;
}

/* The description's second message goes uncompressed inside the gzip call (grpc's
 * GRPC_WRITE_NO_COMPRESS), saying so with expect_compressed false: a server that refuses a
 * compressed message saying false (grpc C++'s) sees the flag is honoured. */
static bool plain_in_compressed_call(ic_call *c, size_t size) {
  return send_input(c, size, false, URPC_CLIENT_SEND_NO_COMPRESS);
}

bool ic_case_client_compressed_streaming(ic_ctx *ctx, char *why, size_t why_len) {
  ic_call *probe = ic_call_start(ctx, IC_SERVICE "StreamingInputCall", NULL);
  if (!probe) return ic_fail(why, why_len, "StreamingInputCall probe: out of memory");
  bool ok = send_input(probe, 27182, true, 0) && ic_call_close_send(probe) == 0;
  if (!ok) ok = ic_fail(why, why_len, "StreamingInputCall probe: out of memory");
  if (ok)
    ok = ic_expect_end(probe, URPC_STATUS_INVALID_ARGUMENT, NULL,
                       "StreamingInputCall probe (uncompressed, expect_compressed true)", why,
                       why_len);
  ic_call_free(probe);
  if (!ok) return false;

  const char *what = "StreamingInputCall (gzip, the second message plain)";
  ic_call *c = ic_call_start(ctx, IC_SERVICE "StreamingInputCall", &gzip_opts);
  if (!c) return ic_fail(why, why_len, "%s: out of memory", what);
  ok = send_input(c, 27182, true, 0) && plain_in_compressed_call(c, 45904) &&
       ic_call_close_send(c) == 0;
  if (!ok) ok = ic_fail(why, why_len, "%s: out of memory", what);
  if (ok) ok = ic_expect_ok(c, what, why, why_len);
  if (ok && ic_call_response_count(c) != 1)
    ok = ic_fail(why, why_len, "%s: %zu responses, expected one", what, ic_call_response_count(c));
  ic_bytes b = {0};
  if (ok && ic_call_response(c, 0, &b)) {
    Grpc__Testing__StreamingInputCallResponse *r =
        (Grpc__Testing__StreamingInputCallResponse *)ic_unpack(
            &grpc__testing__streaming_input_call_response__descriptor, &b, what, why, why_len);
    ok = r != NULL;
    if (r && r->aggregated_payload_size != 73086)
      ok = ic_fail(why, why_len, "%s: aggregated_payload_size %d, expected 73086", what,
                   r->aggregated_payload_size);
    if (r) protobuf_c_message_free_unpacked(&r->base, NULL);
  }
  ic_call_free(c);
  return ok;
}

bool ic_case_server_compressed_streaming(ic_ctx *ctx, char *why, size_t why_len) {
  static const int sizes[] = {31415, 92653};
  Grpc__Testing__BoolValue flags[2] = {GRPC__TESTING__BOOL_VALUE__INIT,
                                       GRPC__TESTING__BOOL_VALUE__INIT};
  flags[0].value = true;
  Grpc__Testing__ResponseParameters rp[2], *params[2];
  for (size_t i = 0; i < 2; i++) {
    grpc__testing__response_parameters__init(&rp[i]);
    rp[i].size = sizes[i];
    rp[i].compressed = &flags[i];
    params[i] = &rp[i];
  }
  Grpc__Testing__StreamingOutputCallRequest req =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
  req.n_response_parameters = 2;
  req.response_parameters = params;
  const char *what = "StreamingOutputCall (compressed true, false)";
  ic_call *c = ic_call_start(ctx, IC_SERVICE "StreamingOutputCall", NULL);
  if (!c) return ic_fail(why, why_len, "%s: out of memory", what);
  bool ok = ic_call_send(c, &req.base) == 0 && ic_call_close_send(c) == 0;
  if (!ok) ok = ic_fail(why, why_len, "%s: out of memory", what);
  if (ok) ok = ic_expect_ok(c, what, why, why_len);
  if (ok && ic_call_response_count(c) != 2)
    ok = ic_fail(why, why_len, "%s: %zu responses, expected 2", what, ic_call_response_count(c));
  for (size_t i = 0; i < 2 && ok; i++)
    ok = ic_check_output_response(c, i, (size_t)sizes[i], what, why, why_len) &&
         check_compressed_flag(c, i, flags[i].value, what, why, why_len);
  ic_call_free(c);
  return ok;
}

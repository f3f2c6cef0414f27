/* Unary cases: empty_unary, large_unary, unimplemented_method, unimplemented_service. */
#include <stdlib.h>

#include "cases.h"

#define LARGE_REQUEST  271828
#define LARGE_RESPONSE 314159

/* Made with the call driver rather than the unary helper: the helper hands over the unpacked
 * response, and the description would have the client check the bytes were zero. */
bool ic_case_empty_unary(ic_ctx *ctx, char *why, size_t why_len) {
  Grpc__Testing__Empty req = GRPC__TESTING__EMPTY__INIT;
  ic_call *c = ic_call_start(ctx, IC_SERVICE "EmptyCall", NULL);
  if (!c) return ic_fail(why, why_len, "EmptyCall: out of memory");
  bool ok = ic_call_send(c, &req.base) == 0 && ic_call_close_send(c) == 0;
  if (!ok) ok = ic_fail(why, why_len, "EmptyCall: out of memory");
  if (ok) ok = ic_expect_ok(c, "EmptyCall", why, why_len);
  ic_bytes b = {0};
  if (ok && ic_call_response_count(c) != 1)
    ok = ic_fail(why, why_len, "EmptyCall: %zu responses, expected one", ic_call_response_count(c));
  if (ok && ic_call_response(c, 0, &b) && b.len)
    ok = ic_fail(why, why_len, "EmptyCall: the response is %zu bytes, expected an empty message",
                 b.len);
  if (ok) {
    ProtobufCMessage *m =
        ic_unpack(&grpc__testing__empty__descriptor, &b, "EmptyCall", why, why_len);
    ok = m != NULL;
    if (m) protobuf_c_message_free_unpacked(m, NULL);
  }
  ic_call_free(c);
  return ok;
}

bool ic_case_large_unary(ic_ctx *ctx, char *why, size_t why_len) {
  Grpc__Testing__Payload payload;
  ic_zero_payload(&payload, LARGE_REQUEST);
  Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
  req.response_type = GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE;
  req.response_size = LARGE_RESPONSE;
  req.payload = &payload;
  urpc_status_code st;
  char msg[512];
  ic_bytes resp;
  ic_unary(ctx, IC_SERVICE "UnaryCall", &req.base, &grpc__testing__simple_response__descriptor,
           NULL, &st, msg, sizeof(msg), &resp);
  bool ok = ic_expect_status(st, msg, URPC_STATUS_OK, NULL, "UnaryCall", why, why_len);
  if (ok) {
    ProtobufCMessage *m =
        ic_unpack(&grpc__testing__simple_response__descriptor, &resp, "UnaryCall", why, why_len);
    ok = m && ic_check_payload(((Grpc__Testing__SimpleResponse *)m)->payload, LARGE_RESPONSE,
                               "UnaryCall", why, why_len);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
  }
  free(resp.data);
  return ok;
}

static bool expect_unimplemented(ic_ctx *ctx, const char *path, char *why, size_t why_len) {
  Grpc__Testing__Empty req = GRPC__TESTING__EMPTY__INIT;
  urpc_status_code st;
  char msg[512];
  ic_bytes resp;
  ic_unary(ctx, path, &req.base, &grpc__testing__empty__descriptor, NULL, &st, msg, sizeof(msg),
           &resp);
  free(resp.data);
  return ic_expect_status(st, msg, URPC_STATUS_UNIMPLEMENTED, NULL, path, why, why_len);
}

bool ic_case_unimplemented_method(ic_ctx *ctx, char *why, size_t why_len) {
  return expect_unimplemented(ctx, IC_SERVICE "UnimplementedCall", why, why_len);
}

bool ic_case_unimplemented_service(ic_ctx *ctx, char *why, size_t why_len) {
  return expect_unimplemented(ctx, "/grpc.testing.UnimplementedService/UnimplementedCall", why,
                              why_len);
}

/* Streaming cases: client_streaming, server_streaming, ping_pong, empty_stream. */
#include <stdlib.h>

#include "cases.h"

static const int request_sizes[] = {27182, 8, 1828, 45904};
static const int response_sizes[] = {31415, 9, 2653, 58979};

bool ic_case_client_streaming(ic_ctx *ctx, char *why, size_t why_len) {
  ic_call *c = ic_call_start(ctx, IC_SERVICE "StreamingInputCall", NULL);
  if (!c) return ic_fail(why, why_len, "StreamingInputCall: out of memory");
  bool ok = true;
  for (size_t i = 0; i < 4 && ok; i++) {
    Grpc__Testing__Payload payload;
    ic_zero_payload(&payload, (size_t)request_sizes[i]);
    Grpc__Testing__StreamingInputCallRequest req =
        GRPC__TESTING__STREAMING_INPUT_CALL_REQUEST__INIT;
    req.payload = &payload;
    ok = ic_call_send(c, &req.base) == 0;
  }
  if (ok) ok = ic_call_close_send(c) == 0;
  if (!ok) ok = ic_fail(why, why_len, "StreamingInputCall: out of memory");
  if (ok) ok = ic_expect_ok(c, "StreamingInputCall", why, why_len);
  if (ok && ic_call_response_count(c) != 1)
    ok = ic_fail(why, why_len, "StreamingInputCall: %zu responses, expected one",
                 ic_call_response_count(c));
  ic_bytes b = {0};
  if (ok && ic_call_response(c, 0, &b)) {
    Grpc__Testing__StreamingInputCallResponse *r =
        (Grpc__Testing__StreamingInputCallResponse *)ic_unpack(
            &grpc__testing__streaming_input_call_response__descriptor, &b, "StreamingInputCall",
            why, why_len);
    ok = r != NULL;
    if (r && r->aggregated_payload_size != 74922)
      ok = ic_fail(why, why_len, "StreamingInputCall: aggregated_payload_size %d, expected 74922",
                   r->aggregated_payload_size);
    if (r) protobuf_c_message_free_unpacked(&r->base, NULL);
  }
  ic_call_free(c);
  return ok;
}

/* All responses present, in order, with their sizes. */
static bool check_responses(ic_call *c, const int *sizes, size_t n, const char *what, char *why,
                            size_t why_len) {
  if (ic_call_response_count(c) != n)
    return ic_fail(why, why_len, "%s: %zu responses, expected %zu", what, ic_call_response_count(c),
                   n);
  for (size_t i = 0; i < n; i++)
    if (!ic_check_output_response(c, i, (size_t)sizes[i], what, why, why_len)) return false;
  return true;
}

bool ic_case_server_streaming(ic_ctx *ctx, char *why, size_t why_len) {
  Grpc__Testing__ResponseParameters rp[4], *params[4];
  for (size_t i = 0; i < 4; i++) {
    grpc__testing__response_parameters__init(&rp[i]);
    rp[i].size = response_sizes[i];
    params[i] = &rp[i];
  }
  Grpc__Testing__StreamingOutputCallRequest req =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
  req.n_response_parameters = 4;
  req.response_parameters = params;
  ic_call *c = ic_call_start(ctx, IC_SERVICE "StreamingOutputCall", NULL);
  if (!c) return ic_fail(why, why_len, "StreamingOutputCall: out of memory");
  bool ok = ic_call_send(c, &req.base) == 0 && ic_call_close_send(c) == 0;
  if (!ok) ok = ic_fail(why, why_len, "StreamingOutputCall: out of memory");
  if (ok) ok = ic_expect_ok(c, "StreamingOutputCall", why, why_len);
  if (ok) ok = check_responses(c, response_sizes, 4, "StreamingOutputCall", why, why_len);
  ic_call_free(c);
  return ok;
}

/* One request, then wait for its reply before the next: the server may only answer what it
 * was sent, so each reply proves the stream is full duplex. */
bool ic_case_ping_pong(ic_ctx *ctx, char *why, size_t why_len) {
  ic_call *c = ic_call_start(ctx, IC_SERVICE "FullDuplexCall", NULL);
  if (!c) return ic_fail(why, why_len, "FullDuplexCall: out of memory");
  bool ok = true;
  for (size_t i = 0; i < 4 && ok; i++) {
    Grpc__Testing__Payload payload;
    ic_zero_payload(&payload, (size_t)request_sizes[i]);
    Grpc__Testing__ResponseParameters rp = GRPC__TESTING__RESPONSE_PARAMETERS__INIT;
    rp.size = response_sizes[i];
    Grpc__Testing__ResponseParameters *params[] = {&rp};
    Grpc__Testing__StreamingOutputCallRequest req =
        GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
    req.n_response_parameters = 1;
    req.response_parameters = params;
    req.payload = &payload;
    if (ic_call_send(c, &req.base)) {
      ok = ic_fail(why, why_len, "FullDuplexCall: out of memory");
      break;
    }
    if (!ic_call_wait_responses(c, i + 1))
      ok = ic_fail(why, why_len, "FullDuplexCall: no reply to request %zu (%zu responses, %s)",
                   i + 1, ic_call_response_count(c),
                   ic_call_closed(c) ? ic_status_name(ic_call_status(c)) : "still open");
    else
      ok =
          ic_check_output_response(c, i, (size_t)response_sizes[i], "FullDuplexCall", why, why_len);
  }
  if (ok && ic_call_close_send(c)) ok = ic_fail(why, why_len, "FullDuplexCall: out of memory");
  if (ok) ok = ic_expect_ok(c, "FullDuplexCall", why, why_len);
  if (ok) ok = check_responses(c, response_sizes, 4, "FullDuplexCall", why, why_len);
  ic_call_free(c);
  return ok;
}

bool ic_case_empty_stream(ic_ctx *ctx, char *why, size_t why_len) {
  ic_call *c = ic_call_start(ctx, IC_SERVICE "FullDuplexCall", NULL);
  if (!c) return ic_fail(why, why_len, "FullDuplexCall: out of memory");
  bool ok = ic_call_close_send(c) == 0 && ic_expect_ok(c, "FullDuplexCall", why, why_len);
  if (ok && ic_call_response_count(c))
    ok = ic_fail(why, why_len, "FullDuplexCall: %zu responses, expected none",
                 ic_call_response_count(c));
  ic_call_free(c);
  return ok;
}

/* Calls that end early: timeout_on_sleeping_server (the deadline), cancel_after_begin and
 * cancel_after_first_response (the client cancels). */
#include "cases.h"

bool ic_case_timeout_on_sleeping_server(ic_ctx *ctx, char *why, size_t why_len) {
  static const urpc_client_call_options o = {.timeout_ns = 1000000}; /* 1 ms */
  Grpc__Testing__Payload payload;
  ic_zero_payload(&payload, 27182);
  Grpc__Testing__StreamingOutputCallRequest req =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
  req.payload = &payload;
  ic_call *c = ic_call_start(ctx, IC_SERVICE "FullDuplexCall", &o);
  if (!c) return ic_fail(why, why_len, "FullDuplexCall: out of memory");
  /* No half-close: the server waits for more, and only the deadline can end the call. The send
   * may find the call already over; that is no failure here. */
  bool ok = ic_call_send(c, &req.base) == 0;
  if (!ok) ok = ic_fail(why, why_len, "FullDuplexCall: out of memory");
  if (ok)
    ok = ic_expect_end(c, URPC_STATUS_DEADLINE_EXCEEDED, NULL,
                       "FullDuplexCall with a 1 ms deadline", why, why_len);
  ic_call_free(c);
  return ok;
}

bool ic_case_cancel_after_begin(ic_ctx *ctx, char *why, size_t why_len) {
  ic_call *c = ic_call_start(ctx, IC_SERVICE "StreamingInputCall", NULL);
  if (!c) return ic_fail(why, why_len, "StreamingInputCall: out of memory");
  bool ok = ic_call_cancel(c);
  if (!ok) ok = ic_fail(why, why_len, "StreamingInputCall: the cancelled call did not end");
  if (ok)
    ok =
        ic_expect_end(c, URPC_STATUS_CANCELLED, NULL, "StreamingInputCall cancelled", why, why_len);
  ic_call_free(c);
  return ok;
}

bool ic_case_cancel_after_first_response(ic_ctx *ctx, char *why, size_t why_len) {
  Grpc__Testing__Payload payload;
  ic_zero_payload(&payload, 27182);
  Grpc__Testing__ResponseParameters rp = GRPC__TESTING__RESPONSE_PARAMETERS__INIT;
  rp.size = 31415;
  Grpc__Testing__ResponseParameters *params[] = {&rp};
  Grpc__Testing__StreamingOutputCallRequest req =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
  req.n_response_parameters = 1;
  req.response_parameters = params;
  req.payload = &payload;
  ic_call *c = ic_call_start(ctx, IC_SERVICE "FullDuplexCall", NULL);
  if (!c) return ic_fail(why, why_len, "FullDuplexCall: out of memory");
  bool ok = ic_call_send(c, &req.base) == 0;
  if (!ok) ok = ic_fail(why, why_len, "FullDuplexCall: out of memory");
  if (ok && !ic_call_wait_responses(c, 1))
    ok = ic_fail(why, why_len, "FullDuplexCall: no response to cancel after (%s)",
                 ic_call_closed(c) ? ic_status_name(ic_call_status(c)) : "still open");
  if (ok) ok = ic_check_output_response(c, 0, 31415, "FullDuplexCall", why, why_len);
  if (ok && !ic_call_cancel(c))
    ok = ic_fail(why, why_len, "FullDuplexCall: the cancelled call did not end");
  if (ok)
    ok = ic_expect_end(c, URPC_STATUS_CANCELLED, NULL, "FullDuplexCall cancelled", why, why_len);
  ic_call_free(c);
  return ok;
}

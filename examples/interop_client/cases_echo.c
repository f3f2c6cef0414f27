/* What the server echoes: custom_metadata (request metadata back as response headers and
 * trailers), status_code_and_message and special_status_message (EchoStatus). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"

#define INITIAL_KEY    "x-grpc-test-echo-initial"
#define INITIAL_VALUE  "test_initial_metadata_value"
#define TRAILING_KEY   "x-grpc-test-echo-trailing-bin"
#define LARGE_REQUEST  271828
#define LARGE_RESPONSE 314159

static const uint8_t trailing_value[] = {0xab, 0xab, 0xab};
static const urpc_client_metadata echo_md[] = {
    {INITIAL_KEY, INITIAL_VALUE, sizeof(INITIAL_VALUE) - 1},
    {TRAILING_KEY, trailing_value, sizeof(trailing_value)},
};
static const urpc_client_call_options echo_opts = {.metadata = echo_md, .n_metadata = 2};

static bool check_md(ic_call *c, const char *key, bool trailer, const void *want, size_t len,
                     const char *what, char *why, size_t why_len) {
  ic_md m;
  const char *where = trailer ? "trailing" : "initial";
  if (!ic_call_metadata(c, key, trailer, &m))
    return ic_fail(why, why_len, "%s: no %s in the %s metadata", what, key, where);
  if (m.len == len && !memcmp(m.value, want, len)) return true;
  char hex[3 * 16 + 4] = "";
  for (size_t i = 0, o = 0; i < m.len && i < 16; i++)
    o += (size_t)snprintf(hex + o, sizeof(hex) - o, "%s%02x", i ? " " : "", m.value[i]);
  return ic_fail(why, why_len, "%s: %s in the %s metadata is %zu bytes (%s%s), expected %zu", what,
                 key, where, m.len, hex, m.len > 16 ? " ..." : "", len);
}

static bool check_echoed(ic_call *c, const char *what, char *why, size_t why_len) {
  return check_md(c, INITIAL_KEY, false, INITIAL_VALUE, sizeof(INITIAL_VALUE) - 1, what, why,
                  why_len) &&
         check_md(c, TRAILING_KEY, true, trailing_value, sizeof(trailing_value), what, why,
                  why_len);
}

/* UnaryCall through the call driver: the unary helper does not show response metadata. */
static bool metadata_unary(ic_ctx *ctx, char *why, size_t why_len) {
  Grpc__Testing__Payload payload;
  ic_zero_payload(&payload, LARGE_REQUEST);
  Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
  req.response_size = LARGE_RESPONSE;
  req.payload = &payload;
  ic_call *c = ic_call_start(ctx, IC_SERVICE "UnaryCall", &echo_opts);
  if (!c) return ic_fail(why, why_len, "UnaryCall: out of memory");
  bool ok = ic_call_send(c, &req.base) == 0 && ic_call_close_send(c) == 0;
  if (!ok) ok = ic_fail(why, why_len, "UnaryCall: out of memory");
  if (ok) ok = ic_expect_ok(c, "UnaryCall", why, why_len);
  if (ok && ic_call_response_count(c) != 1)
    ok = ic_fail(why, why_len, "UnaryCall: %zu responses, expected one", ic_call_response_count(c));
  ic_bytes b = {0};
  if (ok && ic_call_response(c, 0, &b)) {
    ProtobufCMessage *m =
        ic_unpack(&grpc__testing__simple_response__descriptor, &b, "UnaryCall", why, why_len);
    ok = m && ic_check_payload(((Grpc__Testing__SimpleResponse *)m)->payload, LARGE_RESPONSE,
                               "UnaryCall", why, why_len);
    if (m) protobuf_c_message_free_unpacked(m, NULL);
  }
  if (ok) ok = check_echoed(c, "UnaryCall", why, why_len);
  ic_call_free(c);
  return ok;
}

static bool metadata_bidi(ic_ctx *ctx, char *why, size_t why_len) {
  Grpc__Testing__Payload payload;
  ic_zero_payload(&payload, LARGE_REQUEST);
  Grpc__Testing__ResponseParameters rp = GRPC__TESTING__RESPONSE_PARAMETERS__INIT;
  rp.size = LARGE_RESPONSE;
  Grpc__Testing__ResponseParameters *params[] = {&rp};
  Grpc__Testing__StreamingOutputCallRequest req =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
  req.n_response_parameters = 1;
  req.response_parameters = params;
  req.payload = &payload;
  ic_call *c = ic_call_start(ctx, IC_SERVICE "FullDuplexCall", &echo_opts);
  if (!c) return ic_fail(why, why_len, "FullDuplexCall: out of memory");
  bool ok = ic_call_send(c, &req.base) == 0;
  if (!ok) ok = ic_fail(why, why_len, "FullDuplexCall: out of memory");
  /* As grpc's clients do: read the response, then half-close. */
  if (ok && !ic_call_wait_responses(c, 1))
    ok = ic_fail(why, why_len, "FullDuplexCall: no response (%s)",
                 ic_call_closed(c) ? ic_status_name(ic_call_status(c)) : "still open");
  if (ok) ok = ic_check_output_response(c, 0, LARGE_RESPONSE, "FullDuplexCall", why, why_len);
  if (ok && ic_call_close_send(c)) ok = ic_fail(why, why_len, "FullDuplexCall: out of memory");
  if (ok) ok = ic_expect_ok(c, "FullDuplexCall", why, why_len);
  if (ok && ic_call_response_count(c) != 1)
    ok = ic_fail(why, why_len, "FullDuplexCall: %zu responses, expected one",
                 ic_call_response_count(c));
  if (ok) ok = check_echoed(c, "FullDuplexCall", why, why_len);
  ic_call_free(c);
  return ok;
}

bool ic_case_custom_metadata(ic_ctx *ctx, char *why, size_t why_len) {
  return metadata_unary(ctx, why, why_len) && metadata_bidi(ctx, why, why_len);
}

/* UnaryCall with response_status {code 2, message}: the status comes back as it was sent. */
static bool echo_status_unary(ic_ctx *ctx, const char *message, char *why, size_t why_len) {
  Grpc__Testing__EchoStatus es = GRPC__TESTING__ECHO_STATUS__INIT;
  es.code = URPC_STATUS_UNKNOWN;
  es.message = (char *)message;
  Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
  req.response_status = &es;
  urpc_status_code st;
  char got[512];
  ic_bytes resp;
  ic_unary(ctx, IC_SERVICE "UnaryCall", &req.base, &grpc__testing__simple_response__descriptor,
           NULL, &st, got, sizeof(got), &resp);
  free(resp.data);
  return ic_expect_status(st, got, URPC_STATUS_UNKNOWN, message, "UnaryCall", why, why_len);
}

/* The same on FullDuplexCall, half-closed after the one request. Sends the server refuses once
 * it has ended the call are not failures: ending early is what the request asks for. */
static bool echo_status_bidi(ic_ctx *ctx, const char *message, char *why, size_t why_len) {
  Grpc__Testing__EchoStatus es = GRPC__TESTING__ECHO_STATUS__INIT;
  es.code = URPC_STATUS_UNKNOWN;
  es.message = (char *)message;
  Grpc__Testing__StreamingOutputCallRequest req =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
  req.response_status = &es;
  ic_call *c = ic_call_start(ctx, IC_SERVICE "FullDuplexCall", NULL);
  if (!c) return ic_fail(why, why_len, "FullDuplexCall: out of memory");
  bool ok = ic_call_send(c, &req.base) == 0 && ic_call_close_send(c) == 0;
  if (!ok) ok = ic_fail(why, why_len, "FullDuplexCall: out of memory");
  if (ok) ok = ic_expect_end(c, URPC_STATUS_UNKNOWN, message, "FullDuplexCall", why, why_len);
  ic_call_free(c);
  return ok;
}

bool ic_case_status_code_and_message(ic_ctx *ctx, char *why, size_t why_len) {
  static const char message[] = "test status message";
  return echo_status_unary(ctx, message, why, why_len) &&
         echo_status_bidi(ctx, message, why, why_len);
}

bool ic_case_special_status_message(ic_ctx *ctx, char *why, size_t why_len) {
  /* Tabs, CR LF, U+263A and U+1F608, as the description spells it. */
  static const char message[] = "\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and "
                                "non-BMP \xf0\x9f\x98\x88\t\n";
  return echo_status_unary(ctx, message, why, why_len);
}

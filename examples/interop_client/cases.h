/* The cases of grpc's doc/interop-test-descriptions.md this client runs, and what they share:
 * zero payloads, the checks on responses and statuses. A case returns true when every assertion
 * of its description held, else false with one line in `why` saying what differed. */
#ifndef URPC_INTEROP_CLIENT_CASES_H
#define URPC_INTEROP_CLIENT_CASES_H

#include <stdbool.h>
#include <stddef.h>

#include "driver.h"
#include "grpc/testing/empty.pb-c.h"
#include "grpc/testing/messages.pb-c.h"
#include "grpc/testing/test.pb-c.h"

#define IC_SERVICE "/grpc.testing.TestService/"

typedef bool (*ic_case_fn)(ic_ctx *ctx, char *why, size_t why_len);

typedef struct ic_case {
  const char *name;
  ic_case_fn run;
} ic_case;

/* In the order "all" runs them. */
extern const ic_case ic_cases[];
extern const size_t ic_case_count;
const ic_case *ic_case_find(const char *name);

/* cases_unary.c */
bool ic_case_empty_unary(ic_ctx *ctx, char *why, size_t why_len);
bool ic_case_large_unary(ic_ctx *ctx, char *why, size_t why_len);
bool ic_case_unimplemented_method(ic_ctx *ctx, char *why, size_t why_len);
bool ic_case_unimplemented_service(ic_ctx *ctx, char *why, size_t why_len);
/* cases_echo.c */
bool ic_case_custom_metadata(ic_ctx *ctx, char *why, size_t why_len);
bool ic_case_status_code_and_message(ic_ctx *ctx, char *why, size_t why_len);
bool ic_case_special_status_message(ic_ctx *ctx, char *why, size_t why_len);
/* cases_streaming.c */
bool ic_case_client_streaming(ic_ctx *ctx, char *why, size_t why_len);
bool ic_case_server_streaming(ic_ctx *ctx, char *why, size_t why_len);
bool ic_case_ping_pong(ic_ctx *ctx, char *why, size_t why_len);
bool ic_case_empty_stream(ic_ctx *ctx, char *why, size_t why_len);
/* cases_cancel.c */
bool ic_case_timeout_on_sleeping_server(ic_ctx *ctx, char *why, size_t why_len);
bool ic_case_cancel_after_begin(ic_ctx *ctx, char *why, size_t why_len);
bool ic_case_cancel_after_first_response(ic_ctx *ctx, char *why, size_t why_len);
/* cases_compression.c */
bool ic_case_client_compressed_unary(ic_ctx *ctx, char *why, size_t why_len);
bool ic_case_server_compressed_unary(ic_ctx *ctx, char *why, size_t why_len);
bool ic_case_client_compressed_streaming(ic_ctx *ctx, char *why, size_t why_len);
bool ic_case_server_compressed_streaming(ic_ctx *ctx, char *why, size_t why_len);

/* ---- checks.c ---- */

/* Formats `why` and returns false, so a check reads `return ic_fail(...)`. */
bool ic_fail(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A payload of n zero bytes (COMPRESSABLE), pointing at a shared buffer. */
void ic_zero_payload(Grpc__Testing__Payload *p, size_t n);
/* The description's golden payload: present, COMPRESSABLE, `size` bytes, all zero. */
bool ic_check_payload(const Grpc__Testing__Payload *p, size_t size, const char *what, char *why,
                      size_t why_len);

/* Unpacks bytes as `d`; NULL (with `why` filled) when they are not such a message. */
ProtobufCMessage *ic_unpack(const ProtobufCMessageDescriptor *d, const ic_bytes *b,
                            const char *what, char *why, size_t why_len);

/* Waits for the call's end and checks it is `want` (and, if want_message is not NULL, exactly
 * that status message). */
bool ic_expect_end(ic_call *c, urpc_status_code want, const char *want_message, const char *what,
                   char *why, size_t why_len);
/* As above for OK, and no send or half-close refused on the way. */
bool ic_expect_ok(ic_call *c, const char *what, char *why, size_t why_len);
/* A status (of ic_unary) is `want`, with exactly `want_message` unless it is NULL. */
bool ic_expect_status(urpc_status_code got, const char *got_message, urpc_status_code want,
                      const char *want_message, const char *what, char *why, size_t why_len);

/* Response i of a call unpacked as a StreamingOutputCallResponse, its payload checked to be
 * `size` zero bytes. */
bool ic_check_output_response(ic_call *c, size_t i, size_t size, const char *what, char *why,
                              size_t why_len);

#endif

/* W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate`
 * values parsed strictly, and the traceparent a server sends downstream. Sans-IO, no allocation:
 * unit-tested and fuzzed on bytes alone. Private to obs/. */
#ifndef URPC_OBS_TRACECONTEXT_H
#define URPC_OBS_TRACECONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OBS_TRACEPARENT_LEN    55  /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define OBS_TRACESTATE_MAX     512 /* longer lists are dropped (the spec lets us truncate) */
#define OBS_TRACESTATE_MEMBERS 32

#define OBS_TRACE_FLAG_SAMPLED 0x01

typedef struct obs_trace_ctx {
  uint8_t trace_id[16];
  uint8_t span_id[8]; /* the parent's span id, as received */
  uint8_t flags;      /* trace-flags as received (only SAMPLED has a meaning to us) */
} obs_trace_ctx;

/* Parses one traceparent value (`len` bytes, not NUL-terminated; leading and trailing spaces
 * and tabs allowed). Version 00: exactly 55 characters. A higher version (not ff): at least 55,
 * the first 55 as version 00 and, if longer, a '-' after them. Lowercase hex only; all-zero
 * trace or parent ids are invalid. Returns 0, or -EINVAL (then start a new trace). */
int obs_traceparent_parse(const char *s, size_t len, obs_trace_ctx *out);

/* Writes a version-00 traceparent for (trace_id, span_id, flags) and a NUL into `out`. */
void obs_traceparent_format(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags,
                            char out[OBS_TRACEPARENT_LEN + 1]);

/* Checks a tracestate value (the comma-joined values of every tracestate header): at most 32
 * list members, each key=value with the spec's key and value grammar, no key twice, empty
 * members allowed, at most OBS_TRACESTATE_MAX bytes. Returns 0 or -EINVAL (then drop it). */
int obs_tracestate_check(const char *s, size_t len);

/* Lowercase hex of `n` bytes, NUL-terminated: `out` holds 2n + 1. */
void obs_hex(const uint8_t *in, size_t n, char *out);

#endif

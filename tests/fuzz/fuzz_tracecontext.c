/* W3C Trace Context parsing (obs/tracecontext.h): the input split at its first NUL into a
 * traceparent and a tracestate. A traceparent that parses has non-zero ids, formats back to a
 * version-00 value that parses to the same ids and flags, and equals the input's first 55
 * characters (after optional whitespace) when the input is lowercase version 00; tracestate
 * checking never reads past its input (ASan) and accepts nothing over the bound. */
#include <string.h>

#include "fuzz_check.h"
#include "obs/tracecontext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t tp_len = nul ? (size_t)(nul - data) : size;
  /* copies of exactly the lengths, so that ASan sees any overread */
  char *tp = malloc(tp_len ? tp_len : 1);
  if (!tp) abort();
  memcpy(tp, data, tp_len);
  obs_trace_ctx c;
  if (obs_traceparent_parse(tp, tp_len, &c) == 0) {
    static const uint8_t zero[16];
    FUZZ_CHECK(memcmp(c.trace_id, zero, 16) && memcmp(c.span_id, zero, 8), "zero id accepted");
    char out[OBS_TRACEPARENT_LEN + 1];
    obs_traceparent_format(c.trace_id, c.span_id, c.flags, out);
    obs_trace_ctx back;
    FUZZ_CHECK(obs_traceparent_parse(out, OBS_TRACEPARENT_LEN, &back) == 0, "own output refused");
    FUZZ_CHECK(!memcmp(&back, &c, sizeof(c)), "round trip changed the context");
    size_t lead = 0;
    while (lead < tp_len && (tp[lead] == ' ' || tp[lead] == '\t')) lead++;
    if (lead < tp_len && tp_len - lead >= 2 && !memcmp(tp + lead, "00", 2))
      FUZZ_CHECK(!memcmp(tp + lead, out, OBS_TRACEPARENT_LEN), "version 00 not as given");
  }
  free(tp);
  if (nul) {
    size_t ts_len = size - tp_len - 1;
    char *ts = malloc(ts_len ? ts_len : 1);
    if (!ts) abort();
    memcpy(ts, nul + 1, ts_len);
    if (obs_tracestate_check(ts, ts_len) == 0)
      FUZZ_CHECK(ts_len <= OBS_TRACESTATE_MAX, "tracestate of %zu accepted", ts_len);
    free(ts);
  }
  return 0;
}

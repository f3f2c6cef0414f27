/* Base64 of -bin metadata (rpc/base64.h): decoding anything stays within
 * rpc_base64_decoded_max and gives the length the unpadded input implies; encoding anything
 * has the announced length and decodes back to it. */
#include <string.h>

#include "fuzz_check.h"
#include "rpc/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Decode the input as text, into a buffer of exactly the documented bound. */
  size_t max = rpc_base64_decoded_max(size);
  uint8_t *out = malloc(max);
  if (!out) abort();
  long n = rpc_base64_decode((const char *)data, size, out);
  if (n >= 0) {
    size_t chars = size;
    while (chars > 0 && data[chars - 1] == '=') chars--;
    FUZZ_CHECK((size_t)n == chars * 6 / 8, "%ld bytes from %zu characters", n, chars);
    /* Re-encoding gives the input back but for the unused low bits of the last character. */
    char *again = malloc(rpc_base64_encoded_len((size_t)n) + 1);
    if (!again) abort();
    size_t m = rpc_base64_encode(out, (size_t)n, again);
    FUZZ_CHECK(m == chars, "re-encoded to %zu characters, input had %zu", m, chars);
    if (m > 1) FUZZ_CHECK(memcmp(again, data, m - 1) == 0, "re-encoding differs");
    free(again);
  }
  free(out);

  /* Encode the input as bytes and decode it back. */
  size_t elen = rpc_base64_encoded_len(size);
  char *enc = malloc(elen + 1);
  uint8_t *dec = malloc(rpc_base64_decoded_max(elen));
  if (!enc || !dec) abort();
  size_t w = rpc_base64_encode(data, size, enc);
  FUZZ_CHECK(w == elen, "wrote %zu, announced %zu", w, elen);
  long back = rpc_base64_decode(enc, elen, dec);
  FUZZ_CHECK(back == (long)size && memcmp(dec, data, size) == 0, "round trip: %ld of %zu", back,
             size);
  free(enc);
  free(dec);
  return 0;
}

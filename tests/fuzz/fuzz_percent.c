/* grpc-message percent-encoding (rpc/percent.h): encoding anything gives printable ASCII of
 * the announced length that decodes back to the input; decoding anything never writes more
 * than it reads and leaves escape-free text unchanged. */
#include <string.h>

#include "fuzz_check.h"
#include "rpc/percent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *in = (const char *)data;
  size_t enc_len = rpc_percent_encoded_len(in, size);
  FUZZ_CHECK(enc_len >= size && enc_len <= 3 * size, "encoded length %zu for %zu", enc_len, size);
  char *enc = malloc(enc_len + 1), *dec = malloc(size + 1), *raw = malloc(size + 1);
  if (!enc || !dec || !raw) abort();
  size_t n = rpc_percent_encode(in, size, enc);
  FUZZ_CHECK(n == enc_len, "wrote %zu, announced %zu", n, enc_len);
  for (size_t i = 0; i < n; i++)
    FUZZ_CHECK(enc[i] >= 0x20 && enc[i] <= 0x7e, "byte %02x at %zu", (unsigned char)enc[i], i);
  size_t back = rpc_percent_decode(enc, n, dec);
  FUZZ_CHECK(back == size && memcmp(dec, in, size) == 0, "round trip changed the text");

  /* Decoding arbitrary bytes. */
  size_t m = rpc_percent_decode(in, size, raw);
  FUZZ_CHECK(m <= size, "decoded %zu bytes from %zu", m, size);
  if (!memchr(in, '%', size)) FUZZ_CHECK(m == size && memcmp(raw, in, size) == 0, "no escapes");
  free(enc);
  free(dec);
  free(raw);
  return 0;
}

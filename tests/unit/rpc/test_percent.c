/* grpc-message percent-encoding, both ways. */
#include <criterion/criterion.h>
#include <string.h>

#include "rpc/percent.h"

static void roundtrip(const char *in) {
  size_t n = strlen(in);
  char enc[1024], dec[1024];
  size_t elen = rpc_percent_encoded_len(in, n);
  cr_assert_eq(rpc_percent_encode(in, n, enc), elen);
  for (size_t i = 0; i < elen; i++) cr_assert(enc[i] >= 0x20 && enc[i] <= 0x7E);
  size_t dlen = rpc_percent_decode(enc, elen, dec);
  cr_assert_eq(dlen, n);
  cr_assert_eq(memcmp(dec, in, n), 0);
}

Test(percent, plain_ascii_is_unchanged) {
  char out[64];
  const char *in = "Hello, world! (ok)";
  size_t n = rpc_percent_encode(in, strlen(in), out);
  cr_assert_eq(n, strlen(in));
  cr_assert_eq(memcmp(out, in, n), 0);
}

Test(percent, escapes_percent_controls_and_utf8) {
  const char *in = "50% \t\xe2\x82\xac";
  char out[64];
  size_t n = rpc_percent_encode(in, strlen(in), out);
  out[n] = 0;
  cr_assert_str_eq(out, "50%25 %09%E2%82%AC");
}

Test(percent, roundtrips) {
  roundtrip("");
  roundtrip("%%%");
  roundtrip("\x01\x7f\xff tab\there");
  roundtrip("\xf0\x9f\x98\x80 emoji");
}

Test(percent, malformed_escapes_pass_through) {
  const char *in = "bad %zz end %4";
  char out[64];
  size_t n = rpc_percent_decode(in, strlen(in), out);
  out[n] = 0;
  cr_assert_str_eq(out, "bad %zz end %4");
}

Test(percent, lowercase_hex_decodes) {
  char out[8];
  size_t n = rpc_percent_decode("%e2%82%ac", 9, out);
  cr_assert_eq(n, 3);
  cr_assert_eq(memcmp(out, "\xe2\x82\xac", 3), 0);
}

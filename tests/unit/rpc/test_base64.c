/* "-bin" metadata codec: padded and unpadded input, hostile input refused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "rpc/base64.h"

static void check_decode(const char *in, const char *want, size_t want_len) {
  uint8_t out[64];
  long n = rpc_base64_decode(in, strlen(in), out);
  cr_assert_eq(n, (long)want_len, "'%s' → %ld", in, n);
  cr_assert_eq(memcmp(out, want, want_len), 0, "'%s'", in);
}

Test(base64, rfc4648_vectors_padded_and_unpadded) {
  check_decode("", "", 0);
  check_decode("Zg==", "f", 1);
  check_decode("Zg", "f", 1);
  check_decode("Zm8=", "fo", 2);
  check_decode("Zm8", "fo", 2);
  check_decode("Zm9v", "foo", 3);
  check_decode("Zm9vYg==", "foob", 4);
  check_decode("Zm9vYmE", "fooba", 5);
  check_decode("Zm9vYmFy", "foobar", 6);
  check_decode("q6ur", "\xab\xab\xab", 3);
}

Test(base64, encode_is_unpadded_and_roundtrips) {
  uint8_t in[256];
  for (int i = 0; i < 256; i++) in[i] = (uint8_t)(i * 7 + 3);
  for (size_t n = 0; n <= 40; n++) {
    char enc[512];
    uint8_t dec[512];
    size_t e = rpc_base64_encode(in, n, enc);
    cr_assert_eq(e, rpc_base64_encoded_len(n));
    for (size_t i = 0; i < e; i++) cr_assert_neq(enc[i], '=');
    cr_assert_eq(rpc_base64_decode(enc, e, dec), (long)n);
    cr_assert_eq(memcmp(dec, in, n), 0);
  }
}

Test(base64, hostile_input) {
  uint8_t out[64];
  const char *bad[] = {"Z", "Zm9vY", "Zm9v!A==", "Zg=A", "Zg===", "=Zg=", "Zm 9v", "Zm9v\n"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_assert_eq(rpc_base64_decode(bad[i], strlen(bad[i]), out), -EINVAL, "'%s' accepted", bad[i]);
}

/* grpc-timeout (rpc/timeout.h) against a reference written from the spec: 1 to 8 ASCII digits
 * and one unit of H M S m u n, saturated at INT64_MAX nanoseconds. */
#include <errno.h>
#include <string.h>

#include "fuzz_check.h"
#include "rpc/timeout.h"

static int reference(const uint8_t *v, size_t n, int64_t *ns) {
  if (n < 2 || n > 9) return -EINVAL;
  unsigned __int128 value = 0;
  for (size_t i = 0; i + 1 < n; i++) {
    if (v[i] < '0' || v[i] > '9') return -EINVAL;
    value = value * 10 + (v[i] - '0');
  }
  static const char units[] = "HMSmun";
  static const int64_t scale[] = {3600000000000LL, 60000000000LL, 1000000000LL,
                                  1000000LL,       1000LL,        1LL};
  const char *u = v[n - 1] ? memchr(units, v[n - 1], 6) : NULL;
  if (!u) return -EINVAL;
  unsigned __int128 r = value * (unsigned __int128)scale[u - units];
  *ns = r > INT64_MAX ? INT64_MAX : (int64_t)r;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy: the parser must not read past `n` (ASan sees the heap block's end). */
  char *v = malloc(size ? size : 1);
  if (!v) return 0;
  if (size) memcpy(v, data, size);
  int64_t got = -7, want = -7;
  int rc = rpc_timeout_parse(v, size, &got);
  int ref = reference(data, size, &want);
  FUZZ_CHECK(rc == ref, "rc %d, reference %d", rc, ref);
  if (rc == 0) FUZZ_CHECK(got == want, "%lld ns, reference %lld", (long long)got, (long long)want);
  if (rc == 0) FUZZ_CHECK(got >= 0, "negative timeout %lld", (long long)got);
  free(v);
  return 0;
}

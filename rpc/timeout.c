#include <errno.h>

#include "rpc/timeout.h"

int rpc_timeout_parse(const char *v, size_t n, int64_t *ns) {
  if (n < 2 || n > 9) return -EINVAL;
  int64_t value = 0;
  for (size_t i = 0; i + 1 < n; i++) {
    if (v[i] < '0' || v[i] > '9') return -EINVAL;
    value = value * 10 + (v[i] - '0');
  }
  int64_t unit;
  switch (v[n - 1]) {
  case 'H':
    unit = 3600LL * 1000000000LL;
    break;
  case 'M':
    unit = 60LL * 1000000000LL;
    break;
  case 'S':
    unit = 1000000000LL;
    break;
  case 'm':
    unit = 1000000LL;
    break;
  case 'u':
    unit = 1000LL;
    break;
  case 'n':
    unit = 1;
    break;
  default:
    return -EINVAL;
  }
  /* 8 digits of hours overflow int64 nanoseconds: saturate. */
  *ns = value > INT64_MAX / unit ? INT64_MAX : value * unit;
  return 0;
}

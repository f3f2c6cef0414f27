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

size_t rpc_timeout_format(int64_t ns, char out[RPC_TIMEOUT_MAX_LEN]) {
  static const struct {
    int64_t ns;
    char unit;
  } units[] = {{1, 'n'},
               {1000LL, 'u'},
               {1000000LL, 'm'},
               {1000000000LL, 'S'},
               {60LL * 1000000000LL, 'M'},
               {3600LL * 1000000000LL, 'H'}};
  if (ns < 1) ns = 1;
  int64_t value = 0;
  char unit = 'H';
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    value = ns / units[i].ns + (ns % units[i].ns != 0);
    unit = units[i].unit;
    if (value <= 99999999) break;
  }
  if (value > 99999999) value = 99999999; /* past 11,415 years: the longest there is */
  char digits[8];
  size_t n = 0;
  do digits[n++] = (char)('0' + value % 10);
  while ((value /= 10));
  for (size_t i = 0; i < n; i++) out[i] = digits[n - 1 - i];
  out[n] = unit;
  return n + 1;
}

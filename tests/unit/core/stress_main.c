/* The ring stress runs without Criterion, for the ThreadSanitizer pass of tests/run.sh
 * (Criterion crashes under TSan). Usage: stress_core spsc|mpsc|spmc N. Exits 0 when every
 * check passed, 1 otherwise (the failures are on stderr), 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress.h"

int main(int argc, char **argv) {
  unsigned long long n = argc == 3 ? strtoull(argv[2], NULL, 10) : 0;
  if (n == 0) {
    fprintf(stderr, "usage: %s spsc|mpsc|spmc N\n", argv[0]);
    return 2;
  }
  int bad;
  if (strcmp(argv[1], "spsc") == 0)
    bad = stress_spsc(n);
  else if (strcmp(argv[1], "mpsc") == 0)
    bad = stress_mpsc(n);
  else if (strcmp(argv[1], "spmc") == 0)
    bad = stress_spmc(n);
  else
    return 2;
  printf("%s %llu: %s\n", argv[1], n, bad ? "FAILED" : "ok");
  return bad ? 1 : 0;
}

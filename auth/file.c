/* See file.h. */
#include "auth/file.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int auth_read_file(const char *path, size_t max, char **out, size_t *len, char *why,
                   size_t why_len) {
  FILE *f = fopen(path, "re");
  if (!f) {
    int err = -errno;
    snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
    return err;
  }
  char *buf = malloc(max + 1);
  size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
  bool bad = !buf || ferror(f) || n > max;
  fclose(f);
  if (bad) {
    if (!buf)
      snprintf(why, why_len, "cannot read %s: out of memory", path);
    else if (n > max)
      snprintf(why, why_len, "cannot read %s: larger than %zu KiB", path, max >> 10);
    else
      snprintf(why, why_len, "cannot read %s: read error", path);
    free(buf);
    return !buf ? -ENOMEM : -EINVAL;
  }
  *out = buf;
  *len = n;
  return 0;
}

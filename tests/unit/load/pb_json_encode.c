/* Test helper for check_pb_json.py: encodes JSON requests with bench/load/pb_json.h.
 *
 *   pb_json_encode PROTOSET CALL_OR_TYPE
 *
 * reads one JSON request per line on stdin and prints, per line, the protobuf bytes in hex
 * ("ok <hex>") or "error <message>". CALL_OR_TYPE is a method ("pkg.Svc/Method" or
 * "pkg.Svc.Method", its input type is used) or a message type's full name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/load/descset.h"
#include "bench/load/pb_json.h"

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *p = NULL;
  size_t cap = 0;
  *len = 0;
  for (;;) {
    if (*len == cap) {
      cap = cap ? cap * 2 : 65536;
      uint8_t *q = realloc(p, cap);
      if (!q) break;
      p = q;
    }
    size_t n = fread(p + *len, 1, cap - *len, f);
    if (!n) break;
    *len += n;
  }
  fclose(f);
  return p;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s PROTOSET CALL_OR_TYPE < json-lines\n", argv[0]);
    return 2;
  }
  size_t len;
  uint8_t *set = read_file(argv[1], &len);
  load_descset *ds;
  if (!set || load_descset_new(&ds) || load_descset_add_set(ds, set, len) <= 0) {
    fprintf(stderr, "cannot load %s\n", argv[1]);
    return 2;
  }
  free(set);
  const load_type *type;
  load_method m;
  if (load_descset_method(ds, argv[2], &m) == 0) {
    type = m.input;
    fprintf(stderr, "%s -> %s\n", m.path, type->full_name);
  } else if (!(type = load_descset_type(ds, argv[2])) || !type->msg) {
    fprintf(stderr, "no method or message %s\n", argv[2]);
    return 2;
  }
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) > 0) {
    uint8_t *out;
    size_t n;
    char err[512];
    int rc = load_pb_from_json_text(ds, type, line, &out, &n, err, sizeof(err));
    if (rc == 0) {
      fputs("ok ", stdout);
      for (size_t i = 0; i < n; i++) printf("%02x", out[i]);
      putchar('\n');
      free(out);
    } else if (rc == -EINVAL) {
      printf("error %s\n", err);
    } else {
      return 3;
    }
  }
  free(line);
  load_descset_free(ds);
  return 0;
}

/* The run's request messages and metadata (request.h). */
#include "bench/load/request.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bench/load/pb_json.h"

static int add_message(load_request *r, uint8_t *data, size_t len) {
  load_message *m = realloc(r->msgs, (r->n_msgs + 1) * sizeof(*m));
  if (!m) return -ENOMEM;
  r->msgs = m;
  r->msgs[r->n_msgs++] = (load_message){.data = data, .len = len};
  return 0;
}

int load_request_binary(load_request *r, const uint8_t *data, size_t len) {
  uint8_t *copy = NULL;
  if (len) {
    copy = malloc(len);
    if (!copy) return -ENOMEM;
    memcpy(copy, data, len);
  }
  int rc = add_message(r, copy, len);
  if (rc) free(copy);
  return rc;
}

static int add_json(load_request *r, const load_descset *ds, const load_type *type, const cJSON *v,
                    char *err, size_t err_len) {
  uint8_t *out = NULL;
  size_t len = 0;
  int rc = load_pb_from_json(ds, type, v, &out, &len, err, err_len);
  if (rc) return rc;
  rc = add_message(r, out, len);
  if (rc) free(out);
  return rc;
}

int load_request_json(load_request *r, const load_descset *ds, const load_type *type,
                      const char *text, char *err, size_t err_len) {
  const char *p = text ? text : "";
  while (isspace((unsigned char)*p)) p++;
  if (!*p) return load_request_binary(r, NULL, 0);
  if (!type) {
    snprintf(err, err_len, "JSON data needs the method's descriptor");
    return -EINVAL;
  }
  cJSON *json = cJSON_Parse(p);
  if (!json) {
    const char *at = cJSON_GetErrorPtr();
    snprintf(err, err_len, "-d: not JSON (near '%.20s')", at ? at : "");
    return -EINVAL;
  }
  int rc = 0;
  if (cJSON_IsArray(json)) {
    if (!cJSON_GetArraySize(json)) {
      snprintf(err, err_len, "-d: an empty array holds no request");
      rc = -EINVAL;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, json) {
      if (rc) break;
      rc = add_json(r, ds, type, e, err, err_len);
    }
  } else {
    rc = add_json(r, ds, type, json, err, err_len);
  }
  cJSON_Delete(json);
  return rc;
}

int load_request_metadata(load_request *r, const char *json, char *err, size_t err_len) {
  cJSON *j = cJSON_Parse(json);
  if (!j || !cJSON_IsObject(j)) {
    snprintf(err, err_len, "-H: want a JSON object of strings, e.g. '{\"key\":\"value\"}'");
    cJSON_Delete(j);
    return -EINVAL;
  }
  int rc = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, j) {
    if (!cJSON_IsString(e)) {
      snprintf(err, err_len, "-H: the value of '%s' is not a string", e->string);
      rc = -EINVAL;
      break;
    }
    urpc_client_metadata *md = realloc(r->md, (r->n_md + 1) * sizeof(*md));
    if (!md) {
      rc = -ENOMEM;
      break;
    }
    r->md = md;
    char *key = strdup(e->string), *value = strdup(e->valuestring);
    if (!key || !value) {
      free(key);
      free(value);
      rc = -ENOMEM;
      break;
    }
    for (char *c = key; *c; c++) *c = (char)tolower((unsigned char)*c);
    r->md[r->n_md++] = (urpc_client_metadata){.key = key, .value = value, .len = strlen(value)};
  }
  cJSON_Delete(j);
  return rc;
}

void load_request_dispose(load_request *r) {
  for (size_t i = 0; i < r->n_msgs; i++) free(r->msgs[i].data);
  free(r->msgs);
  for (size_t i = 0; i < r->n_md; i++) {
    free((char *)r->md[i].key);
    free((void *)r->md[i].value);
  }
  free(r->md);
  memset(r, 0, sizeof(*r));
}

int load_read_file(const char *path, uint8_t **out, size_t *len, char *err, size_t err_len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    snprintf(err, err_len, "%s: %s", path, strerror(e));
    return -e;
  }
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (cap - n < 4096) {
      size_t ncap = cap ? cap * 2 : 65536;
      uint8_t *b = realloc(buf, ncap + 1);
      if (!b) {
        rc = -ENOMEM;
        snprintf(err, err_len, "%s: out of memory", path);
        break;
      }
      buf = b;
      cap = ncap;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) {
        rc = -EIO;
        snprintf(err, err_len, "%s: read error", path);
      }
      break;
    }
  }
  fclose(f);
  if (rc) {
    free(buf);
    return rc;
  }
  buf[n] = 0;
  *out = buf;
  *len = n;
  return 0;
}

/* Custom metadata: request headers kept for handlers (-bin values decoded), response metadata
 * added by handlers (-bin values encoded), all in the call's arena. */
#include <errno.h>
#include <string.h>

#include "rpc/base64.h"
#include "rpc/rpc_impl.h"

static bool ends_with_bin(const char *k, size_t n) {
  return n >= 4 && memcmp(k + n - 4, "-bin", 4) == 0;
}

/* Transport and gRPC protocol headers are not metadata. */
bool rpc_md_is_reserved(const uint8_t *name, size_t n) {
  if (n == 0 || name[0] == ':') return true;
  if (n >= 5 && memcmp(name, "grpc-", 5) == 0) return true;
  return (n == 2 && !memcmp(name, "te", 2)) || (n == 12 && !memcmp(name, "content-type", 12)) ||
         (n == 10 && !memcmp(name, "connection", 10));
}

static int list_push(core_arena *a, rpc_md_list *l, rpc_md md) {
  if (l->n == l->cap) {
    uint32_t cap = l->cap ? l->cap * 2 : 4;
    rpc_md *items = core_arena_alloc(a, cap * sizeof(*items));
    if (!items) return -ENOMEM;
    if (l->n) memcpy(items, l->items, l->n * sizeof(*items));
    l->items = items; /* the old array stays in the arena until the call ends */
    l->cap = cap;
  }
  l->items[l->n++] = md;
  return 0;
}

static char *arena_strndup(core_arena *a, const void *p, size_t n) {
  char *s = core_arena_alloc(a, n + 1);
  if (!s) return NULL;
  memcpy(s, p, n);
  s[n] = 0;
  return s;
}

int rpc_md_capture(urpc_call *call, const uint8_t *name, size_t namelen, const uint8_t *value,
                   size_t valuelen) {
  core_arena *a = &call->arena;
  char *key = arena_strndup(a, name, namelen);
  if (!key) return -ENOMEM;
  rpc_md md = {key, NULL, valuelen};
  if (ends_with_bin(key, namelen)) {
    uint8_t *out = core_arena_alloc(a, rpc_base64_decoded_max(valuelen));
    if (!out) return -ENOMEM;
    long n = rpc_base64_decode((const char *)value, valuelen, out);
    if (n < 0) return -EINVAL;
    md.value = out;
    md.len = (size_t)n;
  } else {
    md.value = (const uint8_t *)arena_strndup(a, value, valuelen);
    if (!md.value) return -ENOMEM;
  }
  return list_push(a, &call->req_md, md);
}

size_t rpc_md_to_nv(const rpc_md_list *l, nghttp2_nv *nv, size_t n, size_t max) {
  for (uint32_t i = 0; i < l->n && n < max; i++, n++) {
    nv[n] = (nghttp2_nv){(uint8_t *)l->items[i].key, (uint8_t *)l->items[i].value,
                         strlen(l->items[i].key), l->items[i].len,
                         NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
  }
  return n;
}

static bool valid_key(const char *k) {
  size_t n = strlen(k);
  /* grpc-status-details-bin is reserved but the application's to set (google.rpc.Status). */
  if (strcmp(k, "grpc-status-details-bin") == 0) return true;
  if (n == 0 || rpc_md_is_reserved((const uint8_t *)k, n)) return false;
  for (size_t i = 0; i < n; i++) {
    char c = k[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
      return false;
  }
  return true;
}

static int add_md(urpc_call *call, rpc_md_list *l, const char *key, const void *value, size_t len) {
  if (!key || (!value && len) || !valid_key(key)) return -EINVAL;
  core_arena *a = &call->arena;
  size_t klen = strlen(key);
  rpc_md md = {arena_strndup(a, key, klen), NULL, 0};
  if (!md.key) return -ENOMEM;
  if (ends_with_bin(key, klen)) {
    char *enc = core_arena_alloc(a, rpc_base64_encoded_len(len) + 1);
    if (!enc) return -ENOMEM;
    md.len = rpc_base64_encode(value, len, enc);
    md.value = (const uint8_t *)enc;
  } else {
    for (size_t i = 0; i < len; i++) {
      uint8_t c = ((const uint8_t *)value)[i];
      if (c < 0x20 || c > 0x7e) return -EINVAL; /* ASCII values only; binary needs -bin */
    }
    md.value = (const uint8_t *)arena_strndup(a, value, len);
    if (!md.value) return -ENOMEM;
    md.len = len;
  }
  return list_push(a, l, md);
}

int urpc_call_add_initial_metadata(urpc_call *call, const char *key, const void *value,
                                   size_t len) {
  return add_md(call, &call->init_md, key, value, len);
}

int urpc_call_add_trailing_metadata(urpc_call *call, const char *key, const void *value,
                                    size_t len) {
  return add_md(call, &call->trail_md, key, value, len);
}

size_t urpc_call_metadata_count(const urpc_call *call) {
  return call->req_md.n;
}

int urpc_call_metadata_at(const urpc_call *call, size_t i, const char **key, const uint8_t **value,
                          size_t *len) {
  if (i >= call->req_md.n) return -ENOENT;
  *key = call->req_md.items[i].key;
  *value = call->req_md.items[i].value;
  *len = call->req_md.items[i].len;
  return 0;
}

const uint8_t *urpc_call_metadata(const urpc_call *call, const char *key, size_t *len) {
  for (uint32_t i = 0; i < call->req_md.n; i++) {
    if (strcmp(call->req_md.items[i].key, key) == 0) {
      if (len) *len = call->req_md.items[i].len;
      return call->req_md.items[i].value;
    }
  }
  return NULL;
}

/* Custom metadata (rpc/metadata.c) as request headers bring it: each header that is not
 * reserved is captured into a call's arena (-bin values base64-decoded), then looked up as a
 * handler would, and offered back as response metadata, which must refuse what is not valid.
 * Input: records of 1 byte name length, 1 byte value length, name, value. */
#include <errno.h>
#include <string.h>

#include "fuzz_check.h"
#include "rpc/base64.h"
#include "rpc/rpc_impl.h"

/* A call with only what metadata.c touches: the arena and the lists. */
static urpc_call call;

static bool is_bin(const uint8_t *name, size_t n) {
  return n >= 4 && memcmp(name + n - 4, "-bin", 4) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  memset(&call, 0, offsetof(urpc_call, arena));
  core_arena_init(&call.arena, call.arena_first, sizeof(call.arena_first));
  size_t captured = 0;
  for (size_t off = 0; off + 2 <= size;) {
    size_t nl = data[off], vl = data[off + 1];
    off += 2;
    if (nl + vl > size - off) break;
    const uint8_t *name = data + off, *value = data + off + nl;
    off += nl + vl;
    if (rpc_md_is_reserved(name, nl)) continue;
    int rc = rpc_md_capture(&call, name, nl, value, vl);
    if (rc == -EINVAL) {
      FUZZ_CHECK(is_bin(name, nl), "a value without -bin was refused");
      continue;
    }
    FUZZ_CHECK(rc == 0, "capture: %d", rc);
    captured++;
    const char *key;
    const uint8_t *v;
    size_t len;
    FUZZ_CHECK(urpc_call_metadata_at(&call, captured - 1, &key, &v, &len) == 0, "entry %zu",
               captured);
    FUZZ_CHECK(strlen(key) <= nl && memcmp(key, name, strlen(key)) == 0, "key changed");
    if (!is_bin(name, nl)) {
      FUZZ_CHECK(len == vl && memcmp(v, value, vl) == 0, "value changed");
      FUZZ_CHECK(v[len] == 0, "value not terminated");
    } else {
      FUZZ_CHECK(len <= rpc_base64_decoded_max(vl), "decoded %zu from %zu", len, vl);
    }
    /* A name with a NUL inside is cut there as a C string; the lookup finds an entry. */
    FUZZ_CHECK(urpc_call_metadata(&call, key, NULL) != NULL, "lookup of a captured key failed");
    /* Offered back as response metadata: accepted only for valid keys and ASCII values. */
    rc = urpc_call_add_trailing_metadata(&call, key, v, len);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "add: %d", rc);
  }
  FUZZ_CHECK(urpc_call_metadata_count(&call) == captured, "count %zu, captured %zu",
             urpc_call_metadata_count(&call), captured);
  nghttp2_nv nv[64];
  size_t n = rpc_md_to_nv(&call.trail_md, nv, 0, 64);
  for (size_t i = 0; i < n; i++) {
    FUZZ_CHECK((nv[i].namelen > 0 && !rpc_md_is_reserved(nv[i].name, nv[i].namelen)) ||
                   strcmp((const char *)nv[i].name, "grpc-status-details-bin") == 0,
               "reserved name %s went out", nv[i].name);
    for (size_t j = 0; j < nv[i].valuelen; j++)
      FUZZ_CHECK(nv[i].value[j] >= 0x20 && nv[i].value[j] <= 0x7e, "byte %02x in a value",
                 nv[i].value[j]);
  }
  core_arena_dispose(&call.arena);
  return 0;
}

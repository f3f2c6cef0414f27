/* gRPC message decompression (rpc/compress.h) under a receive limit, as a request's compressed
 * message meets it. Input: 1 byte of encoding, 3 bytes of limit, the message. Checks what the
 * header promises: output within the limit, allocations below 2 * max + 64 in all, outputs
 * untouched on error, and a success that recompresses and decompresses to the same bytes. The
 * encoding-name parsers get the message bytes too. */
#include <errno.h>
#include <string.h>

#include "core/arena.h"
#include "fuzz_check.h"
#include "rpc/compress.h"

typedef struct counting {
  core_arena arena;
  size_t total;
} counting;

static void *count_alloc(void *ud, size_t size) {
  counting *c = ud;
  c->total += size;
  return core_arena_alloc(&c->arena, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4) return 0;
  static const rpc_encoding encodings[] = {RPC_ENC_GZIP, RPC_ENC_DEFLATE, RPC_ENC_IDENTITY,
                                           RPC_ENC_UNKNOWN};
  rpc_encoding e = encodings[data[0] & 3];
  /* Up to 256 KiB: the ladder logic is the same at 4 MiB, and executions stay fast. */
  size_t max = ((size_t)data[1] << 16 | (size_t)data[2] << 8 | data[3]) & 0x3ffff;
  const uint8_t *in = data + 4;
  size_t n = size - 4;

  counting c = {.total = 0};
  core_arena_init(&c.arena, NULL, 0);
  uint8_t sentinel = 0, *out = &sentinel;
  size_t out_len = 12345;
  int rc = rpc_decompress(e, in, n, max, count_alloc, &c, &out, &out_len);
  FUZZ_CHECK(c.total < 2 * max + 64, "allocated %zu for a limit of %zu", c.total, max);
  if (rc == 0) {
    FUZZ_CHECK(out && out != &sentinel, "no output buffer");
    FUZZ_CHECK(out_len <= max, "%zu bytes out, limit %zu", out_len, max);
    FUZZ_CHECK(e == RPC_ENC_GZIP || e == RPC_ENC_DEFLATE, "success with encoding %d", e);
    uint8_t *z, *back;
    size_t zlen, blen;
    FUZZ_CHECK(rpc_compress(e, out, out_len, core_arena_alloc_cb, &c.arena, &z, &zlen) == 0,
               "cannot compress %zu bytes", out_len);
    FUZZ_CHECK(rpc_decompress(e, z, zlen, max, core_arena_alloc_cb, &c.arena, &back, &blen) == 0,
               "own output does not decompress");
    FUZZ_CHECK(blen == out_len && memcmp(back, out, out_len) == 0, "round trip changed it");
  } else {
    FUZZ_CHECK(rc == -E2BIG || rc == -EINVAL || rc == -ENOTSUP || rc == -ENOMEM, "rc %d", rc);
    FUZZ_CHECK(out == &sentinel && out_len == 12345, "outputs written on error %d", rc);
    if (e == RPC_ENC_UNKNOWN) FUZZ_CHECK(rc == -ENOTSUP, "unknown encoding: %d", rc);
    if (e == RPC_ENC_IDENTITY) FUZZ_CHECK(rc == -EINVAL, "identity: %d", rc);
  }
  core_arena_dispose(&c.arena);

  /* The header values that name encodings, from the same bytes. */
  rpc_encoding pe = rpc_encoding_parse((const char *)in, n);
  if (pe != RPC_ENC_UNKNOWN) {
    const char *name = rpc_encoding_name(pe);
    FUZZ_CHECK(name && strlen(name) == n && memcmp(name, in, n) == 0, "parse/name disagree");
  }
  unsigned set = rpc_accept_encoding_parse((const char *)in, n);
  FUZZ_CHECK(set & 1u << RPC_ENC_IDENTITY, "identity not accepted");
  FUZZ_CHECK(!(set & ~7u), "bits %x outside the known encodings", set);
  return 0;
}

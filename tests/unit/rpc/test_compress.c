/* rpc/compress: grpc-encoding tokens, accept sets, and gzip/deflate messages checked against
 * zlib used independently (uncompress(), inflate with header auto-detection, compress2()) and
 * against bytes made by Python's gzip/zlib and the gzip tool. Allocation goes through a counting
 * arena so the memory bounds (zip bombs, small messages) and failing allocations are tested. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "rpc/compress.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#endif

/* Heap bytes in use, to catch a zlib stream left without inflateEnd/deflateEnd. Criterion
 * ignores LeakSanitizer's report at a worker's exit, so leaks are asserted in test bodies. */
#ifdef TEST_ASAN
size_t __sanitizer_get_current_allocated_bytes(void); /* sanitizer/allocator_interface.h */
static size_t heap_bytes(void) {
  return __sanitizer_get_current_allocated_bytes();
}
#else
#include <malloc.h>
static size_t heap_bytes(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}
#endif

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

/* ---- a counting arena: frees everything at once, like the per-call arena ---- */

struct blk {
  struct blk *next;
  max_align_t data[];
};

struct arena {
  struct blk *head;
  size_t total;   /* bytes requested, including refused requests */
  size_t count;   /* requests */
  size_t largest; /* largest single request */
  size_t fail_at; /* refuse the fail_at-th request (1-based); 0: never */
};

static void *arena_alloc(void *ud, size_t size) {
  struct arena *a = ud;
  a->count++;
  a->total += size;
  if (size > a->largest) a->largest = size;
  if (a->fail_at && a->count == a->fail_at) return NULL;
  /* At least 2 KiB per block: freed small chunks would sit in glibc's tcache, which mallinfo2
   * counts as in use, and blur heap_in_use(). */
  size_t bytes = sizeof(struct blk) + size;
  struct blk *b = malloc(bytes < 2048 ? 2048 : bytes);
  cr_assert_not_null(b);
  b->next = a->head;
  a->head = b;
  return b->data;
}

static void arena_reset(struct arena *a) {
  while (a->head) {
    struct blk *b = a->head;
    a->head = b->next;
    free(b);
  }
  memset(a, 0, sizeof *a);
}

/* What is allocated. The thread's zlib streams outlive calls by design (they are reset, not
 * set up again, for each message): all of them are made, windows included, before the first
 * measurement, so what a call leaves behind shows; cached_streams_are_reused checks that the
 * streams do not grow. */
static size_t heap_in_use(void) {
  static bool warm;
  while (!warm) {
    static uint8_t msg[4096];
    for (int e = RPC_ENC_DEFLATE; e <= RPC_ENC_GZIP; e++) {
      struct arena a = {0};
      uint8_t *z, *out;
      size_t zn, n;
      if (rpc_compress((rpc_encoding)e, msg, sizeof msg, arena_alloc, &a, &z, &zn) == 0)
        rpc_decompress((rpc_encoding)e, z, zn, sizeof msg, arena_alloc, &a, &out, &n);
      arena_reset(&a);
    }
    warm = true;
  }
  return heap_bytes();
}

/* ---- inputs ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static void fill_random(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    p[i] = (uint8_t)(rng_state >> 24);
  }
}

static void fill_repetitive(uint8_t *p, size_t n) {
  static const char phrase[] = "message HelloRequest { string name = 1; } // uringrpc ";
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)phrase[i % (sizeof phrase - 1)];
}

static uint8_t *xmalloc(size_t n) {
  uint8_t *p = malloc(n ? n : 1);
  cr_assert_not_null(p);
  return p;
}

/* ---- independent zlib use ---- */

/* Inflates with header auto-detection (zlib or gzip), as a peer would; expects exactly one
 * stream and at most cap bytes. Returns the zlib result. */
static int ref_inflate(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  cr_assert_eq(inflateInit2(&zs, 15 + 32), Z_OK);
  zs.next_in = (Bytef *)(uintptr_t)in;
  zs.avail_in = (uInt)n;
  zs.next_out = out;
  zs.avail_out = (uInt)cap;
  int zr = inflate(&zs, Z_FINISH);
  *out_len = zs.total_out;
  if (zr == Z_STREAM_END && zs.avail_in != 0) zr = Z_DATA_ERROR;
  inflateEnd(&zs);
  return zr;
}

/* Streams `total` bytes (zeros, or `fill` repeated) through deflate with `wbits`, as a peer
 * would; returns a malloc'd buffer. */
static uint8_t *ref_deflate_stream(int wbits, const uint8_t *fill, size_t fill_len, size_t total,
                                   size_t *out_len) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  cr_assert_eq(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY),
               Z_OK);
  size_t cap = total <= 8 * MiB ? deflateBound(&zs, total) + 64 * KiB : 8 * MiB;
  uint8_t *out = xmalloc(cap);
  zs.next_out = out;
  zs.avail_out = (uInt)cap;
  size_t left = total;
  int zr;
  do {
    size_t part = left < fill_len ? left : fill_len;
    zs.next_in = (Bytef *)(uintptr_t)fill;
    zs.avail_in = (uInt)part;
    left -= part;
    zr = deflate(&zs, left ? Z_NO_FLUSH : Z_FINISH);
    cr_assert(zr == Z_OK || zr == Z_STREAM_END, "deflate: %d", zr);
    cr_assert_eq(zs.avail_in, 0u, "test buffer too small for the compressed stream");
  } while (zr != Z_STREAM_END);
  *out_len = zs.total_out;
  deflateEnd(&zs);
  return out;
}

static uint8_t *ref_compress(rpc_encoding e, const uint8_t *in, size_t n, size_t *out_len) {
  return ref_deflate_stream(e == RPC_ENC_GZIP ? 31 : 15, in, n ? n : 1, n, out_len);
}

/* ---- helpers around the module ---- */

static uint8_t *compress_copy(rpc_encoding e, const uint8_t *in, size_t n, size_t *out_len) {
  struct arena a = {0};
  uint8_t *z = NULL;
  cr_assert_eq(rpc_compress(e, in, n, arena_alloc, &a, &z, out_len), 0);
  cr_assert_eq(a.count, 1u, "one allocation, sized by deflateBound");
  uint8_t *copy = xmalloc(*out_len);
  memcpy(copy, z, *out_len);
  arena_reset(&a);
  return copy;
}

/* Compresses and drops the result: the heap must be back where it was (deflateEnd ran). */
static void check_compress_no_leak(rpc_encoding e, const uint8_t *in, size_t n) {
  struct arena a = {0};
  uint8_t *z = NULL;
  size_t zn = 0;
  size_t h0 = heap_in_use();
  int rc = rpc_compress(e, in, n, arena_alloc, &a, &z, &zn);
  arena_reset(&a);
  size_t h1 = heap_in_use();
  cr_assert_eq(rc, 0);
  cr_assert_eq(h1, h0, "compress leaked %zd bytes", (ptrdiff_t)(h1 - h0));
}

static void check_framing(rpc_encoding e, const uint8_t *z, size_t zn) {
  cr_assert_geq(zn, 2u);
  if (e == RPC_ENC_GZIP) {
    cr_assert_geq(zn, 18u);
    cr_assert_eq(z[0], 0x1f);
    cr_assert_eq(z[1], 0x8b);
    cr_assert_eq(z[2], 8, "CM = deflate");
  } else {
    cr_assert_eq(z[0], 0x78, "zlib header: deflate, 32 KiB window");
    cr_assert_eq((z[0] * 256 + z[1]) % 31, 0, "zlib header check bits");
    cr_assert_eq(z[1] & 0x20, 0, "no preset dictionary");
  }
}

/* compress → framing → independent decode → rpc_decompress, and the decompression's memory. */
static void check_roundtrip(rpc_encoding e, const uint8_t *msg, size_t n) {
  size_t zn;
  uint8_t *z = compress_copy(e, msg, n, &zn);
  check_framing(e, z, zn);

  uint8_t *ref = xmalloc(n + 1);
  size_t ref_len = n + 1;
  if (e == RPC_ENC_DEFLATE) {
    uLongf dl = (uLongf)(n + 1);
    cr_assert_eq(uncompress(ref, &dl, z, (uLong)zn), Z_OK);
    ref_len = dl;
  } else {
    cr_assert_eq(ref_inflate(z, zn, ref, n + 1, &ref_len), Z_STREAM_END);
  }
  cr_assert_eq(ref_len, n);
  cr_assert(n == 0 || memcmp(ref, msg, n) == 0);

  const size_t max = 4 * MiB;
  struct arena a = {0};
  uint8_t *out = NULL;
  size_t out_len = 12345;
  size_t h0 = heap_in_use();
  int rc = rpc_decompress(e, z, zn, max, arena_alloc, &a, &out, &out_len);
  int same = rc == 0 && out_len == n && out && (n == 0 || memcmp(out, msg, n) == 0);
  struct arena stats = a;
  arena_reset(&a);
  size_t h1 = heap_in_use();
  cr_assert_eq(rc, 0);
  cr_assert(same, "decompressed %zu bytes, want %zu", out_len, n);
  cr_assert_eq(h1, h0, "decompress leaked %zd bytes", (ptrdiff_t)(h1 - h0));
  cr_assert_lt(stats.total, 2 * max + 64);
  cr_assert_leq(stats.count, 16u, "reallocations stay logarithmic: %zu", stats.count);
  if (e == RPC_ENC_GZIP) cr_assert_eq(stats.count, 1u, "an honest gzip ISIZE sizes it once");

  check_compress_no_leak(e, msg, n);
  free(ref);
  free(z);
}

/* ---- encoding tokens ---- */

Test(compress, encoding_names_round_trip) {
  const rpc_encoding all[] = {RPC_ENC_IDENTITY, RPC_ENC_DEFLATE, RPC_ENC_GZIP};
  for (size_t i = 0; i < 3; i++) {
    const char *name = rpc_encoding_name(all[i]);
    cr_assert_not_null(name);
    cr_assert_eq(rpc_encoding_parse(name, strlen(name)), all[i]);
  }
  cr_assert_str_eq(rpc_encoding_name(RPC_ENC_IDENTITY), "identity");
  cr_assert_str_eq(rpc_encoding_name(RPC_ENC_DEFLATE), "deflate");
  cr_assert_str_eq(rpc_encoding_name(RPC_ENC_GZIP), "gzip");
  cr_assert_null(rpc_encoding_name(RPC_ENC_UNKNOWN));
  cr_assert_null(rpc_encoding_name((rpc_encoding)3));
}

Test(compress, encoding_parse_is_exact) {
  cr_assert_eq(rpc_encoding_parse("gzip", 4), RPC_ENC_GZIP);
  cr_assert_eq(rpc_encoding_parse("gzip,deflate", 4), RPC_ENC_GZIP, "uses n, not the NUL");
  cr_assert_eq(rpc_encoding_parse("GZIP", 4), RPC_ENC_UNKNOWN);
  cr_assert_eq(rpc_encoding_parse("gzip ", 5), RPC_ENC_UNKNOWN);
  cr_assert_eq(rpc_encoding_parse("gzi", 3), RPC_ENC_UNKNOWN);
  cr_assert_eq(rpc_encoding_parse("gzipx", 5), RPC_ENC_UNKNOWN);
  cr_assert_eq(rpc_encoding_parse("br", 2), RPC_ENC_UNKNOWN);
  cr_assert_eq(rpc_encoding_parse("snappy", 6), RPC_ENC_UNKNOWN);
  cr_assert_eq(rpc_encoding_parse("", 0), RPC_ENC_UNKNOWN);
  cr_assert_eq(rpc_encoding_parse(NULL, 0), RPC_ENC_UNKNOWN);
}

static unsigned accept_of(const char *s) {
  return rpc_accept_encoding_parse(s, strlen(s));
}

#define I (1u << RPC_ENC_IDENTITY)
#define D (1u << RPC_ENC_DEFLATE)
#define G (1u << RPC_ENC_GZIP)

Test(compress, accept_encoding_sets) {
  cr_assert_eq(accept_of("gzip"), I | G);
  cr_assert_eq(accept_of("deflate, gzip"), I | D | G);
  cr_assert_eq(accept_of(" identity , gzip "), I | G);
  cr_assert_eq(accept_of("identity,gzip"), I | G);
  cr_assert_eq(accept_of("deflate"), I | D);
  cr_assert_eq(accept_of("br"), I);
  cr_assert_eq(accept_of(""), I);
  cr_assert_eq(accept_of(","), I);
  cr_assert_eq(accept_of("gzip,,br,\tdeflate\t"), I | D | G);
  cr_assert_eq(accept_of("GZIP, Deflate"), I, "tokens are case-sensitive, as grpc sends them");
  cr_assert_eq(accept_of("gzip;q=1"), I, "no parameters in grpc-accept-encoding");
  cr_assert_eq(rpc_accept_encoding_parse("deflate,gzip", 7), I | D, "uses n, not the NUL");
  cr_assert_eq(rpc_accept_encoding_parse(NULL, 0), I);
  cr_assert_eq(accept_of(RPC_ACCEPT_ENCODING), I | D | G);
}

/* ---- round trips ---- */

static void roundtrip_all(rpc_encoding e) {
  check_roundtrip(e, NULL, 0);
  const char *hello = "hello, grpc";
  check_roundtrip(e, (const uint8_t *)hello, strlen(hello));
  uint8_t one = 0x42;
  check_roundtrip(e, &one, 1);

  uint8_t *buf = xmalloc(MiB);
  fill_random(buf, MiB);
  check_roundtrip(e, buf, MiB);
  fill_repetitive(buf, MiB);
  check_roundtrip(e, buf, MiB);
  free(buf);
}

Test(compress, roundtrip_gzip) {
  roundtrip_all(RPC_ENC_GZIP);
}

Test(compress, roundtrip_deflate) {
  roundtrip_all(RPC_ENC_DEFLATE);
}

Test(compress, repetitive_input_shrinks) {
  uint8_t *buf = xmalloc(MiB);
  fill_repetitive(buf, MiB);
  for (int e = RPC_ENC_DEFLATE; e <= RPC_ENC_GZIP; e++) {
    size_t zn;
    uint8_t *z = compress_copy((rpc_encoding)e, buf, MiB, &zn);
    cr_assert_lt(zn, MiB / 50, "1 MiB of a repeated phrase compressed to %zu bytes", zn);
    free(z);
  }
  free(buf);
}

/* The buffer that exactly fits the output is not grown past: the probe sees the stream end. */
Test(compress, exact_fit_does_not_grow) {
  uint8_t *buf = xmalloc(MiB);
  fill_repetitive(buf, MiB);
  size_t zn;
  uint8_t *z = compress_copy(RPC_ENC_DEFLATE, buf, MiB, &zn);
  struct arena a = {0};
  uint8_t *out;
  size_t out_len;
  cr_assert_eq(rpc_decompress(RPC_ENC_DEFLATE, z, zn, 4 * MiB, arena_alloc, &a, &out, &out_len), 0);
  cr_assert_eq(out_len, MiB);
  cr_assert_eq(a.largest, MiB, "1 MiB is a rung of the 4 MiB ladder; largest was %zu", a.largest);
  cr_assert_lt(a.total, 2 * MiB);
  arena_reset(&a);
  free(z);
  free(buf);
}

/* ---- interoperability with other encoders ---- */

static void check_decodes_to(rpc_encoding e, const uint8_t *z, size_t zn, const char *want) {
  struct arena a = {0};
  uint8_t *out = NULL;
  size_t out_len = 0;
  cr_assert_eq(rpc_decompress(e, z, zn, 4 * MiB, arena_alloc, &a, &out, &out_len), 0);
  cr_assert_eq(out_len, strlen(want));
  cr_assert_eq(memcmp(out, want, out_len), 0);
  arena_reset(&a);
}

Test(compress, decodes_python_and_gzip_tool_output) {
  /* python3: gzip.compress(b"hello, grpc", mtime=0) */
  static const uint8_t py_gzip[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
                                    0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xd7,
                                    0x51, 0x48, 0x2f, 0x2a, 0x48, 0x06, 0x00, 0x34,
                                    0x22, 0x1c, 0x4d, 0x0b, 0x00, 0x00, 0x00};
  /* python3: zlib.compress(b"hello, grpc") */
  static const uint8_t py_zlib[] = {0x78, 0x9c, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xd7, 0x51, 0x48,
                                    0x2f, 0x2a, 0x48, 0x06, 0x00, 0x18, 0x87, 0x04, 0x0d};
  /* gzip(1) of a file "hg.txt": FNAME and MTIME set in the header */
  static const uint8_t gzip_tool[] = {0x1f, 0x8b, 0x08, 0x08, 0xe4, 0x65, 0x05, 0x6b, 0x00, 0x03,
                                      0x68, 0x67, 0x2e, 0x74, 0x78, 0x74, 0x00, 0xcb, 0x48, 0xcd,
                                      0xc9, 0xc9, 0xd7, 0x51, 0x48, 0x2f, 0x2a, 0x48, 0x06, 0x00,
                                      0x34, 0x22, 0x1c, 0x4d, 0x0b, 0x00, 0x00, 0x00};
  check_decodes_to(RPC_ENC_GZIP, py_gzip, sizeof py_gzip, "hello, grpc");
  check_decodes_to(RPC_ENC_DEFLATE, py_zlib, sizeof py_zlib, "hello, grpc");
  check_decodes_to(RPC_ENC_GZIP, gzip_tool, sizeof gzip_tool, "hello, grpc");
}

Test(compress, decodes_independent_zlib_output) {
  uint8_t *msg = xmalloc(300 * KiB);
  fill_random(msg, 150 * KiB);
  fill_repetitive(msg + 150 * KiB, 150 * KiB);
  for (int e = RPC_ENC_DEFLATE; e <= RPC_ENC_GZIP; e++) {
    size_t zn;
    uint8_t *z;
    if (e == RPC_ENC_DEFLATE) {
      uLongf cap = compressBound(300 * KiB);
      z = xmalloc(cap);
      cr_assert_eq(compress2(z, &cap, msg, 300 * KiB, 9), Z_OK);
      zn = cap;
    } else {
      z = ref_compress(RPC_ENC_GZIP, msg, 300 * KiB, &zn);
    }
    struct arena a = {0};
    uint8_t *out;
    size_t out_len;
    cr_assert_eq(rpc_decompress((rpc_encoding)e, z, zn, 4 * MiB, arena_alloc, &a, &out, &out_len),
                 0);
    cr_assert_eq(out_len, 300 * KiB);
    cr_assert_eq(memcmp(out, msg, out_len), 0);
    arena_reset(&a);
    free(z);
  }
  free(msg);
}

/* ---- rejection ---- */

static int decompress_rc(rpc_encoding e, const uint8_t *z, size_t zn, size_t max) {
  struct arena a = {0};
  uint8_t *const sentinel = (uint8_t *)&a;
  uint8_t *out = sentinel;
  size_t out_len = 777;
  size_t h0 = heap_in_use();
  int rc = rpc_decompress(e, z, zn, max, arena_alloc, &a, &out, &out_len);
  size_t total = a.total;
  arena_reset(&a);
  size_t h1 = heap_in_use();
  cr_assert_eq(h1, h0, "decompress leaked %zd bytes (rc %d)", (ptrdiff_t)(h1 - h0), rc);
  if (rc != 0) {
    cr_assert_eq(out, sentinel, "outputs untouched on error");
    cr_assert_eq(out_len, 777u);
  }
  cr_assert_lt(total, 2 * max + 64);
  return rc;
}

Test(compress, rejects_truncated_input) {
  const char *msg = "a small message, truncated at every length";
  for (int e = RPC_ENC_DEFLATE; e <= RPC_ENC_GZIP; e++) {
    size_t zn;
    uint8_t *z = compress_copy((rpc_encoding)e, (const uint8_t *)msg, strlen(msg), &zn);
    for (size_t cut = 0; cut < zn; cut++) {
      cr_assert_eq(decompress_rc((rpc_encoding)e, z, cut, 4 * MiB), -EINVAL, "e=%d cut=%zu", e,
                   cut);
    }
    cr_assert_eq(decompress_rc((rpc_encoding)e, z, zn, 4 * MiB), 0);
    free(z);
  }
  uint8_t *big = xmalloc(MiB);
  fill_random(big, MiB);
  for (int e = RPC_ENC_DEFLATE; e <= RPC_ENC_GZIP; e++) {
    size_t zn;
    uint8_t *z = compress_copy((rpc_encoding)e, big, MiB, &zn);
    const size_t cuts[] = {zn - 1, zn - 4, zn - 8, zn / 2, 10};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
      cr_assert_eq(decompress_rc((rpc_encoding)e, z, cuts[i], 4 * MiB), -EINVAL, "cut=%zu",
                   cuts[i]);
    }
    free(z);
  }
  free(big);
}

Test(compress, rejects_garbage) {
  uint8_t junk[1000];
  fill_random(junk, sizeof junk);
  uint8_t zeros[64] = {0};
  const char *text = "this is not compressed at all";
  for (int e = RPC_ENC_DEFLATE; e <= RPC_ENC_GZIP; e++) {
    cr_assert_eq(decompress_rc((rpc_encoding)e, junk, sizeof junk, 4 * MiB), -EINVAL);
    cr_assert_eq(decompress_rc((rpc_encoding)e, zeros, sizeof zeros, 4 * MiB), -EINVAL);
    cr_assert_eq(decompress_rc((rpc_encoding)e, (const uint8_t *)text, strlen(text), 4 * MiB),
                 -EINVAL);
    cr_assert_eq(decompress_rc((rpc_encoding)e, junk, 0, 4 * MiB), -EINVAL, "empty input");
  }
}

Test(compress, rejects_the_other_format) {
  const char *msg = "labelled with the wrong grpc-encoding";
  size_t gn, dn, rn;
  uint8_t *gz = compress_copy(RPC_ENC_GZIP, (const uint8_t *)msg, strlen(msg), &gn);
  uint8_t *df = compress_copy(RPC_ENC_DEFLATE, (const uint8_t *)msg, strlen(msg), &dn);
  cr_assert_eq(decompress_rc(RPC_ENC_DEFLATE, gz, gn, 4 * MiB), -EINVAL, "gzip labelled deflate");
  cr_assert_eq(decompress_rc(RPC_ENC_GZIP, df, dn, 4 * MiB), -EINVAL, "deflate labelled gzip");
  /* Raw deflate (no zlib wrapper) is not what grpc calls deflate. */
  uint8_t *raw = ref_deflate_stream(-15, (const uint8_t *)msg, strlen(msg), strlen(msg), &rn);
  cr_assert_eq(decompress_rc(RPC_ENC_DEFLATE, raw, rn, 4 * MiB), -EINVAL, "raw deflate");
  cr_assert_eq(decompress_rc(RPC_ENC_GZIP, raw, rn, 4 * MiB), -EINVAL, "raw deflate");
  free(raw);
  free(df);
  free(gz);
}

Test(compress, rejects_trailing_bytes_and_bad_checksums) {
  const char *msg = "checksummed and length-checked";
  for (int e = RPC_ENC_DEFLATE; e <= RPC_ENC_GZIP; e++) {
    size_t zn;
    uint8_t *z = compress_copy((rpc_encoding)e, (const uint8_t *)msg, strlen(msg), &zn);
    uint8_t *longer = xmalloc(zn * 2);
    memcpy(longer, z, zn);
    longer[zn] = 0;
    cr_assert_eq(decompress_rc((rpc_encoding)e, longer, zn + 1, 4 * MiB), -EINVAL, "trailing");
    memcpy(longer + zn, z, zn);
    cr_assert_eq(decompress_rc((rpc_encoding)e, longer, 2 * zn, 4 * MiB), -EINVAL,
                 "two concatenated streams");
    for (size_t i = 1; i <= 4; i++) { /* adler32 (deflate) or ISIZE (gzip) */
      memcpy(longer, z, zn);
      longer[zn - i] ^= 0x01;
      cr_assert_eq(decompress_rc((rpc_encoding)e, longer, zn, 4 * MiB), -EINVAL, "i=%zu", i);
    }
    if (e == RPC_ENC_GZIP) { /* CRC32 */
      memcpy(longer, z, zn);
      longer[zn - 6] ^= 0x80;
      cr_assert_eq(decompress_rc((rpc_encoding)e, longer, zn, 4 * MiB), -EINVAL, "crc");
    }
    free(longer);
    free(z);
  }
}

Test(compress, identity_and_unknown_are_not_compressions) {
  const uint8_t b[4] = {1, 2, 3, 4};
  struct arena a = {0};
  uint8_t *out = NULL;
  size_t len = 0;
  cr_assert_eq(rpc_decompress(RPC_ENC_IDENTITY, b, 4, 100, arena_alloc, &a, &out, &len), -EINVAL);
  cr_assert_eq(rpc_decompress(RPC_ENC_UNKNOWN, b, 4, 100, arena_alloc, &a, &out, &len), -ENOTSUP);
  cr_assert_eq(rpc_decompress((rpc_encoding)7, b, 4, 100, arena_alloc, &a, &out, &len), -ENOTSUP);
  cr_assert_eq(rpc_compress(RPC_ENC_IDENTITY, b, 4, arena_alloc, &a, &out, &len), -EINVAL);
  cr_assert_eq(rpc_compress(RPC_ENC_UNKNOWN, b, 4, arena_alloc, &a, &out, &len), -ENOTSUP);
  cr_assert_eq(a.count, 0u);
  cr_assert_null(out);
  arena_reset(&a);
}

/* ---- limits ---- */

static void check_bomb(rpc_encoding e, const uint8_t *z, size_t zn, size_t max) {
  struct arena a = {0};
  uint8_t *out = NULL;
  size_t out_len = 0;
  cr_assert_eq(rpc_decompress(e, z, zn, max, arena_alloc, &a, &out, &out_len), -E2BIG);
  cr_assert_null(out);
  cr_assert_lt(a.total, 2 * max + 64, "requested %zu bytes for max %zu", a.total, max);
  cr_assert_leq(a.largest, max);
  cr_assert_leq(a.count, 24u);
  arena_reset(&a);
}

Test(compress, zip_bomb_is_e2big_in_bounded_memory, .timeout = 60) {
  const size_t max = 4 * MiB;
  uint8_t *zeros = calloc(1, MiB);
  cr_assert_not_null(zeros);
  for (int e = RPC_ENC_DEFLATE; e <= RPC_ENC_GZIP; e++) {
    size_t zn;
    uint8_t *z = ref_deflate_stream(e == RPC_ENC_GZIP ? 31 : 15, zeros, MiB, 100 * MiB, &zn);
    cr_assert_lt(zn, 200 * KiB, "100 MiB of zeros compress to %zu bytes", zn);
    check_bomb((rpc_encoding)e, z, zn, max);
    if (e == RPC_ENC_GZIP) {
      /* A lying ISIZE only picks the first rung; the bound holds either way. */
      const uint32_t lies[] = {0, 20, (uint32_t)max, (uint32_t)max - 1};
      for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        for (int b = 0; b < 4; b++) z[zn - 4 + b] = (uint8_t)(lies[i] >> (8 * b));
        check_bomb(RPC_ENC_GZIP, z, zn, max);
      }
    }
    free(z);
  }
  free(zeros);
}

Test(compress, gzip_isize_claiming_max_for_a_tiny_message) {
  const char *msg = "tiny";
  size_t zn;
  uint8_t *z = compress_copy(RPC_ENC_GZIP, (const uint8_t *)msg, strlen(msg), &zn);
  const size_t max = 4 * MiB;
  for (int b = 0; b < 4; b++) z[zn - 4 + b] = (uint8_t)((uint32_t)max >> (8 * b));
  cr_assert_eq(decompress_rc(RPC_ENC_GZIP, z, zn, max), -EINVAL, "ISIZE mismatch is corrupt");
  free(z);
}

/* Decompresses a message of exactly `n` bytes with limits max = n - 1, n, n + 1 (and 2n). */
static void check_limit_edges(rpc_encoding e, const uint8_t *msg, size_t n) {
  size_t zn;
  uint8_t *z = compress_copy(e, msg, n, &zn);
  const size_t maxes[] = {n - 1, n, n + 1, 2 * n};
  for (size_t i = n ? 0 : 1; i < 4; i++) {
    struct arena a = {0};
    uint8_t *out = NULL;
    size_t out_len = 0;
    int rc = rpc_decompress(e, z, zn, maxes[i], arena_alloc, &a, &out, &out_len);
    if (maxes[i] >= n) {
      cr_assert_eq(rc, 0, "e=%d n=%zu max=%zu", e, n, maxes[i]);
      cr_assert_eq(out_len, n);
      cr_assert(n == 0 || memcmp(out, msg, n) == 0);
    } else {
      cr_assert_eq(rc, -E2BIG, "e=%d n=%zu max=%zu", e, n, maxes[i]);
    }
    cr_assert_lt(a.total, 2 * maxes[i] + 64);
    arena_reset(&a);
  }
  free(z);
}

Test(compress, exactly_max_is_ok_one_more_is_e2big) {
  uint8_t *buf = xmalloc(4 * MiB);
  for (int e = RPC_ENC_DEFLATE; e <= RPC_ENC_GZIP; e++) {
    fill_repetitive(buf, 4 * MiB);
    check_limit_edges((rpc_encoding)e, buf, 4 * MiB);
    fill_random(buf, 4 * MiB);
    check_limit_edges((rpc_encoding)e, buf, 4 * MiB);
    for (size_t n = 0; n <= 300; n++) check_limit_edges((rpc_encoding)e, buf, n);
    const size_t odd[] = {4095, 4096, 4097, 65535, 65537, 100000};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
      check_limit_edges((rpc_encoding)e, buf, odd[i]);
    }
  }
  free(buf);
}

Test(compress, max_zero) {
  for (int e = RPC_ENC_DEFLATE; e <= RPC_ENC_GZIP; e++) {
    size_t zn;
    uint8_t *z = compress_copy((rpc_encoding)e, NULL, 0, &zn);
    struct arena a = {0};
    uint8_t *out = NULL;
    size_t out_len = 9;
    cr_assert_eq(rpc_decompress((rpc_encoding)e, z, zn, 0, arena_alloc, &a, &out, &out_len), 0);
    cr_assert_eq(out_len, 0u);
    cr_assert_not_null(out);
    arena_reset(&a);
    free(z);
    z = compress_copy((rpc_encoding)e, (const uint8_t *)"x", 1, &zn);
    cr_assert_eq(decompress_rc((rpc_encoding)e, z, zn, 0), -E2BIG);
    free(z);
  }
}

Test(compress, small_message_allocates_little) {
  uint8_t msg[20];
  fill_random(msg, sizeof msg);
  for (int e = RPC_ENC_DEFLATE; e <= RPC_ENC_GZIP; e++) {
    struct arena a = {0};
    uint8_t *z;
    size_t zn;
    cr_assert_eq(rpc_compress((rpc_encoding)e, msg, sizeof msg, arena_alloc, &a, &z, &zn), 0);
    cr_assert_lt(a.total, 1024u, "compress requested %zu bytes", a.total);
    struct arena b = {0};
    uint8_t *out;
    size_t out_len;
    cr_assert_eq(rpc_decompress((rpc_encoding)e, z, zn, 4 * MiB, arena_alloc, &b, &out, &out_len),
                 0);
    cr_assert_eq(out_len, sizeof msg);
    cr_assert_eq(memcmp(out, msg, sizeof msg), 0);
    cr_assert_lt(b.total, 1024u, "decompress requested %zu bytes", b.total);
    cr_assert_eq(b.count, 1u);
    arena_reset(&b);
    arena_reset(&a);
  }
}

/* ---- failing allocations (nghttp2's failmalloc): each one, in turn ---- */

Test(compress, every_failed_allocation_is_enomem) {
  uint8_t *msg = xmalloc(256 * KiB);
  fill_repetitive(msg, 256 * KiB);
  for (int e = RPC_ENC_DEFLATE; e <= RPC_ENC_GZIP; e++) {
    size_t zn;
    uint8_t *z = compress_copy((rpc_encoding)e, msg, 256 * KiB, &zn);
    /* Lie in ISIZE (gzip) so that decompression climbs several rungs. */
    uint8_t *lying = xmalloc(zn);
    memcpy(lying, z, zn);
    if (e == RPC_ENC_GZIP) memset(lying + zn - 4, 0, 4);
    const uint8_t *inputs[] = {z, lying};
    for (int which = 0; which < 2; which++) {
      struct arena a = {0};
      uint8_t *out;
      size_t out_len;
      int want = which && e == RPC_ENC_GZIP ? -EINVAL : 0;
      cr_assert_eq(rpc_decompress((rpc_encoding)e, inputs[which], zn, 4 * MiB, arena_alloc, &a,
                                  &out, &out_len),
                   want);
      size_t n_allocs = a.count;
      arena_reset(&a);
      cr_assert_geq(n_allocs, 1u);
      if (e == RPC_ENC_DEFLATE || which) cr_assert_gt(n_allocs, 2u, "climbs the ladder");
      for (size_t fail = 1; fail <= n_allocs; fail++) {
        a.fail_at = fail;
        uint8_t *const sentinel = msg;
        out = sentinel;
        size_t h0 = heap_in_use();
        int rc = rpc_decompress((rpc_encoding)e, inputs[which], zn, 4 * MiB, arena_alloc, &a, &out,
                                &out_len);
        size_t count = a.count;
        arena_reset(&a);
        size_t h1 = heap_in_use();
        cr_assert_eq(rc, -ENOMEM, "fail=%zu", fail);
        cr_assert_eq(h1, h0, "leaked %zd bytes (fail=%zu)", (ptrdiff_t)(h1 - h0), fail);
        cr_assert_eq(out, sentinel);
        cr_assert_eq(count, fail, "nothing is requested after a refusal");
      }
    }
    struct arena c = {.fail_at = 1};
    uint8_t *out = NULL;
    size_t out_len;
    size_t h0 = heap_in_use();
    int rc = rpc_compress((rpc_encoding)e, msg, 256 * KiB, arena_alloc, &c, &out, &out_len);
    size_t h1 = heap_in_use();
    cr_assert_eq(rc, -ENOMEM);
    cr_assert_eq(h1, h0, "compress leaked %zd bytes on a failed allocation", (ptrdiff_t)(h1 - h0));
    cr_assert_null(out);
    arena_reset(&c);
    free(lying);
    free(z);
  }
  free(msg);
}

/* The thread's zlib streams are made once and reset for each message: after the first message
 * of each kind, compressing and decompressing more takes no more heap. */
Test(compress, cached_streams_are_reused) {
  uint8_t *msg = xmalloc(64 * KiB);
  fill_repetitive(msg, 64 * KiB);
  size_t after_first = 0;
  for (int round = 0; round < 50; round++) {
    for (int e = RPC_ENC_DEFLATE; e <= RPC_ENC_GZIP; e++) {
      struct arena a = {0};
      uint8_t *z, *out;
      size_t zn, out_len;
      cr_assert_eq(rpc_compress((rpc_encoding)e, msg, 64 * KiB, arena_alloc, &a, &z, &zn), 0);
      cr_assert_eq(rpc_decompress((rpc_encoding)e, z, zn, 4 * MiB, arena_alloc, &a, &out, &out_len),
                   0);
      cr_assert_eq(out_len, 64 * KiB);
      cr_assert_eq(memcmp(out, msg, out_len), 0);
      arena_reset(&a);
    }
    if (round == 0) after_first = heap_bytes();
  }
  cr_expect_eq(heap_bytes(), after_first, "the cached streams grew: %zu -> %zu", after_first,
               heap_bytes());
  rpc_compress_thread_release();
  free(msg);
}

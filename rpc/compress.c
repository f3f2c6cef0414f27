/* gRPC message compression over zlib: grpc-encoding tokens, grpc-accept-encoding sets, and
 * one-shot compress/decompress of a whole message into caller-arena memory.
 *
 * Decompression never trusts the sender about sizes. Output buffers take their capacities from
 * the fixed ladder ceil(max / 2^k) and only ever climb it, so the buffers of one call are distinct
 * rungs and together stay below 2 * max + 64 bytes whatever the stream claims; the first rung is
 * the lowest one that fits a guess from the input, so small messages allocate little. When the
 * buffer is full, inflate gets a one-byte probe: a byte there means the message is bigger, and at
 * the top rung (max) that is -E2BIG, found without holding a byte more than max. */
#define ZLIB_CONST
#include "rpc/compress.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SIZE_BITS (sizeof(size_t) * CHAR_BIT)
_Static_assert(sizeof(uLong) <= sizeof(size_t), "deflateBound() results must fit in size_t");

/* zlib streams, one set per thread, reset between messages rather than set up anew:
 * deflateInit2 allocates and clears about 256 KiB, inflateInit2 about 40 KiB, for every message
 * otherwise. A thread's streams are made on its first message of each kind and freed when it
 * ends. Compression runs on shard and worker threads alike, so a thread-local cache keeps the
 * functions reentrant. */
typedef struct zcache {
  z_stream inflate;
  bool inflate_ready;
  z_stream deflate[RPC_ENC_GZIP + 1]; /* by encoding: deflate (zlib) and gzip wrappers differ */
  bool deflate_ready[RPC_ENC_GZIP + 1];
} zcache;

static pthread_key_t zcache_key;
static pthread_once_t zcache_once = PTHREAD_ONCE_INIT;
static bool zcache_key_ok;

static void zcache_free(void *p) {
  zcache *c = p;
  if (c->inflate_ready) inflateEnd(&c->inflate);
  for (int e = 0; e <= RPC_ENC_GZIP; e++)
    if (c->deflate_ready[e]) deflateEnd(&c->deflate[e]);
  free(c);
}

static void zcache_make_key(void) {
  zcache_key_ok = pthread_key_create(&zcache_key, zcache_free) == 0;
}

void rpc_compress_thread_release(void) {
  pthread_once(&zcache_once, zcache_make_key);
  zcache *c = zcache_key_ok ? pthread_getspecific(zcache_key) : NULL;
  if (!c) return;
  pthread_setspecific(zcache_key, NULL);
  zcache_free(c);
}

/* This thread's cache, or NULL (out of memory): the caller then uses a stream of its own. */
static zcache *zcache_get(void) {
  pthread_once(&zcache_once, zcache_make_key);
  if (!zcache_key_ok) return NULL;
  zcache *c = pthread_getspecific(zcache_key);
  if (c) return c;
  c = calloc(1, sizeof(*c));
  if (c && pthread_setspecific(zcache_key, c) != 0) {
    free(c);
    return NULL;
  }
  return c;
}

/* A reset keeps the buffers a previous, perhaps abandoned, message left pointed at. */
static void forget_buffers(z_stream *zs) {
  zs->next_in = NULL;
  zs->avail_in = 0;
  zs->next_out = NULL;
  zs->avail_out = 0;
}

/* An inflate stream for `wbits`: the thread's, reset; or *own, initialised. */
static z_stream *inflate_stream(int wbits, z_stream *own, int *zr) {
  zcache *c = zcache_get();
  if (c && c->inflate_ready) {
    forget_buffers(&c->inflate);
    *zr = inflateReset2(&c->inflate, wbits);
    return &c->inflate;
  }
  z_stream *zs = c ? &c->inflate : own;
  memset(zs, 0, sizeof(*zs));
  *zr = inflateInit2(zs, wbits);
  if (c && *zr == Z_OK) c->inflate_ready = true;
  return zs;
}

static z_stream *deflate_stream(rpc_encoding e, int wbits, z_stream *own, int *zr) {
  zcache *c = zcache_get();
  if (c && c->deflate_ready[e]) {
    forget_buffers(&c->deflate[e]);
    *zr = deflateReset(&c->deflate[e]);
    return &c->deflate[e];
  }
  z_stream *zs = c ? &c->deflate[e] : own;
  memset(zs, 0, sizeof(*zs));
  *zr = deflateInit2(zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY);
  if (c && *zr == Z_OK) c->deflate_ready[e] = true;
  return zs;
}

/* Done with a stream: the thread's stays for the next message, one of its own goes. */
static void inflate_done(z_stream *zs, z_stream *own) {
  if (zs == own) inflateEnd(zs);
}

static void deflate_done(z_stream *zs, z_stream *own) {
  if (zs == own) deflateEnd(zs);
}

static const char *const enc_names[] = {
    [RPC_ENC_IDENTITY] = "identity",
    [RPC_ENC_DEFLATE] = "deflate",
    [RPC_ENC_GZIP] = "gzip",
};
#define ENC_COUNT (sizeof(enc_names) / sizeof(enc_names[0]))

rpc_encoding rpc_encoding_parse(const char *v, size_t n) {
  if (!v) return RPC_ENC_UNKNOWN;
  for (size_t i = 0; i < ENC_COUNT; i++) {
    if (strlen(enc_names[i]) == n && memcmp(enc_names[i], v, n) == 0) return (rpc_encoding)i;
  }
  return RPC_ENC_UNKNOWN;
}

const char *rpc_encoding_name(rpc_encoding e) {
  if ((int)e < 0 || (size_t)e >= ENC_COUNT) return NULL;
  return enc_names[e];
}

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

unsigned rpc_accept_encoding_parse(const char *v, size_t n) {
  unsigned set = 1u << RPC_ENC_IDENTITY;
  if (!v) return set;
  size_t i = 0;
  for (;;) {
    size_t start = i;
    while (i < n && v[i] != ',') i++;
    size_t end = i;
    while (start < end && is_ows(v[start])) start++;
    while (end > start && is_ows(v[end - 1])) end--;
    rpc_encoding e = rpc_encoding_parse(v + start, end - start);
    if (e != RPC_ENC_UNKNOWN) set |= 1u << e;
    if (i >= n) break;
    i++; /* the comma */
  }
  return set;
}

/* zlib windowBits for `e`: 15 is the zlib wrapper (grpc's "deflate"), +16 the gzip wrapper. */
static int window_bits(rpc_encoding e, int *wbits) {
  switch (e) {
  case RPC_ENC_DEFLATE:
    *wbits = 15;
    return 0;
  case RPC_ENC_GZIP:
    *wbits = 15 + 16;
    return 0;
  case RPC_ENC_IDENTITY:
    return -EINVAL;
  default:
    return -ENOTSUP;
  }
}

static int zlib_err(int zr) {
  return zr == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
}

/* Rung k of the capacity ladder: ceil(max / 2^k). */
static size_t rung(size_t max, unsigned k) {
  if (k >= SIZE_BITS) return max ? 1 : 0;
  size_t c = max >> k;
  if (max & (((size_t)1 << k) - 1)) c++;
  return c;
}

/* The highest k whose rung still holds `want` bytes (want <= max). */
static unsigned first_rung(size_t max, size_t want) {
  unsigned k = 0;
  while (k + 1 < SIZE_BITS && rung(max, k + 1) >= want) k++;
  return k;
}

/* A guess at the decompressed size. gzip carries it (mod 2^32) in its last four bytes; a liar
 * only moves us along the ladder, which is bounded anyway, and fails the ISIZE check in the end.
 * Otherwise assume a modest ratio, as protobuf rarely compresses better than 4:1. */
static size_t size_guess(rpc_encoding e, const uint8_t *in, size_t n, size_t max) {
  if (e == RPC_ENC_GZIP && n >= 18) {
    const uint8_t *t = in + n - 4;
    uint32_t isize =
        (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
    if (isize <= max) return isize;
  }
  if (n > (SIZE_MAX - 64) / 4) return max;
  size_t g = 4 * n + 64;
  return g < max ? g : max;
}

int rpc_decompress(rpc_encoding e, const uint8_t *in, size_t n, size_t max, rpc_alloc_fn alloc,
                   void *ud, uint8_t **out, size_t *out_len) {
  int wbits;
  int rc = window_bits(e, &wbits);
  if (rc) return rc;
  if (n == 0) return -EINVAL; /* no stream of either format is empty */

  unsigned k = first_rung(max, size_guess(e, in, n, max));
  size_t cap = rung(max, k);
  uint8_t *buf = alloc(ud, cap ? cap : 1); /* max == 0 still gets a non-NULL *out */
  if (!buf) return -ENOMEM;

  z_stream own, *z;
  int zr;
  z = inflate_stream(wbits, &own, &zr);
  if (zr != Z_OK) return zlib_err(zr);

  const uint8_t *ip = in;
  size_t in_left = n, len = 0;
  uint8_t probe;
  for (;;) {
    if (z->avail_in == 0 && in_left > 0) { /* avail_in is a uInt: feed huge inputs in parts */
      uInt part = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
      z->next_in = ip;
      z->avail_in = part;
      ip += part;
      in_left -= part;
    }
    int probing = len == cap;
    size_t room = probing ? 1 : cap - len;
    uInt avail = room > UINT_MAX ? UINT_MAX : (uInt)room;
    z->next_out = probing ? &probe : buf + len;
    z->avail_out = avail;
    zr = inflate(z, Z_NO_FLUSH);
    size_t got = avail - z->avail_out;
    if (probing && got) {
      if (cap >= max) {
        rc = -E2BIG;
        break;
      }
      while (k > 0 && rung(max, k) <= cap) k--;
      size_t ncap = rung(max, k);
      uint8_t *nbuf = alloc(ud, ncap);
      if (!nbuf) {
        rc = -ENOMEM;
        break;
      }
      memcpy(nbuf, buf, len);
      buf = nbuf;
      cap = ncap;
      buf[len++] = probe;
    } else if (!probing) {
      len += got;
    }
    if (zr == Z_OK) continue;
    if (zr == Z_STREAM_END)
      rc = z->avail_in || in_left ? -EINVAL : 0; /* trailing bytes */
    else
      rc = zlib_err(zr); /* Z_BUF_ERROR: input ran out mid-stream; Z_NEED_DICT: none here */
    break;
  }
  inflate_done(z, &own);
  if (rc == 0) {
    *out = buf;
    *out_len = len;
  }
  return rc;
}

int rpc_compress(rpc_encoding e, const uint8_t *in, size_t n, rpc_alloc_fn alloc, void *ud,
                 uint8_t **out, size_t *out_len) {
  int wbits;
  int rc = window_bits(e, &wbits);
  if (rc) return rc;

  z_stream own, *z;
  int zr;
  z = deflate_stream(e, wbits, &own, &zr);
  if (zr != Z_OK) return zlib_err(zr);

  /* With the stream's own parameters, deflateBound() covers the wrapper too: one allocation and
   * one deflate(Z_FINISH) call for any message under 4 GiB. */
  uLong bound = deflateBound(z, (uLong)n);
  if (bound < n) { /* wrapped: only for n within a few KiB of SIZE_MAX */
    deflate_done(z, &own);
    return -EOVERFLOW;
  }
  uint8_t *buf = alloc(ud, (size_t)bound);
  if (!buf) {
    deflate_done(z, &own);
    return -ENOMEM;
  }

  const uint8_t *ip = in;
  size_t in_left = n, out_left = (size_t)bound;
  z->next_out = buf;
  for (;;) {
    if (z->avail_in == 0 && in_left > 0) {
      uInt part = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
      z->next_in = ip;
      z->avail_in = part;
      ip += part;
      in_left -= part;
    }
    if (z->avail_out == 0 && out_left > 0) { /* next_out already points past what was written */
      uInt part = out_left > UINT_MAX ? UINT_MAX : (uInt)out_left;
      z->avail_out = part;
      out_left -= part;
    }
    zr = deflate(z, in_left == 0 ? Z_FINISH : Z_NO_FLUSH);
    if (zr == Z_STREAM_END) break;
    if (zr != Z_OK) {
      /* Z_BUF_ERROR would mean deflateBound() was short, which zlib rules out. */
      rc = zr == Z_BUF_ERROR ? -EOVERFLOW : zlib_err(zr);
      break;
    }
  }
  size_t produced = (size_t)(z->next_out - buf);
  deflate_done(z, &own);
  if (rc == 0) {
    *out = buf;
    *out_len = produced;
  }
  return rc;
}

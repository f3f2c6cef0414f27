/* gRPC message compression (grpc-encoding): identity, deflate and gzip, sans-IO over zlib.
 * Every function here is reentrant and may be called from any thread: the only state is each
 * thread's own cache of zlib streams. */
#ifndef URPC_RPC_COMPRESS_H
#define URPC_RPC_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

/* The encodings we know. The values double as bit positions in an accept set (1u << e). */
typedef enum rpc_encoding {
  RPC_ENC_IDENTITY = 0,
  RPC_ENC_DEFLATE = 1,
  RPC_ENC_GZIP = 2,
  RPC_ENC_UNKNOWN = -1
} rpc_encoding;

/* What we advertise in grpc-accept-encoding (and list with UNIMPLEMENTED for an encoding we
 * lack). */
#define RPC_ACCEPT_ENCODING "identity,deflate,gzip"

/* Parses a grpc-encoding value: exactly "identity", "deflate" or "gzip" (case-sensitive, no
 * surrounding whitespace, as grpc sends it). `v` need not be NUL-terminated; `n` is its length.
 * Returns the encoding, or RPC_ENC_UNKNOWN for anything else (including n == 0). */
rpc_encoding rpc_encoding_parse(const char *v, size_t n);

/* The grpc-encoding token for `e` ("identity", "deflate", "gzip"): a static string, valid
 * forever. Returns NULL for RPC_ENC_UNKNOWN or any other value. */
const char *rpc_encoding_name(rpc_encoding e);

/* Parses a grpc-accept-encoding value: tokens separated by commas, each with optional spaces or
 * tabs around it ("gzip, deflate", "identity,gzip"). Tokens are matched as rpc_encoding_parse()
 * does; unknown and empty tokens are ignored. Returns the set of accepted encodings as bits
 * (1u << e); RPC_ENC_IDENTITY is always in it, so "" and "br" give 1u << RPC_ENC_IDENTITY. */
unsigned rpc_accept_encoding_parse(const char *v, size_t n);

/* Allocator for output buffers: returns `size` bytes aligned for any type, or NULL on failure.
 * Nothing is ever freed through this interface: it is meant to be the per-call arena, which
 * releases everything at once. `ud` is passed through untouched. */
typedef void *(*rpc_alloc_fn)(void *ud, size_t size);

/* Decompresses `in[0..n)`, one whole gRPC message that arrived with the compressed flag set,
 * encoded with `e` (RPC_ENC_GZIP: RFC 1952; RPC_ENC_DEFLATE: zlib format, RFC 1950). The input
 * must be exactly one complete stream: trailing bytes are an error.
 *
 * At most `max` decompressed bytes are accepted. Output is never held beyond `max` bytes, and the
 * total requested from `alloc` stays below 2 * max + 64 even when the stream would expand without
 * end (zip bombs cost CPU for `max` bytes of output, not memory). A small message costs little:
 * the first buffer is sized from the input (or, for gzip, from its ISIZE trailer when that is at
 * most `max`) and grows by about doubling, so allocations are few (logarithmic in max).
 *
 * On success returns 0, *out points to *out_len bytes inside memory from `alloc` (never NULL, even
 * when *out_len is 0), owned by whoever owns the allocator's memory. On error *out and *out_len are
 * left untouched, and buffers already taken from `alloc` are simply abandoned to it.
 * Errors: -E2BIG: the message decompresses to more than `max` bytes (→ RESOURCE_EXHAUSTED);
 * -EINVAL: corrupt, truncated or trailing data, the other format (gzip labelled deflate or vice
 * versa), or e == RPC_ENC_IDENTITY (a compressed flag with identity is a protocol error →
 * INTERNAL); -ENOTSUP: e is RPC_ENC_UNKNOWN or not an encoding (→ UNIMPLEMENTED);
 * -ENOMEM: `alloc` or zlib could not allocate. */
int rpc_decompress(rpc_encoding e, const uint8_t *in, size_t n, size_t max, rpc_alloc_fn alloc,
                   void *ud, uint8_t **out, size_t *out_len);

/* Compresses `in[0..n)` with `e` into one buffer from `alloc`, sized by deflateBound() (a single
 * allocation). RPC_ENC_GZIP writes RFC 1952 (zlib windowBits 15 + 16); RPC_ENC_DEFLATE writes the
 * zlib format, RFC 1950 (windowBits 15), which is what grpc calls "deflate". Level is zlib's
 * default, as grpc uses. `in` may be NULL when n == 0.
 *
 * On success returns 0 with *out / *out_len as for rpc_decompress(); on error leaves them
 * untouched. Errors: -EINVAL: e == RPC_ENC_IDENTITY (nothing to compress); -ENOTSUP: e is
 * RPC_ENC_UNKNOWN or not an encoding; -ENOMEM: `alloc` or zlib could not allocate;
 * -EOVERFLOW: the output bound does not fit in size_t. */
int rpc_compress(rpc_encoding e, const uint8_t *in, size_t n, rpc_alloc_fn alloc, void *ud,
                 uint8_t **out, size_t *out_len);

/* Each thread keeps the zlib streams it used (about 40 KiB for inflate, 256 KiB per deflate
 * encoding) and resets them for its next message instead of setting up new ones; they are freed
 * when the thread ends, or now by this call. */
void rpc_compress_thread_release(void);

#endif

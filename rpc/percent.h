/* grpc-message percent-encoding: bytes outside 0x20..0x7E, and '%', become %XX. */
#ifndef URPC_RPC_PERCENT_H
#define URPC_RPC_PERCENT_H

#include <stddef.h>

/* Bytes needed to encode `n` bytes of `in` (without a terminator). */
size_t rpc_percent_encoded_len(const char *in, size_t n);
/* Encodes into `out`, which holds rpc_percent_encoded_len() bytes; returns bytes written. */
size_t rpc_percent_encode(const char *in, size_t n, char *out);
/* Decodes in place-safe into `out` (at most `n` bytes). Malformed escapes are kept as they
 * are, as grpc does. Returns bytes written. */
size_t rpc_percent_decode(const char *in, size_t n, char *out);

#endif

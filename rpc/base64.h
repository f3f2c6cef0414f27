/* Base64 for "-bin" metadata: standard alphabet; decoding accepts padded and unpadded input
 * (grpc's rule), encoding writes unpadded (as grpc-go and grpc C++ send). */
#ifndef URPC_RPC_BASE64_H
#define URPC_RPC_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes rpc_base64_encode writes for `n` input bytes. */
static inline size_t rpc_base64_encoded_len(size_t n) {
  return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}
size_t rpc_base64_encode(const uint8_t *in, size_t n, char *out);
/* Upper bound of decoded bytes for `n` input characters. */
static inline size_t rpc_base64_decoded_max(size_t n) {
  return n / 4 * 3 + 3;
}
/* Decodes into `out`; returns the byte count, or -EINVAL for a character outside the alphabet,
 * misplaced padding or an impossible length. */
long rpc_base64_decode(const char *in, size_t n, uint8_t *out);

#endif

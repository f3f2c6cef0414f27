/* Per grpc's PROTOCOL-HTTP2.md: encode on send; on receive, decode what is well-formed and pass
 * the rest through rather than fail the call. */
#include "rpc/percent.h"

static int needs_escape(unsigned char c) {
  return c < 0x20 || c > 0x7E || c == '%';
}

size_t rpc_percent_encoded_len(const char *in, size_t n) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++) len += needs_escape((unsigned char)in[i]) ? 3 : 1;
  return len;
}

size_t rpc_percent_encode(const char *in, size_t n, char *out) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    if (needs_escape(c)) {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    } else {
      out[o++] = (char)c;
    }
  }
  return o;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

size_t rpc_percent_decode(const char *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (in[i] == '%' && i + 2 < n && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
      out[o++] = (char)(hexval(in[i + 1]) << 4 | hexval(in[i + 2]));
      i += 2;
    } else {
      out[o++] = in[i];
    }
  }
  return o;
}

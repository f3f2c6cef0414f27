/* Answers for clients that are not speaking gRPC: a browser or curl asking for a page over
 * HTTP/2 gets a complete HTTP response with a line of text (so its stream ends the way HTTP
 * clients expect), and an HTTP/1.x request on the plaintext port gets a readable HTTP/1.1
 * error before the connection closes, instead of HTTP/2 bytes it cannot read. */
#include <stdio.h>
#include <string.h>

#include "rpc/rpc_impl.h"

typedef struct http_error {
  uint16_t status;
  const char *code, *text;
} http_error;

static const http_error errors[] = {
    {405, "405",
     "uringrpc: this is a gRPC server; gRPC calls use POST with content-type "
     "application/grpc\n"},
    {415, "415",
     "uringrpc: this is a gRPC server; requests need content-type application/grpc (or "
     "application/grpc+proto)\n"},
};

static const http_error *find(uint16_t status) {
  for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
    if (errors[i].status == status) return &errors[i];
  return &errors[1];
}

static ssize_t read_text(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *ud) {
  (void)session, (void)stream_id, (void)ud;
  const char *text = source->ptr;
  size_t n = strlen(text);
  if (n > length) n = length; /* the texts are far below a frame */
  memcpy(buf, text, n);
  *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

int rpc_http_error_submit(nghttp2_session *h2, int32_t stream_id, uint16_t status) {
  const http_error *e = find(status);
  static const uint8_t ct[] = "content-type", plain[] = "text/plain; charset=utf-8";
  nghttp2_nv nv[] = {
      {(uint8_t *)":status", (uint8_t *)e->code, 7, 3, NGHTTP2_NV_FLAG_NO_COPY_NAME},
      {(uint8_t *)ct, (uint8_t *)plain, sizeof(ct) - 1, sizeof(plain) - 1,
       NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE},
  };
  nghttp2_data_provider prd = {.source.ptr = (void *)e->text, .read_callback = read_text};
  return nghttp2_submit_response(h2, stream_id, nv, 2, &prd);
}

#define HTTP1_BODY                                                                                 \
  "uringrpc: this port speaks HTTP/2 only (gRPC with prior knowledge, or TLS with ALPN h2); "      \
  "HTTP/1.x is not served here.\n"

bool rpc_http1_request(const uint8_t *p, size_t n) {
  /* A method token (RFC 9110: letters here) and a space, as no HTTP/2 preface starts. */
  size_t i = 0;
  while (i < n && i < 16 && p[i] >= 'A' && p[i] <= 'Z') i++;
  return i > 0 && i < n && p[i] == ' ' && !(i == 3 && memcmp(p, "PRI", 3) == 0);
}

int rpc_http1_reply(core_outq *out) {
  char head[160];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 505 HTTP Version Not Supported\r\n"
                   "Content-Type: text/plain; charset=utf-8\r\n"
                   "Content-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   sizeof(HTTP1_BODY) - 1);
  if (core_outq_copy(out, head, (size_t)n) < 0) return -1;
  return core_outq_copy(out, HTTP1_BODY, sizeof(HTTP1_BODY) - 1);
}

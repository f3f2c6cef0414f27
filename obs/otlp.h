/* OTLP/HTTP trace export (private to obs/): otlp_encode.c makes an ExportTraceServiceRequest
 * (protobuf-c, from the official field numbers in proto/opentelemetry) of a batch of spans,
 * sans-IO; otlp_http.c POSTs it to the collector over HTTP/1.1 and reads the answer with
 * http-parser. Both run on the exporter thread only. */
#ifndef URPC_OBS_OTLP_H
#define URPC_OBS_OTLP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "obs/urpc_trace.h"

typedef struct otlp_resource otlp_resource;

/* The resource every batch carries: service.name, telemetry.sdk.*, and the
 * OTEL_RESOURCE_ATTRIBUTES pairs ("k=v,k2=v2", values percent-decoded). Returns 0, -EINVAL
 * (a pair without '=') or -ENOMEM. */
int otlp_resource_new(const char *service_name, const char *attributes, otlp_resource **out);
void otlp_resource_free(otlp_resource *r);

/* The protobuf body for `spans`, in `r`'s scratch memory (kept and grown across batches, so a
 * steady exporter allocates nothing): valid until the next call or otlp_resource_free.
 * Returns 0 or -ENOMEM. */
int otlp_encode(otlp_resource *r, const urpc_span *const *spans, size_t n, const uint8_t **out,
                size_t *len);

/* An :authority "host[:port]" (the host a name, an IPv4 address or a bracketed IPv6 literal)
 * split into `host` (without brackets, at most `cap` - 1 bytes) and `port` (-1 when absent).
 * Returns 0, or -EINVAL for anything else (no host, a bad port, userinfo, a bare IPv6). */
int otlp_authority_parse(const char *authority, char *host, size_t cap, int *port);

/* "k=v,k2=v2" (OTEL_EXPORTER_OTLP_HEADERS) as HTTP header lines "k: v\r\n...", malloc'd, values
 * percent-decoded. Returns NULL for a bad list (or out of memory). */
char *otlp_headers_lines(const char *list);

#endif

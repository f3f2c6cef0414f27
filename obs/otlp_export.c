/* OTLP/HTTP export: not yet; an endpoint is refused. */
#include <errno.h>

#include "obs/trace_impl.h"

int otlp_exporter_new(const urpc_trace_options *o, otlp_exporter **out) {
  (void)o, (void)out;
  return -ENOTSUP;
}
int otlp_exporter_send(otlp_exporter *e, const urpc_span *spans, size_t n) {
  (void)e, (void)spans, (void)n;
  return -ENOTSUP;
}
void otlp_exporter_free(otlp_exporter *e) {
  (void)e;
}

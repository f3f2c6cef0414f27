/* The example server's tracing: --trace and the --otlp-* / --trace-* flags, taken out of argv
 * before the other flags are parsed (as --print-config is), over the OpenTelemetry SDK
 * environment variables (OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_BSP_*, ...). Off
 * unless a flag asks for it. */
#ifndef URPC_EXAMPLES_TRACE_SETUP_H
#define URPC_EXAMPLES_TRACE_SETUP_H

#include <stdbool.h>
#include <stdio.h>

#include "urpc_metrics.h"
#include "urpc_trace.h"

typedef struct trace_setup {
  bool on;
  bool message_events; /* --trace-message-events */
  const char *endpoint, *sampler, *sampler_arg, *service_name, *headers;
  const char *ca_file, *client_cert, *client_key;
  long batch_delay_ms, queue_size, batch_size; /* -1: not given */
  urpc_tracer *tracer;
} trace_setup;

/* Removes the tracing flags from argv (getopt never sees them). Returns 0, or 2 after printing
 * one line for a flag without its value. */
int trace_setup_take_flags(trace_setup *t, int *argc, char **argv);
/* The help lines of those flags. */
extern const char trace_setup_usage[];
/* Before urpc_server_start: the environment, then the flags, then the tracer. 0, or after
 * printing one line 2 (a bad value or file: the exit code of a usage error) or 1. Nothing when
 * tracing is off. */
int trace_setup_start(trace_setup *t, urpc_server *s, urpc_metrics *m);
/* --print-config's lines for tracing (after print_config's, as in --help). 0, 1 if writing
 * failed, 2 for a bad value. */
int trace_setup_print(FILE *f, const trace_setup *t);
/* After urpc_server_free: one last export (no retries) and the exporter stops. */
void trace_setup_free(trace_setup *t);

#endif

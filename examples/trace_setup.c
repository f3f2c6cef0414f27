/* --trace and friends for uringrpc-server (trace_setup.h). */
#include "trace_setup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char trace_setup_usage[] =
    "  --trace                   a server span per call (OpenTelemetry, W3C traceparent), "
    "configured by the OTEL_* environment variables and the flags below (default off)\n"
    "  --otlp-endpoint URL       OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces, "
    "https:// for TLS (implies --trace; default OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or "
    "OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces)\n"
    "  --otlp-headers K=V,...    headers on each export (OTEL_EXPORTER_OTLP_HEADERS)\n"
    "  --otlp-ca-file FILE       https endpoints: PEM CA bundle the collector's certificate must "
    "verify against (OTEL_EXPORTER_OTLP_CERTIFICATE; default the system's)\n"
    "  --otlp-client-cert FILE   https endpoints: PEM client certificate for a collector that "
    "requires one (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE)\n"
    "  --otlp-client-key FILE    its PEM private key (OTEL_EXPORTER_OTLP_CLIENT_KEY)\n"
    "  --trace-sampler NAME      parentbased_always_on (default), always_on, always_off, "
    "traceidratio, parentbased_traceidratio, parentbased_always_off\n"
    "  --trace-sampler-arg R     the ratio for the *traceidratio samplers, 0 to 1\n"
    "  --trace-service-name NAME the resource's service.name (OTEL_SERVICE_NAME; default "
    "uringrpc)\n"
    "  --trace-batch-delay MS    export at least this often (OTEL_BSP_SCHEDULE_DELAY; 5000)\n"
    "  --trace-queue-size N      spans each shard holds for the exporter; beyond: dropped and "
    "counted (OTEL_BSP_MAX_QUEUE_SIZE; 2048)\n"
    "  --trace-batch-size N      spans per export (OTEL_BSP_MAX_EXPORT_BATCH_SIZE; 512)\n"
    "  --trace-message-events    an rpc.message event per gRPC message each way (type, id, size;"
    " the first 16 of a call, the rest counted as dropped; default off)\n";

static const struct {
  const char *flag;
  size_t field; /* offsetof a const char * in trace_setup, or SIZE_MAX for numbers */
} string_flags[] = {
    {"--otlp-endpoint", offsetof(trace_setup, endpoint)},
    {"--otlp-headers", offsetof(trace_setup, headers)},
    {"--otlp-ca-file", offsetof(trace_setup, ca_file)},
    {"--otlp-client-cert", offsetof(trace_setup, client_cert)},
    {"--otlp-client-key", offsetof(trace_setup, client_key)},
    {"--trace-sampler", offsetof(trace_setup, sampler)},
    {"--trace-sampler-arg", offsetof(trace_setup, sampler_arg)},
    {"--trace-service-name", offsetof(trace_setup, service_name)},
};

static const struct {
  const char *flag;
  size_t field; /* offsetof a long */
} number_flags[] = {
    {"--trace-batch-delay", offsetof(trace_setup, batch_delay_ms)},
    {"--trace-queue-size", offsetof(trace_setup, queue_size)},
    {"--trace-batch-size", offsetof(trace_setup, batch_size)},
};

/* "--flag VALUE" or "--flag=VALUE": the value, or NULL if argv[*i] is not `flag`. */
static const char *value_of(const char *flag, int *i, int argc, char **argv, bool *missing) {
  size_t n = strlen(flag);
  if (strncmp(argv[*i], flag, n)) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n]) return NULL;
  if (*i + 1 >= argc) {
    *missing = true;
    return NULL;
  }
  return argv[++*i];
}

int trace_setup_take_flags(trace_setup *t, int *argc, char **argv) {
  t->batch_delay_ms = t->queue_size = t->batch_size = -1;
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    if (!strcmp(argv[i], "--")) {
      while (i < *argc) argv[out++] = argv[i++];
      break;
    }
    bool events = !strcmp(argv[i], "--trace-message-events");
    if (events || !strcmp(argv[i], "--trace")) {
      t->on = true;
      t->message_events |= events;
      continue;
    }
    bool taken = false, missing = false;
    for (size_t f = 0; !taken && f < sizeof(string_flags) / sizeof(string_flags[0]); f++) {
      const char *v = value_of(string_flags[f].flag, &i, *argc, argv, &missing);
      if (missing) {
        fprintf(stderr, "uringrpc-server: %s needs a value\n", string_flags[f].flag);
        return 2;
      }
      if (v) {
        *(const char **)((char *)t + string_flags[f].field) = v;
        taken = true;
      }
    }
    for (size_t f = 0; !taken && f < sizeof(number_flags) / sizeof(number_flags[0]); f++) {
      const char *v = value_of(number_flags[f].flag, &i, *argc, argv, &missing);
      if (missing) {
        fprintf(stderr, "uringrpc-server: %s needs a value\n", number_flags[f].flag);
        return 2;
      }
      if (v) {
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < 1 || x > 1000000) {
          fprintf(stderr, "uringrpc-server: %s needs a whole number from 1 to 1000000, not '%s'\n",
                  number_flags[f].flag, v);
          return 2;
        }
        *(long *)((char *)t + number_flags[f].field) = x;
        taken = true;
      }
    }
    if (taken) {
      t->on = true;
      continue;
    }
    argv[out++] = argv[i];
  }
  argv[out] = NULL;
  *argc = out;
  return 0;
}

/* The environment, then the flags. 0, or -1 after printing one line. */
static int resolve(const trace_setup *t, urpc_trace_options *o) {
  urpc_trace_options_init(o);
  if (urpc_trace_options_from_env(o) < 0) {
    fprintf(stderr, "uringrpc-server: an OTEL_* tracing variable has a bad value\n");
    return -1;
  }
  if (t->endpoint) o->endpoint = t->endpoint;
  if (t->headers) o->headers = t->headers;
  if (t->ca_file) o->ca_file = t->ca_file;
  if (t->client_cert) o->client_cert_file = t->client_cert;
  if (t->client_key) o->client_key_file = t->client_key;
  if (t->service_name) o->service_name = t->service_name;
  if (t->sampler && urpc_trace_sampler_parse(t->sampler, &o->sampler) < 0) {
    fprintf(stderr, "uringrpc-server: --trace-sampler: no sampler '%s'\n", t->sampler);
    return -1;
  }
  if (t->sampler_arg) {
    char *end;
    double r = strtod(t->sampler_arg, &end);
    if (*end || end == t->sampler_arg || !(r >= 0 && r <= 1)) {
      fprintf(stderr, "uringrpc-server: --trace-sampler-arg needs a ratio from 0 to 1, not '%s'\n",
              t->sampler_arg);
      return -1;
    }
    o->ratio = r;
  }
  if (t->batch_delay_ms > 0) o->schedule_delay_ms = (unsigned)t->batch_delay_ms;
  if (t->queue_size > 0) o->max_queue_size = (unsigned)t->queue_size;
  if (t->batch_size > 0) o->max_export_batch_size = (unsigned)t->batch_size;
  o->message_events = t->message_events;
  return 0;
}

/* Which flag or variable set a TLS file, for the line that names the fix. */
static const char *tls_file_source(const char *why, const urpc_trace_options *o,
                                   const trace_setup *t) {
  if (o->ca_file && strstr(why, o->ca_file))
    return t->ca_file ? "--otlp-ca-file" : "OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE";
  if (o->client_cert_file && strstr(why, o->client_cert_file))
    return t->client_cert ? "--otlp-client-cert" : "OTEL_EXPORTER_OTLP_(TRACES_)CLIENT_CERTIFICATE";
  if (o->client_key_file && strstr(why, o->client_key_file))
    return t->client_key ? "--otlp-client-key" : "OTEL_EXPORTER_OTLP_(TRACES_)CLIENT_KEY";
  return NULL;
}

int trace_setup_start(trace_setup *t, urpc_server *s, urpc_metrics *m) {
  if (!t->on) return 0;
  urpc_trace_options o;
  if (resolve(t, &o) < 0) return 2;
  if (!o.endpoint)
    fprintf(stderr, "uringrpc-server: tracing without an OTLP endpoint: spans are not exported\n");
  char why[512];
  if (urpc_trace_options_check(&o, why, sizeof(why)) < 0) {
    const char *src = tls_file_source(why, &o, t);
    fprintf(stderr, "uringrpc-server: cannot set up tracing: %s%s%s\n", why, src ? "; fix " : "",
            src ? src : "");
    return 2;
  }
  int rc = urpc_tracer_new(s, &o, m, &t->tracer);
  if (rc < 0) {
    fprintf(stderr, "uringrpc-server: cannot set up tracing: %s\n", strerror(-rc));
    return 1;
  }
  return 0;
}

int trace_setup_print(FILE *f, const trace_setup *t) {
  static const char *const samplers[] = {"parentbased_always_on",
                                         "always_on",
                                         "always_off",
                                         "traceidratio",
                                         "parentbased_always_off",
                                         "parentbased_traceidratio"};
  urpc_trace_options o;
  if (resolve(t, &o) < 0) return 2;
  fprintf(f, "trace=%s\n", t->on ? "true" : "false");
  fprintf(f, "otlp-endpoint=%s\n", o.endpoint ? o.endpoint : "");
  fprintf(f, "otlp-headers=%s\n", o.headers ? o.headers : "");
  fprintf(f, "otlp-ca-file=%s\n", o.ca_file ? o.ca_file : "");
  fprintf(f, "otlp-client-cert=%s\n", o.client_cert_file ? o.client_cert_file : "");
  fprintf(f, "otlp-client-key=%s\n", o.client_key_file ? o.client_key_file : "");
  fprintf(f, "trace-sampler=%s\n", samplers[o.sampler]);
  fprintf(f, "trace-sampler-arg=%g\n", o.ratio);
  fprintf(f, "trace-service-name=%s\n", o.service_name ? o.service_name : "uringrpc");
  fprintf(f, "trace-batch-delay=%u\n", o.schedule_delay_ms);
  fprintf(f, "trace-queue-size=%u\n", o.max_queue_size);
  fprintf(f, "trace-batch-size=%u\n", o.max_export_batch_size);
  fprintf(f, "trace-message-events=%s\n", o.message_events ? "true" : "false");
  return fflush(f) == 0 && !ferror(f) ? 0 : 1;
}

void trace_setup_free(trace_setup *t) {
  if (!t->tracer) return;
  urpc_tracer_free(t->tracer);
  t->tracer = NULL;
}

/* uringrpc tracing: an OpenTelemetry server span per gRPC call, continuing the client's trace
 * from W3C Trace Context metadata (`traceparent`, `tracestate`), sampled as the OTel SDK's
 * samplers do, exported over OTLP/HTTP (protobuf) by one exporter thread. Public API, beside
 * uringrpc.h.
 *
 * It is an interceptor (urpc_server_add_interceptor): off unless urpc_tracer_new is called, and
 * then a shard never blocks, locks or allocates for it. Each shard fills fixed span records from
 * its own pool and hands them to the exporter through its own single-producer ring; when the
 * pool or ring is full the span is dropped and counted (uringrpc_spans_dropped_total). */
#ifndef URINGRPC_TRACE_H
#define URINGRPC_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "uringrpc.h"
#include "urpc_metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct urpc_tracer urpc_tracer;

/* OTEL_TRACES_SAMPLER's values. */
typedef enum urpc_trace_sampler {
  URPC_SAMPLER_PARENTBASED_ALWAYS_ON,    /* "parentbased_always_on" (default) */
  URPC_SAMPLER_ALWAYS_ON,                /* "always_on" */
  URPC_SAMPLER_ALWAYS_OFF,               /* "always_off" */
  URPC_SAMPLER_TRACEIDRATIO,             /* "traceidratio": OTEL_TRACES_SAMPLER_ARG of traces */
  URPC_SAMPLER_PARENTBASED_ALWAYS_OFF,   /* "parentbased_always_off" */
  URPC_SAMPLER_PARENTBASED_TRACEIDRATIO, /* "parentbased_traceidratio" */
} urpc_trace_sampler;

#define URPC_SPAN_NAME_MAX  128
#define URPC_SPAN_STATE_MAX 512

#define URPC_SPAN_MAX_ATTRS     8   /* the handler's own attributes per span */
#define URPC_SPAN_MAX_EVENTS    8   /* the handler's events per span */
#define URPC_SPAN_KEY_MAX       40  /* attribute keys and event names, NUL included */
#define URPC_SPAN_VALUE_MAX     64  /* string values, NUL included (longer ones are truncated) */
#define URPC_SPAN_AUTHORITY_MAX 128 /* :authority kept for server.*, NUL included */
#define URPC_SPAN_STATUS_MAX    128 /* the status message of an ERROR span, NUL included */
#define URPC_SPAN_MAX_MESSAGES  16  /* message events per span (urpc_trace_options) */

typedef struct urpc_span_attr {
  char key[URPC_SPAN_KEY_MAX];
  bool is_int;
  int64_t int_value;
  char string_value[URPC_SPAN_VALUE_MAX];
} urpc_span_attr;

typedef struct urpc_span_event {
  uint64_t time_unix_ns;
  char name[URPC_SPAN_KEY_MAX];
} urpc_span_event;

/* One gRPC message of the call (rpc.message events, when urpc_trace_options.message_events). */
typedef struct urpc_span_message {
  uint64_t time_unix_ns;
  uint32_t size;   /* bytes without the 5-byte prefix: compressed size when `compressed` */
  uint16_t id;     /* rpc.message.id: 1, 2, ... counted apart for each direction */
  bool sent;       /* rpc.message.type SENT, else RECEIVED */
  bool compressed; /* rpc.message.compressed_size, else .uncompressed_size */
} urpc_span_message;

/* A finished server span, as the exporter sees it. The shard fills it with what it has at hand
 * (binary address, raw :authority); the exporter formats and parses them into attributes. */
typedef struct urpc_span {
  /* What every span has first, then the strings (hot bytes first: records are reused round
   * robin, so each one is out of cache when written and read) */
  uint8_t trace_id[16], span_id[8], parent_span_id[8];
  bool has_parent;                     /* a valid traceparent came in (a remote parent) */
  uint8_t flags;                       /* trace-flags sent downstream (SAMPLED) */
  uint64_t start_unix_ns, end_unix_ns; /* CLOCK_REALTIME */
  urpc_status_code status;             /* rpc.grpc.status_code */
  bool error;                          /* span status ERROR (the RPC conventions' server codes) */
  bool cancelled;
  uint8_t peer_family;   /* AF_INET or AF_INET6 (network.type), 0 when the peer is unknown */
  uint16_t peer_port;    /* network.peer.port */
  uint8_t peer_addr[16]; /* network.peer.address, binary (the first 4 bytes for AF_INET) */
  uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
  uint16_t service_len;                   /* name[0..service_len) is rpc.service */
  uint32_t method_index;                  /* urpc_call_method_index: 0 for an unknown path */
  uint8_t n_attrs, n_events, n_messages;  /* the handler's, below; message events */
  uint16_t dropped_attrs, dropped_events; /* over the bounds */
  uint32_t dropped_messages;              /* message events over URPC_SPAN_MAX_MESSAGES */
  /* The :authority as received ("host[:port]", server.address and server.port), or "" when
   * none came or it was longer than the room here. */
  char authority[URPC_SPAN_AUTHORITY_MAX];
  char name[URPC_SPAN_NAME_MAX];             /* "package.Service/Method" (truncated if longer) */
  char status_message[URPC_SPAN_STATUS_MAX]; /* grpc-message of an ERROR span (truncated), or "" */
  char tracestate[URPC_SPAN_STATE_MAX + 1];  /* as received (when valid), or "" */
  urpc_span_attr attrs[URPC_SPAN_MAX_ATTRS];
  urpc_span_event events[URPC_SPAN_MAX_EVENTS];
  urpc_span_message messages[URPC_SPAN_MAX_MESSAGES]; /* the call's first ones, in order */
} urpc_span;

typedef struct urpc_trace_options {
  urpc_trace_sampler sampler;
  double ratio; /* for the *traceidratio samplers, 0..1; default 1 */
  /* Where spans go: an OTLP/HTTP traces URL ("http://host:4318/v1/traces", or https:// for
   * TLS, default port 443), or NULL for none (then only `on_span` sees them). */
  const char *endpoint;
  const char *headers; /* OTEL_EXPORTER_OTLP_HEADERS form: "k=v,k2=v2", or NULL */
  /* https endpoints (read once, by urpc_tracer_new; unused for http): the PEM CA bundle the
   * collector's certificate must verify against (NULL: the system's,
   * /etc/ssl/certs/ca-certificates.crt), and a client certificate chain and its PEM key for
   * collectors that require one (mTLS; both or neither). The collector's certificate must also
   * name the endpoint's host (DNS or IP subjectAltName). TLS 1.3 only. */
  const char *ca_file;             /* OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE */
  const char *client_cert_file;    /* OTEL_EXPORTER_OTLP_(TRACES_)CLIENT_CERTIFICATE */
  const char *client_key_file;     /* OTEL_EXPORTER_OTLP_(TRACES_)CLIENT_KEY */
  const char *service_name;        /* resource service.name; default "uringrpc" */
  const char *resource_attributes; /* OTEL_RESOURCE_ATTRIBUTES form: "k=v,k2=v2", or NULL */
  unsigned export_timeout_ms;      /* one export (connect, send, answer); default 10000 */
  unsigned schedule_delay_ms;      /* OTEL_BSP_SCHEDULE_DELAY; default 5000 */
  unsigned max_queue_size;         /* OTEL_BSP_MAX_QUEUE_SIZE: spans held per shard; 2048 */
  unsigned max_export_batch_size;  /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE; default 512 */
  /* An rpc.message event per gRPC message each way (the first URPC_SPAN_MAX_MESSAGES of a
   * call; the rest counted as dropped events). Default off: then messages cost nothing. */
  bool message_events;
  /* Called on the exporter thread for each span before it is exported (tests, custom sinks).
   * `span` is valid during the call. May be NULL. */
  void (*on_span)(const urpc_span *span, void *arg);
  void *on_span_arg;
  char endpoint_storage[512]; /* urpc_trace_options_from_env's endpoint when it appends a path */
} urpc_trace_options;

/* Defaults (above). */
void urpc_trace_options_init(urpc_trace_options *o);
/* Overrides `o` with the OpenTelemetry SDK environment variables that are set:
 * OTEL_TRACES_SAMPLER(_ARG), OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or
 * OTEL_EXPORTER_OTLP_ENDPOINT (+ "/v1/traces"), OTEL_EXPORTER_OTLP(_TRACES)_HEADERS,
 * _TIMEOUT, _CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY (the _TRACES_ one first),
 * OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*. Strings point into the environment.
 * Returns 0, or -EINVAL naming nothing (a bad value; `o` is partly updated). */
int urpc_trace_options_from_env(urpc_trace_options *o);
/* What urpc_tracer_new would refuse in `o`, in words: a bad endpoint, headers or resource
 * attributes, and for an https endpoint a CA bundle, client certificate or key that cannot be
 * read or used. Returns 0, or -errno with one line in `why` naming the value or file and what
 * is wrong with it. Any thread. */
int urpc_trace_options_check(const urpc_trace_options *o, char *why, size_t why_len);
/* Parses a sampler name ("parentbased_always_on", ...). Returns 0 or -EINVAL. */
int urpc_trace_sampler_parse(const char *name, urpc_trace_sampler *out);

/* Traces every call of `s` from now on: adds an interceptor, so before urpc_server_start, and
 * starts the exporter thread. `m`, if not NULL, gets uringrpc_spans_dropped_total,
 * uringrpc_spans_exported_total and uringrpc_spans_export_failed_total. `o` is copied (its
 * strings too). The tracer must outlive the server. Returns 0, -EINVAL (urpc_trace_options_check
 * says why), -ENOENT or -EACCES (a TLS file), -ENOMEM, -EBUSY (started) or a pthread error as
 * -errno. A failed export is logged (one line per kind of failure a minute). */
int urpc_tracer_new(urpc_server *s, const urpc_trace_options *o, urpc_metrics *m,
                    urpc_tracer **out);
/* Exports what the shards handed over so far, waiting at most `timeout_ms`. Any thread but a
 * shard's. Returns 0 or -ETIMEDOUT. */
int urpc_tracer_flush(urpc_tracer *t, unsigned timeout_ms);
/* After urpc_server_free: flushes, stops the exporter and frees. */
void urpc_tracer_free(urpc_tracer *t);

typedef struct urpc_tracer_stats {
  uint64_t spans_ended;     /* sampled spans the shards finished */
  uint64_t spans_dropped;   /* of those, dropped: pool or ring full */
  uint64_t spans_exported;  /* accepted by the collector (or handed to on_span without one) */
  uint64_t export_failures; /* spans given up on after the retries */
} urpc_tracer_stats;
void urpc_tracer_get_stats(urpc_tracer *t, urpc_tracer_stats *out);

/* The call's trace context, for the handler to propagate downstream. */
typedef struct urpc_trace_info {
  uint8_t trace_id[16];
  uint8_t span_id[8]; /* this server span's id: the parent of downstream calls */
  bool sampled;
  const char *traceparent; /* "00-<trace>-<span>-<flags>" to send on a downstream call */
  const char *tracestate;  /* the tracestate to send along, or NULL */
} urpc_trace_info;
/* NULL when the call is not traced (no tracer). Valid for the call's life. Any thread holding
 * the call. */
const urpc_trace_info *urpc_call_trace(const urpc_call *call);

/* Attributes and events the handler adds to its call's span: a key or name of at most
 * URPC_SPAN_KEY_MAX - 1 bytes, string values truncated to URPC_SPAN_VALUE_MAX - 1; a key set
 * twice keeps the last value. The thread holding the call, before it finishes it. Returns 0
 * (also when the call is not sampled: nothing is kept), -EINVAL (key too long), -ENOSPC (over
 * URPC_SPAN_MAX_ATTRS or _EVENTS: counted as dropped on the span) or -ENOMEM. */
int urpc_call_trace_set_string(urpc_call *call, const char *key, const char *value);
int urpc_call_trace_set_int(urpc_call *call, const char *key, int64_t value);
int urpc_call_trace_add_event(urpc_call *call, const char *name);

#ifdef __cplusplus
}
#endif
#endif

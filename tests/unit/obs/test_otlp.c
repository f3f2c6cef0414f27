/* OTLP export: the ExportTraceServiceRequest encoding decoded back with the same generated
 * code (the official field numbers) — the RPC semantic conventions' attributes (server.*,
 * network.*, error.type), the status message, rpc.message events and their bounds —
 * :authority parsing, OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES parsing, and the
 * HTTP/1.1 exporter against a scripted receiver on loopback: success, 503 retried with backoff, 400
 * not retried, the collector down within the timeout. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "obs/otlp.h"
#include "obs/trace_impl.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Request;

static urpc_span make_span(uint8_t seed, bool parent, urpc_status_code code, bool error) {
  urpc_span s;
  memset(&s, 0, sizeof(s));
  for (int i = 0; i < 16; i++) s.trace_id[i] = (uint8_t)(seed + i);
  for (int i = 0; i < 8; i++) s.span_id[i] = (uint8_t)(seed + 100 + i);
  for (int i = 0; i < 8; i++) s.parent_span_id[i] = (uint8_t)(seed + 200 + i);
  s.has_parent = parent;
  s.flags = 1;
  s.start_unix_ns = 1700000000000000000ull;
  s.end_unix_ns = s.start_unix_ns + 12345;
  s.status = code;
  s.error = error;
  strcpy(s.name, "helloworld.Greeter/SayHello");
  s.service_len = 18;
  strcpy(s.tracestate, parent ? "congo=t61rcWkgMzE" : "");
  return s;
}

static const Opentelemetry__Proto__Common__V1__AnyValue *
attr(Opentelemetry__Proto__Common__V1__KeyValue **kv, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(kv[i]->key, key)) return kv[i]->value;
  return NULL;
}

static const char *sattr(Opentelemetry__Proto__Common__V1__KeyValue **kv, size_t n,
                         const char *key) {
  const Opentelemetry__Proto__Common__V1__AnyValue *v = attr(kv, n, key);
  cr_assert_not_null(v, "no attribute %s", key);
  cr_assert_eq(v->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);
  return v->string_value;
}

static void check_request(const uint8_t *body, size_t len, size_t want_spans) {
  Request *r = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
      NULL, len, body);
  cr_assert_not_null(r);
  cr_assert_eq(r->n_resource_spans, 1);
  const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = r->resource_spans[0];
  cr_assert_eq(rs->n_scope_spans, 1);
  cr_assert_eq(rs->scope_spans[0]->n_spans, want_spans);
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(r, NULL);
}

Test(otlp, encode_decodes_with_the_official_numbers) {
  otlp_resource *res;
  cr_assert_eq(
      otlp_resource_new("svc", "deployment.environment=test, team=a%20b,service.name=x", &res), 0);
  urpc_span spans[2] = {make_span(1, true, URPC_STATUS_OK, false),
                        make_span(2, false, URPC_STATUS_UNAVAILABLE, true)};
  strcpy(spans[0].attrs[0].key, "app.user");
  strcpy(spans[0].attrs[0].string_value, "alice");
  strcpy(spans[0].attrs[1].key, "app.items");
  spans[0].attrs[1].is_int = true;
  spans[0].attrs[1].int_value = 4;
  spans[0].n_attrs = 2;
  spans[0].dropped_attrs = 3;
  strcpy(spans[0].events[0].name, "cache.miss");
  spans[0].events[0].time_unix_ns = 1700000000000000100ull;
  spans[0].n_events = 1;
  spans[0].dropped_events = 2;
  const urpc_span *ptrs[2] = {&spans[0], &spans[1]};
  const uint8_t *body;
  size_t len;
  cr_assert_eq(otlp_encode(res, ptrs, 2, &body, &len), 0);
  Request *r = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
      NULL, len, body);
  cr_assert_not_null(r);
  const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = r->resource_spans[0];
  Opentelemetry__Proto__Common__V1__KeyValue **ra = rs->resource->attributes;
  size_t nra = rs->resource->n_attributes;
  cr_assert_str_eq(sattr(ra, nra, "service.name"), "svc");
  cr_assert_str_eq(sattr(ra, nra, "deployment.environment"), "test");
  cr_assert_str_eq(sattr(ra, nra, "team"), "a b");
  cr_assert_str_eq(rs->scope_spans[0]->scope->name, "uringrpc");
  const Opentelemetry__Proto__Trace__V1__Span *a = rs->scope_spans[0]->spans[0];
  const Opentelemetry__Proto__Trace__V1__Span *b = rs->scope_spans[0]->spans[1];
  cr_assert_eq(a->trace_id.len, 16);
  cr_assert_arr_eq(a->trace_id.data, spans[0].trace_id, 16);
  cr_assert_eq(a->span_id.len, 8);
  cr_assert_arr_eq(a->span_id.data, spans[0].span_id, 8);
  cr_assert_eq(a->parent_span_id.len, 8);
  cr_assert_arr_eq(a->parent_span_id.data, spans[0].parent_span_id, 8);
  cr_assert_eq(b->parent_span_id.len, 0, "a root has no parent");
  cr_assert_str_eq(a->trace_state, "congo=t61rcWkgMzE");
  cr_assert_eq(a->flags, 0x301);
  cr_assert_eq(b->flags, 0x101);
  cr_assert_str_eq(a->name, "helloworld.Greeter/SayHello");
  cr_assert_eq(a->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
  cr_assert_eq(a->start_time_unix_nano, 1700000000000000000ull);
  cr_assert_eq(a->end_time_unix_nano, 1700000000000012345ull);
  cr_assert_str_eq(sattr(a->attributes, a->n_attributes, "rpc.system"), "grpc");
  cr_assert_str_eq(sattr(a->attributes, a->n_attributes, "rpc.service"), "helloworld.Greeter");
  cr_assert_str_eq(sattr(a->attributes, a->n_attributes, "rpc.method"), "SayHello");
  cr_assert_str_eq(sattr(a->attributes, a->n_attributes, "app.user"), "alice");
  cr_assert_eq(attr(a->attributes, a->n_attributes, "app.items")->int_value, 4);
  cr_assert_eq(a->n_attributes, 7, "4 rpc.*, network.transport and the handler's 2");
  cr_assert_eq(a->dropped_attributes_count, 3);
  cr_assert_eq(a->n_events, 1);
  cr_assert_str_eq(a->events[0]->name, "cache.miss");
  cr_assert_eq(a->events[0]->time_unix_nano, 1700000000000000100ull);
  cr_assert_eq(a->dropped_events_count, 2);
  cr_assert_eq(b->n_attributes, 6, "4 rpc.*, network.transport, error.type");
  cr_assert_eq(b->n_events, 0);
  const Opentelemetry__Proto__Common__V1__AnyValue *code =
      attr(b->attributes, b->n_attributes, "rpc.grpc.status_code");
  cr_assert_not_null(code);
  cr_assert_eq(code->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE);
  cr_assert_eq(code->int_value, 14);
  cr_assert_eq(a->status->code,
               OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_UNSET);
  cr_assert_eq(b->status->code,
               OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(r, NULL);
  otlp_resource_free(res);
  cr_assert_eq(otlp_resource_new(NULL, "novalue", &res), -EINVAL);
}

/* The method's part is kept per method index and the outcome's per status: spans of two methods
 * with every status, over two batches (the second from the kept parts), and a path no method
 * answers (index 0, packed per span), all decode to their own names, codes and statuses. */
static const char *const code_names[17] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

Test(otlp, kept_parts_decode_per_span) {
  otlp_resource *res;
  cr_assert_eq(otlp_resource_new("svc", NULL, &res), 0);
  static const char *names[3] = {"helloworld.Greeter/SayHello",
                                 "grpc.testing.TestService/EmptyCall", "no.Such/Thing"};
  static const uint16_t service_lens[3] = {18, 24, 7};
  static const uint32_t indices[3] = {1, 7, 0};
  urpc_span spans[51];
  const urpc_span *ptrs[51];
  for (int batch = 0; batch < 2; batch++) {
    for (int i = 0; i < 51; i++) {
      int m = i % 3, code = i % 17;
      spans[i] = make_span((uint8_t)(i + batch), i % 2, (urpc_status_code)code, i % 5 == 0);
      strcpy(spans[i].name, names[m]);
      spans[i].service_len = service_lens[m];
      spans[i].method_index = indices[m];
      ptrs[i] = &spans[i];
    }
    const uint8_t *body;
    size_t len;
    cr_assert_eq(otlp_encode(res, ptrs, 51, &body, &len), 0);
    Request *r = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, len, body);
    cr_assert_not_null(r);
    const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = r->resource_spans[0]->scope_spans[0];
    cr_assert_eq(ss->n_spans, 51);
    for (int i = 0; i < 51; i++) {
      const Opentelemetry__Proto__Trace__V1__Span *sp = ss->spans[i];
      int m = i % 3;
      cr_assert_str_eq(sp->name, names[m]);
      cr_assert_eq(sp->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
      cr_assert_arr_eq(sp->trace_id.data, spans[i].trace_id, 16);
      size_t na = sp->n_attributes;
      cr_assert_eq(na, i % 5 == 0 ? 6 : 5, "rpc.*, network.transport, error.type if ERROR");
      cr_assert_eq(strncmp(sattr(sp->attributes, na, "rpc.service"), names[m], service_lens[m]), 0);
      cr_assert_str_eq(sattr(sp->attributes, na, "rpc.method"), names[m] + service_lens[m] + 1);
      cr_assert_eq(attr(sp->attributes, na, "rpc.grpc.status_code")->int_value, i % 17);
      if (i % 5 == 0) cr_assert_str_eq(sattr(sp->attributes, na, "error.type"), code_names[i % 17]);
      cr_assert_eq(sp->status->code,
                   i % 5 == 0
                       ? OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR
                       : OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_UNSET);
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(r,
                                                                                            NULL);
  }
  otlp_resource_free(res);
}

typedef Opentelemetry__Proto__Trace__V1__Span Span;

/* Encodes `n` spans and decodes them back: the caller frees *req. */
static Span **round_trip(const urpc_span *spans, size_t n, Request **req) {
  otlp_resource *res;
  cr_assert_eq(otlp_resource_new("svc", NULL, &res), 0);
  const urpc_span *ptrs[8];
  cr_assert_leq(n, 8);
  for (size_t i = 0; i < n; i++) ptrs[i] = &spans[i];
  const uint8_t *body;
  size_t len;
  cr_assert_eq(otlp_encode(res, ptrs, n, &body, &len), 0);
  *req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, len,
                                                                                          body);
  otlp_resource_free(res);
  cr_assert_not_null(*req);
  cr_assert_eq((*req)->resource_spans[0]->scope_spans[0]->n_spans, n);
  return (*req)->resource_spans[0]->scope_spans[0]->spans;
}

static int64_t iattr(const Span *s, const char *key) {
  const Opentelemetry__Proto__Common__V1__AnyValue *v = attr(s->attributes, s->n_attributes, key);
  cr_assert_not_null(v, "no attribute %s", key);
  cr_assert_eq(v->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE);
  return v->int_value;
}

static bool has_attr(const Span *s, const char *key) {
  return attr(s->attributes, s->n_attributes, key) != NULL;
}

static void set_peer(urpc_span *s, int family, const char *text, uint16_t port) {
  s->peer_family = (uint8_t)family;
  s->peer_port = port;
  cr_assert_eq(inet_pton(family, text, s->peer_addr), 1);
}

Test(otlp, server_and_network_attributes) {
  urpc_span spans[5];
  for (int i = 0; i < 5; i++) spans[i] = make_span((uint8_t)i, true, URPC_STATUS_OK, false);
  set_peer(&spans[0], AF_INET, "127.0.0.1", 40000);
  strcpy(spans[0].authority, "localhost:50051");
  set_peer(&spans[1], AF_INET6, "::1", 40001);
  strcpy(spans[1].authority, "[::1]:8443");
  set_peer(&spans[2], AF_INET6, "::ffff:10.1.2.3", 40002); /* a dual-stack listener's IPv4 */
  strcpy(spans[2].authority, "example.com");
  strcpy(spans[3].authority, "a:b:c"); /* neither a host nor host:port: left out */
  spans[4].status = URPC_STATUS_DEADLINE_EXCEEDED;
  spans[4].error = true;
  strcpy(spans[4].status_message, "Deadline Exceeded");
  strcpy(spans[3].status_message, "not sent: no ERROR");
  Request *r;
  Span **s = round_trip(spans, 5, &r);
  cr_assert_str_eq(sattr(s[0]->attributes, s[0]->n_attributes, "server.address"), "localhost");
  cr_assert_eq(iattr(s[0], "server.port"), 50051);
  cr_assert_str_eq(sattr(s[0]->attributes, s[0]->n_attributes, "network.peer.address"),
                   "127.0.0.1");
  cr_assert_eq(iattr(s[0], "network.peer.port"), 40000);
  cr_assert_str_eq(sattr(s[0]->attributes, s[0]->n_attributes, "network.type"), "ipv4");
  cr_assert_str_eq(sattr(s[0]->attributes, s[0]->n_attributes, "network.transport"), "tcp");
  cr_assert(!has_attr(s[0], "error.type"), "no error.type on success");

  cr_assert_str_eq(sattr(s[1]->attributes, s[1]->n_attributes, "server.address"), "::1");
  cr_assert_eq(iattr(s[1], "server.port"), 8443);
  cr_assert_str_eq(sattr(s[1]->attributes, s[1]->n_attributes, "network.peer.address"), "::1");
  cr_assert_eq(iattr(s[1], "network.peer.port"), 40001);
  cr_assert_str_eq(sattr(s[1]->attributes, s[1]->n_attributes, "network.type"), "ipv6");

  cr_assert_str_eq(sattr(s[2]->attributes, s[2]->n_attributes, "server.address"), "example.com");
  cr_assert(!has_attr(s[2], "server.port"), "no port in the authority: none on the span");
  cr_assert_str_eq(sattr(s[2]->attributes, s[2]->n_attributes, "network.peer.address"), "10.1.2.3");
  cr_assert_str_eq(sattr(s[2]->attributes, s[2]->n_attributes, "network.type"), "ipv4");

  cr_assert(!has_attr(s[3], "server.address") && !has_attr(s[3], "server.port"));
  cr_assert(!has_attr(s[3], "network.peer.address") && !has_attr(s[3], "network.type"),
            "an unknown peer is left out");
  cr_assert_eq(s[3]->status->message[0], '\0');

  cr_assert_eq(s[4]->status->code,
               OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
  cr_assert_str_eq(s[4]->status->message, "Deadline Exceeded");
  cr_assert_str_eq(sattr(s[4]->attributes, s[4]->n_attributes, "error.type"), "DEADLINE_EXCEEDED");
  cr_assert_eq(iattr(s[4], "rpc.grpc.status_code"), 4);
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(r, NULL);
}

/* The connection's part is kept in a table of 256 slots: 1200 spans from 600 clients and 3
 * authorities (so a batch has more connections than slots, and entries are replaced between
 * batches) each decode to their own peer and server attributes, over three batches. */
Test(otlp, kept_connection_parts_decode_per_span) {
  otlp_resource *res;
  cr_assert_eq(otlp_resource_new("svc", NULL, &res), 0);
  static const char *auths[3] = {"a.example:1", "b.example:2", "[::1]:3"};
  static const char *hosts[3] = {"a.example", "b.example", "::1"};
  enum { N = 1200 };
  static urpc_span spans[N];
  const urpc_span *ptrs[N];
  for (int batch = 0; batch < 3; batch++) {
    for (int i = 0; i < N; i++) {
      spans[i] = make_span((uint8_t)i, false, URPC_STATUS_OK, false);
      int client = (i * 7 + batch * 13) % 600;
      char ip[32];
      snprintf(ip, sizeof(ip), "10.0.%d.%d", client / 100, client % 100);
      set_peer(&spans[i], AF_INET, ip, (uint16_t)(40000 + client));
      strcpy(spans[i].authority, auths[client % 3]);
      ptrs[i] = &spans[i];
    }
    const uint8_t *body;
    size_t len;
    cr_assert_eq(otlp_encode(res, ptrs, N, &body, &len), 0);
    Request *r = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, len, body);
    cr_assert_not_null(r);
    const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = r->resource_spans[0]->scope_spans[0];
    cr_assert_eq(ss->n_spans, N);
    for (int i = 0; i < N; i++) {
      const Span *sp = ss->spans[i];
      int client = (i * 7 + batch * 13) % 600;
      char ip[32];
      snprintf(ip, sizeof(ip), "10.0.%d.%d", client / 100, client % 100);
      cr_assert_str_eq(sattr(sp->attributes, sp->n_attributes, "network.peer.address"), ip);
      cr_assert_eq(attr(sp->attributes, sp->n_attributes, "network.peer.port")->int_value,
                   40000 + client);
      cr_assert_str_eq(sattr(sp->attributes, sp->n_attributes, "server.address"),
                       hosts[client % 3]);
      cr_assert_eq(attr(sp->attributes, sp->n_attributes, "server.port")->int_value,
                   client % 3 + 1);
      cr_assert_arr_eq(sp->trace_id.data, spans[i].trace_id, 16);
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(r,
                                                                                            NULL);
  }
  otlp_resource_free(res);
}

/* Strings a client can put in a span (an unknown method's :path, which nghttp2 lets carry any
 * byte above 0x7f; a status message quoting it) and the handler's values go out as valid UTF-8,
 * each ill-formed subpart as U+FFFD: a collector refuses a whole batch over one bad string. */
Test(otlp, strings_are_made_utf8) {
  otlp_resource *res;
  cr_assert_eq(otlp_resource_new("svc", NULL, &res), 0);
  urpc_span sp = make_span(1, false, URPC_STATUS_UNIMPLEMENTED, true);
  strcpy(sp.name, "x\xff\xfe.S/M\xc3");
  sp.service_len = 5;
  sp.method_index = 0;
  strcpy(sp.status_message, "unknown \xe2\x82 caf\xc3\xa9");
  strcpy(sp.attrs[0].key, "app.v");
  strcpy(sp.attrs[0].string_value, "ok \xed\xa0\x80 end"); /* a surrogate */
  sp.n_attrs = 1;
  const urpc_span *ptr = &sp;
  const uint8_t *body;
  size_t len;
  cr_assert_eq(otlp_encode(res, &ptr, 1, &body, &len), 0);
  Request *r = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
      NULL, len, body);
  cr_assert_not_null(r);
  const Span *a = r->resource_spans[0]->scope_spans[0]->spans[0];
  cr_assert_str_eq(a->name, "x\xef\xbf\xbd\xef\xbf\xbd.S/M\xef\xbf\xbd");
  cr_assert_str_eq(sattr(a->attributes, a->n_attributes, "rpc.service"),
                   "x\xef\xbf\xbd\xef\xbf\xbd.S");
  cr_assert_str_eq(sattr(a->attributes, a->n_attributes, "rpc.method"), "M\xef\xbf\xbd");
  cr_assert_str_eq(a->status->message, "unknown \xef\xbf\xbd caf\xc3\xa9");
  cr_assert_str_eq(sattr(a->attributes, a->n_attributes, "app.v"),
                   "ok \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end");
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(r, NULL);
  otlp_resource_free(res);
}

Test(otlp, message_events) {
  urpc_span span = make_span(7, false, URPC_STATUS_OK, false);
  uint64_t t0 = span.start_unix_ns;
  span.messages[0] = (urpc_span_message){t0 + 10, 100, 1, false, false};
  span.messages[1] = (urpc_span_message){t0 + 30, 40, 1, true, true};
  span.messages[2] = (urpc_span_message){t0 + 40, 0, 2, true, false};
  span.n_messages = 3;
  span.dropped_messages = 70000; /* a long stream */
  strcpy(span.events[0].name, "cache.miss");
  span.events[0].time_unix_ns = t0 + 20;
  span.n_events = 1;
  span.dropped_events = 5;
  Request *r;
  Span **s = round_trip(&span, 1, &r);
  cr_assert_eq(s[0]->n_events, 4);
  cr_assert_eq(s[0]->dropped_events_count, 70005, "the handler's and the messages' drops");
  static const char *const names[] = {"rpc.message", "cache.miss", "rpc.message", "rpc.message"};
  for (size_t i = 0; i < 4; i++) {
    cr_assert_str_eq(s[0]->events[i]->name, names[i], "in time order");
    cr_assert_eq(s[0]->events[i]->time_unix_nano, t0 + 10 + 10 * i);
  }
  const Opentelemetry__Proto__Trace__V1__Span__Event *e = s[0]->events[0];
  cr_assert_eq(e->n_attributes, 3);
  cr_assert_str_eq(sattr(e->attributes, e->n_attributes, "rpc.message.type"), "RECEIVED");
  cr_assert_eq(attr(e->attributes, e->n_attributes, "rpc.message.id")->int_value, 1);
  cr_assert_eq(attr(e->attributes, e->n_attributes, "rpc.message.uncompressed_size")->int_value,
               100);
  e = s[0]->events[2];
  cr_assert_str_eq(sattr(e->attributes, e->n_attributes, "rpc.message.type"), "SENT");
  cr_assert_eq(attr(e->attributes, e->n_attributes, "rpc.message.compressed_size")->int_value, 40);
  cr_assert_null(attr(e->attributes, e->n_attributes, "rpc.message.uncompressed_size"));
  e = s[0]->events[3];
  cr_assert_eq(attr(e->attributes, e->n_attributes, "rpc.message.id")->int_value, 2);
  cr_assert_eq(attr(e->attributes, e->n_attributes, "rpc.message.uncompressed_size")->int_value, 0);
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(r, NULL);
}

Test(otlp, authority) {
  static const struct {
    const char *in, *host;
    int port;
  } ok[] = {{"localhost:50051", "localhost", 50051},
            {"example.com", "example.com", -1},
            {"10.0.0.1:1", "10.0.0.1", 1},
            {"[::1]:65535", "::1", 65535},
            {"[fe80::1%25eth0]", "fe80::1%25eth0", -1}};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    char host[64];
    int port = 0;
    cr_assert_eq(otlp_authority_parse(ok[i].in, host, sizeof(host), &port), 0, "%s", ok[i].in);
    cr_assert_str_eq(host, ok[i].host);
    cr_assert_eq(port, ok[i].port, "%s", ok[i].in);
  }
  static const char *const bad[] = {
      "",         ":80",         "host:", "host:0", "host:65536",
      "h:123456", "host:8x",     "::1",   "[::1",   "[::1]x",
      "[::1]:",   "user@host:1", "a b:1", "[]:80",  "toolongforthebuffer:1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char host[16];
    int port;
    cr_assert_eq(otlp_authority_parse(bad[i], host, sizeof(host), &port), -EINVAL, "%s", bad[i]);
  }
}

Test(otlp, headers) {
  char *l = otlp_headers_lines("api-key=secret, x-team = a%2Cb");
  cr_assert_not_null(l);
  cr_assert_str_eq(l, "api-key: secret\r\nx-team: a,b\r\n");
  free(l);
  l = otlp_headers_lines(NULL);
  cr_assert_str_eq(l, "");
  free(l);
  cr_assert_null(otlp_headers_lines("novalue"));
  cr_assert_null(otlp_headers_lines("bad key=1"));
  cr_assert_null(otlp_headers_lines("k=a%0d%0aInjected: 1"));
}

/* ---- a scripted OTLP receiver on loopback ---- */

static struct {
  int lfd, port;
  pthread_t thread;
  const char *const *script; /* status lines to answer, in order; the last one repeats */
  size_t n_script;
  _Atomic int requests;
  char last_head[4096];
  uint8_t last_body[1 << 16];
  size_t last_len;
  _Atomic bool stop;
} R;

static void *receiver(void *arg) {
  (void)arg;
  while (!atomic_load(&R.stop)) {
    int fd = accept(R.lfd, NULL, NULL);
    if (fd < 0) continue;
    for (;;) {
      char buf[1 << 17];
      size_t have = 0;
      char *end = NULL;
      while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r <= 0) goto next;
        have += (size_t)r;
      }
      size_t head = (size_t)(end + 4 - buf);
      const char *cl = strcasestr(buf, "content-length:");
      size_t len = cl ? strtoul(cl + 15, NULL, 10) : 0;
      while (have < head + len) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r <= 0) goto next;
        have += (size_t)r;
      }
      int i = atomic_fetch_add(&R.requests, 1);
      snprintf(R.last_head, sizeof(R.last_head), "%.*s", (int)head, buf);
      memcpy(R.last_body, buf + head, len);
      R.last_len = len;
      const char *status = R.script[(size_t)i < R.n_script ? (size_t)i : R.n_script - 1];
      char resp[256];
      int n = snprintf(resp, sizeof(resp), "HTTP/1.1 %s\r\nContent-Length: 0\r\n\r\n", status);
      if (write(fd, resp, (size_t)n) != n) break;
    }
  next:
    close(fd);
  }
  return NULL;
}

static void receiver_start(const char *const *script, size_t n) {
  memset(&R, 0, sizeof(R));
  R.script = script;
  R.n_script = n;
  R.lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(R.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
  socklen_t al = sizeof(a);
  getsockname(R.lfd, (struct sockaddr *)&a, &al);
  R.port = ntohs(a.sin_port);
  cr_assert_eq(listen(R.lfd, 8), 0);
  pthread_create(&R.thread, NULL, receiver, NULL);
}

static void receiver_stop(void) {
  atomic_store(&R.stop, true);
  shutdown(R.lfd, SHUT_RDWR);
  close(R.lfd);
  pthread_join(R.thread, NULL);
}

static otlp_exporter *exporter(int port, unsigned timeout_ms, _Atomic bool *stop) {
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces", port);
  urpc_trace_options o;
  urpc_trace_options_init(&o);
  o.endpoint = url;
  o.headers = "api-key=secret";
  o.export_timeout_ms = timeout_ms;
  otlp_exporter *e;
  char why[256];
  cr_assert_eq(otlp_exporter_new(&o, stop, &e, why, sizeof(why)), 0, "%s", why);
  return e;
}

Test(otlp, posts_and_keeps_the_connection) {
  static const char *const script[] = {"200 OK"};
  receiver_start(script, 1);
  _Atomic bool stop = false;
  otlp_exporter *e = exporter(R.port, 2000, &stop);
  urpc_span spans[3] = {make_span(1, true, 0, false), make_span(2, false, 5, false),
                        make_span(3, false, 13, true)};
  const urpc_span *ptrs[3] = {&spans[0], &spans[1], &spans[2]};
  cr_assert_eq(otlp_exporter_send(e, ptrs, 3), 0);
  cr_assert_eq(otlp_exporter_send(e, ptrs, 2), 0);
  cr_assert_eq(atomic_load(&R.requests), 2);
  cr_assert(strstr(R.last_head, "POST /v1/traces HTTP/1.1\r\n") == R.last_head, "%s", R.last_head);
  cr_assert_not_null(strstr(R.last_head, "Content-Type: application/x-protobuf\r\n"));
  cr_assert_not_null(strstr(R.last_head, "api-key: secret\r\n"));
  check_request(R.last_body, R.last_len, 2);
  otlp_exporter_free(e);
  receiver_stop();
}

Test(otlp, retries_503_then_succeeds) {
  static const char *const script[] = {"503 Service Unavailable", "429 Too Many Requests",
                                       "200 OK"};
  receiver_start(script, 3);
  _Atomic bool stop = false;
  otlp_exporter *e = exporter(R.port, 5000, &stop);
  urpc_span s = make_span(1, false, 0, false);
  const urpc_span *sp = &s;
  cr_assert_eq(otlp_exporter_send(e, &sp, 1), 0);
  cr_assert_eq(atomic_load(&R.requests), 3);
  otlp_exporter_free(e);
  receiver_stop();
}

Test(otlp, does_not_retry_400) {
  static const char *const script[] = {"400 Bad Request", "200 OK"};
  receiver_start(script, 2);
  _Atomic bool stop = false;
  otlp_exporter *e = exporter(R.port, 5000, &stop);
  urpc_span s = make_span(1, false, 0, false);
  const urpc_span *sp = &s;
  cr_assert_neq(otlp_exporter_send(e, &sp, 1), 0);
  cr_assert_eq(atomic_load(&R.requests), 1);
  otlp_exporter_free(e);
  receiver_stop();
}

Test(otlp, collector_down_gives_up_within_the_timeout) {
  /* a port that was just free: connections are refused */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(fd, (struct sockaddr *)&a, sizeof(a));
  socklen_t al = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &al);
  close(fd);
  _Atomic bool stop = false;
  otlp_exporter *e = exporter(ntohs(a.sin_port), 600, &stop);
  urpc_span s = make_span(1, false, 0, false);
  const urpc_span *sp = &s;
  uint64_t t0 = core_now_ns();
  cr_assert_neq(otlp_exporter_send(e, &sp, 1), 0);
  uint64_t ms = (core_now_ns() - t0) / 1000000;
  cr_assert_leq(ms, 700, "took %llu ms", (unsigned long long)ms);
  otlp_exporter_free(e);
}

Test(otlp, endpoints) {
  _Atomic bool stop = false;
  urpc_trace_options o;
  urpc_trace_options_init(&o);
  otlp_exporter *e;
  char why[256];
  static const char *const bad[] = {"ftp://x/",     "http://",  "http://h:/", "http://h:12x/",
                                    "http://[::1/", "https://", "https:/x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    o.endpoint = bad[i];
    cr_assert_eq(otlp_exporter_new(&o, &stop, &e, why, sizeof(why)), -EINVAL, "%s", bad[i]);
    cr_assert_not_null(strstr(why, bad[i]), "%s", why);
  }
  o.endpoint = "http://[::1]:4318";
  cr_assert_eq(otlp_exporter_new(&o, &stop, &e, why, sizeof(why)), 0, "%s", why);
  otlp_exporter_free(e);
  /* https: the TLS files are read at once, and only for https */
  o.endpoint = "https://collector/v1/traces";
  o.ca_file = "/nonexistent/ca.pem";
  cr_assert_eq(otlp_exporter_new(&o, &stop, &e, why, sizeof(why)), -ENOENT);
  cr_assert_not_null(strstr(why, "cannot read the CA bundle /nonexistent/ca.pem"), "%s", why);
  cr_assert_eq(urpc_trace_options_check(&o, why, sizeof(why)), -ENOENT);
  o.endpoint = "http://collector/v1/traces";
  cr_assert_eq(urpc_trace_options_check(&o, why, sizeof(why)), 0, "%s", why);
  if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
    o.endpoint = "https://collector/v1/traces";
    o.ca_file = NULL; /* the system's */
    cr_assert_eq(otlp_exporter_new(&o, &stop, &e, why, sizeof(why)), 0, "%s", why);
    otlp_exporter_free(e);
  }
}

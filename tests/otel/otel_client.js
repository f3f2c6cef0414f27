#!/usr/bin/env node
// A gRPC client instrumented with the real OpenTelemetry JS SDK: @grpc/grpc-js patched by
// @opentelemetry/instrumentation-grpc, spans from @opentelemetry/sdk-trace-node collected in
// memory (SimpleSpanProcessor + InMemorySpanExporter), W3C traceparent/tracestate sent by the
// SDK's own propagator. It makes one call per scenario, one after the other, and prints one
// JSON line: for each scenario the status the client saw and the client spans it made, for
// tests/integration/test_trace_otel.py to match against the server's spans.
//
//   node otel_client.js --target 127.0.0.1:50051 --proto-dir proto [--only a,b]
'use strict';

const path = require('path');
const { parseArgs } = require('util');

const { values: args } = parseArgs({
  options: {
    target: { type: 'string' },
    'proto-dir': { type: 'string' },
    only: { type: 'string' },
  },
});
if (!args.target || !args['proto-dir']) {
  console.error('usage: otel_client.js --target HOST:PORT --proto-dir DIR [--only a,b]');
  process.exit(2);
}

// The SDK first: the instrumentation patches @grpc/grpc-js when it is required, so grpc-js must
// be required only after registerInstrumentations.
const api = require('@opentelemetry/api');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { SimpleSpanProcessor, InMemorySpanExporter } = require('@opentelemetry/sdk-trace-base');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { GrpcInstrumentation } = require('@opentelemetry/instrumentation-grpc');

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register(); // AsyncLocalStorage context, W3C trace context + baggage propagators
registerInstrumentations({ instrumentations: [new GrpcInstrumentation()] });

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const protoDir = args['proto-dir'];
const def = protoLoader.loadSync(
  ['helloworld.proto', 'ping.proto', path.join('grpc', 'testing', 'test.proto')],
  { includeDirs: [protoDir], keepCase: true, longs: String, defaults: true },
);
const pkg = grpc.loadPackageDefinition(def);
const creds = grpc.credentials.createInsecure();
const greeter = new pkg.helloworld.Greeter(args.target, creds);
const pinger = new pkg.fgrpc.PingServer(args.target, creds);
const testing = new pkg.grpc.testing.TestService(args.target, creds);

const TRACESTATE = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';
const SLOW_NS = String(3e9); // a Ping the server holds 3 s

function deadline(ms) {
  return new Date(Date.now() + ms);
}

// Resolves with the status code the client saw (0 for OK).
function unary(client, method, request, options = {}) {
  return new Promise((resolve) => {
    client[method](request, new grpc.Metadata(), options, (err) => resolve(err ? err.code : 0));
  });
}

function drain(call, resolve) {
  call.on('data', () => {});
  call.on('error', (err) => resolve(err.code));
  call.on('end', () => {});
  call.on('status', (st) => {
    if (st.code === 0) resolve(0);
  });
}

const scenarios = {
  ok: () => unary(greeter, 'SayHello', { name: 'otel' }),
  not_found: () =>
    unary(testing, 'UnaryCall', {
      response_status: { code: grpc.status.NOT_FOUND, message: 'no such thing' },
    }),
  deadline: () =>
    unary(pinger, 'Ping', { delayNanos: SLOW_NS }, { deadline: deadline(300) }),
  cancelled: () =>
    new Promise((resolve) => {
      const call = pinger.Ping({ delayNanos: SLOW_NS }, (err) => resolve(err ? err.code : 0));
      setTimeout(() => call.cancel(), 300);
    }),
  server_stream: () =>
    new Promise((resolve) => {
      const call = testing.StreamingOutputCall({
        response_parameters: [{ size: 10 }, { size: 20 }, { size: 30 }],
      });
      drain(call, resolve);
    }),
  bidi: () =>
    new Promise((resolve) => {
      const call = testing.FullDuplexCall();
      drain(call, resolve);
      for (let i = 1; i <= 3; i++) call.write({ response_parameters: [{ size: i }] });
      call.end();
    }),
  // The call continues a remote parent that carries a tracestate: the SDK's client span
  // inherits it and its propagator sends it along with traceparent.
  tracestate: () => {
    const parent = {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: api.TraceFlags.SAMPLED,
      isRemote: true,
      traceState: api.createTraceState(TRACESTATE),
    };
    const ctx = api.trace.setSpanContext(api.context.active(), parent);
    return api.context.with(ctx, () => unary(greeter, 'SayHello', { name: 'state' }));
  },
};

function spanJson(s) {
  const sc = s.spanContext();
  return {
    name: s.name,
    kind: s.kind,
    traceId: sc.traceId,
    spanId: sc.spanId,
    parentSpanId: s.parentSpanContext ? s.parentSpanContext.spanId : null,
    traceState: sc.traceState ? sc.traceState.serialize() : '',
    status: { code: s.status.code, message: s.status.message || '' },
    attributes: s.attributes,
  };
}

async function main() {
  const names = args.only ? args.only.split(',') : Object.keys(scenarios);
  const out = [];
  for (const name of names) {
    if (!scenarios[name]) throw new Error(`no scenario ${name}`);
    const before = exporter.getFinishedSpans().length;
    const code = await scenarios[name]();
    // the instrumentation ends its span around the callback or 'status' event: let it land
    await new Promise((r) => setTimeout(r, 50));
    const spans = exporter.getFinishedSpans().slice(before).map(spanJson);
    out.push({ scenario: name, code, spans });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  greeter.close();
  pinger.close();
  testing.close();
  await provider.shutdown();
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});

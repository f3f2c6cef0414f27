/* A call's request body: gRPC length-prefixed messages assembled from DATA chunks, decompressed
 * and handed on, every byte counted against the call's budgets (budget.c) before it is taken.
 * A unary request lives in the call's arena for its handler. Each message of a client stream
 * lives in the call's scratch arena — the message, its decompressed copy and its unpacked
 * form — only while on_message runs; the scratch arena is reset after it. Shard thread. */
#include <errno.h>

#include "rpc/rpc_impl.h"

/* Memory for the request: the scratch arena for a stream's message, the call's arena for a
 * unary request; NULL (and `over_budget`) when the budgets have no room for it. */
static void *request_alloc(void *ud, size_t size) {
  urpc_call *call = ud;
  if (!rpc_budget_fits(call, size)) {
    call->over_budget = 1;
    return NULL;
  }
  bool stream = call->streaming_in;
  core_arena *a = stream ? &call->scratch : &call->arena;
  void *p = core_arena_alloc(a, size);
  rpc_budget_sync(call, a, stream ? &call->scratch_charged : &call->arena_charged);
  return p;
}

static void request_free(void *ud, void *p) {
  (void)ud, (void)p; /* freed with the arena */
}

/* A request the call cannot take: unary calls answer now, streams end (see rpc_call_abort). */
static void reject(urpc_call *call, urpc_status_code code, const char *msg) {
  if (call->streaming_in)
    rpc_call_abort(call, code, msg);
  else
    rpc_call_fail_now(call, code, msg);
}

static void reject_no_memory(urpc_call *call) {
  if (call->over_budget) RPC_LIMIT_HIT(call->sh, URPC_LIMIT_MEMORY);
  if (call->over_budget)
    reject(call, URPC_STATUS_RESOURCE_EXHAUSTED, "server busy: request memory limit reached");
  else
    reject(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for the request");
}

/* A compressed message, decompressed within the receive limit. Returns 0, or fails the call
 * and returns -1. */
static int inflate_message(urpc_call *call, uint8_t **msg, size_t *len) {
  if (call->req_encoding == RPC_ENC_IDENTITY) {
    reject(call, URPC_STATUS_INTERNAL, "compressed message without grpc-encoding");
    return -1;
  }
  int rc = rpc_decompress((rpc_encoding)call->req_encoding, *msg, *len,
                          call->sh->server->opts.max_recv_message, request_alloc, call, msg, len);
  if (rc < 0 && rc != -ENOMEM) core_ctr_inc(&call->sh->stats.decompress_rejected);
  if (rc == -E2BIG) RPC_LIMIT_HIT(call->sh, URPC_LIMIT_MESSAGE_SIZE);
  if (rc == -E2BIG)
    reject(call, URPC_STATUS_RESOURCE_EXHAUSTED,
           "decompressed message larger than the receive limit");
  else if (rc == -ENOMEM)
    reject_no_memory(call);
  else if (rc < 0)
    reject(call, URPC_STATUS_INTERNAL, "cannot decompress the request message");
  return rc < 0 ? -1 : 0;
}

/* One message of a client stream to its handler; the scratch arena is emptied after. */
static int stream_message(urpc_call *call, uint8_t *msg, size_t len) {
  const rpc_method *m = call->method;
  ProtobufCAllocator scratch = {request_alloc, request_free, call};
  ProtobufCMessage *req = protobuf_c_message_unpack(m->desc->input, &scratch, len, msg);
  if (!req) {
    if (call->over_budget)
      reject_no_memory(call);
    else
      rpc_call_abort(call, URPC_STATUS_INTERNAL, "cannot parse the request message");
    return -1;
  }
  rpc_stream_message(call, req);
  return 0;
}

static int on_message(void *ud, uint8_t *msg, size_t len, bool compressed) {
  urpc_call *call = ud;
  call->msgs_in++;
  rpc_intercept_message(call, true, len, compressed);
  call->req_compressed = compressed;
  if (compressed && inflate_message(call, &msg, &len) < 0) return -1;
  if (call->streaming_in) {
    int rc = stream_message(call, msg, len);
    core_arena_reset(&call->scratch);
    rpc_budget_sync(call, &call->scratch, &call->scratch_charged);
    return rc;
  }
  if (++call->n_msgs > 1) {
    rpc_call_fail_now(call, URPC_STATUS_UNIMPLEMENTED,
                      "unary method needs exactly one request message, got more");
    return -1;
  }
  call->req = msg;
  call->req_len = len;
  return 0;
}

void rpc_request_feed(urpc_call *call, const uint8_t *data, size_t len) {
  if (call->answered || call->finished || (call->streaming_in && !call->with_handler)) return;
  int rc = rpc_frame_feed(&call->reader, data, len, request_alloc, on_message, call);
  if (rc == RPC_FRAME_TOO_LARGE) {
    RPC_LIMIT_HIT(call->sh, URPC_LIMIT_MESSAGE_SIZE);
    reject(call, URPC_STATUS_RESOURCE_EXHAUSTED,
           rpc_call_printf(call, "received message larger than max",
                           "received message larger than max (%u vs. %u)", call->reader.last_len,
                           call->reader.max_len));
  } else if (rc == RPC_FRAME_BAD_FLAG) {
    reject(call, URPC_STATUS_INTERNAL, "bad message flag");
  } else if (rc == RPC_FRAME_NOMEM) {
    reject_no_memory(call);
  }
}

void rpc_request_drop_partial(urpc_call *call) {
  if (!call->streaming_in) return; /* a unary request's bytes are in the call's arena */
  core_arena_reset(&call->scratch);
  rpc_budget_sync(call, &call->scratch, &call->scratch_charged);
  rpc_frame_reader_init(&call->reader, call->reader.max_len);
}

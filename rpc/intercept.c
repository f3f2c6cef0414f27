/* Server interceptors (uringrpc.h): a chain run on the shard thread at each gRPC call's start,
 * once its request headers are in, and at its end, when the call is released. A call records
 * what on_end reports as it goes (status sent, messages and bytes each way); its start time and
 * the interceptors' per-call pointers are taken only when a chain exists. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "rpc/rpc_impl.h"

int urpc_server_add_interceptor(urpc_server *s, const urpc_interceptor *ic) {
  if (s->started) return -EBUSY;
  urpc_interceptor *chain = realloc(s->interceptors, (s->n_interceptors + 1) * sizeof(*chain));
  if (!chain) return -ENOMEM;
  chain[s->n_interceptors++] = *ic;
  s->interceptors = chain;
  if (ic->on_message) s->ic_on_message = true;
  if (!ic->no_duration) s->ic_duration = true;
  if (ic->reads_authority) s->ic_authority = true;
  return 0;
}

uint32_t urpc_server_method_count(const urpc_server *s) {
  return (uint32_t)s->registry.count;
}

int urpc_server_method_info(const urpc_server *s, uint32_t i, const char **path, unsigned *flags) {
  const rpc_method *m = rpc_registry_at(&s->registry, i);
  if (!m) return -EINVAL;
  if (path) *path = m->path;
  if (flags) *flags = m->flags;
  return 0;
}

void rpc_intercept_start(urpc_call *call) {
  const urpc_server *s = call->sh->server;
  size_t n = s->n_interceptors;
  call->ic_state = core_arena_alloc(&call->arena, n * sizeof(void *));
  if (!call->ic_state) { /* out of memory: the call goes on unseen rather than fail */
    return;
  }
  memset(call->ic_state, 0, n * sizeof(void *));
  for (size_t i = 0; i < n; i++) {
    const urpc_interceptor *ic = &s->interceptors[i];
    call->ic_started = (uint16_t)(i + 1);
    if (!ic->on_start) continue;
    const char *message = NULL;
    urpc_status_code code = ic->on_start(call, ic->user, &call->ic_state[i], &message);
    if (code == URPC_STATUS_OK) continue;
    if ((unsigned)code > URPC_STATUS_UNAUTHENTICATED) code = URPC_STATUS_UNKNOWN;
    rpc_call_fail_now(call, code,
                      message ? rpc_call_printf(call, "rejected", "%s", message) : NULL);
    return;
  }
}

void rpc_intercept_end(urpc_call *call) {
  const urpc_server *s = call->sh->server;
  bool cancelled = atomic_load_explicit(&call->cancelled, memory_order_relaxed);
  urpc_call_end end = {
      .status =
          call->sent_status >= 0 ? (urpc_status_code)call->sent_status : URPC_STATUS_CANCELLED,
      .cancelled = cancelled,
      .duration_ns = s->ic_duration ? core_now_ns() - call->start_ns : 0,
      .msgs_in = call->msgs_in,
      .msgs_out = call->msgs_out,
      .bytes_in = call->bytes_in,
      .bytes_out = call->bytes_out,
      .message = call->sent_status >= 0 ? call->sent_msg : NULL,
  };
  for (size_t i = call->ic_started; i-- > 0;) {
    const urpc_interceptor *ic = &s->interceptors[i];
    if (ic->on_end) ic->on_end(call, &end, ic->user, call->ic_state[i]);
  }
}

void *urpc_call_interceptor_state(const urpc_call *call,
                                  urpc_status_code (*on_start)(urpc_call *call, void *user,
                                                               void **state,
                                                               const char **message)) {
  const urpc_server *s = call->sh->server;
  if (!call->ic_state || !on_start) return NULL;
  for (size_t i = 0; i < call->ic_started; i++)
    if (s->interceptors[i].on_start == on_start) return call->ic_state[i];
  return NULL;
}

void rpc_intercept_message_slow(urpc_call *call, bool received, size_t bytes, bool compressed) {
  const urpc_server *s = call->sh->server;
  if (!call->ic_state) return;
  call->ic_msg_compressed = compressed;
  for (size_t i = 0; i < call->ic_started; i++) {
    const urpc_interceptor *ic = &s->interceptors[i];
    if (ic->on_message) ic->on_message(call, received, bytes, ic->user, call->ic_state[i]);
  }
}

bool urpc_call_message_compressed(const urpc_call *call) {
  return call->ic_msg_compressed;
}

const ProtobufCMethodDescriptor *urpc_call_method_descriptor(const urpc_call *call) {
  return call->method ? call->method->desc : NULL;
}
const ProtobufCServiceDescriptor *urpc_call_service_descriptor(const urpc_call *call) {
  return call->method ? call->method->service : NULL;
}
unsigned urpc_call_method_flags(const urpc_call *call) {
  return call->method ? call->method->flags : 0;
}
uint64_t urpc_call_start_ns(const urpc_call *call) {
  return call->start_ns;
}
uint32_t urpc_call_method_index(const urpc_call *call) {
  return call->method ? call->method->index : 0;
}
void urpc_call_set_auth_context(urpc_call *call, const void *ctx) {
  call->auth_ctx = ctx;
}
const void *urpc_call_auth_context(const urpc_call *call) {
  return call->auth_ctx;
}
int urpc_call_shard(const urpc_call *call) {
  return call->sh->index;
}

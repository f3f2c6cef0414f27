/* ic_unary: urpc_channel_unary, the client's own protobuf-c helper, made on shard 0 and waited
 * for by the case. The record is shared like a call's: the case and the shard each hold a
 * reference, so a case that timed out leaves it to the shard to free. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver.h"

typedef struct unary_rec {
  ic_ctx *ctx;
  int refs; /* guarded by ctx->mu */
  char *path;
  ProtobufCMessage *request; /* the case's request, copied: the case may be gone when it runs */
  const ProtobufCMessageDescriptor *response_type;
  urpc_client_call_options opts;
  /* Guarded by ctx->mu. */
  bool done;
  urpc_status_code status;
  char message[1024];
  ic_bytes response;
} unary_rec;

static void rec_unref_locked(unary_rec *r) {
  if (--r->refs) return;
  if (r->request) protobuf_c_message_free_unpacked(r->request, NULL);
  free(r->response.data);
  free(r->path);
  free(r);
}

static void finish_locked(unary_rec *r, urpc_status_code status, const char *message) {
  r->done = true;
  r->status = status;
  snprintf(r->message, sizeof(r->message), "%s", message ? message : "");
  pthread_cond_broadcast(&r->ctx->cv);
}

static void unary_done(urpc_status_code status, const char *message,
                       const ProtobufCMessage *response, void *user) {
  unary_rec *r = user;
  ic_ctx *ctx = r->ctx;
  /* Packed again for the case: the helper frees its unpacked response when this returns. */
  ic_bytes packed = {0};
  if (response) {
    packed.len = protobuf_c_message_get_packed_size(response);
    packed.data = malloc(packed.len ? packed.len : 1);
    if (packed.data) protobuf_c_message_pack(response, packed.data);
  }
  pthread_mutex_lock(&ctx->mu);
  if (response && !packed.data)
    finish_locked(r, URPC_STATUS_RESOURCE_EXHAUSTED, "interop client: out of memory");
  else {
    r->response = packed;
    finish_locked(r, status, message);
  }
  rec_unref_locked(r); /* the shard's reference */
  pthread_mutex_unlock(&ctx->mu);
}

static void run(urpc_channel *ch, void *arg) {
  unary_rec *r = arg;
  int rc = urpc_channel_unary(ch, r->path, r->request, r->response_type, &r->opts, unary_done, r);
  if (rc == 0) return;
  ic_ctx *ctx = r->ctx;
  char why[128];
  snprintf(why, sizeof(why), "urpc_channel_unary failed: %s", strerror(-rc));
  pthread_mutex_lock(&ctx->mu);
  finish_locked(r, URPC_STATUS_UNKNOWN, why);
  rec_unref_locked(r);
  pthread_mutex_unlock(&ctx->mu);
}

/* A deep copy through the wire format: what protobuf-c offers for copying a message. */
static ProtobufCMessage *copy_message(const ProtobufCMessage *m) {
  size_t len = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return NULL;
  protobuf_c_message_pack(m, buf);
  ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
  free(buf);
  return copy;
}

bool ic_unary(ic_ctx *ctx, const char *path, const ProtobufCMessage *request,
              const ProtobufCMessageDescriptor *response_type, const urpc_client_call_options *o,
              urpc_status_code *status, char *message, size_t message_len, ic_bytes *response) {
  *response = (ic_bytes){0};
  unary_rec *r = calloc(1, sizeof(*r));
  if (!r || !(r->path = strdup(path)) || !(r->request = copy_message(request))) {
    if (r) free(r->path);
    free(r);
    *status = URPC_STATUS_RESOURCE_EXHAUSTED;
    snprintf(message, message_len, "interop client: out of memory");
    return true;
  }
  r->ctx = ctx;
  r->refs = 2; /* the case's and the shard's */
  r->response_type = response_type;
  if (o) r->opts = *o;
  if (!r->opts.timeout_ns) r->opts.timeout_ns = ctx->timeout_ns;
  int rc = urpc_channel_post_to(ctx->ch, 0, run, r);
  pthread_mutex_lock(&ctx->mu);
  if (rc < 0) {
    finish_locked(r, URPC_STATUS_UNKNOWN, "urpc_channel_post_to failed");
    r->refs--;
  }
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += ctx->wait_ms / 1000 + 1;
  while (!r->done)
    if (pthread_cond_timedwait(&ctx->cv, &ctx->mu, &until) == ETIMEDOUT) break;
  bool done = r->done;
  if (done) {
    *status = r->status;
    snprintf(message, message_len, "%s", r->message);
    *response = r->response;
    r->response = (ic_bytes){0};
  } else {
    *status = URPC_STATUS_DEADLINE_EXCEEDED;
    snprintf(message, message_len, "no end within %d ms (the call's deadline did not end it)",
             ctx->wait_ms);
  }
  rec_unref_locked(r);
  pthread_mutex_unlock(&ctx->mu);
  return done;
}

const char *ic_status_name(urpc_status_code code) {
  const char *name = urpc_status_name(code);
  return name ? name : "(not a gRPC code)";
}

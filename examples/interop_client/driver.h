/* Calls driven from the main thread. The client API wants every call made and used on a shard
 * thread; the cases read best as straight-line code. So a case's thread asks for each step
 * (start, send, half-close, cancel) and the step runs on shard 0 (urpc_channel_post_to); the
 * call's callbacks record what came back (responses, metadata, the status) under one mutex, and
 * the case waits on a condition variable for what it needs — every wait bounded.
 *
 * Records are reference counted (the case, each step in flight, the open call), so a case that
 * gives up after a timeout never frees memory a shard thread may still touch. */
#ifndef URPC_INTEROP_CLIENT_DRIVER_H
#define URPC_INTEROP_CLIENT_DRIVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "urpc_client.h"

typedef struct ic_ctx {
  urpc_channel *ch;
  int64_t timeout_ns; /* every call's deadline */
  int wait_ms;        /* a case's bound on any one wait: the deadline and a margin */
  pthread_mutex_t mu; /* guards the shared half of every record */
  pthread_cond_t cv;  /* broadcast whenever a record changes */
} ic_ctx;

/* 0, or -errno. */
int ic_ctx_init(ic_ctx *ctx, urpc_channel *ch, int timeout_ms);
void ic_ctx_dispose(ic_ctx *ctx);

typedef struct ic_bytes {
  uint8_t *data;
  size_t len;
} ic_bytes;

typedef struct ic_md {
  char *key;
  uint8_t *value;
  size_t len;
  bool trailer;
} ic_md;

typedef struct ic_call ic_call;

/* Starts a call of `path` with `o` (NULL: none); o->timeout_ns 0 takes the context's deadline.
 * What `o` points to (metadata, compression) must be static: the shard reads it later. NULL
 * when out of memory. */
ic_call *ic_call_start(ic_ctx *ctx, const char *path, const urpc_client_call_options *o);
/* Packs `msg` and queues it; it is sent in order, waiting for on_writable when the call's send
 * buffer is full. -ENOMEM, or 0 (a send the call refuses shows as ic_call_error). */
int ic_call_send(ic_call *c, const ProtobufCMessage *msg);
/* As ic_call_send, sent with urpc_client_call_send_flags' `flags`
 * (URPC_CLIENT_SEND_NO_COMPRESS: this message plain inside a compressed call). */
int ic_call_send_flags(ic_call *c, const ProtobufCMessage *msg, unsigned flags);
/* Half-closes after the messages queued so far. */
int ic_call_close_send(ic_call *c);
/* Cancels the call (if still open) and waits for its end. */
bool ic_call_cancel(ic_call *c);
/* Waits until `n` responses came (true), or the call closed with fewer, or the wait timed out
 * (false). */
bool ic_call_wait_responses(ic_call *c, size_t n);
/* Waits until the call closed (true) or the wait timed out (false). */
bool ic_call_wait_closed(ic_call *c);

/* Whether the call has ended, now (no wait). */
bool ic_call_closed(ic_call *c);
/* The end, once ic_call_wait_closed or ic_call_closed said true. */
urpc_status_code ic_call_status(ic_call *c);
const char *ic_call_message(ic_call *c);
/* urpc_channel_call's -errno when the call could not start (its status is then UNKNOWN), else
 * the first send or half-close the call refused; 0 if none. */
int ic_call_error(ic_call *c);
/* Responses so far; response `i` (valid until ic_call_free) into *out, false if none yet. */
size_t ic_call_response_count(ic_call *c);
bool ic_call_response(ic_call *c, size_t i, ic_bytes *out);
/* Whether response `i` came compressed on the wire (its message flag); false if none yet. */
bool ic_call_response_compressed(ic_call *c, size_t i);
/* The first metadata entry `key` (a trailer with `trailer`) into *out (valid until
 * ic_call_free); false if none came. */
bool ic_call_metadata(ic_call *c, const char *key, bool trailer, ic_md *out);
/* Cancels the call if it is still open (waiting, bounded, for its end) and drops the case's
 * reference. */
void ic_call_free(ic_call *c);

/* A unary call through urpc_channel_unary (the client's protobuf-c helper), made on shard 0:
 * waits for its end. The shard may read `o` after a wait that timed out: its strings and
 * metadata must be static. Returns false when it did not end within the bound (*status is then
 * DEADLINE_EXCEEDED, `message` says so). On OK, *response is the response packed again (the
 * helper frees its unpacked copy after its callback), the caller's to free(response->data). */
bool ic_unary(ic_ctx *ctx, const char *path, const ProtobufCMessage *request,
              const ProtobufCMessageDescriptor *response_type, const urpc_client_call_options *o,
              urpc_status_code *status, char *message, size_t message_len, ic_bytes *response);

/* "OK", "CANCELLED", ... */
const char *ic_status_name(urpc_status_code code);

#endif

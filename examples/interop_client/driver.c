/* The main thread's side of a call and the shard's side meet in one record. Who holds a
 * reference: the case (until ic_call_free), each posted step (until it ran) and the open call
 * (until on_close). The last one frees the record, so a case that timed out can walk away. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver.h"

#define MSG_MAX 1024

/* A call's life, changed only under ctx->mu: NEW until its first step runs on the shard, then
 * OPEN (urpc_channel_call gave a call), CLOSED after on_close — or straight from NEW when the
 * call could not start. */
typedef enum call_state { CALL_NEW, CALL_OPEN, CALL_CLOSED } call_state;

/* A request waiting for the shard, with the send flags it goes with
 * (URPC_CLIENT_SEND_NO_COMPRESS: plain inside a compressed call). */
typedef struct out_msg {
  ic_bytes b;
  unsigned flags;
} out_msg;

/* A response as it came: the bytes (decompressed) and whether the wire carried them
 * compressed, which the server_compressed_* cases check. */
typedef struct in_msg {
  ic_bytes b;
  bool compressed;
} in_msg;

struct ic_call {
  ic_ctx *ctx;
  char *path;
  urpc_client_call_options opts;
  /* Guarded by ctx->mu. */
  int refs;
  out_msg *out; /* requests, in order; out[next_out..] not yet sent */
  size_t n_out, cap_out, next_out;
  bool want_close_send, want_cancel;
  call_state state;
  urpc_status_code status;
  char message[MSG_MAX];
  int error;
  in_msg *in; /* responses */
  size_t n_in, cap_in;
  ic_md *md;
  size_t n_md, cap_md;
  bool blocked; /* a send said -EAGAIN: on_writable resumes */
  /* Shard thread only. */
  urpc_client_call *call;
  bool close_sent;
};

int ic_ctx_init(ic_ctx *ctx, urpc_channel *ch, int timeout_ms) {
  ctx->ch = ch;
  ctx->timeout_ns = (int64_t)timeout_ms * 1000000;
  /* The deadline ends a call on its own; the margin covers a loaded machine's scheduling. */
  ctx->wait_ms = timeout_ms + 5000;
  pthread_condattr_t a;
  int rc = pthread_condattr_init(&a);
  if (!rc) rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  if (!rc) rc = pthread_cond_init(&ctx->cv, &a);
  pthread_condattr_destroy(&a);
  if (rc) return -rc;
  rc = pthread_mutex_init(&ctx->mu, NULL);
  if (rc) pthread_cond_destroy(&ctx->cv);
  return -rc;
}

void ic_ctx_dispose(ic_ctx *ctx) {
  pthread_mutex_destroy(&ctx->mu);
  pthread_cond_destroy(&ctx->cv);
}

static struct timespec deadline_in(int ms) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  t.tv_sec += ms / 1000;
  t.tv_nsec += (long)(ms % 1000) * 1000000;
  if (t.tv_nsec >= 1000000000) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000;
  }
  return t;
}

static bool append(void **arr, size_t *n, size_t *cap, size_t size) {
  if (*n < *cap) return true;
  size_t ncap = *cap ? *cap * 2 : 8;
  void *p = realloc(*arr, ncap * size);
  if (!p) return false;
  *arr = p;
  *cap = ncap;
  return true;
}

static uint8_t *dup_bytes(const void *p, size_t n) {
  uint8_t *d = malloc(n ? n : 1);
  if (d && n) memcpy(d, p, n);
  return d;
}

/* ---- the shard's side ---- */

static void free_call(ic_call *c) {
  for (size_t i = 0; i < c->n_out; i++) free(c->out[i].b.data);
  for (size_t i = 0; i < c->n_in; i++) free(c->in[i].b.data);
  for (size_t i = 0; i < c->n_md; i++) {
    free(c->md[i].key);
    free(c->md[i].value);
  }
  free(c->out);
  free(c->in);
  free(c->md);
  free(c->path);
  free(c);
}

static void unref_locked(ic_call *c) {
  if (--c->refs == 0) free_call(c);
}

/* A failure on this side (a copy out of memory, a send refused) is kept for the case to
 * report: a response missing for that reason must not read as the server's fault. */
static void note_error_locked(ic_call *c, int err) {
  if (!c->error) c->error = err;
}

static void on_metadata(urpc_client_call *call, const char *key, const uint8_t *value, size_t len,
                        bool trailer, void *user) {
  (void)call;
  ic_call *c = user;
  pthread_mutex_lock(&c->ctx->mu);
  if (append((void **)&c->md, &c->n_md, &c->cap_md, sizeof(*c->md))) {
    ic_md *m = &c->md[c->n_md];
    m->key = strdup(key);
    m->value = dup_bytes(value, len);
    m->len = len;
    m->trailer = trailer;
    if (m->key && m->value)
      c->n_md++;
    else {
      free(m->key);
      free(m->value);
      note_error_locked(c, -ENOMEM);
    }
  } else
    note_error_locked(c, -ENOMEM);
  pthread_cond_broadcast(&c->ctx->cv);
  pthread_mutex_unlock(&c->ctx->mu);
}

static void on_message(urpc_client_call *call, const uint8_t *msg, size_t len, void *user) {
  ic_call *c = user;
  bool compressed = urpc_client_call_message_compressed(call); /* only valid in here */
  pthread_mutex_lock(&c->ctx->mu);
  uint8_t *d = dup_bytes(msg, len);
  if (d && append((void **)&c->in, &c->n_in, &c->cap_in, sizeof(*c->in)))
    c->in[c->n_in++] = (in_msg){{d, len}, compressed};
  else {
    free(d);
    note_error_locked(c, -ENOMEM);
  }
  pthread_cond_broadcast(&c->ctx->cv);
  pthread_mutex_unlock(&c->ctx->mu);
}

static void on_close(urpc_client_call *call, urpc_status_code status, const char *message,
                     void *user) {
  (void)call;
  ic_call *c = user;
  ic_ctx *ctx = c->ctx; /* c may be freed below */
  c->call = NULL;
  pthread_mutex_lock(&ctx->mu);
  c->state = CALL_CLOSED;
  c->status = status;
  snprintf(c->message, sizeof(c->message), "%s", message ? message : "");
  pthread_cond_broadcast(&ctx->cv);
  unref_locked(c); /* the open call's reference */
  pthread_mutex_unlock(&ctx->mu);
}

static void step(ic_call *c);

static void on_writable(urpc_client_call *call, void *user) {
  (void)call;
  ic_call *c = user;
  ic_ctx *ctx = c->ctx;
  pthread_mutex_lock(&ctx->mu);
  c->blocked = false;
  c->refs++; /* step may cancel, and on_close drop the last other reference */
  pthread_mutex_unlock(&ctx->mu);
  step(c);
  pthread_mutex_lock(&ctx->mu);
  unref_locked(c);
  pthread_mutex_unlock(&ctx->mu);
}

static const urpc_client_call_handlers handlers = {
    .on_metadata = on_metadata,
    .on_message = on_message,
    .on_close = on_close,
    .on_writable = on_writable,
};

static void start(ic_call *c) {
  ic_ctx *ctx = c->ctx;
  int err = 0;
  urpc_client_call *call = urpc_channel_call(ctx->ch, c->path, &c->opts, &handlers, c, &err);
  pthread_mutex_lock(&ctx->mu);
  if (call) {
    c->call = call;
    c->state = CALL_OPEN;
    c->refs++; /* until on_close */
  } else {
    c->state = CALL_CLOSED;
    c->status = URPC_STATUS_UNKNOWN;
    c->error = err;
    snprintf(c->message, sizeof(c->message), "urpc_channel_call failed: %s", strerror(-err));
    pthread_cond_broadcast(&ctx->cv);
  }
  pthread_mutex_unlock(&ctx->mu);
}

/* Does what the case asked for and the call allows now: the queued sends in order, then the
 * half-close, or the cancel. The lock is dropped around each client call: cancel runs on_close
 * inside, which takes it. */
static void step(ic_call *c) {
  ic_ctx *ctx = c->ctx;
  pthread_mutex_lock(&ctx->mu);
  bool fresh = c->state == CALL_NEW;
  pthread_mutex_unlock(&ctx->mu);
  if (fresh) start(c); /* the first step: only this thread moves the call out of NEW */
  pthread_mutex_lock(&ctx->mu);
  while (c->state == CALL_OPEN && !c->blocked) {
    if (c->want_cancel) {
      pthread_mutex_unlock(&ctx->mu);
      urpc_client_call_cancel(c->call);
      pthread_mutex_lock(&ctx->mu);
      break;
    }
    if (c->next_out < c->n_out) {
      out_msg m = c->out[c->next_out];
      pthread_mutex_unlock(&ctx->mu);
      int rc = urpc_client_call_send_flags(c->call, m.b.data, m.b.len, m.flags);
      pthread_mutex_lock(&ctx->mu);
      if (rc == -EAGAIN) {
        c->blocked = true;
        break;
      }
      if (rc < 0) note_error_locked(c, rc);
      c->next_out++;
      continue;
    }
    if (c->want_close_send && !c->close_sent) {
      c->close_sent = true;
      pthread_mutex_unlock(&ctx->mu);
      int rc = urpc_client_call_close_send(c->call);
      pthread_mutex_lock(&ctx->mu);
      if (rc < 0) note_error_locked(c, rc);
    }
    break;
  }
  pthread_mutex_unlock(&ctx->mu);
}

static void posted_step(urpc_channel *ch, void *arg) {
  (void)ch;
  ic_call *c = arg;
  ic_ctx *ctx = c->ctx; /* c may be freed below */
  step(c);
  pthread_mutex_lock(&ctx->mu);
  unref_locked(c); /* the step's reference */
  pthread_mutex_unlock(&ctx->mu);
}

/* ---- the case's side ---- */

/* Every step goes to shard 0: a call may only be used on the shard that made it. */
static void post_step(ic_call *c) {
  ic_ctx *ctx = c->ctx;
  pthread_mutex_lock(&ctx->mu);
  c->refs++;
  pthread_mutex_unlock(&ctx->mu);
  int rc = urpc_channel_post_to(ctx->ch, 0, posted_step, c);
  if (rc == 0) return;
  pthread_mutex_lock(&ctx->mu);
  c->refs--;
  note_error_locked(c, rc);
  if (c->state == CALL_NEW) { /* the start itself was not posted: nothing will run */
    c->state = CALL_CLOSED;
    c->status = URPC_STATUS_UNKNOWN;
    snprintf(c->message, sizeof(c->message), "urpc_channel_post_to failed: %s", strerror(-rc));
  }
  pthread_mutex_unlock(&ctx->mu);
}

ic_call *ic_call_start(ic_ctx *ctx, const char *path, const urpc_client_call_options *o) {
  ic_call *c = calloc(1, sizeof(*c));
  if (!c || !(c->path = strdup(path))) {
    free(c);
    return NULL;
  }
  c->ctx = ctx;
  c->refs = 1;
  if (o) c->opts = *o;
  if (!c->opts.timeout_ns) c->opts.timeout_ns = ctx->timeout_ns;
  post_step(c);
  return c;
}

int ic_call_send(ic_call *c, const ProtobufCMessage *msg) {
  return ic_call_send_flags(c, msg, 0);
}

int ic_call_send_flags(ic_call *c, const ProtobufCMessage *msg, unsigned flags) {
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t *d = malloc(len ? len : 1);
  if (!d) return -ENOMEM;
  protobuf_c_message_pack(msg, d);
  pthread_mutex_lock(&c->ctx->mu);
  bool ok = append((void **)&c->out, &c->n_out, &c->cap_out, sizeof(*c->out));
  if (ok) c->out[c->n_out++] = (out_msg){{d, len}, flags};
  pthread_mutex_unlock(&c->ctx->mu);
  if (!ok) {
    free(d);
    return -ENOMEM;
  }
  post_step(c);
  return 0;
}

int ic_call_close_send(ic_call *c) {
  pthread_mutex_lock(&c->ctx->mu);
  c->want_close_send = true;
  pthread_mutex_unlock(&c->ctx->mu);
  post_step(c);
  return 0;
}

static bool closed_or_has(ic_call *c, size_t n) {
  return c->state == CALL_CLOSED || c->n_in >= n;
}

static bool is_closed(ic_call *c, size_t n) {
  (void)n;
  return c->state == CALL_CLOSED;
}

static bool wait_for(ic_call *c, bool (*ready)(ic_call *c, size_t n), size_t n) {
  ic_ctx *ctx = c->ctx;
  struct timespec until = deadline_in(ctx->wait_ms);
  pthread_mutex_lock(&ctx->mu);
  while (!ready(c, n))
    if (pthread_cond_timedwait(&ctx->cv, &ctx->mu, &until) == ETIMEDOUT) break;
  bool ok = ready(c, n);
  pthread_mutex_unlock(&ctx->mu);
  return ok;
}

bool ic_call_wait_responses(ic_call *c, size_t n) {
  wait_for(c, closed_or_has, n);
  return ic_call_response_count(c) >= n;
}

bool ic_call_wait_closed(ic_call *c) {
  return wait_for(c, is_closed, 0);
}

bool ic_call_cancel(ic_call *c) {
  pthread_mutex_lock(&c->ctx->mu);
  c->want_cancel = true;
  pthread_mutex_unlock(&c->ctx->mu);
  post_step(c);
  return ic_call_wait_closed(c);
}

void ic_call_free(ic_call *c) {
  if (!c) return;
  ic_ctx *ctx = c->ctx; /* c may be freed below */
  pthread_mutex_lock(&ctx->mu);
  bool open = c->state != CALL_CLOSED;
  c->want_cancel = true;
  pthread_mutex_unlock(&ctx->mu);
  /* A cancel is local and quick: waiting for it leaves no step queued behind a case that
   * failed half-way, for urpc_channel_free to race with. */
  if (open) {
    post_step(c);
    wait_for(c, is_closed, 0);
  }
  pthread_mutex_lock(&ctx->mu);
  unref_locked(c);
  pthread_mutex_unlock(&ctx->mu);
}

bool ic_call_closed(ic_call *c) {
  pthread_mutex_lock(&c->ctx->mu);
  bool closed = c->state == CALL_CLOSED;
  pthread_mutex_unlock(&c->ctx->mu);
  return closed;
}

urpc_status_code ic_call_status(ic_call *c) {
  pthread_mutex_lock(&c->ctx->mu);
  urpc_status_code s = c->status;
  pthread_mutex_unlock(&c->ctx->mu);
  return s;
}

const char *ic_call_message(ic_call *c) {
  return c->message; /* fixed once closed */
}

int ic_call_error(ic_call *c) {
  pthread_mutex_lock(&c->ctx->mu);
  int e = c->error;
  pthread_mutex_unlock(&c->ctx->mu);
  return e;
}

size_t ic_call_response_count(ic_call *c) {
  pthread_mutex_lock(&c->ctx->mu);
  size_t n = c->n_in;
  pthread_mutex_unlock(&c->ctx->mu);
  return n;
}

bool ic_call_response(ic_call *c, size_t i, ic_bytes *out) {
  pthread_mutex_lock(&c->ctx->mu);
  bool ok = i < c->n_in;
  if (ok) *out = c->in[i].b; /* the bytes stay where they are; only the array may move */
  pthread_mutex_unlock(&c->ctx->mu);
  return ok;
}

bool ic_call_response_compressed(ic_call *c, size_t i) {
  pthread_mutex_lock(&c->ctx->mu);
  bool compressed = i < c->n_in && c->in[i].compressed;
  pthread_mutex_unlock(&c->ctx->mu);
  return compressed;
}

bool ic_call_metadata(ic_call *c, const char *key, bool trailer, ic_md *out) {
  pthread_mutex_lock(&c->ctx->mu);
  bool ok = false;
  for (size_t i = 0; i < c->n_md && !ok; i++)
    if (c->md[i].trailer == trailer && !strcmp(c->md[i].key, key)) {
      *out = c->md[i];
      ok = true;
    }
  pthread_mutex_unlock(&c->ctx->mu);
  return ok;
}

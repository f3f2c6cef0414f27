/* Server reflection for uringrpc-load (reflect.h). The stream runs on shard 0: requests go out
 * as answers come in (a dependency is asked for once the file naming it arrives), the request
 * side closes when no answer is awaited, and on_close ends the exchange: either over (a
 * semaphore post to the waiting thread) or, after UNIMPLEMENTED on v1 with nothing received,
 * again on v1alpha (its messages are v1's, field for field, so v1's code packs both). */
#include "bench/load/reflect.h"

#include <errno.h>
#include <stdarg.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "bench/load/summary.h"

int load_call_service(const char *call, char *out, size_t out_len) {
  if (*call == '/') call++;
  const char *end = strchr(call, '/');
  if (!end) end = strrchr(call, '.');
  if (!end || end == call || (size_t)(end - call) >= out_len) return -EINVAL;
  memcpy(out, call, (size_t)(end - call));
  out[end - call] = 0;
  return 0;
}

typedef struct reflect_state {
  load_target *t;
  load_descset *ds;
  const char *symbol;
  urpc_client_call_options opts;
  bool alpha;        /* the v1alpha attempt */
  bool got_message;  /* any answer on this attempt */
  bool sent_close;   /* close_send went out */
  unsigned awaiting; /* requests without an answer yet */
  char **names;      /* files asked for or received, owned */
  size_t n_names;
  int added; /* files added to ds */
  int rc;    /* the first failure */
  char *err;
  size_t err_len;
  sem_t done;
} reflect_state;

__attribute__((format(printf, 3, 4))) static void fail(reflect_state *st, int rc, const char *fmt,
                                                       ...) {
  if (st->rc) return;
  st->rc = rc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st->err, st->err_len, fmt, ap);
  va_end(ap);
}

static bool known(const reflect_state *st, const char *name) {
  for (size_t i = 0; i < st->n_names; i++)
    if (!strcmp(st->names[i], name)) return true;
  return false;
}

static int remember(reflect_state *st, const char *name) {
  char **n = realloc(st->names, (st->n_names + 1) * sizeof(*n));
  if (!n) return -ENOMEM;
  st->names = n;
  if (!(n[st->n_names] = strdup(name))) return -ENOMEM;
  st->n_names++;
  return 0;
}

static void send_request(reflect_state *st, urpc_client_call *call,
                         Grpc__Reflection__V1__ServerReflectionRequest *req) {
  int rc = urpc_client_call_send_message(call, &req->base);
  if (rc == 0) {
    st->awaiting++;
    return;
  }
  /* The caller cancels the call, as its last touch of st (on_close runs inside the cancel). */
  (void)call;
  fail(st, rc == -ENOMEM ? -ENOMEM : -EHOSTUNREACH, "server reflection: sending a request: %s",
       strerror(-rc));
}

static void ask_file(reflect_state *st, urpc_client_call *call, const char *name) {
  Grpc__Reflection__V1__ServerReflectionRequest req =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  req.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
  req.file_by_filename = (char *)name;
  send_request(st, call, &req);
}

/* Adds the files of one answer, then asks for the dependencies none of the answers carried. */
static void add_files(reflect_state *st, urpc_client_call *call,
                      const Grpc__Reflection__V1__FileDescriptorResponse *fr) {
  Google__Protobuf__FileDescriptorProto **files =
      calloc(fr->n_file_descriptor_proto + 1, sizeof(*files));
  if (!files) {
    fail(st, -ENOMEM, "out of memory");
    return;
  }
  for (size_t i = 0; i < fr->n_file_descriptor_proto && !st->rc; i++) {
    const ProtobufCBinaryData *b = &fr->file_descriptor_proto[i];
    files[i] = google__protobuf__file_descriptor_proto__unpack(NULL, b->len, b->data);
    if (!files[i] || !files[i]->name) {
      fail(st, -EBADMSG, "server reflection: an answer holds no FileDescriptorProto");
      break;
    }
    int rc = load_descset_add_file(st->ds, b->data, b->len);
    if (rc < 0) {
      fail(st, rc, "server reflection: file %s: %s", files[i]->name,
           rc == -ENOMEM ? "out of memory" : "not a FileDescriptorProto");
      break;
    }
    st->added += rc;
    if (!known(st, files[i]->name) && remember(st, files[i]->name))
      fail(st, -ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < fr->n_file_descriptor_proto && files[i] && !st->rc; i++) {
    for (size_t d = 0; d < files[i]->n_dependency && !st->rc; d++) {
      const char *dep = files[i]->dependency[d];
      if (known(st, dep)) continue;
      if (remember(st, dep)) {
        fail(st, -ENOMEM, "out of memory");
        break;
      }
      ask_file(st, call, dep);
    }
  }
  for (size_t i = 0; i < fr->n_file_descriptor_proto; i++)
    if (files[i]) google__protobuf__file_descriptor_proto__free_unpacked(files[i], NULL);
  free(files);
}

static void on_message(urpc_client_call *call, const uint8_t *msg, size_t len, void *user) {
  reflect_state *st = user;
  st->got_message = true;
  if (st->rc) return;
  Grpc__Reflection__V1__ServerReflectionResponse *r =
      grpc__reflection__v1__server_reflection_response__unpack(NULL, len, msg);
  if (!r) {
    fail(st, -EBADMSG, "server reflection: an answer is no ServerReflectionResponse");
    urpc_client_call_cancel(call);
    return;
  }
  if (st->awaiting) st->awaiting--;
  switch (r->message_response_case) {
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE:
    add_files(st, call, r->file_descriptor_response);
    break;
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE: {
    const char *what = "the request";
    const Grpc__Reflection__V1__ServerReflectionRequest *o = r->original_request;
    if (o && o->message_request_case ==
                 GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME)
      what = o->file_by_filename;
    else if (
        o &&
        o->message_request_case ==
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL)
      what = o->file_containing_symbol;
    fail(st, -ENOENT, "server reflection does not know %s: %s", what,
         r->error_response->error_message ? r->error_response->error_message : "");
    break;
  }
  default:
    fail(st, -EBADMSG, "server reflection: an answer of an unexpected kind");
  }
  grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);
  if (st->rc) {
    urpc_client_call_cancel(call); /* the last touch of st: on_close runs inside */
  } else if (!st->awaiting && !st->sent_close) {
    st->sent_close = true;
    urpc_client_call_close_send(call);
  }
}

static void start(reflect_state *st, urpc_channel *ch);

static void on_close(urpc_client_call *call, urpc_status_code status, const char *message,
                     void *user) {
  (void)call;
  reflect_state *st = user;
  if (!st->rc && status == URPC_STATUS_UNIMPLEMENTED && !st->alpha && !st->got_message) {
    st->alpha = true;
    start(st, st->t->chans[0]);
    return;
  }
  if (!st->rc && status == URPC_STATUS_UNIMPLEMENTED) {
    fail(st, -EPROTONOSUPPORT, "the server has no reflection service (%s)",
         message && *message ? message : "UNIMPLEMENTED");
  } else if (!st->rc && status == URPC_STATUS_UNAVAILABLE) {
    fail(st, -EHOSTUNREACH, "%s", message && *message ? message : "UNAVAILABLE");
  } else if (!st->rc && status == URPC_STATUS_DEADLINE_EXCEEDED) {
    fail(st, -EHOSTUNREACH, "no answer to server reflection in time (%s)",
         message && *message ? message : "DEADLINE_EXCEEDED");
  } else if (!st->rc && status != URPC_STATUS_OK) {
    fail(st, -EPROTO, "server reflection failed: %s: %s", load_status_name((int)status),
         message ? message : "");
  } else if (!st->rc && st->awaiting) {
    fail(st, -EBADMSG, "server reflection ended with requests unanswered");
  }
  sem_post(&st->done); /* the last touch: the waiting thread frees st after it */
}

static const urpc_client_call_handlers handlers = {.on_message = on_message, .on_close = on_close};

static void start(reflect_state *st, urpc_channel *ch) {
  st->got_message = false;
  st->sent_close = false;
  st->awaiting = 0;
  int e = 0;
  urpc_client_call *call = urpc_channel_call(ch, st->alpha ? LOAD_REFLECT_V1ALPHA : LOAD_REFLECT_V1,
                                             &st->opts, &handlers, st, &e);
  if (!call) {
    fail(st, e == -ENOMEM ? -ENOMEM : -EHOSTUNREACH,
         "server reflection: the client refused the call: %s", strerror(-e));
    sem_post(&st->done);
    return;
  }
  Grpc__Reflection__V1__ServerReflectionRequest req =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  req.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
  req.file_containing_symbol = (char *)st->symbol;
  send_request(st, call, &req);
  if (st->rc) urpc_client_call_cancel(call); /* the last touch of st */
}

static void start_on_shard(urpc_channel *ch, void *arg) {
  start(arg, ch);
}

int load_reflect(load_target *t, const char *symbol, uint64_t timeout_ns, load_descset *ds,
                 char *err, size_t err_len) {
  reflect_state st = {.t = t, .ds = ds, .symbol = symbol, .err = err, .err_len = err_len};
  st.opts = t->call_opts;
  st.opts.timeout_ns = (int64_t)timeout_ns;
  st.opts.compression = NULL;
  if (sem_init(&st.done, 0, 0)) return -errno;
  int rc = load_target_post(t, 0, start_on_shard, &st);
  if (rc) {
    snprintf(err, err_len, "out of memory");
  } else {
    while (sem_wait(&st.done) && errno == EINTR) {
    }
    rc = st.rc ? st.rc : st.added;
  }
  for (size_t i = 0; i < st.n_names; i++) free(st.names[i]);
  free(st.names);
  sem_destroy(&st.done);
  return rc;
}

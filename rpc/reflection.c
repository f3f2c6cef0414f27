/* grpc.reflection.v1 and v1alpha ServerReflection/ServerReflectionInfo: a bidi stream where each
 * request gets exactly one response, in order, answered from the read-only reflection db and
 * the registry's service list, so it runs on any shard without locks. Failed lookups are not
 * call errors: they are an ErrorResponse in the stream, as in grpc's reference server, and the
 * call ends OK when the client half-closes.
 *
 * The two versions have the same messages under different packages, so protoc-c gives them
 * different C types; the lookups work on a version-neutral query and answer, and only the
 * packing into each version's response is written twice, by one macro. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "rpc/reflection_db.h"

/* The request's oneof case and the response's are field numbers in protoc-c, the same in both
 * versions. */
enum {
  REQ_FILE_BY_FILENAME = 3,
  REQ_FILE_CONTAINING_SYMBOL = 4,
  REQ_FILE_CONTAINING_EXTENSION = 5,
  REQ_ALL_EXTENSION_NUMBERS = 6,
  REQ_LIST_SERVICES = 7,
  RESP_FILES = 4,
  RESP_EXTENSION_NUMBERS = 5,
  RESP_SERVICES = 6,
  RESP_ERROR = 7,
};

#define SAME_CASE(v, name, value)                                                                  \
  _Static_assert((int)GRPC__REFLECTION__##v##__SERVER_REFLECTION_##name == (int)(value),           \
                 #v " " #name)
SAME_CASE(V1, REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME, REQ_FILE_BY_FILENAME);
SAME_CASE(V1, REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL, REQ_FILE_CONTAINING_SYMBOL);
SAME_CASE(V1, REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION, REQ_FILE_CONTAINING_EXTENSION);
SAME_CASE(V1, REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE, REQ_ALL_EXTENSION_NUMBERS);
SAME_CASE(V1, REQUEST__MESSAGE_REQUEST_LIST_SERVICES, REQ_LIST_SERVICES);
SAME_CASE(V1, RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE, RESP_FILES);
SAME_CASE(V1, RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE, RESP_EXTENSION_NUMBERS);
SAME_CASE(V1, RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE, RESP_SERVICES);
SAME_CASE(V1, RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE, RESP_ERROR);
SAME_CASE(V1ALPHA, REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME, REQ_FILE_BY_FILENAME);
SAME_CASE(V1ALPHA, REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL, REQ_FILE_CONTAINING_SYMBOL);
SAME_CASE(V1ALPHA, REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION,
          REQ_FILE_CONTAINING_EXTENSION);
SAME_CASE(V1ALPHA, REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE,
          REQ_ALL_EXTENSION_NUMBERS);
SAME_CASE(V1ALPHA, REQUEST__MESSAGE_REQUEST_LIST_SERVICES, REQ_LIST_SERVICES);
SAME_CASE(V1ALPHA, RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE, RESP_FILES);
SAME_CASE(V1ALPHA, RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE,
          RESP_EXTENSION_NUMBERS);
SAME_CASE(V1ALPHA, RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE, RESP_SERVICES);
SAME_CASE(V1ALPHA, RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE, RESP_ERROR);

typedef int (*send_fn)(void *ctx, const ProtobufCMessage *response);

typedef struct query {
  int kind; /* REQ_*, or anything else for a request we do not know */
  const char *arg;
  int32_t number;
} query;

typedef struct answer {
  int kind;                    /* RESP_* */
  const rpc_refl_file **files; /* RESP_FILES: malloc'd, entries owned by the db */
  size_t n_files;
  const char *type; /* RESP_EXTENSION_NUMBERS */
  const int32_t *numbers;
  size_t n_numbers;
  const ProtobufCServiceDescriptor *const *services; /* RESP_SERVICES */
  size_t n_services;
  urpc_status_code code; /* RESP_ERROR */
  const char *message;
} answer;

static void fail(answer *a, urpc_status_code code, const char *message) {
  a->kind = RESP_ERROR;
  a->code = code;
  a->message = message;
}

static void file_closure(const rpc_reflection *r, const rpc_refl_file *f, const char *not_found,
                         answer *a) {
  if (!f)
    fail(a, URPC_STATUS_NOT_FOUND, not_found);
  else if (rpc_refl_file_closure(r->db, f, &a->files, &a->n_files) < 0)
    fail(a, URPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory.");
  else
    a->kind = RESP_FILES;
}

/* The messages are grpc's reference server's (proto_server_reflection.cc). */
static void find(const rpc_reflection *r, const query *q, answer *a) {
  memset(a, 0, sizeof(*a));
  switch (q->kind) {
  case REQ_FILE_BY_FILENAME:
    file_closure(r, rpc_refl_find_file(r->db, q->arg), "File not found.", a);
    break;
  case REQ_FILE_CONTAINING_SYMBOL:
    file_closure(r, rpc_refl_find_symbol(r->db, q->arg), "Symbol not found.", a);
    break;
  case REQ_FILE_CONTAINING_EXTENSION:
    if (rpc_refl_extension_numbers(r->db, q->arg, &a->numbers, &a->n_numbers) < 0)
      fail(a, URPC_STATUS_NOT_FOUND, "Type not found.");
    else
      file_closure(r, rpc_refl_find_extension(r->db, q->arg, q->number), "Extension not found.", a);
    break;
  case REQ_ALL_EXTENSION_NUMBERS:
    if (rpc_refl_extension_numbers(r->db, q->arg, &a->numbers, &a->n_numbers) < 0) {
      fail(a, URPC_STATUS_NOT_FOUND, "Type not found.");
    } else {
      a->kind = RESP_EXTENSION_NUMBERS;
      a->type = q->arg;
    }
    break;
  case REQ_LIST_SERVICES:
    if (!r->registry) {
      fail(a, URPC_STATUS_NOT_FOUND, "Services not found.");
    } else {
      a->kind = RESP_SERVICES;
      a->services = r->registry->services;
      a->n_services = r->registry->n_services;
    }
    break;
  default:
    fail(a, URPC_STATUS_UNIMPLEMENTED, "");
  }
}

/* Defines `fn`, answering a request of one version (types T..., macros E...). The response
 * borrows everything it points to (request, db, registry) and is packed by `send` before
 * anything is freed. */
#define DEFINE_RESPOND(fn, T, E)                                                                   \
  static int fn(const rpc_reflection *r, const ProtobufCMessage *msg, send_fn send, void *ctx) {   \
    T##ServerReflectionRequest *req = (T##ServerReflectionRequest *)msg;                           \
    query q = {.kind = (int)req->message_request_case};                                            \
    switch (q.kind) {                                                                              \
    case REQ_FILE_BY_FILENAME:                                                                     \
      q.arg = req->file_by_filename;                                                               \
      break;                                                                                       \
    case REQ_FILE_CONTAINING_SYMBOL:                                                               \
      q.arg = req->file_containing_symbol;                                                         \
      break;                                                                                       \
    case REQ_ALL_EXTENSION_NUMBERS:                                                                \
      q.arg = req->all_extension_numbers_of_type;                                                  \
      break;                                                                                       \
    case REQ_FILE_CONTAINING_EXTENSION:                                                            \
      if (req->file_containing_extension) {                                                        \
        q.arg = req->file_containing_extension->containing_type;                                   \
        q.number = req->file_containing_extension->extension_number;                               \
      }                                                                                            \
      break;                                                                                       \
    }                                                                                              \
    answer a;                                                                                      \
    find(r, &q, &a);                                                                               \
    T##ServerReflectionResponse resp = E##SERVER_REFLECTION_RESPONSE__INIT;                        \
    T##FileDescriptorResponse files = E##FILE_DESCRIPTOR_RESPONSE__INIT;                           \
    T##ExtensionNumberResponse numbers = E##EXTENSION_NUMBER_RESPONSE__INIT;                       \
    T##ListServiceResponse list = E##LIST_SERVICE_RESPONSE__INIT;                                  \
    T##ErrorResponse error = E##ERROR_RESPONSE__INIT;                                              \
    ProtobufCBinaryData *blobs = NULL;                                                             \
    T##ServiceResponse *items = NULL, **item_ptrs = NULL;                                          \
    resp.valid_host = req->host;                                                                   \
    resp.original_request = req;                                                                   \
    if (a.kind == RESP_FILES) {                                                                    \
      blobs = malloc(a.n_files * sizeof(*blobs));                                                  \
      if (!blobs) {                                                                                \
        fail(&a, URPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory.");                                \
      } else {                                                                                     \
        for (size_t i = 0; i < a.n_files; i++)                                                     \
          blobs[i] =                                                                               \
              (ProtobufCBinaryData){.len = a.files[i]->len, .data = (uint8_t *)a.files[i]->data};  \
        files.n_file_descriptor_proto = a.n_files;                                                 \
        files.file_descriptor_proto = blobs;                                                       \
        resp.file_descriptor_response = &files;                                                    \
      }                                                                                            \
    } else if (a.kind == RESP_SERVICES) {                                                          \
      size_t n = a.n_services ? a.n_services : 1;                                                  \
      items = malloc(n * sizeof(*items));                                                          \
      item_ptrs = malloc(n * sizeof(*item_ptrs));                                                  \
      if (!items || !item_ptrs) {                                                                  \
        fail(&a, URPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory.");                                \
      } else {                                                                                     \
        for (size_t i = 0; i < a.n_services; i++) {                                                \
          items[i] = (T##ServiceResponse)E##SERVICE_RESPONSE__INIT;                                \
          items[i].name = (char *)a.services[i]->name;                                             \
          item_ptrs[i] = &items[i];                                                                \
        }                                                                                          \
        list.n_service = a.n_services;                                                             \
        list.service = item_ptrs;                                                                  \
        resp.list_services_response = &list;                                                       \
      }                                                                                            \
    } else if (a.kind == RESP_EXTENSION_NUMBERS) {                                                 \
      numbers.base_type_name = (char *)a.type;                                                     \
      numbers.n_extension_number = a.n_numbers;                                                    \
      numbers.extension_number = (int32_t *)a.numbers;                                             \
      resp.all_extension_numbers_response = &numbers;                                              \
    }                                                                                              \
    if (a.kind == RESP_ERROR) {                                                                    \
      error.error_code = (int32_t)a.code;                                                          \
      error.error_message = (char *)a.message;                                                     \
      resp.error_response = &error;                                                                \
    }                                                                                              \
    resp.message_response_case = a.kind;                                                           \
    int rc = send(ctx, &resp.base);                                                                \
    free(blobs);                                                                                   \
    free(items);                                                                                   \
    free(item_ptrs);                                                                               \
    free(a.files);                                                                                 \
    return rc;                                                                                     \
  }

DEFINE_RESPOND(respond_v1, Grpc__Reflection__V1__, GRPC__REFLECTION__V1__)
DEFINE_RESPOND(respond_v1alpha, Grpc__Reflection__V1alpha__, GRPC__REFLECTION__V1ALPHA__)

int rpc_reflection_answer(const rpc_reflection *r, const ProtobufCMessage *request, send_fn send,
                          void *ctx) {
  if (request->descriptor == &grpc__reflection__v1__server_reflection_request__descriptor)
    return respond_v1(r, request, send, ctx);
  if (request->descriptor == &grpc__reflection__v1alpha__server_reflection_request__descriptor)
    return respond_v1alpha(r, request, send, ctx);
  return -EINVAL;
}

static int send_on_call(void *ctx, const ProtobufCMessage *response) {
  return urpc_call_send(ctx, response);
}

/* Answers the client may leave unread, beyond the call's send limit, before the call is ended:
 * the framework cannot stop reading for us, so a client that keeps sending without reading
 * would otherwise have its answers queued without bound. Clients that wait for each answer
 * (grpcurl, grpc_cli) never come near it. */
#define MAX_OVER_LIMIT 16

/* Per call, in the call's arena (the user slot). NULL: the call ended in on_start. */
typedef struct refl_call {
  bool ended;    /* finished by us; late callbacks are ignored */
  unsigned over; /* answers sent since the queue went over the send limit */
} refl_call;

static void end(urpc_call *call, refl_call *st, urpc_status_code code, const char *message) {
  if (st) st->ended = true;
  urpc_call_finish(call, code, message);
}

static void on_start(urpc_call *call, void *user) {
  (void)user;
  refl_call *st = urpc_call_alloc(call, sizeof(*st));
  if (!st) {
    end(call, NULL, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  *st = (refl_call){0};
  urpc_call_set_user(call, st);
}

/* One answer per request, in order. */
static void on_message(urpc_call *call, const ProtobufCMessage *message, void *user) {
  refl_call *st = urpc_call_user(call);
  if (!st || st->ended) return;
  if (st->over >= MAX_OVER_LIMIT) {
    end(call, st, URPC_STATUS_RESOURCE_EXHAUSTED, "too many answers left unread");
    return;
  }
  int rc = rpc_reflection_answer(user, message, send_on_call, call);
  if (rc == 0)
    st->over = 0;
  else if (rc == -EAGAIN) /* queued, over the limit */
    st->over++;
  else if (rc == -ENOMEM)
    end(call, st, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  /* -ECANCELED: on_cancel ends the call */
}

static void on_writable(urpc_call *call, void *user) {
  (void)user;
  refl_call *st = urpc_call_user(call);
  if (st) st->over = 0;
}

static void on_half_close(urpc_call *call, void *user) {
  (void)user;
  refl_call *st = urpc_call_user(call);
  if (st && !st->ended) end(call, st, URPC_STATUS_OK, NULL);
}

static void on_cancel(urpc_call *call, void *user) {
  (void)user;
  refl_call *st = urpc_call_user(call);
  if (st && !st->ended) end(call, st, URPC_STATUS_CANCELLED, NULL);
}

static const urpc_stream_handler reflection_stream = {
    .on_start = on_start,
    .on_message = on_message,
    .on_half_close = on_half_close,
    .on_writable = on_writable,
    .on_cancel = on_cancel,
};

int rpc_reflection_register(rpc_registry *reg, rpc_reflection *r, const rpc_refl_db *db) {
  r->registry = reg;
  r->db = db;
  const ProtobufCServiceDescriptor *versions[] = {
      &grpc__reflection__v1__server_reflection__descriptor,
      &grpc__reflection__v1alpha__server_reflection__descriptor,
  };
  const urpc_method m = {
      .name = "ServerReflectionInfo",
      .user = r,
      .flags = URPC_METHOD_CLIENT_STREAMING | URPC_METHOD_SERVER_STREAMING,
      .stream = &reflection_stream,
  };
  for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
    const char *name = versions[i]->name;
    if (rpc_registry_has_service(reg, name, strlen(name))) continue;
    int rc = rpc_registry_add(reg, versions[i], &m, 1);
    if (rc < 0) return rc;
  }
  return 0;
}

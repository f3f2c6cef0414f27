/* The ServerReflection service (rpc/reflection.c) answering a client's
 * ServerReflectionRequest, v1 or v1alpha (first input byte), over a db of the example and
 * built-in descriptors plus extensions (refl_ext_more.proto) and a registry of services: the
 * request is unpacked as the framework would, answered, and the answer packed and unpacked
 * again with the request echoed in it. */
#include <string.h>

#include "fuzz_check.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "helloworld.pb-c.h"
#include "rpc/reflection_db.h"

extern const unsigned char urpc_example_descriptors[], fuzz_refl_ext_set[];
extern const size_t urpc_example_descriptors_len, fuzz_refl_ext_set_len;

static rpc_refl_db *db;
static rpc_registry registry;
static rpc_reflection reflection;

static void unused_handler(urpc_call *call, const ProtobufCMessage *req, void *user) {
  (void)call, (void)req, (void)user;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  rpc_registry_init(&registry);
  urpc_method m = {.name = "SayHello", .handler = unused_handler};
  if (rpc_refl_db_new(&db) < 0 ||
      rpc_refl_db_add(db, rpc_refl_builtin_set, rpc_refl_builtin_set_len) < 0 ||
      rpc_refl_db_add(db, urpc_example_descriptors, urpc_example_descriptors_len) < 0 ||
      rpc_refl_db_add(db, fuzz_refl_ext_set, fuzz_refl_ext_set_len) < 0 ||
      rpc_registry_add(&registry, &helloworld__greeter__descriptor, &m, 1) < 0 ||
      rpc_reflection_register(&registry, &reflection, db) < 0)
    abort();
  return 0;
}

typedef struct sent {
  int n;
  const ProtobufCMessageDescriptor *want;
  bool echo_ok; /* the request packs to bytes that unpack (see repacks) */
} sent;

/* protobuf-c 1.4.1 keeps an unknown field numbered 0 when its tag comes as an overlong varint
 * (80 00) and packs it back as 00, which no parser takes: a response echoing such a request
 * (original_request) cannot unpack, through no fault of ours. Such requests are not held
 * against the answer. */
static bool repacks(const ProtobufCMessage *m) {
  size_t len = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) abort();
  protobuf_c_message_pack(m, buf);
  ProtobufCMessage *back = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
  free(buf);
  if (back) protobuf_c_message_free_unpacked(back, NULL);
  return back != NULL;
}

static int collect(void *ctx, const ProtobufCMessage *response) {
  sent *s = ctx;
  s->n++;
  FUZZ_CHECK(response->descriptor == s->want, "answered in the other version");
  size_t len = protobuf_c_message_get_packed_size(response);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) abort();
  FUZZ_CHECK(protobuf_c_message_pack(response, buf) == len, "packed size");
  ProtobufCMessage *back = protobuf_c_message_unpack(s->want, NULL, len, buf);
  FUZZ_CHECK(back != NULL || !s->echo_ok, "the answer does not unpack");
  if (back) protobuf_c_message_free_unpacked(back, NULL);
  free(buf);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  bool alpha = data[0] & 1;
  const ProtobufCMessageDescriptor *req_desc =
      alpha ? &grpc__reflection__v1alpha__server_reflection_request__descriptor
            : &grpc__reflection__v1__server_reflection_request__descriptor;
  ProtobufCMessage *req = protobuf_c_message_unpack(req_desc, NULL, size - 1, data + 1);
  if (!req) return 0;
  sent s = {.want = alpha ? &grpc__reflection__v1alpha__server_reflection_response__descriptor
                          : &grpc__reflection__v1__server_reflection_response__descriptor,
            .echo_ok = repacks(req)};
  int rc = rpc_reflection_answer(&reflection, req, collect, &s);
  FUZZ_CHECK(rc == 0 && s.n == 1, "rc %d, %d answers", rc, s.n);
  protobuf_c_message_free_unpacked(req, NULL);
  return 0;
}

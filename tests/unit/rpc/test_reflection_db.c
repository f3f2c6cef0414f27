/* The reflection db over descriptor sets built at build time (reflection.cmake), and the
 * ServerReflection service's answers (rpc_reflection_answer) without a server. Allocations of
 * the statically linked code are wrapped (-Wl,--wrap) to fail the Nth one and to count what is
 * still live. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "helloworld.pb-c.h"
#include "rpc/reflection_db.h"

extern const unsigned char refl_test_project_set[], refl_test_interop_set[], refl_test_ext_set[];
extern const size_t refl_test_project_set_len, refl_test_interop_set_len, refl_test_ext_set_len;

/* ---- Allocation wrapping ---- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);

static bool tracking;     /* count allocations and live blocks */
static long fail_at = -1; /* fail the allocation with this index; -1 for none */
static long allocs, live;

static bool inject(void) {
  if (!tracking) return false;
  return allocs++ == fail_at;
}

void *__wrap_malloc(size_t size) {
  if (inject()) return NULL;
  void *p = __real_malloc(size);
  if (p && tracking) live++;
  return p;
}

void *__wrap_calloc(size_t n, size_t size) {
  if (inject()) return NULL;
  void *p = __real_calloc(n, size);
  if (p && tracking) live++;
  return p;
}

void *__wrap_realloc(void *p, size_t size) {
  if (inject()) return NULL;
  void *q = __real_realloc(p, size);
  if (q && !p && tracking) live++;
  return q;
}

void __wrap_free(void *p) {
  if (p && tracking) live--;
  __real_free(p);
}

/* ---- The db ---- */

static rpc_refl_db *db;

static void setup(void) {
  cr_assert_eq(rpc_refl_db_new(&db), 0);
  cr_assert_eq(rpc_refl_db_add(db, refl_test_project_set, refl_test_project_set_len), 3);
  cr_assert_eq(rpc_refl_db_add(db, refl_test_interop_set, refl_test_interop_set_len), 3);
  cr_assert_eq(rpc_refl_db_add(db, refl_test_ext_set, refl_test_ext_set_len), 3);
  cr_assert_eq(rpc_refl_db_count(db), 9);
}

static void teardown(void) {
  rpc_refl_db_free(db);
  db = NULL;
}

TestSuite(reflection_db, .init = setup, .fini = teardown);

static const char *file_of(const char *symbol) {
  const rpc_refl_file *f = rpc_refl_find_symbol(db, symbol);
  return f ? f->name : NULL;
}

static bool inside(const unsigned char *set, size_t set_len, const rpc_refl_file *f) {
  return memmem(set, set_len, f->data, f->len) != NULL;
}

Test(reflection_db, file_by_name) {
  const rpc_refl_file *f = rpc_refl_find_file(db, "helloworld.proto");
  cr_assert_not_null(f);
  cr_assert_str_eq(f->name, "helloworld.proto");
  cr_assert_eq(f->n_deps, 0);
  Google__Protobuf__FileDescriptorProto *fp =
      google__protobuf__file_descriptor_proto__unpack(NULL, f->len, f->data);
  cr_assert_not_null(fp);
  cr_assert_str_eq(fp->name, "helloworld.proto");
  cr_assert_str_eq(fp->package, "helloworld");
  cr_assert_eq(fp->n_service, 1);
  google__protobuf__file_descriptor_proto__free_unpacked(fp, NULL);

  f = rpc_refl_find_file(db, "example.proto");
  cr_assert_not_null(f);
  cr_assert_eq(f->n_deps, 1);
  cr_assert_str_eq(f->deps[0], "helloworld.proto");
  cr_assert_not_null(rpc_refl_find_file(db, "grpc/health/v1/health.proto"));
  cr_assert_not_null(rpc_refl_find_file(db, "grpc/testing/messages.proto"));
  cr_assert_not_null(rpc_refl_find_file(db, "google/protobuf/descriptor.proto"));
}

/* Packing the unpacked FileDescriptorProto again gives back the very bytes protoc wrote, custom
 * options (unknown fields to protobuf-c) included. */
Test(reflection_db, original_bytes) {
  const char *project[] = {"helloworld.proto", "example.proto", "grpc/health/v1/health.proto"};
  for (size_t i = 0; i < 3; i++)
    cr_assert(inside(refl_test_project_set, refl_test_project_set_len,
                     rpc_refl_find_file(db, project[i])),
              "%s", project[i]);
  const char *interop[] = {"grpc/testing/test.proto", "grpc/testing/empty.proto",
                           "grpc/testing/messages.proto"};
  for (size_t i = 0; i < 3; i++)
    cr_assert(inside(refl_test_interop_set, refl_test_interop_set_len,
                     rpc_refl_find_file(db, interop[i])),
              "%s", interop[i]);
  const char *ext[] = {"refl_ext.proto", "refl_ext_more.proto", "google/protobuf/descriptor.proto"};
  for (size_t i = 0; i < 3; i++)
    cr_assert(inside(refl_test_ext_set, refl_test_ext_set_len, rpc_refl_find_file(db, ext[i])),
              "%s", ext[i]);
}

Test(reflection_db, symbols) {
  cr_assert_str_eq(file_of("helloworld.Greeter"), "helloworld.proto");
  cr_assert_str_eq(file_of("helloworld.Greeter.SayHello"), "helloworld.proto");
  cr_assert_str_eq(file_of("helloworld.HelloRequest"), "helloworld.proto");
  cr_assert_str_eq(file_of("helloworld.HelloRequest.name"), "helloworld.proto");
  cr_assert_str_eq(file_of(".helloworld.HelloReply"), "helloworld.proto");
  cr_assert_str_eq(file_of("urpc.example.Demo"), "example.proto");
  cr_assert_str_eq(file_of("urpc.example.Demo.AsyncHello"), "example.proto");
  cr_assert_str_eq(file_of("grpc.health.v1.Health.Watch"), "grpc/health/v1/health.proto");
  /* nested enum, and its value in the enclosing scope */
  cr_assert_str_eq(file_of("grpc.health.v1.HealthCheckResponse.ServingStatus"),
                   "grpc/health/v1/health.proto");
  cr_assert_str_eq(file_of("grpc.health.v1.HealthCheckResponse.SERVING"),
                   "grpc/health/v1/health.proto");
  cr_assert_str_eq(file_of("grpc.testing.TestService.FullDuplexCall"), "grpc/testing/test.proto");
  cr_assert_str_eq(file_of("grpc.testing.Empty"), "grpc/testing/empty.proto");
  cr_assert_str_eq(file_of("grpc.testing.PayloadType"), "grpc/testing/messages.proto");
  cr_assert_str_eq(file_of("grpc.testing.LoadBalancerStatsResponse.RpcsByPeer"),
                   "grpc/testing/messages.proto");
  cr_assert_str_eq(file_of("grpc.testing.ClientConfigureRequest.RpcType"),
                   "grpc/testing/messages.proto");
  cr_assert_str_eq(file_of("urpc.test.refl.Base.Inner.Deepest"), "refl_ext.proto");
  cr_assert_str_eq(file_of("urpc.test.refl.Base.Inner.Color"), "refl_ext.proto");
  cr_assert_str_eq(file_of("urpc.test.refl.Base.Inner.COLOR_GREEN"), "refl_ext.proto");
  cr_assert_str_eq(file_of("urpc.test.refl.Base.choice"), "refl_ext.proto");
  cr_assert_str_eq(file_of("urpc.test.refl.Mood"), "refl_ext.proto");
  cr_assert_str_eq(file_of("urpc.test.refl.MOOD_SAD"), "refl_ext.proto");
  cr_assert_str_eq(file_of("urpc.test.refl.base_label"), "refl_ext.proto");
  cr_assert_str_eq(file_of("urpc.test.refl.Holder.holder"), "refl_ext.proto");
  cr_assert_str_eq(file_of("urpc.test.refl.more.more_flag"), "refl_ext_more.proto");
  cr_assert_str_eq(file_of("google.protobuf.FileDescriptorSet"),
                   "google/protobuf/descriptor.proto");

  cr_assert_null(file_of("helloworld.Greet"));
  cr_assert_null(file_of("helloworld.Greeter.SayHello.x"));
  cr_assert_null(file_of("helloworld"));
  cr_assert_null(file_of("HelloRequest"));
  cr_assert_null(file_of("grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING"));
  cr_assert_null(file_of(""));
  cr_assert_null(file_of("."));
  cr_assert_null(rpc_refl_find_symbol(db, NULL));
  cr_assert_null(rpc_refl_find_file(db, "nope.proto"));
  cr_assert_null(rpc_refl_find_file(db, "helloworld"));
  cr_assert_null(rpc_refl_find_file(NULL, "helloworld.proto"));
}

static bool contains(const rpc_refl_file **list, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(list[i]->name, name) == 0) return true;
  return false;
}

Test(reflection_db, closure) {
  const rpc_refl_file **list;
  size_t n;
  const rpc_refl_file *f = rpc_refl_find_file(db, "example.proto");
  cr_assert_eq(rpc_refl_file_closure(db, f, &list, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_eq(list[0], f);
  cr_assert_str_eq(list[1]->name, "helloworld.proto");
  free(list);

  f = rpc_refl_find_symbol(db, "grpc.testing.TestService");
  cr_assert_eq(rpc_refl_file_closure(db, f, &list, &n), 0);
  cr_assert_eq(n, 3);
  cr_assert_str_eq(list[0]->name, "grpc/testing/test.proto");
  cr_assert(contains(list, n, "grpc/testing/empty.proto"));
  cr_assert(contains(list, n, "grpc/testing/messages.proto"));
  free(list);

  /* refl_ext_more imports refl_ext and descriptor.proto; nothing repeats */
  f = rpc_refl_find_file(db, "refl_ext_more.proto");
  cr_assert_eq(rpc_refl_file_closure(db, f, &list, &n), 0);
  cr_assert_eq(n, 3);
  cr_assert_eq(list[0], f);
  cr_assert(contains(list, n, "refl_ext.proto"));
  cr_assert(contains(list, n, "google/protobuf/descriptor.proto"));
  free(list);

  f = rpc_refl_find_file(db, "helloworld.proto");
  cr_assert_eq(rpc_refl_file_closure(db, f, &list, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_eq(list[0], f);
  free(list);
}

Test(reflection_db, extensions) {
  const rpc_refl_file *f = rpc_refl_find_extension(db, "urpc.test.refl.Base", 100);
  cr_assert_not_null(f);
  cr_assert_str_eq(f->name, "refl_ext.proto");
  cr_assert_str_eq(rpc_refl_find_extension(db, "urpc.test.refl.Base", 120)->name, "refl_ext.proto");
  cr_assert_str_eq(rpc_refl_find_extension(db, ".urpc.test.refl.Base", 199)->name,
                   "refl_ext_more.proto");
  cr_assert_str_eq(rpc_refl_find_extension(db, "google.protobuf.FieldOptions", 50001)->name,
                   "refl_ext_more.proto");
  cr_assert_null(rpc_refl_find_extension(db, "urpc.test.refl.Base", 101));
  cr_assert_null(rpc_refl_find_extension(db, "urpc.test.refl.Base", 1));
  cr_assert_null(rpc_refl_find_extension(db, "urpc.test.refl.Nope", 100));
  cr_assert_null(rpc_refl_find_extension(db, "helloworld.HelloRequest", 100));

  const int32_t *nums;
  size_t n;
  cr_assert_eq(rpc_refl_extension_numbers(db, "urpc.test.refl.Base", &nums, &n), 0);
  cr_assert_eq(n, 4);
  int32_t want[] = {100, 120, 150, 199};
  for (size_t i = 0; i < 4; i++) cr_assert_eq(nums[i], want[i]);
  cr_assert_eq(rpc_refl_extension_numbers(db, "google.protobuf.FieldOptions", &nums, &n), 0);
  cr_assert_eq(n, 1);
  cr_assert_eq(nums[0], 50001);
  cr_assert_eq(rpc_refl_extension_numbers(db, "helloworld.HelloRequest", &nums, &n), 0);
  cr_assert_eq(n, 0);
  cr_assert_null(nums);
  cr_assert_eq(rpc_refl_extension_numbers(db, "urpc.test.refl.Nope", &nums, &n), -ENOENT);
  /* an enum, a service and a field are not message types */
  cr_assert_eq(rpc_refl_extension_numbers(db, "urpc.test.refl.Mood", &nums, &n), -ENOENT);
  cr_assert_eq(rpc_refl_extension_numbers(db, "helloworld.Greeter", &nums, &n), -ENOENT);
  cr_assert_eq(rpc_refl_extension_numbers(db, "urpc.test.refl.Base.id", &nums, &n), -ENOENT);
}

/* A file already in the db is skipped: the first one stays. */
Test(reflection_db, duplicates) {
  const rpc_refl_file *f = rpc_refl_find_file(db, "helloworld.proto");
  cr_assert_eq(rpc_refl_db_add(db, refl_test_project_set, refl_test_project_set_len), 0);
  cr_assert_eq(rpc_refl_db_add(db, refl_test_ext_set, refl_test_ext_set_len), 0);
  cr_assert_eq(rpc_refl_db_count(db), 9);
  cr_assert_eq(rpc_refl_find_file(db, "helloworld.proto"), f);
  const int32_t *nums;
  size_t n;
  cr_assert_eq(rpc_refl_extension_numbers(db, "urpc.test.refl.Base", &nums, &n), 0);
  cr_assert_eq(n, 4);
}

/* ---- Bad input ---- */

Test(reflection_db_input, corrupt_sets) {
  rpc_refl_db *d;
  cr_assert_eq(rpc_refl_db_new(&d), 0);
  const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
  cr_assert_eq(rpc_refl_db_add(d, garbage, sizeof(garbage)), -EBADMSG);
  /* field 1 with a length running past the end */
  const uint8_t overlong[] = {0x0a, 0x40, 0x0a, 0x01, 'a'};
  cr_assert_eq(rpc_refl_db_add(d, overlong, sizeof(overlong)), -EBADMSG);
  cr_assert_eq(rpc_refl_db_add(d, refl_test_project_set, refl_test_project_set_len - 1), -EBADMSG);
  cr_assert_eq(rpc_refl_db_add(d, NULL, 0), 0);
  cr_assert_eq(rpc_refl_db_count(d), 0);

  /* a file without a name: the whole set is refused */
  Google__Protobuf__FileDescriptorProto named = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  Google__Protobuf__FileDescriptorProto anonymous = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  named.name = "a.proto";
  anonymous.package = "pkg";
  Google__Protobuf__FileDescriptorProto *files[] = {&named, &anonymous};
  Google__Protobuf__FileDescriptorSet set = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
  set.n_file = 2;
  set.file = files;
  uint8_t buf[256];
  size_t len = google__protobuf__file_descriptor_set__pack(&set, buf);
  cr_assert_eq(rpc_refl_db_add(d, buf, len), -EINVAL);
  cr_assert_eq(rpc_refl_db_count(d), 0);
  cr_assert_null(rpc_refl_find_file(d, "a.proto"));

  /* a dependency missing from the db is left out of the closure */
  const char *deps[] = {"missing.proto", "a.proto"};
  Google__Protobuf__FileDescriptorProto b = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  b.name = "b.proto";
  b.n_dependency = 2;
  b.dependency = (char **)deps;
  files[1] = &b;
  len = google__protobuf__file_descriptor_set__pack(&set, buf);
  cr_assert_eq(rpc_refl_db_add(d, buf, len), 2);
  const rpc_refl_file **list;
  size_t n;
  cr_assert_eq(rpc_refl_file_closure(d, rpc_refl_find_file(d, "b.proto"), &list, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_str_eq(list[1]->name, "a.proto");
  free(list);
  rpc_refl_db_free(d);
}

/* Every prefix and every single-byte corruption of a real set: an error or some files, never a
 * crash; nothing leaks (counted, and ASan). */
Test(reflection_db_input, truncated_and_flipped) {
  size_t len = refl_test_project_set_len;
  uint8_t *copy = malloc(len);
  cr_assert_not_null(copy);
  live = 0;
  for (size_t cut = 0; cut < len; cut++) {
    rpc_refl_db *d;
    tracking = true;
    cr_assert_eq(rpc_refl_db_new(&d), 0);
    int rc = rpc_refl_db_add(d, refl_test_project_set, cut);
    rpc_refl_db_free(d);
    tracking = false;
    cr_assert(rc >= 0 || rc == -EBADMSG || rc == -EINVAL, "cut %zu: %d", cut, rc);
  }
  for (size_t i = 0; i < len; i++) {
    memcpy(copy, refl_test_project_set, len);
    copy[i] ^= 0xa5;
    rpc_refl_db *d;
    tracking = true;
    cr_assert_eq(rpc_refl_db_new(&d), 0);
    int rc = rpc_refl_db_add(d, copy, len);
    const rpc_refl_file *f = rpc_refl_find_file(d, "example.proto");
    const rpc_refl_file **list = NULL;
    size_t n;
    if (f && rpc_refl_file_closure(d, f, &list, &n) == 0) free(list);
    rpc_refl_db_free(d);
    tracking = false;
    cr_assert(rc >= 0 || rc == -EBADMSG || rc == -EINVAL, "byte %zu: %d", i, rc);
  }
  free(copy);
  cr_assert_eq(live, 0);
}

/* ---- Failing allocations ---- */

static int failmalloc_scenario(void) {
  rpc_refl_db *d;
  int rc = rpc_refl_db_new(&d);
  if (rc < 0) return rc;
  rc = rpc_refl_db_add(d, refl_test_project_set, refl_test_project_set_len);
  if (rc >= 0) rc = rpc_refl_db_add(d, refl_test_interop_set, refl_test_interop_set_len);
  if (rc >= 0) rc = rpc_refl_db_add(d, refl_test_ext_set, refl_test_ext_set_len);
  /* whatever made it in answers consistently */
  const rpc_refl_file *f = rpc_refl_find_symbol(d, "urpc.example.Demo");
  const rpc_refl_file **list;
  size_t n;
  if (f && rpc_refl_file_closure(d, f, &list, &n) == 0) free(list);
  const int32_t *nums;
  (void)rpc_refl_extension_numbers(d, "urpc.test.refl.Base", &nums, &n);
  (void)rpc_refl_find_extension(d, "urpc.test.refl.Base", 199);
  rpc_refl_db_free(d);
  return rc < 0 ? rc : 0;
}

Test(reflection_db_input, failing_allocations) {
  tracking = true;
  allocs = live = 0;
  int rc = failmalloc_scenario();
  tracking = false;
  long total = allocs;
  cr_assert_eq(rc, 0);
  cr_assert_eq(live, 0);
  cr_assert_gt(total, 100);
  for (long i = 0; i < total; i++) {
    allocs = live = 0;
    fail_at = i;
    tracking = true;
    rc = failmalloc_scenario();
    tracking = false;
    fail_at = -1;
    cr_assert(rc == 0 || rc == -ENOMEM, "allocation %ld of %ld: %d", i, total, rc);
    cr_assert_eq(live, 0, "allocation %ld of %ld: %ld blocks leaked", i, total, live);
  }
}

/* ---- The service's answers ---- */

static uint8_t *sent;
static size_t sent_len;
static int sends;

static int capture(void *ctx, const ProtobufCMessage *m) {
  (void)ctx;
  free(sent);
  sent_len = protobuf_c_message_get_packed_size(m);
  sent = malloc(sent_len ? sent_len : 1);
  protobuf_c_message_pack(m, sent);
  sends++;
  return 0;
}

static void greet(urpc_call *call, const ProtobufCMessage *req, void *user) {
  (void)call, (void)req, (void)user;
}

static rpc_registry registry;
static rpc_reflection refl;

static void service_setup(void) {
  setup();
  rpc_registry_init(&registry);
  urpc_method m = {.name = "SayHello", .handler = greet};
  cr_assert_eq(rpc_registry_add(&registry, &helloworld__greeter__descriptor, &m, 1), 0);
  cr_assert_eq(rpc_reflection_register(&registry, &refl, db), 0);
  sent = NULL;
  sends = 0;
}

static void service_teardown(void) {
  free(sent);
  sent = NULL;
  rpc_registry_dispose(&registry);
  teardown();
}

TestSuite(reflection, .init = service_setup, .fini = service_teardown);

typedef Grpc__Reflection__V1__ServerReflectionRequest Req;
typedef Grpc__Reflection__V1__ServerReflectionResponse Resp;

static Resp *ask(Req *req) {
  int before = sends;
  cr_assert_eq(rpc_reflection_answer(&refl, &req->base, capture, NULL), 0);
  cr_assert_eq(sends, before + 1);
  Resp *resp = grpc__reflection__v1__server_reflection_response__unpack(NULL, sent_len, sent);
  cr_assert_not_null(resp);
  return resp;
}

static const char *nth_file(const Resp *resp, size_t i) {
  static char name[256];
  const ProtobufCBinaryData *b = &resp->file_descriptor_response->file_descriptor_proto[i];
  Google__Protobuf__FileDescriptorProto *fp =
      google__protobuf__file_descriptor_proto__unpack(NULL, b->len, b->data);
  cr_assert_not_null(fp);
  snprintf(name, sizeof(name), "%s", fp->name);
  google__protobuf__file_descriptor_proto__free_unpacked(fp, NULL);
  return name;
}

static void expect_error(Resp *resp, int code, const char *message) {
  cr_assert_eq(resp->message_response_case,
               GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
  cr_assert_eq(resp->error_response->error_code, code);
  cr_assert_str_eq(resp->error_response->error_message, message);
  grpc__reflection__v1__server_reflection_response__free_unpacked(resp, NULL);
}

Test(reflection, list_services) {
  Req req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  req.host = "localhost:50051";
  req.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
  req.list_services = "*";
  Resp *resp = ask(&req);
  cr_assert_str_eq(resp->valid_host, "localhost:50051");
  cr_assert_not_null(resp->original_request);
  cr_assert_str_eq(resp->original_request->list_services, "*");
  cr_assert_eq(
      resp->message_response_case,
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
  const Grpc__Reflection__V1__ListServiceResponse *l = resp->list_services_response;
  cr_assert_eq(l->n_service, 3);
  cr_assert_str_eq(l->service[0]->name, "helloworld.Greeter");
  cr_assert_str_eq(l->service[1]->name, "grpc.reflection.v1.ServerReflection");
  cr_assert_str_eq(l->service[2]->name, "grpc.reflection.v1alpha.ServerReflection");
  grpc__reflection__v1__server_reflection_response__free_unpacked(resp, NULL);
}

Test(reflection, register_is_idempotent_per_version) {
  rpc_reflection again;
  cr_assert_eq(rpc_reflection_register(&registry, &again, db), 0);
  cr_assert_eq(registry.n_services, 3);
  cr_assert_not_null(
      rpc_registry_find(&registry, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                        strlen("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")));
}

Test(reflection, symbol_with_dependencies) {
  Req req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  req.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
  req.file_containing_symbol = "urpc.example.Demo.BlockingHello";
  Resp *resp = ask(&req);
  cr_assert_str_eq(resp->valid_host, "");
  cr_assert_str_eq(resp->original_request->file_containing_symbol,
                   "urpc.example.Demo.BlockingHello");
  cr_assert_eq(
      resp->message_response_case,
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
  cr_assert_eq(resp->file_descriptor_response->n_file_descriptor_proto, 2);
  cr_assert_str_eq(nth_file(resp, 0), "example.proto");
  cr_assert_str_eq(nth_file(resp, 1), "helloworld.proto");
  grpc__reflection__v1__server_reflection_response__free_unpacked(resp, NULL);
}

Test(reflection, extensions) {
  Grpc__Reflection__V1__ExtensionRequest ext = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
  ext.containing_type = "urpc.test.refl.Base";
  ext.extension_number = 199;
  Req req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  req.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION;
  req.file_containing_extension = &ext;
  Resp *resp = ask(&req);
  cr_assert_eq(resp->file_descriptor_response->n_file_descriptor_proto, 3);
  cr_assert_str_eq(nth_file(resp, 0), "refl_ext_more.proto");
  cr_assert_eq(resp->original_request->file_containing_extension->extension_number, 199);
  grpc__reflection__v1__server_reflection_response__free_unpacked(resp, NULL);

  ext.extension_number = 101;
  expect_error(ask(&req), 5, "Extension not found.");
  ext.containing_type = "urpc.test.refl.Nope";
  expect_error(ask(&req), 5, "Type not found.");

  req.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
  req.all_extension_numbers_of_type = "urpc.test.refl.Base";
  resp = ask(&req);
  cr_assert_eq(
      resp->message_response_case,
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE);
  const Grpc__Reflection__V1__ExtensionNumberResponse *e = resp->all_extension_numbers_response;
  cr_assert_str_eq(e->base_type_name, "urpc.test.refl.Base");
  cr_assert_eq(e->n_extension_number, 4);
  cr_assert_eq(e->extension_number[3], 199);
  grpc__reflection__v1__server_reflection_response__free_unpacked(resp, NULL);

  req.all_extension_numbers_of_type = "urpc.test.refl.Nope";
  expect_error(ask(&req), 5, "Type not found.");
}

Test(reflection, not_found_and_unset) {
  Req req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  req.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
  req.file_by_filename = "nope.proto";
  expect_error(ask(&req), 5, "File not found.");
  req.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
  req.file_containing_symbol = "helloworld.Nope";
  expect_error(ask(&req), 5, "Symbol not found.");
  req.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST__NOT_SET;
  expect_error(ask(&req), 12, "");

  /* not a reflection request: nothing sent */
  Helloworld__HelloRequest hello = HELLOWORLD__HELLO_REQUEST__INIT;
  cr_assert_eq(rpc_reflection_answer(&refl, &hello.base, capture, NULL), -EINVAL);
  cr_assert_eq(sends, 3);
}

/* v1alpha gets v1alpha responses (same wire shape, its own descriptor). */
Test(reflection, v1alpha) {
  Grpc__Reflection__V1alpha__ServerReflectionRequest req =
      GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__INIT;
  req.host = "h";
  req.message_request_case =
      GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
  req.file_by_filename = "grpc/testing/test.proto";
  cr_assert_eq(rpc_reflection_answer(&refl, &req.base, capture, NULL), 0);
  Grpc__Reflection__V1alpha__ServerReflectionResponse *resp =
      grpc__reflection__v1alpha__server_reflection_response__unpack(NULL, sent_len, sent);
  cr_assert_not_null(resp);
  cr_assert_str_eq(resp->valid_host, "h");
  cr_assert_str_eq(resp->original_request->file_by_filename, "grpc/testing/test.proto");
  cr_assert_eq(resp->file_descriptor_response->n_file_descriptor_proto, 3);
  grpc__reflection__v1alpha__server_reflection_response__free_unpacked(resp, NULL);

  req.file_by_filename = "nope";
  cr_assert_eq(rpc_reflection_answer(&refl, &req.base, capture, NULL), 0);
  resp = grpc__reflection__v1alpha__server_reflection_response__unpack(NULL, sent_len, sent);
  cr_assert_eq(
      resp->message_response_case,
      GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
  cr_assert_eq(resp->error_response->error_code, 5);
  grpc__reflection__v1alpha__server_reflection_response__free_unpacked(resp, NULL);
}

/* The descriptors built into the library describe the built-in services. */
Test(reflection_db_input, builtin_set) {
  rpc_refl_db *d;
  cr_assert_eq(rpc_refl_db_new(&d), 0);
  cr_assert_eq(rpc_refl_db_add(d, rpc_refl_builtin_set, rpc_refl_builtin_set_len), 3);
  cr_assert_not_null(rpc_refl_find_symbol(d, "grpc.health.v1.Health.Check"));
  cr_assert_not_null(rpc_refl_find_symbol(d, "grpc.reflection.v1.ServerReflection"));
  cr_assert_not_null(
      rpc_refl_find_symbol(d, "grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo"));
  rpc_refl_db_free(d);
}

/* bench/load/descset.h and pb_json.h over the example descriptors (embedded at build time):
 * files from a set or one by one (as reflection sends them), the call forms, and requests
 * encoded from JSON compared with the same message packed by protobuf-c's generated code;
 * error reasons name the field. The full mapping is checked against Python's json_format by
 * check_pb_json.py. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bench/load/descset.h"
#include "bench/load/pb_json.h"
#include "grpc/testing/messages.pb-c.h"
#include "helloworld.pb-c.h"

extern const unsigned char load_test_set[];
extern const size_t load_test_set_len;

static load_descset *ds;

static void setup(void) {
  cr_assert_eq(load_descset_new(&ds), 0);
  cr_assert_gt(load_descset_add_set(ds, load_test_set, load_test_set_len), 0);
}
static void teardown(void) {
  load_descset_free(ds);
}

TestSuite(descset, .init = setup, .fini = teardown);

Test(descset, calls_resolve_in_both_forms) {
  load_method m;
  const char *forms[] = {"helloworld.Greeter/SayHello", "helloworld.Greeter.SayHello",
                         "/helloworld.Greeter/SayHello"};
  for (size_t i = 0; i < 3; i++) {
    cr_assert_eq(load_descset_method(ds, forms[i], &m), 0, "%s", forms[i]);
    cr_expect_str_eq(m.path, "/helloworld.Greeter/SayHello");
    cr_expect_str_eq(m.input->full_name, "helloworld.HelloRequest");
    cr_expect_str_eq(m.output->full_name, "helloworld.HelloReply");
  }
  /* Input type in another file (messages.proto, imported by test.proto). */
  cr_assert_eq(load_descset_method(ds, "grpc.testing.TestService/UnaryCall", &m), 0);
  cr_expect_str_eq(m.input->full_name, "grpc.testing.SimpleRequest");
  cr_expect_str_eq(m.input->file->name, "grpc/testing/messages.proto");
  cr_expect_eq(load_descset_method(ds, "helloworld.Greeter/SayGoodbye", &m), -ENOENT);
  cr_expect_eq(load_descset_method(ds, "helloworld.Nope/SayHello", &m), -ENOENT);
  cr_expect_eq(load_descset_method(ds, "SayHello", &m), -ENOENT);
  cr_expect_eq(load_descset_method(ds, "helloworld.Greeter/", &m), -ENOENT);
  cr_expect_not_null(load_descset_type(ds, ".grpc.testing.Payload"));
  cr_expect_not_null(load_descset_type(ds, "grpc.testing.PayloadType")->enm);
  cr_expect_null(load_descset_type(ds, "grpc.testing"));
}

Test(descset, repeated_files_are_skipped_and_garbage_refused) {
  cr_expect_eq(load_descset_add_set(ds, load_test_set, load_test_set_len), 0);
  static const uint8_t garbage[] = {0x0a, 0x05, 0x01};
  cr_expect_eq(load_descset_add_set(ds, garbage, sizeof(garbage)), -EBADMSG);
  cr_expect_eq(load_descset_add_file(ds, garbage, sizeof(garbage)), -EBADMSG);
}

/* As server reflection delivers them: one FileDescriptorProto at a time, imports after. */
Test(descset, files_one_by_one) {
  Google__Protobuf__FileDescriptorSet *set =
      google__protobuf__file_descriptor_set__unpack(NULL, load_test_set_len, load_test_set);
  cr_assert_not_null(set);
  load_descset *one;
  cr_assert_eq(load_descset_new(&one), 0);
  load_method m;
  for (size_t i = set->n_file; i-- > 0;) { /* the importing files first */
    size_t len = google__protobuf__file_descriptor_proto__get_packed_size(set->file[i]);
    uint8_t *buf = malloc(len);
    cr_assert_not_null(buf);
    google__protobuf__file_descriptor_proto__pack(set->file[i], buf);
    cr_expect_eq(load_descset_add_file(one, buf, len), 1);
    cr_expect_eq(load_descset_add_file(one, buf, len), 0);
    free(buf);
  }
  cr_expect_eq(load_descset_method(one, "grpc.testing.TestService.StreamingOutputCall", &m), 0);
  cr_expect_str_eq(m.input->full_name, "grpc.testing.StreamingOutputCallRequest");
  load_descset_free(one);
  google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}

static void encode(const char *call, const char *json, uint8_t **out, size_t *len) {
  load_method m;
  cr_assert_eq(load_descset_method(ds, call, &m), 0);
  char err[256];
  int rc = load_pb_from_json_text(ds, m.input, json, out, len, err, sizeof(err));
  cr_assert_eq(rc, 0, "%s: %s", json, err);
}

TestSuite(pb_json, .init = setup, .fini = teardown);

Test(pb_json, same_bytes_as_protobuf_c) {
  uint8_t *got;
  size_t len;
  encode("helloworld.Greeter/SayHello", "{\"name\": \"world\"}", &got, &len);
  Helloworld__HelloRequest hello = HELLOWORLD__HELLO_REQUEST__INIT;
  hello.name = "world";
  uint8_t want[64];
  size_t n = helloworld__hello_request__pack(&hello, want);
  cr_expect_eq(len, n);
  cr_expect_arr_eq(got, want, n);
  free(got);

  /* Nested bytes, an enum by name, a nested message with a bool, a status. */
  encode("grpc.testing.TestService/UnaryCall",
         "{\"responseType\": \"COMPRESSABLE\", \"responseSize\": 314159, \"payload\": {\"body\": "
         "\"AAECAw==\"}, \"fillUsername\": true, \"responseCompressed\": {\"value\": true}, "
         "\"responseStatus\": {\"code\": 2, \"message\": \"m\"}}",
         &got, &len);
  Grpc__Testing__SimpleRequest req = GRPC__TESTING__SIMPLE_REQUEST__INIT;
  Grpc__Testing__Payload payload = GRPC__TESTING__PAYLOAD__INIT;
  Grpc__Testing__BoolValue yes = GRPC__TESTING__BOOL_VALUE__INIT;
  Grpc__Testing__EchoStatus status = GRPC__TESTING__ECHO_STATUS__INIT;
  static uint8_t body[] = {0, 1, 2, 3};
  payload.body = (ProtobufCBinaryData){sizeof(body), body};
  yes.value = 1;
  status.code = 2;
  status.message = "m";
  req.response_type = GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE;
  req.response_size = 314159;
  req.payload = &payload;
  req.fill_username = 1;
  req.response_compressed = &yes;
  req.response_status = &status;
  uint8_t big[256];
  cr_assert_leq(grpc__testing__simple_request__get_packed_size(&req), sizeof(big));
  n = grpc__testing__simple_request__pack(&req, big);
  cr_expect_eq(len, n);
  cr_expect_arr_eq(got, big, n);
  free(got);
}

Test(pb_json, repeated_messages_decode_back) {
  uint8_t *got;
  size_t len;
  encode("grpc.testing.TestService/StreamingOutputCall",
         "{\"response_parameters\": [{\"size\": 31415}, {\"size\": 9, \"interval_us\": 10}]}", &got,
         &len);
  Grpc__Testing__StreamingOutputCallRequest *r =
      grpc__testing__streaming_output_call_request__unpack(NULL, len, got);
  cr_assert_not_null(r);
  cr_assert_eq(r->n_response_parameters, 2);
  cr_expect_eq(r->response_parameters[0]->size, 31415);
  cr_expect_eq(r->response_parameters[1]->interval_us, 10);
  grpc__testing__streaming_output_call_request__free_unpacked(r, NULL);
  free(got);
}

Test(pb_json, errors_name_the_field) {
  load_method m;
  cr_assert_eq(load_descset_method(ds, "grpc.testing.TestService/UnaryCall", &m), 0);
  uint8_t *out;
  size_t len;
  char err[256];
  int rc = load_pb_from_json_text(ds, m.input, "{\"payload\": {\"bodyy\": \"\"}}", &out, &len, err,
                                  sizeof(err));
  cr_expect_eq(rc, -EINVAL);
  cr_expect_null(out);
  cr_expect_str_eq(err, "grpc.testing.SimpleRequest.payload: unknown field \"bodyy\" in message "
                        "grpc.testing.Payload");
  rc = load_pb_from_json_text(ds, m.input, "{\"responseType\": \"HUGE\"}", &out, &len, err,
                              sizeof(err));
  cr_expect_eq(rc, -EINVAL);
  cr_expect_str_eq(err, "grpc.testing.SimpleRequest.response_type: \"HUGE\" is no value of enum "
                        "grpc.testing.PayloadType");
  rc = load_pb_from_json_text(ds, m.input, "{\"responseSize\": ", &out, &len, err, sizeof(err));
  cr_expect_eq(rc, -EINVAL);
  cr_expect_not_null(strstr(err, "not valid JSON"), "%s", err);
  /* A small error buffer truncates, never overflows. */
  char tiny[8];
  rc = load_pb_from_json_text(ds, m.input, "{\"x\": 1}", &out, &len, tiny, sizeof(tiny));
  cr_expect_eq(rc, -EINVAL);
  cr_expect_eq(strlen(tiny), sizeof(tiny) - 1);
}

/* Nesting is bounded: 64 messages deep and no more. */
Test(pb_json, depth_is_bounded) {
  const load_type *inner = load_descset_type(ds, "urpc.loadtest.Kinds.Inner");
  cr_assert_not_null(inner);
  for (int depth = 64; depth <= 65; depth++) {
    char json[1024] = "";
    for (int i = 1; i < depth; i++) strcat(json, "{\"next\":");
    strcat(json, "{\"a\":1}");
    for (int i = 1; i < depth; i++) strcat(json, "}");
    uint8_t *out;
    size_t len;
    char err[512];
    int rc = load_pb_from_json_text(ds, inner, json, &out, &len, err, sizeof(err));
    cr_expect_eq(rc, depth <= 64 ? 0 : -EINVAL, "depth %d: %s", depth, err);
    if (rc == -EINVAL) cr_expect_not_null(strstr(err, "nested deeper than 64"), "%s", err);
    free(out);
  }
}

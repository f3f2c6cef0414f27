/* JSON requests through descriptors (bench/load/pb_json.h, uringrpc-load -d): any text, as the
 * request of one of four types (the first byte picks it). Whatever is accepted must be a valid
 * message of its type (protobuf-c unpacks it, where the tree has the generated code); whatever
 * is refused has a reason and no bytes. */
#include <errno.h>
#include <string.h>

#include "bench/load/descset.h"
#include "bench/load/pb_json.h"
#include "fuzz_check.h"
#include "grpc/testing/messages.pb-c.h"
#include "helloworld.pb-c.h"

extern const unsigned char fuzz_pb_json_set[];
extern const size_t fuzz_pb_json_set_len;

static load_descset *ds;
static const char *const types[] = {"grpc.testing.SimpleRequest",
                                    "grpc.testing.StreamingOutputCallRequest",
                                    "urpc.loadtest.Kinds", "helloworld.HelloRequest"};
static const ProtobufCMessageDescriptor *const c_types[] = {
    &grpc__testing__simple_request__descriptor,
    &grpc__testing__streaming_output_call_request__descriptor, NULL,
    &helloworld__hello_request__descriptor};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (load_descset_new(&ds) ||
      load_descset_add_set(ds, fuzz_pb_json_set, fuzz_pb_json_set_len) <= 0)
    abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t which = data[0] % 4;
  const load_type *t = load_descset_type(ds, types[which]);
  FUZZ_CHECK(t && t->msg, "%s missing", types[which]);
  char *text = malloc(size);
  if (!text) abort();
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';
  uint8_t *out;
  size_t len;
  char err[300];
  int rc = load_pb_from_json_text(ds, t, text, &out, &len, err, sizeof(err));
  FUZZ_CHECK(rc == 0 || rc == -EINVAL, "rc %d", rc);
  if (rc) {
    FUZZ_CHECK(!out && !len && err[0], "refused without a reason or with bytes");
  } else if (c_types[which]) {
    ProtobufCMessage *m = protobuf_c_message_unpack(c_types[which], NULL, len, out);
    FUZZ_CHECK(m, "%s: the bytes do not unpack (%zu bytes)", types[which], len);
    protobuf_c_message_free_unpacked(m, NULL);
  }
  free(out);
  free(text);
  return 0;
}

/* Descriptors for the load generator's requests: FileDescriptorProtos from a protoset file
 * (`protoc --include_imports --descriptor_set_out`, ghz's --protoset) or from server
 * reflection (one serialized FileDescriptorProto per file), decoded with protobuf-c's code for
 * descriptor.proto (the same generated code rpc/ reflection uses), indexed by full name, and
 * the lookup of a call ("pkg.Service/Method", or ghz's "pkg.Service.Method") to its method and
 * input message type. Setup-time code: linear lookups, nothing on a hot path. */
#ifndef URPC_LOAD_DESCSET_H
#define URPC_LOAD_DESCSET_H

#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/descriptor.pb-c.h"

typedef struct load_descset load_descset;

/* A message or enum type as found: its descriptor, the file that defines it (for its syntax)
 * and its full name without the leading dot ("grpc.testing.Payload"). Owned by the set; valid
 * until the next load_descset_add_* or load_descset_free (adding may move the index). */
typedef struct load_type {
  const char *full_name;
  const Google__Protobuf__FileDescriptorProto *file;
  const Google__Protobuf__DescriptorProto *msg;     /* a message type, or NULL */
  const Google__Protobuf__EnumDescriptorProto *enm; /* an enum type, or NULL */
} load_type;

typedef struct load_method {
  const Google__Protobuf__MethodDescriptorProto *method;
  const load_type *input, *output;
  char path[512]; /* the HTTP/2 :path, "/pkg.Service/Method" */
} load_method;

/* 0 or -ENOMEM. */
int load_descset_new(load_descset **out);
void load_descset_free(load_descset *ds); /* NULL is fine */

/* Adds the files of a serialized FileDescriptorSet. A file whose name the set already has is
 * skipped (reflection answers repeat the imports). Returns the files added, -EBADMSG when the
 * bytes are no FileDescriptorSet, or -ENOMEM. */
int load_descset_add_set(load_descset *ds, const uint8_t *data, size_t len);
/* Adds one serialized FileDescriptorProto, as server reflection returns them; as above. */
int load_descset_add_file(load_descset *ds, const uint8_t *data, size_t len);

/* A message or enum type by full name (a leading '.', as type_name fields have it, is fine),
 * or NULL. */
const load_type *load_descset_type(const load_descset *ds, const char *full_name);

/* Resolves "pkg.Service/Method" or "pkg.Service.Method" (a leading '/' allowed). Returns 0;
 * -ENOENT when the service or method is unknown or its input or output type is missing from
 * the set (imports not added); -ENAMETOOLONG for a path over 511 bytes. */
int load_descset_method(const load_descset *ds, const char *call, load_method *out);

#endif

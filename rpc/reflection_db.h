/* The data behind gRPC server reflection: serialized FileDescriptorSets (protoc
 * --descriptor_set_out --include_imports), indexed by file name, by fully-qualified symbol and by
 * extension. Built before the server starts and read-only after, so every shard reads it
 * without locks; lookups never allocate except rpc_refl_file_closure(), whose array the caller
 * frees.
 *
 * Also the grpc.reflection.v1 and v1alpha ServerReflection service over it (reflection.c). */
#ifndef URPC_RPC_REFLECTION_DB_H
#define URPC_RPC_REFLECTION_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/registry.h"
#include "rpc/uringrpc.h"

/* One .proto file of the db. Owned by the db; valid, and unchanged, until rpc_refl_db_free. */
typedef struct rpc_refl_file {
  const char *name;    /* as protoc names it, e.g. "grpc/health/v1/health.proto" */
  const uint8_t *data; /* the serialized FileDescriptorProto, for reflection responses */
  size_t len;
  const char *const *deps; /* names of the files it imports, in .proto order */
  size_t n_deps;
} rpc_refl_file;

typedef struct rpc_refl_db rpc_refl_db;

/* The descriptors of the services every server carries (grpc.health.v1,
 * grpc.reflection.v1 and v1alpha), embedded at build time. */
extern const unsigned char rpc_refl_builtin_set[];
extern const size_t rpc_refl_builtin_set_len;

/* Creates an empty db. Returns 0 or -ENOMEM. */
int rpc_refl_db_new(rpc_refl_db **out);
/* Frees the db and every file, name and array it handed out. NULL is fine. */
void rpc_refl_db_free(rpc_refl_db *db);

/* Adds the files of a serialized FileDescriptorSet; `set` is not kept (each file's
 * FileDescriptorProto is unpacked with protobuf-c and packed again, which keeps every field,
 * unknown ones included: the bytes are the file protoc wrote, up to field order).
 * A file whose name is already in the db is skipped (the first one added wins), and so is a
 * symbol or extension already defined by an earlier file. Imports need not be in the same
 * set, nor added yet. Setup only: not while any thread reads the db.
 * Returns the number of files added (>= 0); -EBADMSG when `set` is not a FileDescriptorSet, or
 * -EINVAL when a file has no name (the db is unchanged in both cases); -ENOMEM, after which the
 * db is still safe to use and free but may hold part of the set. */
int rpc_refl_db_add(rpc_refl_db *db, const uint8_t *set, size_t len);

/* The number of files in the db. */
size_t rpc_refl_db_count(const rpc_refl_db *db);

/* The file of that name ("helloworld.proto"), or NULL. */
const rpc_refl_file *rpc_refl_find_file(const rpc_refl_db *db, const char *name);

/* The file defining the fully-qualified symbol (a leading '.' is allowed), or NULL. Symbols are
 * messages and nested messages ("pkg.Outer.Inner"), enums (nested too), enum values (in the
 * enum's enclosing scope, "pkg.VALUE", as protobuf scopes them), fields and oneofs
 * ("pkg.Msg.field"), extensions ("pkg.ext" or "pkg.Msg.ext"), services ("pkg.Svc") and methods
 * ("pkg.Svc.Method"). */
const rpc_refl_file *rpc_refl_find_symbol(const rpc_refl_db *db, const char *symbol);

/* The file declaring extension `number` of message type `type` ("pkg.Msg", a leading '.'
 * allowed), or NULL when the type is unknown or has no such extension. */
const rpc_refl_file *rpc_refl_find_extension(const rpc_refl_db *db, const char *type,
                                             int32_t number);

/* The extension numbers of message type `type`, ascending: *out points into the db (valid until
 * rpc_refl_db_free; NULL when *n is 0). Returns 0, or -ENOENT when `type` is not a message
 * of the db. */
int rpc_refl_extension_numbers(const rpc_refl_db *db, const char *type, const int32_t **out,
                               size_t *n);

/* `f` and every file it imports, transitively, each once, `f` first (then breadth first).
 * Imports missing from the db are left out. *out is a malloc'd array the caller frees; its
 * entries belong to the db. Returns 0 or -ENOMEM. */
int rpc_refl_file_closure(const rpc_refl_db *db, const rpc_refl_file *f, const rpc_refl_file ***out,
                          size_t *n);

/* --- The ServerReflection service (reflection.c) --- */

/* What the service reads; the caller owns it (e.g. inside the server) and keeps it, the
 * registry and the db alive and unchanged while the server runs. */
/* Whether method `method` of `service` ("package.Service") streams, per its descriptor.
 * Returns 0, -ENOENT (not described), -EBADMSG or -ENOMEM. */
int rpc_refl_method_kind(const rpc_refl_db *db, const char *service, const char *method,
                         bool *client_streaming, bool *server_streaming);

typedef struct rpc_reflection {
  const rpc_registry *registry; /* list_services answers with its services */
  const rpc_refl_db *db;
} rpc_reflection;

/* Registers grpc.reflection.v1.ServerReflection and grpc.reflection.v1alpha.ServerReflection
 * (bidi ServerReflectionInfo) on `reg`, answering from `db`; fills in `r`, which the handlers
 * use. A version whose service is already registered (by the application) is left alone.
 * Before the server starts. Returns 0 or what rpc_registry_add returned. */
int rpc_reflection_register(rpc_registry *reg, rpc_reflection *r, const rpc_refl_db *db);

/* Answers one ServerReflectionRequest, v1 or v1alpha (told by its descriptor), with a response
 * of the same version passed to `send` (valid during the call only), as grpc's reference
 * server does: the request's host echoed as valid_host, the request as original_request, and an
 * ErrorResponse (NOT_FOUND, UNIMPLEMENTED for an empty request, RESOURCE_EXHAUSTED when out of
 * memory) instead of a failed lookup. Any thread. Returns what `send` returned, or -EINVAL
 * (not a reflection request; nothing sent). */
int rpc_reflection_answer(const rpc_reflection *r, const ProtobufCMessage *request,
                          int (*send)(void *ctx, const ProtobufCMessage *response), void *ctx);

#endif

/* What every call of a run sends, made once before it starts: the request messages packed to
 * protobuf bytes (from -d JSON through the method's descriptor, or raw from a file) and the
 * metadata (-H, a JSON object of strings). Read-only during the run, so every shard reads the
 * same copy. */
#ifndef URPC_LOAD_REQUEST_H
#define URPC_LOAD_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "bench/load/descset.h"
#include "client/urpc_client.h"

typedef struct load_message {
  uint8_t *data; /* owned; NULL when len is 0 */
  size_t len;
} load_message;

typedef struct load_request {
  load_message *msgs; /* owned; at least one */
  size_t n_msgs;
  urpc_client_metadata *md; /* owned, keys and values too */
  size_t n_md;
} load_request;

/* The messages from JSON text: an object is one message; an array, one per element (ghz: a
 * unary call takes them in turn, a client stream sends them all). Empty text, or no text, is
 * one empty message. `type` may be NULL only for empty text. Returns 0, -EINVAL with one line in
 * `err` (the field at fault), -ENOMEM. Adds to what `r` holds. */
int load_request_json(load_request *r, const load_descset *ds, const load_type *type,
                      const char *text, char *err, size_t err_len);
/* One message of raw protobuf bytes (copied). 0 or -ENOMEM. */
int load_request_binary(load_request *r, const uint8_t *data, size_t len);
/* The metadata from a JSON object of strings (keys lower-cased, as gRPC sends them). Returns 0,
 * -EINVAL with one line in `err`, -ENOMEM. */
int load_request_metadata(load_request *r, const char *json, char *err, size_t err_len);
void load_request_dispose(load_request *r);

/* A whole file into *out (malloc'd, NUL-terminated beyond *len). 0, or -errno with one line. */
int load_read_file(const char *path, uint8_t **out, size_t *len, char *err, size_t err_len);

#endif

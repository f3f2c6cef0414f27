/* A request from JSON (`uringrpc-load -d JSON`): a cJSON value encoded as protobuf wire bytes
 * of a message type known only by its descriptor (descset.h), following the proto3 JSON
 * mapping as protobuf's own parsers do (json_format.Parse in Python gives the same bytes):
 *
 * - keys: a field's lowerCamelCase JSON name or its name in the .proto; a key that is neither
 *   is an error naming it; two keys for one field, or two members of a oneof, are errors;
 * - integers: JSON numbers (integral, within the field's range; beyond 2^53 only as strings)
 *   or decimal strings; float/double: numbers, numeric strings, "NaN", "Infinity",
 *   "-Infinity"; bool: true/false; string; bytes: base64 (standard or URL-safe alphabet,
 *   padding optional); enums: a value's name, or its number (as a number or a string);
 * - nested messages: objects; repeated: arrays (packed for numeric kinds unless the field says
 *   packed=false, or the file is proto2); maps: objects keyed by the key's text; the
 *   google.protobuf wrappers (Int32Value, StringValue, ...): their bare value;
 * - null: the field is left unset; proto3 fields without presence are left out when they hold
 *   their default, as protobuf's serializers do; fields are written in field number order.
 *
 * Not supported (an error saying so): groups, and the well-known types with a JSON form of
 * their own (Timestamp, Duration, Struct, Value, ListValue, Any, FieldMask). */
#ifndef URPC_LOAD_PB_JSON_H
#define URPC_LOAD_PB_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "bench/load/descset.h"

/* Encodes `json` as a message of `type` (a message type of `ds`). Returns 0 with the bytes in
 * *out (malloc'd, the caller frees; NULL when *len is 0); -EINVAL with a one-line reason in
 * `err` (the field's path, e.g. "grpc.testing.SimpleRequest.payload.type: ...") for input the
 * mapping refuses or a type missing from `ds`; -ENOMEM. */
int load_pb_from_json(const load_descset *ds, const load_type *type, const cJSON *json,
                      uint8_t **out, size_t *len, char *err, size_t err_len);

/* The same from JSON text; a parse error is -EINVAL too. */
int load_pb_from_json_text(const load_descset *ds, const load_type *type, const char *text,
                           uint8_t **out, size_t *len, char *err, size_t err_len);

#endif

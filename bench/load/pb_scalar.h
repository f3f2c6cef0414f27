/* Protobuf wire writing for pb_json.c: a growable byte buffer with varints, tags and
 * length-delimited fields, and one JSON scalar turned into the wire value of a field kind
 * (private to bench/load). */
#ifndef URPC_LOAD_PB_SCALAR_H
#define URPC_LOAD_PB_SCALAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "bench/load/descset.h"

enum { PB_WIRE_VARINT = 0, PB_WIRE_I64 = 1, PB_WIRE_LEN = 2, PB_WIRE_I32 = 5 };

/* Bytes written so far; p is malloc'd (NULL while empty) and owned by whoever holds the
 * buffer. */
typedef struct pb_buf {
  uint8_t *p;
  size_t len, cap;
} pb_buf;

/* Each returns 0 or -ENOMEM. */
int pb_buf_put(pb_buf *b, const void *data, size_t n);
int pb_buf_varint(pb_buf *b, uint64_t v);
int pb_buf_tag(pb_buf *b, uint32_t number, unsigned wire);
/* Tag, length and the bytes of `inner`. */
int pb_buf_field_bytes(pb_buf *b, uint32_t number, const uint8_t *data, size_t n);

/* One field value: a varint or fixed-width number in `u` (a float's or double's bits), or
 * bytes (`data`, `len`; `owned` when decoded here, freed by pb_scalar_dispose). */
typedef struct pb_scalar {
  unsigned wire;
  uint64_t u;
  const uint8_t *data;
  size_t len;
  uint8_t *owned;
} pb_scalar;

/* Converts JSON value `v` for field `f` (any kind but message and group). `enm` is the
 * field's enum type for enums (NULL otherwise). Returns 0, -EINVAL with a reason in `why`,
 * or -ENOMEM. */
int pb_scalar_from_json(const Google__Protobuf__FieldDescriptorProto *f, const load_type *enm,
                        const cJSON *v, pb_scalar *out, char *why, size_t why_len);
/* Whether the value is its kind's default (all bits zero, or empty), which a proto3 field
 * without presence does not write. */
bool pb_scalar_is_default(const pb_scalar *s);
/* The value alone (no tag): for packed arrays. */
int pb_scalar_put_value(pb_buf *b, const pb_scalar *s);
/* Tag and value. */
int pb_scalar_put_field(pb_buf *b, uint32_t number, const pb_scalar *s);
void pb_scalar_dispose(pb_scalar *s);

#endif

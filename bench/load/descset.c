/* The load generator's descriptor set (descset.h): unpacked FileDescriptorProtos kept whole
 * (`roots`: what protobuf-c unpacked, freed at the end) and an index of every message and enum
 * type, nested ones included, and every service, by full name. */
#include "bench/load/descset.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct service_entry {
  char *full_name;
  const Google__Protobuf__ServiceDescriptorProto *svc;
} service_entry;

struct load_descset {
  ProtobufCMessage **roots; /* unpacked sets and files, owned */
  size_t n_roots;
  const Google__Protobuf__FileDescriptorProto **files;
  size_t n_files;
  load_type *types; /* full_name strings owned */
  size_t n_types;
  service_entry *services;
  size_t n_services;
};

int load_descset_new(load_descset **out) {
  *out = calloc(1, sizeof(**out));
  return *out ? 0 : -ENOMEM;
}

void load_descset_free(load_descset *ds) {
  if (!ds) return;
  for (size_t i = 0; i < ds->n_roots; i++) protobuf_c_message_free_unpacked(ds->roots[i], NULL);
  for (size_t i = 0; i < ds->n_types; i++) free((char *)ds->types[i].full_name);
  for (size_t i = 0; i < ds->n_services; i++) free(ds->services[i].full_name);
  free(ds->roots);
  free(ds->files);
  free(ds->types);
  free(ds->services);
  free(ds);
}

/* "scope.name", or "name" at the top of a file without a package. */
static char *join(const char *scope, const char *name) {
  size_t a = strlen(scope), b = strlen(name);
  char *s = malloc(a + b + 2);
  if (!s) return NULL;
  if (a) {
    memcpy(s, scope, a);
    s[a++] = '.';
  }
  memcpy(s + a, name, b + 1);
  return s;
}

static int add_type(load_descset *ds, const Google__Protobuf__FileDescriptorProto *file,
                    const char *scope, const char *name,
                    const Google__Protobuf__DescriptorProto *msg,
                    const Google__Protobuf__EnumDescriptorProto *enm, char **full) {
  *full = join(scope, name ? name : "");
  load_type *t = realloc(ds->types, (ds->n_types + 1) * sizeof(*t));
  if (!*full || !t) {
    free(*full);
    if (t) ds->types = t;
    return -ENOMEM;
  }
  ds->types = t;
  ds->types[ds->n_types++] = (load_type){*full, file, msg, enm};
  return 0;
}

static int index_enums(load_descset *ds, const Google__Protobuf__FileDescriptorProto *file,
                       const char *scope, Google__Protobuf__EnumDescriptorProto **enums, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char *full;
    int rc = add_type(ds, file, scope, enums[i]->name, NULL, enums[i], &full);
    if (rc) return rc;
  }
  return 0;
}

static int index_messages(load_descset *ds, const Google__Protobuf__FileDescriptorProto *file,
                          const char *scope, Google__Protobuf__DescriptorProto **msgs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char *full;
    int rc = add_type(ds, file, scope, msgs[i]->name, msgs[i], NULL, &full);
    if (!rc) rc = index_messages(ds, file, full, msgs[i]->nested_type, msgs[i]->n_nested_type);
    if (!rc) rc = index_enums(ds, file, full, msgs[i]->enum_type, msgs[i]->n_enum_type);
    if (rc) return rc;
  }
  return 0;
}

static int index_file(load_descset *ds, const Google__Protobuf__FileDescriptorProto *f) {
  const char *pkg = f->package ? f->package : "";
  int rc = index_messages(ds, f, pkg, f->message_type, f->n_message_type);
  if (!rc) rc = index_enums(ds, f, pkg, f->enum_type, f->n_enum_type);
  for (size_t i = 0; !rc && i < f->n_service; i++) {
    service_entry *s = realloc(ds->services, (ds->n_services + 1) * sizeof(*s));
    if (!s) return -ENOMEM;
    ds->services = s;
    char *full = join(pkg, f->service[i]->name ? f->service[i]->name : "");
    if (!full) return -ENOMEM;
    ds->services[ds->n_services++] = (service_entry){full, f->service[i]};
  }
  return rc;
}

static bool have_file(const load_descset *ds, const char *name) {
  for (size_t i = 0; i < ds->n_files; i++)
    if (ds->files[i]->name && name && strcmp(ds->files[i]->name, name) == 0) return true;
  return false;
}

/* Takes `root` (freed on failure too) and indexes the files in it that are new. */
static int add_root(load_descset *ds, ProtobufCMessage *root,
                    Google__Protobuf__FileDescriptorProto **files, size_t n) {
  ProtobufCMessage **roots = realloc(ds->roots, (ds->n_roots + 1) * sizeof(*roots));
  const Google__Protobuf__FileDescriptorProto **all =
      realloc(ds->files, (ds->n_files + n) * sizeof(*all));
  if (roots) ds->roots = roots;
  if (all) ds->files = all;
  if (!roots || !all) {
    protobuf_c_message_free_unpacked(root, NULL);
    return -ENOMEM;
  }
  ds->roots[ds->n_roots++] = root;
  int added = 0;
  for (size_t i = 0; i < n; i++) {
    if (have_file(ds, files[i]->name)) continue;
    ds->files[ds->n_files++] = files[i];
    int rc = index_file(ds, files[i]);
    if (rc) return rc;
    added++;
  }
  return added;
}

int load_descset_add_set(load_descset *ds, const uint8_t *data, size_t len) {
  Google__Protobuf__FileDescriptorSet *set =
      google__protobuf__file_descriptor_set__unpack(NULL, len, data);
  if (!set) return -EBADMSG;
  return add_root(ds, &set->base, set->file, set->n_file);
}

int load_descset_add_file(load_descset *ds, const uint8_t *data, size_t len) {
  Google__Protobuf__FileDescriptorProto *f =
      google__protobuf__file_descriptor_proto__unpack(NULL, len, data);
  if (!f) return -EBADMSG;
  return add_root(ds, &f->base, &f, 1);
}

const load_type *load_descset_type(const load_descset *ds, const char *full_name) {
  if (full_name[0] == '.') full_name++;
  for (size_t i = 0; i < ds->n_types; i++)
    if (strcmp(ds->types[i].full_name, full_name) == 0) return &ds->types[i];
  return NULL;
}

static const Google__Protobuf__ServiceDescriptorProto *find_service(const load_descset *ds,
                                                                    const char *name, size_t len) {
  for (size_t i = 0; i < ds->n_services; i++)
    if (strlen(ds->services[i].full_name) == len &&
        memcmp(ds->services[i].full_name, name, len) == 0)
      return ds->services[i].svc;
  return NULL;
}

int load_descset_method(const load_descset *ds, const char *call, load_method *out) {
  memset(out, 0, sizeof(*out));
  if (call[0] == '/') call++;
  const char *sep = strrchr(call, '/');
  if (!sep) sep = strrchr(call, '.');
  if (!sep || sep == call || !sep[1]) return -ENOENT;
  size_t svc_len = (size_t)(sep - call);
  const Google__Protobuf__ServiceDescriptorProto *svc = find_service(ds, call, svc_len);
  if (!svc) return -ENOENT;
  for (size_t i = 0; i < svc->n_method; i++) {
    const Google__Protobuf__MethodDescriptorProto *m = svc->method[i];
    if (!m->name || strcmp(m->name, sep + 1) != 0) continue;
    out->method = m;
    out->input = m->input_type ? load_descset_type(ds, m->input_type) : NULL;
    out->output = m->output_type ? load_descset_type(ds, m->output_type) : NULL;
    if (!out->input || !out->input->msg || !out->output || !out->output->msg) return -ENOENT;
    int n = snprintf(out->path, sizeof(out->path), "/%.*s/%s", (int)svc_len, call, m->name);
    return n < 0 || (size_t)n >= sizeof(out->path) ? -ENAMETOOLONG : 0;
  }
  return -ENOENT;
}

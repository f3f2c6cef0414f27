/* The reflection db: FileDescriptorSets decoded with protobuf-c (descriptor.proto compiled by
 * protoc-c), kept as one record per file and three tables, all built in rpc_refl_db_add and
 * only read after:
 *   by_name  file name → file
 *   symbols  fully-qualified name → file, with the symbol's kind (messages are told apart so
 *            extension requests can say "type not found")
 *   ext      extendee message name → its extensions, sorted by number, each with its file.
 * Tables are open-addressing hash maps (FNV-1a, linear probing, at most half full) that own
 * copies of their keys. The unpacked descriptors are freed once indexed; a file keeps its name,
 * its imports and its FileDescriptorProto packed again. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "rpc/reflection_db.h"

typedef Google__Protobuf__FileDescriptorSet FileSet;
typedef Google__Protobuf__FileDescriptorProto FileProto;
typedef Google__Protobuf__DescriptorProto MsgProto;
typedef Google__Protobuf__EnumDescriptorProto EnumProto;
typedef Google__Protobuf__FieldDescriptorProto FieldProto;
typedef Google__Protobuf__ServiceDescriptorProto ServiceProto;

enum sym_kind {
  SYM_MESSAGE,
  SYM_ENUM,
  SYM_ENUM_VALUE,
  SYM_FIELD,
  SYM_ONEOF,
  SYM_EXTENSION,
  SYM_SERVICE,
  SYM_METHOD,
};

typedef struct slot {
  char *key; /* owned; NULL for an empty slot */
  size_t len;
  uint64_t hash;
  void *val;
  int kind;
} slot;

typedef struct map {
  slot *slots;
  size_t cap, count; /* cap is 0 or a power of two */
} map;

/* The extensions of one message type; the arrays are parallel, sorted by number. */
typedef struct ext_list {
  int32_t *numbers;
  const rpc_refl_file **files;
  size_t n, cap;
} ext_list;

/* A file as stored: the public view plus the memory behind it. */
typedef struct file_rec {
  rpc_refl_file pub;
  char *name;
  uint8_t *data;
  char **deps;
} file_rec;

struct rpc_refl_db {
  file_rec **files; /* owned, in the order added */
  size_t n_files, cap_files;
  map by_name; /* val: file_rec */
  map symbols; /* val: file_rec, kind: sym_kind */
  map ext;     /* val: ext_list, owned */
};

static uint64_t hash(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
  return h;
}

static const slot *map_get(const map *m, const char *key, size_t len) {
  if (!m->cap) return NULL;
  uint64_t h = hash(key, len);
  for (size_t i = h & (m->cap - 1); m->slots[i].key; i = (i + 1) & (m->cap - 1)) {
    const slot *s = &m->slots[i];
    if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return s;
  }
  return NULL;
}

static int map_grow(map *m) {
  if ((m->count + 1) * 2 <= m->cap) return 0;
  size_t cap = m->cap ? m->cap * 2 : 64;
  slot *slots = calloc(cap, sizeof(*slots));
  if (!slots) return -ENOMEM;
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->slots[i].key) continue;
    size_t j = m->slots[i].hash & (cap - 1);
    while (slots[j].key) j = (j + 1) & (cap - 1);
    slots[j] = m->slots[i];
  }
  free(m->slots);
  m->slots = slots;
  m->cap = cap;
  return 0;
}

/* Returns 1 when added, 0 when the key was there already (left as it was), or -ENOMEM. */
static int map_put(map *m, const char *key, size_t len, void *val, int kind) {
  if (map_get(m, key, len)) return 0;
  if (map_grow(m) < 0) return -ENOMEM;
  char *copy = malloc(len + 1);
  if (!copy) return -ENOMEM;
  memcpy(copy, key, len);
  copy[len] = '\0';
  uint64_t h = hash(key, len);
  size_t i = h & (m->cap - 1);
  while (m->slots[i].key) i = (i + 1) & (m->cap - 1);
  m->slots[i] = (slot){.key = copy, .len = len, .hash = h, .val = val, .kind = kind};
  m->count++;
  return 1;
}

static void map_dispose(map *m, void (*free_val)(void *)) {
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->slots[i].key) continue;
    free(m->slots[i].key);
    if (free_val) free_val(m->slots[i].val);
  }
  free(m->slots);
  memset(m, 0, sizeof(*m));
}

static void ext_list_free(void *p) {
  ext_list *l = p;
  free(l->numbers);
  free(l->files);
  free(l);
}

static void file_free(file_rec *f) {
  if (!f) return;
  if (f->deps)
    for (size_t i = 0; i < f->pub.n_deps; i++) free(f->deps[i]);
  free(f->deps);
  free(f->data);
  free(f->name);
  free(f);
}

static char *copy_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

int rpc_refl_db_new(rpc_refl_db **out) {
  *out = calloc(1, sizeof(**out));
  return *out ? 0 : -ENOMEM;
}

void rpc_refl_db_free(rpc_refl_db *db) {
  if (!db) return;
  for (size_t i = 0; i < db->n_files; i++) file_free(db->files[i]);
  free(db->files);
  map_dispose(&db->by_name, NULL);
  map_dispose(&db->symbols, NULL);
  map_dispose(&db->ext, ext_list_free);
  free(db);
}

size_t rpc_refl_db_count(const rpc_refl_db *db) {
  return db ? db->n_files : 0;
}

/* ---- Building ---- */

/* protobuf-c's allocator for unpacking, so that running out of memory is told apart from a
 * malformed set (protobuf-c returns NULL for both). */
typedef struct unpack_alloc {
  ProtobufCAllocator a;
  bool failed;
} unpack_alloc;

static void *unpack_malloc(void *data, size_t size) {
  void *p = malloc(size);
  if (!p && size) ((unpack_alloc *)data)->failed = true;
  return p;
}

static void unpack_free(void *data, void *p) {
  (void)data;
  free(p);
}

/* The walk over one file's declarations; `name` holds the current scope ("pkg.Outer"). */
typedef struct walk {
  rpc_refl_db *db;
  file_rec *file;
  char *name;
  size_t len, cap;
} walk;

/* Appends ".part" (or "part" at the top) to the scope; the caller restores w->len. */
static int push(walk *w, const char *part) {
  size_t n = strlen(part), need = w->len + 1 + n + 1;
  if (need > w->cap) {
    size_t cap = w->cap ? w->cap : 128;
    while (cap < need) cap *= 2;
    char *p = realloc(w->name, cap);
    if (!p) return -ENOMEM;
    w->name = p;
    w->cap = cap;
  }
  if (w->len) w->name[w->len++] = '.';
  memcpy(w->name + w->len, part, n + 1);
  w->len += n;
  return 0;
}

static bool named(const char *s) {
  return s && *s;
}

/* Defines `part` inside the current scope. */
static int define(walk *w, const char *part, int kind) {
  if (!named(part)) return 0;
  size_t save = w->len;
  int rc = push(w, part);
  if (rc == 0) rc = map_put(&w->db->symbols, w->name, w->len, w->file, kind);
  w->len = save;
  return rc < 0 ? rc : 0;
}

static int index_extension(walk *w, const FieldProto *f) {
  int rc = define(w, f->name, SYM_EXTENSION);
  if (rc < 0 || !named(f->extendee) || !f->has_number) return rc;
  const char *type = f->extendee + (f->extendee[0] == '.');
  size_t tlen = strlen(type);
  const slot *s = map_get(&w->db->ext, type, tlen);
  ext_list *l = s ? s->val : NULL;
  if (!l) {
    l = calloc(1, sizeof(*l));
    if (!l) return -ENOMEM;
    rc = map_put(&w->db->ext, type, tlen, l, 0);
    if (rc < 0) {
      free(l);
      return rc;
    }
  }
  size_t at = 0;
  while (at < l->n && l->numbers[at] < f->number) at++;
  if (at < l->n && l->numbers[at] == f->number) return 0; /* an earlier file has it */
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4;
    int32_t *numbers = realloc(l->numbers, cap * sizeof(*numbers));
    if (!numbers) return -ENOMEM;
    l->numbers = numbers;
    const rpc_refl_file **files = realloc(l->files, cap * sizeof(*files));
    if (!files) return -ENOMEM;
    l->files = files;
    l->cap = cap;
  }
  memmove(l->numbers + at + 1, l->numbers + at, (l->n - at) * sizeof(*l->numbers));
  memmove(l->files + at + 1, l->files + at, (l->n - at) * sizeof(*l->files));
  l->numbers[at] = f->number;
  l->files[at] = &w->file->pub;
  l->n++;
  return 0;
}

/* An enum and its values; values live in the enum's enclosing scope, as in protobuf. */
static int index_enum(walk *w, const EnumProto *e) {
  int rc = define(w, e->name, SYM_ENUM);
  for (size_t i = 0; rc == 0 && i < e->n_value; i++)
    rc = define(w, e->value[i]->name, SYM_ENUM_VALUE);
  return rc;
}

static int index_message(walk *w, const MsgProto *m) {
  if (!named(m->name)) return 0;
  int rc = define(w, m->name, SYM_MESSAGE);
  size_t save = w->len;
  if (rc == 0) rc = push(w, m->name);
  for (size_t i = 0; rc == 0 && i < m->n_field; i++) rc = define(w, m->field[i]->name, SYM_FIELD);
  for (size_t i = 0; rc == 0 && i < m->n_oneof_decl; i++)
    rc = define(w, m->oneof_decl[i]->name, SYM_ONEOF);
  for (size_t i = 0; rc == 0 && i < m->n_extension; i++) rc = index_extension(w, m->extension[i]);
  for (size_t i = 0; rc == 0 && i < m->n_nested_type; i++) rc = index_message(w, m->nested_type[i]);
  for (size_t i = 0; rc == 0 && i < m->n_enum_type; i++) rc = index_enum(w, m->enum_type[i]);
  w->len = save;
  return rc;
}

static int index_service(walk *w, const ServiceProto *s) {
  if (!named(s->name)) return 0;
  int rc = define(w, s->name, SYM_SERVICE);
  size_t save = w->len;
  if (rc == 0) rc = push(w, s->name);
  for (size_t i = 0; rc == 0 && i < s->n_method; i++)
    rc = define(w, s->method[i]->name, SYM_METHOD);
  w->len = save;
  return rc;
}

static int index_file(walk *w, const FileProto *fp) {
  w->len = 0;
  int rc = named(fp->package) ? push(w, fp->package) : 0;
  for (size_t i = 0; rc == 0 && i < fp->n_message_type; i++)
    rc = index_message(w, fp->message_type[i]);
  for (size_t i = 0; rc == 0 && i < fp->n_enum_type; i++) rc = index_enum(w, fp->enum_type[i]);
  for (size_t i = 0; rc == 0 && i < fp->n_service; i++) rc = index_service(w, fp->service[i]);
  for (size_t i = 0; rc == 0 && i < fp->n_extension; i++) rc = index_extension(w, fp->extension[i]);
  return rc;
}

static file_rec *file_new(const FileProto *fp) {
  file_rec *f = calloc(1, sizeof(*f));
  if (!f) return NULL;
  size_t len = protobuf_c_message_get_packed_size(&fp->base);
  f->name = copy_str(fp->name);
  f->data = malloc(len ? len : 1);
  f->deps = calloc(fp->n_dependency ? fp->n_dependency : 1, sizeof(*f->deps));
  if (!f->name || !f->data || !f->deps) goto fail;
  for (size_t i = 0; i < fp->n_dependency; i++) {
    f->deps[i] = copy_str(fp->dependency[i] ? fp->dependency[i] : "");
    if (!f->deps[i]) goto fail;
    f->pub.n_deps = i + 1;
  }
  f->pub.name = f->name;
  f->pub.len = protobuf_c_message_pack(&fp->base, f->data);
  f->pub.data = f->data;
  f->pub.deps = (const char *const *)f->deps;
  return f;
fail:
  file_free(f);
  return NULL;
}

/* Takes the file into the db; on failure the db is unchanged and `f` is freed. */
static int add_file(rpc_refl_db *db, file_rec *f) {
  if (db->n_files == db->cap_files) {
    size_t cap = db->cap_files ? db->cap_files * 2 : 16;
    file_rec **files = realloc(db->files, cap * sizeof(*files));
    if (!files) goto fail;
    db->files = files;
    db->cap_files = cap;
  }
  if (map_put(&db->by_name, f->name, strlen(f->name), f, 0) < 0) goto fail;
  db->files[db->n_files++] = f;
  return 0;
fail:
  file_free(f);
  return -ENOMEM;
}

int rpc_refl_db_add(rpc_refl_db *db, const uint8_t *set, size_t len) {
  unpack_alloc ua = {.a = {.alloc = unpack_malloc, .free = unpack_free, .allocator_data = &ua}};
  FileSet *fs = (FileSet *)protobuf_c_message_unpack(
      &google__protobuf__file_descriptor_set__descriptor, &ua.a, len, set);
  if (!fs) return ua.failed ? -ENOMEM : -EBADMSG;
  int rc = 0, added = 0;
  for (size_t i = 0; i < fs->n_file; i++)
    if (!named(fs->file[i]->name)) rc = -EINVAL;
  walk w = {.db = db};
  for (size_t i = 0; rc == 0 && i < fs->n_file; i++) {
    const FileProto *fp = fs->file[i];
    if (map_get(&db->by_name, fp->name, strlen(fp->name))) continue;
    file_rec *f = file_new(fp);
    rc = f ? add_file(db, f) : -ENOMEM;
    if (rc < 0) break;
    added++;
    w.file = f;
    rc = index_file(&w, fp);
  }
  free(w.name);
  protobuf_c_message_free_unpacked(&fs->base, &ua.a);
  return rc < 0 ? rc : added;
}

/* ---- Lookups ---- */

static const slot *lookup(const map *m, const char *name) {
  if (!name) return NULL;
  if (*name == '.') name++;
  return map_get(m, name, strlen(name));
}

const rpc_refl_file *rpc_refl_find_file(const rpc_refl_db *db, const char *name) {
  if (!db || !name) return NULL;
  const slot *s = map_get(&db->by_name, name, strlen(name));
  return s ? &((const file_rec *)s->val)->pub : NULL;
}

const rpc_refl_file *rpc_refl_find_symbol(const rpc_refl_db *db, const char *symbol) {
  const slot *s = db ? lookup(&db->symbols, symbol) : NULL;
  return s ? &((const file_rec *)s->val)->pub : NULL;
}

int rpc_refl_extension_numbers(const rpc_refl_db *db, const char *type, const int32_t **out,
                               size_t *n) {
  *out = NULL;
  *n = 0;
  const slot *s = db ? lookup(&db->symbols, type) : NULL;
  if (!s || s->kind != SYM_MESSAGE) return -ENOENT;
  const slot *e = lookup(&db->ext, type);
  if (e) {
    const ext_list *l = e->val;
    *out = l->numbers;
    *n = l->n;
  }
  return 0;
}

const rpc_refl_file *rpc_refl_find_extension(const rpc_refl_db *db, const char *type,
                                             int32_t number) {
  const slot *s = db ? lookup(&db->symbols, type) : NULL;
  if (!s || s->kind != SYM_MESSAGE) return NULL;
  const slot *e = lookup(&db->ext, type);
  if (!e) return NULL;
  const ext_list *l = e->val;
  size_t lo = 0, hi = l->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (l->numbers[mid] < number)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < l->n && l->numbers[lo] == number ? l->files[lo] : NULL;
}

int rpc_refl_file_closure(const rpc_refl_db *db, const rpc_refl_file *f, const rpc_refl_file ***out,
                          size_t *n) {
  size_t cap = 8, len = 0;
  const rpc_refl_file **list = malloc(cap * sizeof(*list));
  *out = NULL;
  *n = 0;
  if (!list) return -ENOMEM;
  list[len++] = f;
  /* The list is its own queue; closures are a handful of files, so "seen" is a linear scan. */
  for (size_t i = 0; i < len; i++) {
    for (size_t d = 0; d < list[i]->n_deps; d++) {
      const rpc_refl_file *dep = rpc_refl_find_file(db, list[i]->deps[d]);
      bool seen = !dep;
      for (size_t j = 0; !seen && j < len; j++) seen = list[j] == dep;
      if (seen) continue;
      if (len == cap) {
        const rpc_refl_file **grown = realloc(list, 2 * cap * sizeof(*list));
        if (!grown) {
          free(list);
          return -ENOMEM;
        }
        list = grown;
        cap *= 2;
      }
      list[len++] = dep;
    }
  }
  *out = list;
  *n = len;
  return 0;
}

int rpc_refl_method_kind(const rpc_refl_db *db, const char *service, const char *method,
                         bool *client_streaming, bool *server_streaming) {
  size_t slen = strlen(service), mlen = strlen(method);
  char *symbol = malloc(slen + mlen + 2);
  if (!symbol) return -ENOMEM;
  memcpy(symbol, service, slen);
  symbol[slen] = '.';
  memcpy(symbol + slen + 1, method, mlen + 1);
  const rpc_refl_file *f = rpc_refl_find_symbol(db, symbol);
  free(symbol);
  if (!f) return -ENOENT;
  Google__Protobuf__FileDescriptorProto *fd =
      google__protobuf__file_descriptor_proto__unpack(NULL, f->len, f->data);
  if (!fd) return -EBADMSG;
  int rc = -ENOENT;
  const char *pkg = fd->package ? fd->package : "";
  size_t plen = strlen(pkg);
  for (size_t i = 0; i < fd->n_service && rc == -ENOENT; i++) {
    const Google__Protobuf__ServiceDescriptorProto *s = fd->service[i];
    /* service is "package.Name" (or "Name" without a package) */
    bool same = plen ? strncmp(service, pkg, plen) == 0 && service[plen] == '.' &&
                           strcmp(service + plen + 1, s->name) == 0
                     : strcmp(service, s->name) == 0;
    for (size_t j = 0; same && j < s->n_method; j++) {
      if (strcmp(s->method[j]->name, method) != 0) continue;
      *client_streaming = s->method[j]->has_client_streaming && s->method[j]->client_streaming;
      *server_streaming = s->method[j]->has_server_streaming && s->method[j]->server_streaming;
      rc = 0;
      break;
    }
  }
  google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
  return rc;
}

/* bench/load/request.h: the run's request bytes from JSON (one message, an array of them, none)
 * through the example descriptors, compared with protobuf-c's packing; raw bytes; metadata from
 * a JSON object; files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "bench/load/descset.h"
#include "bench/load/request.h"
#include "helloworld.pb-c.h"

extern const unsigned char load_test_set[];
extern const size_t load_test_set_len;

static load_descset *ds;
static load_request req;
static char err[256];

static void setup(void) {
  cr_assert_eq(load_descset_new(&ds), 0);
  cr_assert_gt(load_descset_add_set(ds, load_test_set, load_test_set_len), 0);
  memset(&req, 0, sizeof(req));
}
static void teardown(void) {
  load_request_dispose(&req);
  load_descset_free(ds);
}

TestSuite(request, .init = setup, .fini = teardown);

static const load_type *hello(void) {
  const load_type *t = load_descset_type(ds, "helloworld.HelloRequest");
  cr_assert_not_null(t);
  return t;
}

static void expect_hello(const load_message *m, const char *name) {
  Helloworld__HelloRequest h = HELLOWORLD__HELLO_REQUEST__INIT;
  h.name = (char *)name;
  uint8_t want[64];
  size_t n = helloworld__hello_request__pack(&h, want);
  cr_expect_eq(m->len, n, "%s: %zu bytes, want %zu", name, m->len, n);
  if (m->len == n && n) cr_expect_eq(memcmp(m->data, want, n), 0, "%s", name);
}

Test(request, one_message_from_an_object) {
  cr_assert_eq(load_request_json(&req, ds, hello(), "{\"name\":\"world\"}", err, sizeof(err)), 0,
               "%s", err);
  cr_assert_eq(req.n_msgs, 1);
  expect_hello(&req.msgs[0], "world");
}

Test(request, an_array_is_one_message_each) {
  cr_assert_eq(load_request_json(&req, ds, hello(), " [{\"name\":\"a\"},{\"name\":\"bb\"},{}] ",
                                 err, sizeof(err)),
               0, "%s", err);
  cr_assert_eq(req.n_msgs, 3);
  expect_hello(&req.msgs[0], "a");
  expect_hello(&req.msgs[1], "bb");
  cr_expect_eq(req.msgs[2].len, 0);
}

Test(request, no_text_is_an_empty_message) {
  cr_assert_eq(load_request_json(&req, ds, NULL, NULL, err, sizeof(err)), 0);
  cr_assert_eq(load_request_json(&req, ds, NULL, "  \n", err, sizeof(err)), 0);
  cr_assert_eq(req.n_msgs, 2);
  cr_expect_eq(req.msgs[0].len, 0);
  cr_expect_null(req.msgs[0].data);
}

Test(request, refusals_name_the_field) {
  cr_expect_eq(load_request_json(&req, ds, hello(), "{\"nom\":\"x\"}", err, sizeof(err)), -EINVAL);
  cr_expect(strstr(err, "nom"), "%s", err);
  cr_expect_eq(load_request_json(&req, ds, hello(), "{\"name\":", err, sizeof(err)), -EINVAL);
  cr_expect(strstr(err, "not JSON"), "%s", err);
  cr_expect_eq(load_request_json(&req, ds, hello(), "[]", err, sizeof(err)), -EINVAL);
  cr_expect_eq(load_request_json(&req, ds, hello(), "[{\"name\":1}]", err, sizeof(err)), -EINVAL);
  cr_expect_eq(load_request_json(&req, ds, NULL, "{}", err, sizeof(err)), -EINVAL);
}

Test(request, raw_bytes_are_copied) {
  uint8_t b[] = {0x0a, 0x01, 'x'};
  cr_assert_eq(load_request_binary(&req, b, sizeof(b)), 0);
  b[2] = 'y';
  cr_assert_eq(req.n_msgs, 1);
  expect_hello(&req.msgs[0], "x");
}

Test(request, metadata_from_a_json_object) {
  cr_assert_eq(load_request_metadata(&req, "{\"Authorization\":\"Bearer t\",\"x-id\":\"7\"}", err,
                                     sizeof(err)),
               0, "%s", err);
  cr_assert_eq(req.n_md, 2);
  cr_expect_str_eq(req.md[0].key, "authorization");
  cr_expect_eq(req.md[0].len, 8);
  cr_expect_eq(memcmp(req.md[0].value, "Bearer t", 8), 0);
  cr_expect_str_eq(req.md[1].key, "x-id");
  cr_expect_eq(load_request_metadata(&req, "[\"a\"]", err, sizeof(err)), -EINVAL);
  cr_expect_eq(load_request_metadata(&req, "{\"a\":1}", err, sizeof(err)), -EINVAL);
  cr_expect(strstr(err, "'a'"), "%s", err);
  cr_expect_eq(load_request_metadata(&req, "{", err, sizeof(err)), -EINVAL);
}

Test(request, files) {
  char path[] = "/tmp/urpc-load-req-XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, "{\"name\":\"f\"}", 12), 12);
  close(fd);
  uint8_t *buf;
  size_t len;
  cr_assert_eq(load_read_file(path, &buf, &len, err, sizeof(err)), 0);
  cr_expect_eq(len, 12);
  cr_expect_eq(buf[12], 0);
  free(buf);
  unlink(path);
  cr_expect_eq(load_read_file(path, &buf, &len, err, sizeof(err)), -ENOENT);
  cr_expect(strstr(err, path), "%s", err);
}

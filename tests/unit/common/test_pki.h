/* A throwaway PKI for Criterion tests, made with the openssl command (as
 * tests/integration/pki.py makes it): test_pki_make in a PRE_ALL report hook makes a directory
 * with CAs "ca" and "other" and names it in URPC_TEST_PKI for the tests, which run in processes
 * of their own (BoxFort) and find it with test_pki_use; test_pki_leaf adds certificates signed
 * by "ca"; test_pki_remove in POST_ALL. Files: <name>.pem and <name>.key. */
#ifndef URPC_TESTS_UNIT_COMMON_TEST_PKI_H
#define URPC_TESTS_UNIT_COMMON_TEST_PKI_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char test_pki_dir[64];

/* <dir>/<name>, in one of 8 rotating buffers. */
static inline const char *test_pki_path(const char *name) {
  static char bufs[8][160];
  static int next;
  char *p = bufs[next++ % 8];
  snprintf(p, sizeof(bufs[0]), "%s/%s", test_pki_dir, name);
  return p;
}

static inline int test_pki_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int test_pki_sh(const char *fmt, ...) {
  char cmd[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  return system(cmd);
}

#define TEST_PKI_EC "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

/* <name>.pem/.key signed by ca.pem, with subjectAltName `san` and extendedKeyUsage `eku`. */
static inline int test_pki_leaf(const char *name, const char *san, const char *eku) {
  return test_pki_sh(
      "cd %s && printf 'subjectAltName=%s\\nextendedKeyUsage=%s\\n' > %s.ext && "
      "openssl req " TEST_PKI_EC " -keyout %s.key -out %s.csr -subj /CN=%s >/dev/null 2>&1 && "
      "openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out %s.pem "
      "-days 2 -extfile %s.ext >/dev/null 2>&1",
      test_pki_dir, san, eku, name, name, name, name, name, name, name);
}

/* In the runner: a fresh directory named after `prefix` with the two CAs. Aborts on failure. */
static inline void test_pki_make(const char *prefix) {
  snprintf(test_pki_dir, sizeof(test_pki_dir), "/tmp/%s-XXXXXX", prefix);
  if (!mkdtemp(test_pki_dir) || setenv("URPC_TEST_PKI", test_pki_dir, 1)) abort();
  static const char *const cas[] = {"ca", "other"};
  for (int i = 0; i < 2; i++)
    if (test_pki_sh("cd %s && openssl req -x509 " TEST_PKI_EC " -keyout %s.key -out %s.pem "
                    "-days 2 -subj '/CN=%s test CA' >/dev/null 2>&1",
                    test_pki_dir, cas[i], cas[i], cas[i]))
      abort();
}

/* In a test's process: the directory the runner made; false if there is none. */
static inline bool test_pki_use(void) {
  const char *d = getenv("URPC_TEST_PKI");
  if (d) snprintf(test_pki_dir, sizeof(test_pki_dir), "%s", d);
  return d != NULL;
}

static inline void test_pki_remove(void) {
  if (test_pki_sh("rm -rf %s", test_pki_dir))
    fprintf(stderr, "could not remove %s\n", test_pki_dir);
}

#endif

/* Both spellings grpc's interop clients take: "--flag=value" (gflags, Go's flag) and
 * "--flag value"; a boolean alone ("--use_tls") is true, and "--use_tls true|false" takes the
 * next word only when it is one of those, so a bare boolean before another flag still works. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"

enum kind { STR, INT, BOOL, IGNORED };

static const struct flag {
  const char *name;
  enum kind kind;
} flags[] = {
    {"server_host", STR},
    {"server_port", INT},
    {"server_host_override", STR},
    {"test_case", STR},
    {"use_tls", BOOL},
    {"use_test_ca", BOOL},
    {"ca_file", STR},
    {"rpc_timeout_ms", INT},
    {"io", STR},
    /* Credentials for Google's production servers: no case here uses them. */
    {"default_service_account", IGNORED},
    {"oauth_scope", IGNORED},
    {"service_account_key_file", IGNORED},
    {"service_config_json", IGNORED},
};

static void usage(FILE *out) {
  fprintf(out,
          "usage: uringrpc-interop-client --server_port=PORT --test_case=CASE|all [options]\n"
          "  --server_host=HOST           server to call (default localhost)\n"
          "  --server_port=PORT           its port\n"
          "  --server_host_override=NAME  TLS server name and :authority (default: the host)\n"
          "  --test_case=CASE             a case of grpc's interop-test-descriptions.md, or all\n"
          "  --use_tls=BOOL               TLS 1.3 with ALPN h2 (default false)\n"
          "  --use_test_ca=BOOL           verify the server against grpc's test CA, read from\n"
          "                               --ca_file or $GRPC_TEST_CA_FILE (it is not embedded)\n"
          "  --ca_file=PATH               PEM CA bundle to verify the server with (default: the\n"
          "                               system's)\n"
          "  --rpc_timeout_ms=MS          deadline of every call (default 20000)\n"
          "  --io=auto|uring|epoll        the client runtime's kernel interface (default auto)\n"
          "  --default_service_account, --oauth_scope, --service_account_key_file,\n"
          "  --service_config_json        accepted and ignored (production credentials)\n");
}

static int parse_bool(const char *name, const char *v, bool *out) {
  if (!v || !strcmp(v, "true") || !strcmp(v, "1")) {
    *out = true;
    return 0;
  }
  if (!strcmp(v, "false") || !strcmp(v, "0")) {
    *out = false;
    return 0;
  }
  fprintf(stderr, "uringrpc-interop-client: --%s=%s: expected true or false\n", name, v);
  return -1;
}

static int parse_int(const char *name, const char *v, int min, int max, int *out) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < min || n > max) {
    fprintf(stderr, "uringrpc-interop-client: --%s=%s: expected a number from %d to %d\n", name, v,
            min, max);
    return -1;
  }
  *out = (int)n;
  return 0;
}

static int apply(ic_flags *f, const char *name, const char *v) {
  if (!strcmp(name, "server_host")) f->server_host = v;
  if (!strcmp(name, "server_host_override")) f->server_host_override = v;
  if (!strcmp(name, "test_case")) f->test_case = v;
  if (!strcmp(name, "ca_file")) f->ca_file = v;
  if (!strcmp(name, "server_port")) return parse_int(name, v, 1, 65535, &f->server_port);
  if (!strcmp(name, "rpc_timeout_ms"))
    return parse_int(name, v, 1, 24 * 3600 * 1000, &f->rpc_timeout_ms);
  if (!strcmp(name, "use_tls")) return parse_bool(name, v, &f->use_tls);
  if (!strcmp(name, "use_test_ca")) return parse_bool(name, v, &f->use_test_ca);
  if (!strcmp(name, "io")) {
    if (!strcmp(v, "auto"))
      f->io = URPC_IO_AUTO;
    else if (!strcmp(v, "uring"))
      f->io = URPC_IO_URING;
    else if (!strcmp(v, "epoll"))
      f->io = URPC_IO_EPOLL;
    else {
      fprintf(stderr, "uringrpc-interop-client: --io=%s: expected auto, uring or epoll\n", v);
      return -1;
    }
  }
  return 0;
}

static const struct flag *find(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
    if (strlen(flags[i].name) == len && !strncmp(flags[i].name, name, len)) return &flags[i];
  return NULL;
}

int ic_flags_parse(int argc, char **argv, ic_flags *f) {
  *f = (ic_flags){.server_host = "localhost", .rpc_timeout_ms = 20000, .io = URPC_IO_AUTO};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 1;
    }
    /* gflags and Go's flag package take one dash as well as two. */
    const char *name = a[0] == '-' ? a + 1 + (a[1] == '-') : NULL;
    if (!name || !*name) {
      fprintf(stderr, "uringrpc-interop-client: unexpected argument %s (try --help)\n", a);
      return -1;
    }
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const struct flag *fl = find(name, len);
    const char *v = eq ? eq + 1 : NULL;
    if (!fl) {
      fprintf(stderr, "uringrpc-interop-client: unknown flag %s (try --help)\n", a);
      return -1;
    }
    if (!v && fl->kind == BOOL && i + 1 < argc &&
        (!strcmp(argv[i + 1], "true") || !strcmp(argv[i + 1], "false")))
      v = argv[++i];
    else if (!v && fl->kind != BOOL) {
      if (i + 1 >= argc) {
        fprintf(stderr, "uringrpc-interop-client: %s needs a value\n", a);
        return -1;
      }
      v = argv[++i];
    }
    if (fl->kind == IGNORED) {
      fprintf(stderr, "uringrpc-interop-client: --%s ignored (no case here uses credentials)\n",
              fl->name);
      continue;
    }
    if (apply(f, fl->name, v) < 0) return -1;
  }
  if (!f->server_port || !f->test_case) {
    fprintf(stderr, "uringrpc-interop-client: --server_port and --test_case are required "
                    "(try --help)\n");
    return -1;
  }
  if (f->use_test_ca && !f->ca_file) f->ca_file = getenv("GRPC_TEST_CA_FILE");
  if (f->use_test_ca && (!f->ca_file || !*f->ca_file)) {
    fprintf(stderr, "uringrpc-interop-client: --use_test_ca needs grpc's test CA "
                    "(src/core/tsi/test_creds/ca.pem): give --ca_file or $GRPC_TEST_CA_FILE\n");
    return -1;
  }
  return 0;
}

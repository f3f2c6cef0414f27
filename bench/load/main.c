/* uringrpc-load: a ghz-like gRPC load generator on uringrpc's client.
 *
 * flags → descriptors (--protoset, or server reflection) → the method and its request bytes →
 * the connections (one health check each) → the run (run.c) → ghz's report. Anything wrong
 * before the run is one line on stderr and exit 2. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/load/descset.h"
#include "bench/load/flags.h"
#include "bench/load/reflect.h"
#include "bench/load/request.h"
#include "bench/load/run.h"
#include "bench/load/summary.h"
#include "bench/load/target.h"

#define EXIT_SETUP 2

typedef struct app {
  load_flags f;
  load_descset *ds;
  load_request req;
  load_target t;
  load_run *run;
  load_run_result res;
  bool have_res;
  char path[512];
  bool client_streaming;
  char err[1024];
} app;

static volatile sig_atomic_t interrupted;

/* The first SIGINT or SIGTERM stops the run (the report follows); a second one ends the
 * process at once. */
static void on_signal(int sig) {
  interrupted = 1;
  signal(sig, SIG_DFL);
}

/* One line on stderr; returns the exit status of a failed set-up. */
__attribute__((format(printf, 1, 2))) static int say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("uringrpc-load: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return EXIT_SETUP;
}

/* "/pkg.Service/Method" from either form of --call, for a method no descriptor vouches for. */
static int path_of_call(const char *call, char *out, size_t len) {
  char service[400];
  if (load_call_service(call, service, sizeof(service))) return -EINVAL;
  const char *method = call + (*call == '/') + strlen(service) + 1;
  if (!*method || strchr(method, '/') || strchr(method, '.')) return -EINVAL;
  int n = snprintf(out, len, "/%s/%s", service, method);
  return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* A connection that failed with TLS on may have met a plaintext server. */
static const char *with_hint(const load_flags *f, const char *why) {
  static char buf[1200];
  if (f->insecure || !strstr(why, "TLS") || strstr(why, "certificate")) return why;
  snprintf(buf, sizeof(buf), "%s (TLS is on: --insecure for a plaintext server)", why);
  return buf;
}

/* Descriptors from --protoset, or from the server; then the method. */
static int resolve_method(app *a, bool need_desc) {
  const load_flags *f = &a->f;
  int rc;
  bool have_desc = false;
  if (f->protoset) {
    uint8_t *buf;
    size_t len;
    if (load_read_file(f->protoset, &buf, &len, a->err, sizeof(a->err)))
      return say("--protoset %s", a->err);
    rc = load_descset_add_set(a->ds, buf, len);
    free(buf);
    if (rc < 0)
      return say("--protoset %s: %s", f->protoset,
                 rc == -ENOMEM ? "out of memory"
                               : "not a FileDescriptorSet (protoc --include_imports "
                                 "--descriptor_set_out=FILE)");
    have_desc = true;
  } else {
    char service[400];
    if (load_call_service(f->call, service, sizeof(service)))
      return say("--call '%s': want pkg.Service/Method", f->call);
    /* The connection, then a few round trips: twice the time a connection may take. */
    uint64_t deadline = 2 * f->connect_timeout_ns;
    rc = load_reflect(&a->t, service, deadline, a->ds, a->err, sizeof(a->err));
    if (rc >= 0) {
      have_desc = true;
    } else if (rc == -EPROTONOSUPPORT && !need_desc) {
      fprintf(stderr, "uringrpc-load: note: %s: --call goes unchecked\n", a->err);
    } else if (rc == -EPROTONOSUPPORT) {
      return say("%s: -d needs the method's descriptors: give --protoset", a->err);
    } else if (rc == -EHOSTUNREACH) {
      return say("%s: cannot connect: %s", f->host, with_hint(f, a->err));
    } else if (rc == -ENOENT) {
      return say("unknown method '%s': %s", f->call, a->err);
    } else {
      return say("%s", a->err);
    }
  }
  if (!have_desc) {
    if (path_of_call(f->call, a->path, sizeof(a->path)))
      return say("--call '%s': want pkg.Service/Method", f->call);
    return 0;
  }
  load_method m;
  rc = load_descset_method(a->ds, f->call, &m);
  if (rc == -ENAMETOOLONG) return say("--call '%s': too long", f->call);
  if (rc)
    return say("unknown method '%s' (%s)", f->call,
               f->protoset ? "not in --protoset" : "the server's reflection does not list it");
  snprintf(a->path, sizeof(a->path), "%s", m.path);
  a->client_streaming = m.method->has_client_streaming && m.method->client_streaming;
  /* The request type: kept for the JSON, checked here. */
  if (need_desc) {
    const char *text = f->data;
    uint8_t *file = NULL;
    size_t len;
    if (f->data_file) {
      if (load_read_file(f->data_file, &file, &len, a->err, sizeof(a->err)))
        return say("-D %s", a->err);
      text = (const char *)file;
    }
    rc = load_request_json(&a->req, a->ds, m.input, text, a->err, sizeof(a->err));
    free(file);
    if (rc) return say("%s: %s", f->data_file ? "-D" : "-d", a->err);
  }
  return 0;
}

static int binary_request(app *a) {
  const load_flags *f = &a->f;
  const char *path = f->binary_file ? f->binary_file : f->data_file;
  if (!path) return load_request_binary(&a->req, NULL, 0) ? say("out of memory") : 0;
  uint8_t *buf;
  size_t len;
  if (load_read_file(path, &buf, &len, a->err, sizeof(a->err))) return say("%s", a->err);
  int rc = load_request_binary(&a->req, buf, len);
  free(buf);
  return rc ? say("out of memory") : 0;
}

static int report(app *a) {
  const load_flags *f = &a->f;
  load_result r = {0};
  r.count = a->res.tally.count;
  r.total_ns = a->res.total_ns;
  r.ok = a->res.tally.ok;
  memcpy(r.status, a->res.tally.status, sizeof(r.status));
  r.errors = a->res.tally.errors;
  r.n_errors = a->res.tally.n_errors;
  r.date = time(NULL);
  load_options *o = &r.options;
  o->host = f->host;
  o->call = f->call;
  o->protoset = f->protoset;
  o->cacert = f->cacert;
  o->cert = f->cert;
  o->key = f->key;
  o->cname = f->cname;
  o->authority = f->authority;
  o->data = f->data;
  o->metadata = f->metadata;
  o->insecure = f->insecure;
  o->binary = f->binary || f->binary_file;
  o->total = f->total;
  o->concurrency = f->concurrency;
  o->connections = f->connections;
  o->rps = f->rps;
  o->duration_ns = f->duration_ns;
  o->timeout_ns = f->timeout_ns;
  o->dial_timeout_ns = f->connect_timeout_ns;
  o->cpus = a->t.shards;

  FILE *out = stdout;
  if (f->output && !(out = fopen(f->output, "w"))) {
    fprintf(stderr, "uringrpc-load: -o %s: %s\n", f->output, strerror(errno));
    return 1;
  }
  int rc = 0;
  if (f->format == LOAD_FORMAT_SUMMARY) {
    rc = load_summary_text(&r, out);
  } else {
    cJSON *j = load_summary_json(&r);
    char *text = !j                                ? NULL
                 : f->format == LOAD_FORMAT_PRETTY ? cJSON_Print(j)
                                                   : cJSON_PrintUnformatted(j);
    if (!text || fprintf(out, "%s\n", text) < 0) rc = -EIO;
    cJSON_free(text);
    cJSON_Delete(j);
  }
  if (out != stdout ? fclose(out) : fflush(out)) rc = -EIO;
  if (rc) {
    fprintf(stderr, "uringrpc-load: writing the report failed\n");
    return 1;
  }
  return 0;
}

static int run(app *a, int argc, char **argv) {
  load_flags *f = &a->f;
  if (load_flags_parse(argc, argv, f, a->err, sizeof(a->err))) return say("%s", a->err);
  if (f->help) {
    load_flags_usage(stdout);
    return 0;
  }
  if (f->version) {
    printf("uringrpc-load %s\n", URPC_VERSION_STRING);
    return 0;
  }
  if (f->shards_clamped)
    fprintf(stderr, "uringrpc-load: note: %d shards, one per connection (-c)\n", f->shards);
  if (load_descset_new(&a->ds)) return say("out of memory");
  if (f->metadata && load_request_metadata(&a->req, f->metadata, a->err, sizeof(a->err)))
    return say("%s", a->err);
  /* The shards start with SIGINT and SIGTERM blocked (they inherit this thread's mask); this
   * thread takes them: the run stops and the report covers what was done. */
  sigset_t sigs, old_mask;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, &old_mask);
  int opened = load_target_open(&a->t, f, &a->req, a->err, sizeof(a->err));
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
  if (opened) return say("%s: %s", f->host, a->err);

  bool json = f->data || (f->data_file && !f->binary);
  int rc = resolve_method(a, json);
  if (rc) return rc;
  if (!json && (rc = binary_request(a))) return rc;

  rc = load_target_connect(&a->t, f->connect_timeout_ns, a->err, sizeof(a->err));
  if (rc == -EHOSTUNREACH) return say("%s: cannot connect: %s", f->host, with_hint(f, a->err));
  if (rc) return say("%s", a->err);

  if (interrupted) {
    fprintf(stderr, "uringrpc-load: interrupted before the run\n");
    return 130;
  }
  load_run_config cfg = {.flags = f,
                         .req = &a->req,
                         .path = a->path,
                         .client_streaming = a->client_streaming,
                         .interrupted = &interrupted};
  rc = load_run_exec(&a->t, &cfg, &a->run, &a->res, a->err, sizeof(a->err));
  a->have_res = true;
  if (rc) {
    fprintf(stderr, "uringrpc-load: %s\n", a->err);
    return 1;
  }
  return report(a);
}

int main(int argc, char **argv) {
  static app a; /* zeroed */
  int rc = run(&a, argc, argv);
  load_target_close(&a.t); /* before the run's state: the shards may still hold it */
  load_run_release(a.run);
  if (a.have_res) load_tally_dispose(&a.res.tally);
  load_request_dispose(&a.req);
  load_descset_free(a.ds);
  return rc;
}

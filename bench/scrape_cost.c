/* What one /metrics scrape costs the admin thread: a server with 100 methods on 2 shards (a
 * service "bench.Wide" made here at run time, M000..M099, HelloRequest in, HelloReply out),
 * every method called through h2load so that both shards' tables hold counts, then SCRAPES
 * (default 1000) calls of urpc_metrics_write into memory, each timed by the thread's own CPU
 * clock. Prints the median and p90 CPU per scrape, the bytes and the lines of one scrape.
 * Then the same through the admin endpoint: SCRAPES GET /metrics over one HTTP/1.1 keep-alive
 * connection, and the admin thread's CPU (utime + stime from /proc) divided by SCRAPES.
 *
 *   scrape_cost [SCRAPES]      (h2load from nghttp2-client must be on PATH) */
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helloworld.pb-c.h"
#include "urpc_admin.h"
#include "urpc_metrics.h"

#define N_METHODS 100

static ProtobufCMethodDescriptor methods[N_METHODS];
static unsigned indices[N_METHODS];
static char names[N_METHODS][8];
static const ProtobufCServiceDescriptor wide = {
    .magic = PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC,
    .name = "bench.Wide",
    .short_name = "Wide",
    .c_name = "Bench__Wide",
    .package = "bench",
    .n_methods = N_METHODS,
    .methods = methods,
    .method_indices_by_name = indices,
};

static void reply(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)request, (void)user;
  Helloworld__HelloReply r = HELLOWORLD__HELLO_REPLY__INIT;
  r.message = "hi";
  urpc_call_reply(call, &r.base);
}

static double cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Calls every method 40 times over 8 connections (spread over the shards by SO_REUSEPORT). */
static int call_all(const char *address) {
  char uris[] = "/tmp/scrape_cost_uris.XXXXXX", body[] = "/tmp/scrape_cost_body.XXXXXX";
  int fu = mkstemp(uris), fb = mkstemp(body);
  if (fu < 0 || fb < 0) return -errno;
  FILE *f = fdopen(fu, "w");
  for (int i = 0; i < N_METHODS; i++)
    fprintf(f, "http://%s/bench.Wide/%s\n", i ? "x" : address, names[i]);
  fclose(f);
  if (write(fb, "\0\0\0\0\0", 5) != 5) return -EIO;
  close(fb);
  pid_t pid = fork();
  if (pid == 0) {
    execlp("h2load", "h2load", "-c", "8", "-m", "4", "-n", "4000", "-i", uris, "-d", body, "-H",
           "content-type: application/grpc", "-H", "te: trailers", (char *)NULL);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  unlink(uris);
  unlink(body);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ECHILD;
}

/* The admin thread's CPU seconds so far (found by its name), or -1. */
static double admin_cpu_s(void) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  double s = -1;
  while (d && (e = readdir(d))) {
    char path[300], buf[512] = "";
    snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *close_paren = strrchr(buf, ')');
    if (!strstr(buf, "(urpc-admin)") || !close_paren) continue;
    unsigned long ut, st;
    /* After the name: state and 10 fields, then utime and stime (proc(5)). */
    if (sscanf(close_paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) ==
        2)
      s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
  }
  if (d) closedir(d);
  return s;
}

/* SCRAPES GET /metrics on one connection, each answer read whole; the bytes of the last. */
static long get_metrics(const char *address, int scrapes) {
  char host[64];
  const char *colon = strrchr(address, ':');
  snprintf(host, sizeof(host), "%.*s", (int)(colon - address), address);
  struct addrinfo *ai, hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
  if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) return -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) return -1;
  freeaddrinfo(ai);
  static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  static char buf[1 << 16];
  long body = -1;
  for (int i = 0; i < scrapes; i++) {
    if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) return -1;
    size_t have = 0;
    long want = -1;
    char *head_end = NULL;
    while (want < 0 || (long)have < want) {
      ssize_t n =
          read(fd, buf + (want < 0 ? have : 0), want < 0 ? sizeof(buf) - have : sizeof(buf));
      if (n <= 0) return -1;
      have += (size_t)n;
      if (want < 0 && (head_end = memmem(buf, have, "\r\n\r\n", 4))) {
        char *cl = strcasestr(buf, "content-length:");
        if (!cl || cl > head_end) return -1;
        body = atol(cl + 15);
        want = (head_end + 4 - buf) + body;
      }
    }
  }
  close(fd);
  return body;
}

int main(int argc, char **argv) {
  int scrapes = argc > 1 ? atoi(argv[1]) : 1000;
  if (scrapes < 1) scrapes = 1000;
  urpc_method m[N_METHODS];
  for (int i = 0; i < N_METHODS; i++) {
    snprintf(names[i], sizeof(names[i]), "M%03d", i);
    methods[i] = (ProtobufCMethodDescriptor){names[i], &helloworld__hello_request__descriptor,
                                             &helloworld__hello_reply__descriptor};
    indices[i] = (unsigned)i;
    m[i] = (urpc_method){.name = names[i], .handler = reply};
  }
  urpc_server_options o;
  urpc_server_options_init(&o);
  o.listen = "127.0.0.1:0";
  o.shards = 2;
  urpc_server *s;
  urpc_metrics *metrics;
  char why[256] = "";
  if (urpc_server_new(&o, &s) < 0 || urpc_server_add_service(s, &wide, m, N_METHODS) < 0 ||
      urpc_metrics_new(s, NULL, &metrics) < 0 || urpc_server_start(s, why, sizeof(why)) < 0) {
    fprintf(stderr, "scrape_cost: cannot start the server: %s\n", why);
    return 1;
  }
  int rc = call_all(urpc_server_address(s));
  if (rc < 0) fprintf(stderr, "scrape_cost: h2load failed (%d); scraping anyway\n", rc);

  double *us = calloc((size_t)scrapes, sizeof(double));
  size_t bytes = 0, lines = 0;
  for (int i = 0; i < scrapes; i++) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    double t0 = cpu_us();
    if (!f || urpc_metrics_write(metrics, f, false) < 0) return 1;
    fclose(f);
    us[i] = cpu_us() - t0;
    if (i == 0) {
      bytes = len;
      for (size_t k = 0; k < len; k++) lines += buf[k] == '\n';
      const char *hit = strstr(buf, "grpc_server_started_total{grpc_type=\"unary\","
                                    "grpc_service=\"bench.Wide\",grpc_method=\"M099\"} ");
      printf("M099 started: %.*s\n", hit ? (int)strcspn(strchr(hit, '}') + 2, "\n") : 9,
             hit ? strchr(hit, '}') + 2 : "(missing)");
    }
    free(buf);
  }
  qsort(us, (size_t)scrapes, sizeof(double), cmp_double);
  printf("methods %d  shards %d  scrape %zu bytes, %zu lines\n", N_METHODS,
         urpc_server_shard_count(s), bytes, lines);
  printf("urpc_metrics_write into a new memstream: median %.0f us, p90 %.0f us CPU (%d)\n",
         us[scrapes / 2], us[scrapes * 9 / 10], scrapes);
  free(us);

  urpc_admin *admin;
  if (urpc_admin_start(s, metrics, "127.0.0.1:0", why, sizeof(why), &admin) < 0) {
    fprintf(stderr, "scrape_cost: %s\n", why);
    return 1;
  }
  get_metrics(urpc_admin_address(admin), 10); /* the buffers reach their size */
  double t0 = admin_cpu_s();
  long body = get_metrics(urpc_admin_address(admin), scrapes);
  double spent = admin_cpu_s() - t0;
  if (body < 0 || t0 < 0) {
    fprintf(stderr, "scrape_cost: the admin endpoint's scrapes failed\n");
    return 1;
  }
  printf("GET /metrics over HTTP/1.1: %.0f us of the admin thread's CPU per scrape "
         "(%ld bytes, %d scrapes; /proc's clock ticks: +-%.0f us)\n",
         spent * 1e6 / scrapes, body, scrapes, 1e6 / (double)sysconf(_SC_CLK_TCK) / scrapes);
  urpc_admin_stop(admin);
  urpc_server_stop(s);
  urpc_server_wait(s);
  urpc_server_free(s);
  urpc_metrics_free(metrics);
  return 0;
}

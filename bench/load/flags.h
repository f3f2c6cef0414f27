/* uringrpc-load's command line: ghz's flags where they mean the same thing, h2load's -c/-m for
 * connections and streams, parsed into one struct and checked together so that a bad
 * combination is one line before anything connects. Pure: no I/O but the usage text. */
#ifndef URPC_LOAD_FLAGS_H
#define URPC_LOAD_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum load_format {
  LOAD_FORMAT_SUMMARY, /* ghz's text summary */
  LOAD_FORMAT_JSON,    /* ghz's JSON report, one line */
  LOAD_FORMAT_PRETTY,  /* the same, indented */
} load_format;

/* What -z does with the calls still in flight when the duration is up (ghz's --duration-stop). */
typedef enum load_duration_stop {
  LOAD_STOP_CLOSE,  /* cancel them: counted, as CANCELLED */
  LOAD_STOP_WAIT,   /* let them finish (bounded by --timeout): counted as they end */
  LOAD_STOP_IGNORE, /* cancel them and leave them out of the report */
} load_duration_stop;

#define LOAD_DEFAULT_TOTAL           200            /* ghz's -n */
#define LOAD_DEFAULT_CONCURRENCY     50             /* ghz's -c */
#define LOAD_DEFAULT_TIMEOUT_NS      20000000000ull /* ghz's -t 20s */
#define LOAD_DEFAULT_CONNECT_TIMEOUT 10000000000ull /* ghz's --connect-timeout 10s */
#define LOAD_MAX_SHARDS              256
#define LOAD_MAX_CONNECTIONS         100000
#define LOAD_MAX_CONCURRENCY         10000000

typedef struct load_flags {
  const char *host; /* the target, as the client takes it: HOST:PORT, dns:///..., unix:... */
  const char *call; /* "pkg.Service/Method" or "pkg.Service.Method" */
  /* The request: at most one of these (none: an empty message). */
  const char *data;         /* -d: JSON text (an array: one message each, used in turn) */
  const char *data_file;    /* -D: JSON from a file; with -b, binary protobuf */
  const char *binary_file;  /* -B, --binary-data: one serialized message */
  bool binary;              /* -b */
  const char *protoset;     /* descriptors from this file instead of server reflection */
  const char *metadata;     /* -H: a JSON object of strings */
  uint32_t connections;     /* -c (default 1) */
  uint32_t streams;         /* -m: in-flight calls per connection; 0 when not given */
  uint64_t concurrency;     /* in-flight calls in all: -c * -m, --concurrency, or the default */
  uint64_t total;           /* -n; 0 with -z alone */
  uint64_t duration_ns;     /* -z; 0: none */
  uint64_t max_duration_ns; /* -x: stop after this even if -n is not reached; 0: none */
  load_duration_stop duration_stop;
  uint64_t rps;        /* --rps: open loop at this rate; 0: closed loop */
  int shards;          /* --cpus / --shards (default 1) */
  int first_cpu;       /* --pin CPU: shard i on CPU+i; -1: not pinned */
  uint64_t timeout_ns; /* -t; 0: none */
  uint64_t connect_timeout_ns;
  bool insecure; /* plaintext (as ghz: TLS unless --insecure) */
  const char *cacert, *cert, *key, *cname, *authority;
  bool compress; /* -e: gzip requests */
  load_format format;
  const char *output; /* -o; NULL: stdout */
  bool help, version;
  bool shards_clamped; /* more shards were asked for than connections: set to connections */
} load_flags;

/* Parses argv (getopt_long: options before or after HOST) into `f`, defaults first. Returns 0;
 * -EINVAL with one line in `err` naming the flag at fault. With --help or --version, returns 0
 * with f->help / f->version set and the rest unchecked. Not reentrant (getopt's state). */
int load_flags_parse(int argc, char **argv, load_flags *f, char *err, size_t err_len);

/* The --help text. */
void load_flags_usage(FILE *out);

/* A Go-style duration as ghz takes them: "20s", "1m30s", "250ms", "1.5s", "100us"/"100µs",
 * "10ns", "2h"; a bare number is seconds; "0" is zero. Returns 0 with *ns, or -EINVAL. */
int load_parse_duration(const char *s, uint64_t *ns);

/* A decimal count within [min, max]: 0 or -EINVAL. */
int load_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif

/* uringrpc-load's flags (flags.h): getopt_long into load_flags, then the checks that need more
 * than one flag. Every refusal is one line naming the flag. */
#include "bench/load/flags.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: uringrpc-load [flags] HOST:PORT\n"
    "\n"
    "A gRPC load generator on uringrpc's client (ghz's flags and report, h2load's -c/-m).\n"
    "HOST:PORT is a gRPC target: host:port, dns:///host:port, ipv4:a.b.c.d:p, unix:/path.\n"
    "\n"
    "The call:\n"
    "      --call pkg.Service/Method  the method (ghz's pkg.Service.Method too); required\n"
    "  -d, --data JSON            the request as JSON, through the method's descriptor; a JSON\n"
    "                             array is several requests, used in turn (streaming: all sent)\n"
    "  -D, --data-file FILE       the JSON from a file (with -b: binary protobuf)\n"
    "  -b, --binary               -D's file holds one serialized message\n"
    "  -B, --binary-data FILE     one serialized request message (also --binary-file)\n"
    "                             no data at all: an empty message\n"
    "      --protoset FILE        descriptors from a set (protoc --include_imports\n"
    "                             --descriptor_set_out) instead of server reflection\n"
    "                             (grpc.reflection.v1, else v1alpha). Binary data without\n"
    "                             --protoset goes unchecked when the server has no reflection\n"
    "  -H, --metadata JSON        request metadata, a JSON object of strings\n"
    "  -e, --enable-compression   gzip the requests\n"
    "  -t, --timeout DUR          each call's deadline (default 20s; 0: none)\n"
    "\n"
    "Load (DUR: 10s, 1m30s, 250ms, 100us; a bare number is seconds):\n"
    "  -c, --connections N        HTTP/2 connections (default 1), spread over the shards: one\n"
    "                             channel each, connection i on shard i % shards\n"
    "  -m, --streams N            calls in flight per connection (h2load's -m): concurrency is\n"
    "                             c * m\n"
    "      --concurrency N        or: calls in flight in all, spread over the connections\n"
    "                             (ghz's -c; default 50, at least one per connection)\n"
    "  -n, --total N              calls to make (default 200 unless -z)\n"
    "  -z, --duration DUR         make calls for this long instead (-n is then ignored)\n"
    "  -x, --max-duration DUR     stop after this long even if -n calls are not done\n"
    "      --duration-stop MODE   calls in flight when -z or -x is up: close (cancel them,\n"
    "                             counted CANCELLED; default), wait (let them end), ignore\n"
    "                             (cancel, leave them out)\n"
    "  -r, --rps R                open loop: R calls a second in all, each started at its\n"
    "                             scheduled time (a call that finds no free stream waits for\n"
    "                             one) and timed from that time, so a slow server is not\n"
    "                             hidden (no coordinated omission). Without --rps: closed\n"
    "                             loop, each call's end starts the next on its stream\n"
    "      --cpus N, --shards N   client shard threads (default 1; at most one per connection)\n"
    "      --pin CPU              pin shard i to CPU+i\n"
    "\n"
    "Connections:\n"
    "      --insecure             plaintext HTTP/2 (as ghz: TLS unless --insecure)\n"
    "      --cacert FILE          CA bundle the server's chain must verify against (default:\n"
    "                             the system's)\n"
    "      --cert FILE --key FILE a client certificate (mTLS)\n"
    "      --cname NAME           the name the server's certificate must carry (and SNI)\n"
    "      --authority NAME       :authority of the calls\n"
    "      --connect-timeout DUR  how long the first connections may take (default 10s;\n"
    "                             server reflection, connection included, twice that)\n"
    "\n"
    "  Before the run each connection is made with one grpc.health.v1.Health/Check call (any\n"
    "  answer will do; not counted): a server that cannot be reached is one line, exit 2.\n"
    "\n"
    "Output:\n"
    "  -O, --format FMT           summary (default), json or pretty (indented json): ghz's\n"
    "                             report, latencies from HDR histograms\n"
    "  -o, --output FILE          write it there instead of stdout\n"
    "  -h, --help  -v, --version\n"
    "\n"
    "SIGINT or SIGTERM during the run stops it as -z does when its time is up (a second one\n"
    "ends the process): the report covers what was done.\n"
    "\n"
    "Exit status: 0 after a run (failed calls included: see the report), 2 for bad flags, an\n"
    "unknown method or a server that cannot be reached at the start, 1 for other failures.\n";

void load_flags_usage(FILE *out) {
  fputs(usage_text, out);
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
  return -EINVAL;
}

int load_parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  if (!s || *s < '0' || *s > '9') return -EINVAL;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max) return -EINVAL;
  *out = v;
  return 0;
}

static const struct {
  const char *name;
  double ns;
} units[] = {{"ns", 1},   {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
             {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9}};

int load_parse_duration(const char *s, uint64_t *ns) {
  if (!s || !*s) return -EINVAL;
  if (!strcmp(s, "0")) {
    *ns = 0;
    return 0;
  }
  double total = 0;
  const char *p = s;
  bool bare = true;
  while (*p) {
    /* Go's form: digits with at most one '.', no sign, no exponent. */
    char num[32];
    size_t n = 0, dots = 0;
    while ((p[n] >= '0' && p[n] <= '9') || p[n] == '.') {
      if (p[n] == '.') dots++;
      if (++n >= sizeof(num)) return -EINVAL;
    }
    if (!n || dots > 1 || (n == 1 && dots)) return -EINVAL;
    memcpy(num, p, n);
    num[n] = 0;
    double v = strtod(num, NULL);
    p += n;
    if (!*p) {
      if (!bare) return -EINVAL; /* "1m30": the last number needs its unit */
      total = v * 1e9;           /* a bare number: seconds */
      break;
    }
    /* Longest unit first where two share a start ("ms" before "m"). */
    size_t best = 0;
    double mult = 0;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
      size_t len = strlen(units[i].name);
      if (len > best && !strncmp(p, units[i].name, len)) {
        best = len;
        mult = units[i].ns;
      }
    }
    if (!best) return -EINVAL;
    p += best;
    total += v * mult;
    bare = false;
  }
  if (!isfinite(total) || total > 1e18) return -EINVAL;
  *ns = (uint64_t)llround(total);
  return 0;
}

enum {
  OPT_CALL = 256,
  OPT_PROTOSET,
  OPT_CONCURRENCY,
  OPT_DURATION_STOP,
  OPT_CPUS,
  OPT_PIN,
  OPT_INSECURE,
  OPT_CACERT,
  OPT_CERT,
  OPT_KEY,
  OPT_CNAME,
  OPT_AUTHORITY,
  OPT_CONNECT_TIMEOUT,
  OPT_PROTO,
  OPT_SKIP_TLS,
};

static const struct option long_opts[] = {
    {"call", required_argument, NULL, OPT_CALL},
    {"data", required_argument, NULL, 'd'},
    {"data-file", required_argument, NULL, 'D'},
    {"binary", no_argument, NULL, 'b'},
    {"binary-data", required_argument, NULL, 'B'},
    {"binary-file", required_argument, NULL, 'B'},
    {"protoset", required_argument, NULL, OPT_PROTOSET},
    {"proto", required_argument, NULL, OPT_PROTO},
    {"metadata", required_argument, NULL, 'H'},
    {"enable-compression", no_argument, NULL, 'e'},
    {"timeout", required_argument, NULL, 't'},
    {"connections", required_argument, NULL, 'c'},
    {"streams", required_argument, NULL, 'm'},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"total", required_argument, NULL, 'n'},
    {"duration", required_argument, NULL, 'z'},
    {"max-duration", required_argument, NULL, 'x'},
    {"duration-stop", required_argument, NULL, OPT_DURATION_STOP},
    {"rps", required_argument, NULL, 'r'},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"shards", required_argument, NULL, OPT_CPUS},
    {"pin", required_argument, NULL, OPT_PIN},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"skipTLS", no_argument, NULL, OPT_SKIP_TLS},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"cname", required_argument, NULL, OPT_CNAME},
    {"authority", required_argument, NULL, OPT_AUTHORITY},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"format", required_argument, NULL, 'O'},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'v'},
    {NULL, 0, NULL, 0},
};

/* The name a flag was given as, for messages: "-c" or "--connections". */
static const char *flag_name(int opt, int long_index) {
  static char buf[40];
  if (long_index >= 0) {
    snprintf(buf, sizeof(buf), "--%s", long_opts[long_index].name);
  } else {
    snprintf(buf, sizeof(buf), "-%c", opt);
  }
  return buf;
}

static void defaults(load_flags *f) {
  memset(f, 0, sizeof(*f));
  f->connections = 1;
  f->shards = 1;
  f->first_cpu = -1;
  f->timeout_ns = LOAD_DEFAULT_TIMEOUT_NS;
  f->connect_timeout_ns = LOAD_DEFAULT_CONNECT_TIMEOUT;
  f->duration_stop = LOAD_STOP_CLOSE;
  f->format = LOAD_FORMAT_SUMMARY;
}

/* The checks between flags, once all are in. */
static int check_together(load_flags *f, bool have_total, uint64_t concurrency, char *err,
                          size_t len) {
  if (!f->host) return fail(err, len, "no target: uringrpc-load [flags] HOST:PORT (see --help)");
  if (!f->call || !*f->call) return fail(err, len, "--call pkg.Service/Method is required");
  int sources = !!f->data + !!f->data_file + !!f->binary_file;
  if (sources > 1) return fail(err, len, "-d, -D and -B each give the request: use one");
  if (f->binary && !f->data_file)
    return fail(err, len, "-b says -D's file is binary: give -D FILE (or -B FILE)");
  if (f->streams && concurrency)
    return fail(err, len, "-m (streams per connection) and --concurrency (in all): use one");
  if (f->streams) {
    f->concurrency = (uint64_t)f->connections * f->streams;
    if (f->concurrency > LOAD_MAX_CONCURRENCY)
      return fail(err, len, "-c times -m is over %u calls in flight", LOAD_MAX_CONCURRENCY);
  } else if (concurrency) {
    if (concurrency < f->connections)
      return fail(err, len,
                  "--concurrency %" PRIu64 " is below -c %" PRIu32
                  ": each connection needs a call in flight",
                  concurrency, f->connections);
    f->concurrency = concurrency;
  } else {
    f->concurrency =
        f->connections > LOAD_DEFAULT_CONCURRENCY ? f->connections : LOAD_DEFAULT_CONCURRENCY;
  }
  if (f->duration_ns) {
    f->total = 0; /* ghz: -z wins over -n */
  } else if (!have_total) {
    f->total = LOAD_DEFAULT_TOTAL;
  }
  if (!f->duration_ns && !f->total) return fail(err, len, "-n 0 makes no calls");
  if (f->insecure && (f->cacert || f->cert || f->key || f->cname))
    return fail(err, len, "--insecure is plaintext: --cacert, --cert, --key and --cname are TLS");
  if (!!f->cert != !!f->key) return fail(err, len, "--cert and --key go together");
  if ((uint64_t)f->shards > f->connections) {
    f->shards = (int)f->connections;
    f->shards_clamped = true;
  }
  return 0;
}

int load_flags_parse(int argc, char **argv, load_flags *f, char *err, size_t len) {
  defaults(f);
  bool have_total = false;
  uint64_t concurrency = 0, v;
  optind = 0; /* a full reset, so that tests may parse again */
  opterr = 0;
  int opt, li;
  while (li = -1,
         (opt = getopt_long(argc, argv, ":c:m:n:z:x:r:d:D:bB:H:et:O:o:hv", long_opts, &li)) != -1) {
    const char *name = flag_name(opt, li);
    switch (opt) {
    case OPT_CALL:
      f->call = optarg;
      break;
    case 'd':
      f->data = optarg;
      break;
    case 'D':
      f->data_file = optarg;
      break;
    case 'b':
      f->binary = true;
      break;
    case 'B':
      f->binary_file = optarg;
      break;
    case OPT_PROTOSET:
      f->protoset = optarg;
      break;
    case OPT_PROTO:
      return fail(err, len,
                  "--proto: .proto files are not parsed here; give --protoset (protoc "
                  "--include_imports --descriptor_set_out=FILE) or use server reflection");
    case 'H':
      f->metadata = optarg;
      break;
    case 'e':
      f->compress = true;
      break;
    case 't':
      if (load_parse_duration(optarg, &f->timeout_ns))
        return fail(err, len, "%s '%s': not a duration (e.g. 20s, 500ms)", name, optarg);
      break;
    case 'c':
      if (load_parse_count(optarg, 1, LOAD_MAX_CONNECTIONS, &v))
        return fail(err, len, "%s '%s': connections from 1 to %u", name, optarg,
                    LOAD_MAX_CONNECTIONS);
      f->connections = (uint32_t)v;
      break;
    case 'm':
      if (load_parse_count(optarg, 1, LOAD_MAX_CONCURRENCY, &v))
        return fail(err, len, "%s '%s': streams per connection from 1 to %u", name, optarg,
                    LOAD_MAX_CONCURRENCY);
      f->streams = (uint32_t)v;
      break;
    case OPT_CONCURRENCY:
      if (load_parse_count(optarg, 1, LOAD_MAX_CONCURRENCY, &concurrency))
        return fail(err, len, "%s '%s': calls in flight from 1 to %u", name, optarg,
                    LOAD_MAX_CONCURRENCY);
      break;
    case 'n':
      if (load_parse_count(optarg, 0, UINT64_MAX / 2, &f->total))
        return fail(err, len, "%s '%s': not a count of calls", name, optarg);
      have_total = true;
      break;
    case 'z':
      if (load_parse_duration(optarg, &f->duration_ns) || !f->duration_ns)
        return fail(err, len, "%s '%s': not a duration above 0 (e.g. 10s)", name, optarg);
      break;
    case 'x':
      if (load_parse_duration(optarg, &f->max_duration_ns) || !f->max_duration_ns)
        return fail(err, len, "%s '%s': not a duration above 0 (e.g. 10s)", name, optarg);
      break;
    case OPT_DURATION_STOP:
      if (!strcmp(optarg, "close"))
        f->duration_stop = LOAD_STOP_CLOSE;
      else if (!strcmp(optarg, "wait"))
        f->duration_stop = LOAD_STOP_WAIT;
      else if (!strcmp(optarg, "ignore"))
        f->duration_stop = LOAD_STOP_IGNORE;
      else
        return fail(err, len, "%s '%s': close, wait or ignore", name, optarg);
      break;
    case 'r':
      if (load_parse_count(optarg, 0, 100000000, &f->rps))
        return fail(err, len, "%s '%s': calls a second, 0 to 100000000", name, optarg);
      break;
    case OPT_CPUS:
      if (load_parse_count(optarg, 1, LOAD_MAX_SHARDS, &v))
        return fail(err, len, "%s '%s': shards from 1 to %d", name, optarg, LOAD_MAX_SHARDS);
      f->shards = (int)v;
      break;
    case OPT_PIN:
      if (load_parse_count(optarg, 0, 4095, &v))
        return fail(err, len, "%s '%s': a CPU number", name, optarg);
      f->first_cpu = (int)v;
      break;
    case OPT_INSECURE:
      f->insecure = true;
      break;
    case OPT_SKIP_TLS:
      return fail(err, len,
                  "--skipTLS: the client always verifies the server's certificate; give "
                  "--cacert with its CA (or --insecure for plaintext)");
    case OPT_CACERT:
      f->cacert = optarg;
      break;
    case OPT_CERT:
      f->cert = optarg;
      break;
    case OPT_KEY:
      f->key = optarg;
      break;
    case OPT_CNAME:
      f->cname = optarg;
      break;
    case OPT_AUTHORITY:
      f->authority = optarg;
      break;
    case OPT_CONNECT_TIMEOUT:
      if (load_parse_duration(optarg, &f->connect_timeout_ns) || !f->connect_timeout_ns)
        return fail(err, len, "%s '%s': not a duration above 0 (e.g. 10s)", name, optarg);
      break;
    case 'O':
      if (!strcmp(optarg, "summary"))
        f->format = LOAD_FORMAT_SUMMARY;
      else if (!strcmp(optarg, "json"))
        f->format = LOAD_FORMAT_JSON;
      else if (!strcmp(optarg, "pretty"))
        f->format = LOAD_FORMAT_PRETTY;
      else
        return fail(err, len, "%s '%s': summary, json or pretty", name, optarg);
      break;
    case 'o':
      f->output = optarg;
      break;
    case 'h':
      f->help = true;
      return 0;
    case 'v':
      f->version = true;
      return 0;
    case ':':
      return fail(err, len, "%s needs a value (see --help)", argv[optind - 1]);
    default:
      if (optopt) return fail(err, len, "unknown flag -%c (see --help)", optopt);
      return fail(err, len, "unknown flag %s (see --help)", argv[optind - 1]);
    }
  }
  if (optind < argc) f->host = argv[optind++];
  if (optind < argc)
    return fail(err, len, "one target only: '%s' after '%s' (flags go before or after it)",
                argv[optind], f->host);
  return check_together(f, have_total, concurrency, err, len);
}

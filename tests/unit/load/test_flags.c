/* bench/load/flags.h: uringrpc-load's command line — defaults as ghz's, the -c/-m/--concurrency
 * mapping, -z over -n, Go durations, and one line naming the flag for each refusal. */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bench/load/flags.h"

static load_flags f;
static char err[256];

/* Parses a NULL-terminated list of arguments after the program name. */
#define PARSE(...)                                                                                 \
  ({                                                                                               \
    char *argv_[] = {"uringrpc-load", __VA_ARGS__, NULL};                                          \
    err[0] = 0;                                                                                    \
    load_flags_parse((int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_, &f, err, sizeof(err));    \
  })

Test(flags, defaults_follow_ghz) {
  cr_assert_eq(PARSE("--call", "helloworld.Greeter/SayHello", "localhost:50051"), 0, "%s", err);
  cr_expect_str_eq(f.host, "localhost:50051");
  cr_expect_str_eq(f.call, "helloworld.Greeter/SayHello");
  cr_expect_eq(f.connections, 1);
  cr_expect_eq(f.concurrency, 50);
  cr_expect_eq(f.total, 200);
  cr_expect_eq(f.duration_ns, 0);
  cr_expect_eq(f.rps, 0);
  cr_expect_eq(f.shards, 1);
  cr_expect_eq(f.first_cpu, -1);
  cr_expect_eq(f.timeout_ns, 20000000000ull);
  cr_expect_eq(f.connect_timeout_ns, 10000000000ull);
  cr_expect_not(f.insecure);
  cr_expect_eq(f.format, LOAD_FORMAT_SUMMARY);
  cr_expect_eq(f.duration_stop, LOAD_STOP_CLOSE);
}

Test(flags, connections_and_streams) {
  cr_assert_eq(PARSE("-c", "16", "-m", "32", "--call", "a.B/C", "h:1"), 0, "%s", err);
  cr_expect_eq(f.connections, 16);
  cr_expect_eq(f.streams, 32);
  cr_expect_eq(f.concurrency, 512);
  cr_assert_eq(PARSE("-c", "4", "--concurrency", "10", "--call", "a.B/C", "h:1"), 0, "%s", err);
  cr_expect_eq(f.concurrency, 10);
  /* Many connections and no concurrency given: one call each at least. */
  cr_assert_eq(PARSE("-c", "80", "--call", "a.B/C", "h:1"), 0, "%s", err);
  cr_expect_eq(f.concurrency, 80);
  cr_expect_eq(PARSE("-c", "4", "--concurrency", "3", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect(strstr(err, "--concurrency 3 is below -c 4"), "%s", err);
  cr_expect_eq(PARSE("-m", "2", "--concurrency", "3", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect(strstr(err, "use one"), "%s", err);
  cr_expect_eq(PARSE("-c", "0", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect(strstr(err, "-c '0'"), "%s", err);
  cr_expect_eq(PARSE("--connections=x", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect(strstr(err, "--connections 'x'"), "%s", err);
}

Test(flags, shards_at_most_one_per_connection) {
  cr_assert_eq(PARSE("--cpus", "4", "-c", "2", "--call", "a.B/C", "h:1"), 0, "%s", err);
  cr_expect_eq(f.shards, 2);
  cr_expect(f.shards_clamped);
  cr_assert_eq(PARSE("--shards", "2", "-c", "8", "--call", "a.B/C", "h:1"), 0, "%s", err);
  cr_expect_eq(f.shards, 2);
  cr_expect_not(f.shards_clamped);
  cr_expect_eq(PARSE("--cpus", "0", "--call", "a.B/C", "h:1"), -EINVAL);
}

Test(flags, duration_wins_over_total) {
  cr_assert_eq(PARSE("-n", "1000", "-z", "2s", "--call", "a.B/C", "h:1"), 0, "%s", err);
  cr_expect_eq(f.total, 0);
  cr_expect_eq(f.duration_ns, 2000000000ull);
  cr_assert_eq(PARSE("-n", "1000", "-x", "1m", "--call", "a.B/C", "h:1"), 0, "%s", err);
  cr_expect_eq(f.total, 1000);
  cr_expect_eq(f.max_duration_ns, 60000000000ull);
  cr_expect_eq(PARSE("-n", "0", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect_eq(PARSE("-z", "0", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_assert_eq(PARSE("--duration-stop", "wait", "-z", "1s", "--call", "a.B/C", "h:1"), 0);
  cr_expect_eq(f.duration_stop, LOAD_STOP_WAIT);
  cr_expect_eq(PARSE("--duration-stop", "later", "--call", "a.B/C", "h:1"), -EINVAL);
}

Test(flags, flags_after_the_target_and_long_forms) {
  cr_assert_eq(PARSE("h:1", "--call=a.B.C", "--rps=200", "--format", "json", "-o", "/tmp/x",
                     "--insecure", "-t", "500ms", "--connect-timeout", "3s", "-e"),
               0, "%s", err);
  cr_expect_str_eq(f.host, "h:1");
  cr_expect_str_eq(f.call, "a.B.C");
  cr_expect_eq(f.rps, 200);
  cr_expect_eq(f.format, LOAD_FORMAT_JSON);
  cr_expect_str_eq(f.output, "/tmp/x");
  cr_expect(f.insecure);
  cr_expect(f.compress);
  cr_expect_eq(f.timeout_ns, 500000000ull);
  cr_expect_eq(f.connect_timeout_ns, 3000000000ull);
  cr_assert_eq(PARSE("-O", "pretty", "--call", "a.B/C", "h:1"), 0);
  cr_expect_eq(f.format, LOAD_FORMAT_PRETTY);
}

Test(flags, the_request_sources) {
  cr_assert_eq(PARSE("-d", "{\"name\":\"x\"}", "--call", "a.B/C", "h:1"), 0, "%s", err);
  cr_expect_str_eq(f.data, "{\"name\":\"x\"}");
  cr_assert_eq(PARSE("--binary-data", "req.bin", "--call", "a.B/C", "h:1"), 0, "%s", err);
  cr_expect_str_eq(f.binary_file, "req.bin");
  cr_assert_eq(PARSE("-b", "-D", "req.bin", "--call", "a.B/C", "h:1"), 0, "%s", err);
  cr_expect(f.binary);
  cr_expect_str_eq(f.data_file, "req.bin");
  cr_expect_eq(PARSE("-d", "{}", "-B", "x", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect(strstr(err, "use one"), "%s", err);
  cr_expect_eq(PARSE("-b", "-d", "{}", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect_eq(PARSE("-H", "{\"k\":\"v\"}", "--call", "a.B/C", "h:1"), 0);
  cr_expect_str_eq(f.metadata, "{\"k\":\"v\"}");
}

Test(flags, refusals_are_one_line_naming_the_flag) {
  cr_expect_eq(PARSE("--call", "a.B/C"), -EINVAL);
  cr_expect(strstr(err, "no target"), "%s", err);
  cr_expect_eq(PARSE("h:1"), -EINVAL);
  cr_expect(strstr(err, "--call"), "%s", err);
  cr_expect_eq(PARSE("--call", "a.B/C", "h:1", "h:2"), -EINVAL);
  cr_expect(strstr(err, "one target only"), "%s", err);
  cr_expect_eq(PARSE("--bogus", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect(strstr(err, "unknown flag --bogus"), "%s", err);
  cr_expect_eq(PARSE("-q", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect(strstr(err, "unknown flag -q"), "%s", err);
  cr_expect_eq(PARSE("--call", "a.B/C", "h:1", "-n"), -EINVAL);
  cr_expect(strstr(err, "-n needs a value"), "%s", err);
  cr_expect_eq(PARSE("--call", "a.B/C", "h:1", "--rps"), -EINVAL);
  cr_expect(strstr(err, "--rps needs a value"), "%s", err);
  cr_expect_eq(PARSE("--insecure", "--cacert", "ca.pem", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect_eq(PARSE("--cert", "c.pem", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect(strstr(err, "--cert and --key"), "%s", err);
  cr_expect_eq(PARSE("--proto", "x.proto", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect(strstr(err, "--protoset"), "%s", err);
  cr_expect_eq(PARSE("--skipTLS", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect_eq(PARSE("-t", "soon", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect(strstr(err, "-t 'soon'"), "%s", err);
  cr_expect_eq(PARSE("--format", "csv", "--call", "a.B/C", "h:1"), -EINVAL);
  cr_expect_eq(strchr(err, '\n'), NULL);
}

Test(flags, help_and_version_stop_the_checks) {
  cr_assert_eq(PARSE("--help"), 0);
  cr_expect(f.help);
  cr_assert_eq(PARSE("-v"), 0);
  cr_expect(f.version);
}

Test(flags, go_durations) {
  static const struct {
    const char *s;
    uint64_t ns;
  } good[] = {{"0", 0},
              {"20s", 20000000000ull},
              {"1m30s", 90000000000ull},
              {"250ms", 250000000ull},
              {"1.5s", 1500000000ull},
              {"100us", 100000ull},
              {"100\xc2\xb5s", 100000ull},
              {"10ns", 10},
              {"2h", 7200000000000ull},
              {"1h2m3s4ms", 3723004000000ull},
              {"3", 3000000000ull},
              {"0.5", 500000000ull}};
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    uint64_t ns = 12345;
    cr_expect_eq(load_parse_duration(good[i].s, &ns), 0, "%s", good[i].s);
    cr_expect_eq(ns, good[i].ns, "%s: %lu", good[i].s, (unsigned long)ns);
  }
  static const char *bad[] = {"", "s", "-1s", "1x", "1m30", "1s ", " 1s", "1e3s", "10d", "nan"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint64_t ns;
    cr_expect_eq(load_parse_duration(bad[i], &ns), -EINVAL, "'%s'", bad[i]);
  }
}

Test(flags, counts) {
  uint64_t v;
  cr_expect_eq(load_parse_count("42", 1, 100, &v), 0);
  cr_expect_eq(v, 42);
  cr_expect_eq(load_parse_count("0", 1, 100, &v), -EINVAL);
  cr_expect_eq(load_parse_count("101", 1, 100, &v), -EINVAL);
  cr_expect_eq(load_parse_count("-1", 0, 100, &v), -EINVAL);
  cr_expect_eq(load_parse_count("+1", 0, 100, &v), -EINVAL);
  cr_expect_eq(load_parse_count("1k", 0, 100, &v), -EINVAL);
  cr_expect_eq(load_parse_count("99999999999999999999999", 0, UINT64_MAX, &v), -EINVAL);
}

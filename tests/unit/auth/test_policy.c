/* The authorization policy (auth/policy.c): what grpc's translator refuses, refused with its
 * words and the path to the field; and decisions for paths, headers and principals the way
 * gRFC A43 and grpc's end-to-end tests decide them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth/policy.h"

static auth_policy *parse_ok(const char *json) {
  auth_policy *p = NULL;
  char why[256] = "";
  int err = auth_policy_parse(json, strlen(json), &p, why, sizeof(why));
  cr_assert_eq(err, 0, "%s: %s", json, why);
  return p;
}

static void parse_fails(const char *json, const char *want) {
  auth_policy *p = NULL;
  char why[256] = "";
  cr_assert_eq(auth_policy_parse(json, strlen(json), &p, why, sizeof(why)), -EINVAL, "%s", json);
  cr_assert_null(p);
  cr_assert(strstr(why, want), "%s\n  gave: %s\n  want: %s", json, why, want);
}

Test(policy, refuses_what_grpc_refuses) {
  parse_fails("", "not JSON");
  parse_fails("{\"name\":\"p\",", "not JSON");
  parse_fails("[]", "SDK authorization policy is not an object.");
  parse_fails("{\"allow_rules\":[{\"name\":\"a\"}]}", "\"name\" field is not present.");
  parse_fails("{\"name\":1,\"allow_rules\":[{\"name\":\"a\"}]}", "\"name\" is not a string.");
  parse_fails("{\"name\":\"p\"}", "\"allow_rules\" is not present.");
  parse_fails("{\"name\":\"p\",\"allow_rules\":[]}", "allow_rules is empty.");
  parse_fails("{\"name\":\"p\",\"allow_rules\":{}}", "\"allow_rules\" is not an array.");
  parse_fails("{\"name\":\"p\",\"deny_rules\":[],\"allow_rules\":[{\"name\":\"a\"}]}",
              "deny_rules is empty.");
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\"}],\"x\":1}",
              "policy contains unknown field \"x\".");
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{}]}", "allow_rules 0: \"name\" is not present.");
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\"},1]}",
              "allow_rules 1: is not an object.");
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\",\"src\":{}}]}",
              "allow_rules 0: policy contains unknown field \"src\" in \"rule\".");
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\",\"source\":{\"principal\":[]}}]}",
              "policy contains unknown field \"principal\" in \"source\".");
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\",\"source\":{\"principals\":[1]}}]}",
              "allow_rules 0: \"principals\" 0: is not a string.");
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\",\"request\":{\"paths\":\"/x\"}}]}",
              "\"paths\" is not an array.");
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\",\"request\":{\"method\":[]}}]}",
              "policy contains unknown field \"method\" in \"request\".");
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\",\"name\":\"b\"}]}",
              "duplicate field \"name\".");
}

Test(policy, refuses_headers_that_may_not_be_matched) {
  static const char *const keys[] = {"content-type",
                                     ":path",
                                     ":authority",
                                     "grpc-timeout",
                                     "GRPC-encoding",
                                     "host",
                                     "Host",
                                     "connection",
                                     "keep-alive",
                                     "te",
                                     "transfer-encoding",
                                     "upgrade",
                                     "proxy-authorization",
                                     "trailer",
                                     "proxy-authenticate"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    char json[256], want[64];
    snprintf(json, sizeof(json),
             "{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\",\"request\":{\"headers\":"
             "[{\"key\":\"%s\",\"values\":[\"v\"]}]}}]}",
             keys[i]);
    snprintf(want, sizeof(want), "\"headers\" 0: Unsupported \"key\" %s.", keys[i]);
    parse_fails(json, want);
  }
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\",\"request\":{\"headers\":"
              "[{\"key\":\"k\",\"values\":[]}]}}]}",
              "\"values\" list is empty.");
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\",\"request\":{\"headers\":"
              "[{\"values\":[\"v\"]}]}}]}",
              "\"key\" is not present.");
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\",\"request\":{\"headers\":"
              "[{\"key\":\"k\",\"values\":[\"v\"],\"x\":1}]}}]}",
              "policy contains unknown field \"x\".");
}

Test(policy, audit_options) {
  auth_policy *p =
      parse_ok("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\"}],\"audit_logging_options\":"
               "{\"audit_condition\":\"ON_DENY\",\"audit_loggers\":[{\"name\":\"stdout_logger\"},"
               "{\"name\":\"custom\",\"is_optional\":true,\"config\":{}}]}}");
  cr_assert_eq(p->audit, AUTH_AUDIT_ON_DENY);
  cr_assert(p->audit_stdout);
  auth_policy_unref(p);
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\"}],\"audit_logging_options\":"
              "{\"audit_loggers\":[{\"name\":\"custom\"}]}}",
              "\"name\" custom is not supported natively or registered.");
  parse_fails("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\"}],\"audit_logging_options\":"
              "{\"audit_condition\":\"SOMETIMES\"}}",
              "Unsupported \"audit_condition\" value SOMETIMES.");
}

/* ---- decisions ---- */

typedef struct hdrs {
  const char *key, *value;
} hdrs;

static const char *header(void *ctx, const char *key, size_t *len) {
  for (const hdrs *h = ctx; h && h->key; h++) {
    if (strcmp(h->key, key) == 0) {
      *len = strlen(h->value);
      return h->value;
    }
  }
  return NULL;
}

static bool allows(const auth_policy *p, const char *path, const char *principal, hdrs *h,
                   const char **rule) {
  auth_request r = {.path = path,
                    .path_len = strlen(path),
                    .authenticated = principal != NULL,
                    .header = header,
                    .header_ctx = h};
  if (principal) r.principals[r.n_principals++] = principal;
  return auth_policy_allows(p, &r, rule);
}

static const char *const POLICY =
    "{\"name\":\"authz\","
    " \"deny_rules\":[{\"name\":\"deny_foo\",\"request\":{\"paths\":[\"/pkg.S/Foo\"],"
    "   \"headers\":[{\"key\":\"key-foo\",\"values\":[\"foo1\",\"foo2\"]},"
    "                {\"key\":\"key-bar\",\"values\":[\"bar1\"]}]}}],"
    " \"allow_rules\":["
    "  {\"name\":\"allow_spiffe_prefix\",\"source\":{\"principals\":[\"spiffe://foo.com/*\"]},"
    "   \"request\":{\"paths\":[\"/pkg.S/Bar\"]}},"
    "  {\"name\":\"allow_suffix\",\"source\":{\"principals\":[\"*.example.com\"]},"
    "   \"request\":{\"paths\":[\"*/Baz\"]}},"
    "  {\"name\":\"allow_any_authenticated\",\"source\":{\"principals\":[\"*\"]},"
    "   \"request\":{\"paths\":[\"/pkg.S/Auth*\"]}},"
    "  {\"name\":\"allow_anyone\",\"request\":{\"paths\":[\"/pkg.S/Open\",\"/pkg.S/Foo\"]}}]}";

Test(policy, decides_as_grpc_does) {
  auth_policy *p = parse_ok(POLICY);
  const char *rule;
  /* Paths and principals: exact, prefix, suffix, any authenticated. */
  cr_assert(allows(p, "/pkg.S/Bar", "spiffe://foo.com/bar/baz", NULL, &rule));
  cr_assert_str_eq(rule, "allow_spiffe_prefix");
  cr_assert_not(allows(p, "/pkg.S/Bar", "spiffe://foo.org/x", NULL, &rule));
  cr_assert_null(rule, "no rule matched: denied without a rule");
  cr_assert_not(allows(p, "/pkg.S/Bar", NULL, NULL, &rule), "unauthenticated");
  cr_assert(allows(p, "/other.T/Baz", "db.example.com", NULL, &rule));
  cr_assert_str_eq(rule, "allow_suffix");
  cr_assert(allows(p, "/pkg.S/Authenticate", "anyone", NULL, &rule));
  cr_assert_not(allows(p, "/pkg.S/Authenticate", NULL, NULL, &rule), "* needs a principal");
  cr_assert(allows(p, "/pkg.S/Open", NULL, NULL, &rule), "no principals: anyone");
  cr_assert_str_eq(rule, "allow_anyone");
  /* Deny overrides allow, only when every header rule matches (one value of each). */
  hdrs both[] = {{"key-foo", "foo2"}, {"key-bar", "bar1"}, {NULL, NULL}};
  hdrs one[] = {{"key-foo", "foo1"}, {NULL, NULL}};
  hdrs wrong[] = {{"key-foo", "foo3"}, {"key-bar", "bar1"}, {NULL, NULL}};
  cr_assert_not(allows(p, "/pkg.S/Foo", NULL, both, &rule));
  cr_assert_str_eq(rule, "deny_foo");
  cr_assert(allows(p, "/pkg.S/Foo", NULL, one, &rule));
  cr_assert(allows(p, "/pkg.S/Foo", NULL, wrong, &rule));
  cr_assert_str_eq(rule, "allow_anyone");
  auth_policy_unref(p);
}

Test(policy, header_patterns_and_case) {
  auth_policy *p =
      parse_ok("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"h\",\"request\":{\"headers\":["
               "{\"key\":\"X-Role\",\"values\":[\"admin\",\"ops-*\",\"*-lead\"]},"
               "{\"key\":\"x-present\",\"values\":[\"*\"]}]}}]}");
  const char *rule;
  hdrs ok1[] = {{"x-role", "ops-eu"}, {"x-present", "y"}, {NULL, NULL}};
  hdrs ok2[] = {{"x-role", "team-lead"}, {"x-present", "y"}, {NULL, NULL}};
  hdrs empty[] = {{"x-role", "admin"}, {"x-present", ""}, {NULL, NULL}};
  hdrs missing[] = {{"x-role", "admin"}, {NULL, NULL}};
  hdrs other[] = {{"x-role", "Admin"}, {"x-present", "y"}, {NULL, NULL}};
  cr_assert(allows(p, "/a/b", NULL, ok1, &rule));
  cr_assert(allows(p, "/a/b", NULL, ok2, &rule));
  cr_assert_not(allows(p, "/a/b", NULL, empty, &rule), "\"*\" wants a non-empty value");
  cr_assert_not(allows(p, "/a/b", NULL, missing, &rule));
  cr_assert_not(allows(p, "/a/b", NULL, other, &rule), "values match case-sensitively");
  auth_policy_unref(p);
}

Test(policy, references_keep_it_alive) {
  auth_policy *p = parse_ok("{\"name\":\"p\",\"allow_rules\":[{\"name\":\"a\"}]}");
  auth_policy_ref(p);
  auth_policy_unref(p);
  const char *rule;
  cr_assert(allows(p, "/x/y", NULL, NULL, &rule), "a rule without source or request: all");
  auth_policy_unref(p); /* ASan reports a leak or a double free if counting is wrong */
}

/* A call of a registered method tries only the rules its path can match, and decides as the
 * full evaluation does. */
static const char *const METHODS[] = {"/pkg.S/Bar",  "/other.T/Baz", "/pkg.S/Authenticate",
                                      "/pkg.S/Open", "/pkg.S/Foo",   "/pkg.S/Nothing"};

static const char *method_path(void *ctx, size_t i) {
  (void)ctx;
  return i >= 1 && i <= 6 ? METHODS[i - 1] : NULL;
}

Test(policy, indexed_by_method_decides_the_same) {
  auth_policy *p = parse_ok(POLICY);
  cr_assert_eq(auth_policy_index(p, 6, method_path, NULL), 0);
  cr_assert_eq(p->by_method[5].n_allow, 0, "no allow rule can match /pkg.S/Nothing");
  cr_assert_eq(p->by_method[0].n_allow, 1, "only allow_spiffe_prefix names /pkg.S/Bar");
  cr_assert_eq(p->by_method[4].n_deny, 1);
  const char *principals[] = {NULL, "spiffe://foo.com/x", "db.example.com", "other"};
  hdrs both[] = {{"key-foo", "foo1"}, {"key-bar", "bar1"}, {NULL, NULL}};
  for (size_t m = 1; m <= 6; m++) {
    for (size_t k = 0; k < 4; k++) {
      for (int h = 0; h < 2; h++) {
        auth_request r = {.path = METHODS[m - 1],
                          .path_len = strlen(METHODS[m - 1]),
                          .authenticated = principals[k] != NULL,
                          .header = header,
                          .header_ctx = h ? both : NULL};
        if (principals[k]) r.principals[r.n_principals++] = principals[k];
        const char *full_rule, *indexed_rule;
        bool full = auth_policy_allows(p, &r, &full_rule);
        bool indexed = auth_policy_allows_method(p, m, &r, &indexed_rule);
        cr_assert_eq(full, indexed, "%s, %s, headers %d", METHODS[m - 1], principals[k], h);
        cr_assert_eq(full_rule, indexed_rule, "%s: rule", METHODS[m - 1]);
      }
    }
  }
  auth_policy_unref(p);
}

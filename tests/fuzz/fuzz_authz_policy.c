/* The authorization policy parser (auth/policy.c) on any bytes: it accepts or refuses with a
 * line, never crashes or leaks; an accepted policy evaluates any request to a decision naming
 * a rule of its own (or none), and deny rules win. */
#include <string.h>

#include "auth/policy.h"
#include "fuzz_check.h"

static const char *header(void *ctx, const char *key, size_t *len) {
  (void)key;
  *len = strlen(ctx);
  return ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auth_policy *p = NULL;
  char why[256];
  int err = auth_policy_parse((const char *)data, size, &p, why, sizeof(why));
  if (err) {
    FUZZ_CHECK(p == NULL && why[0], "refused (%d) without a reason", err);
    return 0;
  }
  const char *paths[] = {"/", "/a/b", "/pkg.Service/Method", ""};
  const char *principals[] = {"spiffe://x/y", "", "jwt:alice"};
  for (size_t i = 0; i < 4; i++) {
    for (size_t k = 0; k < 3; k++) {
      auth_request r = {.path = paths[i],
                        .path_len = strlen(paths[i]),
                        .authenticated = k != 1,
                        .header = header,
                        .header_ctx = (void *)paths[i]};
      r.principals[r.n_principals++] = principals[k];
      const char *rule = NULL;
      bool ok = auth_policy_allows(p, &r, &rule);
      bool named = rule == NULL;
      for (size_t j = 0; !named && j < p->n_deny; j++) named = rule == p->deny[j].name;
      for (size_t j = 0; !named && j < p->n_allow; j++) named = rule == p->allow[j].name;
      FUZZ_CHECK(named, "decision names a rule that is not the policy's");
      FUZZ_CHECK(!ok || rule != NULL, "allowed without an allow rule");
    }
  }
  auth_policy_unref(p);
  return 0;
}

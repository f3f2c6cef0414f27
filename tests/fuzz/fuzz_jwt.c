/* JWT and JWKS parsing (auth/jwks.c, auth/jwt_verify.c). The first byte picks what the rest
 * is:
 *   0  a key set (JWKS or PEM): parsed; if it loads, a fixed token is verified against it
 *   1  a token: verified against a fixed key set (python3-jwt's keys, see jwt_vectors.h, and
 *      this target's Ed25519 key), with issuer and audience rules
 *   2  "header\npayload" (or a payload alone, header {"alg":"EdDSA"}): encoded and signed here
 *      with the Ed25519 key, so that the claims parser past the signature is reached
 *   3  base64url text: decoded; what decodes re-encodes to the same text
 * Checks: nothing crashes or leaks (ASan), a result is consistent (offsets inside its text,
 * sub short enough, exp in the future), a refusal always says why. */
#include <wolfssl/options.h>

#include <errno.h>
#include <string.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/ed25519.h>

#include "../unit/auth/jwt_vectors.h"
#include "auth/jwt.h"
#include "fuzz_check.h"

#define NOW 1750000000LL

static jwt_keyset *fixed;
static ed25519_key signer;

/* base64url without padding, through wolfSSL's encoder; `out` has room for n * 4 / 3 + 4. */
static size_t b64url(const uint8_t *in, size_t n, char *out) {
  word32 len = (word32)(n * 4 / 3 + 4);
  if (n == 0) return 0;
  if (Base64_Encode_NoNl(in, (word32)n, (byte *)out, &len) != 0) abort();
  while (len && out[len - 1] == '=') len--;
  for (word32 i = 0; i < len; i++) out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
  return len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  static const uint8_t seed[32] = {0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42};
  uint8_t pub[32];
  if (wc_ed25519_init(&signer) != 0 || wc_ed25519_import_private_only(seed, 32, &signer) != 0 ||
      wc_ed25519_make_public(&signer, pub, 32) != 0 ||
      wc_ed25519_import_private_key(seed, 32, pub, 32, &signer) != 0)
    abort();
  /* The vectors' JWKS plus this key (kid "fuzz"). */
  char x[64], keys[8192];
  x[b64url(pub, 32, x)] = 0;
  const char *end = strrchr(JWKS, ']');
  int n = snprintf(keys, sizeof(keys),
                   "%.*s, {\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"fuzz\","
                   "\"x\":\"%s\"}]}",
                   (int)(end - JWKS), JWKS, x);
  char why[256];
  if (n <= 0 || (size_t)n >= sizeof(keys) ||
      jwt_keyset_parse(keys, (size_t)n, &fixed, why, sizeof(why)) != 0) {
    fprintf(stderr, "fuzz_jwt: fixed key set: %s\n", why);
    abort();
  }
  return 0;
}

static void verify(const jwt_keyset *ks, const char *tok, size_t len) {
  static const jwt_rules rules = {VEC_ISS, "svc-a", 60};
  char why[160] = "";
  jwt_result *res = NULL;
  int err = jwt_verify(ks, &rules, tok, len, NOW, &res, why, sizeof(why));
  if (err < 0) {
    FUZZ_CHECK(err == -EACCES || err == -ENOMEM, "error %d", err);
    FUZZ_CHECK(!res && why[0], "refused without a reason");
    return;
  }
  FUZZ_CHECK(res && res->exp > NOW - 60, "accepted with exp %lld", (long long)res->exp);
  FUZZ_CHECK(strlen(res->text) < res->text_len, "payload text runs past its block");
  int32_t offs[3] = {res->sub, res->iss, res->aud};
  for (int i = 0; i < 3; i++) {
    if (offs[i] < 0) continue;
    FUZZ_CHECK((uint32_t)offs[i] < res->text_len, "offset %d outside the text", offs[i]);
    FUZZ_CHECK(offs[i] + strlen(res->text + offs[i]) < res->text_len, "string runs past");
  }
  FUZZ_CHECK(res->sub < 0 || strlen(res->text + res->sub) <= JWT_MAX_SUBJECT, "long sub");
  FUZZ_CHECK(res->iss >= 0 && strcmp(res->text + res->iss, VEC_ISS) == 0, "issuer rule broken");
  FUZZ_CHECK(res->aud >= 0 && strcmp(res->text + res->aud, "svc-a") == 0, "audience rule broken");
  free(res);
}

/* Mode 2: the fuzzer's header and payload, signed with the Ed25519 key. */
static void signed_claims(const uint8_t *d, size_t n) {
  const uint8_t *nl = memchr(d, '\n', n);
  static const uint8_t def_header[] = "{\"alg\":\"EdDSA\",\"kid\":\"fuzz\"}";
  const uint8_t *h = nl ? d : def_header, *p = nl ? nl + 1 : d;
  size_t hn = nl ? (size_t)(nl - d) : sizeof(def_header) - 1, pn = nl ? n - hn - 1 : n;
  size_t cap = (hn + pn) * 4 / 3 + 128;
  char *tok = malloc(cap);
  if (!tok) abort();
  size_t o = b64url(h, hn, tok);
  tok[o++] = '.';
  o += b64url(p, pn, tok + o);
  uint8_t sig[ED25519_SIG_SIZE];
  word32 sig_len = sizeof(sig);
  if (wc_ed25519_sign_msg((const byte *)tok, (word32)o, sig, &sig_len, &signer) != 0) abort();
  tok[o++] = '.';
  o += b64url(sig, sig_len, tok + o);
  verify(fixed, tok, o);
  free(tok);
}

static void base64(const uint8_t *d, size_t n) {
  uint8_t *out = malloc(n * 3 / 4 + 3);
  if (!out) abort();
  long m = jwt_b64url_decode((const char *)d, n, out);
  if (m >= 0) {
    FUZZ_CHECK((size_t)m == n * 3 / 4, "%ld bytes from %zu characters", m, n);
    char *again = malloc(n + 8);
    if (!again) abort();
    size_t k = b64url(out, (size_t)m, again);
    FUZZ_CHECK(k == n && memcmp(again, d, n) == 0, "re-encodes differently");
    free(again);
  }
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t *d = data + 1;
  size_t n = size - 1;
  switch (data[0] & 3) {
  case 0: {
    jwt_keyset *ks = NULL;
    char why[256] = "";
    int err = jwt_keyset_parse((const char *)d, n, &ks, why, sizeof(why));
    FUZZ_CHECK(err == 0 ? ks && ks->n > 0 && ks->n <= JWT_MAX_KEYS
                        : !ks && why[0] && (err == -EINVAL || err == -ENOMEM),
               "parse returned %d: %s", err, why);
    if (ks) {
      verify(ks, TOK_ES256, strlen(TOK_ES256));
      verify(ks, TOK_RS256_NOKID, strlen(TOK_RS256_NOKID));
      jwt_keyset_unref(ks);
    }
    break;
  }
  case 1:
    verify(fixed, (const char *)d, n);
    break;
  case 2:
    signed_claims(d, n);
    break;
  case 3:
    base64(d, n);
    break;
  }
  return 0;
}

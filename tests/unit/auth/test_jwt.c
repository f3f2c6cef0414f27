/* auth/'s JWT pieces without a server: base64url, key sets (JWKS and PEM), verification of
 * tokens made by python3-jwt (jwt_vectors.h, from make_jwt_vectors.py) and of tokens tampered
 * with here, the claim rules at chosen times, the per-shard cache, and key rotation while
 * other threads verify. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include "auth/jwt.h"
#include "auth/urpc_auth.h"
#include "jwt_vectors.h"

#define NOW 1750000000LL /* 2025-06-15: inside every vector's validity */

static char why[512];

/* ---- base64url ---- */

static long b64(const char *s, uint8_t *out) {
  return jwt_b64url_decode(s, strlen(s), out);
}

Test(b64url, decodes_the_url_alphabet_unpadded) {
  uint8_t out[64];
  cr_assert_eq(b64("", out), 0);
  cr_assert_eq(b64("YQ", out), 1);
  cr_assert_eq(out[0], 'a');
  cr_assert_eq(b64("YWI", out), 2);
  cr_assert_eq(memcmp(out, "ab", 2), 0);
  cr_assert_eq(b64("YWJj", out), 3);
  cr_assert_eq(memcmp(out, "abc", 3), 0);
  cr_assert_eq(b64("-_-_", out), 3);
  cr_assert_eq(memcmp(out, "\xfb\xff\xbf", 3), 0);
}

Test(b64url, refuses_what_a_lenient_decoder_would_take) {
  uint8_t out[64];
  cr_assert_lt(b64("YQ==", out), 0);   /* padding */
  cr_assert_lt(b64("+/+/", out), 0);   /* the standard alphabet */
  cr_assert_lt(b64("YW\nJj", out), 0); /* a line break */
  cr_assert_lt(b64("YW Jj", out), 0);
  cr_assert_lt(b64("Y", out), 0); /* impossible length */
  cr_assert_lt(b64("YWJjZ", out), 0);
  cr_assert_lt(b64("YR", out), 0); /* unused bits set */
  cr_assert_lt(b64("YWK", out), 0);
  uint8_t nul[] = {'Y', 'W', 0, 'j'};
  cr_assert_lt(jwt_b64url_decode((const char *)nul, 4, out), 0);
}

/* ---- key sets ---- */

static jwt_keyset *load(const char *text) {
  jwt_keyset *ks = NULL;
  int err = jwt_keyset_parse(text, strlen(text), &ks, why, sizeof(why));
  cr_assert_eq(err, 0, "%d: %s", err, why);
  return ks;
}

static void load_fails(const char *text, const char *needle) {
  jwt_keyset *ks = NULL;
  cr_assert_eq(jwt_keyset_parse(text, strlen(text), &ks, why, sizeof(why)), -EINVAL, "loaded: %s",
               why);
  cr_assert_null(ks);
  cr_assert(strstr(why, needle), "why = \"%s\", expected \"%s\" in it", why, needle);
}

Test(keyset, jwks_keeps_signature_keys_and_skips_the_rest) {
  jwt_keyset *ks = load(JWKS);
  cr_assert_eq(ks->n, 4, "%s", why);
  cr_assert_eq(ks->keys[0].kind, JWT_KEY_RSA);
  cr_assert_str_eq(ks->keys[0].kid, "rsa1");
  cr_assert_eq(ks->keys[0].a_len, 256);
  cr_assert_eq(ks->keys[1].kind, JWT_KEY_EC_P256);
  cr_assert_eq(ks->keys[1].alg, JWT_ALG_ES256);
  cr_assert_eq(ks->keys[2].kind, JWT_KEY_EC_P384);
  cr_assert_eq(ks->keys[3].kind, JWT_KEY_ED25519);
  cr_assert(strstr(why, "4 keys: RSA kid=rsa1, EC P-256 kid=ec1"), "%s", why);
  cr_assert(strstr(why, "3 skipped (key 4: use enc, ...)"), "%s", why);
  jwt_keyset_unref(ks);
}

Test(keyset, pem_blocks) {
  jwt_keyset *ks = load(PEM_KEYS);
  cr_assert_eq(ks->n, 3, "%s", why);
  cr_assert_eq(ks->keys[0].kind, JWT_KEY_RSA);
  cr_assert_eq(ks->keys[1].kind, JWT_KEY_EC_P256);
  cr_assert_eq(ks->keys[2].kind, JWT_KEY_ED25519);
  for (int i = 0; i < 3; i++) cr_assert_null(ks->keys[i].kid);
  /* The same numbers as the JWKS's. */
  jwt_keyset *j = load(JWKS);
  cr_assert_eq(memcmp(ks->keys[0].a, j->keys[0].a, 256), 0);
  cr_assert_eq(memcmp(ks->keys[1].b, j->keys[1].b, 32), 0);
  cr_assert_eq(memcmp(ks->keys[2].a, j->keys[3].a, 32), 0);
  jwt_keyset_unref(j);
  jwt_keyset_unref(ks);
}

Test(keyset, one_jwk_alone) {
  /* RFC 8037's example public key. */
  jwt_keyset *ks = load("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_"
                        "7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}");
  cr_assert_eq(ks->n, 1);
  jwt_keyset_unref(ks);
}

static void b64url(const uint8_t *in, size_t n, char *out) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v =
        (uint32_t)in[i] << 16 | (i + 1 < n ? in[i + 1] : 0) << 8 | (i + 2 < n ? in[i + 2] : 0);
    for (size_t k = 0; k < 4 && k <= (n - i) * 4 / 3; k++) out[o++] = a[v >> (18 - 6 * k) & 63];
  }
  out[o] = '\0';
}

/* PyJWT (and others) write an EC coordinate without its leading zero byte, one key in 128:
 * such a JWK loads (the coordinate padded back: a wrong padding would put the point off the
 * curve, and loading checks that). The key is made here until one coordinate starts with 0. */
Test(keyset, ec_coordinate_without_its_leading_zero) {
  WC_RNG rng;
  cr_assert_eq(wc_InitRng(&rng), 0);
  uint8_t x[32], y[32];
  bool found = false;
  for (int i = 0; i < 5000 && !found; i++) {
    ecc_key key;
    cr_assert_eq(wc_ecc_init(&key), 0);
    cr_assert_eq(wc_ecc_make_key_ex(&rng, 32, &key, ECC_SECP256R1), 0);
    word32 xl = sizeof(x), yl = sizeof(y);
    cr_assert_eq(wc_ecc_export_public_raw(&key, x, &xl, y, &yl), 0);
    found = x[0] == 0 || y[0] == 0;
    wc_ecc_free(&key);
  }
  wc_FreeRng(&rng);
  cr_assert(found, "no coordinate with a leading zero in 5000 keys");
  char xs[64], ys[64], text[256];
  b64url(x + (x[0] == 0), 32 - (x[0] == 0), xs);
  b64url(y + (y[0] == 0), 32 - (y[0] == 0), ys);
  snprintf(text, sizeof(text), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", xs,
           ys);
  cr_assert(strlen(xs) == 42 || strlen(ys) == 42, "a shortened coordinate: %s", text);
  jwt_keyset *ks = load(text);
  cr_assert_eq(ks->n, 1);
  jwt_keyset_unref(ks);
}

Test(keyset, refused) {
  load_fails(JWK_RSA_SMALL, "RSA modulus of 1024 bits");
  load_fails(JWK_RSA1_PRIVATE, "private member \"d\"");
  load_fails(JWK_EC1_WRONG_ALG, "alg RS256 does not fit a EC P-256 key");
  load_fails(JWK_EC_OFF_CURVE, "not a valid public key");
  load_fails("{\"keys\": []}", "no key");
  load_fails("{\"keys\": {}}", "not an array");
  load_fails("[1]", "JSON object");
  load_fails("{\"keys\": [", "not JSON");
  load_fails("{\"keys\": [{\"kty\": \"oct\", \"k\": \"AAAA\"}]}", "no usable signature key");
  load_fails("{\"keys\": [{\"kty\": \"RSA\", \"n\": \"a+b\", \"e\": \"AQAB\"}]}",
             "\"n\" is not base64url");
  load_fails(
      "{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"AAAA\", \"y\": \"AAAA\"}]}",
      "not a valid public key"); /* short coordinates are padded, then checked on the curve */
  load_fails("{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"" /* 33 bytes */
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\", \"y\": \"AAAA\"}]}",
             "\"x\" has 33 bytes, 32 expected");
  load_fails("{\"keys\": [{\"kty\": \"RSA\", \"e\": \"AQAB\"}]}", "\"n\" missing");
  load_fails("{\"keys\": [{\"n\": \"AQAB\"}]}", "no \"kty\"");
  load_fails("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
             "is \"CERTIFICATE\": only PUBLIC KEY");
  load_fails("-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n",
             "PEM block 0: ");
  load_fails("-----BEGIN PUBLIC KEY-----\nMIIB\n", "no END line");
  /* A P-256 point of 33-byte coordinates: wolfSSL decodes it, and exporting it used to write
   * past the buffer (fuzz_jwt's first find). */
  load_fails("-----BEGIN PUBLIC KEY-----\n"
             "MFswEwYHKoZIzj0CAQYIKoZIzj0DAQcDRAAE////////////////////////////////\n"
             "////////////////////////////////////////////////////////\n"
             "-----END PUBLIC KEY-----\n",
             "PEM block 0: ");
  load_fails("", "not JSON");
}

Test(keyset, too_many_keys) {
  char *text = malloc(100000);
  size_t o = (size_t)sprintf(text, "{\"keys\":[");
  for (int i = 0; i <= JWT_MAX_KEYS; i++)
    o += (size_t)sprintf(text + o,
                         "%s{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"k%d\","
                         "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
                         i ? "," : "", i);
  sprintf(text + o, "]}");
  load_fails(text, "more than 64 keys");
  free(text);
}

/* ---- verification ---- */

static const jwt_rules any = {NULL, NULL, 0};

static jwt_result *ok_with(const jwt_keyset *ks, const jwt_rules *r, const char *tok, int64_t now) {
  jwt_result *res = NULL;
  int err = jwt_verify(ks, r, tok, strlen(tok), now, &res, why, sizeof(why));
  cr_assert_eq(err, 0, "refused: %s", why);
  return res;
}

static void refused_with(const jwt_keyset *ks, const jwt_rules *r, const char *tok, int64_t now,
                         const char *needle) {
  jwt_result *res = NULL;
  int err = jwt_verify(ks, r, tok, strlen(tok), now, &res, why, sizeof(why));
  cr_assert_eq(err, -EACCES, "accepted (%d), expected \"%s\"", err, needle);
  cr_assert_null(res);
  cr_assert(strstr(why, needle), "why = \"%s\", expected \"%s\" in it", why, needle);
}

#define SUB(res) ((res)->sub >= 0 ? (res)->text + (res)->sub : NULL)
#define ISS(res) ((res)->iss >= 0 ? (res)->text + (res)->iss : NULL)
#define AUD(res) ((res)->aud >= 0 ? (res)->text + (res)->aud : NULL)

Test(verify, every_alg_from_python_jwt) {
  jwt_keyset *ks = load(JWKS);
  const char *toks[] = {TOK_RS256, TOK_RS384, TOK_RS512, TOK_ES256, TOK_ES384, TOK_EDDSA};
  for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++) {
    jwt_result *res = ok_with(ks, &any, toks[i], NOW);
    cr_assert_str_eq(SUB(res), "alice");
    cr_assert_str_eq(ISS(res), VEC_ISS);
    cr_assert_str_eq(AUD(res), "svc-a"); /* the first, with no audience asked for */
    cr_assert_eq(res->exp, VEC_EXP);
    cr_assert(strstr(res->text, "\"scope\":\"read write\""), "%s", res->text);
    free(res);
  }
  jwt_keyset_unref(ks);
}

Test(verify, kid_rules) {
  jwt_keyset *jwks = load(JWKS), *pem = load(PEM_KEYS);
  /* No kid in the token: every key of the kind is tried. */
  free(ok_with(jwks, &any, TOK_RS256_NOKID, NOW));
  free(ok_with(jwks, &any, TOK_ES256_NOKID, NOW));
  free(ok_with(jwks, &any, TOK_EDDSA_NOKID, NOW));
  /* Keys without kid (PEM) are candidates for any token's kid. */
  free(ok_with(pem, &any, TOK_RS256, NOW));
  free(ok_with(pem, &any, TOK_ES256_NOKID, NOW));
  free(ok_with(pem, &any, TOK_EDDSA, NOW));
  refused_with(pem, &any, TOK_ES384, NOW, "no key for kid \"ec384\"");
  /* A kid no key has, with every key carrying one. */
  refused_with(jwks, &any, TOK_RS256_UNKNOWN_KID, NOW, "no key for kid \"who\"");
  refused_with(jwks, &any, TOK_RS256_ROTATED, NOW, "no key for kid \"rsa2\"");
  refused_with(jwks, &any, TOK_RS256_OTHER_KEY, NOW, "bad signature (1 key tried)");
  refused_with(pem, &any, TOK_RS256_OTHER_KEY, NOW, "bad signature (1 key tried)");
  jwt_keyset_unref(jwks);
  jwt_keyset_unref(pem);
}

Test(verify, no_algorithm_confusion) {
  jwt_keyset *ks = load(JWKS), *pem = load(PEM_KEYS);
  refused_with(ks, &any, TOK_NONE, NOW, "empty header, payload or signature");
  refused_with(ks, &any, TOK_NONE_SIG, NOW, "alg none");
  refused_with(ks, &any, TOK_HS256_PUBKEY, NOW, "alg HS256 refused");
  refused_with(pem, &any, TOK_HS256_PUBKEY, NOW, "alg HS256 refused");
  refused_with(ks, &any, TOK_HS256_PUBKEY_KID, NOW, "alg HS256 refused");
  /* The kid names a key of another kind, or a key whose own alg differs. */
  refused_with(ks, &any, TOK_ES256_KID_RSA, NOW, "no key for kid \"rsa1\"");
  refused_with(ks, &any, TOK_ES256_KID_EC384, NOW, "no key for kid \"ec384\"");
  refused_with(ks, &any, TOK_ES384_KID_EC1, NOW, "no key for kid \"ec1\"");
  refused_with(ks, &any, TOK_CRIT, NOW, "\"crit\"");
  refused_with(ks, &any, TOK_KID_NUMBER, NOW, "\"kid\" is not a string");
  refused_with(ks, &any, TOK_DUP_ALG, NOW, "\"alg\" twice");
  refused_with(ks, &any, TOK_HEADER_TRAILING, NOW, "header is not a JSON object");
  jwt_keyset_unref(ks);
  jwt_keyset_unref(pem);
}

/* The token with its character at `at` replaced by a different base64url character. */
static char *tampered(const char *tok, size_t at) {
  char *t = strdup(tok);
  t[at] = t[at] == 'A' ? 'B' : 'A';
  return t;
}

Test(verify, tampering_and_shape) {
  jwt_keyset *ks = load(JWKS);
  const char *toks[] = {TOK_RS256, TOK_ES256, TOK_EDDSA};
  for (size_t i = 0; i < 3; i++) {
    const char *tok = toks[i];
    const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
    size_t len = strlen(tok);
    char *t = tampered(tok, (size_t)(d2 - tok) + 5); /* the signature */
    refused_with(ks, &any, t, NOW, "bad signature");
    free(t);
    t = tampered(tok, (size_t)(d1 - tok) + 10); /* the payload */
    refused_with(ks, &any, t, NOW, "");
    free(t);
    t = strdup(tok);
    t[len - 3] = 0; /* a signature cut short */
    refused_with(ks, &any, t, NOW, "");
    free(t);
  }
  refused_with(ks, &any, "abc", NOW, "not a compact JWS");
  refused_with(ks, &any, "a.b", NOW, "not a compact JWS");
  refused_with(ks, &any, "a.b.c.d", NOW, "not a compact JWS");
  refused_with(ks, &any, "..", NOW, "empty");
  char *t = malloc(strlen(TOK_RS256) + 3);
  sprintf(t, "%s==", TOK_RS256); /* padded signature */
  refused_with(ks, &any, t, NOW, "signature is not base64url");
  strcpy(t, TOK_RS256);
  t[3] = '+'; /* standard alphabet in the header */
  refused_with(ks, &any, t, NOW, "header is not base64url");
  strcpy(t, TOK_RS256);
  *strchr(t, '.') = ' ';
  refused_with(ks, &any, t, NOW, "not a compact JWS");
  free(t);
  refused_with(ks, &any, "e30.e30.e30", NOW, "no \"alg\"");
  refused_with(ks, &any, "W10.e30.e30", NOW, "header is not a JSON object");
  /* Over the size limit, refused before anything is decoded. */
  size_t big = JWT_MAX_TOKEN + 1;
  t = malloc(big + 1);
  memset(t, 'A', big);
  t[big] = 0;
  t[10] = t[20] = '.';
  refused_with(ks, &any, t, NOW, "token of 8193 bytes");
  free(t);
  jwt_keyset_unref(ks);
}

Test(verify, times) {
  jwt_keyset *ks = load(JWKS);
  jwt_rules leeway = {NULL, NULL, 30};
  free(ok_with(ks, &any, TOK_ES256, VEC_EXP - 1));
  refused_with(ks, &any, TOK_ES256, VEC_EXP, "expired 0 s ago");
  refused_with(ks, &any, TOK_ES256, VEC_EXP + 100, "expired 100 s ago");
  free(ok_with(ks, &leeway, TOK_ES256, VEC_EXP + 29));
  refused_with(ks, &leeway, TOK_ES256, VEC_EXP + 30, "expired");
  /* nbf = iat = VEC_IAT. */
  free(ok_with(ks, &any, TOK_ES256, VEC_IAT));
  refused_with(ks, &any, TOK_ES256, VEC_IAT - 1, "not valid for another 1 s (nbf)");
  free(ok_with(ks, &leeway, TOK_ES256, VEC_IAT - 30));
  refused_with(ks, &leeway, TOK_ES256, VEC_IAT - 31, "nbf");
  /* exp is required and must be a number; fractions count. */
  refused_with(ks, &any, TOK_NO_EXP, NOW, "no \"exp\" claim");
  refused_with(ks, &any, TOK_EXP_STRING, NOW, "\"exp\" is not a NumericDate");
  jwt_result *res = ok_with(ks, &any, TOK_EXP_FRACTION, 1750000000);
  cr_assert_eq(res->exp, 1750000001);
  free(res);
  refused_with(ks, &any, TOK_EXP_FRACTION, 1750000001, "expired");
  /* Only exp: no iss, sub or aud to report. */
  res = ok_with(ks, &any, TOK_MINIMAL, NOW);
  cr_assert(res->sub < 0 && res->iss < 0 && res->aud < 0);
  free(res);
  jwt_keyset_unref(ks);
}

Test(verify, issuer_and_audience) {
  jwt_keyset *ks = load(JWKS);
  jwt_rules iss = {VEC_ISS, NULL, 0}, wrong_iss = {"https://other.test", NULL, 0};
  jwt_rules aud_b = {NULL, "svc-b", 0}, aud_c = {NULL, "svc-c", 0}, both = {VEC_ISS, "svc-a", 0};
  free(ok_with(ks, &iss, TOK_RS256, NOW));
  refused_with(ks, &wrong_iss, TOK_RS256, NOW, "wrong issuer");
  refused_with(ks, &iss, TOK_NO_ISS, NOW, "wrong issuer");
  jwt_result *res = ok_with(ks, &aud_b, TOK_RS256, NOW);
  cr_assert_str_eq(AUD(res), "svc-b");
  free(res);
  refused_with(ks, &aud_c, TOK_RS256, NOW, "wrong audience");
  res = ok_with(ks, &both, TOK_AUD_STRING, NOW);
  cr_assert_str_eq(AUD(res), "svc-a");
  free(res);
  refused_with(ks, &aud_b, TOK_AUD_STRING, NOW, "wrong audience");
  refused_with(ks, &aud_b, TOK_NO_AUD, NOW, "no \"aud\" claim");
  free(ok_with(ks, &any, TOK_NO_AUD, NOW)); /* no audience asked for: none needed */
  refused_with(ks, &any, TOK_AUD_NUMBER, NOW, "neither a string nor an array");
  jwt_keyset_unref(ks);
}

Test(verify, claim_shapes) {
  jwt_keyset *ks = load(JWKS);
  refused_with(ks, &any, TOK_SUB_NUMBER, NOW, "\"sub\" is not a string");
  refused_with(ks, &any, TOK_SUB_LONG, NOW, "\"sub\" longer than 255 bytes");
  free(ok_with(ks, &any, TOK_SUB_255, NOW));
  refused_with(ks, &any, TOK_SUB_NUL, NOW, "NUL");
  refused_with(ks, &any, TOK_DUP_SUB, NOW, "\"sub\" claim twice");
  refused_with(ks, &any, TOK_PAYLOAD_ARRAY, NOW, "payload is not a JSON object");
  refused_with(ks, &any, TOK_PAYLOAD_TRAILING, NOW, "payload is not a JSON object");
  jwt_keyset_unref(ks);
}

/* ---- the interceptor's check: cache and rotation ---- */

static urpc_jwt *new_jwt(const urpc_jwt_options *o, const char *keys) {
  urpc_jwt *j;
  cr_assert_eq(urpc_jwt_new(NULL, o, &j), 0);
  if (keys) cr_assert_eq(urpc_jwt_set_keys(j, keys, strlen(keys), why, sizeof(why)), 0, "%s", why);
  return j;
}

static int check(urpc_jwt *j, int shard, const char *tok, int64_t now, const jwt_result **res) {
  return jwt_check(j, jwt_slot_of(j, shard), tok, strlen(tok), now, res, why, sizeof(why));
}

Test(check, bearer_header) {
  size_t n;
  const char *v = "Bearer abc.def.ghi";
  cr_assert_eq(jwt_bearer(v, strlen(v), &n), v + 7);
  cr_assert_eq(n, 11);
  v = "bEaReR \t abc ";
  cr_assert_str_eq(jwt_bearer(v, strlen(v), &n), "abc ");
  cr_assert_eq(n, 3);
  cr_assert_null(jwt_bearer("Bearer", 6, &n));
  cr_assert_null(jwt_bearer("Bearer   ", 9, &n));
  cr_assert_null(jwt_bearer("Basic abc", 9, &n));
  cr_assert_null(jwt_bearer("Bearerabc", 9, &n));
  cr_assert_null(jwt_bearer(NULL, 0, &n));
}

Test(check, no_keys_refuses_everything) {
  urpc_jwt *j = new_jwt(NULL, NULL);
  const jwt_result *res;
  cr_assert_eq(check(j, 0, TOK_RS256, NOW, &res), -EACCES);
  cr_assert_str_eq(why, "no keys configured");
  cr_assert_eq(urpc_jwt_set_keys(j, "{}", 2, why, sizeof(why)), -EINVAL);
  cr_assert_eq(check(j, 0, TOK_RS256, NOW, &res), -EACCES); /* a bad set changes nothing */
  urpc_jwt_free(j);
}

Test(check, cached_once_per_shard) {
  urpc_jwt_options o = {.issuer = VEC_ISS, .audience = "svc-b"};
  urpc_jwt *j = new_jwt(&o, JWKS);
  const jwt_result *res;
  for (int i = 0; i < 5; i++) {
    cr_assert_eq(check(j, 0, TOK_ES256, NOW, &res), 0, "%s", why);
    cr_assert_str_eq(AUD(res), "svc-b");
  }
  cr_assert_eq(check(j, 1, TOK_ES256, NOW, &res), 0);
  cr_assert_eq(check(j, 0, TOK_RS256, NOW, &res), 0);
  jwt_stats st;
  jwt_get_stats(j, &st);
  cr_assert_eq(st.verified, 3);   /* shard 0: ES256, RS256; shard 1: ES256 */
  cr_assert_eq(st.cache_hits, 4); /* shard 0's ES256 again */
  /* A refused token is not remembered, nor is a token that differs by a byte. */
  char *t = tampered(TOK_ES256, strlen(TOK_ES256) - 5);
  cr_assert_eq(check(j, 0, t, NOW, &res), -EACCES);
  cr_assert_eq(check(j, 0, t, NOW, &res), -EACCES);
  free(t);
  jwt_get_stats(j, &st);
  cr_assert_eq(st.cache_hits, 4);
  /* The cache still applies the rules its entries were made under... and time. */
  cr_assert_eq(check(j, 0, TOK_ES256, VEC_EXP, &res), -EACCES);
  cr_assert(strstr(why, "expired"), "%s", why);
  urpc_jwt_free(j);
}

Test(check, rotation_drops_cached_tokens) {
  urpc_jwt *j = new_jwt(NULL, JWKS);
  const jwt_result *res;
  cr_assert_eq(check(j, 0, TOK_RS256, NOW, &res), 0);
  cr_assert_eq(check(j, 0, TOK_RS256, NOW, &res), 0);
  cr_assert_eq(check(j, 0, TOK_RS256_ROTATED, NOW, &res), -EACCES);
  cr_assert_eq(urpc_jwt_set_keys(j, JWKS_ROTATED, strlen(JWKS_ROTATED), why, sizeof(why)), 0);
  cr_assert_eq(check(j, 0, TOK_RS256, NOW, &res), -EACCES, "a cached token outlived its key");
  cr_assert(strstr(why, "no key for kid \"rsa1\""), "%s", why);
  cr_assert_eq(check(j, 0, TOK_RS256_ROTATED, NOW, &res), 0, "%s", why);
  cr_assert_eq(check(j, 0, TOK_ES256_ROTATED, NOW, &res), 0, "%s", why);
  jwt_stats st;
  jwt_get_stats(j, &st);
  cr_assert_eq(st.cache_hits, 1);
  urpc_jwt_free(j);
}

Test(cache, lru_within_a_set_and_byte_bound) {
  jwt_cache *c = calloc(1, sizeof(*c));
  jwt_result r = {.exp = 100, .sub = -1, .iss = -1, .aud = -1, .text_len = 0};
  /* Five tokens forced into one set (same hash): the least recently used one goes. */
  const char *toks[] = {"t0", "t1", "t2", "t3", "t4"};
  uint64_t h = 12345ull << 40;
  for (int i = 0; i < 4; i++) cr_assert(jwt_cache_put(c, h, toks[i], 2, &r));
  cr_assert_not_null(jwt_cache_get(c, h, "t0", 2, 50, 0)); /* t1 is now the oldest */
  cr_assert(jwt_cache_put(c, h, toks[4], 2, &r));
  cr_assert_null(jwt_cache_get(c, h, "t1", 2, 50, 0));
  cr_assert_not_null(jwt_cache_get(c, h, "t0", 2, 50, 0));
  cr_assert_not_null(jwt_cache_get(c, h, "t4", 2, 50, 0));
  cr_assert_null(jwt_cache_get(c, h, "t5", 2, 50, 0));
  /* Past exp (+ leeway) an entry is dropped. */
  cr_assert_not_null(jwt_cache_get(c, h, "t2", 2, 104, 5));
  cr_assert_null(jwt_cache_get(c, h, "t2", 2, 105, 5));
  size_t held = c->bytes;
  cr_assert_gt(held, 0);
  /* Entries that would pass the byte bound are not cached. */
  char *big = malloc(JWT_MAX_TOKEN);
  memset(big, 'x', JWT_MAX_TOKEN);
  int cached = 0;
  for (int i = 0; i < 1000; i++) {
    memcpy(big, &i, sizeof(i));
    cached += jwt_cache_put(c, jwt_cache_hash(big, JWT_MAX_TOKEN), big, JWT_MAX_TOKEN, &r);
  }
  cr_assert_leq(c->bytes, JWT_CACHE_BYTES);
  cr_assert_lt(cached, 1000);
  cr_assert_gt(cached, 200);
  jwt_cache_clear(c);
  cr_assert_eq(c->bytes, 0);
  free(big);
  free(c);
}

/* ---- rotation while shards verify ---- */

typedef struct shard_arg {
  urpc_jwt *j;
  int shard;
  int ok, refused;
} shard_arg;

static atomic_bool stop;

static void *shard_main(void *p) {
  shard_arg *a = p;
  char w[160];
  const char *toks[] = {TOK_ES256, TOK_ES256_ROTATED, TOK_EDDSA};
  for (unsigned i = 0; !atomic_load(&stop); i++) {
    const char *t = toks[i % 3];
    const jwt_result *res;
    int err = jwt_check(a->j, jwt_slot_of(a->j, a->shard), t, strlen(t), NOW, &res, w, sizeof(w));
    if (err == 0) {
      a->ok++;
      if (strcmp(res->text + res->sub, "alice") != 0) abort();
    } else {
      a->refused++;
      if (!strstr(w, "no key for kid")) abort();
    }
  }
  return NULL;
}

Test(check, rotation_under_load, .timeout = 60) {
  urpc_jwt *j = new_jwt(NULL, JWKS);
  shard_arg a[2] = {{j, 0, 0, 0}, {j, 1, 0, 0}};
  pthread_t t[2];
  atomic_store(&stop, false);
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, shard_main, &a[i]);
  for (int r = 0; r < 200; r++) {
    const char *k = r % 2 ? JWKS : JWKS_ROTATED;
    cr_assert_eq(urpc_jwt_set_keys(j, k, strlen(k), why, sizeof(why)), 0);
  }
  atomic_store(&stop, true);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 2; i++) cr_assert_gt(a[i].ok + a[i].refused, 0);
  urpc_jwt_free(j);
}

/* A compact JWS checked against a key set and the claim rules. Pure: no I/O, no threads, no
 * state; the caller gives the time.
 *
 * Order of the checks, cheapest and least trusting first: size and shape; the header (the only
 * JSON parsed before the signature is known good: a few dozen bytes); the alg against what
 * this code accepts (public-key algorithms only: "none" and HS* never, whatever the keys);
 * the signature against each candidate key (its kind fits the alg, its own "alg" if any is the
 * same, and its kid matches the token's when both have one); only then the payload's JSON and
 * its claims. wolfSSL does the cryptography, on key objects imported for this verification
 * alone (jwks.c says why). */
#include <wolfssl/options.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include "auth/jwt.h"

/* ---- base64url: the url-safe alphabet checked and translated, wolfSSL's decoder decodes ---- */

static int b64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

long jwt_b64url_decode(const char *in, size_t n, uint8_t *out) {
  /* wolfSSL's Base64_Decode skips line breaks and stops at a NUL or a short last quantum, so
   * everything it could be lenient about is refused here first. */
  if (n % 4 == 1) return -1;
  if (n == 0) return 0;
  int last = 0;
  for (size_t i = 0; i < n; i++)
    if ((last = b64url_value(in[i])) < 0) return -1;
  if ((n % 4 == 2 && (last & 0xF)) || (n % 4 == 3 && (last & 0x3))) return -1; /* unused bits */
  size_t padded = (n + 3) & ~(size_t)3;
  char *std = malloc(padded);
  if (!std) return -1;
  for (size_t i = 0; i < n; i++) std[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
  for (size_t i = n; i < padded; i++) std[i] = '=';
  word32 out_len = (word32)(n * 3 / 4 + 3);
  int ret = Base64_Decode((const byte *)std, (word32)padded, out, &out_len);
  free(std);
  return ret == 0 && out_len == n * 3 / 4 ? (long)out_len : -1;
}

/* ---- helpers ---- */

typedef struct verifier {
  char *why;
  size_t why_len;
} verifier;

__attribute__((format(printf, 2, 3))) static int refuse(verifier *v, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->why, v->why_len, fmt, ap);
  va_end(ap);
  return -EACCES;
}

/* A part decoded and NUL-terminated into a fresh buffer; NULL with *len = -1 if not base64url,
 * -2 if out of memory. */
static uint8_t *decode_part(const char *s, size_t n, long *len) {
  uint8_t *buf = malloc(n * 3 / 4 + 4);
  if (!buf) {
    *len = -2;
    return NULL;
  }
  *len = jwt_b64url_decode(s, n, buf);
  if (*len < 0) {
    free(buf);
    return NULL;
  }
  buf[*len] = 0;
  return buf;
}

/* JSON text that is one object and nothing else (no NUL inside, nothing after it). */
static cJSON *parse_object(const uint8_t *text, long len) {
  if (memchr(text, 0, (size_t)len)) return NULL;
  cJSON *j = cJSON_ParseWithLengthOpts((const char *)text, (size_t)len + 1, NULL, 1);
  if (j && !cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

/* The first of `names` that `obj` has twice, or NULL: parsers disagree on duplicates (first
 * or last wins), so a token with two of a member we read is refused. */
static const char *duplicate(const cJSON *obj, const char *const *names) {
  for (; *names; names++) {
    int n = 0;
    for (const cJSON *c = obj->child; c; c = c->next) n += strcmp(c->string, *names) == 0;
    if (n > 1) return *names;
  }
  return NULL;
}

/* For logs: a value from the token, printable ASCII only, cut short. */
static const char *printable(const char *s, char *buf, size_t cap) {
  size_t o = 0;
  for (; s && *s && o + 1 < cap; s++) buf[o++] = *s >= 0x20 && *s < 0x7F ? *s : '?';
  buf[o] = 0;
  return buf;
}

/* ---- the header ---- */

static int alg_from_header(verifier *v, const char *name, jwt_alg *alg) {
  static const struct {
    const char *name;
    jwt_alg alg;
  } algs[] = {{"RS256", JWT_ALG_RS256}, {"RS384", JWT_ALG_RS384}, {"RS512", JWT_ALG_RS512},
              {"ES256", JWT_ALG_ES256}, {"ES384", JWT_ALG_ES384}, {"EdDSA", JWT_ALG_EDDSA}};
  for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
    if (strcmp(name, algs[i].name) == 0) {
      *alg = algs[i].alg;
      return 0;
    }
  char p[24];
  if (strcasecmp(name, "none") == 0) return refuse(v, "alg none (unsigned token)");
  if (name[0] == 'H' && name[1] == 'S')
    return refuse(v, "alg %s refused: HMAC needs a shared secret, only public keys are used",
                  printable(name, p, sizeof(p)));
  return refuse(v, "alg \"%s\" not supported", printable(name, p, sizeof(p)));
}

static bool key_fits(const jwt_key *k, jwt_alg alg, const char *kid) {
  bool kind = false;
  switch (alg) {
  case JWT_ALG_RS256:
  case JWT_ALG_RS384:
  case JWT_ALG_RS512:
    kind = k->kind == JWT_KEY_RSA;
    break;
  case JWT_ALG_ES256:
    kind = k->kind == JWT_KEY_EC_P256;
    break;
  case JWT_ALG_ES384:
    kind = k->kind == JWT_KEY_EC_P384;
    break;
  case JWT_ALG_EDDSA:
    kind = k->kind == JWT_KEY_ED25519;
    break;
  case JWT_ALG_UNSET:
    break;
  }
  return kind && (k->alg == JWT_ALG_UNSET || k->alg == alg) &&
         (!kid || !k->kid || strcmp(kid, k->kid) == 0);
}

/* ---- signatures ---- */

static enum wc_HashType hash_of(jwt_alg alg) {
  switch (alg) {
  case JWT_ALG_RS384:
  case JWT_ALG_ES384:
    return WC_HASH_TYPE_SHA384;
  case JWT_ALG_RS512:
    return WC_HASH_TYPE_SHA512;
  default:
    return WC_HASH_TYPE_SHA256;
  }
}

/* RSASSA-PKCS1-v1_5: the recovered block must be exactly the DigestInfo of our hash. */
static bool verify_rsa(const jwt_key *k, enum wc_HashType ht, const uint8_t *hash, word32 hlen,
                       const uint8_t *sig, size_t slen) {
  RsaKey key;
  if (wc_InitRsaKey(&key, NULL) != 0) return false;
  bool ok = false;
  uint8_t dec[512], want[128];
  if (wc_RsaPublicKeyDecodeRaw(k->a, (word32)k->a_len, k->b, (word32)k->b_len, &key) == 0 &&
      slen == (size_t)wc_RsaEncryptSize(&key)) {
    int n = wc_RsaSSL_Verify(sig, (word32)slen, dec, sizeof(dec), &key);
    word32 m = wc_EncodeSignature(want, hash, hlen, wc_HashGetOID(ht));
    ok = n > 0 && (word32)n == m && memcmp(dec, want, m) == 0;
  }
  wc_FreeRsaKey(&key);
  return ok;
}

#ifdef FP_ECC
/* Debian's wolfSSL keeps ECC fixed-point tables per thread (FP_ECC with HAVE_THREAD_LS; about
 * 0.8 MB per point it caches: the generator, and a public key from its second use) that a
 * thread must free with wc_ecc_fp_free before it ends. Shard threads do it as they end (io/);
 * any other thread that verifies (an application's, the tests') does it here, from a
 * thread-specific key's destructor (wc_ecc_fp_free may run twice: the second finds nothing). */
static pthread_key_t fp_key;
static pthread_once_t fp_once = PTHREAD_ONCE_INIT;
static bool fp_key_ok;

static void fp_free(void *unused) {
  (void)unused;
  wc_ecc_fp_free();
}

static void fp_key_init(void) {
  fp_key_ok = pthread_key_create(&fp_key, fp_free) == 0;
}

static void fp_free_at_thread_exit(void) {
  pthread_once(&fp_once, fp_key_init);
  if (fp_key_ok && !pthread_getspecific(fp_key)) pthread_setspecific(fp_key, &fp_key);
}
#endif

/* JWS's ECDSA signature is r || s, each the curve's size (RFC 7518 §3.4); wolfSSL wants DER. */
static bool verify_ec(const jwt_key *k, const uint8_t *hash, word32 hlen, const uint8_t *sig,
                      size_t slen) {
  size_t size = k->a_len;
  if (slen != 2 * size) return false;
  uint8_t der[2 * 48 + 16];
  word32 der_len = sizeof(der);
  if (wc_ecc_rs_raw_to_sig(sig, (word32)size, sig + size, (word32)size, der, &der_len) != 0)
    return false;
  ecc_key key;
  if (wc_ecc_init(&key) != 0) return false;
#ifdef FP_ECC
  fp_free_at_thread_exit();
#endif
  int res = 0;
  bool ok =
      wc_ecc_import_unsigned(&key, k->a, k->b, NULL,
                             k->kind == JWT_KEY_EC_P256 ? ECC_SECP256R1 : ECC_SECP384R1) == 0 &&
      wc_ecc_verify_hash(der, der_len, hash, hlen, &res, &key) == 0 && res == 1;
  wc_ecc_free(&key);
  return ok;
}

static bool verify_ed25519(const jwt_key *k, const uint8_t *msg, size_t mlen, const uint8_t *sig,
                           size_t slen) {
  if (slen != ED25519_SIG_SIZE) return false;
  ed25519_key key;
  if (wc_ed25519_init(&key) != 0) return false;
  int res = 0;
  bool ok = wc_ed25519_import_public(k->a, (word32)k->a_len, &key) == 0 &&
            wc_ed25519_verify_msg(sig, (word32)slen, msg, (word32)mlen, &res, &key) == 0 &&
            res == 1;
  wc_ed25519_free(&key);
  return ok;
}

/* Tries each candidate key; 0 if one verifies. */
static int check_signature(verifier *v, const jwt_keyset *ks, jwt_alg alg, const char *kid,
                           const char *input, size_t input_len, const uint8_t *sig,
                           size_t sig_len) {
  enum wc_HashType ht = hash_of(alg);
  uint8_t hash[WC_MAX_DIGEST_SIZE];
  word32 hlen = (word32)wc_HashGetDigestSize(ht);
  if (alg != JWT_ALG_EDDSA &&
      wc_Hash(ht, (const byte *)input, (word32)input_len, hash, sizeof(hash)) != 0)
    return refuse(v, "hash failed");
  unsigned tried = 0;
  for (size_t i = 0; i < ks->n; i++) {
    const jwt_key *k = &ks->keys[i];
    if (!key_fits(k, alg, kid)) continue;
    tried++;
    bool ok = k->kind == JWT_KEY_RSA ? verify_rsa(k, ht, hash, hlen, sig, sig_len)
              : k->kind == JWT_KEY_ED25519
                  ? verify_ed25519(k, (const uint8_t *)input, input_len, sig, sig_len)
                  : verify_ec(k, hash, hlen, sig, sig_len);
    if (ok) return 0;
  }
  char p[40];
  if (!tried)
    return kid ? refuse(v, "no key for kid \"%s\" and its alg", printable(kid, p, sizeof(p)))
               : refuse(v, "no key for the token's alg");
  return refuse(v, "bad signature (%u key%s tried)", tried, tried == 1 ? "" : "s");
}

/* ---- claims ---- */

/* A NumericDate (RFC 7519 §2): a JSON number, fractions allowed; absent is fine unless
 * `required`. Returns 1 if present (*out set), 0 if absent, <0 refused. */
static int numeric_date(verifier *v, const cJSON *payload, const char *name, bool required,
                        double *out) {
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(payload, name);
  if (!c) return required ? refuse(v, "no \"%s\" claim", name) : 0;
  if (!cJSON_IsNumber(c) || !(c->valuedouble >= -1e13 && c->valuedouble <= 1e13))
    return refuse(v, "\"%s\" is not a NumericDate", name);
  *out = c->valuedouble;
  return 1;
}

static int string_claim(verifier *v, const cJSON *payload, const char *name, const char **out) {
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(payload, name);
  *out = NULL;
  if (!c) return 0;
  if (!cJSON_IsString(c)) return refuse(v, "\"%s\" is not a string", name);
  *out = c->valuestring;
  return 0;
}

/* aud: a string or an array of strings; with a required audience, one of them must be it. */
static int check_audience(verifier *v, const cJSON *payload, const char *want, const char **got) {
  const cJSON *aud = cJSON_GetObjectItemCaseSensitive(payload, "aud"), *a;
  *got = NULL;
  if (!aud) return want ? refuse(v, "no \"aud\" claim") : 0;
  if (cJSON_IsString(aud)) {
    *got = aud->valuestring;
  } else if (cJSON_IsArray(aud)) {
    cJSON_ArrayForEach(a, aud) {
      if (!cJSON_IsString(a)) return refuse(v, "\"aud\" holds a non-string");
      if (!*got || (want && strcmp(a->valuestring, want) == 0)) *got = a->valuestring;
    }
  } else {
    return refuse(v, "\"aud\" is neither a string nor an array");
  }
  if (want && (!*got || strcmp(*got, want) != 0)) return refuse(v, "wrong audience");
  return 0;
}

static int check_claims(verifier *v, const cJSON *payload, const jwt_rules *r, int64_t now,
                        int64_t *exp_out, const char **sub, const char **iss, const char **aud) {
  static const char *const claims[] = {"iss", "sub", "aud", "exp", "nbf", "iat", NULL};
  const char *dup = duplicate(payload, claims);
  if (dup) return refuse(v, "\"%s\" claim twice", dup);
  double exp = 0, nbf = 0, iat = 0, t = (double)now, leeway = (double)r->leeway_s;
  int err, has;
  if ((err = numeric_date(v, payload, "exp", true, &exp)) < 0) return err;
  if (!(t < exp + leeway)) return refuse(v, "expired %.0f s ago", t - exp);
  if ((has = numeric_date(v, payload, "nbf", false, &nbf)) < 0) return has;
  if (has && t + leeway < nbf) return refuse(v, "not valid for another %.0f s (nbf)", nbf - t);
  if ((has = numeric_date(v, payload, "iat", false, &iat)) < 0) return has;
  if (has && iat > t + leeway) return refuse(v, "issued %.0f s in the future (iat)", iat - t);
  if ((err = string_claim(v, payload, "iss", iss)) < 0 ||
      (err = string_claim(v, payload, "sub", sub)) < 0)
    return err;
  if (r->issuer && (!*iss || strcmp(*iss, r->issuer) != 0)) return refuse(v, "wrong issuer");
  if (*sub && strlen(*sub) > JWT_MAX_SUBJECT)
    return refuse(v, "\"sub\" longer than %d bytes", JWT_MAX_SUBJECT);
  if ((err = check_audience(v, payload, r->audience, aud)) < 0) return err;
  int64_t e = (int64_t)exp; /* rounded up: now < exp <=> now < ceil(exp) for whole seconds */
  *exp_out = (double)e < exp ? e + 1 : e;
  return 0;
}

/* The result block: payload text, then the claim strings. */
static jwt_result *make_result(const uint8_t *payload, long plen, int64_t exp, const char *sub,
                               const char *iss, const char *aud) {
  const char *parts[3] = {sub, iss, aud};
  size_t need = (size_t)plen + 1;
  for (int i = 0; i < 3; i++) need += parts[i] ? strlen(parts[i]) + 1 : 0;
  jwt_result *res = malloc(sizeof(*res) + need);
  if (!res) return NULL;
  res->exp = exp;
  memcpy(res->text, payload, (size_t)plen + 1);
  size_t o = (size_t)plen + 1;
  int32_t *offs[3] = {&res->sub, &res->iss, &res->aud};
  for (int i = 0; i < 3; i++) {
    *offs[i] = -1;
    if (!parts[i]) continue;
    size_t n = strlen(parts[i]) + 1;
    *offs[i] = (int32_t)o;
    memcpy(res->text + o, parts[i], n);
    o += n;
  }
  res->text_len = (uint32_t)o;
  return res;
}

int jwt_verify(const jwt_keyset *ks, const jwt_rules *r, const char *token, size_t len, int64_t now,
               jwt_result **out, char *why, size_t why_len) {
  char scratch[1];
  verifier v = {why_len ? why : scratch, why_len ? why_len : sizeof(scratch)};
  if (len > JWT_MAX_TOKEN) return refuse(&v, "token of %zu bytes (at most %d)", len, JWT_MAX_TOKEN);
  const char *d1 = memchr(token, '.', len);
  const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
  if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
    return refuse(&v, "not a compact JWS (three dot-separated parts)");
  size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1);
  size_t slen = len - (size_t)(d2 + 1 - token);
  if (!hlen || !plen || !slen) return refuse(&v, "empty header, payload or signature");

  int err;
  long n;
  uint8_t *header = NULL, *sig = NULL, *payload = NULL;
  cJSON *hj = NULL, *pj = NULL;
  if (!(header = decode_part(token, hlen, &n))) {
    err = n == -2 ? -ENOMEM : refuse(&v, "header is not base64url");
    goto out;
  }
  if (!(hj = parse_object(header, n))) {
    err = refuse(&v, "header is not a JSON object");
    goto out;
  }
  static const char *const hnames[] = {"alg", "kid", "crit", NULL};
  const char *dup = duplicate(hj, hnames);
  const cJSON *alg_j = cJSON_GetObjectItemCaseSensitive(hj, "alg");
  const cJSON *kid_j = cJSON_GetObjectItemCaseSensitive(hj, "kid");
  jwt_alg alg = JWT_ALG_UNSET;
  if (dup) {
    err = refuse(&v, "header has \"%s\" twice", dup);
  } else if (cJSON_HasObjectItem(hj, "crit")) {
    err = refuse(&v, "header has \"crit\": no extension is understood");
  } else if (!cJSON_IsString(alg_j)) {
    err = refuse(&v, "header has no \"alg\" string");
  } else if (kid_j && !cJSON_IsString(kid_j)) {
    err = refuse(&v, "\"kid\" is not a string");
  } else {
    err = alg_from_header(&v, alg_j->valuestring, &alg);
  }
  if (err < 0) goto out;
  if (!(sig = decode_part(d2 + 1, slen, &n))) {
    err = n == -2 ? -ENOMEM : refuse(&v, "signature is not base64url");
    goto out;
  }
  if ((err = check_signature(&v, ks, alg, kid_j ? kid_j->valuestring : NULL, token,
                             (size_t)(d2 - token), sig, (size_t)n)) < 0)
    goto out;

  /* Signed by a trusted key from here on. */
  if (!(payload = decode_part(d1 + 1, plen, &n))) {
    err = n == -2 ? -ENOMEM : refuse(&v, "payload is not base64url");
    goto out;
  }
  if (!(pj = parse_object(payload, n))) {
    err = refuse(&v, "payload is not a JSON object");
    goto out;
  }
  /* cJSON turns "\u0000" into a NUL that would cut a claim short ("alice\u0000admin"). */
  if (memmem(payload, (size_t)n, "\\u0000", 6)) {
    err = refuse(&v, "payload escapes a NUL character");
    goto out;
  }
  int64_t exp = 0;
  const char *sub = NULL, *iss = NULL, *aud = NULL;
  if ((err = check_claims(&v, pj, r, now, &exp, &sub, &iss, &aud)) < 0) goto out;
  *out = make_result(payload, n, exp, sub, iss, aud);
  err = *out ? 0 : -ENOMEM;
out:
  if (err == -ENOMEM) snprintf(v.why, v.why_len, "out of memory");
  cJSON_Delete(hj);
  cJSON_Delete(pj);
  free(header);
  free(sig);
  free(payload);
  return err;
}

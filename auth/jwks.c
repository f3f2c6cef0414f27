/* Key sets for JWT verification: a JWKS document (RFC 7517, read with Debian's cJSON) or PEM
 * SubjectPublicKeyInfo blocks (decoded by wolfSSL), reduced to each key's raw public numbers.
 * Every key is imported into wolfSSL once here, so that a key wolfSSL would refuse (a point off
 * its curve, a modulus it cannot use) fails the load instead of every later verification. The
 * set keeps numbers, not wolfSSL key objects: those carry per-operation state (RsaKey.state,
 * ecc_key.state) and may not be used by two shards at once, so jwt_verify imports its own. */
#include <wolfssl/options.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include "auth/jwt.h"

#define RSA_MIN_BITS 2048 /* RFC 7518 §3.3 */
#define RSA_MAX_BITS 4096 /* Debian's wolfSSL is built with RSA_MAX_SIZE 4096 */
#define KID_MAX      256

typedef struct loader {
  jwt_keyset *ks;
  char *why;
  size_t why_len;
  unsigned skipped;
  char skip_note[96]; /* why the first skipped key was skipped */
} loader;

__attribute__((format(printf, 2, 3))) static int fail(loader *l, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(l->why, l->why_len, fmt, ap);
  va_end(ap);
  return -EINVAL;
}

__attribute__((format(printf, 2, 3))) static int skip(loader *l, const char *fmt, ...) {
  if (!l->skipped++) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->skip_note, sizeof(l->skip_note), fmt, ap);
    va_end(ap);
  }
  return 0;
}

static void key_dispose(jwt_key *k) {
  free(k->kid);
  free(k->a);
  free(k->b);
}

void jwt_keyset_ref(jwt_keyset *ks) {
  atomic_fetch_add_explicit(&ks->refs, 1, memory_order_relaxed);
}

void jwt_keyset_unref(jwt_keyset *ks) {
  if (!ks || atomic_fetch_sub_explicit(&ks->refs, 1, memory_order_acq_rel) != 1) return;
  for (size_t i = 0; i < ks->n; i++) key_dispose(&ks->keys[i]);
  free(ks);
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n) {
  uint8_t *c = malloc(n ? n : 1);
  if (c) memcpy(c, p, n);
  return c;
}

/* The key wolfSSL would build from these numbers is one it accepts. */
static int check_importable(loader *l, const jwt_key *k, const char *what) {
  int ret;
  if (k->kind == JWT_KEY_RSA) {
    RsaKey key;
    if (wc_InitRsaKey(&key, NULL) != 0) return -ENOMEM;
    ret = wc_RsaPublicKeyDecodeRaw(k->a, (word32)k->a_len, k->b, (word32)k->b_len, &key);
    wc_FreeRsaKey(&key);
  } else if (k->kind == JWT_KEY_ED25519) {
    ed25519_key key;
    if (wc_ed25519_init(&key) != 0) return -ENOMEM;
    /* wolfSSL 5.5.4's wc_ed25519_check_key wants the private half: a public point that does
     * not decode fails each verification instead. */
    ret = wc_ed25519_import_public(k->a, (word32)k->a_len, &key);
    wc_ed25519_free(&key);
  } else {
    ecc_key key;
    if (wc_ecc_init(&key) != 0) return -ENOMEM;
    ret = wc_ecc_import_unsigned(&key, k->a, k->b, NULL,
                                 k->kind == JWT_KEY_EC_P256 ? ECC_SECP256R1 : ECC_SECP384R1);
    if (ret == 0) ret = wc_ecc_check_key(&key); /* on the curve, of the right order */
    wc_ecc_free(&key);
  }
  return ret == 0 ? 0 : fail(l, "%s: not a valid public key (wolfSSL error %d)", what, ret);
}

static int rsa_size_ok(loader *l, const jwt_key *k, const char *what) {
  size_t bits = k->a_len * 8;
  for (uint8_t top = k->a_len ? k->a[0] : 0; bits && !(top & 0x80); top <<= 1) bits--;
  if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
    return fail(l, "%s: RSA modulus of %zu bits (%d to %d allowed)", what, bits, RSA_MIN_BITS,
                RSA_MAX_BITS);
  if (k->b_len == 0 || k->b_len > 8 || !(k->b[k->b_len - 1] & 1))
    return fail(l, "%s: bad RSA exponent", what);
  return 0;
}

static const char *kind_name(jwt_kind k) {
  switch (k) {
  case JWT_KEY_RSA:
    return "RSA";
  case JWT_KEY_EC_P256:
    return "EC P-256";
  case JWT_KEY_EC_P384:
    return "EC P-384";
  case JWT_KEY_ED25519:
    return "Ed25519";
  }
  return "?";
}

/* The alg a JWK names, if this code verifies it. */
static bool alg_of(const char *s, jwt_alg *out) {
  static const struct {
    const char *name;
    jwt_alg alg;
  } algs[] = {{"RS256", JWT_ALG_RS256}, {"RS384", JWT_ALG_RS384}, {"RS512", JWT_ALG_RS512},
              {"ES256", JWT_ALG_ES256}, {"ES384", JWT_ALG_ES384}, {"EdDSA", JWT_ALG_EDDSA}};
  for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
    if (strcmp(s, algs[i].name) == 0) {
      *out = algs[i].alg;
      return true;
    }
  return false;
}

static bool alg_fits(jwt_alg alg, jwt_kind kind) {
  switch (alg) {
  case JWT_ALG_RS256:
  case JWT_ALG_RS384:
  case JWT_ALG_RS512:
    return kind == JWT_KEY_RSA;
  case JWT_ALG_ES256:
    return kind == JWT_KEY_EC_P256;
  case JWT_ALG_ES384:
    return kind == JWT_KEY_EC_P384;
  case JWT_ALG_EDDSA:
    return kind == JWT_KEY_ED25519;
  case JWT_ALG_UNSET:
    return true;
  }
  return false;
}

/* A base64url member of a JWK; `want` > 0 demands that many bytes. Leading zero bytes are
 * stripped when `strip` (RSA integers). */
/* How a base64url member is read: bytes of exactly `want` (0: any), an unsigned integer
 * (leading zero bytes dropped: RSA's n and e), or an EC coordinate of `want` bytes, shorter ones
 * left-padded — RFC 7518 asks for the full size, but PyJWT and others drop a leading zero
 * byte (1 key in 128), and the number is the same. */
typedef enum b64_shape { B64_BYTES, B64_UINT, B64_COORD } b64_shape;

static int b64_member(loader *l, const cJSON *jwk, const char *name, const char *what, size_t want,
                      b64_shape shape, uint8_t **out, size_t *len) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(jwk, name);
  if (!cJSON_IsString(v)) return fail(l, "%s: \"%s\" missing or not a string", what, name);
  size_t n = strlen(v->valuestring);
  uint8_t *buf = malloc(n * 3 / 4 + 3);
  if (!buf) return -ENOMEM;
  long got = jwt_b64url_decode(v->valuestring, n, buf);
  if (got < 0) {
    free(buf);
    return fail(l, "%s: \"%s\" is not base64url", what, name);
  }
  size_t off = 0;
  while (shape == B64_UINT && off + 1 < (size_t)got && buf[off] == 0) off++;
  bool short_coord = shape == B64_COORD && got > 0 && (size_t)got < want;
  if (want && (size_t)got != want && !short_coord) {
    free(buf);
    return fail(l, "%s: \"%s\" has %ld bytes, %zu expected", what, name, got, want);
  }
  if (short_coord) {
    *len = want;
    *out = calloc(1, want);
    if (*out) memcpy(*out + want - (size_t)got, buf, (size_t)got);
  } else {
    *len = (size_t)got - off;
    *out = dup_bytes(buf + off, *len);
  }
  free(buf);
  return *out ? 0 : -ENOMEM;
}

static const char *str_member(const cJSON *jwk, const char *name, bool *bad) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(jwk, name);
  if (!v) return NULL;
  if (!cJSON_IsString(v)) {
    *bad = true;
    return NULL;
  }
  return v->valuestring;
}

/* One JWK: added to the set, skipped (with a note), or a failure. */
static int parse_jwk(loader *l, const cJSON *jwk, int index) {
  char what[32];
  snprintf(what, sizeof(what), "key %d", index);
  if (!cJSON_IsObject(jwk)) return fail(l, "%s: not an object", what);
  bool bad = false;
  const char *kty = str_member(jwk, "kty", &bad), *use = str_member(jwk, "use", &bad);
  const char *alg_s = str_member(jwk, "alg", &bad), *kid = str_member(jwk, "kid", &bad);
  const char *crv = str_member(jwk, "crv", &bad);
  if (bad) return fail(l, "%s: kty, use, alg, kid and crv must be strings", what);
  if (!kty) return fail(l, "%s: no \"kty\"", what);
  static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
  if (strcmp(kty, "oct") == 0) return skip(l, "%s: kty oct (symmetric)", what);
  for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
    if (cJSON_GetObjectItemCaseSensitive(jwk, private_members[i]))
      return fail(l, "%s: has the private member \"%s\": give public keys only", what,
                  private_members[i]);
  if (use && strcmp(use, "sig") != 0) return skip(l, "%s: use %.16s", what, use);
  const cJSON *ops = cJSON_GetObjectItemCaseSensitive(jwk, "key_ops");
  if (ops) {
    bool verify = false;
    const cJSON *op;
    if (!cJSON_IsArray(ops)) return fail(l, "%s: \"key_ops\" is not an array", what);
    cJSON_ArrayForEach(op, ops) verify |= cJSON_IsString(op) && !strcmp(op->valuestring, "verify");
    if (!verify) return skip(l, "%s: key_ops without verify", what);
  }
  jwt_key k = {.alg = JWT_ALG_UNSET};
  if (alg_s && !alg_of(alg_s, &k.alg)) return skip(l, "%s: alg %.16s", what, alg_s);
  if (kid && strlen(kid) > KID_MAX) return fail(l, "%s: kid longer than %d", what, KID_MAX);
  int err;
  if (strcmp(kty, "RSA") == 0) {
    k.kind = JWT_KEY_RSA;
    if ((err = b64_member(l, jwk, "n", what, 0, B64_UINT, &k.a, &k.a_len)) < 0 ||
        (err = b64_member(l, jwk, "e", what, 0, B64_UINT, &k.b, &k.b_len)) < 0 ||
        (err = rsa_size_ok(l, &k, what)) < 0)
      goto out;
  } else if (strcmp(kty, "EC") == 0) {
    size_t size;
    if (crv && strcmp(crv, "P-256") == 0) {
      k.kind = JWT_KEY_EC_P256, size = 32;
    } else if (crv && strcmp(crv, "P-384") == 0) {
      k.kind = JWT_KEY_EC_P384, size = 48;
    } else {
      return skip(l, "%s: EC curve %.16s", what, crv ? crv : "(none)");
    }
    if ((err = b64_member(l, jwk, "x", what, size, B64_COORD, &k.a, &k.a_len)) < 0 ||
        (err = b64_member(l, jwk, "y", what, size, B64_COORD, &k.b, &k.b_len)) < 0)
      goto out;
  } else if (strcmp(kty, "OKP") == 0) {
    if (!crv || strcmp(crv, "Ed25519") != 0)
      return skip(l, "%s: OKP curve %.16s", what, crv ? crv : "(none)");
    k.kind = JWT_KEY_ED25519;
    if ((err = b64_member(l, jwk, "x", what, ED25519_PUB_KEY_SIZE, B64_BYTES, &k.a, &k.a_len)) < 0)
      goto out;
  } else {
    return skip(l, "%s: kty %.16s", what, kty);
  }
  if (!alg_fits(k.alg, k.kind)) {
    err = fail(l, "%s: alg %s does not fit a %s key", what, alg_s, kind_name(k.kind));
    goto out;
  }
  if ((err = check_importable(l, &k, what)) < 0) goto out;
  if (l->ks->n == JWT_MAX_KEYS) {
    err = fail(l, "more than %d keys", JWT_MAX_KEYS);
    goto out;
  }
  if (kid && !(k.kid = strdup(kid))) {
    err = -ENOMEM;
    goto out;
  }
  l->ks->keys[l->ks->n++] = k;
  return 0;
out:
  key_dispose(&k);
  return err;
}

static int parse_jwks(loader *l, const char *data, size_t len) {
  cJSON *root = cJSON_ParseWithLength(data, len);
  if (!root) return fail(l, "not JSON (nor PEM)");
  int err = 0;
  if (!cJSON_IsObject(root)) {
    err = fail(l, "a JWKS is a JSON object");
  } else if (cJSON_HasObjectItem(root, "keys")) {
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys"), *jwk;
    if (!cJSON_IsArray(keys)) {
      err = fail(l, "\"keys\" is not an array");
    } else {
      int i = 0;
      cJSON_ArrayForEach(jwk, keys) if ((err = parse_jwk(l, jwk, i++)) < 0) break;
    }
  } else {
    err = parse_jwk(l, root, 0); /* one JWK on its own */
  }
  cJSON_Delete(root);
  return err;
}

/* The raw numbers of a SubjectPublicKeyInfo of each kind: 1 if it is one (a, b filled), 0 if
 * not, or a failure. */
static int spki_rsa(const uint8_t *der, word32 der_len, uint8_t *n, word32 *n_len, uint8_t *e,
                    word32 *e_len) {
  RsaKey rsa;
  word32 idx = 0;
  if (wc_InitRsaKey(&rsa, NULL) != 0) return -ENOMEM;
  bool is = wc_RsaPublicKeyDecode(der, &idx, &rsa, der_len) == 0 &&
            wc_RsaFlattenPublicKey(&rsa, e, e_len, n, n_len) == 0;
  wc_FreeRsaKey(&rsa);
  return is;
}

static int spki_ec(loader *l, const uint8_t *der, word32 der_len, const char *what, jwt_kind *kind,
                   uint8_t *x, word32 *x_len, uint8_t *y, word32 *y_len) {
  ecc_key ecc;
  word32 idx = 0;
  if (wc_ecc_init(&ecc) != 0) return -ENOMEM;
  int ret = wc_EccPublicKeyDecode(der, &idx, &ecc, der_len) == 0;
  if (ret == 1) {
    /* Checked before anything reads the point: wolfSSL 5.5.4 decodes coordinates wider than
     * the curve, and exporting such a point writes outside the buffer (found by fuzz_jwt). */
    int curve = ecc.dp ? ecc.dp->id : -1;
    if (curve != ECC_SECP256R1 && curve != ECC_SECP384R1)
      ret = fail(l, "%s: EC key on a curve other than P-256 and P-384", what);
    else if (wc_ecc_check_key(&ecc) != 0)
      ret = fail(l, "%s: not a valid public key (a point off its curve)", what);
    else if (wc_ecc_export_public_raw(&ecc, x, x_len, y, y_len) != 0)
      ret = fail(l, "%s: EC key not exportable", what);
    *kind = curve == ECC_SECP256R1 ? JWT_KEY_EC_P256 : JWT_KEY_EC_P384;
  }
  wc_ecc_free(&ecc);
  return ret;
}

static int spki_ed25519(const uint8_t *der, word32 der_len, uint8_t *x, word32 *x_len) {
  ed25519_key ed;
  word32 idx = 0;
  if (wc_ed25519_init(&ed) != 0) return -ENOMEM;
  bool is = wc_Ed25519PublicKeyDecode(der, &idx, &ed, der_len) == 0 &&
            wc_ed25519_export_public(&ed, x, x_len) == 0;
  wc_ed25519_free(&ed);
  return is;
}

/* One SubjectPublicKeyInfo: RSA, EC or Ed25519, told apart by trying each decoder. */
static int add_spki(loader *l, const uint8_t *der, word32 der_len, const char *what) {
  jwt_key k = {.alg = JWT_ALG_UNSET};
  uint8_t a[RSA_MAX_BITS / 8], b[RSA_MAX_BITS / 8];
  word32 a_len = sizeof(a), b_len = sizeof(b);
  int is = spki_rsa(der, der_len, a, &a_len, b, &b_len);
  k.kind = JWT_KEY_RSA;
  if (is == 0) {
    a_len = sizeof(a), b_len = sizeof(b);
    is = spki_ec(l, der, der_len, what, &k.kind, a, &a_len, b, &b_len);
  }
  if (is == 0) {
    a_len = sizeof(a), b_len = 0;
    is = spki_ed25519(der, der_len, a, &a_len);
    k.kind = JWT_KEY_ED25519;
  }
  if (is < 0) return is;
  if (is == 0) return fail(l, "%s: not an RSA, EC or Ed25519 public key", what);
  k.a_len = a_len, k.b_len = b_len;
  k.a = dup_bytes(a, a_len);
  k.b = dup_bytes(b, b_len);
  int err;
  if (!k.a || !k.b) {
    err = -ENOMEM;
  } else if ((k.kind != JWT_KEY_RSA || (err = rsa_size_ok(l, &k, what)) == 0) &&
             (err = check_importable(l, &k, what)) == 0) {
    if (l->ks->n == JWT_MAX_KEYS) {
      err = fail(l, "more than %d keys", JWT_MAX_KEYS);
    } else {
      l->ks->keys[l->ks->n++] = k;
      return 0;
    }
  }
  key_dispose(&k);
  return err;
}

/* Every "-----BEGIN PUBLIC KEY-----" block; text around the blocks is ignored, other kinds of
 * block are refused (a certificate here is a mistake worth naming). */
static int parse_pem(loader *l, const char *data, size_t len) {
  static const char begin[] = "-----BEGIN ", end_pk[] = "-----END PUBLIC KEY-----";
  const char *p = data, *stop = data + len;
  int blocks = 0;
  for (;;) {
    const char *b = memmem(p, (size_t)(stop - p), begin, sizeof(begin) - 1);
    if (!b) break;
    char what[32];
    snprintf(what, sizeof(what), "PEM block %d", blocks++);
    const char *label = b + sizeof(begin) - 1;
    if ((size_t)(stop - label) < 15 || memcmp(label, "PUBLIC KEY-----", 15) != 0) {
      const char *dash = memchr(label, '-', (size_t)(stop - label));
      int n = dash && dash - label < 40 ? (int)(dash - label) : 0;
      return fail(l, "%s is \"%.*s\": only PUBLIC KEY blocks (SubjectPublicKeyInfo) are keys", what,
                  n, label);
    }
    const char *e = memmem(label, (size_t)(stop - label), end_pk, sizeof(end_pk) - 1);
    if (!e) return fail(l, "%s has no END line", what);
    e += sizeof(end_pk) - 1;
    size_t pem_len = (size_t)(e - b);
    uint8_t *der = malloc(pem_len);
    if (!der) return -ENOMEM;
    int der_len = wc_PubKeyPemToDer((const unsigned char *)b, (int)pem_len, der, (int)pem_len);
    int err = der_len <= 0 ? fail(l, "%s: bad base64 or DER", what)
                           : add_spki(l, der, (word32)der_len, what);
    free(der);
    if (err < 0) return err;
    p = e;
  }
  return blocks ? 0 : fail(l, "no PEM block");
}

static void summarise(loader *l) {
  size_t o = (size_t)snprintf(l->why, l->why_len, "%zu key%s:", l->ks->n, l->ks->n == 1 ? "" : "s");
  for (size_t i = 0; i < l->ks->n && o < l->why_len; i++) {
    const jwt_key *k = &l->ks->keys[i];
    o += (size_t)snprintf(l->why + o, l->why_len - o, "%s %s%s%.32s", i ? "," : "",
                          kind_name(k->kind), k->kid ? " kid=" : "", k->kid ? k->kid : "");
  }
  if (l->skipped && o < l->why_len)
    snprintf(l->why + o, l->why_len - o, "; %u skipped (%s%s)", l->skipped, l->skip_note,
             l->skipped > 1 ? ", ..." : "");
}

int jwt_keyset_parse(const char *data, size_t len, jwt_keyset **out, char *why, size_t why_len) {
  char scratch[1];
  loader l = {.why = why_len ? why : scratch, .why_len = why_len ? why_len : sizeof(scratch)};
  l.ks = calloc(1, sizeof(*l.ks));
  if (!l.ks) return -ENOMEM;
  atomic_init(&l.ks->refs, 1);
  size_t i = 0;
  while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n')) i++;
  /* JSON starts with a brace; PEM may have text before its first block (openssl writes some). */
  bool pem = i < len && data[i] != '{' && data[i] != '[' && memmem(data, len, "-----BEGIN ", 11);
  int err = pem ? parse_pem(&l, data, len) : parse_jwks(&l, data, len);
  if (err == 0 && l.ks->n == 0)
    err = l.skipped ? fail(&l, "no usable signature key: %u skipped (%s%s)", l.skipped, l.skip_note,
                           l.skipped > 1 ? ", ..." : "")
                    : fail(&l, "no key");
  if (err < 0) {
    if (err == -ENOMEM) snprintf(l.why, l.why_len, "out of memory");
    jwt_keyset_unref(l.ks);
    return err;
  }
  summarise(&l);
  *out = l.ks;
  return 0;
}

#!/usr/bin/python3
"""Writes jwt_vectors.h: keys, key sets and tokens made by another implementation (Debian's
python3-jwt 2.6 over python3-cryptography), so that test_jwt.c checks auth/ against tokens it
did not make itself. Keys are fresh on each run (test-only; they protect nothing); times are
fixed, and the test passes its own `now`.

    /usr/bin/python3 tests/unit/auth/make_jwt_vectors.py
"""
import base64
import hashlib
import hmac
import json
import os

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

HERE = os.path.dirname(os.path.abspath(__file__))

IAT = 1700000000       # 2023-11-14
EXP = 4102444800       # 2100-01-01
ISS = "https://issuer.test"
CLAIMS = {"iss": ISS, "sub": "alice", "aud": ["svc-a", "svc-b"], "iat": IAT, "nbf": IAT,
          "exp": EXP, "scope": "read write"}


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def pem_public(k):
    return k.public_key().public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def jwk(alg_cls, k, **extra):
    d = json.loads(alg_cls.to_jwk(k.public_key()))
    d.update(extra)
    return d


def sign_raw(payload_bytes, key, alg, headers):
    return jwt.api_jws.encode(payload_bytes, key, algorithm=alg, headers=headers)


rsa1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
ec1 = ec.generate_private_key(ec.SECP256R1())
ec2 = ec.generate_private_key(ec.SECP256R1())
ec384 = ec.generate_private_key(ec.SECP384R1())
ec_k1 = ec.generate_private_key(ec.SECP256K1())
ed1 = ed25519.Ed25519PrivateKey.generate()

jwks = {"keys": [
    jwk(RSAAlgorithm, rsa1, kid="rsa1", use="sig"),
    jwk(ECAlgorithm, ec1, kid="ec1", alg="ES256"),
    jwk(ECAlgorithm, ec384, kid="ec384"),
    jwk(OKPAlgorithm, ed1, kid="ed1"),
    jwk(RSAAlgorithm, rsa2, kid="enc1", use="enc"),            # skipped: not a signature key
    {"kty": "oct", "kid": "hmac", "k": b64u(b"secret")},        # skipped: symmetric
    jwk(ECAlgorithm, ec_k1, kid="k1"),                          # skipped: curve secp256k1
]}
jwks_rotated = {"keys": [jwk(RSAAlgorithm, rsa2, kid="rsa2"), jwk(ECAlgorithm, ec2, kid="ec2")]}
pem = "a comment line, ignored\n" + pem_public(rsa1) + pem_public(ec1) + pem_public(ed1)
claims = json.dumps(CLAIMS).encode()

out = {}
out["JWKS"] = json.dumps(jwks)
out["JWKS_ROTATED"] = json.dumps(jwks_rotated)
out["PEM_KEYS"] = pem
out["JWK_RSA_SMALL"] = json.dumps(jwk(RSAAlgorithm, rsa_small, kid="small"))
out["JWK_RSA1_PRIVATE"] = RSAAlgorithm.to_jwk(rsa1)   # has "d": refused
out["JWK_EC1_WRONG_ALG"] = json.dumps(jwk(ECAlgorithm, ec1, kid="x", alg="RS256"))
p = jwk(ECAlgorithm, ec1, kid="off")
y = bytearray(base64.urlsafe_b64decode(p["y"] + "=="))
y[-1] ^= 1
p["y"] = b64u(bytes(y))
out["JWK_EC_OFF_CURVE"] = json.dumps(p)

out["TOK_RS256"] = jwt.encode(CLAIMS, rsa1, algorithm="RS256", headers={"kid": "rsa1"})
out["TOK_RS384"] = jwt.encode(CLAIMS, rsa1, algorithm="RS384", headers={"kid": "rsa1"})
out["TOK_RS512"] = jwt.encode(CLAIMS, rsa1, algorithm="RS512", headers={"kid": "rsa1"})
out["TOK_ES256"] = jwt.encode(CLAIMS, ec1, algorithm="ES256", headers={"kid": "ec1"})
out["TOK_ES384"] = jwt.encode(CLAIMS, ec384, algorithm="ES384", headers={"kid": "ec384"})
out["TOK_EDDSA"] = jwt.encode(CLAIMS, ed1, algorithm="EdDSA", headers={"kid": "ed1"})
out["TOK_RS256_NOKID"] = jwt.encode(CLAIMS, rsa1, algorithm="RS256")
out["TOK_ES256_NOKID"] = jwt.encode(CLAIMS, ec1, algorithm="ES256")
out["TOK_EDDSA_NOKID"] = jwt.encode(CLAIMS, ed1, algorithm="EdDSA")
out["TOK_RS256_UNKNOWN_KID"] = jwt.encode(CLAIMS, rsa1, algorithm="RS256", headers={"kid": "who"})
out["TOK_RS256_OTHER_KEY"] = jwt.encode(CLAIMS, rsa2, algorithm="RS256", headers={"kid": "rsa1"})
out["TOK_RS256_ROTATED"] = jwt.encode(CLAIMS, rsa2, algorithm="RS256", headers={"kid": "rsa2"})
out["TOK_ES256_ROTATED"] = jwt.encode(CLAIMS, ec2, algorithm="ES256", headers={"kid": "ec2"})
# ES256 signed by the P-256 key but the header names it as the RSA key (kid rsa1): kind mismatch.
out["TOK_ES256_KID_RSA"] = jwt.encode(CLAIMS, ec1, algorithm="ES256", headers={"kid": "rsa1"})
# ES384 made with the P-256 key's curve is impossible; ES256 made by the P-384 key's kid is not.
out["TOK_ES256_KID_EC384"] = jwt.encode(CLAIMS, ec1, algorithm="ES256", headers={"kid": "ec384"})
# The key ec1 says alg ES256 in the JWKS; a token naming it with ES384 must not use it.
out["TOK_ES384_KID_EC1"] = jwt.encode(CLAIMS, ec384, algorithm="ES384", headers={"kid": "ec1"})

# HS256 with the RSA public key (its PEM, and its JWK's n) as the HMAC secret: the classic
# algorithm-confusion forgery.
def hs256(secret, header, payload):
    h = b64u(json.dumps(header).encode()) + "." + b64u(payload)
    return h + "." + b64u(hmac.new(secret, h.encode(), hashlib.sha256).digest())


out["TOK_HS256_PUBKEY"] = hs256(pem_public(rsa1).encode(), {"alg": "HS256", "typ": "JWT"}, claims)
out["TOK_HS256_PUBKEY_KID"] = hs256(pem_public(rsa1).encode(),
                                    {"alg": "HS256", "kid": "rsa1"}, claims)
out["TOK_NONE"] = b64u(b'{"alg":"none","typ":"JWT"}') + "." + b64u(claims) + "."
out["TOK_NONE_SIG"] = b64u(b'{"alg":"none"}') + "." + b64u(claims) + ".c2ln"

def signed(payload, headers=None, key=rsa1, alg="RS256"):
    h = {"kid": "rsa1"}
    h.update(headers or {})
    return sign_raw(payload if isinstance(payload, bytes) else json.dumps(payload).encode(),
                    key, alg, h)


def with_claims(**kw):
    c = dict(CLAIMS)
    for k, v in kw.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


out["TOK_NO_EXP"] = signed(with_claims(exp=None))
out["TOK_EXP_STRING"] = signed(with_claims(exp="4102444800"))
out["TOK_EXP_FRACTION"] = signed(with_claims(exp=1750000000.5))
out["TOK_AUD_STRING"] = signed(with_claims(aud="svc-a"))
out["TOK_AUD_NUMBER"] = signed(with_claims(aud=7))
out["TOK_NO_AUD"] = signed(with_claims(aud=None))
out["TOK_NO_ISS"] = signed(with_claims(iss=None))
out["TOK_SUB_NUMBER"] = signed(with_claims(sub=42))
out["TOK_SUB_LONG"] = signed(with_claims(sub="a" * 256))
out["TOK_SUB_255"] = signed(with_claims(sub="b" * 255))
out["TOK_SUB_NUL"] = signed(b'{"sub":"alice\\u0000admin","exp":4102444800}')
out["TOK_DUP_SUB"] = signed(b'{"sub":"alice","sub":"admin","exp":4102444800}')
out["TOK_PAYLOAD_ARRAY"] = signed(b'[1,2]')
out["TOK_PAYLOAD_TRAILING"] = signed(b'{"exp":4102444800} x')
out["TOK_CRIT"] = signed(CLAIMS, {"crit": ["exp"]})
def rs256_raw(header, payload):
    """Signed here, for headers python3-jwt refuses to write (`header`: bytes as they go)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    h = b64u(header) + "." + b64u(payload)
    return h + "." + b64u(rsa1.sign(h.encode(), padding.PKCS1v15(), hashes.SHA256()))


out["TOK_KID_NUMBER"] = rs256_raw(b'{"alg":"RS256","kid":5}', claims)
out["TOK_DUP_ALG"] = rs256_raw(b'{"alg":"RS256","kid":"rsa1","alg":"none"}', claims)
out["TOK_HEADER_TRAILING"] = rs256_raw(b'{"alg":"RS256"}{}', claims)
out["TOK_MINIMAL"] = signed({"exp": EXP})

with open(os.path.join(HERE, "jwt_vectors.h"), "w") as f:
    f.write("/* Written by make_jwt_vectors.py (python3-jwt %s): test-only keys and tokens; the\n"
            " * tokens' claims: %s */\n" % (jwt.__version__, json.dumps(CLAIMS)))
    f.write("#ifndef URPC_TESTS_JWT_VECTORS_H\n#define URPC_TESTS_JWT_VECTORS_H\n\n")
    f.write("#define VEC_IAT %d\n#define VEC_EXP %dLL\n#define VEC_ISS \"%s\"\n\n" % (IAT, EXP, ISS))
    for name, val in out.items():
        f.write("static const char %s[] __attribute__((unused)) =\n" % name)
        lines = val.split("\n") if "\n" in val else [val[i:i + 90] for i in range(0, len(val), 90)]
        for i, line in enumerate(lines):
            nl = "\\n" if "\n" in val and i < len(lines) - 1 else ""
            if not line and not nl:
                continue
            f.write('    "%s%s"\n' % (line.replace("\\", "\\\\").replace('"', '\\"'), nl))
        f.write("    ;\n")
    f.write("\n#endif\n")
print("wrote", os.path.join(HERE, "jwt_vectors.h"))

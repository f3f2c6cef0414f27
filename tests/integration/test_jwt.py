#!/usr/bin/python3
"""JWT bearer tokens (--jwt-jwks) against python3-grpcio, with keys made and tokens minted at
test time by Debian's python3-jwt over python3-cryptography (RSA 2048, EC P-256, Ed25519).

  valid        RS256, ES256 and EdDSA tokens pass; the handler sees the claims (WhoAmI says
               sub, iss, the aud that matched, exp); the same token over and over, on several
               connections (the shards' caches), and a token with the scheme in lower case
  refused      each gets UNAUTHENTICATED with the generic message, never PERMISSION_DENIED:
               no token, another scheme, expired, not yet valid, issued in the future, wrong
               issuer, wrong audience, no exp, tampered signature and payload, unknown kid, a
               key of another kind under a known kid, alg none, HS256 with the public key as
               the secret, bad base64, not three parts, 11 KiB (over the 8 KiB limit); the
               server log names each reason; calls still pass after them
  big_token    tokens the transport stops first: 40 KB passes the 16 KiB header-list limit
               (stream reset ENHANCE_YOUR_CALM: grpcio says RESOURCE_EXHAUSTED, the connection
               goes on); 1 MB passes nghttp2's 64 KiB field limit (connection closed: grpcio
               says UNAVAILABLE); the server goes on
  optional     --jwt-optional: no token passes unauthenticated, a good one is seen, a bad one
               is still refused
  pem          --jwt-jwks with PEM public keys (no kid): tokens with or without kid pass
  rotation     the keys file rewritten (renamed over, then written in place): within 2 s new
               keys' tokens pass and old ones fail; a broken file keeps the keys in place and
               says so; SIGHUP reloads a change the stamp cannot see (same size, inode, mtime)
  tls          tokens over TLS as over plaintext (WhoAmI shows the TLS peer and the claims)
  bad_keys     a keys file that does not load, a missing one, JWT flags without --jwt-jwks:
               one line each, non-zero exit
"""
import base64
import hashlib
import hmac
import json
import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, TestFailure, check, log, run_cmd  # noqa: E402

try:
    import grpc
except ImportError:
    grpc = None
try:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
except ImportError:
    jwt = None

ISS = "https://issuer.test"
AUD = "svc-a"
REFUSED = "invalid or missing bearer token"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Keys:
    """A key pair of each kind, their JWKS, and a token minter."""

    def __init__(self, suffix=""):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.ed = ed25519.Ed25519PrivateKey.generate()
        self.kids = {"RS256": "rsa" + suffix, "ES256": "ec" + suffix, "EdDSA": "ed" + suffix}
        self.key = {"RS256": self.rsa, "ES256": self.ec, "EdDSA": self.ed}

    def jwks(self):
        keys = []
        for alg, cls in (("RS256", RSAAlgorithm), ("ES256", ECAlgorithm), ("EdDSA", OKPAlgorithm)):
            k = json.loads(cls.to_jwk(self.key[alg].public_key()))
            k["kid"] = self.kids[alg]
            keys.append(k)
        return json.dumps({"keys": keys})

    def pem(self):
        return "".join(self.key[a].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            for a in ("RS256", "ES256"))

    def token(self, alg="ES256", kid=True, headers=None, **claims):
        now = int(time.time())
        c = {"iss": ISS, "sub": "alice", "aud": [AUD, "svc-z"], "iat": now, "nbf": now,
             "exp": now + 600}
        for k, v in claims.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        h = dict(headers or {})
        if kid:
            h["kid"] = self.kids[alg]
        return jwt.encode(c, self.key[alg], algorithm=alg, headers=h)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def call(st, srv, token=None, method="WhoAmI", scheme="Bearer", timeout=10):
    """(code, message or details) of one call with `token`."""
    md = (("authorization", f"{scheme} {token}"),) if token is not None else ()
    with grpc.insecure_channel(srv.target) as ch:
        return call_on(st, ch, md, method, timeout)


def call_on(st, ch, md, method="WhoAmI", timeout=10):
    try:
        if method == "WhoAmI":
            r = st.demo_grpc.DemoStub(ch).WhoAmI(st.hw.HelloRequest(), metadata=md,
                                                  timeout=timeout)
        else:
            r = st.hw_grpc.GreeterStub(ch).SayHello(st.hw.HelloRequest(name="jwt"), metadata=md,
                                                    timeout=timeout)
        return grpc.StatusCode.OK, r.message
    except grpc.RpcError as e:
        return e.code(), e.details()


def expect_ok(st, srv, token, what, **kw):
    code, msg = call(st, srv, token, **kw)
    check(code == grpc.StatusCode.OK, f"{what}: {code} {msg!r}, expected OK")
    return msg


def expect_refused(st, srv, token, what, **kw):
    code, msg = call(st, srv, token, **kw)
    check(code == grpc.StatusCode.UNAUTHENTICATED and msg == REFUSED,
          f"{what}: {code} {msg!r}, expected UNAUTHENTICATED {REFUSED!r}")


class Env:
    def __init__(self, args):
        if grpc is None:
            raise Skip("python3-grpcio is not installed for /usr/bin/python3")
        if jwt is None:
            raise Skip("python3-jwt or python3-cryptography is not installed for /usr/bin/python3")
        self.args = args
        self.st = harness.Stubs(args.proto_dir)
        self._tmp = tempfile.TemporaryDirectory(prefix="urpc-jwt-")
        self.dir = self._tmp.name
        self.keys = Keys()
        self.jwks = os.path.join(self.dir, "jwks.json")
        write_atomic(self.jwks, self.keys.jwks())

    def server(self, *flags):
        return Server(self.args.server, "--jwt-jwks", self.jwks, *flags)


def case_valid(env):
    st, k = env.st, env.keys
    with env.server("--jwt-issuer", ISS, "--jwt-audience", AUD, "--shards", "2",
                    *harness.ADMIN) as srv:
        for alg in ("RS256", "ES256", "EdDSA"):
            tok = k.token(alg)
            got = expect_ok(st, srv, tok, alg)
            exp = json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "=="))["exp"]
            want = f"plaintext jwt_sub=alice jwt_iss={ISS} jwt_aud={AUD} jwt_exp={exp}"
            check(got == want, f"{alg}: WhoAmI said {got!r}, expected {want!r}")
            expect_ok(st, srv, tok, alg + " SayHello", method="SayHello")
        expect_ok(st, srv, k.token("RS256", kid=False), "RS256 without kid")
        expect_ok(st, srv, k.token(), "scheme in lower case", scheme="bearer")
        # One token, many calls on several connections: the shards verify it once each.
        tok = k.token("RS256")
        md = (("authorization", "Bearer " + tok),)
        t0 = time.monotonic()
        n = 0
        for _ in range(8):
            with grpc.insecure_channel(srv.target) as ch:
                for _ in range(25):
                    code, msg = call_on(st, ch, md, "SayHello")
                    check(code == grpc.StatusCode.OK, f"repeated token: {code} {msg!r}")
                    n += 1
        log(f"{n} calls with one RS256 token in {time.monotonic() - t0:.2f} s")
        # 8 calls (up to 8 tokens) before the loop, then n with one token, which each of the 2
        # shards checks once: at most 10 signature checks, the rest from the cache.
        m = srv.metrics()
        m.expect("uringrpc_jwt_calls_total", 8 + n, result="passed")
        m.expect("uringrpc_jwt_calls_total", 0, result="refused")
        sig = m.get("uringrpc_jwt_checks_total", by="signature")
        check(sig <= 8 + 2, f"{sig:g} signature checks: the cache did not hold the token")
        m.expect("uringrpc_jwt_checks_total", 8 + n - sig, by="cache")
        srv.stop()


def refused_tokens(k):
    now = int(time.time())
    tok = k.token("ES256")
    h, p, s = tok.split(".")
    flip = lambda c: "A" if c != "A" else "B"  # noqa: E731
    claims = json.loads(base64.urlsafe_b64decode(p + "=="))
    claims["sub"] = "admin"
    rsa_pem = k.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_header = b64u(json.dumps({"alg": "HS256", "typ": "JWT", "kid": k.kids["RS256"]}).encode())
    hs_input = hs_header + "." + p
    other = Keys()
    return [
        ("expired", k.token(exp=now - 5, iat=now - 700, nbf=now - 700), "expired"),
        ("not yet valid", k.token(nbf=now + 300), "nbf"),
        ("issued in the future", k.token(iat=now + 300), "iat"),
        ("wrong issuer", k.token(iss="https://evil.test"), "wrong issuer"),
        ("wrong audience", k.token(aud="svc-b"), "wrong audience"),
        ("no exp", k.token(exp=None), "no \"exp\" claim"),
        ("tampered signature", f"{h}.{p}.{s[:10]}{flip(s[10])}{s[11:]}", "bad signature"),
        ("tampered payload", f"{h}.{b64u(json.dumps(claims).encode())}.{s}", "bad signature"),
        ("unknown kid", other.token("ES256", headers={"kid": "nobody"}, kid=False),
         "no key for kid \"nobody\""),
        ("another key under a known kid", other.token("ES256"), "bad signature"),
        ("a key of another kind", k.token("ES256", kid=False, headers={"kid": k.kids["RS256"]}),
         "no key for kid"),
        ("alg none", b64u(b'{"alg":"none","typ":"JWT"}') + "." + p + ".", "empty"),
        ("alg none with a signature", b64u(b'{"alg":"none"}') + "." + p + "." + s, "alg none"),
        ("HS256 with the public key as secret", hs_input + "." + b64u(
            hmac.new(rsa_pem, hs_input.encode(), hashlib.sha256).digest()), "alg HS256 refused"),
        ("bad base64", "*" + tok[1:], "header is not base64url"),
        ("padded base64", tok + "==", "signature is not base64url"),
        ("two parts", f"{h}.{p}", "not a compact JWS"),
        ("11 KiB (under the header limit)", k.token(pad="x" * 8 * 1024), "token of"),
    ]


def case_refused(env):
    st, k = env.st, env.keys
    with env.server("--jwt-issuer", ISS, "--jwt-audience", AUD) as srv:
        expect_refused(st, srv, None, "no token")
        expect_refused(st, srv, "abc", "Basic scheme", scheme="Basic")
        reasons = []
        for what, tok, reason in refused_tokens(k):
            time.sleep(0.12)  # the server logs up to 10 refusals a second per shard
            expect_refused(st, srv, tok, what)
            reasons.append((what, reason))
            log(f"refused as expected: {what}")
        expect_ok(st, srv, k.token(), "a good token after the bad ones")
        res = srv.stop()
    lines = [l for l in res.stderr.split("\n") if "jwt: refused /urpc.example.Demo/WhoAmI: " in l]
    for what, reason in reasons:
        check(any(reason in l for l in lines), f"{what}: no log line with {reason!r}:\n{res.stderr}")
    check(res.stderr.count("jwt: refused") >= len(reasons),
          f"fewer log lines than refusals:\n{res.stderr}")


def case_big_token(env):
    """What the transport answers before the interceptor sees a token: a header list over the
    server's 16 KiB limit resets the stream (ENHANCE_YOUR_CALM: grpcio says RESOURCE_EXHAUSTED)
    and the connection goes on; one field over 64 KiB is an HPACK error for nghttp2
    (NGHTTP2_HD_MAX_NV), which closes the connection (grpcio: UNAVAILABLE "Socket closed")."""
    st, k = env.st, env.keys
    with env.server() as srv:
        mid = k.token(pad="x" * 30000)
        with grpc.insecure_channel(srv.target) as ch:
            code, msg = call_on(st, ch, (("authorization", "Bearer " + mid),))
            log(f"{len(mid)}-byte token: {code} {msg!r}")
            check(code == grpc.StatusCode.RESOURCE_EXHAUSTED, f"40 KB token: {code} {msg!r}")
            code, msg = call_on(st, ch, (("authorization", "Bearer " + k.token()),))
            check(code == grpc.StatusCode.OK, f"same channel after it: {code} {msg!r}")
        big = k.token(pad="x" * (1 << 20))
        with grpc.insecure_channel(srv.target) as ch:
            code, msg = call_on(st, ch, (("authorization", "Bearer " + big),))
            log(f"{len(big)}-byte token: {code} {msg!r}")
            check(code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED),
                  f"1 MB token: {code} {msg!r}")
        expect_ok(st, srv, k.token(), "a new connection after it")
        srv.stop()


def case_optional(env):
    st, k = env.st, env.keys
    with env.server("--jwt-optional") as srv:
        got = expect_ok(st, srv, None, "no token")
        check(got == "plaintext", f"no token: WhoAmI said {got!r}")
        got = expect_ok(st, srv, "xyz", "another scheme", scheme="Basic")
        check(got == "plaintext", f"Basic: WhoAmI said {got!r}")
        got = expect_ok(st, srv, k.token("EdDSA"), "good token")
        check("jwt_sub=alice" in got, f"good token: WhoAmI said {got!r}")
        expect_refused(st, srv, k.token(exp=int(time.time()) - 60), "expired token")
        expect_refused(st, srv, "not.a.token", "garbage token")
        srv.stop()


def case_pem(env):
    st, k = env.st, env.keys
    pem = os.path.join(env.dir, "keys.pem")
    write_atomic(pem, "# the issuer's keys\n" + k.pem())
    with Server(env.args.server, "--jwt-jwks", pem) as srv:
        expect_ok(st, srv, k.token("RS256"), "RS256 with kid, PEM keys")
        expect_ok(st, srv, k.token("ES256", kid=False), "ES256 without kid, PEM keys")
        expect_refused(st, srv, k.token("EdDSA"), "EdDSA: no such key in the PEM file")
        srv.stop()


def wait_until(fn, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if fn():
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def case_rotation(env):
    st, old = env.st, env.keys
    new = Keys("-2")
    with env.server() as srv:
        limit = 4.0 if harness.sanitized(srv.proc.pid) else 2.0
        old_tok, new_tok = old.token("RS256"), new.token("ES256")
        expect_ok(st, srv, old_tok, "old key before rotation")
        expect_refused(st, srv, new_tok, "new key before rotation")
        # Renamed over the old file (a new inode), as configuration tools and kubelet do.
        write_atomic(env.jwks, new.jwks())
        took = wait_until(lambda: call(st, srv, new_tok)[0] == grpc.StatusCode.OK, limit + 2)
        check(took is not None and took <= limit, f"new keys picked up after {took} s")
        expect_refused(st, srv, old_tok, "old key after rotation (its verification was cached)")
        log(f"rename: new keys in force after {took:.2f} s")
        # Written in place (the same inode).
        with open(env.jwks, "w") as f:
            f.write(old.jwks())
        took = wait_until(lambda: call(st, srv, old_tok)[0] == grpc.StatusCode.OK, limit + 2)
        check(took is not None and took <= limit, f"in-place rewrite picked up after {took} s")
        expect_refused(st, srv, new_tok, "new key after rotating back")
        log(f"in place: keys in force after {took:.2f} s")
        # A file that does not load leaves the keys as they are.
        write_atomic(env.jwks, '{"keys": [')
        time.sleep(2.2)
        expect_ok(st, srv, old_tok, "old key after a broken rewrite")
        # SIGHUP reloads what the stamp cannot see: same size, inode and mtime.
        only_ec = lambda ks: json.dumps({"keys": [json.loads(ks.jwks())["keys"][1]]})  # noqa
        full = lambda ks: all(len(json.loads(only_ec(ks))["keys"][0][c]) == 43  # noqa
                              for c in "xy")  # PyJWT drops a leading zero byte: 1 in 64 keys
        a = Keys("-a")
        while not full(a):
            a = Keys("-a")
        b = Keys("-b")
        write_atomic(env.jwks, only_ec(a))
        check(wait_until(lambda: call(st, srv, a.token("ES256"))[0] == grpc.StatusCode.OK,
                         limit + 2) is not None, "EC-only file not picked up")
        st0 = os.stat(env.jwks)
        text = only_ec(b)
        for _ in range(100):  # PyJWT drops a coordinate's leading zero byte: 1 key in ~64
            if len(text) == st0.st_size:
                break
            b = Keys("-b")
            text = only_ec(b)
        check(len(text) == st0.st_size, "P-256 JWKs of the same length expected")
        with open(env.jwks, "r+") as f:
            f.write(text)
        os.utime(env.jwks, ns=(st0.st_atime_ns, st0.st_mtime_ns))
        time.sleep(2.2)
        expect_refused(st, srv, b.token("ES256"), "unseen change before SIGHUP")
        os.kill(srv.proc.pid, signal.SIGHUP)
        took = wait_until(lambda: call(st, srv, b.token("ES256"))[0] == grpc.StatusCode.OK, 3)
        check(took is not None, "SIGHUP did not reload the keys")
        expect_refused(st, srv, a.token("ES256"), "replaced key after SIGHUP")
        res = srv.stop()
    check("JWT keys reload failed, keeping the current keys: not JSON" in res.stderr,
          f"no line about the broken file:\n{res.stderr}")
    check(res.stderr.count("JWT keys reloaded: ") >= 4, f"reloads not reported:\n{res.stderr}")


def self_signed(d):
    """A P-256 certificate for localhost/127.0.0.1 and its key, made with python3-cryptography."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    paths = (os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"))
    with open(paths[0], "wb") as f:
        f.write(cert_pem)
    with open(paths[1], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths, cert_pem


def case_tls(env):
    """Bearer tokens over TLS (ECDSA certificate: the shards' ECC tables serve both)."""
    st, k = env.st, env.keys
    (cert, key), cert_pem = self_signed(env.dir)
    with env.server("--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key) as srv:
        check(srv.tls_port, "no tls= in the startup line")
        creds = grpc.ssl_channel_credentials(root_certificates=cert_pem)
        for alg in ("ES256", "RS256", "EdDSA"):
            md = (("authorization", "Bearer " + k.token(alg)),)
            with grpc.secure_channel(f"127.0.0.1:{srv.tls_port}", creds) as ch:
                code, msg = call_on(st, ch, md)
            check(code == grpc.StatusCode.OK and "sni=" in msg and "jwt_sub=alice" in msg,
                  f"{alg} over TLS: {code} {msg!r}")
        with grpc.secure_channel(f"127.0.0.1:{srv.tls_port}", creds) as ch:
            code, msg = call_on(st, ch, ())
        check(code == grpc.StatusCode.UNAUTHENTICATED, f"no token over TLS: {code} {msg!r}")
        expect_ok(st, srv, k.token("ES256"), "ES256 on the plaintext port")
        srv.stop()


def case_bad_keys(env):
    bad = os.path.join(env.dir, "bad.json")
    with open(bad, "w") as f:
        f.write('{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}')
    for flags, want, rc in [
            (["--jwt-jwks", bad], "RSA modulus of 17 bits", 1),
            (["--jwt-jwks", os.path.join(env.dir, "missing.json")], "cannot read", 1),
            (["--jwt-audience", AUD], "need --jwt-jwks FILE", 2),
            (["--jwt-jwks", env.jwks, "--jwt-leeway", "-1"], "--jwt-leeway", 2)]:
        r = run_cmd([env.args.server, "--listen", "127.0.0.1:0", *flags], timeout=30)
        check(r.returncode == rc and want in r.stderr and len(r.stderr.strip().split("\n")) == 1,
              f"{flags}: rc={r.returncode} stderr={r.stderr!r}, expected rc {rc} and {want!r}")
        check(not harness.sanitizer_report(r.stderr), f"sanitizer report: {r.stderr}")
        log(f"{flags[-1]}: {r.stderr.strip()}")


CASES = {"valid": case_valid, "refused": case_refused, "big_token": case_big_token,
         "optional": case_optional, "pem": case_pem, "rotation": case_rotation,
         "tls": case_tls, "bad_keys": case_bad_keys}


def main():
    harness.run_cases({k: (lambda a, fn=fn: fn(Env(a))) for k, fn in CASES.items()},
                      harness.parse_args())


if __name__ == "__main__":
    main()

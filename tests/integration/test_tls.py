#!/usr/bin/python3
"""TLS 1.3 with ALPN h2, against python3-grpcio secure channels and `openssl s_client`.
Certificates are made at test time with the openssl command (a CA, a server certificate with
SANs localhost and 127.0.0.1, and a second, unrelated CA).

  grpcio            unary and streaming calls over TLS with the right CA; the wrong CA fails
  alpn              -alpn h2 -tls1_3 negotiates h2; http/1.1 only gets the
                    no_application_protocol alert, and so does no ALPN at all
  key_exchange      X25519 and P-256; an RSA certificate as well as ECDSA
  versions          TLS 1.2 refused by default (protocol_version alert), accepted with --tls12
  hostile           garbage instead of a ClientHello, a truncated ClientHello, a client that
                    stalls mid-handshake (closed at --tls-handshake-timeout): each loses only
                    its own connection; a TLS call works after them
  bad_files         a missing or non-PEM certificate, a missing key, an ECC key that is not
                    the certificate's: one line, exit 1
  mtls_required     --tls-client-ca: no client certificate → refused; a certificate from
                    another CA → refused (and a log line names the reason); the right one →
                    served, and the handler sees its SPIFFE ID (WhoAmI)
  resumption        a session ticket from one connection resumes on 16 new ones, whichever
                    shard the kernel picks (all shards share the ticket keys); with
                    --tls-ticket-lifetime 1 a ticket no longer resumes after two lifetimes
  rotation_sighup   replace the certificate files and send SIGHUP: new connections get the new
                    certificate (serial), a connection opened before keeps working; a corrupt
                    replacement keeps the old one and says so in one line
  rotation_watch    replace the files without a signal: picked up within seconds
  mtls_reasons      (required and optional) expired, serverAuth-only, no digitalSignature,
                    unknown CA (and, required, none): refused with the alert and one log line
                    naming the reason
  mtls_optional     --tls-client-auth optional: served with or without a certificate; a plain
                    (non-SPIFFE) certificate still works, with no SPIFFE ID
"""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, TestFailure, check, log  # noqa: E402
import pki  # noqa: E402
from pki import openssl, tls_channel  # noqa: E402

try:
    import grpc
except ImportError:
    grpc = None


class Pki(pki.Pki):
    def __init__(self):
        super().__init__()
        # Client certificates: an X.509-SVID, a plain one, and one from the other CA.
        for name, ca, san, is_ca in [
                ("svid", "ca", "URI:spiffe://example.org/ns/prod/sa/web", False),
                ("plain", "ca", "DNS:client.example", False),
                ("rogue", "other", "URI:spiffe://example.org/rogue", False),
                ("twouri", "ca", "URI:spiffe://example.org/a,URI:spiffe://example.org/b", False),
                ("cacert", "ca", "URI:spiffe://example.org/ca", True)]:
            self.client(name, san, ca=ca, is_ca=is_ca)
        self._bad_clients()

    def _bad_clients(self):
        """Client certificates from the right CA that must still be refused: expired (signed
        with `openssl ca`, the one openssl 3.0 command that takes past dates), for servers only
        (extendedKeyUsage serverAuth), and one whose keyUsage forbids signatures."""
        d = self.dir
        for name, ext in [("srvonly", "extendedKeyUsage=serverAuth"),
                          ("nosig", "keyUsage=keyEncipherment")]:
            openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr", "-subj", f"/CN={name}")
            with open(f"{d}/{name}.ext", "w") as f:
                f.write(f"basicConstraints=CA:FALSE\n{ext}\n")
            openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.pem", "-CAkey",
                    f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/{name}.pem", "-days", "2",
                    "-extfile", f"{d}/{name}.ext")
        os.makedirs(f"{d}/issued")
        open(f"{d}/index.txt", "w").close()
        with open(f"{d}/serial", "w") as f:
            f.write("1000\n")
        with open(f"{d}/ca.cnf", "w") as f:
            f.write("[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\n"
                    "new_certs_dir = issued\nserial = serial\ndefault_md = sha256\n"
                    "policy = any\nunique_subject = no\n[any]\ncommonName = supplied\n"
                    "[client]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{d}/expired.key", "-out", f"{d}/expired.csr", "-subj", "/CN=expired")
        openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
                "-in", "expired.csr", "-out", "expired.pem", "-startdate", "20200101000000Z",
                "-enddate", "20200102000000Z", "-extensions", "client", "-notext", cwd=d)


def say_hello_tls(st, pki, srv, name="tls"):
    with tls_channel(pki, srv.tls_port) as ch:
        r = st.hw_grpc.GreeterStub(ch).SayHello(st.hw.HelloRequest(name=name), timeout=10)
        check(r.message == f"Hello {name}", f"SayHello over TLS -> {r.message!r}")


def s_client(port, *args, stdin="", linger=0.0):
    """openssl s_client; with `linger`, its stdin stays open that long (so it reads what the
    server sends after the handshake, such as TLS 1.3 session tickets)."""
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, errors="replace")
    try:
        if linger:
            time.sleep(linger)
        out, err = p.communicate(stdin, timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def case_grpcio(st, pki, srv):
    say_hello_tls(st, pki, srv)
    with tls_channel(pki, srv.tls_port) as ch:
        demo = st.demo_grpc.DemoStub(ch)
        r = demo.BlockingHello(st.hw.HelloRequest(name="w"), timeout=10)
        check(r.message == "Hello w (worker)", f"BlockingHello -> {r.message!r}")
        health = st.health_grpc.HealthStub(ch)
        watch = health.Watch(st.health.HealthCheckRequest(service=""), timeout=2)
        check(next(watch).status == st.health.HealthCheckResponse.SERVING, "Watch over TLS")
        watch.cancel()
        greeter = st.hw_grpc.GreeterStub(ch)
        for i in range(300):
            check(greeter.SayHello(st.hw.HelloRequest(name=str(i)), timeout=10).message ==
                  f"Hello {i}", "300 calls on one TLS connection")
    with tls_channel(pki, srv.tls_port, ca="other.pem") as ch:
        try:
            st.hw_grpc.GreeterStub(ch).SayHello(st.hw.HelloRequest(name="x"), timeout=5)
            raise TestFailure("a server certificate from another CA was accepted")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.UNAVAILABLE, f"wrong CA -> {e.code()}")
    log("grpcio over TLS: unary, worker, Watch, 300 calls; wrong CA refused")


def case_alpn(st, pki, srv):
    r = s_client(srv.tls_port, "-alpn", "h2", "-tls1_3", "-CAfile", pki.path("ca.pem"))
    check("ALPN protocol: h2" in r.stdout, f"-alpn h2: {r.stdout[-400:]}")
    check("Verify return code: 0 (ok)" in r.stdout, "the chain verifies against the CA")
    check("TLSv1.3" in r.stdout, "TLS 1.3 negotiated")
    r = s_client(srv.tls_port, "-alpn", "http/1.1", "-tls1_3")
    check("no application protocol" in r.stderr, f"http/1.1 only: {r.stderr[-300:]}")
    r = s_client(srv.tls_port, "-tls1_3")  # no ALPN offered at all
    check("no application protocol" in r.stderr, f"no ALPN: {r.stderr[-300:]}")
    check("ALPN protocol: h2" not in r.stdout, "no ALPN: h2 must not be served")
    # A session resumed without h2 gets the same alert (the ticket is refused, and the full
    # handshake it falls back to answers the missing ALPN), and one with h2 still resumes.
    sess = pki.path("alpn-sess")
    s_client(srv.tls_port, "-alpn", "h2", "-tls1_3", "-sess_out", sess, linger=0.3)
    r = s_client(srv.tls_port, "-tls1_3", "-sess_in", sess)
    check("no application protocol" in r.stderr, f"resumed without ALPN: {r.stderr[-300:]}")
    r = s_client(srv.tls_port, "-tls1_3", "-alpn", "http/1.1,h2", "-sess_in", sess)
    check("Reused, TLSv1.3" in r.stdout and "ALPN protocol: h2" in r.stdout,
          f"resumed offering http/1.1,h2: {r.stdout[:300]}")
    say_hello_tls(st, pki, srv)
    m = srv.metrics()
    m.expect("uringrpc_tls_handshake_failures_total", 3, reason="alpn")
    m.expect("uringrpc_tls_handshakes_resumed_total", 1)
    for reason in ("protocol", "client_certificate", "timeout"):
        m.expect("uringrpc_tls_handshake_failures_total", 0, reason=reason)
    ok = m.get("uringrpc_tls_handshakes_total")
    check(ok >= 4, f"4 handshakes (3 s_client, grpcio) counted as {ok:g}")
    log("ALPN: h2 negotiated; http/1.1 and no ALPN alerted (also when resuming); counted")


def case_key_exchange(st, pki, srv):
    for group in ("X25519", "P-256"):
        r = s_client(srv.tls_port, "-alpn", "h2", "-tls1_3", "-groups", group)
        check("ALPN protocol: h2" in r.stdout, f"-groups {group}: {r.stdout[-300:]}")
        log(f"{group}: {[l for l in r.stdout.splitlines() if 'Server Temp Key' in l]}")
    # An RSA certificate works as well as the ECDSA one.
    d = pki.dir
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/rsa.key", "-out",
            f"{d}/rsa.pem", "-days", "2", "-subj", "/CN=localhost", "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1")
    with Server(harness_args.server, "--tls-listen", "127.0.0.1:0", "--tls-cert",
                f"{d}/rsa.pem", "--tls-key", f"{d}/rsa.key") as rsa:
        r = s_client(rsa.tls_port, "-alpn", "h2", "-tls1_3", "-CAfile", f"{d}/rsa.pem")
        check("ALPN protocol: h2" in r.stdout and "Verify return code: 0 (ok)" in r.stdout,
              f"RSA certificate: {r.stdout[-300:]}")
        with tls_channel(pki, rsa.tls_port, ca="rsa.pem") as ch:
            got = st.hw_grpc.GreeterStub(ch).SayHello(st.hw.HelloRequest(name="rsa"),
                                                      timeout=10).message
            check(got == "Hello rsa", f"grpcio with an RSA server certificate -> {got!r}")
        rsa.stop()
    log("X25519, P-256; ECDSA and RSA certificates")


def case_versions(st, pki, srv):
    r = s_client(srv.tls_port, "-tls1_2", "-alpn", "h2")
    check("protocol version" in r.stderr or "alert" in r.stderr,
          f"TLS 1.2 must be refused by default: {r.stderr[-300:]} {r.stdout[-300:]}")
    check("ALPN protocol: h2" not in r.stdout, "TLS 1.2 served by default")
    with Server(harness_args.server, *pki.server_args(), "--tls12") as srv12:
        r = s_client(srv12.tls_port, "-tls1_2", "-alpn", "h2", "-CAfile", pki.path("ca.pem"))
        check("ALPN protocol: h2" in r.stdout and "TLSv1.2" in r.stdout,
              f"--tls12 accepts TLS 1.2: {r.stdout[-400:]}")
        check("ECDHE" in r.stdout, "a TLS 1.2 suite with ECDHE")
        say_hello_tls(st, pki, srv12)
        srv12.stop()
    log("TLS 1.2: refused by default, ECDHE+AEAD with --tls12")


def raw(port, data, hold=0.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        if data:
            s.sendall(data)
        time.sleep(hold)
        s.settimeout(5)
        try:
            return s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            return b""
    finally:
        s.close()


def case_hostile(st, pki, srv):
    say_hello_tls(st, pki, srv, "warm")
    base = harness.rss_kib(srv.proc.pid)
    for _ in range(100):
        raw(srv.tls_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
        raw(srv.tls_port, os.urandom(3000))
    grown = harness.rss_kib(srv.proc.pid) - base
    log(f"RSS after 200 hostile connections: +{grown} KiB")
    check(grown < 16 * 1024, f"200 refused connections grew the server by {grown} KiB")
    hello = bytes.fromhex("16030100f8010000f40303") + os.urandom(60)
    raw(srv.tls_port, hello)  # truncated: the server waits, then closes at the timeout
    # A client that stalls mid-handshake is closed by the server at --tls-handshake-timeout.
    s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10)
    s.sendall(hello[:20])
    start = time.monotonic()
    s.settimeout(10)
    got = s.recv(10)
    waited = time.monotonic() - start
    s.close()
    check(got == b"" and waited >= 0.2, f"stalled handshake: recv {got!r} after {waited:.2f} s")
    log(f"stalled handshake closed after {waited:.2f} s (timeout 500 ms)")
    say_hello_tls(st, pki, srv, "after")
    # 202 connections that never finished a handshake: each is one failure, whatever its reason
    # (HTTP/1.1 bytes fail at once; random ones fail, or wait for a record that never comes
    # until the timeout, or end with the client).
    m = srv.metrics()
    failed = {r: m.get("uringrpc_tls_handshake_failures_total", reason=r)
              for r in ("protocol", "alpn", "client_certificate", "timeout", "eof")}
    log(f"handshake failures by reason: {failed}")
    check(sum(failed.values()) == 202, f"202 failed handshakes counted as {failed}")
    check(failed["protocol"] >= 100 and failed["timeout"] >= 2, f"by reason: {failed}")


def case_bad_files(st, pki, srv):
    # Another P-256 key: the same kind as the certificate's, but not its own.
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", pki.path("wrong.key"))
    for extra, want in [(["--tls-cert", pki.path("nope.pem"), "--tls-key", pki.path("srv.key")],
                         "certificate"),
                        (["--tls-cert", pki.path("srv.pem"), "--tls-key", pki.path("nope.key")],
                         "private key"),
                        (["--tls-cert", pki.path("ext"), "--tls-key", pki.path("srv.key")],
                         "certificate"),
                        (["--tls-cert", pki.path("srv.pem"), "--tls-key", pki.path("wrong.key")],
                         "does not match the certificate")]:
        r = harness.run_cmd([harness_args.server, "--listen", "127.0.0.1:0", "--tls-listen",
                             "127.0.0.1:0", *extra], timeout=20)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        check(r.returncode == 1 and len(lines) == 1 and want in lines[0],
              f"{extra}: rc {r.returncode}, stderr {r.stderr!r}")
        log(f"bad TLS files: {lines[0]}")


def who_am_i(st, pki, port, client):
    with tls_channel(pki, port, client=client) as ch:
        return st.demo_grpc.DemoStub(ch).WhoAmI(st.hw.HelloRequest(), timeout=10).message


def refused(st, pki, port, client):
    try:
        who_am_i(st, pki, port, client)
        return False
    except grpc.RpcError as e:
        return e.code() == grpc.StatusCode.UNAVAILABLE


def case_mtls_required(st, pki, srv):
    with Server(harness_args.server, *pki.server_args(), "--tls-client-ca",
                pki.path("ca.pem")) as m:
        check(refused(st, pki, m.tls_port, None), "no client certificate must be refused")
        check(refused(st, pki, m.tls_port, "rogue"), "a client from another CA must be refused")
        got = who_am_i(st, pki, m.tls_port, "svid")
        check(got == "spiffe=spiffe://example.org/ns/prod/sa/web verified=1 subject=/CN=svid "
              "sni=localhost", f"WhoAmI with an SVID -> {got!r}")
        res = m.stop()
        check("client certificate rejected" in res.stderr or "handshake failed" in res.stderr,
              f"no log line for the refused handshakes: {res.stderr!r}")
    log(f"mTLS required: anonymous and rogue refused, SVID served as {got!r}")


def case_mtls_reasons(st, pki, srv):
    """Each refused client certificate gets its TLS alert and one log line naming why."""
    cases = [("expired", "certificate expired", "certificate has expired"),
             ("srvonly", "bad certificate", "extendedKeyUsage does not allow clientAuth"),
             ("nosig", "bad certificate", "keyUsage does not allow digitalSignature"),
             ("rogue", "unknown ca", "its issuer is not in the --tls-client-ca bundle"),
             (None, "certificate required", "none was sent")]
    for mode in ("required", "optional"):
        with Server(harness_args.server, *pki.server_args(), "--tls-client-ca",
                    pki.path("ca.pem"), "--tls-client-auth", mode, *harness.ADMIN) as m:
            for name, alert, _ in cases:
                if name is None and mode == "optional":
                    continue  # anonymous clients are served in optional mode
                check(refused(st, pki, m.tls_port, name), f"{mode}: {name} must be refused")
                cert = ["-cert", pki.path(f"{name}.pem"), "-key", pki.path(f"{name}.key")] \
                    if name else []
                r = s_client(m.tls_port, "-alpn", "h2", "-tls1_3", *cert, linger=0.3)
                check(f"alert {alert}" in r.stderr, f"{mode}: {name}: no '{alert}' alert: "
                      f"{r.stderr[-300:]}")
            check(who_am_i(st, pki, m.tls_port, "svid").startswith("spiffe=spiffe://"),
                  "a good client after the refused ones")
            refusals = sum(1 for name, _, _ in cases if name or mode == "required")
            # Each refusal: one s_client, and grpcio's attempt(s) at its call.
            name = "uringrpc_tls_handshake_failures_total"
            seen = m.wait_metrics(
                lambda x: x.get(name, reason="client_certificate") >= 2 * refusals)
            got = seen.get(name, reason="client_certificate")
            others = {r: seen.get(name, reason=r) for r in ("protocol", "alpn", "timeout", "eof")}
            check(got >= 2 * refusals, f"{mode}: {got:g} client certificate failures counted "
                                       f"for {refusals} refusals by grpcio and s_client each "
                                       f"(other reasons: {others})")
            res = m.stop()
            lines = [l for l in res.stderr.splitlines() if "client certificate rejected" in l]
            for name, _, why in cases:
                if name is None and mode == "optional":
                    continue
                check(any(why in l for l in lines), f"{mode}: no line naming '{why}': {lines}")
            failed = [l for l in res.stderr.splitlines() if "TLS handshake failed" in l]
            check(not failed, f"a second line about a refused certificate: {failed}")
        log(f"mTLS {mode}: expired, serverAuth-only, no digitalSignature, unknown CA"
            + (", none" if mode == "required" else "") + " refused with alert and reason")


def case_mtls_optional(st, pki, srv):
    with Server(harness_args.server, *pki.server_args(), "--tls-client-ca",
                pki.path("ca.pem"), "--tls-client-auth", "optional") as m:
        got = who_am_i(st, pki, m.tls_port, None)
        check(got == "spiffe=- verified=0 subject=- sni=localhost", f"anonymous -> {got!r}")
        got = who_am_i(st, pki, m.tls_port, "plain")
        check(got == "spiffe=- verified=1 subject=/CN=plain sni=localhost",
              f"non-SPIFFE client -> {got!r}")
        # X.509-SVID rules: two URI SANs, or a CA certificate, carry no SPIFFE ID.
        for name in ("twouri", "cacert"):
            got = who_am_i(st, pki, m.tls_port, name)
            check(got.startswith("spiffe=- verified=1"), f"{name} -> {got!r}")
        got = who_am_i(st, pki, m.tls_port, "svid")
        check(got.startswith("spiffe=spiffe://example.org/ns/prod/sa/web verified=1"),
              f"SVID -> {got!r}")
        with grpc.insecure_channel(f"127.0.0.1:{m.port}") as ch:
            got = st.demo_grpc.DemoStub(ch).WhoAmI(st.hw.HelloRequest(), timeout=10).message
            check(got == "plaintext", f"plaintext listener -> {got!r}")
        m.stop()
    log("mTLS optional: anonymous, plain certificate and SVID all served, identities right")


def serial_of(port):
    r = s_client(port, "-alpn", "h2", "-showcerts")
    pem = r.stdout[r.stdout.find("-----BEGIN CERTIFICATE-----"):]
    pem = pem[:pem.find("-----END CERTIFICATE-----") + 25]
    out = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem,
                         capture_output=True, text=True, timeout=20)
    return out.stdout.strip()


def new_server_cert(pki, tag):
    d = pki.dir
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{d}/{tag}.key", "-out", f"{d}/{tag}.csr", "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", f"{d}/{tag}.csr", "-CA", f"{d}/ca.pem", "-CAkey",
            f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/{tag}.pem", "-days", "2",
            "-extfile", f"{d}/ext")


def install(pki, tag):
    """Replaces srv.pem/srv.key the way an agent does: write aside, rename over."""
    for ext in ("pem", "key"):
        os.replace(pki.path(f"{tag}.{ext}"), pki.path(f"srv.{ext}"))


def case_resumption(st, pki, srv):
    sess = pki.path("sess")
    r = s_client(srv.tls_port, "-alpn", "h2", "-sess_out", sess, linger=0.3)
    check("New, TLSv1.3" in r.stdout, f"first handshake: {r.stdout[:200]}")
    reused = sum("Reused, TLSv1.3" in s_client(srv.tls_port, "-alpn", "h2", "-sess_in",
                                                sess).stdout for _ in range(16))
    check(reused == 16, f"{reused} of 16 connections resumed the session")
    m = srv.metrics()
    m.expect("uringrpc_tls_handshakes_resumed_total", 16)
    m.expect("uringrpc_tls_handshakes_total", 17)
    res = srv.stop()
    served = [x for x in res.stats if x["connections"] > 0]
    check(len(served) > 1, f"all connections on one shard: {res.stats}")
    log(f"16/16 resumed across {len(served)} shards")
    # Ticket keys rotate: with a 1 s lifetime a ticket resumes at once and no longer after
    # two lifetimes (its key is then gone).
    with Server(harness_args.server, *pki.server_args(), "--tls-ticket-lifetime", "1") as short:
        r = s_client(short.tls_port, "-alpn", "h2", "-sess_out", sess, linger=0.3)
        check("Reused, TLSv1.3" in s_client(short.tls_port, "-alpn", "h2", "-sess_in",
                                            sess).stdout, "a fresh ticket must resume")
        time.sleep(2.5)
        r = s_client(short.tls_port, "-alpn", "h2", "-sess_in", sess)
        check("New, TLSv1.3" in r.stdout, f"a ticket past two key lifetimes resumed: {r.stdout[:200]}")
        short.stop()
    log("ticket keys rotate: fresh ticket resumed, one past two lifetimes refused")


def case_rotation_sighup(st, pki, srv):
    before = serial_of(srv.tls_port)
    with tls_channel(pki, srv.tls_port) as ch:
        greeter = st.hw_grpc.GreeterStub(ch)
        check(greeter.SayHello(st.hw.HelloRequest(name="a"), timeout=10).message == "Hello a", "")
        new_server_cert(pki, "next")
        install(pki, "next")
        os.kill(srv.proc.pid, signal.SIGHUP)
        after = before
        for _ in range(50):
            time.sleep(0.1)
            after = serial_of(srv.tls_port)
            if after != before:
                break
        check(after != before, f"serial still {before} after SIGHUP")
        # The connection made before the rotation goes on.
        check(greeter.SayHello(st.hw.HelloRequest(name="b"), timeout=10).message == "Hello b",
              "the old connection after rotation")
    say_hello_tls(st, pki, srv, "new")
    with open(pki.path("srv.pem"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    os.kill(srv.proc.pid, signal.SIGHUP)
    time.sleep(0.5)
    check(serial_of(srv.tls_port) == after, "a corrupt file replaced the working certificate")
    res = srv.stop()
    check("TLS reload failed, keeping the current certificate" in res.stderr,
          f"no line for the failed reload: {res.stderr!r}")
    log(f"SIGHUP: {before} -> {after}; old connection kept; corrupt file refused")


def case_rotation_watch(st, pki, srv):
    before = serial_of(srv.tls_port)
    new_server_cert(pki, "next")
    install(pki, "next")
    after = before
    for _ in range(100):  # the server looks every second
        time.sleep(0.1)
        after = serial_of(srv.tls_port)
        if after != before:
            break
    check(after != before, f"rewritten files not picked up: serial still {before}")
    say_hello_tls(st, pki, srv, "watched")
    log(f"file watch: {before} -> {after}")


CASES = {"key_exchange": case_key_exchange, "resumption": case_resumption, "rotation_sighup": case_rotation_sighup,
         "rotation_watch": case_rotation_watch, "mtls_required": case_mtls_required, "mtls_optional": case_mtls_optional,
         "mtls_reasons": case_mtls_reasons,
         "grpcio": case_grpcio, "alpn": case_alpn, "versions": case_versions,
         "hostile": case_hostile, "bad_files": case_bad_files}
harness_args = None


def run_case(args):
    global harness_args
    harness_args = args
    if grpc is None:
        raise Skip("python3-grpcio is not installed for /usr/bin/python3")
    st = harness.Stubs(args.proto_dir)
    pki = Pki()
    with Server(args.server, *pki.server_args(), "--tls-handshake-timeout", "500",
                *harness.ADMIN) as srv:
        check(srv.tls_port, "no tls= in the startup line")
        CASES[args.case](st, pki, srv)
        if srv.result is None:
            srv.stop()


def main():
    harness.run_cases({k: run_case for k in CASES}, harness.parse_args())


if __name__ == "__main__":
    main()

"""A throwaway PKI made with the openssl command at test time, for the TLS and authorization
tests: a CA ("ca"), an unrelated second CA ("other"), a server certificate for localhost and
127.0.0.1 signed by "ca", and client certificates on demand (Pki.client), each with the
subjectAltName it is given (a SPIFFE ID is a URI SAN) and CN=<name>.

Files live in a private temporary directory removed with the object: <name>.pem, <name>.key.
"""
import os
import subprocess
import tempfile

from harness import TestFailure

try:
    import grpc
except ImportError:
    grpc = None

EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")


def openssl(*args, **kw):
    r = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30, **kw)
    if r.returncode != 0:
        raise TestFailure(f"openssl {' '.join(args)}: {r.stderr}")
    return r


class Pki:
    def __init__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="urpc-pki-")
        d = self.dir = self._tmp.name
        for ca in ("ca", "other"):
            openssl("req", "-x509", *EC_KEY, "-keyout", f"{d}/{ca}.key", "-out", f"{d}/{ca}.pem",
                    "-days", "2", "-subj", f"/CN={ca} test CA")
        openssl("req", *EC_KEY, "-keyout", f"{d}/srv.key", "-out", f"{d}/srv.csr",
                "-subj", "/CN=localhost")
        with open(f"{d}/ext", "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", f"{d}/srv.csr", "-CA", f"{d}/ca.pem", "-CAkey",
                f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/srv.pem", "-days", "2",
                "-extfile", f"{d}/ext")

    def client(self, name, san, ca="ca", is_ca=False):
        """A client certificate <name>.pem/.key signed by `ca`: CN=<name>, subjectAltName `san`
        (e.g. "URI:spiffe://example.org/ns/prod/sa/web"), extendedKeyUsage clientAuth unless
        it is a CA certificate."""
        d = self.dir
        openssl("req", *EC_KEY, "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr",
                "-subj", f"/CN={name}")
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(f"subjectAltName={san}\nbasicConstraints=CA:{str(is_ca).upper()}\n"
                    + ("" if is_ca else "extendedKeyUsage=clientAuth\n"))
        openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{ca}.pem",
                "-CAkey", f"{d}/{ca}.key", "-CAcreateserial", "-out", f"{d}/{name}.pem",
                "-days", "2", "-extfile", f"{d}/{name}.ext")

    def path(self, name):
        return os.path.join(self.dir, name)

    def server_args(self):
        return ["--tls-listen", "127.0.0.1:0", "--tls-cert", self.path("srv.pem"),
                "--tls-key", self.path("srv.key")]


def tls_channel(pki, port, ca="ca.pem", client=None):
    """A grpcio channel to 127.0.0.1:port over TLS, verifying the server against `ca`, with the
    client certificate `client` (a name given to Pki.client) or none."""
    def read(name):
        with open(pki.path(name), "rb") as f:
            return f.read()
    if client:
        creds = grpc.ssl_channel_credentials(read(ca), read(f"{client}.key"),
                                             read(f"{client}.pem"))
    else:
        creds = grpc.ssl_channel_credentials(read(ca))
    return grpc.secure_channel(f"127.0.0.1:{port}", creds,
                               options=[("grpc.ssl_target_name_override", "localhost")])

"""Cases 30-31 (tests/conformance/README.md) and docs/install.md "TLS and mTLS": TLS and mTLS on the gRPC port, with
certificate rotation without a restart. Certificates are made here with the openssl CLI."""

import hashlib
import os
import socket
import ssl
import subprocess
import threading
import time

import grpc
import pytest

import harness as h

ROTATION_WAIT_S = 12  # the server re-reads its files every 2 s; generous for a loaded machine


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


class Pki:
    """A throwaway CA with server and client certificates (EC P-256), in one directory."""

    def __init__(self, root, name):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.ca_key, self.ca = self.path("ca.key"), self.path("ca.crt")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", self.ca_key, "-out", self.ca, "-subj", f"/CN={name}-ca", "-days", "2", cwd=self.dir)

    def path(self, f):
        return os.path.join(self.dir, f)

    def issue(self, stem, usage, san="DNS:localhost,IP:127.0.0.1"):
        key, csr, crt, ext = (self.path(f"{stem}.{x}") for x in ("key", "csr", "crt", "ext"))
        with open(ext, "w") as f:
            f.write(f"subjectAltName={san}\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                 "-out", csr, "-subj", f"/CN={stem}", cwd=self.dir)
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-set_serial",
                 str(int.from_bytes(os.urandom(8), "big")), "-days", "2", "-out", crt, "-extfile", ext, cwd=self.dir)
        return crt, key


def read(p):
    with open(p, "rb") as f:
        return f.read()


class SecretDir:
    """A Kubernetes-style Secret volume: tls.crt/tls.key/ca.crt are symlinks through ..data, and
    a rotation swaps ..data atomically (what the kubelet does, and what gRPC's file watcher
    recommends)."""

    def __init__(self, root):
        self.dir = os.path.join(root, "secret")
        os.makedirs(self.dir, exist_ok=True)
        self.version = 0
        for f in ("tls.crt", "tls.key", "ca.crt"):
            os.symlink(os.path.join("..data", f), os.path.join(self.dir, f))

    def put(self, files):
        self.version += 1
        vdir = os.path.join(self.dir, f"..v{self.version}")
        os.makedirs(vdir)
        for name, src in files.items():
            with open(os.path.join(vdir, name), "wb") as f:
                f.write(read(src))
        tmp = os.path.join(self.dir, "..data_tmp")
        os.symlink(f"..v{self.version}", tmp)
        os.replace(tmp, os.path.join(self.dir, "..data"))

    def path(self, f):
        return os.path.join(self.dir, f)


def served_cert(port, server_hostname="127.0.0.1"):
    """DER of the certificate the server presents to a new TLS connection."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
            return tls.getpeercert(binary_form=True)


def handshake(port, ca, version=None, alpn=("h2",), server_hostname="127.0.0.1", seclevel0=False):
    """(protocol version, ALPN) of a verified handshake, or raises ssl.SSLError/OSError."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    if seclevel0:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
            return tls.version(), tls.selected_alpn_protocol()


def tls_channel(target, ca, cert=None, key=None, name_override=None):
    creds = grpc.ssl_channel_credentials(root_certificates=read(ca), private_key=read(key) if key else None,
                                         certificate_chain=read(cert) if cert else None)
    opts = [("grpc.use_local_subchannel_pool", 1)]
    if name_override:
        opts.append(("grpc.ssl_target_name_override", name_override))
    return grpc.secure_channel(target, creds, options=opts)


def call_ok(ch, pod_url, timeout=3):
    """True when GetMetricSpec works over the channel; False on a failed handshake."""
    c = h.Client(ch)
    try:
        c.spec(c.ref(h.unique("tls"), h.metadata(pod_url)), timeout=timeout)
        return True
    except grpc.RpcError as e:
        assert e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), e
        return False


@pytest.fixture(scope="module")
def pki(workdir):
    root = os.path.join(workdir, f"pki-{os.getpid()}")
    a, b = Pki(root, "a"), Pki(root, "b")
    return {"a": a, "b": b, "a_server": a.issue("server", "serverAuth"), "a_server2": a.issue("server2", "serverAuth"),
            "b_server": b.issue("server", "serverAuth"), "a_client": a.issue("client", "clientAuth", "DNS:keda"),
            "b_client": b.issue("client", "clientAuth", "DNS:keda")}


def tls1_1_possible_locally(tmpdir, cert, key):
    """Control for the TLS 1.1 case: this machine's OpenSSL can speak TLS 1.1 to a server that
    allows it, so a refusal by nim-scaler is the server's doing."""
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    sctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        sctx.minimum_version = sctx.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        return False
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    result = {}

    def serve():
        try:
            conn, _ = srv.accept()
            with sctx.wrap_socket(conn, server_side=True) as t:
                result["v"] = t.version()
        except (OSError, ssl.SSLError) as e:
            result["err"] = e

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as t:
                ok = t.version() == "TLSv1.1"
    except (OSError, ssl.SSLError):
        ok = False
    th.join(5)
    srv.close()
    return ok


def test_case30_tls_versions_alpn_and_names(workdir, pki, pod):
    """Case 30: with caCert and a server name equal to the host in scalerAddress the client
    connects; ALPN h2 is negotiated; TLS 1.2 and 1.3 are accepted and TLS 1.1 is refused."""
    a = pki["a"]
    crt, key = pki["a_server"]
    s = h.Scaler(["--tls-cert", crt, "--tls-key", key], workdir=workdir)
    try:
        assert "tls=on" in s.log()
        assert handshake(s.grpc_port, a.ca, ssl.TLSVersion.TLSv1_3) == ("TLSv1.3", "h2")
        assert handshake(s.grpc_port, a.ca, ssl.TLSVersion.TLSv1_2) == ("TLSv1.2", "h2")
        assert handshake(s.grpc_port, a.ca, server_hostname="localhost")[1] == "h2"
        assert tls1_1_possible_locally(workdir, crt, key), "control failed: local OpenSSL cannot do TLS 1.1"
        with pytest.raises((ssl.SSLError, OSError)):
            handshake(s.grpc_port, a.ca, ssl.TLSVersion.TLSv1_1, seclevel0=True)
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(s.grpc_port, a.ca, server_hostname="not-the-server")  # name checking works
        for target, override in ((s.target, None), (f"localhost:{s.grpc_port}", None), (s.target, "localhost")):
            ch = tls_channel(target, a.ca, name_override=override)
            assert call_ok(ch, pod.url), target
            ch.close()
        ch = tls_channel(s.target, pki["b"].ca)  # a client trusting another CA refuses the server
        assert not call_ok(ch, pod.url)
        ch.close()
        plain = grpc.insecure_channel(s.target, options=[("grpc.use_local_subchannel_pool", 1)])
        assert not call_ok(plain, pod.url)  # h2c is not served on a TLS port
        plain.close()
    finally:
        s.stop()


def test_case31_mtls_requires_a_client_certificate(workdir, pki, pod):
    """Case 31: with --tls-client-ca a client certificate and key (PEM, as a
    TriggerAuthentication delivers them) are accepted; no certificate, or one from another CA,
    fails the handshake."""
    a = pki["a"]
    crt, key = pki["a_server"]
    s = h.Scaler(["--tls-cert", crt, "--tls-key", key, "--tls-client-ca", a.ca], workdir=workdir)
    try:
        assert "tls=mutual" in s.log()
        ccrt, ckey = pki["a_client"]
        ch = tls_channel(s.target, a.ca, ccrt, ckey)
        assert call_ok(ch, pod.url)
        w = h.StreamWatch(h.Client(ch).stub.StreamIsActive(h.Client(ch).ref(h.unique("m"), h.metadata(pod.url))))
        time.sleep(0.2)
        assert w.code is None
        w.cancel()
        ch.close()
        ch = tls_channel(s.target, a.ca)  # no client certificate
        assert not call_ok(ch, pod.url)
        ch.close()
        bcrt, bkey = pki["b_client"]
        ch = tls_channel(s.target, a.ca, bcrt, bkey)  # certificate from an untrusted CA
        assert not call_ok(ch, pod.url)
        ch.close()
    finally:
        s.stop()


def test_tls_rotation_without_restart(workdir, pki, pod):
    """docs/install.md "TLS and mTLS": the certificate files are re-read when they change. A Kubernetes-style
    Secret swap to a certificate from another CA, and a new client CA, take effect for new
    connections within seconds, with the same process; an established connection keeps
    working."""
    a, b = pki["a"], pki["b"]
    secret = SecretDir(os.path.join(workdir, f"rot-{os.getpid()}"))
    secret.put({"tls.crt": pki["a_server"][0], "tls.key": pki["a_server"][1], "ca.crt": a.ca})
    s = h.Scaler(["--tls-cert", secret.path("tls.crt"), "--tls-key", secret.path("tls.key"),
                  "--tls-client-ca", secret.path("ca.crt")], workdir=workdir)
    try:
        pid = s.pid
        first = served_cert(s.grpc_port)
        assert first is not None
        old = tls_channel(s.target, a.ca, *pki["a_client"])
        assert call_ok(old, pod.url)

        t0 = time.monotonic()
        secret.put({"tls.crt": pki["b_server"][0], "tls.key": pki["b_server"][1], "ca.crt": b.ca})
        want = ssl.PEM_cert_to_DER_cert(read(pki["b_server"][0]).decode())
        while time.monotonic() - t0 < ROTATION_WAIT_S and served_cert(s.grpc_port) != want:
            time.sleep(0.2)
        took = time.monotonic() - t0
        print(f"rotation: new certificate served {took:.1f}s after the Secret swap")
        assert served_cert(s.grpc_port) == want, "server still presents the old certificate"
        assert s.proc.poll() is None and s.pid == pid

        new = tls_channel(s.target, b.ca, *pki["b_client"])
        assert call_ok(new, pod.url)  # new server cert and new client CA
        new.close()
        stale = tls_channel(s.target, a.ca, *pki["a_client"])
        assert not call_ok(stale, pod.url)  # old CA no longer verifies the server, old client refused
        stale.close()
        mixed = tls_channel(s.target, b.ca, *pki["a_client"])
        assert not call_ok(mixed, pod.url)  # client cert from the CA that was rotated out
        mixed.close()
        assert call_ok(old, pod.url)  # the connection made before the rotation still works
        old.close()
    finally:
        s.stop()


def test_tls_rotation_by_overwriting_files(workdir, pki, pod):
    """Rotation also works when the files are replaced in place (key first, then certificate,
    each by rename), as cert-manager's csi driver or a script would."""
    d = os.path.join(workdir, f"plain-{os.getpid()}")
    os.makedirs(d, exist_ok=True)
    crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")

    def put(src, dst):
        tmp = dst + ".tmp"
        with open(tmp, "wb") as f:
            f.write(read(src))
        os.replace(tmp, dst)

    put(pki["a_server"][0], crt)
    put(pki["a_server"][1], key)
    s = h.Scaler(["--tls-cert", crt, "--tls-key", key], workdir=workdir)
    try:
        put(pki["a_server2"][1], key)
        put(pki["a_server2"][0], crt)
        want = ssl.PEM_cert_to_DER_cert(read(pki["a_server2"][0]).decode())
        t0 = time.monotonic()
        while time.monotonic() - t0 < ROTATION_WAIT_S and served_cert(s.grpc_port) != want:
            time.sleep(0.2)
        assert served_cert(s.grpc_port) == want
        ch = tls_channel(s.target, pki["a"].ca)
        assert call_ok(ch, pod.url)
        ch.close()
    finally:
        s.stop()


@pytest.mark.parametrize("flags,needle", [
    (lambda p, w: ["--tls-cert", os.path.join(w, "missing.crt"), "--tls-key", p["a_server"][1]], "--tls-cert"),
    (lambda p, w: ["--tls-cert", p["a_server"][0], "--tls-key", p["a_server"][0]], "--tls-key"),
    (lambda p, w: ["--tls-cert", p["a_server"][1], "--tls-key", p["a_server"][1]], "--tls-cert"),
    (lambda p, w: ["--tls-cert", p["a_server"][0], "--tls-key", p["a_server"][1],
                   "--tls-client-ca", os.path.join(w, "missing-ca.crt")], "--tls-client-ca"),
    # issue 19: a pair that does not match started "healthy" with every handshake failing
    (lambda p, w: ["--tls-cert", p["a_server"][0], "--tls-key", p["a_server2"][1]],
     "does not match the certificate in --tls-cert"),
    (lambda p, w: ["--tls-cert", _write(w, "garbage.crt", b"-----BEGIN CERTIFICATE-----\nnot base64!\n"
                                                         b"-----END CERTIFICATE-----\n"),
                   "--tls-key", p["a_server"][1]], "certificate 1 does not parse"),
    (lambda p, w: ["--tls-cert", _write(w, "empty.crt", b""), "--tls-key", p["a_server"][1]], "is empty"),
])
def test_tls_bad_files_fail_at_startup(workdir, pki, flags, needle):
    """A missing or wrong PEM file, or a key that does not match the certificate, is a startup
    error naming the flag and the problem (exit code 2)."""
    with pytest.raises(RuntimeError) as e:
        s = h.Scaler(flags(pki, workdir), workdir=workdir)
        s.stop()
    assert "exited with 2" in str(e.value)
    assert needle in str(e.value)


def _write(d, name, data):
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_tls_survives_truncated_garbage_and_mismatched_files(workdir, pki, pod):
    """issue 19 item 2 and the TLS items: a certificate emptied in place (a non-atomic rewrite)
    used to trip an assertion in gRPC's file watcher within 2 s, and garbage or a mismatched
    pair swapped in was not survived. Now the server keeps serving the last good pair through
    each of them, logs why, and serves the next good pair after an atomic swap."""
    d = os.path.join(workdir, f"bad-{os.getpid()}")
    os.makedirs(d, exist_ok=True)
    crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
    _write(d, "tls.crt", read(pki["a_server"][0]))
    _write(d, "tls.key", read(pki["a_server"][1]))
    s = h.Scaler(["--tls-cert", crt, "--tls-key", key], workdir=workdir)
    first = ssl.PEM_cert_to_DER_cert(read(pki["a_server"][0]).decode())

    def settle(needle):
        # The scaler re-reads the files every 2 s and logs a bad one once; then one more second
        # for gRPC's own re-read of its checked copies (where an emptied file used to abort).
        t0 = time.monotonic()
        while needle not in s.log() and time.monotonic() - t0 < 6.0:
            time.sleep(0.1)
        time.sleep(1.0)

    def still_serving(what):
        assert s.proc.poll() is None, f"{what}: the server died:\n{s.log()[-3000:]}"
        assert served_cert(s.grpc_port) == first, f"{what}: not the last good certificate"
        ch = tls_channel(s.target, pki["a"].ca)
        assert call_ok(ch, pod.url), f"{what}: a TLS call failed"
        ch.close()

    try:
        still_serving("start")
        with open(crt, "wb"):
            pass  # truncated in place
        settle("is empty")
        still_serving("emptied certificate")
        _write(d, "tls.crt", b"\x00garbage\xff" * 100)
        _write(d, "tls.key", b"more garbage")
        settle("holds no PEM certificate")
        still_serving("garbage certificate and key")
        _write(d, "tls.crt", read(pki["a_server2"][0]))
        _write(d, "tls.key", read(pki["b_server"][1]))  # a key of another pair
        settle("does not match")
        still_serving("mismatched pair")
        log = s.log()
        assert "is empty" in log and "holds no PEM certificate" in log and "does not match" in log, log[-3000:]

        # A good pair, each file replaced atomically: served within a few seconds.
        for src, dst in ((pki["a_server2"][1], key), (pki["a_server2"][0], crt)):
            tmp = dst + ".tmp"
            _write(d, os.path.basename(tmp), read(src))
            os.replace(tmp, dst)
        want = ssl.PEM_cert_to_DER_cert(read(pki["a_server2"][0]).decode())
        t0 = time.monotonic()
        while time.monotonic() - t0 < ROTATION_WAIT_S and served_cert(s.grpc_port) != want:
            time.sleep(0.2)
        assert served_cert(s.grpc_port) == want
        ch = tls_channel(s.target, pki["a"].ca)
        assert call_ok(ch, pod.url)
        ch.close()
        assert s.proc.poll() is None
    finally:
        s.stop()


def test_fingerprint_helper_sanity(pki):
    """The rotation tests compare DER certificates; distinct certificates must differ."""
    d1 = ssl.PEM_cert_to_DER_cert(read(pki["a_server"][0]).decode())
    d2 = ssl.PEM_cert_to_DER_cert(read(pki["b_server"][0]).decode())
    assert hashlib.sha256(d1).digest() != hashlib.sha256(d2).digest()

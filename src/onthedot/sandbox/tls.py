"""A self-signed certificate for 127.0.0.1 / localhost / ::1, made once per process with openssl."""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CertPair:
    """PEM certificate and private key; the certificate is its own CA (pass it as ``cafile``)."""

    cert: Path
    key: Path


_lock = threading.Lock()
_cached: CertPair | None = None


def _generate(into: Path) -> CertPair:
    pair = CertPair(cert=into / "cert.pem", key=into / "key.pem")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-keyout",
            str(pair.key),
            "-out",
            str(pair.cert),
        ],
        check=True,
        capture_output=True,
    )
    return pair


def self_signed_cert() -> CertPair:
    """The process-wide test certificate (generated on first use, deleted at exit)."""
    global _cached
    with _lock:
        if _cached is None:
            into = Path(tempfile.mkdtemp(prefix="onthedot-tls-"))
            atexit.register(shutil.rmtree, into, ignore_errors=True)
            _cached = _generate(into)
        return _cached


def copy_cert(into: Path) -> CertPair:
    """Copy the test certificate into a server's own dir (some servers want it there)."""
    source = self_signed_cert()
    pair = CertPair(cert=into / "cert.pem", key=into / "key.pem")
    shutil.copyfile(source.cert, pair.cert)
    shutil.copyfile(source.key, pair.key)
    pair.key.chmod(0o600)
    return pair

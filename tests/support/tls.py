"""A throw-away certificate for https tests, made with the openssl command (skip when it is missing)."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

from support.procs import require


def make_certificate(directory: Path, *, names: str = "IP:127.0.0.1,DNS:localhost") -> tuple[Path, Path]:
    """A self-signed certificate (its own CA) for ``names``; returns (certificate, key) paths."""
    openssl = require("openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    argv = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    argv += ["-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=healthgauge test"]
    argv += ["-addext", f"subjectAltName={names}"]
    subprocess.run(
        argv,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context

"""A certificate valid only in 2020 (long expired), made with ``openssl ca`` (``req`` cannot set dates)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from support.procs import require

CONFIG = """
[ ca ]
default_ca = ca_default
[ ca_default ]
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[ anything ]
commonName = supplied
"""


def make_expired_certificate(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, valid from 2020-01-01 to 2020-01-02."""
    openssl = require("openssl")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.txt").write_text("")
    (directory / "serial").write_text("01\n")
    config = directory / "ca.cnf"
    config.write_text(CONFIG.format(dir=directory))
    cert, key, csr = directory / "expired.pem", directory / "expired-key.pem", directory / "expired.csr"
    run = {"check": True, "capture_output": True, "timeout": 60}
    subprocess.run(
        [
            openssl,
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(csr),
            "-subj",
            "/CN=expired",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        **run,  # type: ignore[call-overload]
    )
    subprocess.run(
        [
            openssl,
            "ca",
            "-batch",
            "-config",
            str(config),
            "-selfsign",
            "-keyfile",
            str(key),
            "-in",
            str(csr),
            "-out",
            str(cert),
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
            "-notext",
        ],
        **run,  # type: ignore[call-overload]
    )
    return cert, key

"""A throw-away PostgreSQL server on loopback: Debian's binaries, a temporary cluster, an ephemeral port.

``initdb`` and ``postgres`` refuse to run as root, so under root both run as the ``postgres`` user
the Debian package creates (``subprocess.Popen(user=...)``: the server stays a direct child and
is stopped by its pid). The superuser ``postgres`` has a password (scram-sha-256 over TCP), so a
wrong password is a real authentication failure. Skips when the binaries are missing
(``make test`` installs the ``postgresql`` package).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from support.procs import free_port

PASSWORD = "pg-secret-Zq81"
USER = "postgres"


def bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.skip("PostgreSQL is not installed (make test installs the Debian package postgresql)")
    return Path(found[-1]).parent


class Postgres:
    """One cluster; :meth:`start` and :meth:`stop` may be called again (same port, same data)."""

    def __init__(self, *, tls: tuple[Path, Path] | None = None) -> None:
        """``tls``: (certificate, key) PEM files; the server then accepts TLS (``ssl=on``)."""
        self.bin = bindir()
        self.tls = tls
        self.root = Path(tempfile.mkdtemp(prefix="hg-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(USER)
            except KeyError:
                pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
            self._user = USER
            shutil.chown(self.root, USER, USER)
        self._initdb()

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, argv: list[str]) -> None:
        subprocess.run(argv, check=True, capture_output=True, timeout=120, user=self._user, cwd=self.root)

    def _initdb(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._user:
            shutil.chown(pwfile, self._user, self._user)
        argv = [str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile)]
        argv += ["--auth-host=scram-sha-256", "--auth-local=trust", "--no-sync", "-E", "UTF8", "--locale=C"]
        self._run(argv)
        pwfile.unlink()

    def start(self, *, attempts: int = 5) -> None:
        for _ in range(attempts):
            self.port = self.port or free_port()
            if self._launch():
                return
            self.port = 0
        raise AssertionError(f"PostgreSQL did not start; log:\n{self.log.read_text(errors='replace')[-2000:]}")

    def _launch(self) -> bool:
        argv = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.root)]
        argv += ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=300"]
        argv += ["-c", "shared_buffers=16MB", "-c", "synchronous_commit=off"]
        if self.tls:
            argv += ["-c", "ssl=on", "-c", f"ssl_cert_file={self._private(self.tls[0])}"]
            argv += ["-c", f"ssl_key_file={self._private(self.tls[1])}"]
        out = self.log.open("ab")
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, user=self._user)
        out.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self.accepts():
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _private(self, source: Path) -> Path:
        """A copy the server's user owns with mode 0600 (PostgreSQL refuses a key others can read)."""
        copy = self.root / source.name
        shutil.copyfile(source, copy)
        copy.chmod(0o600)
        if self._user:
            shutil.chown(copy, self._user, self._user)
        return copy

    def accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return "ready to accept connections" in self.log.read_text(errors="replace").rsplit("starting", 1)[-1]
        except OSError:
            return False

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions are cut, as when a server goes away), by pid."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

    def psql(self, sql: str) -> str:
        """Run SQL through the unix socket as the superuser (trust), return its output."""
        argv = [str(self.bin / "psql"), "-h", str(self.root), "-p", str(self.port), "-U", USER, "-d", "postgres"]
        argv += ["-v", "ON_ERROR_STOP=1", "-Atc", sql]
        done = subprocess.run(argv, check=True, capture_output=True, timeout=60, user=self._user, cwd=self.root)
        return done.stdout.decode()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def postgres(*, tls: tuple[Path, Path] | None = None) -> Iterator[Postgres]:
    server = Postgres(tls=tls)
    try:
        server.start()
        yield server
    finally:
        server.close()

"""A real HAProxy (Debian 2.6) on loopback, read back through its stats socket.

What the tests assert is HAProxy's own view of each server (`show stat`, `show servers state`),
per ../shared/specs/consumers.md §3.7-3.8:

- HAProxy 2.6 rejects ``bind :0``, so a frontend port is picked free and the start is retried when
  the bind fails (``{fe_port}`` in the template). Backend-only configs need no port at all.
- The stats socket lives in a short ``tempfile.mkdtemp(prefix="hg-")`` directory: a deep pytest
  ``tmp_path`` can exceed the 108-byte ``sun_path`` limit.
- ``show stat`` is CSV with quoted descriptions, read with the csv module; ``show servers state``
  is space-separated, read by header name.
- HAProxy runs in the foreground (``-db``) as a direct child and is stopped by pid.
"""

from __future__ import annotations

import csv
import io
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from support.procs import free_port, require, stop, wait_until

#: A reply from the stats socket is small (a few KB for a handful of servers); a command that runs
#: longer than this is a hung HAProxy, not a slow one.
SOCKET_TIMEOUT = 5.0


class HAProxyError(AssertionError):
    """HAProxy refused the config or did not come up; carries its own log."""


class HAProxy:
    """One HAProxy process; use as a context manager so it is always stopped.

    ``template`` is a `str.format` template: ``{sock}`` is filled with the stats socket path and
    ``{fe_port}`` (if present) with a picked free port; every other field comes from ``fields``.
    """

    def __init__(self, workdir: Path, template: str, *, start_timeout: float = 10.0, **fields: object) -> None:
        self.binary = require("haproxy")
        self.workdir = workdir
        self.template = template
        self.fields = fields
        self.start_timeout = start_timeout
        self.sockdir = Path(tempfile.mkdtemp(prefix="hg-"))
        self.sock = str(self.sockdir / "stats")
        self.config_path = workdir / "haproxy.cfg"
        self.log_path = workdir / "haproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.fe_port = 0

    def __enter__(self) -> HAProxy:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        attempts = 5 if "{fe_port}" in self.template else 1
        for _attempt in range(attempts):
            self.fe_port = free_port()
            self.config_path.write_text(self.template.format(sock=self.sock, fe_port=self.fe_port, **self.fields))
            log = self.log_path.open("ab")
            self.proc = subprocess.Popen([self.binary, "-db", "-f", str(self.config_path)], stdout=log, stderr=log)
            log.close()
            try:
                wait_until(self._ready, timeout=self.start_timeout, what="haproxy stats socket `show info`")
                return
            except HAProxyError as exc:
                stop(self.proc)
                if "cannot bind socket" not in str(exc) and "Address already in use" not in str(exc):
                    raise
        raise HAProxyError(f"haproxy could not bind a free port in {attempts} attempts:\n{self.log()}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop(self.proc)
        shutil.rmtree(self.sockdir, ignore_errors=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise HAProxyError(f"haproxy exited {self.proc.returncode}:\n{self.log()}")
        try:
            return "Version:" in self.cmd("show info")
        except OSError:
            return False

    def cmd(self, command: str) -> str:
        """Send one command to the stats socket; the reply ends when HAProxy closes."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(SOCKET_TIMEOUT)
            s.connect(self.sock)
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def show_stat(self) -> dict[tuple[str, str], dict[str, str]]:
        """``show stat`` as {(proxy, server): {column: value}}, parsed as the CSV it is."""
        return parse_show_stat(self.cmd("show stat"))

    def servers_state(self, backend: str = "") -> dict[tuple[str, str], dict[str, str]]:
        """``show servers state`` as {(backend, server): {column: value}}, by header name."""
        return parse_servers_state(self.cmd(f"show servers state {backend}".rstrip()))

    def server(self, backend: str, server: str) -> dict[str, str]:
        """One server's ``show stat`` row merged with its ``show servers state`` row."""
        row = dict(self.show_stat()[(backend, server)])
        row.update(self.servers_state(backend)[(backend, server)])
        return row

    def wait_server(
        self, backend: str, server: str, *, timeout: float = 5.0, what: str = "", **expect: object
    ) -> dict[str, str]:
        """Poll until the server's merged row matches ``expect``; return that row.

        A value is compared with `matches`: a string prefix for ``status``, ``agent_status`` and
        ``check_status`` (they carry ``* `` and ``2/3`` decorations), exact text otherwise.
        """
        last: dict[str, str] = {}

        def settled() -> bool:
            nonlocal last
            last = self.server(backend, server)
            return all(matches(name, last.get(name, "<absent>"), want) for name, want in expect.items())

        try:
            wait_until(settled, timeout=timeout, what=what or f"{backend}/{server} {expect}")
        except AssertionError as exc:
            shown = {k: last.get(k) for k in (*expect, "status", "weight", "slim", "last_agt", "srv_admin_state")}
            raise AssertionError(f"{exc}; last seen {shown}") from None
        return last


def matches(column: str, value: str, want: object) -> bool:
    """Compare one stats column with what a test expects, tolerant of HAProxy's decorations."""
    if column in ("status", "agent_status", "check_status"):
        return value.lstrip("* ").startswith(str(want))
    return value == str(want)


def parse_show_stat(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """Parse ``show stat`` CSV: the header starts ``# pxname,svname,…``; blank rows are skipped."""
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows or not rows[0] or not rows[0][0].startswith("# "):
        raise AssertionError(f"not a `show stat` reply: {text[:200]!r}")
    head = [rows[0][0][2:], *rows[0][1:]]
    return {(row[0], row[1]): dict(zip(head, row, strict=False)) for row in rows[1:]}


def parse_servers_state(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """Parse ``show servers state``: line 1 the format version, line 2 ``# col col …``, then rows."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or lines[0].strip() != "1" or not lines[1].startswith("# "):
        raise AssertionError(f"not a `show servers state` v1 reply: {text[:200]!r}")
    head = lines[1][2:].split()
    out: dict[tuple[str, str], dict[str, str]] = {}
    for line in lines[2:]:
        row = dict(zip(head, line.split(), strict=False))
        out[(row["be_name"], row["srv_name"])] = row
    return out


def check_config(path: Path, *, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """``haproxy -c -f PATH``: HAProxy's own verdict on a config file."""
    binary = require("haproxy")
    return subprocess.run([binary, "-c", "-f", str(path)], capture_output=True, text=True, timeout=timeout, check=False)

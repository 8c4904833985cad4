"""A real ``healthgauge agent`` process on loopback, killed and restarted at will.

The agent binds port 0 and announces ``listening KEY ADDRESS`` on stdout; we read those lines to
learn its ports. `restart` reuses the same ports (HAProxy's and Envoy's configs name them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from support.procs import stop

MAIN = Path(__file__).with_name("agent_main.py")


class AgentProcess:
    """``healthgauge agent --config`` as a child process; use as a context manager."""

    def __init__(
        self,
        workdir: Path,
        config: str,
        *,
        start_timeout: float = 20.0,
        name: str = "agent",
        args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.args = args
        self.config = config
        self.name = name
        self.start_timeout = start_timeout
        self.addresses: dict[str, str] = {}
        self._reader = threading.Thread()
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = workdir / f"{name}.log"

    def __enter__(self) -> AgentProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop(self.proc)
            self._join_reader()

    def port(self, key: str) -> int:
        return int(self.addresses[key].rsplit(":", 1)[1])

    def start(self, config: str | None = None) -> None:
        """Start (again), with ``config`` if given; wait for every ``listening`` line."""
        if config is not None:
            self.config = config
        path = self.workdir / f"{self.name}.toml"
        path.write_text(self.config)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, str(MAIN), "--config", str(path), "--log-level", "info", *self.args],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
        log.close()
        self.addresses = {}
        self._read_announcements()

    def _read_announcements(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        found: dict[str, str] = {}
        done = threading.Event()
        stdout = self.proc.stdout

        def read() -> None:
            # Reads to the end of the process (so its pipe never fills), then closes it.
            with stdout:
                for line in stdout:
                    parts = line.split()
                    if len(parts) == 3 and parts[0] == "listening":
                        found[parts[1]] = parts[2]
                        if set(found) >= self.expected_keys():
                            done.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not done.wait(self.start_timeout):
            code = self.proc.poll()
            stop(self.proc)
            raise AssertionError(f"agent did not announce {self.expected_keys()} (exit {code}):\n{self.log()}")
        self.addresses = dict(found)

    def expected_keys(self) -> set[str]:
        keys = {"http"}
        for line in self.config.splitlines():
            key = line.split("=", 1)[0].strip()
            if key in ("admin", "haproxy_listen", "grpc_listen"):
                keys.add(key)
        return keys

    @property
    def config_path(self) -> Path:
        return self.workdir / f"{self.name}.toml"

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye; what a crash looks like to HAProxy."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._join_reader()

    def terminate(self, *, timeout: float = 15.0) -> int:
        """SIGTERM: the agent drains for its grace period, then exits."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._join_reader()
        return code

    def pinned_config(self) -> str:
        """This config with every port-0 listener pinned to the port it got, for a restart."""
        text = self.config
        for key, address in self.addresses.items():
            conf_key = "listen" if key == "http" else key
            text = text.replace(f'{conf_key} = "127.0.0.1:0"', f'{conf_key} = "{address}"', 1)
        return text

    def _join_reader(self) -> None:
        if self._reader.ident is not None:
            self._reader.join(timeout=5)

    def admin(self, target: str, word: str) -> dict[str, object]:
        """POST /v1/targets/<target>/<word> on the admin listener (what `healthgauge ctl` does)."""
        url = f"http://{self.addresses['admin']}/v1/targets/{target}/{word}"
        req = urllib.request.Request(url, method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=5) as resp:
            doc: dict[str, object] = json.loads(resp.read())
            return doc

    def state(self, target: str) -> dict[str, object]:
        """GET /v1/targets/<target> on the admin listener: level, admin, weight, reason, ..."""
        with urllib.request.urlopen(f"http://{self.addresses['admin']}/v1/targets/{target}", timeout=5) as resp:
            doc: dict[str, object] = json.loads(resp.read())
            return doc

    def log(self) -> str:
        time.sleep(0.05)
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

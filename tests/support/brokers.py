"""Real broker and worker processes on loopback, for the broker's tests and benchmark.

A worker is ``examples/broker/worker.py`` (aiohttp + the overload middleware), which prints
``READY {"http": port, "agent": port}``; a broker is ``healthgauge broker --config``, which prints
``listening KEY HOST:PORT`` per listener. Both bind port 0 and are stopped by pid.
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

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "examples" / "broker" / "worker.py"
START_TIMEOUT = 20.0


class Proc:
    """A child process whose stdout announces its ports; a context manager that always stops it."""

    def __init__(self, argv: list[str], log: Path, ready: str) -> None:
        self.argv = argv
        self.log_path = log
        self.ready = ready  # "READY" (a worker) or "listening" (a broker)
        self.proc: subprocess.Popen[str] | None = None
        self.ports: dict[str, int] = {}
        self._reader: threading.Thread | None = None

    def __enter__(self) -> Proc:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        found: dict[str, int] = {}
        done = threading.Event()
        stdout = self.proc.stdout
        assert stdout is not None

        def read() -> None:
            with stdout:
                for line in stdout:
                    if line.startswith("READY "):
                        found.update({k: v for k, v in json.loads(line[6:]).items() if v})
                        done.set()
                    elif line.startswith("listening "):
                        _, key, address = line.split()
                        found[key] = int(address.rsplit(":", 1)[1])
                        if "proxy" in found and ("admin" in found or "admin" not in " ".join(self.argv)):
                            done.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not done.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{self.argv[:4]} did not start (exit {self.proc.returncode}):\n{self.log()}")
        time.sleep(0.05)  # the remaining announcement lines
        self.ports = dict(found)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
        if self._reader is not None:
            self._reader.join(timeout=5)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def stop_all(procs: list[Proc]) -> None:
    """SIGTERM every process at once, then wait for each (then SIGKILL): a drain each, in parallel."""
    for p in procs:
        if p.proc is not None and p.proc.poll() is None:
            p.proc.terminate()
    for p in procs:
        p.stop()


def worker(workdir: Path, name: str, *args: str) -> Proc:
    argv = [sys.executable, str(WORKER), "--name", name, *args]
    return Proc(argv, workdir / f"{name}.log", "READY")


def broker_config(workers: dict[str, int], *, extra: str = "", worker_extra: str = "") -> str:
    lines = ['listen = "127.0.0.1:0"', 'admin = "127.0.0.1:0"', 'agent_check = "127.0.0.1:0"', extra]
    for name, port in workers.items():
        lines += ["[[workers]]", f'name = "{name}"', f'url = "http://127.0.0.1:{port}"', worker_extra]
    return "\n".join(lines) + "\n"


def broker(workdir: Path, name: str, config: str) -> Proc:
    path = workdir / f"{name}.toml"
    path.write_text(config)
    argv = [sys.executable, str(Path(__file__).with_name("broker_main.py")), "--config", str(path)]
    return Proc(argv, workdir / f"{name}.log", "listening")


def metrics(port: int) -> dict[str, float]:
    """The broker's /metrics as {'name{labels}': value}, the labels sorted by name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            base, brace, labels = name.partition("{")
            if brace:
                name = base + "{" + ",".join(sorted(labels.rstrip("}").split(","))) + "}"
            out[name] = float(value)
    return out


def rss_peak(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")

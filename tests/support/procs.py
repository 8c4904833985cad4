"""Start, wait for and stop real programs on loopback, with every wait bounded."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest


def require(program: str) -> str:
    """Path of `program`, or skip the test: a missing program is a skip, never a failure."""
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (make test installs it)")
    return path


def free_port() -> int:
    """A port that was free a moment ago, for programs that cannot bind port 0 and report it.

    Racy by nature: callers retry the start when the program fails to bind.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.02, what: str = "") -> None:
    """Poll `predicate` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate!r}")
        time.sleep(interval)


def http_get(url: str, *, timeout: float = 2.0) -> tuple[int, bytes]:
    """Status and body of a GET; (0, b"") when the server does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())
    except (OSError, urllib.error.URLError):
        return 0, b""


@contextlib.contextmanager
def running(argv: Sequence[str], *, log: Path, cwd: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` as a direct child with output to `log`; terminate (then kill) it on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        try:
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str], *, grace: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)


def split(url: str, count: int, *, timeout: float = 2.0) -> dict[bytes, int]:
    """Send ``count`` sequential GETs to ``url``; how many answers carried each body (b"" = failed)."""
    counts: dict[bytes, int] = {}
    for _ in range(count):
        status, body = http_get(url, timeout=timeout)
        key = body if status == 200 else b""
        counts[key] = counts.get(key, 0) + 1
    return counts


def settled_split(
    url: str, count: int, *, ok: Callable[[dict[bytes, int]], bool], timeout: float = 10.0, batches: int = 2
) -> dict[bytes, int]:
    """The split of ``count`` requests once ``batches`` fresh batches in a row satisfy ``ok``.

    A consumer's workers apply a new host state a little after its admin view shows it (up to ~1 s
    seen with Envoy), and on a loaded machine a health check can land late, so a single batch may
    still show the old split; waiting for consecutive agreeing batches tells a settled split from
    a transition. Batches must be large enough that the old state cannot pass ``ok`` by chance (a
    host with a 30% share misses 30 requests in a row with probability 2e-5). Fails the test when
    the split does not settle within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    streak, last = 0, split(url, count)
    while True:
        streak = streak + 1 if ok(last) else 0
        if streak >= batches:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"no settled traffic split at {url} within {timeout}s: last batch {last}")
        time.sleep(0.05)
        last = split(url, count)

"""Ctrl-C never prints a traceback: `check` and `query` stuck on an endpoint that never answers,
the agent while it runs; through the installed command and through `python -m healthgauge`."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.procs import stop, wait_until

INSTALLED = Path(sys.executable).parent / "healthgauge"


@pytest.fixture
def silent_url() -> Iterator[tuple[str, list[socket.socket]]]:
    """An endpoint that accepts connections and never answers; the accepted sockets are listed."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/metrics", accepted
    finally:
        server.close()
        for conn in accepted:
            conn.close()


def launchers() -> list[list[str]]:
    found = [[sys.executable, "-m", "healthgauge"]]
    if INSTALLED.is_file():
        found.append([str(INSTALLED)])
    return found


@pytest.mark.parametrize("launcher", launchers(), ids=lambda argv: "installed" if len(argv) == 1 else "python -m")
@pytest.mark.parametrize("command", ["check", "query"])
def test_ctrl_c_while_waiting_for_an_endpoint(
    launcher: list[str], command: str, silent_url: tuple[str, list[socket.socket]]
) -> None:
    url, accepted = silent_url
    before = len(accepted)
    proc = subprocess.Popen([*launcher, command, url, "up == 1", "--timeout", "30"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_until(lambda: len(accepted) > before, timeout=20, what=f"{command} to connect")
        time.sleep(0.2)  # now waiting for an answer that never comes
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        stop(proc)  # type: ignore[arg-type]
    assert proc.returncode in (-signal.SIGINT, 130), (proc.returncode, err)
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err


def test_ctrl_c_stops_the_agent_after_its_drain_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        '[agent]\nlisten = "127.0.0.1:0"\nshutdown_grace = "300ms"\n'
        '[[targets]]\nname = "w"\nurl = "http://127.0.0.1:9/metrics"\nready = ["up == 1"]\n'
    )
    proc = subprocess.Popen([*launchers()[-1], "agent", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("listening http ")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        stop(proc)  # type: ignore[arg-type]
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "draining 1 target(s) for 0.3s" in err

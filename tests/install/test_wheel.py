"""Installable as users install things: a wheel built from this checkout, installed into a fresh
virtual environment with only its declared dependencies, runs `check`, `agent --check`, `query`
and the agent (its status page's files included). Built and installed once per session."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthgauge import __version__
from healthgauge.testing import MetricsServer
from support.procs import http_get, stop

ROOT = Path(__file__).resolve().parents[2]
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `healthgauge` command of a fresh venv holding the wheel and its dependencies only."""
    work = tmp_path_factory.mktemp("wheel")
    dist, venv = work / "dist", work / "venv"
    build = subprocess.run([*PIP, "wheel", "--no-deps", "-w", str(dist), str(ROOT)], capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = dist.glob("healthgauge-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    install = subprocess.run([*PIP, "--python", str(venv / "bin" / "python"), "install", str(wheel)],
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    return venv / "bin" / "healthgauge"


def run(command: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(command), *args], capture_output=True, text=True, timeout=60, cwd=ROOT, env={})


@pytest.fixture
def url() -> Iterator[str]:
    with MetricsServer(f"app_state 1\napp_last_iteration_ts {time.time()}\nqueue_depth 20\n") as served:
        yield served.url


def test_the_wheel_holds_only_the_package_and_the_launcher(installed: Path) -> None:
    site = next((installed.parent.parent / "lib").glob("python3.*/site-packages"))
    names = {p.name for p in site.iterdir() if p.is_dir() and not p.name.endswith(".dist-info")}
    assert "grpc" not in names  # an extra, not installed
    assert installed.read_text().startswith("#!/bin/sh\n")
    assert run(installed, "--version").stdout == f"healthgauge {__version__}\n"


def test_check_from_the_wheel(installed: Path, url: str) -> None:
    for _ in range(2):  # the second run finds what the first one cached beside the package
        out = run(installed, "check", url, "app_state == 1", "time() - app_last_iteration_ts < 60")
        assert (out.returncode, out.stdout.split(" - ")[0], out.stderr) == (0, "OK", "")
    out = run(installed, "check", url, "max(queue_depth) < 10")
    assert (out.returncode, out.stdout.split(" - ")[0]) == (2, "FAIL")


def test_agent_check_and_a_missing_extra(installed: Path, tmp_path: Path) -> None:
    out = run(installed, "agent", "--config", "examples/agent.toml", "--check")
    assert (out.returncode, out.stdout) == (0, "examples/agent.toml: 1 target(s), configuration valid\n")
    grpc = tmp_path / "grpc.toml"
    grpc.write_text('[agent]\ngrpc_listen = "127.0.0.1:0"\n[[targets]]\nname = "a"\nurl = "http://127.0.0.1:9/"\n')
    out = run(installed, "agent", "--config", str(grpc), "--check")
    assert out.returncode == 3
    assert "needs the grpc extra" in out.stderr
    assert f"{installed.parent}/python3 -m pip install grpcio grpcio-health-checking" in out.stderr
    assert "Traceback" not in out.stderr
    # The probe kinds that need an extra say the same.
    for kind, needs in [
        ('kind = "grpc"\naddress = "127.0.0.1:1"', "-m pip install grpcio grpcio-health-checking"),
        ('kind = "sql"\ndriver = "postgresql"\ndsn = "postgresql://u@127.0.0.1:1/db"\nquery = "SELECT 1"',
         "-m pip install asyncpg"),
    ]:  # fmt: skip
        probe = tmp_path / "probe.toml"
        probe.write_text(f'[[targets]]\nname = "p"\n{kind}\nready = ["probe_success == 1"]\n')
        out = run(installed, "agent", "--config", str(probe), "--check")
        assert (out.returncode, "Traceback" in out.stderr) == (3, False), out.stderr
        assert f"{installed.parent}/python3 {needs}" in out.stderr


def test_query_from_the_wheel(installed: Path) -> None:
    expr = "sum(increase(jobs_processed_total[2m])) == 0 and sum(queue_depth) > 0"
    out = run(installed, "query", "examples/incident.om", expr, "--at", "2024-06-01T03:12:00Z")
    assert (out.returncode, out.stdout) == (0, "{}  0\n")


def test_the_agent_from_the_wheel_serves_its_status_page(installed: Path, tmp_path: Path, url: str) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[agent]\nlisten = "127.0.0.1:0"\nshutdown_grace = "200ms"\n'
        f'[[targets]]\nname = "w"\nurl = "{url}"\ninterval = "200ms"\nready = ["app_state == 1"]\n'
    )
    proc = subprocess.Popen([str(installed), "agent", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={})  # fmt: skip
    try:
        assert proc.stdout is not None
        http = proc.stdout.readline().split()[2]
        code, body = http_get(f"http://{http}/status")
        assert (code, b'<script src="/status.js"' in body) == (200, True)
        assert http_get(f"http://{http}/status.js")[0] == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
    finally:
        stop(proc)  # type: ignore[arg-type]


def test_the_readmes_direct_start_line_works_on_a_wheel_install(installed: Path, url: str) -> None:
    """README, "Install": the one-line rewrite that spares a wheel install's extra exec."""
    readme = (ROOT / "README.md").read_text()
    (line,) = [x for x in readme.splitlines() if x.startswith("sed -i '1s|.*|#!/opt/healthgauge/bin/python3 -IS|'")]
    venv = str(installed.parent.parent)
    subprocess.run(shlex.split(line.replace("/opt/healthgauge", venv)), check=True, timeout=30)
    assert installed.read_text().startswith(f"#!{venv}/bin/python3 -IS\n")
    out = run(installed, "check", url, "app_state == 1")
    assert (out.returncode, out.stdout.split(" - ")[0]) == (0, "OK")

"""The installed ``healthgauge`` command (the launcher, run as a program): every exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from healthgauge.testing import HangingServer, MetricsServer, StatusServer

LAUNCHER = Path(sys.prefix) / "bin" / "healthgauge"
PAGE = "# TYPE app_state gauge\napp_state 1\n# TYPE queue_depth gauge\nqueue_depth 500\n"


@pytest.fixture(scope="module")
def server() -> MetricsServer:
    if not LAUNCHER.exists():
        pytest.skip("the package is not installed into this interpreter's prefix")
    with MetricsServer(PAGE) as s:
        yield s  # type: ignore[misc]


def healthgauge(*args: str) -> tuple[int, str, str]:
    out = subprocess.run([str(LAUNCHER), "check", *args], capture_output=True, text=True, timeout=30, check=False)
    return out.returncode, out.stdout, out.stderr


def test_exit_0_ok(server: MetricsServer) -> None:
    assert healthgauge(server.url, 'app_state{job!="batch"} == 1') == (0, "OK - 1 condition holds\n", "")


def test_exit_1_warn(server: MetricsServer) -> None:
    assert healthgauge(server.url, "app_state == 1", "--warn", "queue_depth > 100") == (
        1,
        "WARN - queue_depth > 100: got 500\n",
        "",
    )


def test_exit_2_fail(server: MetricsServer) -> None:
    assert healthgauge(server.url, "app_state == 0") == (2, "FAIL - app_state == 0: got 1\n", "")


def test_exit_2_unreadable() -> None:
    with StatusServer(503) as server:
        assert healthgauge(server.url, "app_state == 1") == (
            2,
            f"FAIL - cannot read {server.url}: HTTP 503 Service Unavailable\n",
            "",
        )


def test_exit_2_deadline_on_time() -> None:
    if not LAUNCHER.exists():
        pytest.skip("the package is not installed into this interpreter's prefix")
    with HangingServer() as server:
        code, out, _ = healthgauge(server.url, "up", "--timeout", "0.2")
    assert (code, out) == (2, f"FAIL - cannot read {server.url}: deadline passed (read headers)\n")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--nope"], "UNKNOWN - unknown flag '--nope' (healthgauge check --help lists them)\n"),
        (["app_state =="], "UNKNOWN - invalid PromQL: "),
    ],
)
def test_exit_3_unknown(server: MetricsServer, args: list[str], line: str) -> None:
    code, out, err = healthgauge(server.url, "app_state == 1", *args)
    assert code == 3
    assert out.startswith(line)
    assert err == ""


def test_json(server: MetricsServer) -> None:
    code, out, _ = healthgauge(server.url, "app_state == 1", "--json")
    assert code == 0
    assert json.loads(out)["output"] == "OK - 1 condition holds"


def test_help(server: MetricsServer) -> None:
    code, out, _ = healthgauge("--help")
    assert code == 0
    assert out.startswith("usage: healthgauge check URL EXPR")

"""The deployment files in examples/: the DaemonSet's configuration and wiring, and the systemd
unit, verified by systemd-analyze and driven as systemd would (start, reload, stop)."""

from __future__ import annotations

import configparser
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from healthgauge.agent import parse_config
from healthgauge.agent._config import parse_duration
from support.procs import stop, wait_until

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "examples" / "systemd" / "healthgauge-agent.service"
INSTALLED = Path(sys.executable).parent / "healthgauge"


def daemonset() -> tuple[dict[str, Any], dict[str, Any]]:
    yaml = pytest.importorskip("yaml")
    config_map, ds = [d for d in yaml.safe_load_all((ROOT / "examples/kubernetes/daemonset.yaml").read_text()) if d]
    return config_map, ds


def test_the_daemonset_runs_a_valid_configuration_on_the_node_network() -> None:
    config_map, ds = daemonset()
    assert (config_map["kind"], ds["kind"]) == ("ConfigMap", "DaemonSet")
    text = config_map["data"]["agent.toml"]
    config = parse_config(text)
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    (container,) = spec["containers"]
    args = container["args"]
    assert args[:2] == ["agent", "--config"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert Path(args[2]).parent == Path(mounts["config"])
    assert Path(config.agent.state_file).parent == Path(mounts["state"])
    ports = {p["containerPort"] for p in container["ports"]}
    assert {config.agent.listen.port, config.agent.listeners["haproxy_listen"].port} == ports
    # The kubelet's SIGTERM must leave the drain its whole grace period.
    assert spec["terminationGracePeriodSeconds"] > config.agent.shutdown_grace + 5
    assert container["livenessProbe"] == {"tcpSocket": {"port": config.agent.listen.port}, "periodSeconds": 10}
    assert tomllib.loads(text)["agent"]["haproxy_default"] == config.targets[0].name


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def installed_unit(tmp_path: Path, config: Path) -> Path:
    """The unit as it would be installed here: this venv's command, a config of the test's."""
    if not INSTALLED.is_file():
        pytest.skip("the healthgauge command is not installed beside this interpreter")
    text = UNIT.read_text().replace("/opt/healthgauge/bin/healthgauge", str(INSTALLED))
    path = tmp_path / "healthgauge-agent.service"
    path.write_text(text.replace("/etc/healthgauge/agent.toml", str(config)))
    return path


@pytest.mark.real
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    path = installed_unit(tmp_path, tmp_path / "agent.toml")
    out = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stderr) == (0, "")


def test_the_units_signals_reload_and_drain_a_real_agent(tmp_path: Path) -> None:
    service = unit()["Service"]
    grace = 0.3
    config = tmp_path / "agent.toml"
    target = '[[targets]]\nname = "{}"\nurl = "http://127.0.0.1:9/metrics"\nready = ["up == 1"]\n'
    config.write_text(f'[agent]\nlisten = "127.0.0.1:0"\nshutdown_grace = "{grace}s"\n' + target.format("a"))
    text = installed_unit(tmp_path, config).read_text()
    lines = [line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")]
    exec_start = next(v for k, v in lines if k == "ExecStart")
    reloads = [v for k, v in lines if k == "ExecReload"]
    assert service["KillSignal"] == "SIGTERM"
    assert parse_duration(service["TimeoutStopSec"] + "s", "TimeoutStopSec") > parse_duration("5s", "grace")
    log = tmp_path / "agent.log"
    with log.open("w") as err:
        proc = subprocess.Popen(shlex.split(exec_start), stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("listening http ")
        config.write_text(config.read_text() + target.format("b"))
        for command in reloads:  # systemctl reload: validate, then SIGHUP the main process
            argv = shlex.split(command.replace("$MAINPID", str(proc.pid)))
            assert subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
        wait_until(lambda: "configuration reloaded" in log.read_text(), timeout=10, what="the reload")
        assert '"message": "configuration reloaded: 1 unchanged, 0 changed, 0 moved, 1 added' in log.read_text()
        proc.send_signal(getattr(signal, service["KillSignal"]))  # systemctl stop
        assert proc.wait(timeout=10) == 0
    finally:
        stop(proc)  # type: ignore[arg-type]
        if proc.stdout is not None:
            proc.stdout.close()
    assert '"message": "drain done"' in log.read_text()

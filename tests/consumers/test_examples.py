"""Every consumer config in examples/ is loaded by the real program that reads it where one is
installed (haproxy -c, envoy --mode validate, promtool), and checked for the fields that matter."""

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from healthgauge.agent._config import parse_config
from support import envoy as envoy_support
from support import haproxy as haproxy_support
from support.fake_engine import FakeEngine
from support.procs import require

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def engine() -> Any:
    """The production PromQL compiler when the package has it: the examples' rules are real PromQL."""
    try:
        from healthgauge.agent.judge._promql_engine import PromEngine

        return PromEngine()
    except ImportError:
        return FakeEngine()


def manifests(name: str) -> list[dict[str, Any]]:
    yaml = pytest.importorskip("yaml")
    return [doc for doc in yaml.safe_load_all((EXAMPLES / "kubernetes" / name).read_text()) if doc]


def containers(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    return {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}


@pytest.mark.real
def test_haproxy_loads_the_example() -> None:
    out = haproxy_support.check_config(EXAMPLES / "haproxy" / "haproxy.cfg")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Configuration file is valid" in out.stdout + out.stderr


def test_haproxy_example_sets_what_graded_weights_need() -> None:
    text = (EXAMPLES / "haproxy" / "haproxy.cfg").read_text()
    (default,) = re.findall(r"^\s*default-server .*$", text, re.M)
    assert " weight 100 " in default
    assert " agent-check " in default
    servers = re.findall(r"^\s*server (\S+) .*$", text, re.M)
    assert servers
    # HAProxy 2.6: a server without agent-send is never polled once another has one.
    for name in servers:
        assert re.search(rf'^\s*server {name} .*agent-send "{name}\\n"', text, re.M), name


@pytest.mark.real
def test_envoy_validates_the_example() -> None:
    out = envoy_support.check_config(EXAMPLES / "envoy" / "envoy.yaml")
    assert out.returncode == 0, out.stdout + out.stderr


def test_envoy_example_checks_the_agent() -> None:
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load((EXAMPLES / "envoy" / "envoy.yaml").read_text())
    (cluster,) = doc["static_resources"]["clusters"]
    (hc,) = cluster["health_checks"]
    assert hc["http_health_check"]["path"] == "/health/app"
    assert "no_traffic_interval" in hc
    assert "expected_statuses" not in hc["http_health_check"]  # only 200 is healthy: the agent's pass
    for ep in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]:
        assert ep["endpoint"]["health_check_config"]["port_value"] == 8099


@pytest.mark.real
def test_promtool_checks_the_prometheus_example() -> None:
    promtool = require("promtool")
    out = subprocess.run(
        [promtool, "check", "config", str(EXAMPLES / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 3 rules found" in out.stdout + out.stderr


def test_kubernetes_sidecar_probes_ask_the_agent_for_its_target() -> None:
    docs = manifests("sidecar.yaml")
    (config_map,) = [d for d in docs if d["kind"] == "ConfigMap"]
    config = parse_config(config_map["data"]["agent.toml"], engine())
    port = config.agent.listen.port
    targets = {t.name for t in config.targets}
    app = containers(docs)["app"]
    paths = {}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = app[probe]["httpGet"]
        assert get["port"] == port
        kind, _, target = get["path"].strip("/").partition("/")
        assert target in targets
        paths[probe] = kind
    assert paths == {"startupProbe": "livez", "livenessProbe": "livez", "readinessProbe": "readyz"}
    assert app["readinessProbe"]["timeoutSeconds"] <= 1
    sidecar = containers(docs)["healthgauge"]
    assert sidecar["args"][:3] == ["agent", "--config", "/etc/healthgauge/agent.toml"]
    # The agent's own liveness never depends on the app's health.
    assert "tcpSocket" in sidecar["livenessProbe"]
    assert config.agent.admin is not None
    assert config.agent.admin.host == "127.0.0.1"
    # Kubernetes cannot weigh: an overloaded app leaves the Services; the state file is on a volume.
    assert config.targets[0].policy.overloaded.value == "fail"
    mounts = {m["mountPath"] for m in sidecar["volumeMounts"]}
    assert str(Path(config.agent.state_file).parent) in mounts


def test_kubernetes_exec_variant_runs_check_without_warn() -> None:
    app = containers(manifests("sidecar-exec.yaml"))["app"]
    for probe in ("livenessProbe", "readinessProbe"):
        command = app[probe]["exec"]["command"]
        assert command[:2] == ["healthgauge", "check"]
        assert command[2].startswith("http://127.0.0.1:")
        # Exit 1 (warn) fails a Kubernetes exec probe, so probes carry no --warn.
        assert not any(arg.startswith("--warn") for arg in command)
        timeout = next(a for a in command if a.startswith("--timeout="))
        assert timeout == "--timeout=900ms"  # inside the probe's timeoutSeconds: 1


def test_consul_http_check_reads_the_agent_with_its_warning_code() -> None:
    doc = json.loads((EXAMPLES / "consul" / "service.json").read_text())
    service = doc["service"]
    http = next(c for c in service["checks"] if "http" in c)
    assert http["http"] == f"http://127.0.0.1:8099/health/{service['id']}?consul"
    assert http["disable_redirects"] is True
    grpc_check = next(c for c in service["checks"] if "grpc" in c)
    assert grpc_check["grpc"].endswith(f"/{service['id']}")


def test_consul_script_check_runs_check() -> None:
    doc = json.loads((EXAMPLES / "consul" / "service-script.json").read_text())
    (check,) = doc["service"]["checks"]
    assert check["args"][:2] == ["healthgauge", "check"]
    assert "--warn" in check["args"]  # exit 1 is Consul's warning


def test_agent_examples_name_the_listeners_the_consumers_use() -> None:
    text = (EXAMPLES / "kubernetes" / "sidecar.yaml").read_text()
    toml = tomllib.loads(manifests("sidecar.yaml")[0]["data"]["agent.toml"])
    assert toml["agent"]["grpc_listen"].endswith(":8097")
    assert "grpc-health" in text

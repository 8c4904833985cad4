"""A listener whose optional extra is missing is refused by --check, with the install command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from healthgauge.agent import ConfigError, parse_config
from healthgauge.agent.commands import _cmd
from healthgauge.agent.servers import _registry
from support.fake_engine import FakeEngine

CONFIG = '[agent]\ngrpc_listen = "127.0.0.1:0"\n[[targets]]\nname = "a"\nurl = "http://127.0.0.1:9/metrics"\n'


@pytest.fixture
def grpc_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in an environment without the extra: its module cannot be found (a real lookup)."""
    extra, dists, _ = _registry.EXTRAS["grpc_listen"]
    monkeypatch.setitem(_registry.EXTRAS, "grpc_listen", (extra, dists, ("grpc", "healthgauge_no_such_module")))


@pytest.mark.usefixtures("grpc_missing")
def test_a_missing_extra_is_a_config_error_naming_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG, FakeEngine())
    assert str(caught.value) == (
        "agent.grpc_listen: needs the grpc extra, and healthgauge_no_such_module cannot be imported here; "
        f"install it into this environment: {sys.executable} -m pip install grpcio grpcio-health-checking"
    )
    path = tmp_path / "agent.toml"
    path.write_text(CONFIG)
    assert _cmd.main(["--config", str(path), "--check"], engine_factory=FakeEngine) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "-m pip install grpcio grpcio-health-checking" in err


def test_an_installed_extra_passes() -> None:
    pytest.importorskip("grpc")
    assert "grpc_listen" in parse_config(CONFIG, FakeEngine()).agent.listeners

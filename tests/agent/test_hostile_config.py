"""Configurations and state files that used to crash the agent at start (issue #13): each is
refused by ``agent --check`` (exit 3), or, found only at start, is one line and exit 2; a corrupt
state file is moved aside and the agent starts clean. Secrets are never quoted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from healthgauge.agent._config import parse_config
from healthgauge.agent._run import Agent
from healthgauge.agent.commands._cmd import main
from healthgauge.agent.state._statecodec import StateFileError
from support.fake_engine import FakeEngine

SECRET = "s3cr3t-token-value"


def write(tmp_path: Path, agent: str = "", target: str = "", name: str = "web") -> Path:
    path = tmp_path / "agent.toml"
    text = (
        f'[agent]\nlisten = "127.0.0.1:0"\nshutdown_grace = "0s"\n{agent}\n'
        f'[[targets]]\nname = "{name}"\nurl = "http://127.0.0.1:9/metrics"\nready = ["up == 1"]\n{target}\n'
    )
    path.write_text(text, encoding="utf-8")
    return path


def run_check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--config", str(path), "--check"], engine_factory=FakeEngine)
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize(
    ("agent", "target", "name", "message"),
    [
        ("", f'token = "{SECRET}\\u0000"', "web", "token: a bearer token (printable"),
        ("", f'headers = {{ X-Api-Key = "{SECRET}\\u0000" }}', "web", "holds CR, LF or NUL"),
        ("", f'headers = {{ X-Api-Key = "{SECRET}☃" }}', "web", "not Latin-1 text"),
        ("", f'headers = {{ X-Api-Key = "{SECRET}\\n" }}', "web", "holds CR, LF or NUL"),
        ('grpc_listen = "127.0.0.1:0"', "", "readiness", "gRPC health name 'readiness' would mean two things"),
        (
            'grpc_listen = "127.0.0.1:0"',
            '[[targets]]\nname = "x.live"\nurl = "http://127.0.0.1:9/"\nready = ["up == 1"]',
            "x",
            "gRPC health name 'x.live' would mean two things",
        ),
    ],
)
def test_check_refuses_what_used_to_crash_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], agent: str, target: str, name: str, message: str
) -> None:
    code, output = run_check(write(tmp_path, agent, target, name), capsys)
    assert code == 3
    assert message in output
    assert SECRET not in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_check_refuses_a_state_file_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "state").mkdir()
    code, output = run_check(write(tmp_path, 'state_file = "state"'), capsys)
    assert code == 3
    assert "is a directory" in output


def test_a_start_up_failure_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> FakeEngine:
        raise RuntimeError("the engine cannot load")

    code = main(["--config", str(write(tmp_path))], engine_factory=broken)
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"healthgauge agent: cannot load {tmp_path / 'agent.toml'}: RuntimeError: the engine cannot load\n"


async def test_a_state_file_nested_200000_levels_is_moved_aside_and_the_agent_starts_clean(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    text = write(tmp_path, f'state_file = "{state}"').read_text()
    agent = Agent(parse_config(text, FakeEngine()), FakeEngine())
    try:
        await agent.start()
        assert (tmp_path / "state.json.corrupt").read_bytes().startswith(b"[[[[")
        assert json.loads(state.read_bytes())["version"] == 1  # written clean
        assert agent.hub.get("web") is not None
    finally:
        await agent.stop()


async def test_a_state_file_that_became_a_directory_is_not_renamed(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    text = write(tmp_path, f'state_file = "{state}"').read_text()
    config = parse_config(text, FakeEngine())
    state.mkdir()  # after the check: found only at start
    agent = Agent(config, FakeEngine())
    try:
        with pytest.raises(StateFileError, match="cannot write state_file"):
            await agent.start()
    finally:
        await agent.stop()
    assert state.is_dir()
    assert not (tmp_path / "state.json.corrupt").exists()


def test_a_token_never_appears_in_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run_check(write(tmp_path, target=f'token = "{SECRET} x"'), capsys)
    assert code == 3
    assert SECRET not in output

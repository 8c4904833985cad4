"""`healthgauge agent` and `healthgauge ctl` as commands: flags, exit codes, signals and drain."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from healthgauge.agent._config import parse_config
from healthgauge.agent._run import Agent
from healthgauge.agent.commands import _cmd, _ctl
from support.fake_engine import FakeEngine

from .conftest import Target, agent_config, eventually, get

MakeTarget = Callable[[], Awaitable[Target]]
RunAgent = Callable[..., Awaitable[Agent]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--config FILE is required"),
        (["--config"], "--config needs a value"),
        (["--config", "x", "--bogus"], "unknown flag '--bogus'"),  # ctl's words (one parser, _args.py)
        (["--config", "x", "--log-level", "loud"], "--log-level: unknown level 'loud'"),
        (["--config", "x", "--log-format", "xml"], "--log-format: unknown format 'xml' (use text, json)"),
        (["--config", "x", "--log-format"], "--log-format needs a value"),
    ],
)
def test_agent_usage_errors_exit_3(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cmd.main(argv, engine_factory=FakeEngine) == 3
    assert message in capsys.readouterr().err


def test_agent_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cmd.main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: healthgauge agent --config FILE")


def test_agent_config_errors_exit_3_and_check_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(agent_config({"w": "http://127.0.0.1:1/"}).replace('ready = ["app_state == 1"]', 'ready = ["x =="]'))
    assert _cmd.main(["--config", str(bad)], engine_factory=FakeEngine) == 3
    assert f'{bad}: targets[0].ready[0]: invalid PromQL "x ==": ' in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text(agent_config({"w": "http://127.0.0.1:1/"}))
    assert _cmd.main(["--config", str(good), "--check"], engine_factory=FakeEngine) == 0
    assert capsys.readouterr().out == f"{good}: 1 target(s), configuration valid\n"


async def test_sigterm_drains_for_the_grace_then_exits_0(targets: MakeTarget) -> None:
    t = await targets()
    t.page = b"app_state 1\nweight_hint 100\n"
    config = parse_config(agent_config({"w": t.url}).replace('"200ms"', '"400ms"'), FakeEngine())
    lines: list[str] = []
    run = asyncio.create_task(_cmd.run(config, FakeEngine(), announce=lines.append))
    await eventually(lambda: len(lines) == 2, what="listening lines")
    assert lines[0].startswith("listening http 127.0.0.1:")
    assert lines[1].startswith("listening admin 127.0.0.1:")
    http = lines[0].split()[2]

    async def ready() -> bool:
        return (await get(http, "/readyz/w"))[0] == 200

    await eventually(ready, what="ready")
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.sleep(0.1)
    assert not run.done()  # still draining
    code, _, body = await get(http, "/readyz/w")
    assert (code, body) == (503, "[-]w failed: shutting down\nreadyz check failed\n")
    assert await asyncio.wait_for(run, 2) == 0


async def test_a_second_signal_cuts_the_drain_short(targets: MakeTarget) -> None:
    t = await targets()
    config = parse_config(agent_config({"w": t.url}).replace('"200ms"', '"30s"'), FakeEngine())
    lines: list[str] = []
    run = asyncio.create_task(_cmd.run(config, FakeEngine(), announce=lines.append))
    await eventually(lambda: len(lines) == 2)
    os.kill(os.getpid(), signal.SIGINT)
    await asyncio.sleep(0.1)
    os.kill(os.getpid(), signal.SIGINT)
    assert await asyncio.wait_for(run, 2) == 0


async def test_a_port_in_use_exits_2(targets: MakeTarget, capsys: pytest.CaptureFixture[str]) -> None:
    t = await targets()
    text = agent_config({"w": t.url}).replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{t.port}"')
    assert await _cmd.run(parse_config(text, FakeEngine()), FakeEngine()) == 2
    assert "cannot listen: " in capsys.readouterr().err


async def test_a_state_file_that_cannot_be_written_exits_2(
    targets: MakeTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = await targets()
    missing = tmp_path / "no-such-dir" / "state.json"
    text = agent_config({"w": t.url}, agent=f'state_file = "{missing}"')
    assert await _cmd.run(parse_config(text, FakeEngine()), FakeEngine()) == 2
    err = capsys.readouterr().err
    assert f"healthgauge agent: cannot start: cannot write state_file {missing}: No such file or directory" in err


async def test_ctl_drain_maint_ready_status(
    targets: MakeTarget, run_agent: RunAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    t = await targets()
    t.page = b"app_state 1\nweight_hint 100\n"
    agent = await run_agent({"w": t.url})
    admin = ["--admin", agent.addresses["admin"]]
    assert await asyncio.to_thread(_ctl.main, ["drain", "w", *admin]) == 0
    assert json.loads(capsys.readouterr().out)["admin"] == "drain"
    assert (await get(agent, "/readyz/w"))[0] == 503
    assert await asyncio.to_thread(_ctl.main, ["maint", "w", *admin]) == 0
    assert await asyncio.to_thread(_ctl.main, ["ready", "w", *admin]) == 0
    capsys.readouterr()
    assert await asyncio.to_thread(_ctl.main, ["status", *admin]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["admin"] == "ready"
    assert await asyncio.to_thread(_ctl.main, ["drain", "nope", *admin]) == 2
    assert "no such target: nope" in capsys.readouterr().err


async def test_ctl_over_a_unix_socket(targets: MakeTarget, run_agent: RunAgent) -> None:
    t = await targets()
    with tempfile.TemporaryDirectory(prefix="hg-") as tmp:
        sock = f"{tmp}/admin.sock"
        stale = socket.socket(socket.AF_UNIX)  # left behind by an agent that died
        stale.bind(sock)
        stale.close()
        agent = await run_agent({"w": t.url}, admin=f"unix:{sock}")
        assert agent.addresses["admin"] == f"unix:{sock}"
        assert os.stat(sock).st_mode & 0o777 == 0o600
        assert await asyncio.to_thread(_ctl.main, ["drain", "w", "--admin", f"unix:{sock}"]) == 0
        assert agent.hub.get("w").admin.value == "drain"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        ([], 3, "expected drain, maint, ready, status or reload"),
        (["drain"], 3, "drain takes exactly one TARGET"),
        (["drain", "a", "b"], 3, "drain takes exactly one TARGET"),
        (["pause", "a"], 3, "expected drain, maint, ready, status or reload"),
        (["drain", "a", "--admin", "nowhere"], 3, 'invalid address "nowhere"'),
        (["drain", "a", "--bogus"], 3, "unknown flag '--bogus'"),
        (["drain", "a", "--admin", "127.0.0.1:1"], 2, "cannot reach the agent at 127.0.0.1:1"),
        (["reload", "a"], 3, "reload takes no TARGET"),
    ],
)
def test_ctl_errors(argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _ctl.main(argv) == code
    assert message in capsys.readouterr().err


def test_ctl_at_its_default_address_says_the_admin_listener_is_off_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8100)) == 0:
            pytest.skip("something listens on 127.0.0.1:8100")
    assert _ctl.main(["status"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the agent at 127.0.0.1:8100" in err
    assert 'is an agent running with admin = "127.0.0.1:8100" under [agent]? The admin listener is off' in err
    assert "give its address with --admin ADDR" in err


def test_json_logs_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(agent_config({"w": "http://127.0.0.1:1/"}))
    assert _cmd.main(["--config", str(good), "--check", "--log-format=json"], engine_factory=FakeEngine) == 0

"""The admin API refuses what it should (issue #13): any Origin header (a browser's cross-site
POST), a foreign Host (DNS rebinding), a missing or wrong token when admin_token_file is set;
a unix socket is its owner's only. Loopback only; every agent stopped."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from healthgauge.agent._config import ConfigError, parse_config
from healthgauge.agent._run import Agent
from healthgauge.agent.commands import _ctl
from healthgauge.agent.servers._admin import refusal
from healthgauge.health._state import Admin
from support.fake_engine import FakeEngine

TOKEN = "admin-token-0123456789"


def config(admin: str = "127.0.0.1:0", extra: str = "") -> str:
    return (
        f'[agent]\nlisten = "127.0.0.1:0"\nadmin = "{admin}"\nshutdown_grace = "0s"\n{extra}\n'
        '[[targets]]\nname = "web"\nurl = "http://127.0.0.1:9/metrics"\ninterval = "1s"\nready = ["up == 1"]\n'
    )


@pytest.fixture
async def agent_with() -> AsyncIterator[Callable[[str], Awaitable[Agent]]]:
    running: list[Agent] = []

    async def start(text: str) -> Agent:
        agent = Agent(parse_config(text, FakeEngine()), FakeEngine())
        running.append(agent)
        await agent.start()
        return agent

    yield start
    for agent in running:
        await agent.stop()


async def call(agent: Agent, method: str, path: str, headers: dict[str, str] | None = None) -> int:
    url = f"http://{agent.addresses['admin']}{path}"
    async with aiohttp.ClientSession() as session, session.request(method, url, headers=headers or {}) as resp:
        await resp.read()
        return resp.status


def test_refusal_rules() -> None:
    assert refusal({"Host": "127.0.0.1:8100"}, "") is None
    assert refusal({"Host": "[::1]:8100"}, "") is None
    assert refusal({"Host": "localhost"}, "") is None
    assert refusal({"Host": "127.0.0.1:8100", "Origin": "null"}, "")[0] == 403  # type: ignore[index]
    assert refusal({"Host": "evil.example:8100"}, "")[0] == 403  # type: ignore[index]
    assert refusal({"Host": "127.0.0.1.evil.example"}, "")[0] == 403  # type: ignore[index]
    assert refusal({}, "")[0] == 403  # type: ignore[index]
    assert refusal({"Host": "localhost"}, TOKEN)[0] == 401  # type: ignore[index]
    assert refusal({"Host": "localhost", "Authorization": f"Bearer {TOKEN}x"}, TOKEN)[0] == 401  # type: ignore[index]
    assert refusal({"Host": "localhost", "Authorization": f"Bearer {TOKEN}"}, TOKEN) is None


async def test_a_browser_cross_site_post_and_a_foreign_host_are_refused(
    agent_with: Callable[..., Awaitable[Agent]],
) -> None:
    agent = await agent_with(config())
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    assert await call(agent, "POST", "/v1/targets/web/drain", evil) == 403
    assert await call(agent, "POST", "/v1/targets/web/drain", {"Host": "evil.example"}) == 403
    assert agent.hub.get("web").admin is Admin.READY  # type: ignore[union-attr]
    assert await call(agent, "POST", "/v1/targets/web/drain") == 200
    assert agent.hub.get("web").admin is Admin.DRAIN  # type: ignore[union-attr]


async def test_an_admin_token_is_required_when_configured(
    agent_with: Callable[..., Awaitable[Agent]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    agent = await agent_with(config(extra=f'admin_token_file = "{token}"'))
    assert TOKEN not in repr(agent.config)
    assert await call(agent, "GET", "/v1/targets") == 401
    assert await call(agent, "GET", "/v1/targets", {"Authorization": f"Bearer {TOKEN}"}) == 200
    admin = ["--admin", agent.addresses["admin"]]
    assert await asyncio.to_thread(_ctl.main, ["drain", "web", *admin]) == 2
    assert "needs Authorization" in capsys.readouterr().err
    assert await asyncio.to_thread(_ctl.main, ["drain", "web", *admin, "--token-file", str(token)]) == 0
    assert agent.hub.get("web").admin is Admin.DRAIN  # type: ignore[union-attr]


def test_a_bad_admin_token_file_is_a_config_error_that_does_not_show_it(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(f"{TOKEN}\n{TOKEN}\n")
    with pytest.raises(ConfigError, match="more than one line") as caught:
        parse_config(config(extra=f'admin_token_file = "{token}"'), FakeEngine())
    assert TOKEN not in str(caught.value)


async def test_the_admin_unix_socket_is_its_owners_only(agent_with: Callable[..., Awaitable[Agent]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hg") as directory:  # short: unix socket paths are capped
        path = os.path.join(directory, "admin.sock")
        agent = await agent_with(config(admin=f"unix:{path}"))
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert await asyncio.to_thread(_ctl.main, ["status", "--admin", f"unix:{path}"]) == 0
        await agent.stop()

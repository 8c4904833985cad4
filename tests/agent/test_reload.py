"""Reloading a running agent's configuration: what changes, what is kept, and a bad file refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from healthgauge.agent._config import Config, ConfigError, load_config, parse_config
from healthgauge.agent._reload import plan
from healthgauge.agent._run import Agent
from healthgauge.health._state import Admin, Level
from support.fake_engine import FakeEngine

from .conftest import Target, agent_config, eventually, get

MakeTarget = Callable[[], Awaitable[Target]]


def config(targets: str, agent: str = 'listen = "127.0.0.1:0"') -> str:
    return f"[agent]\n{agent}\n{targets}"


def target(name: str, url: str = "http://127.0.0.1:1/metrics", ready: str = "app_state == 1", **extra: str) -> str:
    lines = [f'[[targets]]\nname = "{name}"\nurl = "{url}"\nready = ["{ready}"]']
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def test_the_plan_sorts_targets_by_what_a_reload_does_to_them() -> None:
    engine = FakeEngine()
    old = parse_config(config(target("same") + target("rules") + target("url") + target("gone")), engine)
    new = parse_config(
        config(
            target("rules", ready="app_state == 2")
            + target("same")
            + target("url", url="http://127.0.0.1:2/metrics")
            + target("new"),
            agent='listen = "127.0.0.1:9"\nshutdown_grace = "1s"',
        ),
        engine,
    )
    change = plan(old, new)
    assert (change.unchanged, change.changed, change.moved, change.added, change.removed) == (
        ("same",), ("rules",), ("url",), ("new",), ("gone",)
    )  # fmt: skip
    assert change.restart_needed == ("listen",)
    assert change.summary() == (
        "1 unchanged, 1 changed, 1 moved, 1 added, 1 removed; listen changed: applies at the next restart"
    )


def test_headers_count_as_a_change_but_nothing_else_unchanged_does() -> None:
    engine = FakeEngine()
    old = parse_config(config(target("a", headers='{ X-Scope = "health" }')), engine)
    assert plan(old, parse_config(config(target("a", headers='{ X-Scope = "health" }')), engine)).unchanged == ("a",)
    assert plan(old, parse_config(config(target("a", headers='{ X-Scope = "all" }')), engine)).changed == ("a",)


def test_a_name_the_grpc_listener_cannot_carry_is_refused() -> None:
    engine = FakeEngine()
    grpc = 'listen = "127.0.0.1:0"\ngrpc_listen = "127.0.0.1:0"'
    parse_config(config(target("a"), grpc), engine)
    # Refused when the file is read (as at start and by --check), so a reload never gets to plan it.
    with pytest.raises(ConfigError, match="would mean two things"):
        parse_config(config(target("a") + target("a.live"), grpc), engine)


def reload_metrics(text: str) -> dict[str, float]:
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("healthgauge_config_last_reload")
    }


async def test_reload_keeps_unchanged_targets_and_applies_the_rest_at_once(targets: MakeTarget) -> None:
    a, b, c = await targets(), await targets(), await targets()
    for t in (a, b, c):
        t.page = b"app_state 1\nweight_hint 100\n"
    engine = FakeEngine()
    text = agent_config({"a": a.url, "b": b.url}, interval="200ms", timeout="150ms")
    agent = Agent(parse_config(text, engine), engine)
    await agent.start()
    try:
        await eventually(lambda: all(s.level is Level.HEALTHY for s in agent.hub.states()), what="healthy")
        agent.hub.set_admin("b", Admin.DRAIN)
        loop_a, history_a, checks_b = agent.loops["a"], agent.loops["a"].history, agent.hub.get("b").checks  # type: ignore[union-attr]
        # b's rule changes (and fails), c is added, a is untouched.
        text2 = agent_config({"a": a.url, "c": c.url}, interval="200ms", timeout="150ms")
        text2 += f'\n[[targets]]\nname = "b"\nurl = "{b.url}"\ninterval = "10s"\nready = ["app_state == 2"]\nfall = 1\n'
        change = await agent.reload(parse_config(text2, engine))
        assert (change.unchanged, change.changed, change.added) == (("a",), ("b",), ("c",))
        assert agent.loops["a"] is loop_a
        assert agent.loops["a"].history is history_a
        b_state = agent.hub.get("b")
        assert b_state is not None
        assert b_state.admin is Admin.DRAIN
        # b's interval is now 10 s: only the at-once scrape can have judged it this soon.
        await eventually(lambda: agent.hub.get("b").level is Level.UNHEALTHY, what="b judged by its new rule")  # type: ignore[union-attr]
        assert agent.hub.get("b").checks == checks_b + 1  # type: ignore[union-attr]
        await eventually(lambda: agent.hub.get("c").level is Level.HEALTHY, what="c added and healthy")  # type: ignore[union-attr]
        assert [s.name for s in agent.hub.states()] == ["a", "c", "b"]
        assert reload_metrics((await get(agent, "/metrics"))[2])["healthgauge_config_last_reload_successful"] == 1
        # Removing c: it leaves the endpoints.
        await agent.reload(parse_config(text, engine))
        assert (await get(agent, "/readyz/c"))[0] == 404
        assert set(agent.loops) == {"a", "b"}
    finally:
        await agent.stop()


async def test_a_bad_file_changes_nothing_and_is_reported(tmp_path: Path, targets: MakeTarget) -> None:
    t = await targets()
    engine = FakeEngine()
    path = tmp_path / "agent.toml"
    path.write_text(agent_config({"a": t.url}))

    def load() -> Config:
        return load_config(path, engine)

    agent = Agent(load(), engine, loader=load)
    await agent.start()
    try:
        before = agent.config
        path.write_text(agent_config({"a": t.url}).replace("app_state == 1", "app_state =="))
        with pytest.raises(ConfigError, match="invalid"):
            await agent.reload_from_source()
        assert agent.config is before
        assert agent.reloads.successful is False
        assert "agent.toml" in agent.reloads.error
        metrics = reload_metrics((await get(agent, "/metrics"))[2])
        assert metrics["healthgauge_config_last_reload_successful"] == 0
        assert metrics["healthgauge_config_last_reload_success_timestamp_seconds"] == pytest.approx(agent.started_at)
        path.write_text(agent_config({"a": t.url, "b": t.url}))
        change = await agent.reload_from_source()
        assert change.added == ("b",)
        assert reload_metrics((await get(agent, "/metrics"))[2])["healthgauge_config_last_reload_successful"] == 1
    finally:
        await agent.stop()


async def agent_check(address: str, name: str) -> bytes:
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"{name}\n".encode())
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


async def test_a_reload_reaches_the_state_file_and_the_haproxy_listener(tmp_path: Path, targets: MakeTarget) -> None:
    t = await targets()
    t.page = b"app_state 1\nweight_hint 100\n"
    engine = FakeEngine()
    state = tmp_path / "state.json"
    agent_keys = f'haproxy_listen = "127.0.0.1:0"\nstate_file = "{state}"'
    agent = Agent(parse_config(agent_config({"a": t.url}, agent=agent_keys), engine), engine)
    await agent.start()
    try:
        await eventually(lambda: agent.hub.get("a").level is Level.HEALTHY, what="a healthy")  # type: ignore[union-attr]
        assert await agent_check(agent.addresses["haproxy_listen"], "a") == b"up ready 100%\n"
        # b joins with a maxconn rule: HAProxy hears its limit, the state file keeps it.
        extra = f'\n[[targets]]\nname = "b"\nurl = "{t.url}"\ninterval = "100ms"\nready = ["app_state == 1"]\n'
        text = agent_config({"a": t.url}, agent=agent_keys) + extra + "maxconn = 7\nrise = 1\n"
        await agent.reload(parse_config(text, engine))
        await eventually(lambda: agent.hub.get("b").ready, what="b ready")  # type: ignore[union-attr]
        assert await agent_check(agent.addresses["haproxy_listen"], "b") == b"up ready 100% maxconn:7\n"
        # With two targets and no haproxy_default, a check that names none has no default any more.
        assert (await agent_check(agent.addresses["haproxy_listen"], "")).startswith(b"down #agent-send named no")
        await eventually(lambda: '"b"' in state.read_text(), what="b in the state file")
    finally:
        await agent.stop()
    assert set(json.loads(state.read_text())["targets"]) == {"a", "b"}


def tcp_target(address: str, ready: str = "probe_success == 1") -> str:
    return f'[[targets]]\nname = "redis"\nkind = "tcp"\naddress = "{address}"\nready = ["{ready}"]\n'


def test_a_probe_target_moves_when_its_probe_does_and_changes_when_its_rules_do() -> None:
    engine = FakeEngine()
    old = parse_config(config(tcp_target("127.0.0.1:6379")), engine)
    rules = parse_config(config(tcp_target("127.0.0.1:6379", ready="probe_success > 0")), engine)
    moved = parse_config(config(tcp_target("127.0.0.1:6380")), engine)
    assert plan(old, parse_config(config(tcp_target("127.0.0.1:6379")), engine)).unchanged == ("redis",)
    assert plan(old, rules).changed == ("redis",)
    assert plan(old, moved).moved == ("redis",)

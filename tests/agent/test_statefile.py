"""The state file: what survives a restart, when a saved verdict is trusted, and faults on disk."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import os
from pathlib import Path

import pytest

from healthgauge.agent._config import TargetConfig, parse_config
from healthgauge.agent._run import Agent
from healthgauge.agent.state._hub import StateHub
from healthgauge.agent.state._statecodec import (
    SavedFile,
    StateFileError,
    decode,
    encode,
    fingerprint,
    persisted,
    restore,
)
from healthgauge.agent.state._statewriter import StateFile, read
from healthgauge.health._state import Admin, Condition, Level, Role, TargetState, Verdict
from support.fake_engine import FakeEngine

from .conftest import eventually

CONFIG = """
[[targets]]
urls = { a = "http://127.0.0.1:9/metrics", b = "http://127.0.0.1:9/m" }
interval = "1s"
ready = ["app_state == 1"]
weight = "weight_hint"
fall = 3
"""

NOW = 1_700_000_000.0


def targets(text: str = CONFIG) -> tuple[TargetConfig, ...]:
    return parse_config(text, FakeEngine()).targets


def healthy(name: str, *, at: float = NOW, admin: Admin = Admin.READY) -> TargetState:
    return TargetState(
        name=name,
        live=True,
        ready=True,
        warn=True,
        weight=60,
        maxconn=7,
        admin=admin,
        reason="weight 60: weight_hint",
        checked_at=at,
        duration=0.002,
        falls=1,
        checks=12,
        conditions=(
            Condition(role=Role.READY, expr="app_state == 1", holds=True, summary="got 1", values=(1.0,)),
            Condition(role=Role.WEIGHT, expr="weight_hint", holds=True, summary="got +Inf", values=(math.inf,)),
        ),
    )


def saved(*states: TargetState, at: float = NOW, config: str = CONFIG) -> SavedFile:
    fps = {t.name: fingerprint(t) for t in targets(config)}
    return decode(encode(states, {**fps, "gone": "0"}, at))


def test_values_round_trip_even_when_not_finite() -> None:
    cond = Condition(role=Role.WARN, expr="x > 1", holds=True, values=(math.nan, -math.inf, 2.5))
    state = dataclasses.replace(healthy("a"), conditions=(cond,))
    (back,) = restore(saved(state), targets()[:1], NOW).states.values()
    assert math.isnan(back.conditions[0].values[0])
    assert back.conditions[0].values[1:] == (-math.inf, 2.5)


# -- pure: the restore rules ---------------------------------------------------------------------


def test_a_fresh_file_restores_the_judged_and_the_admin_state_as_they_were() -> None:
    a, b = healthy("a"), healthy("b", admin=Admin.DRAIN)
    out = restore(saved(a, b), targets(), NOW + 2.9)
    assert out.states["a"] == a
    assert out.states["b"] == b
    assert out.states["b"].level is Level.DRAINING
    assert out.notes == (
        "a: admin ready and judged state (degraded) restored",
        "b: admin drain and judged state (draining) restored",
    )


def test_a_file_older_than_fall_times_interval_restores_only_the_admin_state() -> None:
    out = restore(saved(healthy("a"), healthy("b", admin=Admin.MAINT)), targets(), NOW + 3.2)
    assert out.states["a"] == TargetState(name="a")  # live, not ready: as without a file
    assert out.states["b"] == TargetState(name="b", admin=Admin.MAINT)
    assert out.notes[0] == (
        "a: admin ready restored; judged state not restored: the file is 3.2s old, more than fall × interval = 3s"
    )


def test_fall_and_interval_of_each_target_set_its_own_bound() -> None:
    config = CONFIG.replace("fall = 3", "fall = 10")  # 10 s
    out = restore(saved(healthy("a"), config=config), targets(config), NOW + 9.5)
    assert out.states["a"].ready


def test_a_changed_rule_or_setting_discards_the_saved_verdict_but_not_the_admin_state() -> None:
    file = saved(healthy("a", admin=Admin.DRAIN))
    for change in ('"app_state == 1"', '"app_state == 2"'), ('"1s"', '"2s"'), ("fall = 3", "fall = 2"):
        out = restore(file, targets(CONFIG.replace(*change)), NOW + 1)
        assert out.states["a"] == TargetState(name="a", admin=Admin.DRAIN), change
        assert "its configuration changed" in out.notes[0]


def test_headers_do_not_count_as_configuration() -> None:
    with_token = CONFIG + 'token = "s3cret"\n'
    assert [fingerprint(t) for t in targets(with_token)] == [fingerprint(t) for t in targets()]
    assert fingerprint(targets()[0]) != fingerprint(targets()[1])  # the URL does


def test_a_target_never_checked_and_targets_not_configured() -> None:
    file = saved(TargetState(name="a", admin=Admin.MAINT), healthy("gone"))
    out = restore(file, targets(), NOW)
    assert out.states == {"a": TargetState(name="a", admin=Admin.MAINT)}
    assert out.notes == (
        "a: admin maint restored; it had not been checked yet",
        "not configured any more, ignored: gone",
    )


def test_a_file_from_the_future_is_trusted_only_within_a_clock_step() -> None:
    assert restore(saved(healthy("a"), at=NOW + 0.5), targets(), NOW).states["a"].ready
    out = restore(saved(healthy("a"), at=NOW + 30), targets(), NOW)
    assert not out.states["a"].ready
    assert out.notes[0].endswith("the file is 30.0s in the future")


def test_the_heartbeat_mtime_confirms_an_older_content() -> None:
    fps = {t.name: fingerprint(t) for t in targets()}
    data = encode([healthy("a", at=NOW - 100)], fps, NOW - 100)
    assert restore(decode(data, modified_at=NOW - 1), targets(), NOW).states["a"].ready
    assert not restore(decode(data, modified_at=NOW - 10), targets(), NOW).states["a"].ready


def test_a_shutting_down_agent_does_not_save_its_drain() -> None:
    state = dataclasses.replace(healthy("a"), shutting_down=True)
    assert restore(saved(state), targets(), NOW).states["a"] == healthy("a")


def test_only_a_judged_or_admin_change_rewrites_the_file() -> None:
    state = healthy("a")
    assert persisted(dataclasses.replace(state, checked_at=NOW + 1, checks=13, duration=1.0)) == persisted(state)
    for change in ({"weight": 59}, {"ready": False}, {"admin": Admin.DRAIN}, {"reason": "x"}, {"falls": 2}):
        assert persisted(dataclasses.replace(state, **change)) != persisted(state), change  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'{"version": 1, "saved_at": 1, "targets": {',
            "invalid JSON at line 1 column 43: Expecting property name enclosed in double quotes",
        ),
        (b"\xff\xfe", "not UTF-8 text at byte 0"),
        (b"[]", "expected a JSON object, got []"),
        (b'{"version": 2, "saved_at": 1, "targets": {}}', "version: expected 1, got 2"),
        (b'{"version": 1, "saved_at": "x", "targets": {}}', "saved_at: expected a finite number, got 'x'"),
        (b'{"version": 1, "saved_at": 1, "targets": []}', "targets: expected an object, got []"),
        (b'{"version": 1, "saved_at": 1, "targets": {"a": 3}}', "targets.a: expected an object, got 3"),
    ],
)
def test_a_damaged_file_says_where(data: bytes, message: str) -> None:
    with pytest.raises(StateFileError) as info:
        decode(data)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("admin", "off", "targets.a.admin: expected ready, drain or maint, got 'off'"),
        ("weight", 101, "targets.a.weight: expected a whole number from 0 to 100, got 101"),
        ("ready", 1, "targets.a.ready: expected true or false, got 1"),
        ("reason", None, "targets.a.reason: expected a string, got null"),
        ("conditions", [{"role": "x"}], "targets.a.conditions[0].role: unknown role 'x'"),
        ("fingerprint", 5, "targets.a.fingerprint: expected a string, got 5"),
    ],
)
def test_every_field_is_checked(key: str, value: object, message: str) -> None:
    doc = json.loads(encode([healthy("a")], {"a": "f"}, NOW))
    doc["targets"]["a"][key] = value
    with pytest.raises(StateFileError) as info:
        decode(json.dumps(doc).encode())
    assert str(info.value) == message


def test_read_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert read(path) is None
    path.write_bytes(b"{")
    with pytest.raises(StateFileError, match=f"^{path}: invalid JSON at line 1 column 2"):
        read(path)
    path.unlink()
    path.mkdir()
    with pytest.raises(StateFileError, match=f"^{path}: cannot read: Is a directory"):
        read(path)


# -- the writer ----------------------------------------------------------------------------------


GOOD = Verdict(at=NOW, live=True, ready=True, weight=100, reason="ok")


def hub() -> StateHub:
    return StateHub({t.name: t.policy for t in targets()})


async def test_changes_are_written_coalesced_and_an_admin_change_at_once(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    h = hub()
    fps = {t.name: fingerprint(t) for t in targets()}
    writer = StateFile(path, h, fps, min_gap=0.3, heartbeat=0.05)
    writer.write_now()
    assert os.stat(path).st_mode & 0o777 == 0o600
    writer.start()
    try:
        h.observe("a", GOOD)
        await eventually(lambda: read(path).targets["a"].state.rises == 1, within=2)  # type: ignore[union-attr]
        # A judged change that moves no one in or out of service waits out the gap...
        h.observe("a", Verdict(at=NOW, live=True, ready=False, reason="still rising"))
        await asyncio.sleep(0.05)
        assert read(path).targets["a"].state.reason != "still rising"  # type: ignore[union-attr]
        # ... a target becoming ready does not (and takes the pending change along).
        h.observe("b", GOOD)
        h.observe("b", GOOD)
        await eventually(lambda: read(path).targets["b"].state.ready, within=0.25)  # type: ignore[union-attr]
        assert read(path).targets["a"].state.reason == "still rising"  # type: ignore[union-attr]
        h.set_admin("b", Admin.DRAIN)
        await writer.flush()  # what the admin API awaits: not delayed by the gap either
        saved = read(path)
        assert saved is not None
        assert (saved.targets["b"].state.ready, saved.targets["b"].admin) == (True, Admin.DRAIN)
        # Nothing changes: the heartbeat moves the modification time, not the content.
        content, mtime = path.read_bytes(), os.stat(path).st_mtime
        await eventually(lambda: os.stat(path).st_mtime > mtime, within=2)
        assert path.read_bytes() == content
        assert writer.statistics().touches >= 1
    finally:
        await writer.close()
    assert writer.statistics().errors == 0


async def test_a_failed_write_is_reported_to_the_admin_and_retried(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    directory.mkdir()
    path = directory / "state.json"
    h = hub()
    writer = StateFile(path, h, {t.name: fingerprint(t) for t in targets()}, min_gap=0.0, heartbeat=0.05)
    writer.write_now()
    writer.start()
    try:
        path.unlink()
        directory.rmdir()  # the directory is gone: every write fails
        h.set_admin("a", Admin.DRAIN)
        with pytest.raises(OSError, match=r"cannot write state_file .*: No such file or directory"):
            await writer.flush()
        directory.mkdir()  # back: the heartbeat finds the file missing and writes it whole
        await eventually(lambda: path.exists() and read(path).targets["a"].admin is Admin.DRAIN, within=2)  # type: ignore[union-attr]
    finally:
        await writer.close()
    assert writer.statistics().errors >= 1


# -- the agent: start, restore, faults -----------------------------------------------------------


def agent_config(path: Path, url: str = "http://127.0.0.1:9/metrics") -> str:
    return f"""
[agent]
listen = "127.0.0.1:0"
state_file = "{path}"

[[targets]]
name = "a"
url = "{url}"
interval = "1s"
ready = ["app_state == 1"]
fall = 3
"""


async def test_the_agent_restores_at_start_and_saves_at_stop(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    config = parse_config(agent_config(path), FakeEngine())
    fps = {"a": fingerprint(config.targets[0])}
    path.write_bytes(encode([healthy("a", admin=Admin.DRAIN, at=NOW)], fps, NOW))
    os.utime(path, (NOW, NOW))
    agent = Agent(config, FakeEngine(), wall=lambda: NOW + 1)
    await agent.start()
    try:
        state = agent.hub.get("a")
        assert state is not None
        assert (state.ready, state.admin, state.weight) == (True, Admin.DRAIN, 60)
    finally:
        await agent.stop()
    saved = read(path)
    assert saved is not None
    assert saved.targets["a"].admin is Admin.DRAIN


async def test_a_corrupt_file_is_reported_kept_aside_and_every_target_starts_fresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b'{"version": 1, "saved_at": 1, "targets": {"a": {"admin": "drain"')
    agent = Agent(parse_config(agent_config(path), FakeEngine()), FakeEngine())
    with caplog.at_level(logging.ERROR, logger="healthgauge.agent"):
        await agent.start()
    try:
        assert agent.hub.get("a") == TargetState(name="a")
    finally:
        await agent.stop()
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith(f"state_file {path}: invalid JSON at line 1 column 65: Expecting ',' delimiter")
    assert message.endswith(f"every target starts fresh (live, not ready); it is kept as {path}.corrupt")
    assert (tmp_path / "state.json.corrupt").read_bytes().startswith(b'{"version": 1')
    assert read(path) is not None  # a good file again


async def test_a_state_file_that_cannot_be_written_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "missing-dir" / "state.json"
    agent = Agent(parse_config(agent_config(path), FakeEngine()), FakeEngine())
    with pytest.raises(StateFileError, match=r"cannot write state_file .*: No such file or directory"):
        await agent.start()
    await agent.stop()


async def test_ctl_hears_when_an_admin_change_could_not_be_saved(tmp_path: Path) -> None:
    import aiohttp

    directory = tmp_path / "state"
    directory.mkdir()
    path = directory / "state.json"
    text = agent_config(path).replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:0"\nadmin = "127.0.0.1:0"')
    agent = Agent(parse_config(text, FakeEngine()), FakeEngine())
    await agent.start()
    try:
        url = f"http://{agent.addresses['admin']}/v1/targets/a"
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/drain") as resp:
                doc = await resp.json()
            assert (resp.status, doc["admin"], "warning" in doc) == (200, "drain", False)
            saved = read(path)
            assert saved is not None
            assert saved.targets["a"].admin is Admin.DRAIN  # on disk before the answer
            path.unlink()
            directory.rmdir()
            async with session.post(f"{url}/maint") as resp:
                doc = await resp.json()
        assert (resp.status, doc["admin"]) == (200, "maint")  # applied, and it says it is not saved
        assert doc["warning"].startswith("set, but not saved: it will not survive a restart: cannot write state_file")
    finally:
        await agent.stop()

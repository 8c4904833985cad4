"""Probe targets in the agent: configuration refused naming the key, the loop, and the safeguards
(flap damping, the cascade guard) from the hub to the HAProxy reply and the agent's metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from healthgauge.agent._config import ConfigError, parse_config
from healthgauge.agent._run import Agent, safeguards
from healthgauge.agent.commands import _cmd
from healthgauge.agent.judge._promql_engine import PromEngine
from healthgauge.agent.state._hub import StateHub
from healthgauge.health import render_agent_reply
from healthgauge.health._http import render_health
from healthgauge.health._state import Policy, Verdict

SQL = """
[[targets]]
name = "db"
kind = "sql"
database = "{db}"
query = "SELECT count(*) AS pending FROM jobs"
interval = "50ms"
timeout = "45ms"
rise = 1
fall = 1
{extra}
"""


def db(path: Path, rows: int = 2) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE IF EXISTS jobs")
        conn.execute("CREATE TABLE jobs (id INTEGER)")
        conn.executemany("INSERT INTO jobs VALUES (?)", [(i,) for i in range(rows)])
    return path


X = '[[targets]]\nname = "x"\n'
EXEC = X + 'kind = "exec"\ncommand = ["true"]\n'
G = "[groups.g]\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (X + 'kind = "sqll"\n', r'^targets\[0\]\.kind: unknown kind "sqll" \(known: metrics, sql,'),
        (X + 'kind = "sql"\ndatabase = "a.db"\n', r"^targets\[0\]\.query: required for kind = 'sql'"),
        (X + 'kind = "tcp"\n', r"^targets\[0\]\.address: required for kind = 'tcp'"),
        (EXEC + 'token = "t"\n', r"^targets\[0\]\.token: unknown key"),
        (EXEC + 'query = "q"\n', r"^targets\[0\]\.query: unknown key"),
        ('[[targets]]\nkind = "exec"\ncommand = ["true"]\n', r"^targets\[0\]\.name: a target name"),
        (EXEC + 'group = "g"\n', r'^targets\[0\]\.group: "g" is not declared'),
        (G + "max_unready = 1.5\n" + EXEC, r"^groups\.g\.max_unready"),
        (G + "share = 1\n" + EXEC, r"^groups\.g\.share: unknown key"),
        (EXEC + "damping = { reuse = 3000 }\n", r"^targets\[0\]\.damping: reuse"),
        (EXEC + 'damping = { halflife = "1m" }\n', r"^targets\[0\]\.damping\.halflife: unknown key"),
        (X + 'kind = "http"\nurl = "http://h/"\nbody_regex = "["\n', r"^targets\[0\]\.body_regex: invalid regex"),
    ],
)
def test_bad_probe_configs_are_refused_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text, PromEngine())


def test_check_refuses_a_missing_key_with_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[targets]]\nname = "x"\nkind = "sql"\nquery = "SELECT 1"\n')
    assert _cmd.main(["--config", str(bad), "--check"]) == 3
    assert f"{bad}: targets[0].database: required for kind = 'sql'" in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text(SQL.format(db=db(tmp_path / "a.db"), extra=""))
    assert _cmd.main(["--config", str(good), "--check"]) == 0


def test_probe_targets_get_default_rules_and_describe_what_they_probe(tmp_path: Path) -> None:
    config = parse_config(
        SQL.format(db=tmp_path / "a.db", extra="")
        + '[[targets]]\nname = "plugin"\nkind = "exec"\ncommand = ["/bin/true"]\n',
        PromEngine(),
    )
    sql, plugin = config.targets
    assert [r.text for r in sql.ready] == ["probe_success == 1"]
    assert [r.text for r in plugin.warn] == ["probe_exec_exit_code == 1"]
    assert sql.url == f"sql:sqlite:{tmp_path / 'a.db'}"
    assert (sql.kind, plugin.kind) == ("sql", "exec")


async def wait_for(predicate: object, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_a_sql_target_in_the_running_agent(tmp_path: Path) -> None:
    path = db(tmp_path / "a.db", rows=2)
    text = SQL.format(db=path, extra='ready = ["probe_success == 1", "pending < 5"]')
    config = parse_config('[agent]\nlisten = "127.0.0.1:0"\n' + text, PromEngine())
    async with Agent(config, PromEngine()) as agent:
        await wait_for(lambda: agent.hub.get("db").serving)
        state = agent.hub.get("db")
        assert state is not None
        assert [c.values for c in state.conditions] == [(1.0,), (2.0,)]
        db(path, rows=9)
        # (on a loaded machine a probe may meet the rewrite's lock first: wait for the judged value)
        await wait_for(lambda: agent.hub.get("db").reason == "pending < 5: got 9")
        assert not agent.hub.get("db").serving
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TABLE jobs")
        await wait_for(lambda: "no such table" in agent.hub.get("db").reason)
        assert agent.hub.get("db").reason.startswith(f"sql probe failed: sqlite {path}: no such table: jobs; ")
        page = agent.metrics.text().decode()
        assert 'healthgauge_scrapes_total{result="error",target="db"}' in page


def group_config(tmp_path: Path) -> str:
    targets = "".join(
        f'[[targets]]\nname = "{n}"\nkind = "sql"\ndatabase = "{db(tmp_path / f"{n}.db")}"\n'
        f'query = "SELECT count(*) AS pending FROM jobs"\ninterval = "50ms"\ntimeout = "45ms"\n'
        f'rise = 1\nfall = 1\ngroup = "g"\nweight = "{w}"\n'
        for n, w in (("a", 30), ("b", 60))
    )
    return '[agent]\nlisten = "127.0.0.1:0"\n[groups.g]\nmax_unready = 0.5\n' + targets


async def test_the_cascade_guard_keeps_the_healthiest_in_service_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config(group_config(tmp_path), PromEngine())
    caplog.set_level(logging.WARNING, "healthgauge.agent")
    async with Agent(config, PromEngine()) as agent:
        await wait_for(lambda: all(s.serving for s in agent.hub.states()))
        for name in ("a", "b"):
            with sqlite3.connect(tmp_path / f"{name}.db") as conn:
                conn.execute("DROP TABLE jobs")
        await wait_for(lambda: not agent.hub.get("a").serving and agent.hub.get("b").safeguard == "cascade guard")
        kept = agent.hub.get("b")
        assert kept.serving
        assert kept.reason.startswith("cascade guard: kept in service, 2 of 2 in group g would be out")
        reply = render_agent_reply(kept).decode()
        assert reply.startswith("up ready 60% #cascade guard: kept in service")
        status, _, body = render_health(kept)
        assert (status, json.loads(body)["status"]) == (200, "warn")
        assert json.loads(body)["output"].startswith("cascade guard: kept in service")
        assert render_health(kept, consul=True)[0] == 429  # Consul: warning, still in its answers
        page = agent.metrics.text().decode()
        assert 'healthgauge_group_guard_active{group="g"} 1.0' in page
        assert 'healthgauge_target_guarded{target="b"} 1.0' in page
        assert 'healthgauge_target_guarded{target="a"} 0.0' in page
        db(tmp_path / "a.db")
        await wait_for(lambda: agent.hub.get("a").serving and not agent.hub.get("b").serving)
        assert agent.hub.get("b").safeguard == ""
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("b: cascade guard: kept in service") for m in messages)
    assert any(m.startswith("b: cascade guard released") for m in messages)


def test_flap_damping_through_the_hub(tmp_path: Path) -> None:
    config = parse_config(SQL.format(db=tmp_path / "a.db", extra='damping = { half_life = "10s" }'), PromEngine())
    hub = StateHub({"db": Policy(rise=1, fall=1)}, safeguards(config))
    up = Verdict(at=0.0, live=True, ready=True, reason="ok")
    down = Verdict(at=0.0, live=True, ready=False, reason="probe_success == 1: got 0")
    for at, verdict in enumerate([up, down, up, down, down]):
        state = hub.observe(
            "db", Verdict(**{**{f: getattr(verdict, f) for f in ("live", "ready", "reason")}, "at": float(at)})
        )
    assert state.serving
    assert state.safeguard == "flap damping"
    assert state.reason.startswith("flap damping: held ready (penalty ")
    assert hub.safeguards is not None
    assert hub.safeguards.statistics().suppressed == {"db"}
    later = hub.observe("db", Verdict(at=60.0, live=True, ready=False, reason="still down"))
    assert (later.serving, later.safeguard, later.reason) == (False, "", "still down")

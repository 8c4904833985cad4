"""The worked failover of examples/failover/, for real: two PostgreSQL servers behind a real HAProxy
(TCP mode), a real agent process judging each by its query time and success over agent-check.

The example's own files are loaded, with loopback addresses and shorter times put in:

1. both servers answer fast: both UP, new connections land on both;
2. a lock on pg1's ``jobs`` table makes its query run into the statement timeout: the agent says
   down and HAProxy takes pg1 out; new connections all land on pg2;
3. the lock goes: pg1 comes back;
4. both locked: the cascade guard keeps the healthier one in service (HAProxy shows why) and every
   new connection lands on it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from support.agentproc import AgentProcess
from support.haproxy import HAProxy
from support.postgres import PASSWORD, Postgres
from support.procs import wait_until

pytestmark = pytest.mark.real

EXAMPLE = Path(__file__).parents[2] / "examples" / "failover"
BACKEND = "be_pg"


def replaced(text: str, pairs: list[tuple[str, str]]) -> str:
    for old, new in pairs:
        assert old in text, f"the example no longer holds {old!r}"
        text = text.replace(old, new)
    return text


def agent_config(pg1: Postgres, pg2: Postgres) -> str:
    return replaced(
        (EXAMPLE / "agent.toml").read_text(),
        [
            ('listen = "127.0.0.1:8099"', 'listen = "127.0.0.1:0"'),
            ('admin = "127.0.0.1:8100"', 'admin = "127.0.0.1:0"'),
            ('haproxy_listen = "0.0.0.0:8098"', 'haproxy_listen = "127.0.0.1:0"\nshutdown_grace = "100ms"'),
            ("postgresql://healthgauge@10.0.0.21:5432/app", pg1.dsn),
            ("postgresql://healthgauge@10.0.0.22:5432/app", pg2.dsn),
            ('interval = "1s"', 'interval = "200ms"'),
            ('timeout = "900ms"', 'timeout = "180ms"'),
            ('query_timeout = "500ms"', 'query_timeout = "120ms"'),
            ("[10s]", "[2s]"),
            ('half_life = "1m"', 'half_life = "1s"'),
            ('max_suppress = "4m"', 'max_suppress = "4s"'),
        ],
    )


def haproxy_template() -> str:
    return replaced(
        (EXAMPLE / "haproxy.cfg").read_text(),
        [
            ("stats socket /run/haproxy/admin.sock", "stats socket {sock}"),
            ("bind :5432", "bind 127.0.0.1:{fe_port}"),
            ("agent-addr 10.0.0.5 agent-port 8098", "agent-addr 127.0.0.1 agent-port {agent}"),
            ("10.0.0.21:5432", "127.0.0.1:{pg1}"),
            ("10.0.0.22:5432", "127.0.0.1:{pg2}"),
            ("inter 1s", "inter 200ms"),
        ],
    )


class Lock:
    """A session holding ACCESS EXCLUSIVE on ``jobs``: every other query on it waits (and runs
    into its statement timeout). Stopped by pid, and its backend terminated, on release."""

    def __init__(self, pg: Postgres) -> None:
        self.pg = pg
        sql = "BEGIN; LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);"
        argv = [str(pg.bin / "psql"), "-h", str(pg.root), "-p", str(pg.port), "-U", "postgres", "-d", "postgres"]
        self.proc = subprocess.Popen(
            [*argv, "-c", sql],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user="postgres" if os.geteuid() == 0 else None,
        )
        for _ in range(250):
            held = pg.psql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                           "WHERE c.relname = 'jobs' AND l.mode = 'AccessExclusiveLock' AND l.granted")  # fmt: skip
            if held.strip() == "1":
                return
            time.sleep(0.02)
        self.release()
        raise AssertionError("the lock was not taken")

    def release(self) -> None:
        self.pg.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'BEGIN; LOCK TABLE jobs%' AND pid <> pg_backend_pid()"
        )
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)


def landed(port: int, count: int = 6) -> dict[int, int]:
    """Open ``count`` new connections through HAProxy; how many reached each server port."""

    async def one() -> int:
        import asyncpg

        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", password=PASSWORD, timeout=5)
        try:
            return int(await conn.fetchval("SELECT current_setting('port')"))
        finally:
            await conn.close()

    async def every() -> dict[int, int]:
        got: dict[int, int] = {}
        for _ in range(count):
            server = await one()
            got[server] = got.get(server, 0) + 1
        return got

    return asyncio.run(every())


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Postgres, Postgres, HAProxy, AgentProcess]]:
    pytest.importorskip("asyncpg")
    monkeypatch.setenv("HG_PG_PASSWORD", PASSWORD)
    with ExitStack() as stack:
        servers = []
        for _ in range(2):
            pg = Postgres()
            stack.callback(pg.close)
            pg.start()
            pg.psql("CREATE TABLE jobs (id serial PRIMARY KEY, state text); INSERT INTO jobs (state) VALUES ('queued')")
            servers.append(pg)
        pg1, pg2 = servers
        agent = stack.enter_context(AgentProcess(tmp_path, agent_config(pg1, pg2)))
        hap = stack.enter_context(
            HAProxy(tmp_path, haproxy_template(), pg1=pg1.port, pg2=pg2.port, agent=agent.port("haproxy_listen"))
        )
        yield pg1, pg2, hap, agent


def test_haproxy_moves_traffic_away_from_a_slow_database_and_the_guard_keeps_one(
    rig: tuple[Postgres, Postgres, HAProxy, AgentProcess],
) -> None:
    pg1, pg2, hap, agent = rig
    for name in ("pg1", "pg2"):  # HAProxy starts servers UP: wait for the agent's own word
        hap.wait_server(BACKEND, name, status="UP", last_agt="via agent : up", timeout=15)
    assert set(landed(hap.fe_port)) == {pg1.port, pg2.port}

    lock = Lock(pg1)
    try:
        row = hap.wait_server(BACKEND, "pg1", status="DOWN", timeout=10)
        # The statement timeout, or (on a loaded machine) the probe's own deadline just before it.
        assert row["last_agt"].startswith("via agent : down (sql probe failed: "), row["last_agt"]
        hap.wait_server(BACKEND, "pg2", status="UP")
        assert landed(hap.fe_port) == {pg2.port: 6}
    finally:
        lock.release()
    hap.wait_server(BACKEND, "pg1", status="UP", last_agt="via agent : up", timeout=15)

    locks = [Lock(pg1), Lock(pg2)]
    try:
        rows = {}

        def one_up_one_down() -> bool:
            rows.update({n: hap.server(BACKEND, n) for n in ("pg1", "pg2")})
            statuses = sorted(r["status"].split()[0] for r in rows.values())
            up = [r for r in rows.values() if r["status"].startswith("UP")]
            return statuses == ["DOWN", "UP"] and "cascade guard" in up[0]["last_agt"]

        wait_until(one_up_one_down, timeout=15, what="one server kept UP by the cascade guard")
        kept = next(n for n, r in rows.items() if r["status"].startswith("UP"))
        assert "cascade guard: kept in service, 2 of 2 in group pg" in rows[kept]["last_agt"], rows[kept]
        port = pg1.port if kept == "pg1" else pg2.port
        assert landed(hap.fe_port) == {port: 6}
        # The kept one stays kept while both degrade further (their windows fill at different
        # times and their figures cross): a swap would drop every session on it.
        time.sleep(1.2)  # six probe intervals
        assert landed(hap.fe_port) == {port: 6}
        assert hap.server(BACKEND, kept)["status"].startswith("UP")
        log = agent.log_path.read_text()
        assert "cascade guard released" not in log[log.index("cascade guard: kept") :], log
    finally:
        for lock in locks:
            lock.release()


def test_the_example_files_are_valid(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from healthgauge.agent.commands import _cmd
    from support.haproxy import check_config

    pytest.importorskip("asyncpg")
    monkeypatch.setenv("HG_PG_PASSWORD", "not used by --check")
    assert _cmd.main(["--config", str(EXAMPLE / "agent.toml"), "--check"]) == 0
    assert "2 target(s), configuration valid" in capsys.readouterr().out
    monkeypatch.delenv("HG_PG_PASSWORD")
    assert _cmd.main(["--config", str(EXAMPLE / "agent.toml"), "--check"]) == 3
    assert "targets[0].password_env: the environment variable HG_PG_PASSWORD is not set" in capsys.readouterr().err
    out = check_config(EXAMPLE / "haproxy.cfg")
    assert out.returncode == 0, out.stdout + out.stderr

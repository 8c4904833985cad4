"""kind = "sql": SQLite files and a real PostgreSQL, good answers and every bad input."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from healthgauge.probes import Probe, SpecError, run
from probes.conftest import make, table, values
from support.postgres import PASSWORD, Postgres

QUEUED = "SELECT count(*) AS pending, max(id) AS newest, 'x' AS label FROM jobs WHERE state = 'queued'"


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT)")
        db.executemany("INSERT INTO jobs (state) VALUES (?)", [("queued",), ("queued",), ("queued",), ("done",)])
    return path


async def test_sqlite_samples_success_rows_and_the_first_rows_numbers(sqlite_db: Path) -> None:
    probe = make("sql", {"database": str(sqlite_db), "query": QUEUED})
    result = await run(probe, 2.0)
    got = values(result.samples)
    assert result.success, result.error
    assert (got["probe_success"], got["probe_sql_rows"], got["pending"], got["newest"]) == (1.0, 1.0, 3.0, 3.0)
    assert "label" not in got  # text is not a number
    assert 0 < got["probe_duration_seconds"] < 2
    await probe.close()


async def test_sqlite_is_read_only_and_rolled_back(sqlite_db: Path) -> None:
    probe = make("sql", {"database": str(sqlite_db), "query": "DELETE FROM jobs"})
    result = await run(probe, 2.0)
    assert not result.success
    assert "readonly" in result.error or "read-only" in result.error
    with sqlite3.connect(sqlite_db) as db:
        assert db.execute("SELECT count(*) FROM jobs").fetchone() == (4,)
    await probe.close()


async def test_sqlite_errors_say_what(sqlite_db: Path, tmp_path: Path) -> None:
    bad = make("sql", {"database": str(sqlite_db), "query": "SELECT nope FROM jobs"})
    result = await run(bad, 2.0)
    assert not result.success
    assert result.error == f"sqlite {sqlite_db}: no such column: nope"
    missing = make("sql", {"database": str(tmp_path / "absent.db"), "query": "SELECT 1"})
    assert "unable to open database file" in (await run(missing, 2.0)).error


async def test_sqlite_query_past_its_timeout_is_interrupted(sqlite_db: Path) -> None:
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    probe = make("sql", {"database": str(sqlite_db), "query": endless, "query_timeout": "200ms"})
    started = time.monotonic()
    result = await run(probe, 2.0)
    assert time.monotonic() - started < 3.0  # the endless query would never end; margin for a loaded machine
    assert result.error == "query interrupted after its 0.2s statement timeout"
    ok = make("sql", {"database": str(sqlite_db), "query": "SELECT 1 AS one"})
    assert (await run(ok, 2.0)).success  # nothing else affected


def pg_probe(pg: Postgres, query: str, **extra: object) -> Probe:
    return make("sql", {"driver": "postgresql", "dsn": pg.dsn, "password_env": "HG_TEST_PG", "query": query, **extra})


@pytest.fixture
def pg_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HG_TEST_PG", PASSWORD)


@pytest.mark.real
@pytest.mark.usefixtures("pg_password")
async def test_postgres_samples(pg: Postgres) -> None:
    probe = pg_probe(pg, QUEUED + " UNION ALL SELECT 0, 0, 'y'")
    result = await run(probe, 3.0)
    got = values(result.samples)
    assert result.success, result.error
    assert (got["probe_sql_rows"], got["pending"], got["newest"]) == (2.0, 2.0, 2.0)
    lag = pg_probe(pg, "SELECT interval '1.5 seconds' AS lag, true AS in_recovery")
    assert values((await run(lag, 3.0)).samples)["lag"] == 1.5
    await probe.close()
    await lag.close()


@pytest.mark.real
async def test_postgres_wrong_password_says_so_and_never_shows_a_password(
    pg: Postgres, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("not-the-Password-77\n")
    probe = make("sql", {"driver": "postgresql", "dsn": pg.dsn, "password_file": str(secret), "query": "SELECT 1"})
    result = await run(probe, 3.0)
    assert not result.success
    assert 'password authentication failed for user "postgres"' in result.error
    assert "not-the-Password-77" not in result.error
    assert PASSWORD not in result.error
    assert "not-the-Password-77" not in repr(probe.__dict__)
    secret.write_text(PASSWORD + "\n")  # rotated: read at the next connect
    assert (await run(probe, 3.0)).success
    await probe.close()


@pytest.mark.real
@pytest.mark.usefixtures("pg_password")
async def test_postgres_erroring_and_writing_queries(pg: Postgres) -> None:
    bad = pg_probe(pg, "SELECT * FROM missing_table")
    result = await run(bad, 3.0)
    assert result.error == 'postgresql: relation "missing_table" does not exist (SQLSTATE 42P01)'
    write = pg_probe(pg, "DELETE FROM jobs RETURNING id")
    result = await run(write, 3.0)
    assert "read-only transaction" in result.error
    assert pg.psql("SELECT count(*) FROM jobs").strip() == "3"
    ok = pg_probe(pg, "SELECT 1 AS one")
    assert (await run(ok, 3.0)).success
    for probe in (bad, write, ok):
        await probe.close()


@pytest.mark.real
@pytest.mark.usefixtures("pg_password")
async def test_postgres_query_past_its_timeout_is_cancelled_on_the_server(pg: Postgres) -> None:
    probe = pg_probe(pg, "SELECT pg_sleep(30) AS slept", query_timeout="300ms")
    started = time.monotonic()
    result = await run(probe, 3.0)
    assert time.monotonic() - started < 10.0  # pg_sleep(30) would take 30 s
    assert result.error == "query cancelled by the server after its 0.3s statement timeout"
    assert values(result.samples)["probe_duration_seconds"] >= 0.3
    running = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'"
    active = pg.psql(running)
    assert active.strip() == "0"
    await probe.close()


@pytest.mark.real
@pytest.mark.usefixtures("pg_password")
async def test_postgres_going_away_and_coming_back_the_pool_recovers(pg: Postgres) -> None:
    probe = pg_probe(pg, "SELECT 1 AS one")
    assert (await run(probe, 3.0)).success
    pg.stop()
    try:
        down = await run(probe, 2.0)
        assert not down.success
        assert down.error  # a connection error, not an exception
        again = await run(probe, 2.0)
        assert "Connection refused" in again.error or "connect" in again.error.lower(), again.error
    finally:
        await asyncio.to_thread(pg.start)
    results = []
    for _ in range(5):
        results.append(await run(probe, 3.0))
        if results[-1].success:
            break
    assert results[-1].success, [r.error for r in results]
    assert len(results) <= 2  # at most one probe meets a connection the restart broke
    await probe.close()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, r"targets\[0\].query: required for kind = 'sql'"),
        ({"query": "SELECT 1"}, r"targets\[0\].database: required"),
        ({"query": "SELECT 1", "driver": "mysql"}, r"targets\[0\].driver: one of sqlite, postgresql"),
        ({"query": "SELECT 1", "driver": "postgresql", "dsn": "postgresql://u:hunter2@h/db"}, "holds a password"),
        ({"query": "SELECT 1", "driver": "postgresql", "dsn": "postgresql://u@h/db", "password": "x"}, "not accepted"),
        (
            {"query": "SELECT 1", "driver": "postgresql", "dsn": "postgresql://u@h/db", "password_env": "HG_NOPE_X"},
            "HG_NOPE_X is not set",
        ),
        ({"query": "SELECT 1", "database": "x.db", "dsn": "postgresql://u@h/db"}, "not a setting of driver = 'sqlite'"),
        ({"query": "SELECT 1", "database": "x.db", "query_timeout": "9s"}, "longer than the target's timeout"),
    ],
)
def test_bad_settings_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        make("sql", raw)
    assert "hunter2" not in str(caught.value)


def test_relative_database_paths_follow_the_config_file(tmp_path: Path) -> None:
    from healthgauge.probes import build

    probe = build("sql", table({"kind": "sql", "database": "app.db", "query": "SELECT 1"}, base=tmp_path), 1.0)
    assert probe.path == str(tmp_path / "app.db")


@pytest.mark.real
async def test_postgres_tls_modes(tmp_path: Path, pg_password: None) -> None:
    from support.postgres import postgres
    from support.tls import make_certificate

    cert, key = make_certificate(tmp_path)
    with postgres(tls=(cert, key)) as server:
        verified = make(
            "sql",
            {"driver": "postgresql", "dsn": server.dsn, "password_env": "HG_TEST_PG", "query": "SELECT ssl::int AS tls "
             "FROM pg_stat_ssl WHERE pid = pg_backend_pid()", "sslmode": "verify-full", "ca_file": str(cert)},
        )  # fmt: skip
        result = await run(verified, 5.0)
        assert result.success, result.error
        assert values(result.samples)["tls"] == 1.0
        untrusted = make(
            "sql",
            {"driver": "postgresql", "dsn": server.dsn, "password_env": "HG_TEST_PG", "query": "SELECT 1",
             "sslmode": "verify-full"},
        )  # fmt: skip
        result = await run(untrusted, 5.0)
        assert not result.success
        assert "certificate verify failed" in result.error, result.error
        for probe in (verified, untrusted):
            await probe.close()


@pytest.mark.real
async def test_a_password_never_reaches_logs_status_or_metrics(
    pg: Postgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from healthgauge.agent._config import parse_config
    from healthgauge.agent._run import Agent
    from healthgauge.agent.judge._promql_engine import PromEngine
    from healthgauge.health import render_agent_reply
    from healthgauge.health._http import render_health

    wrong = "Wrong-Secret-4711"
    secret = tmp_path / "pw"
    secret.write_text(wrong + "\n")
    config = parse_config(
        f'[agent]\nlisten = "127.0.0.1:0"\n[[targets]]\nname = "db"\nkind = "sql"\ndriver = "postgresql"\n'
        f'dsn = "{pg.dsn}"\npassword_file = "{secret}"\nquery = "SELECT 1 AS one"\ninterval = "100ms"\n'
        'timeout = "90ms"\n',
        PromEngine(),
    )
    caplog.set_level(logging.DEBUG)
    async with Agent(config, PromEngine()) as agent:
        for _ in range(250):
            state = agent.hub.get("db")
            if state is not None and "password authentication failed" in state.reason:
                break
            await asyncio.sleep(0.02)
        state = agent.hub.get("db")
        assert state is not None
        assert "password authentication failed" in state.reason
        said = [
            state.reason,
            repr(state),
            repr(config),
            render_agent_reply(state).decode(),
            render_health(state)[2].decode(),
            agent.metrics.text().decode(),
            caplog.text,
        ]
    for text in said:
        assert wrong not in text
        assert PASSWORD not in text

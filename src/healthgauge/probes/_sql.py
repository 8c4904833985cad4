"""``kind = "sql"``: run a read-only query, judge its time, its rows and its first row's numbers.

Two drivers:

- ``driver = "sqlite"`` (the default): the standard library's sqlite3, on a file opened read-only
  (``mode=ro``, ``PRAGMA query_only``), run in a worker thread so the event loop never waits on
  the disk; the statement timeout interrupts the query from SQLite's progress handler.
- ``driver = "postgresql"``: asyncpg (the ``postgres`` extra), one connection pool per target;
  the session is read-only (``default_transaction_read_only``) with a server-side
  ``statement_timeout``, so a query past its time is cancelled by the server itself, not only
  abandoned by the client. The password is read from ``password_file`` at each connect, or from
  the environment (``password_env``); a DSN holding a password is refused, and no message, log
  line or status answer ever carries one.

Either way the query runs in a transaction that is rolled back. Samples: ``probe_sql_rows`` (rows
returned, counted up to :data:`MAX_ROWS`), ``probe_sql_query_seconds`` (the query alone; the
common ``probe_duration_seconds`` includes the connect), and each numeric column of the first row
by its name (``SELECT count(*) AS pending ...`` gives ``pending``; booleans are 1/0, intervals
seconds).
"""

from __future__ import annotations

import asyncio
import importlib.util
import shlex
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from healthgauge.exposition import Sample
from healthgauge.probes._base import ProbeError, Result, as_number, metric_name, sample
from healthgauge.probes._spec import Secret, SpecError, Table, client_tls

KEYS: tuple[str, ...] = (
    "driver",
    "database",
    "dsn",
    "query",
    "query_timeout",
    "password_file",
    "password_env",
    "pool_size",
)
KEYS += ("sslmode", "ca_file")
DRIVERS = ("sqlite", "postgresql")
SSLMODES = ("disable", "prefer", "require", "verify-ca", "verify-full")
#: Rows counted per query; a health query returns a handful, and a runaway one must not fill memory.
MAX_ROWS = 10_000
#: Columns of the first row turned into samples.
MAX_COLUMNS = 32
#: The statement timeout's share of the target's timeout when ``query_timeout`` is not given: the
#: server cancels the query before the target's deadline, so the error says "statement timeout".
QUERY_SHARE = 0.8
#: Worker threads for SQLite queries, shared by every SQLite target (each query holds one while it
#: runs; the rest of the agent's offloaded work keeps the default executor).
SQLITE_THREADS = 4
# healthgauge is not on PyPI; its extras' packages are: install them into the running environment.
ASYNCPG_INSTALL = f"{shlex.quote(sys.executable)} -m pip install asyncpg"

#: The PostgreSQL probe's own deadline as a share of the target's timeout: asyncpg's timeouts end
#: the query a little before the caller's deadline would cut it.
OWN_SHARE = 0.9
#: How long a new connection may take (TCP, TLS, authentication), in seconds, beyond the probe's
#: own deadline: a connect cut at a short probe timeout would be lost and retried at every probe
#: (a storm of SCRAM handshakes on a busy server). The probe still fails at its deadline; the
#: connection, once made, serves the next probes. libpq's connect_timeout is often set to 10.
CONNECT_TIMEOUT = 10.0
_RESERVED = ("probe_success", "probe_duration_seconds", "probe_sql_rows", "probe_sql_query_seconds")

_executor: ThreadPoolExecutor | None = None


def make(table: Table, timeout: float) -> SqliteProbe | PostgresProbe:
    driver = table.raw.get("driver", "sqlite")
    if driver not in DRIVERS:
        raise SpecError(f"{table.where('driver')}: one of {', '.join(DRIVERS)}, got {driver!r}")
    query = table.text("query")
    query_timeout = table.seconds("query_timeout", timeout * QUERY_SHARE)
    if query_timeout > timeout:
        raise SpecError(f"{table.where('query_timeout')}: longer than the target's timeout ({timeout:g}s)")
    if driver == "sqlite":
        _only(table, "sqlite", ("database",))
        return SqliteProbe(table.path("database"), query, query_timeout)
    _only(table, "postgresql", ("dsn", "password_file", "password_env", "pool_size", "sslmode", "ca_file"))
    if importlib.util.find_spec("asyncpg") is None:
        raise SpecError(f"{table.where('driver')}: postgresql needs asyncpg (the postgres extra): {ASYNCPG_INSTALL}")
    return PostgresProbe(
        dsn=_dsn(table),
        secret=table.secret(),
        query=query,
        query_timeout=query_timeout,
        pool_size=table.whole("pool_size", 1, 1, 16),
        ssl=_ssl(table),
    )


def _only(table: Table, driver: str, allowed: tuple[str, ...]) -> None:
    for name in KEYS:
        if name in table.raw and name not in (*allowed, "driver", "query", "query_timeout"):
            raise SpecError(f"{table.where(name)}: not a setting of driver = {driver!r}")


def _dsn(table: Table) -> str:
    dsn = table.text("dsn")
    try:
        parts = urlsplit(dsn)
        has_password = parts.password is not None
    except ValueError as exc:
        raise SpecError(f"{table.where('dsn')}: not a postgresql:// URL: {exc}") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise SpecError(f"{table.where('dsn')}: a postgresql://user@host:port/dbname URL")
    if has_password or "password=" in parts.query:
        raise SpecError(f"{table.where('dsn')}: holds a password; use password_file or password_env")
    return dsn


def _ssl(table: Table) -> Any:
    mode = table.raw.get("sslmode", "prefer")
    if mode not in SSLMODES:
        raise SpecError(f"{table.where('sslmode')}: one of {', '.join(SSLMODES)}, got {mode!r}")
    if mode not in ("verify-ca", "verify-full"):
        if "ca_file" in table.raw:
            raise SpecError(f"{table.where('ca_file')}: only with sslmode verify-ca or verify-full")
        return mode
    # Verified modes trust ca_file, or the system's CAs as the http probe does (not libpq's
    # ~/.postgresql/root.crt, which a service account rarely has).
    context = client_tls(table, enabled=True)
    assert context is not None
    context.check_hostname = mode == "verify-full"
    return context


def row_samples(names: Sequence[str], row: Sequence[object] | None, rows: int, query_seconds: float) -> list[Sample]:
    """The SQL samples of one query: its rows, its own time, the first row's numbers by name."""
    out = [sample("probe_sql_rows", rows), sample("probe_sql_query_seconds", query_seconds)]
    if row is None:
        return out
    seen = set(_RESERVED)
    for name, value in zip(names[:MAX_COLUMNS], row, strict=False):
        number = as_number(value)
        metric = metric_name(name)
        if number is None or metric in seen:
            continue
        seen.add(metric)
        out.append(sample(metric, number))
    return out


class SqliteProbe:
    """A read-only query on a SQLite file, in a worker thread."""

    kind = "sql"

    def __init__(self, path: str, query: str, query_timeout: float) -> None:
        self.path = path
        self.query = query
        self.query_timeout = query_timeout
        self._connection: sqlite3.Connection | None = None
        self._busy = False

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    async def probe(self, budget: float) -> Result:
        if self._busy:  # the last query is still running in its thread (it will be interrupted)
            raise ProbeError("the previous query is still running")
        self._busy = True
        future = asyncio.get_running_loop().run_in_executor(_pool(), self._run, min(budget, self.query_timeout))
        # Free only when the thread is done: a probe cut by its deadline leaves the query running
        # until the progress handler interrupts it, and the connection is not shared meanwhile.
        future.add_done_callback(self._done)
        return await asyncio.shield(future)

    def _done(self, _: object) -> None:
        self._busy = False

    def _run(self, limit: float) -> Result:
        deadline = time.monotonic() + limit
        try:
            connection = self._connect()
            connection.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
            started = time.monotonic()
            connection.execute("BEGIN")
            try:
                cursor = connection.execute(self.query)
                names = [d[0] for d in cursor.description or ()]
                first, rows = _fetch(cursor.fetchmany)
            finally:
                connection.rollback()
            took = time.monotonic() - started
        except sqlite3.Error as exc:
            self._drop()
            if isinstance(exc, sqlite3.OperationalError) and time.monotonic() > deadline:
                return Result(False, error=f"query interrupted after its {limit:g}s statement timeout")
            return Result(False, error=f"sqlite {self.path}: {exc}")
        return Result(True, tuple(row_samples(names, first, rows, took)))

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            uri = "file:" + self.path.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
            connection = sqlite3.connect(
                uri, uri=True, timeout=self.query_timeout, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA query_only = ON")
            self._connection = connection
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not self._busy:
            connection.close()


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=SQLITE_THREADS, thread_name_prefix="healthgauge-sqlite")
    return _executor


def _fetch(fetchmany: Callable[[int], list[Any]]) -> tuple[Sequence[object] | None, int]:
    first: Sequence[object] | None = None
    rows = 0
    while rows < MAX_ROWS:
        batch = fetchmany(min(256, MAX_ROWS - rows))
        if not batch:
            break
        if first is None:
            first = batch[0]
        rows += len(batch)
    return first, rows


class PostgresProbe:
    """A read-only query through a per-target asyncpg pool."""

    kind = "sql"

    def __init__(
        self, *, dsn: str, secret: Secret | None, query: str, query_timeout: float, pool_size: int, ssl: Any
    ) -> None:
        self.dsn = dsn
        self.secret = secret
        self.query = query
        self.query_timeout = query_timeout
        self.pool_size = pool_size
        self.ssl = ssl
        self._pool: Any = None
        self._running: asyncio.Future[Result] | None = None

    def describe(self) -> str:
        return self.dsn

    async def _get_pool(self) -> Any:
        if self._pool is None:
            try:
                import asyncpg
            except ImportError:
                raise ProbeError(f"driver postgresql needs asyncpg (the postgres extra): {ASYNCPG_INSTALL}") from None
            pool = asyncpg.create_pool(
                self.dsn,
                password=self.secret.read if self.secret is not None else None,
                min_size=0,
                max_size=self.pool_size,
                timeout=CONNECT_TIMEOUT,
                ssl=self.ssl,
                # Sent with the connection's start-up: no round trip per query.
                server_settings={
                    "application_name": "healthgauge",
                    "default_transaction_read_only": "on",
                    "statement_timeout": str(max(1, round(self.query_timeout * 1000))),
                },
            )
            await pool  # min_size 0: no connection yet, so a database that is down cannot fail this
            self._pool = pool
        return self._pool

    async def probe(self, budget: float) -> Result:
        """The query runs in a task of its own, shielded from the caller's deadline: asyncpg's own
        timeouts (a little inside ``budget``) and the server's statement timeout end it, so a cut
        never leaves a connection half-way through a query (asyncpg would reset or lose it)."""
        if self._running is not None and not self._running.done():
            raise ProbeError("the previous query is still running")
        self._running = asyncio.ensure_future(self._query(budget * OWN_SHARE))
        return await asyncio.shield(self._running)

    async def _query(self, limit: float) -> Result:
        """One query; never raises (its result may outlive the caller that asked for it)."""
        import asyncpg

        deadline = time.monotonic() + limit
        try:
            pool = await self._get_pool()
            async with pool.acquire(timeout=CONNECT_TIMEOUT) as connection:
                started = time.monotonic()
                if started >= deadline:  # connected too late for this probe: kept for the next
                    return Result(False, error=f"postgresql {self.dsn}: connected only after {limit:.3g}s")
                records = await _rolled_back(connection, self.query, deadline - started)
                took = time.monotonic() - started
        except asyncpg.QueryCanceledError:
            error = f"query cancelled by the server after its {self.query_timeout:g}s statement timeout"
            return Result(False, error=error)
        except asyncpg.PostgresError as exc:
            return Result(False, error=f"postgresql: {_pg_message(exc)}")
        except TimeoutError:
            return Result(False, error=f"postgresql {self.dsn}: no answer within {limit:.3g}s")
        except (asyncpg.InterfaceError, OSError, SpecError, ProbeError) as exc:
            return Result(False, error=f"postgresql {self.dsn}: {_os_message(exc)}")
        names = list(records[0].keys()) if records else []
        first = tuple(records[0].values()) if records else None
        return Result(True, tuple(row_samples(names, first, min(len(records), MAX_ROWS), took)))

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 2.0)
            except (TimeoutError, OSError):
                pool.terminate()


async def _rolled_back(connection: Any, query: str, limit: float) -> Any:
    transaction = connection.transaction(readonly=True)
    await transaction.start()
    try:
        return await connection.fetch(query, timeout=limit)  # asyncpg cancels it on the server too
    finally:
        await transaction.rollback()


def _pg_message(exc: Exception) -> str:
    sqlstate = getattr(exc, "sqlstate", "")
    text = " ".join(str(exc).split())  # one line: asyncpg adds DETAIL/HINT lines
    return f"{text} (SQLSTATE {sqlstate})" if sqlstate else text


def _os_message(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__

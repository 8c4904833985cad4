"""Benchmark the agent: N targets scraped every second, and probes answered under a steady load.

    .venv/bin/python bench/agent.py [--targets 1000] [--rate 2000] [--seconds 10] [--probe-targets 0]
                                    [--sql-targets 200] [--sql-rounds 5]

Three processes on loopback: a static metrics server (one asyncio process serving every target's
page at /metrics/<i>, keep-alive), the agent (`healthgauge agent`, the real command), and an
open-loop probe generator (requests scheduled at a fixed rate and spread over 32 keep-alive
connections, as load balancers and sidecars probe; latency is measured from the scheduled time,
so a stall is never hidden by a generator that waits for it).

Prints: the agent's CPU (cores, from /proc/<pid>/stat) while only scraping; the same while also
answering probes; p50/p99/max of `/readyz/<target>`; the agent's CPU per probe against the CPU of
one fork+exec of /bin/true (the floor of any exec probe) and of a bare Python start (the floor of
`healthgauge check`, held to 1.3x it).

Then the probe kinds' row (``--sql-targets``, 0 to skip): three agents at once, side by side over
the same windows so the shared machine's noise falls on all of them alike: the metrics agent
above, one with N ``kind = "sql"`` targets on SQLite files, and one with N on a PostgreSQL server
the benchmark starts (Debian's binaries, a temporary cluster, an ephemeral port; tests/support/
postgres.py), every target at 1 s. Prints each agent's CPU per window (median of the rounds), the
CPU per check of each kind, and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

PAGE = (
    "# HELP app_last_iteration_ts Last completed iteration.\n# TYPE app_last_iteration_ts gauge\n"
    "app_last_iteration_ts @TS@\n"
    "# HELP app_state 1 when serving.\n# TYPE app_state gauge\napp_state 1\n"
    "# HELP queue_depth Jobs waiting.\n# TYPE queue_depth gauge\nqueue_depth 42\n"
    "# HELP app_jobs_total Jobs done.\n# TYPE app_jobs_total counter\napp_jobs_total @JOBS@\n"
    + "".join(
        f'# HELP noise_{i} Unread metric.\n# TYPE noise_{i} gauge\nnoise_{i}{{shard="{j}"}} {j}\n'
        for i in range(10)
        for j in range(3)
    )
)

CONFIG = """\
[agent]
listen = "127.0.0.1:0"
shutdown_grace = "0s"

[[targets]]
urls = {{ {urls} }}
interval = "1s"
timeout = "500ms"
live = ["time() - app_last_iteration_ts < 60"]
ready = ["app_state == 1", "rate(app_jobs_total[10s]) > 0"]
warn = ["queue_depth > 100"]
weight = "clamp(100 - queue_depth / 10, 0, 100)"
maxconn = "50"
rise = 2
fall = 3
"""


# --- the static metrics server (a child process) -------------------------------------------------


class _Static(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            _, self.buf = self.buf.split(b"\r\n\r\n", 1)
            now = time.time()
            body = PAGE.replace("@TS@", f"{now:.3f}").replace("@JOBS@", str(int(now * 10))).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {len(body)}\r\n\r\n"
            self.transport.write(head.encode() + body)  # type: ignore[attr-defined]


async def _serve_static() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Static, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


# --- the open-loop probe generator (a child process) ---------------------------------------------


class _Prober(asyncio.Protocol):
    """One keep-alive connection; one probe in flight; answers parsed just enough to be counted."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.buf = b""
        self.scheduled = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.pool.idle.append(self)
        self.pool.pump()

    def send(self, scheduled: float, request: bytes) -> None:
        assert self.transport is not None
        self.scheduled = scheduled
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end]
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        if len(self.buf) < end + 4 + length:
            return
        self.buf = self.buf[end + 4 + length :]
        self.pool.done(self, time.perf_counter() - self.scheduled, head.startswith(b"HTTP/1.1 200"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.errors.append(f"connection lost: {exc!r}")


class _Pool:
    """Open loop: probes due are queued here and handed to idle connections as they free up, so a
    slow answer shows as latency of the probes behind it, never as a lower rate."""

    def __init__(self) -> None:
        self.idle: list[_Prober] = []
        self.due: collections.deque[tuple[float, bytes]] = collections.deque()
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def pump(self) -> None:
        while self.idle and self.due:
            self.idle.pop().send(*self.due.popleft())

    def done(self, prober: _Prober, latency: float, ok: bool) -> None:
        self.latencies.append(latency)
        if not ok:
            self.errors.append("not 200")
        self.idle.append(prober)
        self.pump()


async def _generate(port: int, rate: float, seconds: float, names: list[str], connections: int = 32) -> None:
    loop = asyncio.get_running_loop()
    pool = _Pool()
    for _ in range(connections):
        await loop.create_connection(lambda: _Prober(pool), "127.0.0.1", port)
    requests = [
        f"GET /readyz/{n} HTTP/1.1\r\nHost: agent\r\nUser-Agent: kube-probe/1.30\r\n\r\n".encode() for n in names
    ]
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        pool.due.append((scheduled, requests[i % len(requests)]))
        pool.pump()
    for _ in range(600):  # at most 30 s for the last answers
        if len(pool.latencies) >= total:
            break
        await asyncio.sleep(0.05)
    lat = sorted(pool.latencies)
    n = len(lat)

    def pct(q: float) -> float:
        return lat[min(n - 1, int(q * n))] * 1000 if n else float("nan")

    print(f"{total} {n} {len(pool.errors)} {pct(0.5):.3f} {pct(0.99):.3f} {pct(1.0):.3f}", flush=True)
    if pool.errors:
        print(f"first error: {pool.errors[0]}", file=sys.stderr)


# --- the benchmark --------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _cores_over(pid: int, seconds: float) -> float:
    c0, t0 = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (_cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def _exec_cpu(argv: list[str], runs: int) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(runs):
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / runs


def _wait_ready(http: str, deadline: float) -> None:
    import urllib.request

    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{http}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the agent did not report every target ready in time")


def _checks(http: str) -> float:
    """Checks the agent has made so far (every target's scrapes or probes, ok and failed)."""
    import urllib.request

    with urllib.request.urlopen(f"http://{http}/metrics", timeout=120) as resp:
        page = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in page.splitlines() if line.startswith("healthgauge_scrapes_total{")
    )


def _wait_answering(http: str, deadline: float) -> None:
    import urllib.request

    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{http}/livez", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the agent did not answer in time")


def bench(targets: int, rate: float, seconds: float, probe_targets: int) -> None:
    me = [sys.executable, str(Path(__file__).resolve())]
    static = subprocess.Popen([*me, "--serve-static"], stdout=subprocess.PIPE, text=True)
    agent = None
    try:
        assert static.stdout is not None
        port = int(static.stdout.readline())
        names = [f"t{i}" for i in range(targets)]
        urls = ", ".join(f'"{n}" = "http://127.0.0.1:{port}/metrics/{i}"' for i, n in enumerate(names))
        with tempfile.TemporaryDirectory(prefix="hg-bench-") as tmp:
            cfg = Path(tmp) / "agent.toml"
            cfg.write_text(CONFIG.format(urls=urls))
            agent = subprocess.Popen(
                [str(BIN / "healthgauge"), "agent", "--config", str(cfg)], stdout=subprocess.PIPE, text=True
            )
            assert agent.stdout is not None
            http = agent.stdout.readline().split()[2]
            _wait_ready(http, time.monotonic() + 60)
            time.sleep(2)  # past the start-up burst
            idle = _cores_over(agent.pid, seconds)
            print(f"targets                       {targets} at 1s   (machine load average {os.getloadavg()[0]:.1f})")
            print(f"agent CPU, scraping only      {idle:.3f} cores   (target <= 0.5)")
            probed = names[: probe_targets or len(names)]
            c0 = _cpu_seconds(agent.pid)
            t0 = time.monotonic()
            gen = subprocess.run(
                [*me, "--generate", http.rpartition(":")[2], str(rate), str(seconds), str(len(probed))],
                capture_output=True,
                text=True,
                check=False,
            )
            if gen.returncode != 0:
                raise SystemExit(f"the probe generator failed:\n{gen.stderr}")
            busy = (_cpu_seconds(agent.pid) - c0) / (time.monotonic() - t0)
            total, done, errors, p50, p99, worst = gen.stdout.split()
            print(f"agent CPU, scraping + probes  {busy:.3f} cores at {rate:g} probes/s")
            print(f"probes                        {done}/{total} answered, {errors} errors")
            print(f"/readyz/<target> latency      p50 {p50} ms  p99 {p99} ms  max {worst} ms   (target p99 <= 10)")
            per_probe = max(busy - idle, 1e-9) / rate
            true_cpu = _exec_cpu(["/bin/true"], 200)
            # `healthgauge check` is held to 1.3x Python's own start (DEVELOPERS.md): that start is
            # the floor of any Python probe binary.
            python_cpu = _exec_cpu([sys.executable, "-I", "-S", "-c", "pass"], 30)
            print(f"agent CPU per probe           {per_probe * 1e6:.0f} us")
            print(f"exec of /bin/true             {true_cpu * 1e6:.0f} us   ({true_cpu / per_probe:.1f}x a probe)")
            print(f"exec of python -I -S -c pass  {python_cpu * 1e6:.0f} us   ({python_cpu / per_probe:.1f}x a probe)")
            if gen.stderr:
                print(gen.stderr.strip())
    finally:
        for proc in (agent, static):
            if proc is not None:
                proc.terminate()
                proc.wait(10)


SQL_CONFIG = """\
[agent]
listen = "127.0.0.1:0"
shutdown_grace = "0s"

[defaults]
kind = "sql"
query = "SELECT count(*) AS pending FROM jobs WHERE state = 'queued'"
interval = "1s"
timeout = "500ms"
ready = ["probe_success == 1", "avg_over_time(probe_duration_seconds[30s]) < 0.05"]
warn = ["pending > 1000"]
weight = "clamp(100 - 2000 * avg_over_time(probe_duration_seconds[30s]), 10, 100)"
{extra}
"""


def _sql_config(count: int, target: str) -> str:
    """``target`` is a ``database = ...`` or ``dsn = ...`` line (with its keys) for every target."""
    targets = "".join(f'[[targets]]\nname = "db{i}"\n{target}\n' for i in range(count))
    return SQL_CONFIG.format(extra="") + targets


def _start_agent(
    config: str, tmp: Path, name: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    path = tmp / f"{name}.toml"
    path.write_text(config)
    proc = subprocess.Popen(
        [str(BIN / "healthgauge"), "agent", "--config", str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().split()[2]


def bench_sql(targets: int, sql_targets: int, seconds: float, rounds: int) -> None:
    """The metrics agent, a SQLite agent and a PostgreSQL agent measured over the same windows."""
    import sqlite3
    import statistics

    sys.path.insert(0, str(HERE.parent / "tests"))
    from support.postgres import PASSWORD, Postgres

    me = [sys.executable, str(Path(__file__).resolve())]
    static = subprocess.Popen([*me, "--serve-static"], stdout=subprocess.PIPE, text=True)
    procs: list[subprocess.Popen[str]] = [static]
    pg = Postgres()
    try:
        pg.start()
        pg.psql("CREATE TABLE jobs (id serial PRIMARY KEY, state text);"
                "INSERT INTO jobs (state) SELECT CASE WHEN i % 3 = 0 THEN 'queued' ELSE 'done' END "
                "FROM generate_series(1, 100) i")  # fmt: skip
        assert static.stdout is not None
        port = int(static.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="hg-bench-") as tmp_name:
            tmp = Path(tmp_name)
            db = tmp / "app.db"
            with sqlite3.connect(db) as conn:
                conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT)")
                conn.executemany(
                    "INSERT INTO jobs (state) VALUES (?)", [("queued" if i % 3 == 0 else "done",) for i in range(100)]
                )
            urls = ", ".join(f'"t{i}" = "http://127.0.0.1:{port}/metrics/{i}"' for i in range(targets))
            agents = {}
            metrics, http = _start_agent(CONFIG.format(urls=urls), tmp, "metrics")
            procs.append(metrics)
            agents[f"{targets} metrics targets"] = (metrics, http, targets)
            lite, http = _start_agent(_sql_config(sql_targets, f'database = "{db}"'), tmp, "sqlite")
            procs.append(lite)
            agents[f"{sql_targets} sql targets, SQLite"] = (lite, http, sql_targets)
            env = {**os.environ, "HG_BENCH_PG": PASSWORD}
            dsn = f'driver = "postgresql"\ndsn = "{pg.dsn}"\npassword_env = "HG_BENCH_PG"'
            post, http = _start_agent(_sql_config(sql_targets, dsn), tmp, "postgres", env)
            procs.append(post)
            agents[f"{sql_targets} sql targets, PostgreSQL"] = (post, http, sql_targets)
            for _, http, _count in agents.values():
                _wait_answering(http, time.monotonic() + 90)
            # Readiness is not what is measured here (on a loaded machine a query's average time may
            # well be above the rule's 50 ms): every target has been checked a few times by now.
            time.sleep(5)
            samples: dict[str, list[float]] = {name: [] for name in agents}
            per_check: dict[str, list[float]] = {name: [] for name in agents}
            rates: dict[str, list[float]] = {name: [] for name in agents}
            for _ in range(rounds):
                # /metrics is read outside the CPU window: rendering 1,000 targets' page costs the agent.
                checked = {name: (_checks(http), time.monotonic()) for name, (_, http, _) in agents.items()}
                used = {name: _cpu_seconds(p.pid) for name, (p, _, _) in agents.items()}
                t0 = time.monotonic()
                time.sleep(seconds)
                took = time.monotonic() - t0
                used = {name: _cpu_seconds(p.pid) - used[name] for name, (p, _, _) in agents.items()}
                for name, (_, http, _) in agents.items():  # checks per second over their own span
                    rate = (_checks(http) - checked[name][0]) / (time.monotonic() - checked[name][1])
                    samples[name].append(used[name] / took)
                    per_check[name].append(used[name] / took / max(rate, 1e-9))
                    rates[name].append(rate)
            print(f"\nprobe kinds, {rounds} windows of {seconds:g} s, all three agents at once "
                  f"(machine shared; load average {os.getloadavg()[0]:.1f})")  # fmt: skip
            cost = {name: statistics.median(values) for name, values in per_check.items()}
            for name in agents:
                cores = statistics.median(samples[name])
                spread = f"{min(samples[name]):.3f}-{max(samples[name]):.3f}"
                print(
                    f"{name:<34} {cores:.3f} cores (windows {spread}), {statistics.median(rates[name]):.0f} checks/s, "
                    f"{cost[name] * 1e6:.0f} us CPU per check"
                )
            base = cost[f"{targets} metrics targets"]
            for name in agents:
                print(f"{name:<34} {cost[name] / base:.2f}x a metrics scrape's CPU per check")
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(10)
        pg.close()


def main() -> None:
    if sys.argv[1:2] == ["--serve-static"]:
        asyncio.run(_serve_static())
        return
    if sys.argv[1:2] == ["--generate"]:
        port, rate, seconds, count = sys.argv[2:6]
        asyncio.run(_generate(int(port), float(rate), float(seconds), [f"t{i}" for i in range(int(count))]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=2000.0, help="probes per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measurement")
    parser.add_argument("--probe-targets", type=int, default=0, help="probe only the first N targets (0: all)")
    parser.add_argument("--sql-targets", type=int, default=200, help="sql targets per driver (0: skip that row)")
    parser.add_argument("--sql-rounds", type=int, default=5, help="measurement windows for the sql row")
    parser.add_argument("--sql-only", action="store_true", help="only the probe kinds' row")
    args = parser.parse_args()
    if not args.sql_only:
        bench(args.targets, args.rate, args.seconds, args.probe_targets)
    if args.sql_targets:
        bench_sql(args.targets, args.sql_targets, args.seconds, args.sql_rounds)


if __name__ == "__main__":
    main()

"""Soak the agent with 100 good targets and every hostile target and client of issue #13 at once.

    .venv/bin/python bench/soak.py [--seconds 600] [--good 100] [--rate 100] [--no-regex]

Processes, all on loopback: the good targets (one asyncio process, a page per target at
/metrics/<i>), the hostile targets (another process, one behaviour per path), the agent (the real
`healthgauge agent` command, started with an open-file limit of 1,024 and a state file nested
200,000 levels deep), the hostile clients (a process of idle connections, a pipelining client that
never reads and bursts of 2,000 silent HAProxy agent checks) and the prober (a process of its own:
a new connection per probe, as the kubelet does, GET /readyz/<good target> at a fixed rate).

Hostile targets (issue #13's table): a 16 MiB body of empty gzip members; one-byte chunks as fast
as they go, and one every 10 ms; a close-delimited body over the 16 MiB cap; label sets that change
every scrape under a range rule; more series than sample_limit; a page echoing the X-Api-Key it was
sent; a target that never answers; a label value with 24 path segments under `(.*/)*health`
(the regex row: its engine is the promql branch's, `--no-regex` leaves it out).

Prints: the good targets' probe p50/p99/max and failures, the agent's RSS every 30 s and its growth
after warm-up, its CPU (cores), each hostile target's reason, the HAProxy bursts' answered counts,
whether any good target was ever not ready. Targets (issue #13): probe p99 <= 20 ms, no failed
probe, RSS growth <= 10 % after warm-up, no hostile target changing another's verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
SECRET = "soak-secret-api-key-42"
GOOD_PAGE = (
    "# TYPE app_state gauge\napp_state 1\n# TYPE app_jobs_total counter\napp_jobs_total @JOBS@\n"
    "# TYPE queue_depth gauge\nqueue_depth 3\n" + "".join(f'noise_metric{{shard="{i}"}} {i}\n' for i in range(40))
)
HOSTILE = ("gzip_members", "drip_flood", "drip_slow", "close_over_cap", "churn", "many_series", "echo", "hang", "regex")


# -- targets ----------------------------------------------------------------------------------------


def _head(status: str = "200 OK", *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers]) + "\r\n\r\n").encode()


class Targets:
    """Good pages at /metrics/<i>; hostile behaviours at /hostile/<name>."""

    def __init__(self) -> None:
        self.scrapes = 0
        self.churn = 0
        self.gzip_members = gzip.compress(b"") * (16 * 1024 * 1024 // 20)
        self.many = b"".join(b'app_state{i="%d"} 1\n' % i for i in range(30_000))
        path = "/".join(f"seg{i}" for i in range(24))
        self.regex_page = f'app_state{{path="/{path}/x"}} 1\n'.encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                self.scrapes += 1
                if not await self.answer(path, head, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def answer(self, path: str, head: bytes, writer: asyncio.StreamWriter) -> bool:
        """Write the answer for ``path``; False when the connection is to be closed."""
        if path.startswith("/metrics/"):
            body = GOOD_PAGE.replace("@JOBS@", str(self.scrapes)).encode()
            writer.write(_head("200 OK", f"Content-Length: {len(body)}") + body)
            await writer.drain()
            return True
        name = path.rsplit("/", 1)[1]
        if name == "gzip_members":
            body = self.gzip_members
            writer.write(_head("200 OK", f"Content-Length: {len(body)}", "Content-Encoding: gzip") + body)
        elif name in ("drip_flood", "drip_slow"):
            writer.write(_head("200 OK", "Transfer-Encoding: chunked"))
            for _ in range(20_000 if name == "drip_flood" else 200):
                writer.write(b"1\r\nx\r\n" * (50 if name == "drip_flood" else 1))
                await writer.drain()
                await asyncio.sleep(0 if name == "drip_flood" else 0.01)
            return False
        elif name == "close_over_cap":
            writer.write(_head("200 OK", "Connection: close"))
            chunk = b"# padding " + b"x" * 65_000 + b"\n"
            for _ in range(24 * 1024 * 1024 // len(chunk)):
                writer.write(chunk)
                await writer.drain()
            return False
        elif name == "churn":
            self.churn += 1
            body = b"".join(b'app_state{gen="%d",i="%d"} 1\n' % (self.churn, i) for i in range(1000))
            writer.write(_head("200 OK", f"Content-Length: {len(body)}") + body)
        elif name == "many_series":
            writer.write(_head("200 OK", f"Content-Length: {len(self.many)}") + self.many)
        elif name == "echo":
            key = next((line.split(b": ", 1)[1] for line in head.split(b"\r\n") if line.startswith(b"X-Api-Key")), b"")
            body = b'app_state{key="' + key + b'"} 0\n'
            writer.write(_head(f"403 key {key.decode()}", f"Content-Length: {len(body)}") + body)
        elif name == "hang":
            await asyncio.sleep(3600)
        elif name == "regex":
            writer.write(_head("200 OK", f"Content-Length: {len(self.regex_page)}") + self.regex_page)
        await writer.drain()
        return True


def _write(path: str, text: str) -> None:
    Path(path).write_text(text)


async def serve_targets(port_file: str) -> None:
    targets = Targets()
    server = await asyncio.start_server(targets.handle, "127.0.0.1", 0, backlog=1024)
    _write(port_file, str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()


# -- hostile clients --------------------------------------------------------------------------------


async def attack(http_port: int, haproxy_port: int, seconds: float, out: str) -> None:
    idle: list[socket.socket] = []
    for _ in range(1100):  # past the agent's 1,024 open files
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.connect_ex(("127.0.0.1", http_port))
        except OSError:
            sock.close()
            continue
        idle.append(sock)
    pipeliner = socket.socket()
    pipeliner.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    pipeliner.connect(("127.0.0.1", http_port))
    pipeliner.setblocking(False)
    requests = b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n" * 2000
    bursts: list[int] = []
    ends = time.monotonic() + seconds
    next_burst = time.monotonic() + 5 if haproxy_port else float("inf")
    while time.monotonic() < ends:
        try:
            pipeliner.send(requests)
        except (BlockingIOError, OSError):
            pass
        if time.monotonic() >= next_burst:
            bursts.append(await haproxy_burst(haproxy_port))
            next_burst = time.monotonic() + 30
        await asyncio.sleep(0.05)
    for sock in [*idle, pipeliner]:
        sock.close()
    _write(out, json.dumps({"haproxy_bursts": bursts}))


async def haproxy_burst(port: int, count: int = 2000) -> int:
    """``count`` simultaneous silent agent-check connections; how many got a line within 10 s."""

    async def one() -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        try:
            return (await reader.readline()).endswith(b"\n")
        except OSError:
            return False
        finally:
            writer.close()

    tasks = [asyncio.ensure_future(one()) for _ in range(count)]
    done, pending = await asyncio.wait(tasks, timeout=10)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return sum(1 for task in done if task.result())


# -- prober -----------------------------------------------------------------------------------------


def probe_loop(ports: list[int], good: int, rate: float, seconds: float, out: str) -> None:
    """GET /readyz/good<i> on a new connection each (as the kubelet probes), at ``rate`` a second,
    alternating between the agents on ``ports`` (the soaked one and a control without hostile
    targets or clients): both see the same machine at the same moments. Latency is each probe's
    own, connect to answer; how late the prober itself ran is reported apart."""
    latencies: list[list[float]] = [[] for _ in ports]
    failures: list[list[str]] = [[] for _ in ports]
    late: list[float] = []
    start = time.monotonic()
    n = 0
    while True:
        at = start + n / rate
        if at - start > seconds:
            break
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        side = n % len(ports)
        request = f"GET /readyz/good{(n // len(ports)) % good} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        began = time.monotonic()
        late.append(began - at)
        try:
            with socket.create_connection(("127.0.0.1", ports[side]), timeout=1.0) as sock:
                sock.sendall(request.encode())
                answer = sock.recv(64)
            if not answer.startswith(b"HTTP/1.1 200"):
                failures[side].append(answer[:40].decode("latin-1"))
        except OSError as exc:
            failures[side].append(repr(exc))
        latencies[side].append(time.monotonic() - began)
        n += 1
    Path(out).write_text(json.dumps({"latencies": latencies, "failures": failures, "late": late}))


# -- orchestration ----------------------------------------------------------------------------------


def config(
    good_port: int, bad_port: int, good: int, state: Path, regex: bool, *, control: bool = False, only: str = ""
) -> str:
    urls = ", ".join(f'"good{i}" = "http://127.0.0.1:{good_port}/metrics/{i}"' for i in range(good))
    hostile = [] if control else [h for h in HOSTILE if (regex or h != "regex") and (not only or h in only)]
    tables = []
    for name in hostile:
        rule = {
            "churn": 'ready = ["max_over_time(app_state[5m]) == 1"]',
            "regex": 'ready = ["count(app_state{path=~\\"(.*/)*health\\"}) >= 0"]',
        }.get(name, 'ready = ["app_state == 1"]')
        extra = f'headers = {{ X-Api-Key = "{SECRET}" }}' if name == "echo" else ""
        tables.append(
            f'[[targets]]\nname = "{name}"\nurl = "http://127.0.0.1:{bad_port}/hostile/{name}"\n'
            f'interval = "1s"\ntimeout = "500ms"\n{rule}\n{extra}\n'
        )
    return (
        f'[agent]\nlisten = "127.0.0.1:0"\nhaproxy_listen = "127.0.0.1:0"\nadmin = "127.0.0.1:0"\n'
        f'shutdown_grace = "0s"\nstate_file = "{state}"\nhaproxy_default = "good0"\n\n'
        f'[[targets]]\nurls = {{ {urls} }}\ninterval = "1s"\ntimeout = "500ms"\n'
        'ready = ["app_state == 1", "rate(app_jobs_total[10s]) > 0"]\nwarn = ["queue_depth > 100"]\n\n'
        + "\n".join(tables)
    )


def spawn(role: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "--role", role, *args])


def wait_file(path: Path, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return path.read_text()
        time.sleep(0.05)
    raise SystemExit(f"soak: {path.name} did not appear within {timeout}s")


def rss_cpu(pid: int) -> tuple[float, float]:
    """(RSS MiB, CPU seconds) of a process, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
    return rss, cpu_of(pid)


def children_rss_cpu(pid: int) -> tuple[float, float]:
    """RSS (MiB) and CPU seconds of a process's children (the agent's parsing processes)."""
    rss = cpu = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                child_rss, child_cpu = rss_cpu(int(child))
            except (OSError, StopIteration):
                continue
            rss, cpu = rss + child_rss, cpu + child_cpu
    return rss, cpu


def cpu_of(pid: int) -> float:
    """CPU seconds of a process, from /proc (a process that exited but was not waited for too)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def admin_states(address: str) -> dict[str, dict[str, object]]:
    with urllib.request.urlopen(f"http://{address}/v1/targets", timeout=5) as resp:
        return {s["name"]: s for s in json.loads(resp.read())}


def start_agent(
    work: Path, text: str, name: str = "agent", *, watch: bool = False, src: str = ""
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    (work / f"{name}.toml").write_text(text)
    command = [str(BIN / "healthgauge")] if not src else [sys.executable, "-m", "healthgauge"]
    if watch:  # the same agent, its loop's slow callbacks and GIL waits recorded (bench/loopwatch.py)
        command = [sys.executable, str(HERE / "loopwatch.py"), str(work / f"{name}.watch.json")]
    # --src: another source tree's agent (a before/after comparison), ahead of the installed one.
    env = {**os.environ, "PYTHONPATH": src} if src else None

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    log = (work / f"{name}.log").open("w")
    agent = subprocess.Popen(
        [*command, "agent", "--config", str(work / f"{name}.toml"), "--log-level", "info"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        preexec_fn=limit,
        env=env,
    )
    log.close()
    assert agent.stdout is not None
    addresses: dict[str, str] = {}
    while len(addresses) < 3:
        line = agent.stdout.readline()
        if not line:
            raise SystemExit(f"soak: the agent exited: {(work / f'{name}.log').read_text()[-2000:]}")
        _, key, address = line.split()
        addresses[key] = address
    return agent, addresses


def orchestrate(options: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="hg-soak-") as tmp:
        work = Path(tmp)
        state = work / "state.json"
        state.write_bytes(b"[" * 200_000 + b"]" * 200_000)
        procs: list[subprocess.Popen[bytes] | subprocess.Popen[str]] = []
        try:
            procs.append(spawn("targets", str(work / "good.port")))
            procs.append(spawn("targets", str(work / "bad.port")))
            good_port, bad_port = int(wait_file(work / "good.port")), int(wait_file(work / "bad.port"))
            agent, addresses = start_agent(
                work,
                config(good_port, bad_port, options.good, state, options.regex, only=options.only),
                watch=options.watch,
                src=options.src,
            )
            procs.append(agent)
            control_state = work / "control.json"
            control_text = config(good_port, bad_port, options.good, control_state, options.regex, control=True)
            control, control_addresses = start_agent(
                work, control_text, "control", watch=options.watch, src=options.src
            )
            procs.append(control)
            control_port = int(control_addresses["http"].rsplit(":", 1)[1])
            http_port = int(addresses["http"].rsplit(":", 1)[1])
            haproxy_port = int(addresses["haproxy_listen"].rsplit(":", 1)[1])
            time.sleep(5)  # warm-up: every target scraped a few times
            rss0, cpu0 = rss_cpu(agent.pid)
            t0 = time.monotonic()
            procs.append(
                spawn(
                    "attack" if options.clients else "idle",
                    str(http_port),
                    str(haproxy_port if options.bursts else 0),
                    str(options.seconds),
                    str(work / "attack.json"),
                )
            )
            procs.append(
                spawn(
                    "probe",
                    f"{http_port},{control_port}",
                    str(options.good),
                    str(options.rate),
                    str(options.seconds),
                    str(work / "probe.json"),
                )
            )
            control_rss0, control_cpu0 = rss_cpu(control.pid)
            # The other processes on the same cores: the hostile ones compete for CPU too.
            others = {"good targets": procs[0], "hostile targets": procs[1], "clients": procs[-2], "prober": procs[-1]}
            others_cpu0 = {name: cpu_of(proc.pid) for name, proc in others.items()}
            samples = [(0.0, rss0, 0.0)]
            not_ready: set[str] = set()
            last_cpu = cpu0
            while time.monotonic() - t0 < options.seconds + 2:
                time.sleep(min(options.every, max(0.5, options.seconds + 2 - (time.monotonic() - t0))))
                rss, cpu = rss_cpu(agent.pid)
                elapsed = time.monotonic() - t0
                samples.append((elapsed, rss, (cpu - last_cpu) / max(1e-9, elapsed - samples[-1][0])))
                last_cpu = cpu
                states = admin_states(addresses["admin"])
                not_ready |= {n for n, s in states.items() if n.startswith("good") and not s["ready"]}
                print(f"  t={elapsed:5.0f}s  rss={rss:6.1f} MiB  cpu={samples[-1][2]:.2f} cores", flush=True)
            probes = json.loads(wait_file(work / "probe.json", 30))
            attacks = json.loads(wait_file(work / "attack.json", 30))
            states = admin_states(addresses["admin"])
            rss1, cpu1 = rss_cpu(agent.pid)
            children, children_cpu = children_rss_cpu(agent.pid)
            control_rss1, control_cpu1 = rss_cpu(control.pid)
            others_cpu = {name: cpu_of(proc.pid) - others_cpu0[name] for name, proc in others.items()}
            log = (work / "agent.log").read_text()
            aside = (work / "state.json.corrupt").exists()
        except BaseException:
            if (work / "agent.log").exists():
                print((work / "agent.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            for proc in reversed(procs):
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        watched = [_watched(work / f"{name}.watch.json") for name in ("agent", "control")] if options.watch else []
    hostile_names = [h for h in HOSTILE if (options.regex or h != "regex") and (not options.only or h in options.only)]
    soaked, calm = (_percentiles(side) for side in probes["latencies"])
    failed = [len(side) for side in probes["failures"]]
    warm = [rss for at, rss, _ in samples if at >= min(60.0, options.seconds / 4)]
    growth = (statistics.mean(warm[-3:]) / statistics.mean(warm[:3]) - 1) * 100 if len(warm) >= 6 else float("nan")
    print(f"\nsoak: {options.seconds:g}s, {options.good} good targets at 1s; hostile: {', '.join(hostile_names)}")
    if options.src:
        print(f"  both agents run from {options.src}")
    print("  plus 1,100 idle connections, a pipelining client that never reads, 2,000 silent agent checks every 30 s")
    print(f"  machine: 1-min load average {os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores (shared)")
    late = _percentiles(probes["late"])
    print(f"  the prober itself ran late by p50 {late[0]:.2f} ms, p99 {late[1]:.2f} ms (machine load)")
    print("good probes (new connection each)   p50 ms   p99 ms   max ms  failed")
    print(f"  soaked agent                     {soaked[0]:7.2f}  {soaked[1]:7.2f}  {soaked[2]:7.1f}  {failed[0]:6d}")
    print(f"  control agent (no hostiles)      {calm[0]:7.2f}  {calm[1]:7.2f}  {calm[2]:7.1f}  {failed[1]:6d}")
    print(f"  ratio soaked / control           {soaked[0] / calm[0]:7.2f}  {soaked[1] / calm[1]:7.2f}")
    for side, name in ((0, "soaked"), (1, "control")):
        if probes["failures"][side]:
            print(f"  {name} failures: {probes['failures'][side][:3]}")
    print("agent RSS (MiB) every sample: " + " ".join(f"{rss:.0f}" for _, rss, _ in samples))
    print(
        f"  soaked: {rss0:.1f} after warm-up -> {rss1:.1f} at the end; "
        f"the last 3 samples against the first 3 after 60 s: {growth:+.1f} %"
    )
    print(f"  control: {control_rss0:.1f} -> {control_rss1:.1f}; the soaked agent's child processes: {children:.1f}")
    soaked_cpu = (cpu1 - cpu0) / options.seconds
    control_cpu = (control_cpu1 - control_cpu0) / options.seconds
    print(f"agent CPU: soaked {soaked_cpu:.2f} cores, control {control_cpu:.2f} cores")
    print(f"  the soaked agent's child processes: {children_cpu / options.seconds:.2f} cores (since they started)")
    print(
        "the other processes: " + ", ".join(f"{k} {v / options.seconds:.2f}" for k, v in others_cpu.items()) + " cores"
    )
    for name, lines in zip(("soaked", "control"), watched, strict=False):
        print(f"{name} agent's loop (bench/loopwatch.py): " + "\n  ".join(lines))
    print(f"good targets ever not ready: {sorted(not_ready) or 'none'}")
    print(f"HAProxy bursts of 2,000 silent connections, answered within 10 s: {attacks['haproxy_bursts']}")
    print(
        f"state file nested 200,000 deep: moved aside: {aside}; "
        f"agent log {len(log)} bytes, tracebacks: {log.count('Traceback')}"
    )
    print(f"the secret in the admin API or the log: {SECRET in json.dumps(states) + log}")
    for name in hostile_names:
        state_of = states.get(name, {})
        why = str(state_of.get("error") or state_of.get("reason"))[:100]
        print(f"  {name:15} ready={state_of.get('ready')!s:5} {why}")
    ok = soaked[1] <= 20 and failed[0] == 0 and not not_ready and not growth > 10
    print(f"issue #13's targets (p99 <= 20 ms, no failed probe, RSS growth <= 10 %, no good target disturbed): {ok}")
    return 0


def _watched(path: Path) -> list[str]:
    """bench/loopwatch.py's report, a few lines: the slowest callbacks and the sentinel's lateness."""
    if not path.exists():
        return ["(no report: the agent did not exit cleanly)"]
    report = json.loads(path.read_text())
    late = report["sentinel_late_ms"]
    lines = [
        f"{report['callbacks']} callbacks; a 1 ms sleeper thread woke late by p50 {late['50']:.2f}, "
        f"p99 {late['99']:.2f}, p99.9 {late['99.9']:.2f}, max {report['sentinel_max_ms']:.1f} ms"
    ]
    for name, (count, wall, cpu, most) in list(report["slow"].items())[:8]:
        lines.append(
            f"{count:6.0f} over 2 ms: {name[:60]:60} wall {wall:7.2f}s cpu {cpu:6.2f}s max {most * 1e3:6.1f} ms"
        )
    return lines


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max, in milliseconds."""
    ms = sorted(v * 1000 for v in values) or [float("nan")]
    return ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))], ms[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", default="")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--good", type=int, default=100)
    parser.add_argument("--rate", type=float, default=100, help="good probes a second")
    parser.add_argument("--every", type=float, default=30, help="seconds between RSS samples")
    parser.add_argument("--no-regex", dest="regex", action="store_false")
    parser.add_argument("--no-bursts", dest="bursts", action="store_false", help="no HAProxy bursts")
    parser.add_argument("--no-clients", dest="clients", action="store_false", help="no hostile clients at all")
    parser.add_argument("--only", default="", help="comma-separated hostile targets (default: all)")
    parser.add_argument("--watch", action="store_true", help="record both agents' slow loop callbacks")
    parser.add_argument(
        "--src", default="", help="run both agents from this source tree (e.g. main's, for before/after)"
    )
    options, rest = parser.parse_known_args()
    if options.role == "targets":
        asyncio.run(serve_targets(rest[0]))
    elif options.role == "idle":
        time.sleep(float(rest[2]))
        _write(rest[3], json.dumps({"haproxy_bursts": []}))
    elif options.role == "attack":
        asyncio.run(attack(int(rest[0]), int(rest[1]), float(rest[2]), rest[3]))
    elif options.role == "probe":
        probe_loop([int(p) for p in rest[0].split(",")], int(rest[1]), float(rest[2]), float(rest[3]), rest[4])
    else:
        return orchestrate(options)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The middleware's own CPU per request and the cost of a refusal, on real servers, before vs after.

    flock /work/plan/bench.lock .venv/bin/python bench/overload/middleware_overhead.py
    ... middleware_overhead.py --stacks httptools --rounds 15 --before d3ec1d8
    ... middleware_overhead.py --in-memory        # the ASGI call path alone, no server (seconds)

For each server stack (uvicorn httptools + uvloop, uvicorn h11 + asyncio, aiohttp) it starts a
server of a trivial handler (answers ``ok`` at once) in its own process, in these variants:

- ``bare``: the app alone;
- ``layer``: one middleware that does nothing but call the app (the floor: what any middleware
  layer costs on that stack);
- ``core``: one that only admits, starts and completes the request with the default
  ``AdmissionController`` around the app, as the adapters' common path does (``enter`` at one
  clock reading, ``leave``): the floor of any adapter of this admission core;
- ``before``: ``OverloadMiddleware(app)`` / ``setup_aiohttp(app)`` from the git revision
  ``--before`` (its ``src/`` unpacked to a temporary directory and put first on ``PYTHONPATH``);
- ``after``: the same from this working tree;
- ``after-noprobe``: ``after`` without the loop probe (``loop_lag=False``: no probe timer, no
  accept-queue read, no handler metering): what those cost per answer at this rate;
- ``after-nometer`` / ``after-noqueue``: ``after`` with the probe but no handler metering / no
  accept-queue read: which part of the probe's cost is which;
- ``before-refuse`` / ``after-refuse``: the middleware with its controller draining, so every
  request is refused with a 503 (``Retry-After``, ``Healthgauge-Load``): the cost of a refusal;
- ``early-refuse``: ``after-refuse`` on uvicorn with ``http=early_refusal(middleware, stack)``:
  the same 503 written before uvicorn parses the request (uvicorn only; aiohttp has none);
- ``early``: ``after`` with that protocol: what its check costs every request it does not refuse.

All variants of a stack run at once, each in its own process on CPU 0; the driver (this script,
the client: its CPU is not counted) runs on CPU 1 with 50 keep-alive connections to each. In each
round every variant gets one burst of ``--seconds`` (0.3 s) of closed-loop load (each connection
sends its next request when it has the answer), the order rotated every round, 25 rounds after a
warm-up burst each: the host's other load, which comes and goes by the second on a shared machine,
falls on all variants alike. A burst's server CPU (its threads' run time from
``/proc/PID/task/*/schedstat``, ns resolution) divided by its answers is one figure; the median
over rounds is reported, and only ratios mean anything: the middleware's CPU as % of the bare
app's CPU per answer. (In a closed loop a server's CPU per answer falls somewhat as its throughput
rises, more requests per loop iteration; an open loop at a fixed rate avoids that but opens a new
connection whenever none is idle, which costs the server more than the middleware does.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PY = sys.executable
STACKS = ("httptools", "h11", "aiohttp")
VARIANTS = (
    "bare",
    "layer",
    "core",
    "before",
    "after",
    "after-noprobe",
    "after-nometer",
    "after-noqueue",
    "early",
    "before-refuse",
    "after-refuse",
    "early-refuse",
)
# "before": main before issue #11's fourth round (the permit-free path); d3ec1d8 was before the third.
BEFORE = "3c0d881"
CONNECTIONS = 50
BODY = b"ok\n"

# -- the server (this file run with --serve) ---------------------------------------------------


def _asgi_app() -> Any:
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/plain"), (b"content-length", b"3")],
    }
    body = {"type": "http.response.body", "body": BODY}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send(start)
        await send(body)

    return app


def _layer(app: Any) -> Any:
    async def layer(scope: Any, receive: Any, send: Any) -> None:
        await app(scope, receive, send)

    return layer


def _core_calls() -> tuple[Any, Any]:
    """The least any adapter of the admission core does around the app, as a pair of calls
    (before, after): admit and start the request at one clock reading, complete it
    (``AdmissionController.enter`` / ``leave``; a tree without them: acquire, start and complete a
    permit). No headers, no status, no metering, no refusal."""
    from healthgauge.overload import AdmissionController

    controller = AdmissionController()
    if hasattr(controller, "enter"):
        clock, enter = time.monotonic, controller.enter
        return (lambda: enter(clock())), controller.leave
    permits: list[Any] = []

    def acquire() -> None:
        permit: Any = controller.acquire()
        permit.start()
        permits.append(permit)

    return acquire, lambda: permits.pop().success()


def _core(app: Any) -> Any:
    admit, complete = _core_calls()

    async def core(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        admit()
        await app(scope, receive, send)
        complete()

    return core


def _bind() -> socket.socket:
    # IPPROTO_TCP: asyncio and uvloop set TCP_NODELAY only on sockets whose proto says TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def _ready(sock: socket.socket) -> None:
    sys.stdout.write("READY " + json.dumps({"port": sock.getsockname()[1]}) + "\n")
    sys.stdout.flush()


def make_app(stack: str, variant: str) -> Any:
    """The trivial app of ``variant`` for ``stack``: an ASGI app, or an ``aiohttp`` Application.
    Every guard gets a registry of its own (several share a process in ``fake_server.py``)."""

    if stack == "aiohttp":
        return _aiohttp_app(variant)
    app = _asgi_app()
    if variant == "layer":
        return _layer(app)
    if variant == "core":
        return _core(app)
    if variant == "bare":
        return app
    from healthgauge.overload import OverloadMiddleware

    mw = OverloadMiddleware(app, **_guard_options(variant))
    _apply_variant(mw.guard, variant)
    return mw


def _guard_options(variant: str) -> dict[str, Any]:
    """Monitor-only for the served variants: the same path for every admitted request, but 0 %
    503s whatever the detector reads into bursts that start from idle (a 503 costs differently)."""
    from prometheus_client import CollectorRegistry

    return {
        "handle_sigterm": False,
        "registry": CollectorRegistry(),
        "monitor_only": not variant.endswith("-refuse"),
        "loop_lag": not variant.endswith("-noprobe"),
    }


def _apply_variant(guard: Any, variant: str) -> None:
    """What a variant's suffix changes once the guard exists (both servers)."""
    if variant.endswith("-refuse"):
        guard.controller.set_draining(True)
    if variant.endswith("-noqueue"):  # the probe without the accept-queue read
        guard.accept_queue = None
    if variant.endswith("-nometer"):  # the probe without handler metering
        _no_metering(guard)


def _no_metering(guard: Any) -> None:
    """After every probe sample, a stride no admission number reaches: no handler is timed."""
    from healthgauge.overload.adapters._guard import NO_METERING

    sample = guard.probe.on_sample

    def on_sample(lag: float) -> None:
        sample(lag)
        guard.stride = NO_METERING

    guard.probe.on_sample = on_sample


def _aiohttp_app(variant: str) -> Any:
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="text/plain")

    @web.middleware
    async def layer(request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        return response

    admit, complete = _core_calls()

    @web.middleware
    async def core(request: web.Request, handler: Any) -> web.StreamResponse:
        admit()
        response: web.StreamResponse = await handler(request)
        complete()
        return response

    app = web.Application(middlewares={"layer": [layer], "core": [core]}.get(variant, []))
    app.router.add_get("/work", handle)
    if variant not in ("bare", "layer", "core"):
        from healthgauge.overload import setup_aiohttp

        _apply_variant(setup_aiohttp(app, **_guard_options(variant)), variant)
    return app


async def _serve_uvicorn(stack: str, variant: str, sock: socket.socket) -> None:
    import uvicorn

    h11 = stack == "h11"
    app = make_app(stack, variant)
    http: Any = "h11" if h11 else "httptools"
    if variant.startswith("early"):
        from healthgauge.overload import early_refusal

        http = early_refusal(app, http)
    config = uvicorn.Config(
        app,
        http=http,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline and not task.done():  # noqa: ASYNC110 - no event
        await asyncio.sleep(0.01)
    _ready(sock)
    await task


async def _serve_aiohttp(variant: str, sock: socket.socket) -> None:
    from aiohttp import web

    runner = web.AppRunner(make_app("aiohttp", variant), access_log=None, handle_signals=False, keepalive_timeout=30)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    _ready(sock)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def serve(stack: str, variant: str) -> None:
    sock = _bind()
    if stack == "aiohttp":
        asyncio.run(_serve_aiohttp(variant, sock))
    elif stack == "httptools":
        import uvloop  # uvicorn's loop="uvloop" applies only to uvicorn.run(), not to serve() in a running loop

        uvloop.run(_serve_uvicorn(stack, variant, sock))
    else:
        asyncio.run(_serve_uvicorn(stack, variant, sock))


# -- the driver --------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """The process's CPU time in ns resolution: the sum of its threads' ``schedstat`` run time
    (``/proc/PID/stat`` counts in 10-ms ticks: too coarse for a few seconds' run)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def _pin(cpu: int) -> Any:
    """Server on CPU 0, client on CPU 1: never sharing a core (which halves the throughput and
    changes the server's CPU per answer), whatever else the host runs."""

    def pin() -> None:
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {cpu})

    return pin


class Server:
    """A server in its own process on CPU 0, stopped by pid (``stop``)."""

    def __init__(self, stack: str, variant: str, before_src: Path | None) -> None:
        env = dict(os.environ)
        if variant.startswith("before"):
            assert before_src is not None
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(before_src), env.get("PYTHONPATH", "")) if p)
        argv = [PY, str(Path(__file__).resolve()), "--serve", stack, variant]
        self.name = f"{stack}/{variant}"
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, preexec_fn=_pin(0)
        )
        self.port = 0

    def wait_ready(self) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.port:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line and self.proc.poll() is not None:
                break
            if line.startswith("READY "):
                self.port = int(json.loads(line[6:])["port"])
        if not self.port:
            raise RuntimeError(
                f"server {self.name} did not start: {self.proc.stdout.read(4000).decode(errors='replace')}"
            )

    def cpu(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


async def _connect(port: int, n: int) -> list[Any]:
    from real_client import Conn

    loop = asyncio.get_running_loop()
    return [(await loop.create_connection(Conn, "127.0.0.1", port))[1] for _ in range(n)]


async def burst(conns: list[Any], seconds: float) -> dict[str, int]:
    """A closed loop over ``conns`` for ``seconds``: each connection sends its next request as soon
    as it has an answer. Answers by kind (a connection that fails stops)."""
    loop = asyncio.get_running_loop()
    counts = {"ok": 0, "r503": 0, "other": 0}
    done: asyncio.Future[None] = loop.create_future()
    end = time.monotonic() + seconds
    active = len(conns)

    def answered(conn: Any, status: int) -> None:
        nonlocal active
        counts["ok" if status == 200 else "r503" if status == 503 else "other"] += 1
        now = time.monotonic()
        if status > 0 and now < end:
            conn.request(loop, now + 5, answered)
            return
        active -= 1
        if not active and not done.done():
            done.set_result(None)

    for conn in conns:
        conn.request(loop, time.monotonic() + 5, answered)
    async with asyncio.timeout(seconds + 30):
        await done
    return counts


async def _run_stack(
    stack: str, variants: list[str], seconds: float, rounds: int, before_src: Path | None
) -> dict[str, list[float]]:
    servers = [Server(stack, v, before_src) for v in variants]
    per: dict[str, list[float]] = {v: [] for v in variants}
    try:
        for s in servers:
            s.wait_ready()
        conns = {s.name: await _connect(s.port, CONNECTIONS) for s in servers}
        for s in servers:  # warm-up: imports, first requests, caches
            await burst(conns[s.name], seconds)
        for turn in range(rounds):
            k = turn % len(servers)
            for s, variant in (
                list(zip(servers, variants, strict=True))[k:] + list(zip(servers, variants, strict=True))[:k]
            ):
                cpu0 = s.cpu()
                answers = await burst(conns[s.name], seconds)
                n = answers["ok"] + answers["r503"]
                want = "r503" if variant.endswith("-refuse") else "ok"
                if answers["other"] or answers[want] != n or not n:
                    raise RuntimeError(f"{s.name}: unexpected answers {answers}")
                per[variant].append(1e6 * (s.cpu() - cpu0) / n)
        for group in conns.values():
            for conn in group:
                if conn.transport is not None:
                    conn.transport.abort()
    finally:
        for s in servers:
            s.stop()
    return per


def run(stacks: list[str], variants: list[str], seconds: float, rounds: int, before_src: Path | None) -> dict[str, Any]:
    """Every variant of a stack up at once; ``rounds`` turns of one ``seconds`` burst each, the
    order rotated every turn. The driver (the client) runs on CPU 1."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    sys.path.insert(0, str(HERE))
    per: dict[tuple[str, str], list[float]] = {}
    for stack in stacks:
        figures = asyncio.run(_run_stack(stack, variants, seconds, rounds, before_src))
        for variant, values in figures.items():
            per[(stack, variant)] = values
            print(f"  {stack:<9} {variant:<14} " + " ".join(f"{v:.1f}" for v in values), file=sys.stderr)
    return {"per": per}


def unpack(rev: str, into: Path) -> Path:
    """``rev``'s ``src/`` unpacked under ``into`` (for the ``before`` variants)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "src"], capture_output=True, check=True
    )
    tar_path = into / "src.tar"
    tar_path.write_bytes(archive.stdout)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def report(result: dict[str, Any], stacks: list[str], variants: list[str]) -> str:
    per = result["per"]
    med = {key: statistics.median(values) for key, values in per.items()}
    lines = [
        f"server CPU per answer, trivial handler, {CONNECTIONS} keep-alive clients (median of rounds; µs)",
        f"{'stack':<10}" + "".join(f"{v:>15}" for v in variants),
    ]
    lines.extend(f"{stack:<10}" + "".join(f"{med[(stack, v)]:>15.1f}" for v in variants) for stack in stacks)
    lines.append("")
    lines.append("middleware CPU as % of the trivial handler's (bare) CPU per answer; refusal = CPU per 503 answer")
    lines.append(
        f"{'stack':<10}{'one no-op layer':>17}{'core only':>11}{'before':>10}{'after':>10}{'early':>10}"
        f"{'no probe':>10}{'refusal before':>17}{'refusal after':>16}{'early refusal':>16}"
    )
    for stack in stacks:
        bare = med[(stack, "bare")]

        def pct(variant: str, stack: str = stack, bare: float = bare) -> str:
            value = med.get((stack, variant))
            return "-" if value is None else f"{100 * (value - bare) / bare:+.1f} %"

        def refusal(variant: str, stack: str = stack, bare: float = bare) -> str:
            value = med.get((stack, variant))
            return "-" if value is None else f"{value:.0f} µs ({value / bare:.2f}x)"

        lines.append(
            f"{stack:<10}{pct('layer'):>17}{pct('core'):>11}{pct('before'):>10}{pct('after'):>10}{pct('early'):>10}"
            f"{pct('after-noprobe'):>10}"
            f"{refusal('before-refuse'):>17}{refusal('after-refuse'):>16}{refusal('early-refuse'):>16}"
        )
    return "\n".join(lines)


# -- in memory: the ASGI call path alone ---------------------------------------------------------

SCOPE = {
    "type": "http",
    "method": "GET",
    "path": "/api/items",
    "headers": [(b"host", b"svc"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
    "query_string": b"",
}


def in_memory(n: int = 20_000, rounds: int = 7) -> str:
    """Process CPU per call of the ASGI app with in-memory receive/send: bare, one no-op layer,
    the middleware (best of ``rounds``, alternating)."""
    from healthgauge.overload import OverloadMiddleware

    app = _asgi_app()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def main() -> dict[str, float]:
        mw = OverloadMiddleware(app, handle_sigterm=False, registry=False)
        await mw.guard.start()
        refusing = OverloadMiddleware(app, handle_sigterm=False, registry=False)
        await refusing.guard.start()
        refusing.guard.controller.set_draining(True)
        targets = {"bare": app, "layer": _layer(app), "middleware": mw, "refusal": refusing}
        best = dict.fromkeys(targets, 1.0)
        for _ in range(rounds):
            for name, target in targets.items():
                t = time.process_time()
                for i in range(n):
                    await target(SCOPE, receive, send)
                    if not i % 100:
                        await asyncio.sleep(0)  # let the loop run its timers (the guard's probe) as a server would
                best[name] = min(best[name], (time.process_time() - t) / n)
        await mw.guard.stop()
        await refusing.guard.stop()
        return best

    best = asyncio.run(main())
    bare = best["bare"]
    return "\n".join(
        [f"in memory (process CPU per call, best of {rounds} x {n}):"]
        + [
            f"  {name:<11}{1e6 * value:7.2f} µs  (+{1e6 * (value - bare):.2f} µs over bare)"
            for name, value in best.items()
        ]
    )


def fake(stacks: list[str], before_src: Path, repeats: int = 2) -> str:
    """``fake_server.py``: each stack's request path without sockets, in two processes that
    alternate ``repeats`` times, one with the ``before`` tree first on ``PYTHONPATH``. Each process
    times its own bare app beside its middleware, batch by batch; the ratios are within a process."""
    sides = {
        "before": ["bare", "layer", "before", "before-refuse"],
        "after": ["bare", "layer", "core", "after", "after-refuse"],
    }
    figures: dict[tuple[str, str], list[float]] = {}
    for stack in stacks:
        for _ in range(repeats):
            for side, variants in sides.items():
                env = dict(os.environ)
                if side == "before":
                    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(before_src), env.get("PYTHONPATH", "")) if p)
                argv = [PY, str(HERE / "fake_server.py"), stack, *variants]
                out = subprocess.run(argv, capture_output=True, check=True, timeout=600, env=env, cwd=HERE).stdout
                got = json.loads(out.splitlines()[-1])
                bare = got["bare"]
                for variant in variants[1:]:
                    figures.setdefault((stack, variant), []).append(100 * (got[variant] - bare) / bare)
                figures.setdefault((stack, f"bare-{side}"), []).append(bare)
    lines = [
        "request path without sockets (fake_server.py: the server's own protocol, in-memory transport,",
        "50 connections, process CPU, alternating batches; median over processes): % over the bare app",
        f"{'stack':<10}{'bare µs':>9}{'no-op layer':>13}{'core only':>11}{'before':>9}{'after':>9}"
        f"{'refusal before':>16}{'refusal after':>15}",
    ]
    for stack in stacks:

        def med(variant: str, stack: str = stack) -> float:
            return statistics.median(figures[(stack, variant)])

        lines.append(
            f"{stack:<10}{med('bare-after'):>9.1f}{med('layer'):>+12.1f}%{med('core'):>+10.1f}%"
            f"{med('before'):>+8.1f}%{med('after'):>+8.1f}%"
            f"{med('before-refuse'):>+15.1f}%{med('after-refuse'):>+14.1f}%"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--serve", nargs=2, metavar=("STACK", "VARIANT"), help=argparse.SUPPRESS)
    p.add_argument("--stacks", nargs="+", choices=STACKS, default=list(STACKS))
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--seconds", type=float, default=0.3, help="one burst per server and round (default 0.3)")
    p.add_argument("--rounds", type=int, default=25, help="alternating rounds (default 25)")
    p.add_argument("--before", default=BEFORE, help=f"git revision of the 'before' middleware (default {BEFORE})")
    p.add_argument("--in-memory", action="store_true", help="only the in-memory ASGI call path")
    p.add_argument("--fake-only", action="store_true", help="only the in-memory and socketless figures")
    p.add_argument("--real-only", action="store_true", help="skip the socketless figures")
    p.add_argument("--json", help="write the real servers' per-round figures here")
    args = p.parse_args(argv)
    if args.serve:
        serve(*args.serve)
        return 0
    print(in_memory())
    if args.in_memory:
        return 0
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="hg-before-") as tmp:
        before_src = unpack(args.before, Path(tmp))
        if not args.real_only:
            print(fake(args.stacks, before_src))
            print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.fake_only:
            return 0
        result = run(args.stacks, args.variants, args.seconds, args.rounds, before_src)
    print(report(result, args.stacks, args.variants))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({f"{s}/{v}": values for (s, v), values in result["per"].items()}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

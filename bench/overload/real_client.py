"""The load client of the real-server benchmark (``real.py``): its own process, loopback only, bounded.

    python bench/overload/real_client.py --port P --mode closed --phases 10:3,50:3,400:3,2000:3
    python bench/overload/real_client.py --port P --mode open --phases 150:3,300:3,600:3 --retry naive

A raw HTTP/1.1 keep-alive client on asyncio protocols (uvloop when installed): no HTTP library in
the measured path, so one core drives several thousand requests a second.

- ``closed``: each phase is ``connections:seconds``; every connection sends its next request as
  soon as it has an answer (a 503 included: that is the naive retrying client), or, with
  ``--retry retry-after``, after the ``Retry-After`` it was given.
- ``open``: each phase is ``rate:seconds``; Poisson send times drawn in advance, each request sent
  at its time on an idle connection (a new one when none is idle, up to ``--max-conns``; beyond,
  the arrival counts as failed). Latency counts from the scheduled time (no coordinated omission).
  ``--retry naive`` re-sends a 503'd request at once, ``retry-after`` after its ``Retry-After``
  (at most 2 retries; every attempt is an arrival with its own deadline).
- A phase may end in ``:dep=S``: at its start the client asks the server's bench route to set the
  dependency delay to S seconds.

Every attempt has a deadline (``--deadline``, 1 s): at the deadline the client stops waiting,
closes that connection (as HTTP clients do) and counts a timeout. Output (JSON on stdout): per
phase ``sent``, ``ok`` (200 within the deadline), ``r503``, ``timeouts``, ``errors``, ``failed``
(not sent: connection cap), p50/p99 of ok latencies, send-lag p99; and a 100 ms time series;
with ``--records F``, every attempt (scheduled time, status, latency) and every send's lag behind
its schedule in ``F`` (JSON; for tail analysis).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from typing import Any

MAX_WALL = 120.0
MAX_CONNS = 4000
REQUEST = b"GET /work HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: hg-real\r\n\r\n"
BUCKET = 0.1


class Stats:
    """Per-attempt records, reduced at the end."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.records: list[tuple[float, int, float]] = []  # (scheduled t, status, latency)
        self.send_lag: list[tuple[float, float]] = []
        self.failed: list[float] = []


def _header(head: bytes, name: bytes) -> bytes:
    """The value of a (lowercased) header in a lowercased response head, or b""."""
    i = head.find(name)
    if i < 0:
        return b""
    end = head.find(b"\r\n", i)
    return head[i + len(name) : end if end > 0 else len(head)].strip()


class Conn(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    __slots__ = ("_buf", "_cb", "_head_len", "_need", "_status", "_timer", "alive", "retry_after", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.alive = False
        self._buf = bytearray()
        self._cb: Any = None
        self._timer: asyncio.TimerHandle | None = None
        self._need = -1
        self._status = 0
        self._head_len = 0
        self.retry_after = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.alive = True

    def request(self, loop: asyncio.AbstractEventLoop, deadline_at: float, cb: Any) -> None:
        """Send; ``cb(conn, status)`` once: status, 0 for a timeout, -1 for a broken connection."""
        self._cb = cb
        self._buf.clear()
        self._need = -1
        self._timer = loop.call_at(deadline_at, self._timeout)
        assert self.transport is not None
        self.transport.write(REQUEST)

    def _finish(self, status: int) -> None:
        cb, self._cb = self._cb, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if cb is not None:
            cb(self, status)

    def _timeout(self) -> None:
        self._timer = None
        self.alive = False
        if self.transport is not None:
            self.transport.abort()
        self._finish(0)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if self._need < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            self._status = int(head[9:12])
            length = int(_header(head, b"content-length:") or 0)
            self.retry_after = float(_header(head, b"retry-after:") or 0)
            self._head_len = end + 4
            self._need = end + 4 + length
        if len(buf) >= self._need:
            self._finish(self._status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        self._finish(-1)


class Client:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.loop = asyncio.get_running_loop()
        self.stats = Stats(args.deadline)
        self.t0 = 0.0
        self.conns = 0
        self.idle: list[Conn] = []

    async def connect(self) -> Conn | None:
        if self.conns >= self.args.max_conns:
            return None
        self.conns += 1
        try:
            _, conn = await self.loop.create_connection(Conn, "127.0.0.1", self.args.port)
        except OSError:
            self.conns -= 1
            return None
        return conn

    def drop(self, conn: Conn) -> None:
        self.conns -= 1
        if conn.transport is not None:
            conn.transport.abort()

    async def control(self, dep: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.args.port)
        writer.write(f"GET /healthz/bench/dep?s={dep} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        await reader.read()
        writer.close()

    def record(self, scheduled: float, status: int, latency: float) -> None:
        self.stats.records.append((scheduled, status, latency))

    # -- closed loop ---------------------------------------------------------------------------

    async def closed(self, phases: list[tuple[float, float, float | None]]) -> None:
        loop, deadline = self.loop, self.args.deadline
        honour = self.args.retry == "retry-after"
        want = 0
        workers: list[asyncio.Task[None]] = []
        end_all = self.t0 + sum(p[1] for p in phases)

        async def worker(index: int) -> None:
            conn: Conn | None = None
            while time.monotonic() < end_all and index < want:
                if conn is None or not conn.alive:
                    if conn is not None:
                        self.drop(conn)
                    conn = await self.connect()
                    if conn is None:
                        await asyncio.sleep(0.05)
                        continue
                done: asyncio.Future[int] = loop.create_future()
                sent = time.monotonic()
                conn.request(loop, sent + deadline, lambda c, s, f=done: f.done() or f.set_result(s))
                status = await done
                now = time.monotonic()
                self.record(sent - self.t0, status, now - sent)
                if status == 503 and honour and conn.retry_after > 0:
                    await asyncio.sleep(min(conn.retry_after, max(0.0, end_all - now)))
            if conn is not None:
                self.drop(conn)

        start = self.t0
        for n, duration, dep in phases:
            if dep is not None:
                await self.control(dep)
            want = int(n)
            while len(workers) < want:
                workers.append(asyncio.create_task(worker(len(workers))))
            workers = [w for i, w in enumerate(workers) if i < want or not w.done()]
            start += duration
            await asyncio.sleep(max(0.0, start - time.monotonic()))
        await asyncio.wait(workers, timeout=deadline + 2)

    # -- open loop -----------------------------------------------------------------------------

    async def open(self, phases: list[tuple[float, float, float | None]]) -> None:
        rng = random.Random(self.args.seed)
        arrivals: list[tuple[float, int]] = []
        t = 0.0
        controls: list[tuple[float, float]] = []
        for rate, duration, dep in phases:
            if dep is not None:
                controls.append((t, dep))
            s = t
            while rate > 0:
                s += rng.expovariate(rate)
                if s >= t + duration:
                    break
                arrivals.append((s, 0))
            t += duration
        total = t
        pending: set[asyncio.Task[None]] = set()
        retries: list[tuple[float, int]] = []
        i = 0
        while (i < len(arrivals) or retries) and time.monotonic() - self.t0 < min(MAX_WALL, total + 1):
            now = time.monotonic() - self.t0
            while controls and controls[0][0] <= now:
                await self.control(controls.pop(0)[1])
            due: list[tuple[float, int]] = []
            while i < len(arrivals) and arrivals[i][0] <= now:
                due.append(arrivals[i])
                i += 1
            if retries:
                retries.sort()
                while retries and retries[0][0] <= now:
                    due.append(retries.pop(0))
            for when, attempt in due:
                if when >= total:
                    continue
                self.send(when, attempt, retries, pending)
            await asyncio.sleep(0.001)
        if pending:
            await asyncio.wait(pending, timeout=self.args.deadline + 1)

    def send(self, when: float, attempt: int, retries: list[tuple[float, int]], pending: set[Any]) -> None:
        loop, deadline = self.loop, self.args.deadline
        sched_abs = self.t0 + when

        def done(conn: Conn, status: int) -> None:
            now = time.monotonic()
            self.record(when, status, now - sched_abs)
            if conn.alive:
                self.idle.append(conn)
            else:
                self.drop(conn)
            if status == 503 and attempt < 2 and self.args.retry != "none":
                delay = conn.retry_after if self.args.retry == "retry-after" else 0.0
                retries.append((now - self.t0 + delay, attempt + 1))

        def go(conn: Conn) -> None:
            self.stats.send_lag.append((when, time.monotonic() - sched_abs))
            conn.request(loop, sched_abs + deadline, done)

        while self.idle:
            conn = self.idle.pop()
            if conn.alive:
                go(conn)
                return
            self.drop(conn)

        async def fresh() -> None:
            conn = await self.connect()
            if conn is None:
                self.stats.failed.append(when)
                return
            if time.monotonic() >= sched_abs + deadline:
                self.record(when, 0, deadline)
                self.idle.append(conn)
                return
            go(conn)

        task = loop.create_task(fresh())
        pending.add(task)
        task.add_done_callback(pending.discard)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(stats: Stats, phases: list[tuple[float, float, float | None]], total: float) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    start = 0.0
    deadline = stats.deadline
    for value, duration, dep in phases:
        end = start + duration
        recs = [r for r in stats.records if start <= r[0] < end]
        ok = [r[2] for r in recs if r[1] == 200 and r[2] <= deadline]
        lags = [lag for t, lag in stats.send_lag if start <= t < end]
        out.append(
            {
                "value": value,
                "seconds": duration,
                "dep": dep,
                "sent": len(recs),
                "ok": len(ok),
                "goodput": len(ok) / duration,
                "r503": sum(1 for r in recs if r[1] == 503),
                "timeouts": sum(1 for r in recs if r[1] == 0),
                "errors": sum(1 for r in recs if r[1] < 0 or r[1] not in (0, 200, 503)),
                "failed": sum(1 for t in stats.failed if start <= t < end),
                "p50_ms": None if not ok else round(1000 * (pct(ok, 0.5) or 0), 2),
                "p99_ms": None if not ok else round(1000 * (pct(ok, 0.99) or 0), 2),
                "send_lag_p99_ms": None if not lags else round(1000 * (pct(lags, 0.99) or 0), 2),
            }
        )
        start = end
    buckets = int(total / BUCKET) + 1
    series = {"ok": [0] * buckets, "r503": [0] * buckets, "timeouts": [0] * buckets}
    for t, status, latency in stats.records:
        b = min(buckets - 1, int(t / BUCKET))
        if status == 200 and latency <= deadline:
            series["ok"][b] += 1
        elif status == 503:
            series["r503"][b] += 1
        elif status == 0:
            series["timeouts"][b] += 1
    return {"phases": out, "bucket_s": BUCKET, "series": series}


def parse_phases(text: str) -> list[tuple[float, float, float | None]]:
    phases = []
    for part in text.split(","):
        fields = part.split(":")
        dep = None
        if len(fields) == 3 and fields[2].startswith("dep="):
            dep = float(fields[2][4:])
        phases.append((float(fields[0]), float(fields[1]), dep))
    return phases


async def run(args: argparse.Namespace) -> dict[str, Any]:
    client = Client(args)
    phases = parse_phases(args.phases)
    total = sum(p[1] for p in phases)
    client.t0 = time.monotonic()
    if args.mode == "closed":
        await asyncio.wait_for(client.closed(phases), MAX_WALL)
    else:
        await asyncio.wait_for(client.open(phases), MAX_WALL)
    for conn in client.idle:
        if conn.transport is not None:
            conn.transport.abort()
    result = summarize(client.stats, phases, total)
    result["records"] = {
        "records": [[round(t, 4), status, round(latency, 4)] for t, status, latency in client.stats.records],
        "send_lag": [[round(t, 4), round(lag, 4)] for t, lag in client.stats.send_lag],
        "t0": client.t0,  # time.monotonic() at the first phase's start (the server's clock too)
    }
    return result


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=("closed", "open"), required=True)
    p.add_argument("--phases", required=True)
    p.add_argument("--deadline", type=float, default=1.0)
    p.add_argument("--retry", choices=("none", "naive", "retry-after"), default="none")
    p.add_argument("--max-conns", type=int, default=3000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--records", help="also write every attempt ([scheduled s, status, latency s]) and send lag here")
    args = p.parse_args(argv)
    args.max_conns = min(args.max_conns, MAX_CONNS)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args))
    if args.records:
        with open(args.records, "w") as f:
            json.dump(result.pop("records"), f, separators=(",", ":"))
    else:
        result.pop("records")
    sys.stdout.write(json.dumps(result, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

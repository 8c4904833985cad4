"""Middleware cost per request, in process (no network), side by side with the bare app.

    python bench/overload/middleware_overhead.py

Calls the ASGI app directly with in-memory receive/send, N requests per run, alternating bare and
wrapped runs and keeping the best of each (the machine is shared: only ratios measured side by
side mean anything). Also times the guard alone (``enter`` + ``finish``) and the aiohttp
middleware through a mocked request. The real-server figure, server CPU per request through
uvicorn, is printed by ``smoke.py``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from healthgauge.overload import AdmissionController, Outcome, OverloadGuard, OverloadMiddleware

N = 20_000
ROUNDS = 5
HEADERS = [(b"host", b"svc"), (b"user-agent", b"bench"), (b"accept", b"*/*"), (b"healthgauge-criticality", b"CRITICAL")]
SCOPE = {"type": "http", "method": "GET", "path": "/api/items", "headers": HEADERS, "query_string": b""}
START = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
BODY = {"type": "http.response.body", "body": b"ok"}


async def app(scope: Any, receive: Any, send: Any) -> None:
    await send(START)
    await send(BODY)


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    return None


def guard() -> OverloadGuard:
    # The middleware's default controller (queue-delay AIMD, no wait queue), far from its limit.
    return OverloadGuard(AdmissionController(), handle_sigterm=False, loop_lag=False)


async def per_request(target: Any) -> float:
    start = time.perf_counter()
    for _ in range(N):
        await target(SCOPE, receive, send)
    return (time.perf_counter() - start) / N


async def guard_only(g: OverloadGuard) -> float:
    get = {"healthgauge-criticality": "CRITICAL"}.get
    start = time.perf_counter()
    for _ in range(N):
        admission = await g.enter("GET", "/api/items", get)
        g.finish(admission, Outcome.SUCCESS, status=200)
    return (time.perf_counter() - start) / N


async def main() -> int:
    wrapped = OverloadMiddleware(app, guard=guard())
    await wrapped.guard.start()
    g = guard()
    best = {"bare": 1.0, "wrapped": 1.0, "guard": 1.0}
    for _ in range(ROUNDS):
        best["bare"] = min(best["bare"], await per_request(app))
        best["wrapped"] = min(best["wrapped"], await per_request(wrapped))
        best["guard"] = min(best["guard"], await guard_only(g))
    await wrapped.guard.stop()
    added = best["wrapped"] - best["bare"]
    print(f"bare ASGI app (in memory)      {best['bare'] * 1e6:7.2f} µs/request")
    print(f"wrapped in OverloadMiddleware  {best['wrapped'] * 1e6:7.2f} µs/request   (+{added * 1e6:.2f} µs)")
    print(
        f"guard.enter + finish alone     {best['guard'] * 1e6:7.2f} µs/request   (with header classification;"
        " the core alone: bench/overload/micro.py, spec budget 5 µs)"
    )
    # Server CPU per request through uvicorn on httptools + uvloop, as smoke.py measures it.
    for label, cost in (("empty handler via uvicorn", 160e-6), ("smoke handler via uvicorn", 2330e-6)):
        print(f"  added cost vs {label} (~{cost * 1e6:.0f} µs CPU): {100 * added / cost:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""The real servers' request path without sockets: uvicorn's and aiohttp's own protocol objects fed
raw HTTP/1.1 requests through an in-memory transport, on their own event loops (uvloop for
httptools, asyncio for h11 and aiohttp). Used by ``middleware_overhead.py --fake``.

Everything a server does per request runs (parsing, the ASGI cycle or aiohttp request handler,
its task, the response's encoding and the transport write), except the system calls and the
client: timed in this process's CPU time, with no other process in the measured path, the
variants' figures can alternate batch by batch and stay comparable on a host whose load changes
by the second.

    python bench/overload/fake_server.py STACK VARIANT...   # prints JSON: µs per request by variant
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

REQUEST = b"GET /work HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: hg-real\r\n\r\n"
CONNECTIONS = 50  # requests in flight per loop iteration, as 50 keep-alive clients
BATCHES = 41
PER_BATCH = 40  # loop iterations per batch (2,000 requests)


class Transport(asyncio.Transport):
    """An always-writable in-memory transport that counts the answers written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.answers = 0
        self.statuses: dict[bytes, int] = {}
        self.closed = False
        self._extra = {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000), "socket": None}

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if bytes(data[:9]) == b"HTTP/1.1 ":
            self.answers += 1
            status = bytes(data[9:12])
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return True

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return False


async def _uvicorn_connections(stack: str, app: Any, n: int) -> list[tuple[Any, Transport]]:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    config = Config(
        app, http="h11" if stack == "h11" else "httptools", lifespan="off", access_log=False, log_level="warning"
    )
    config.load()
    if stack == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol as Protocol
    else:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Protocol  # type: ignore[assignment]
    state = ServerState()
    pairs = []
    for _ in range(n):
        protocol = Protocol(config=config, server_state=state, app_state={})
        transport = Transport()
        protocol.connection_made(transport)
        pairs.append((protocol, transport))
    return pairs


async def _aiohttp_connections(app: Any, n: int) -> list[tuple[Any, Transport]]:
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=30)
    await runner.setup()
    server = runner.server
    assert server is not None
    pairs = []
    for _ in range(n):
        protocol = server()
        transport = Transport()
        protocol.connection_made(transport)
        pairs.append((protocol, transport))
    return pairs


async def _drive(pairs: list[tuple[Any, Transport]], iterations: int) -> int:
    """``iterations`` rounds of one request per connection, each round run to its answers."""
    answered = 0
    for _ in range(iterations):
        before = sum(t.answers for _, t in pairs)
        for protocol, _ in pairs:
            protocol.data_received(REQUEST)
        for _ in range(50):  # the request tasks run, answer; bounded
            await asyncio.sleep(0)
            if sum(t.answers for _, t in pairs) - before >= len(pairs):
                break
        answered += sum(t.answers for _, t in pairs) - before
    return answered


def measure(stack: str, variants: list[str], make: Callable[[str, str], Any]) -> dict[str, float]:
    """Median process-CPU µs per request of each variant (``make(stack, variant)``: the app),
    batches alternating."""

    async def main() -> dict[str, float]:
        conns = {}
        for variant in variants:
            app = make(stack, variant)
            if stack == "aiohttp":
                conns[variant] = await _aiohttp_connections(app, CONNECTIONS)
            else:
                conns[variant] = await _uvicorn_connections(stack, app, CONNECTIONS)
        samples: dict[str, list[float]] = {v: [] for v in variants}
        for v in variants:  # warm-up
            await _drive(conns[v], PER_BATCH)
        for turn in range(BATCHES):
            k = turn % len(variants)
            for v in variants[k:] + variants[:k]:
                t = time.process_time()
                n = await _drive(conns[v], PER_BATCH)
                elapsed = time.process_time() - t
                if n < CONNECTIONS * PER_BATCH:
                    raise RuntimeError(f"{stack}/{v}: {n} answers of {CONNECTIONS * PER_BATCH}")
                samples[v].append(1e6 * elapsed / n)
        for v in variants:  # every answer the one the variant is for: 200, or 503 for a refusal
            want = b"503" if v.endswith("-refuse") else b"200"
            statuses = {s for _, t in conns[v] for s in t.statuses}
            if statuses != {want}:
                raise RuntimeError(f"{stack}/{v}: answers {sorted(statuses)}, expected only {want!r}")
        return {v: statistics.median(values) for v, values in samples.items()}

    if stack == "httptools":
        import uvloop

        return uvloop.run(main())
    return asyncio.run(main())


def main(argv: list[str]) -> int:
    from middleware_overhead import make_app

    stack, variants = argv[0], argv[1:]
    print(json.dumps(measure(stack, variants, make_app)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

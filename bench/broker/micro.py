"""The broker's own Python cost per request, without sockets (issue #17: ≤ 300 µs CPU per request).

One :class:`BrokerService` on a uvloop loop (not running: every step of a request is a callback
the loop would run) with in-memory transports: a client connection gets the request HAProxy
sends, the service offers it to one of ``--workers`` workers over an idle pooled connection, that
connection gets the worker's answer, and the answer goes to the client. Nothing else runs, so
the figure is the broker's code alone: what the real run adds to it is the kernel's share
(read and write syscalls, epoll) and the loop's. ``--profile`` prints where the time goes.

    python bench/broker/micro.py             # ~10 s
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import time

from healthgauge.broker._config import parse_config
from healthgauge.broker._proxy import ClientConnection, WorkerConnection
from healthgauge.broker._service import BrokerService

CONFIG = """\
listen = "127.0.0.1:0"
[affinity]
path_segment = 2
[queues.batch]
max_share = 0.75
[[rules]]
class = "batch"
path_prefix = "/pdf/"
"""

# What HAProxy forwards, and what the example worker (aiohttp + the middleware) answers.
REQUEST = b"GET /img/k%d HTTP/1.1\r\nhost: bench\r\nhealthgauge-timeout: 1000\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nX-Cache: hit\r\nX-Worker: w1\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 6\r\nDate: Mon, 07 Dec 2026 14:03:17 GMT\r\nServer: Python/3.11 aiohttp/3.14.5\r\n\r\nw1 k1\n"
)


class Transport:
    """Just enough of an asyncio transport: counts what is written."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def writelines(self, data: list[bytes]) -> None:
        for piece in data:
            self.written += len(piece)

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop, as the broker runs on (asyncio's when it is not installed)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def service(workers: int) -> tuple[BrokerService, ClientConnection, Transport]:
    lines = [CONFIG] + [f'[[workers]]\nname = "w{i}"\nurl = "http://127.0.0.1:{9000 + i}"\n' for i in range(workers)]
    svc = BrokerService(parse_config("\n".join(lines)), loop=new_loop())
    client = ClientConnection(svc)
    out = Transport()
    client.connection_made(out)  # type: ignore[arg-type]
    for name in svc.workers:
        conn = WorkerConnection(svc, name)
        conn.connection_made(Transport())  # type: ignore[arg-type]
        svc.idle.put(conn)
    return svc, client, out


def run(svc: BrokerService, client: ClientConnection, count: int) -> float:
    """CPU seconds per request (this process's own) over ``count`` requests, one at a time, keys
    drawn in turn from 200."""
    requests = [REQUEST % (i % 200) for i in range(count)]
    start = time.process_time()
    for data in requests:
        client.data_received(data)
        ex = client.exchange
        assert ex is not None, "the request was not read"
        assert ex.worker_conn is not None, "the request was not offered"
        ex.worker_conn.data_received(RESPONSE)
    return (time.process_time() - start) / count


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20000, help="per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--profile", action="store_true", help="one round under cProfile, by own time")
    args = p.parse_args()
    svc, client, out = service(args.workers)
    run(svc, client, 2000)  # warm: every key's rendezvous order, the counters' keys
    if args.profile:
        prof = cProfile.Profile(time.process_time)
        prof.runcall(run, svc, client, args.requests)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    rounds = [run(svc, client, args.requests) for _ in range(args.rounds)]
    answered = svc.counters.responses
    assert out.written, "nothing reached the client"
    assert sum(answered.values()) >= args.rounds * args.requests, answered
    best, median = min(rounds), statistics.median(rounds)
    print(f"broker code per request (no sockets, CPU time): best {best * 1e6:.1f} µs, median {median * 1e6:.1f} µs "
          f"over {args.rounds} rounds of {args.requests}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A worker that costs next to nothing: it answers each request after ``--sleep-ms`` on a timer (no
CPU spent waiting), so that what a benchmark measures in front of it is the path, not the work.

``python bench/broker/trivial_worker.py --sleep-ms 1`` prints ``READY {"http": PORT}``; HTTP/1.1
keep-alive, one request at a time per connection (what HAProxy and the broker send), GET only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\nok\n"
MAX_HEAD = 65536


class Serve(asyncio.Protocol):
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) != -1:
            self.buf = self.buf[end + 4 :]
            if self.delay > 0:
                asyncio.get_running_loop().call_later(self.delay, self.answer)
            else:
                self.answer()
        if len(self.buf) > MAX_HEAD:
            self.close()

    def answer(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(ANSWER)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def serve(delay: float) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = await loop.create_server(lambda: Serve(delay), sock=sock, backlog=1024)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("READY " + json.dumps({"http": sock.getsockname()[1]}), flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sleep-ms", type=float, default=1.0)
    p.add_argument("--name", default="t")
    args = p.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.sleep_ms / 1000))
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(args.sleep_ms / 1000))


if __name__ == "__main__":
    main()

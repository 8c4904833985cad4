"""The scrape client: healthgauge's Endpoint beside aiohttp's client, scraping the same pages.

    .venv/bin/python bench/scrape_client.py [--targets 1000] [--seconds 5]

Each client scrapes N keep-alive targets once a second (the bench/agent.py static server, one
page per path) in its own run; prints the client process's CPU per scrape and the ratio. Only
fetching is measured: no parsing or evaluation.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from healthgauge.http._client import Endpoint

HERE = Path(__file__).resolve().parent


async def _loop(fetch: object, offset: float, stop: asyncio.Event, counter: list[int]) -> None:
    await asyncio.sleep(offset)
    while not stop.is_set():
        async with asyncio.timeout(0.5):
            await fetch()  # type: ignore[operator]
        counter[0] += 1
        await asyncio.sleep(1)


async def measure(kind: str, port: int, targets: int, seconds: float) -> float:
    stop = asyncio.Event()
    counter = [0]
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    fetches = []
    for i in range(targets):
        url = f"http://127.0.0.1:{port}/metrics/{i}"
        if kind == "aiohttp":

            async def get(url: str = url) -> bytes:
                async with session.get(url) as resp:
                    return await resp.read()

            fetches.append(get)
        else:
            endpoint = Endpoint(url)

            async def get_lean(endpoint: Endpoint = endpoint) -> bytes:
                return (await endpoint.get(1 << 20)).body

            fetches.append(get_lean)
    tasks = [asyncio.create_task(_loop(f, i / targets, stop, counter)) for i, f in enumerate(fetches)]
    await asyncio.sleep(2)
    before, count, t0 = resource.getrusage(resource.RUSAGE_SELF), counter[0], time.monotonic()
    await asyncio.sleep(seconds)
    after, done, t1 = resource.getrusage(resource.RUSAGE_SELF), counter[0] - count, time.monotonic()
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await session.close()
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(f"{kind:<9} {done / (t1 - t0):6.0f} scrapes/s   {cpu / done * 1e6:5.0f} us CPU per scrape")
    return cpu / done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    static = subprocess.Popen(
        [sys.executable, str(HERE / "agent.py"), "--serve-static"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert static.stdout is not None
        port = int(static.stdout.readline())
        costs = {kind: asyncio.run(measure(kind, port, args.targets, args.seconds)) for kind in ("aiohttp", "endpoint")}
        print(f"aiohttp / endpoint: {costs['aiohttp'] / costs['endpoint']:.2f}x CPU per scrape")
    finally:
        static.terminate()
        static.wait(10)
        if static.stdout is not None:
            static.stdout.close()


if __name__ == "__main__":
    main()

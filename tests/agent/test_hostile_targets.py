"""Targets that attack the agent (issue #13): each one fails alone, fast, with a reason that says
why, and costs the agent neither its loop nor its memory. Loopback only; every server stopped."""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from healthgauge.agent._config import parse_config
from healthgauge.agent._run import Agent
from healthgauge.agent.judge._promql_engine import PromEngine
from healthgauge.http._client import Endpoint
from healthgauge.http._http11 import TooLargeError
from support.fake_engine import FakeEngine

from .conftest import eventually, get

Reply = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


class RawTarget:
    """A TCP server on 127.0.0.1:0 that reads a request head and lets ``reply`` write anything."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.server: asyncio.Server | None = None
        self.heads: list[bytes] = []
        self.writers: set[asyncio.StreamWriter] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                await self.reply(head, writer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            self.writers.discard(writer)

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/metrics"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self.writers):
                writer.close()
            await self.server.wait_closed()


@pytest.fixture
async def raw() -> AsyncIterator[Callable[[Reply], Awaitable[str]]]:
    started: list[RawTarget] = []

    async def make(reply: Reply) -> str:
        target = RawTarget(reply)
        started.append(target)
        return await target.start()

    yield make
    for target in started:
        await target.stop()


def _response(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def page_reply(page: bytes, *headers: str) -> Reply:
    async def reply(head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(_response(page, *headers))

    return reply


GOOD = page_reply(b"app_state 1\n")


def config(targets: dict[str, str], extra: str = "", agent: str = "", rules: str = 'ready = ["app_state == 1"]') -> str:
    table = ", ".join(f'"{name}" = "{url}"' for name, url in targets.items())
    return f"""
[agent]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shutdown_grace = "100ms"
{agent}

[[targets]]
urls = {{ {table} }}
interval = "200ms"
timeout = "150ms"
{rules}
rise = 1
fall = 1
{extra}
"""


@pytest.fixture
async def agents() -> AsyncIterator[Callable[..., Awaitable[Agent]]]:
    running: list[Agent] = []

    async def start(text: str, engine: Any = None) -> Agent:
        engine = engine or FakeEngine()
        agent = Agent(parse_config(text, engine), engine)
        await agent.start()
        running.append(agent)
        return agent

    yield start
    for agent in running:
        await agent.stop()


def error(agent: Agent, name: str) -> str:
    state = agent.hub.get(name)
    assert state is not None
    return state.error


def ready(agent: Agent, name: str) -> bool:
    state = agent.hub.get(name)
    return state is not None and state.ready


async def test_a_gzip_body_of_many_empty_members_fails_at_once_and_alone(raw: Any, agents: Any) -> None:
    members = gzip.compress(b"") * (4 * 1024 * 1024 // 20)  # 4 MiB: decoding took 20 s before
    bomb = await raw(page_reply(members, "Content-Encoding: gzip"))
    good = await raw(GOOD)
    agent = await agents(config({"bomb": bomb, "good": good}))
    await eventually(lambda: "members" in error(agent, "bomb") and ready(agent, "good"), what="bomb refused")
    assert "more than 1000 members" in error(agent, "bomb")
    assert agent.loops["bomb"].stats.last_duration < 1.0  # 20 s before the member cap


async def test_a_target_dripping_one_byte_chunks_is_cut_off(raw: Any, agents: Any) -> None:
    async def drip(head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1\r\na\r\n" * 20_000)

    url, good = await raw(drip), await raw(GOOD)
    agent = await agents(config({"drip": url, "good": good}))
    await eventually(lambda: "a drip" in error(agent, "drip") and ready(agent, "good"), what="drip refused")


async def test_a_failed_scrape_frees_its_buffer_at_once(raw: Any) -> None:
    """A close-delimited body over the cap: before, each failed scrape's buffer lived in a
    reference cycle (exception, traceback, connection) until a full collection."""

    async def flood(head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * (3 * 1024 * 1024))
        await writer.drain()
        writer.close()

    url = await raw(flood)
    endpoint = Endpoint(url)
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        for _ in range(6):
            with pytest.raises(TooLargeError):
                await endpoint.get(1024 * 1024)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        gc.enable()
        endpoint.close()
    assert held < 2 * 1024 * 1024, f"{held} bytes still held after 6 failed 1 MiB scrapes"


async def test_sample_limit_fails_a_target_with_too_many_series(raw: Any, agents: Any) -> None:
    page = b"".join(b'app_state{i="%d"} 1\n' % i for i in range(50))
    url = await raw(page_reply(page))
    agent = await agents(config({"t": url}, extra="sample_limit = 20"), PromEngine())
    await eventually(lambda: "sample_limit" in error(agent, "t"), what="sample_limit")
    assert error(agent, "t") == "sample_limit: more than 20 samples of the metrics the rules read"
    assert not ready(agent, "t")


async def test_series_limit_caps_a_history_whose_label_sets_churn(raw: Any, agents: Any) -> None:
    count = iter(range(1_000_000))

    async def churn(head: bytes, writer: asyncio.StreamWriter) -> None:
        n = next(count)
        page = b"".join(b'app_state{gen="%d",i="%d"} 1\n' % (n, i) for i in range(10))
        writer.write(_response(page))

    url = await raw(churn)
    rules = 'ready = ["max_over_time(app_state[10m]) == 1"]'
    agent = await agents(config({"t": url}, extra="series_limit = 35", rules=rules), PromEngine())
    await eventually(lambda: "series_limit" in error(agent, "t"), what="series_limit")
    assert "over the cap of 35" in error(agent, "t")
    loop = agent.loops["t"]
    assert len(loop.history) <= 35  # type: ignore[arg-type]


class SlowParse(FakeEngine):
    """Parses in a worker thread (a big page) for longer than the target's timeout."""

    def parse(self, data: bytes | bytearray, content_type: str | None, names: Any, *rest: Any) -> object:
        time.sleep(0.4)
        return super().parse(data, content_type, names, *rest)


async def test_the_deadline_covers_the_parse_and_no_parse_piles_up(raw: Any, agents: Any) -> None:
    page = b"app_state 1\n" + b"# padding\n" * 60_000  # over 512 KiB: parsed in a thread
    url = await raw(page_reply(page))
    agent = await agents(config({"t": url}), SlowParse())
    await eventually(
        lambda: "not parsed and evaluated within the 0.15s timeout" in error(agent, "t"), what="parse deadline"
    )
    await eventually(lambda: "still being parsed" in error(agent, "t"), what="no second parse")


async def test_header_values_echoed_by_a_target_are_not_republished(raw: Any, agents: Any) -> None:
    secret = "sekrit-api-key-1234"

    async def echo(head: bytes, writer: asyncio.StreamWriter) -> None:
        key = next(line for line in head.split(b"\r\n") if line.lower().startswith(b"x-api-key")).split(b": ")[1]
        writer.write(b"HTTP/1.1 403 Bad key " + key + b"\r\nContent-Length: 0\r\n\r\n")

    url = await raw(echo)
    extra = f'headers = {{ X-Api-Key = "{secret}" }}'
    agent = await agents(config({"t": url}, extra=extra, agent='haproxy_listen = "127.0.0.1:0"'))
    await eventually(lambda: "Bad key" in error(agent, "t"), what="the 403")
    seen = [
        (await get(agent, "/readyz?verbose"))[2],
        (await get(agent, "/readyz/t?verbose"))[2],
        (await get(agent, "/health/t"))[2],
        (await get(agent, "/v1/targets", "admin"))[2],
        json.dumps(agent.hub.get("t").reason),  # type: ignore[union-attr]
    ]
    host, port = agent.addresses["haproxy_listen"].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"t\n")
    seen.append((await asyncio.wait_for(reader.read(), 2)).decode())
    writer.close()
    for text in seen:
        assert secret not in text
    assert "<redacted>" in seen[0]
    assert "<redacted>" in seen[2]


class Costly(FakeEngine):
    """Burns 50 ms of CPU per parse: 25 % of a core at a 200 ms interval."""

    def parse(self, data: bytes | bytearray, content_type: str | None, names: Any, *rest: Any) -> object:
        spent = time.thread_time() + 0.05
        while time.thread_time() < spent:
            pass
        return super().parse(data, content_type, names, *rest)


async def test_a_target_over_its_cpu_budget_is_scraped_less_often(
    raw: Any, agents: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url, good = await raw(GOOD), await raw(GOOD)
    agent = await agents(config({"costly": url, "good": good}), Costly())
    await eventually(lambda: ready(agent, "costly"), what="first scrape")
    costly = agent.loops["costly"]
    before = costly.stats.ok
    await asyncio.sleep(2.0)  # ten intervals: one scrape, maybe two, instead of ten
    assert costly.stats.ok - before <= 3
    assert "over 2% of its 0.2s interval: scraped less often" in caplog.text

"""The one agent-check codec and the one listener, with both overflow policies, on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest

from healthgauge.agentcheck import (
    MAX_REASON,
    Admin,
    AgentCheckListener,
    AgentReply,
    Overflow,
    down_line,
    encode_reply,
    load_words,
    parse_request,
    sanitize_reason,
    unknown_target,
)


@pytest.mark.parametrize(
    ("reply", "line"),
    [
        (AgentReply(up=True, weight=70, maxconn=16), b"up ready 70% maxconn:16\n"),
        (AgentReply(up=True, admin=Admin.DRAIN, weight=100), b"up drain 100%\n"),
        (AgentReply(up=True, admin=Admin.MAINT), b"up maint\n"),
        (AgentReply(up=False, weight=250, maxconn=-3, reason="db\ngone"), b"down ready 100% maxconn:0 #db gone\n"),
        (AgentReply(up=False), b"down ready #no reason given\n"),
        (AgentReply(up=True, weight=-5, reason="not said while up"), b"up ready 0%\n"),
    ],
)
def test_every_reply_is_one_full_state_line(reply: AgentReply, line: bytes) -> None:
    assert encode_reply(reply) == line


def test_load_words_alone() -> None:
    assert load_words(37, 4) == ["37%", "maxconn:4"]
    assert load_words(None, None) == []


def test_reasons_are_one_short_printable_ascii_line() -> None:
    assert sanitize_reason("é\tx\x00y") == "? x y"
    long = sanitize_reason("x" * 1000)
    assert len(long) == MAX_REASON
    assert long.endswith("...")
    assert down_line("a\nb") == b"down #a b\n"
    assert unknown_target("s\n9") == b"down #healthgauge has no target named 's\\n9'\n"


def test_requests_are_read_to_the_first_line_end() -> None:
    assert parse_request(b"  be/s1 \r\nmore") == "be/s1"
    assert parse_request(b"") == ""


async def ask(port: int, send: bytes | None = None) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if send is not None:
            writer.write(send)
            await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 2)
    finally:
        writer.close()
        await writer.wait_closed()


async def hold(port: int) -> asyncio.StreamWriter:
    """A peer that connects and says nothing, keeping its connection (and its slot) open."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    return writer


@pytest.mark.parametrize("overflow", [Overflow.ANSWER, Overflow.CLOSE])
async def test_the_overflow_policy_is_a_parameter(overflow: Overflow) -> None:
    listener = AgentCheckListener(
        lambda request: b"up ready 100% #" + request.strip() + b"\n",
        reads_request=True,
        overflow=overflow,
        max_connections=1,
        read_deadline=5.0,
    )
    await listener.start("127.0.0.1", 0)
    held = await hold(listener.port)
    try:
        await asyncio.sleep(0.05)
        started = time.monotonic()
        answer = await ask(listener.port)
        assert time.monotonic() - started < 2.5  # past the cap nobody waits for the (5 s) read deadline
        assert answer == (b"up ready 100% #\n" if overflow is Overflow.ANSWER else b"")
        stats = listener.statistics()
        assert (stats.overflow, stats.replies) == (1, 1 if overflow is Overflow.ANSWER else 0)
    finally:
        held.close()
        await listener.close()


async def test_an_answer_that_ignores_the_request_is_written_at_once() -> None:
    listener = AgentCheckListener(
        lambda request: b"up ready 50%\n",
        reads_request=False,
        overflow=Overflow.CLOSE,
        max_connections=4,
        read_deadline=5,
    )
    await listener.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        started = time.monotonic()
        assert await asyncio.wait_for(reader.readline(), 2) == b"up ready 50%\n"
        assert time.monotonic() - started < 1.0
        writer.write(b"be/s1\n")  # agent-send after the reply: read, then a clean close
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
        assert listener.statistics().nothing == 0
    finally:
        await listener.close()


async def test_a_failing_answer_is_answered_down() -> None:
    def broken(request: bytes) -> bytes:
        raise RuntimeError("boom")

    listener = AgentCheckListener(
        broken, reads_request=True, overflow=Overflow.ANSWER, max_connections=4, read_deadline=0.05
    )
    await listener.start("127.0.0.1", 0)
    try:
        assert await ask(listener.port) == b"down #healthgauge internal error: RuntimeError('boom')\n"
        stats = listener.statistics()
        assert (stats.errors, stats.nothing, stats.replies) == (1, 1, 1)
    finally:
        await listener.close()

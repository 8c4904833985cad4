"""The embedded agent-check responder over loopback, the loop-lag probe and the SIGTERM drain."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

import pytest

from healthgauge.overload import AgentCheckResponder, AgentReport, AgentState, DrainOnSignal, LoadReporter, LoopLagProbe
from healthgauge.overload import full_state_line as line


async def ask(port: int, send: bytes = b"") -> bytes:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    try:
        if send:
            writer.write(send)
        return await asyncio.wait_for(reader.read(4096), 2)
    finally:
        writer.close()


async def until(predicate: Callable[[], bool]) -> None:
    """Wait for a signal handler's effect, for at most 5 s (a loaded machine delays callbacks)."""
    async with asyncio.timeout(5):
        while not predicate():  # noqa: ASYNC110 - signal handlers offer no event to wait on
            await asyncio.sleep(0.01)


def reporter(load: float, limit: int | None) -> tuple[LoadReporter, AgentCheckResponder]:
    rep = LoadReporter(warmup=0.0)
    return rep, AgentCheckResponder(lambda: rep.report(round(load), limit), read_deadline=1.0)


def test_full_state_lines() -> None:
    ready = AgentReport(weight=70, maxconn=16, state=AgentState.READY, load=30)
    assert line(ready) == b"up ready 70% maxconn:16\n"
    drain = AgentReport(weight=None, maxconn=None, state=AgentState.DRAIN, load=30)
    assert line(drain, ready) == b"up drain 70% maxconn:16\n"
    assert line(drain) == b"up drain\n"
    maint = AgentReport(weight=None, maxconn=None, state=AgentState.MAINT, load=0)
    assert line(maint, ready) == b"up maint 70% maxconn:16\n"
    down = AgentReport(weight=None, maxconn=None, state=AgentState.DOWN, load=0, reason="db\nunreachable #1")
    assert line(down, ready) == b"down ready 70% maxconn:16 #db unreachable #1\n"
    assert line(AgentReport(weight=None, maxconn=None, state=AgentState.DOWN, load=0)) == b"down ready #failed\n"


async def test_answers_one_full_line_and_closes() -> None:
    _, responder = reporter(25.0, 12)
    async with responder:
        assert responder.port > 0
        assert await ask(responder.port) == b"up ready 75% maxconn:12\n"
        # With agent-send configured, HAProxy writes first; the answer is the same.
        assert await ask(responder.port, b"be_app/s1\n") == b"up ready 75% maxconn:12\n"
        assert responder.served == 2


async def test_does_not_wait_for_agent_send() -> None:
    rep = LoadReporter(warmup=0.0)
    async with AgentCheckResponder(lambda: rep.report(0, 4), read_deadline=5.0) as responder:
        reader, writer = await asyncio.open_connection("127.0.0.1", responder.port)
        started = time.monotonic()
        line = await asyncio.wait_for(reader.readline(), 2)
        assert time.monotonic() - started < 1.0
        assert line == b"up ready 100% maxconn:4\n"
        writer.close()


async def test_concurrent_connections() -> None:
    _, responder = reporter(50.0, 3)
    async with responder:
        # Hold 20 connections open without sending: each gets its line at once anyway.
        answers = await asyncio.gather(*(ask(responder.port) for _ in range(20)))
        assert set(answers) == {b"up ready 50% maxconn:3\n"}


async def test_failing_source_fails_closed() -> None:
    def broken() -> AgentReport:
        raise RuntimeError("no statistics")

    async with AgentCheckResponder(broken) as responder:
        assert await ask(responder.port) == b"up ready 10%\n"


async def test_drain_is_answered_until_close() -> None:
    rep, responder = reporter(0.0, 8)
    async with responder:
        assert await ask(responder.port) == b"up ready 100% maxconn:8\n"
        rep.drain()
        assert await ask(responder.port) == b"up drain 100% maxconn:8\n"
        assert await ask(responder.port) == b"up drain 100% maxconn:8\n"


async def test_connection_cap_closes_without_reply() -> None:
    rep = LoadReporter(warmup=0.0)
    async with AgentCheckResponder(lambda: rep.report(0, 8), max_connections=1, read_deadline=1.0) as r:
        r1, w1 = await asyncio.open_connection("127.0.0.1", r.port)
        assert await asyncio.wait_for(r1.readline(), 2)  # first connection held open by its read
        assert await ask(r.port) == b""
        assert r.refused == 1
        w1.close()


async def test_loop_lag_probe_sees_a_blocked_loop() -> None:
    probe = LoopLagProbe(interval=0.01)
    probe.start()
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.08)  # noqa: ASYNC251 - blocks the loop on purpose
        await asyncio.sleep(0.03)
        stats = probe.statistics()
        assert stats.running
        assert stats.samples >= 3
        assert stats.max_recent >= 0.05
    finally:
        probe.stop()
    assert not probe.statistics().running


def test_loop_lag_probe_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match="interval"):
        LoopLagProbe(interval=0)


async def test_sigterm_drains_then_forwards_after_grace() -> None:
    seen: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: seen.append("server"))
    try:
        drain = DrainOnSignal(grace=1.0, on_drain=lambda: seen.append("drain"))
        drain.install()
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert seen == ["drain"]
        assert drain.draining
        await until(lambda: len(seen) == 2)
        assert seen == ["drain", "server"]
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGUSR2])
async def test_a_second_signal_stops_at_once(second: int, caplog: pytest.LogCaptureFixture) -> None:
    """A second SIGTERM, or the stop signal itself (SIGINT by default; SIGUSR2 here, so pytest is
    not interrupted): forward now, then send the stop signal the servers take as "exit now"."""
    seen: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: seen.append("server"))
    previous_stop = signal.signal(signal.SIGUSR2, lambda *_: seen.append("stop"))
    try:
        drain = DrainOnSignal(grace=30, on_drain=lambda: seen.append("drain"), stop_signal=signal.SIGUSR2)
        assert drain.deadline == 30  # never before the grace period ends
        with caplog.at_level("WARNING", logger="healthgauge.overload"):
            drain.install()
            signal.raise_signal(signal.SIGTERM)
            await asyncio.sleep(0.02)
            signal.raise_signal(second)
            await until(lambda: len(seen) == 3)
        assert seen == ["drain", "server", "stop"]
        assert "draining for 30.0 s" in caplog.text
        assert "while draining: stopping now" in caplog.text
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGUSR2, previous_stop)


async def test_drain_deadline_stops_at_once(caplog: pytest.LogCaptureFixture) -> None:
    """Work still in flight at the deadline (25 s by default: Kubernetes grants 30 s): stop now, logged."""
    seen: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: seen.append("server"))
    previous_stop = signal.signal(signal.SIGUSR2, lambda *_: seen.append("stop"))
    try:
        assert DrainOnSignal(grace=5, on_drain=lambda: None).deadline == 25
        drain = DrainOnSignal(
            grace=0.05, deadline=0.2, on_drain=lambda: seen.append("drain"), stop_signal=signal.SIGUSR2
        )
        with caplog.at_level("WARNING", logger="healthgauge.overload"):
            drain.install()
            signal.raise_signal(signal.SIGTERM)
            await until(lambda: len(seen) == 2)
            assert seen == ["drain", "server"]  # the grace period ended: the server's own shutdown runs
            await until(lambda: len(seen) == 3)
        assert seen == ["drain", "server", "stop"]
        assert "drain deadline of 0.2 s reached" in caplog.text
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGUSR2, previous_stop)


async def test_hands_a_loop_signal_handler_on_through_the_servers_shutdown() -> None:
    """aiohttp's run_app (and the broker) register SIGTERM on the loop, where no public API can
    read it back: after the grace period the drain calls the server's own shutdown instead."""
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    loop.add_signal_handler(signal.SIGTERM, seen.append, "server")
    try:
        drain = DrainOnSignal(
            grace=0.05, on_drain=lambda: seen.append("drain"), on_shutdown=lambda: seen.append("shutdown")
        )
        drain.install()
        signal.raise_signal(signal.SIGTERM)
        await until(lambda: len(seen) == 2)
        assert seen == ["drain", "shutdown"]
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


LOOP_SERVICE = """
import asyncio, os, signal, sys
from healthgauge.overload import DrainOnSignal

async def main() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    shutdown = stop.set if sys.argv[2] == "shutdown" else None
    DrainOnSignal(grace=0.2, on_drain=lambda: print("drain", flush=True), on_shutdown=shutdown).install()
    print("READY", flush=True)
    await asyncio.wait_for(stop.wait(), 20)
    print("stopped by the service's own shutdown", flush=True)

if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.run(main())
else:
    asyncio.run(main())
"""


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("mode", ["shutdown", "default"])
def test_a_service_whose_loop_holds_sigterm_exits_after_the_drain(loop: str, mode: str) -> None:
    """Under uvloop the drain used to read asyncio's private table, found nothing, put back the
    loop's dispatcher with no handler behind it, and the process never exited. Now it exits:
    through ``on_shutdown`` when given, else by SIGTERM's default action."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", LOOP_SERVICE, loop, mode], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        assert time.monotonic() - started < 8
        out = proc.stdout.read()
        assert "drain" in out
        if mode == "shutdown":
            assert code == 0
            assert "stopped by the service's own shutdown" in out
        else:
            assert code == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_uninstall_restores_without_forwarding() -> None:
    seen: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: seen.append("server"))
    try:
        drain = DrainOnSignal(grace=1, on_drain=lambda: seen.append("drain"))
        drain.install()
        drain.uninstall()
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.02)
        assert seen == ["server"]
    finally:
        signal.signal(signal.SIGTERM, previous)

"""The agent-check TCP listener on loopback: names, defaults, deadlines, concurrency, faults."""

import asyncio
import time

import pytest

from healthgauge.agent._config import Address, ConfigError, parse_config
from healthgauge.agent.servers._haproxy import AgentCheckServer, serve
from healthgauge.agent.servers._listeners import resolve
from healthgauge.agent.state._hub import StateHub
from healthgauge.health import TargetSpec
from healthgauge.health._state import Admin, Policy, Verdict
from support.fake_engine import FakeEngine

GOOD = Verdict(at=1.0, live=True, ready=True, weight=100, reason="ok")
HALF = Verdict(at=2.0, live=True, ready=True, weight=50, maxconn=40, reason="busy")
BAD = Verdict(at=3.0, live=True, ready=False, reason="no progress for 312s")


def hub(*names: str, limits_maxconn: tuple[str, ...] = ()) -> StateHub:
    policy = Policy(rise=1, fall=1)
    h = StateHub({name: TargetSpec(name=name, policy=policy, limits_maxconn=name in limits_maxconn) for name in names})
    for name in names:
        h.observe(name, GOOD)
    return h


async def started(h: StateHub, **kwargs: object) -> tuple[AgentCheckServer, int]:
    server = AgentCheckServer(h, **kwargs)  # type: ignore[arg-type]
    await server.start(Address(host="127.0.0.1", port=0))
    return server, int(server.addresses[0].rsplit(":", 1)[1])


async def ask(port: int, send: bytes | None, *, wait: float = 2.0) -> bytes:
    """One agent check as HAProxy makes it: connect, maybe write, read to the close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if send is not None:
            writer.write(send)
            await writer.drain()
        return await asyncio.wait_for(reader.read(4096), wait)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_answers_the_named_target_from_the_hub() -> None:
    h = hub("a", "b", limits_maxconn=("b",))
    server, port = await started(h)
    try:
        assert await ask(port, b"a\n") == b"up ready 100%\n"
        assert await ask(port, b"b\n") == b"up ready 100% maxconn:0\n"
        h.observe("b", HALF)
        assert await ask(port, b"b\r\n") == b"up ready 50% maxconn:40\n"
        h.set_admin("a", Admin.DRAIN)
        assert await ask(port, b"a\n") == b"up drain 100%\n"
        h.observe("a", BAD)
        assert await ask(port, b"a\n") == b"down drain 100% #no progress for 312s\n"
        stats = server.statistics()
        assert (stats.connections, stats.replies, stats.unknown, stats.active) == (5, 5, 0, 0)
    finally:
        await server.close()


async def test_silence_gets_the_default_target_after_the_short_deadline() -> None:
    h = hub("a", "b")
    server, port = await started(h, default="b", read_deadline=0.05)
    h.observe("b", HALF)
    try:
        start = time.monotonic()
        assert await ask(port, None) == b"up ready 50% maxconn:40\n"
        assert time.monotonic() - start < 1.0
        # A name without its newline is still a name, once the deadline has passed.
        assert await ask(port, b"a") == b"up ready 100%\n"
        assert server.statistics().nothing == 1
    finally:
        await server.close()


async def test_one_target_is_the_default_and_many_without_one_fail_closed() -> None:
    only, port1 = await started(hub("solo"), read_deadline=0.02)
    many, port2 = await started(hub("a", "b"), read_deadline=0.02)
    try:
        assert await ask(port1, None) == b"up ready 100%\n"
        assert await ask(port2, None) == b"down #agent-send named no target and no haproxy_default is configured\n"
        assert await ask(port2, b"be_app/s9\n") == b"down #healthgauge has no target named 'be_app/s9'\n"
        assert many.statistics().unknown == 2
    finally:
        await only.close()
        await many.close()


async def test_concurrent_connections_are_served_at_once() -> None:
    h = hub("a", "b")
    server, port = await started(h, read_deadline=3.0)
    try:
        start = time.monotonic()
        # 40 silent peers hold their connections for the whole deadline; 40 named ones must not wait.
        silent = [asyncio.create_task(ask(port, None, wait=8)) for _ in range(40)]
        named = await asyncio.wait_for(asyncio.gather(*(ask(port, b"a\n") for _ in range(40))), 5)
        named_time = time.monotonic() - start
        answers = await asyncio.wait_for(asyncio.gather(*silent), 10)
        assert set(named) == {b"up ready 100%\n"}
        assert set(answers) == {b"down #agent-send named no target and no haproxy_default is configured\n"}
        assert named_time < 2.0  # the silent peers hold theirs for the whole 3 s
    finally:
        await server.close()


async def test_past_the_connection_cap_peers_are_answered_without_waiting() -> None:
    server, port = await started(hub("solo"), read_deadline=5.0, max_connections=2)
    try:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await asyncio.sleep(0.05)
        start = time.monotonic()
        assert await ask(port, None) == b"up ready 100%\n"
        assert time.monotonic() - start < 2.5  # not the (5 s) read deadline
        assert server.statistics().overflow == 1
        for _, writer in held:
            writer.close()
            await writer.wait_closed()
    finally:
        await server.close()


async def test_peers_that_leave_early_or_send_garbage_do_not_hurt_the_next() -> None:
    server, port = await started(hub("a"), read_deadline=0.05)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.abort()  # a reset before anything was read
        reply = await ask(port, b"\xff\xfe\x00garbage" * 100)
        assert reply.startswith(b"down #healthgauge has no target named '??")
        assert reply.endswith(b"...\n")
        assert reply.count(b"\n") == 1
        assert await ask(port, b"a\n") == b"up ready 100%\n"
    finally:
        await server.close()


async def test_an_internal_fault_still_answers_down() -> None:
    class Broken(StateHub):
        def get(self, name: str) -> None:
            raise RuntimeError("boom\nsecond line")

    server, port = await started(Broken({"a": Policy()}), read_deadline=0.05)
    try:
        assert await ask(port, b"a\n") == b"down #healthgauge internal error: RuntimeError('boom\\nsecond line')\n"
        assert server.statistics().errors == 1
    finally:
        await server.close()


CONFIG = """
[agent]
listen = "127.0.0.1:0"
haproxy_listen = "127.0.0.1:0"
{default}
[[targets]]
urls = {{ a = "http://127.0.0.1:1/metrics", b = "http://127.0.0.1:2/metrics" }}
ready = ["up == 1"]
maxconn = "conns"
"""


async def test_the_agent_starts_it_from_haproxy_listen() -> None:
    config = parse_config(CONFIG.format(default='haproxy_default = "b"'), FakeEngine())
    assert config.agent.haproxy_default == "b"
    start = resolve("haproxy_listen")
    assert start is serve
    h = StateHub(config.specs())  # as the agent builds it: the specs come from the configuration
    for name in h.names:
        for _ in range(3):  # the configured rise
            h.observe(name, GOOD)
    listener = await start(config.agent.listeners["haproxy_listen"], h, config)
    try:
        port = int(listener.addresses[0].rsplit(":", 1)[1])
        # Both targets have a maxconn rule, so every reply names a limit.
        assert await ask(port, None) == b"up ready 100% maxconn:0\n"
    finally:
        await listener.close()


@pytest.mark.parametrize(
    ("default", "error"),
    [
        ('haproxy_default = "c"', 'agent.haproxy_default: "c" names no target'),
        ('haproxy_default = "a b"', "agent.haproxy_default: a target name is"),
        ("haproxy_default = 3", "agent.haproxy_default: a target name is"),
    ],
)
def test_haproxy_default_must_name_a_target(default: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        parse_config(CONFIG.format(default=default), FakeEngine())

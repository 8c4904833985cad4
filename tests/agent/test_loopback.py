"""The agent on loopback: scraping real HTTP targets, endpoints, admin, faults and drain."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import struct
import time
from collections.abc import Awaitable, Callable

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from healthgauge.agent._run import Agent
from healthgauge.health._state import Admin, Level, Overloaded

from .conftest import Target, eventually, get

MakeTarget = Callable[[], Awaitable[Target]]
RunAgent = Callable[..., Awaitable[Agent]]


def level(agent: Agent, name: str) -> Level:
    state = agent.hub.get(name)
    assert state is not None
    return state.level


async def test_a_good_target_becomes_ready_and_every_endpoint_says_so(targets: MakeTarget, run_agent: RunAgent) -> None:
    t = await targets()
    t.page = b"app_state 1\nqueue_depth 3\nweight_hint 100\n"
    agent = await run_agent({"w": t.url})
    assert (await get(agent, "/readyz/w"))[0] == 503  # not ready before the first check
    await eventually(lambda: level(agent, "w") is Level.HEALTHY, what="healthy")
    assert (await get(agent, "/readyz/w"))[::2] == (200, "ok")
    assert (await get(agent, "/livez"))[::2] == (200, "ok")
    assert (await get(agent, "/readyz?verbose"))[::2] == (200, "[+]w ok\nreadyz check passed\n")
    code, headers, body = await get(agent, "/health/w")
    assert (code, headers["Content-Type"], json.loads(body)["status"]) == (200, "application/health+json", "pass")
    assert (await get(agent, "/health/nope"))[0] == 404
    assert (await get(agent, "/readyz/nope"))[0] == 404
    assert (await get(agent, "/readyz/w/x"))[0] == 404
    assert (await get(agent, "/nothing"))[0] == 404
    assert (await get(agent, "/readyz/w?verbose"))[2] == "[+]w ok\nreadyz check passed\n"
    async with aiohttp.ClientSession() as session, session.post(f"http://{agent.addresses['http']}/readyz") as resp:
        assert (resp.status, resp.headers["Allow"]) == (405, "GET, HEAD")


async def test_degraded_then_not_ready_then_back(targets: MakeTarget, run_agent: RunAgent) -> None:
    t = await targets()
    t.page = b"app_state 1\nqueue_depth 300\nweight_hint 40\n"
    agent = await run_agent({"w": t.url})
    await eventually(lambda: level(agent, "w") is Level.DEGRADED, what="degraded")
    code, headers, body = await get(agent, "/health/w")
    assert (code, "x-envoy-degraded" in {k.lower() for k in headers}) == (200, True)
    assert json.loads(body)["checks"]["w:weight"][0]["observedValue"] == 40
    assert (await get(agent, "/health/w?consul"))[0] == 429
    t.page = b"app_state 0\nqueue_depth 3\nweight_hint 100\n"
    await eventually(lambda: level(agent, "w") is Level.UNHEALTHY, what="unhealthy")
    code, _, body = await get(agent, "/readyz/w")
    assert (code, body) == (503, "[-]w failed: app_state == 1: got 0\nreadyz check failed\n")
    assert (await get(agent, "/livez/w"))[0] == 200  # not ready is not dead
    t.page = b"app_state 1\nqueue_depth 3\nweight_hint 100\n"
    await eventually(lambda: level(agent, "w") is Level.HEALTHY, what="healthy again")


async def test_a_hung_target_delays_neither_other_targets_nor_endpoints(
    targets: MakeTarget, run_agent: RunAgent
) -> None:
    hung, good = await targets(), await targets()
    good.page = hung.page = b"app_state 1\nweight_hint 100\n"
    # A long deadline: if a hung scrape blocked anything, it would block it for most of a second.
    agent = await run_agent({"hung": hung.url, "good": good.url}, interval="2s", timeout="1900ms")
    await eventually(lambda: level(agent, "hung") is Level.HEALTHY and level(agent, "good") is Level.HEALTHY)
    hung.mode = "hang"
    checks = agent.hub.get("good").checks  # type: ignore[union-attr]
    worst = 0.0
    for _ in range(100):  # 5 s or more: every scrape of "hung" hangs to its deadline meanwhile
        started = time.monotonic()
        assert (await get(agent, "/readyz/good"))[0] == 200
        worst = max(worst, time.monotonic() - started)
        await asyncio.sleep(0.05)
    state = agent.hub.get("hung")
    assert state is not None
    assert (state.ready, state.error) == (False, "no complete answer within the 1.9s timeout")
    # Meanwhile the good target was scraped on schedule and every endpoint answered at once.
    assert worst < 1.0  # a wait behind the hung scrape would be 1.9 s
    assert agent.hub.get("good").checks >= checks + 2  # type: ignore[union-attr]
    assert level(agent, "good") is Level.HEALTHY


async def test_a_target_that_restarts(targets: MakeTarget, run_agent: RunAgent) -> None:
    t = await targets()
    t.page = b"app_state 1\nweight_hint 100\n"
    agent = await run_agent({"w": t.url})
    await eventually(lambda: level(agent, "w") is Level.HEALTHY)
    port = t.port
    await t.stop()
    await eventually(lambda: level(agent, "w") is Level.DEAD, what="dead after live_fall failed scrapes")
    state = agent.hub.get("w")
    assert state is not None
    assert state.error == f"connection refused connecting to 127.0.0.1:{port}"
    assert (await get(agent, "/livez/w"))[0] == 503
    await t.start(port)
    await eventually(lambda: level(agent, "w") is Level.HEALTHY, what="back after the restart")


async def test_status_size_and_gzip(targets: MakeTarget, run_agent: RunAgent) -> None:
    t500, huge, zipped = await targets(), await targets(), await targets()
    t500.mode, huge.mode, zipped.mode = "500", "huge", "gzip"
    zipped.page = b"app_state 1\nweight_hint 100\n"
    agent = await run_agent({"a": t500.url, "b": huge.url, "c": zipped.url}, extra='body_limit = "512KiB"')
    await eventually(lambda: all(s.checks >= 2 for s in agent.hub.states()), what="two checks each")
    a, b, c = agent.hub.states()
    assert a.error == "HTTP 500 Internal Server Error"
    assert b.error == "body over the 524288-byte cap"
    assert (c.error, c.level) == ("", Level.HEALTHY)


async def test_an_unparseable_page_fails_with_the_parser_message(targets: MakeTarget, run_agent: RunAgent) -> None:
    t = await targets()
    t.page = b"app_state 1\nthis is not a sample\n"
    agent = await run_agent({"w": t.url})
    await eventually(lambda: bool(agent.hub.get("w").error))  # type: ignore[union-attr]
    assert agent.hub.get("w").error == "line 2: expected 'name value', got 'this is not a sample'"  # type: ignore[union-attr]


async def test_admin_listener_drain_maint_ready(targets: MakeTarget, run_agent: RunAgent) -> None:
    t = await targets()
    t.page = b"app_state 1\nweight_hint 100\n"
    agent = await run_agent({"w": t.url})
    await eventually(lambda: level(agent, "w") is Level.HEALTHY)
    admin = f"http://{agent.addresses['admin']}"
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{admin}/v1/targets/w/drain") as resp:
            assert resp.status == 200
            assert (await resp.json())["level"] == "draining"
        code, headers, _ = await get(agent, "/health/w")
        assert (code, "x-envoy-immediate-health-check-fail" in {k.lower() for k in headers}) == (503, True)
        assert (await get(agent, "/readyz/w"))[2].startswith("[-]w failed: admin state drain")
        async with session.post(f"{admin}/v1/targets/w/maint") as resp:
            assert (await resp.json())["admin"] == "maint"
        async with session.post(f"{admin}/v1/targets/w/ready") as resp:
            assert (await resp.json())["level"] == "healthy"
        async with session.post(f"{admin}/v1/targets/w/sleep") as resp:
            assert resp.status == 400
        async with session.post(f"{admin}/v1/targets/nope/drain") as resp:
            assert resp.status == 404
        async with session.get(f"{admin}/v1/targets") as resp:
            assert [s["name"] for s in await resp.json()] == ["w"]
    assert agent.hub.get("w").admin is Admin.READY  # type: ignore[union-attr]


async def test_shutdown_drain_keeps_answering(targets: MakeTarget, run_agent: RunAgent) -> None:
    t = await targets()
    t.page = b"app_state 1\nweight_hint 100\n"
    agent = await run_agent({"w": t.url})
    await eventually(lambda: level(agent, "w") is Level.HEALTHY)
    drain = asyncio.create_task(agent.drain(0.3))
    await asyncio.sleep(0.05)
    code, _, body = await get(agent, "/readyz/w")
    assert (code, body) == (503, "[-]w failed: shutting down\nreadyz check failed\n")
    assert (await get(agent, "/livez/w"))[0] == 200
    await drain


async def test_own_metrics(targets: MakeTarget, run_agent: RunAgent) -> None:
    t = await targets()
    t.page = b"app_state 1\nqueue_depth 3\nweight_hint 60\n"
    agent = await run_agent({"w": t.url}, extra='maxconn = "40"')
    await eventually(lambda: level(agent, "w") is Level.DEGRADED)
    code, headers, body = await get(agent, "/metrics")
    assert code == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    w = (("target", "w"),)
    assert samples[("healthgauge_target_weight", w)] == 60
    assert samples[("healthgauge_target_maxconn", w)] == 40
    assert samples[("healthgauge_target_ready", w)] == 1
    assert samples[("healthgauge_target_up", w)] == 1
    assert samples[("healthgauge_target_level", (("level", "degraded"), ("target", "w")))] == 1
    assert samples[("healthgauge_scrapes_total", (("result", "ok"), ("target", "w")))] >= 1
    assert samples[("healthgauge_target_condition", (("expr", "app_state == 1"), ("role", "ready"), ("target", "w")))]
    assert samples[("healthgauge_scrape_duration_seconds_count", ())] >= 1


async def test_only_the_names_the_rules_read_are_parsed(targets: MakeTarget, run_agent: RunAgent) -> None:
    t = await targets()
    agent = await run_agent({"w": t.url})
    await eventually(lambda: agent.hub.get("w").checks >= 1)  # type: ignore[union-attr]
    assert agent.engine.parsed[0] == frozenset({"app_state", "queue_depth", "weight_hint"})  # type: ignore[attr-defined]


def _request(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    sock.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
    return sock


async def test_client_resets_and_idle_keepalive_connections_do_not_disturb(
    targets: MakeTarget, run_agent: RunAgent
) -> None:
    t = await targets()
    agent = await run_agent({"w": t.url})
    port = int(agent.addresses["http"].rpartition(":")[2])

    def reset_after_reply() -> bytes:
        sock = _request(port)
        reply = sock.recv(4096)
        # SO_LINGER 0: close with a TCP RST, as HAProxy closes its checks (consumers.md §3.6).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        return reply

    for _ in range(5):
        assert (await asyncio.to_thread(reset_after_reply)).startswith(b"HTTP/1.1 200")
    # An idle keep-alive connection (Envoy's health-check connection) blocks no one.
    idle = await asyncio.to_thread(_request, port)
    try:
        for _ in range(5):
            assert (await get(agent, "/livez"))[0] == 200
    finally:
        idle.close()


async def test_a_big_page_is_parsed_off_the_loop(targets: MakeTarget, run_agent: RunAgent) -> None:
    t = await targets()
    t.page = b"app_state 1\nweight_hint 100\n" + b"# padding line\n" * 50_000  # 750 KB
    agent = await run_agent({"w": t.url}, extra='body_limit = "1MiB"')
    await eventually(lambda: level(agent, "w") is Level.HEALTHY, what="healthy from a big page")
    (loop,) = agent.loops.values()
    assert loop.stats.offloaded >= 1
    assert loop.stats.bytes >= 750_000


async def test_the_overloaded_policy_on_every_endpoint(targets: MakeTarget, run_agent: RunAgent) -> None:
    """Two targets at weight 0: "warn" (the default) still serves, "fail" does not (consumers.md §10)."""
    t = await targets()
    t.page = b"app_state 1\nqueue_depth 3\nweight_hint 0\n"
    agent = await run_agent({"w": t.url}, agent="")
    config = agent.config
    fail = Agent(
        dataclasses.replace(
            config,
            targets=(
                dataclasses.replace(
                    config.targets[0],
                    name="f",
                    policy=dataclasses.replace(config.targets[0].policy, overloaded=Overloaded.FAIL),
                ),
            ),
        ),
        agent.engine,
    )
    await fail.start()
    try:
        await eventually(lambda: level(agent, "w") is Level.OVERLOADED and level(fail, "f") is Level.OVERLOADED)
        assert [
            (await get(agent, p))[0] for p in ("/readyz/w", "/readyz", "/health/w", "/health/w?consul", "/livez/w")
        ] == [200, 200, 200, 429, 200]
        assert [
            (await get(fail, p))[0] for p in ("/readyz/f", "/readyz", "/health/f", "/health/f?consul", "/livez/f")
        ] == [503, 503, 503, 503, 200]
        assert (await get(fail, "/readyz/f"))[2].startswith("[-]f failed: overloaded: ")
        for running, name, serving in ((agent, "w", 1), (fail, "f", 0)):
            body = (await get(running, "/metrics"))[2]
            assert f'healthgauge_target_serving{{target="{name}"}} {serving}.0' in body
    finally:
        await fail.stop()

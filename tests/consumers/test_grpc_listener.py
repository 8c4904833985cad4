"""The gRPC health service on 127.0.0.1:0 with a real grpcio client: Check, Watch, List, shutdown.

Every call carries a deadline; Watch streams are read with a bounded wait per message.
"""

import asyncio
from collections.abc import AsyncIterator

import pytest

grpc = pytest.importorskip("grpc")
health_pb2 = pytest.importorskip("grpc_health.v1.health_pb2")
health_pb2_grpc = pytest.importorskip("grpc_health.v1.health_pb2_grpc")

from healthgauge.agent._config import Address, parse_config  # noqa: E402
from healthgauge.agent.servers._grpc import GrpcHealthListener, serve, start  # noqa: E402
from healthgauge.agent.servers._listeners import resolve  # noqa: E402
from healthgauge.agent.state._hub import StateHub  # noqa: E402
from healthgauge.health._state import Admin, Overloaded, Policy, Verdict  # noqa: E402
from support.fake_engine import FakeEngine  # noqa: E402

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN

GOOD = Verdict(at=1.0, live=True, ready=True, reason="ok")
NOT_READY = Verdict(at=2.0, live=True, ready=False, reason="queue stuck")
DEAD = Verdict(at=3.0, live=False, ready=False, reason="no progress")

DEADLINE = 2.0


def make_hub(*names: str) -> StateHub:
    hub = StateHub({name: Policy(rise=1, fall=1, live_fall=1) for name in names})
    for name in names:
        hub.observe(name, GOOD)
    return hub


@pytest.fixture
async def served() -> AsyncIterator[tuple[StateHub, GrpcHealthListener, object]]:
    hub = make_hub("web", "db")
    listener = await start(Address(host="127.0.0.1", port=0), hub)
    channel = grpc.aio.insecure_channel(listener.addresses[0])
    try:
        yield hub, listener, health_pb2_grpc.HealthStub(channel)
    finally:
        await channel.close()
        await listener.close()


async def check(stub: object, name: str) -> int:
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=DEADLINE)  # type: ignore[attr-defined]
    return int(reply.status)


async def next_status(stream: object) -> int:
    reply = await asyncio.wait_for(stream.read(), DEADLINE)  # type: ignore[attr-defined]
    assert reply is not grpc.aio.EOF, "the Watch stream ended"
    return int(reply.status)


async def test_check_every_name_as_the_target_moves(served: tuple[StateHub, GrpcHealthListener, object]) -> None:
    hub, _, stub = served
    names = ("", "readiness", "liveness", "web", "web.live", "db", "db.live")
    assert [await check(stub, n) for n in names] == [SERVING] * 7
    hub.observe("web", NOT_READY)
    assert [await check(stub, n) for n in names] == [NOT_SERVING, NOT_SERVING, SERVING, NOT_SERVING] + [SERVING] * 3
    hub.observe("web", DEAD)
    assert [await check(stub, n) for n in names] == [NOT_SERVING] * 5 + [SERVING] * 2
    hub.observe("web", GOOD)
    hub.set_admin("db", Admin.DRAIN)
    assert [await check(stub, n) for n in names] == [NOT_SERVING, NOT_SERVING] + [SERVING] * 3 + [NOT_SERVING, SERVING]


async def test_check_unknown_name_is_not_found(served: tuple[StateHub, GrpcHealthListener, object]) -> None:
    _, listener, stub = served
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await check(stub, "nope")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nope" in (err.value.details() or "")
    assert listener.service.statistics().not_found == 1


async def test_a_fresh_agent_knows_every_name_before_the_first_check() -> None:
    hub = StateHub({"web": Policy()})
    listener = await start(Address(host="127.0.0.1", port=0), hub)
    try:
        async with grpc.aio.insecure_channel(listener.addresses[0]) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            # Not checked yet: live (no restarts on agent start), not ready (no traffic unseen).
            assert [await check(stub, n) for n in ("", "web", "web.live", "liveness")] == [
                NOT_SERVING,
                NOT_SERVING,
                SERVING,
                SERVING,
            ]
    finally:
        await listener.close()


async def test_list_returns_every_name(served: tuple[StateHub, GrpcHealthListener, object]) -> None:
    hub, _, stub = served
    hub.observe("db", NOT_READY)
    reply = await stub.List(health_pb2.HealthListRequest(), timeout=DEADLINE)  # type: ignore[attr-defined]
    got = {name: r.status for name, r in reply.statuses.items()}
    assert got == {
        "": NOT_SERVING,
        "readiness": NOT_SERVING,
        "liveness": SERVING,
        "web": SERVING,
        "web.live": SERVING,
        "db": NOT_SERVING,
        "db.live": SERVING,
    }


async def test_list_refuses_more_than_a_hundred_names() -> None:
    hub = make_hub(*(f"t{i}" for i in range(49)))  # 3 + 2 x 49 = 101 names
    listener = await start(Address(host="127.0.0.1", port=0), hub)
    try:
        async with grpc.aio.insecure_channel(listener.addresses[0]) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.List(health_pb2.HealthListRequest(), timeout=DEADLINE)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert await check(stub, "t48.live") == SERVING
    finally:
        await listener.close()


async def test_watch_sends_now_then_each_change_only(served: tuple[StateHub, GrpcHealthListener, object]) -> None:
    hub, listener, stub = served
    stream = stub.Watch(health_pb2.HealthCheckRequest(service="web"), timeout=30)  # type: ignore[attr-defined]
    assert await next_status(stream) == SERVING
    hub.observe("web", GOOD)  # a new check, same status: no message
    hub.observe("web", NOT_READY)
    assert await next_status(stream) == NOT_SERVING
    hub.observe("db", NOT_READY)  # another target: no message on this name
    hub.observe("web", GOOD)
    assert await next_status(stream) == SERVING
    assert listener.service.statistics().watchers == 1
    stream.cancel()
    await asyncio.sleep(0.1)
    assert listener.service.statistics().watchers == 0


async def test_watch_unknown_name_stays_open(served: tuple[StateHub, GrpcHealthListener, object]) -> None:
    _, _, stub = served
    stream = stub.Watch(health_pb2.HealthCheckRequest(service="later"), timeout=30)  # type: ignore[attr-defined]
    assert await next_status(stream) == SERVICE_UNKNOWN
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(stream.read()), 0.3)
    assert not stream.done()
    stream.cancel()


async def test_graceful_shutdown_turns_every_name_not_serving() -> None:
    hub = make_hub("web")
    listener = await start(Address(host="127.0.0.1", port=0), hub)
    async with grpc.aio.insecure_channel(listener.addresses[0]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        watches = {n: stub.Watch(health_pb2.HealthCheckRequest(service=n), timeout=30) for n in ("", "web.live")}
        assert [await next_status(s) for s in watches.values()] == [SERVING, SERVING]
        closing = asyncio.create_task(listener.close())
        assert [await next_status(s) for s in watches.values()] == [NOT_SERVING, NOT_SERVING]
        await asyncio.wait_for(closing, 5)


async def test_the_agents_shutdown_drain_is_not_serving_everywhere(
    served: tuple[StateHub, GrpcHealthListener, object],
) -> None:
    hub, _, stub = served
    hub.shut_down()
    assert {await check(stub, n) for n in ("", "liveness", "web", "web.live")} == {NOT_SERVING}


async def test_kubelet_style_probe() -> None:
    """The kubelet calls Check(service) with a 1 s deadline and its User-Agent; only SERVING passes."""
    hub = make_hub("web")
    listener = await start(Address(host="127.0.0.1", port=0), hub)
    options = [("grpc.primary_user_agent", "kube-probe/1.30")]
    try:
        async with grpc.aio.insecure_channel(listener.addresses[0], options=options) as channel:
            stub = health_pb2_grpc.HealthStub(channel)

            async def probe(name: str) -> bool:
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=1.0)
                except grpc.aio.AioRpcError:
                    return False
                return bool(reply.status == SERVING)

            assert (await probe("web"), await probe("web.live"), await probe("typo")) == (True, True, False)
            hub.observe("web", NOT_READY)
            assert (await probe("web"), await probe("web.live")) == (False, True)
    finally:
        await listener.close()


CONFIG = """
[agent]
listen = "127.0.0.1:0"
grpc_listen = "127.0.0.1:0"
[[targets]]
name = "web"
url = "http://127.0.0.1:1/metrics"
ready = ["up == 1"]
"""


async def test_the_agent_starts_it_from_grpc_listen() -> None:
    config = parse_config(CONFIG, FakeEngine())
    assert resolve("grpc_listen") is serve
    listener = await serve(config.agent.listeners["grpc_listen"], make_hub("web"), config)
    try:
        async with grpc.aio.insecure_channel(listener.addresses[0]) as channel:
            assert await check(health_pb2_grpc.HealthStub(channel), "web") == SERVING
    finally:
        await listener.close()


async def test_colliding_target_names_refuse_to_start() -> None:
    with pytest.raises(ValueError, match="would mean two things"):
        await start(Address(host="127.0.0.1", port=0), make_hub("web", "web.live"))


@pytest.mark.parametrize(("policy", "want"), [(Overloaded.WARN, SERVING), (Overloaded.FAIL, NOT_SERVING)])
async def test_an_overloaded_target_follows_its_policy(policy: Overloaded, want: int) -> None:
    hub = StateHub({"web": Policy(rise=1, overloaded=policy)})
    hub.observe("web", Verdict(at=1.0, live=True, ready=True, weight=0, maxconn=2, reason="queue full"))
    listener = await start(Address(host="127.0.0.1", port=0), hub)
    try:
        async with grpc.aio.insecure_channel(listener.addresses[0]) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            assert [await check(stub, name) for name in ("web", "", "readiness", "web.live")] == [
                want,
                want,
                want,
                SERVING,
            ]
    finally:
        await listener.close()

"""The gRPC health v1 service (``grpc_listen`` under ``[agent]``; consumers.md §5).

``Check``, ``Watch`` and ``List`` of ``grpc.health.v1.Health``, answered from the state hub with
the names and statuses of :mod:`healthgauge.health._grpc`. Our own servicer rather than the stock
``grpc_health.v1.health.HealthServicer``: that one has no ``List`` and, after graceful shutdown,
ignores every later ``set()`` (§5.2), while ours reads the hub on each call.

grpcio is an optional extra (``healthgauge[grpc]``): this module is imported only when
``grpc_listen`` is configured (the listener registry imports it on demand).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

try:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("grpc_listen needs grpcio and grpcio-health-checking: pip install 'healthgauge[grpc]'") from exc

from healthgauge.agent._config import Address, Config
from healthgauge.agent.state._hub import StateHub
from healthgauge.health._grpc import SERVICE_UNKNOWN, all_statuses, service_names, serving_status

log = logging.getLogger("healthgauge.agent.grpc")

#: ``List`` answers RESOURCE_EXHAUSTED past this many names, as grpc-go's health server does
#: (``maxAllowedServices = 100``); the proto lets a server refuse "if too many services exist".
MAX_LIST = 100

#: Open ``Watch`` streams at once. Each costs a coroutine and a subscription; Kubernetes, Envoy
#: and Consul use Check, so watchers are a few clients, not a fleet. Past the cap a Watch fails at
#: once with RESOURCE_EXHAUSTED (and the client backs off, per the protocol) instead of growing
#: without bound.
MAX_WATCHERS = 1024

#: Calls in flight at once (Watch streams included: they count until they end, so this is above
#: MAX_WATCHERS), streams per connection, and how long an idle connection is kept (milliseconds;
#: the probe server's idle timeout, 75 s). A fleet of idle connections must not hold the agent's files.
MAX_CALLS = 2048
MAX_STREAMS = 100
IDLE_MS = 75_000

#: Seconds that in-flight calls get to finish when the listener closes; Watch streams are
#: told NOT_SERVING first, then cut.
STOP_GRACE = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class GrpcHealthStatistics:
    """Counters since start: calls by method, ``not_found`` Checks, ``watchers`` open now,
    ``refused`` Watch/List calls (over a cap)."""

    checks: int
    lists: int
    watches: int
    not_found: int
    refused: int
    watchers: int


class HealthService(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """grpc.health.v1.Health over a :class:`StateHub`."""

    def __init__(self, hub: StateHub, *, max_watchers: int = MAX_WATCHERS) -> None:
        service_names(hub.names)  # refuse colliding names before serving anything
        self._hub = hub
        self._max_watchers = max_watchers
        self._stopping = False
        self._wakers: set[asyncio.Event] = set()
        self._counts = dict.fromkeys(("checks", "lists", "watches", "not_found", "refused"), 0)

    def status(self, name: str) -> int | None:
        """The status of ``name`` now; ``None`` when no such name exists."""
        states = {s.name: s for s in self._hub.states()}
        return serving_status(name, states, stopping=self._stopping or self._hub.shutting_down)

    def stop(self) -> None:
        """Graceful shutdown: every name NOT_SERVING from now on, and every watcher told."""
        self._stopping = True
        for event in self._wakers:
            event.set()

    def statistics(self) -> GrpcHealthStatistics:
        return GrpcHealthStatistics(**self._counts, watchers=len(self._wakers))

    async def Check(self, request: Any, context: Any) -> Any:
        self._counts["checks"] += 1
        status = self.status(request.service)
        if status is None:
            self._counts["not_found"] += 1
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def List(self, request: Any, context: Any) -> Any:
        self._counts["lists"] += 1
        states = {s.name: s for s in self._hub.states()}
        statuses = all_statuses(states, stopping=self._stopping or self._hub.shutting_down)
        if len(statuses) > MAX_LIST:
            self._counts["refused"] += 1
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"{len(statuses)} services, more than {MAX_LIST}: use Check"
            )
        return health_pb2.HealthListResponse(
            statuses={name: health_pb2.HealthCheckResponse(status=s) for name, s in statuses.items()}
        )

    async def Watch(self, request: Any, context: Any) -> AsyncIterator[Any]:
        """The current status at once, then one message per change; an unknown name reads
        SERVICE_UNKNOWN and the stream stays open, as the protocol asks (§5.1)."""
        self._counts["watches"] += 1
        if len(self._wakers) >= self._max_watchers:
            self._counts["refused"] += 1
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"more than {self._max_watchers} watchers")
        changed = asyncio.Event()
        self._wakers.add(changed)
        unsubscribe = self._hub.subscribe(lambda _old, _new: changed.set())
        try:
            last = None
            while True:
                current = self.status(request.service)
                status = SERVICE_UNKNOWN if current is None else current
                if status != last:
                    yield health_pb2.HealthCheckResponse(status=status)
                    last = status
                await changed.wait()
                changed.clear()
        finally:
            unsubscribe()
            self._wakers.discard(changed)


class GrpcHealthListener:
    """A running grpc.aio server holding one :class:`HealthService`."""

    def __init__(self, server: Any, service: HealthService, addresses: list[str]) -> None:
        self._server = server
        self.service = service
        self._addresses = addresses

    @property
    def addresses(self) -> list[str]:
        return list(self._addresses)

    async def close(self) -> None:
        """Every name NOT_SERVING (watchers hear it), then stop with a short grace."""
        self.service.stop()
        await asyncio.sleep(0)  # let woken watchers write their NOT_SERVING
        await self._server.stop(STOP_GRACE)


async def start(address: Address, hub: StateHub) -> GrpcHealthListener:
    """Serve grpc.health.v1.Health for ``hub`` on ``address`` (port 0 picks a free port)."""
    service = HealthService(hub)
    # Bounded like the other listeners (issue #13): calls in flight past MAX_CALLS are refused
    # with RESOURCE_EXHAUSTED, and a connection idle for IDLE_MS is closed (grpc-core sends GOAWAY).
    server = grpc.aio.server(
        maximum_concurrent_rpcs=MAX_CALLS,
        options=[("grpc.max_connection_idle_ms", IDLE_MS), ("grpc.max_concurrent_streams", MAX_STREAMS)],
    )
    health_pb2_grpc.add_HealthServicer_to_server(service, server)
    host = f"[{address.host}]" if ":" in address.host else address.host
    port = server.add_insecure_port(f"{host}:{address.port}")
    if port == 0:
        raise OSError(f"grpc_listen: cannot bind {address}")
    await server.start()
    return GrpcHealthListener(server, service, [f"{host}:{port}"])


async def serve(address: Address, hub: StateHub, config: Config) -> GrpcHealthListener:
    """Start the listener for ``[agent] grpc_listen`` (the agent's listener registry calls this)."""
    listener = await start(address, hub)
    log.info("gRPC health on %s", ", ".join(listener.addresses))
    return listener

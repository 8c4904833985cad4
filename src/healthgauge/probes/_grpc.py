"""``kind = "grpc"``: a gRPC health v1 ``Check`` of a remote service (grpcio, the ``grpc`` extra).

Settings: ``address`` (``host:port``), ``service`` (the name asked about; "" is the whole
server), ``tls`` (false), ``ca_file``, ``server_name``. One channel per target, kept open.

Samples, with blackbox_exporter's names: ``probe_grpc_status_code`` (the call's gRPC status: 0 OK,
5 NOT_FOUND for an unknown service name, 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED) and
``probe_grpc_healthcheck_response{serving_status="..."}``, 1 for the status the server answered
and 0 for the others. The probe succeeds when the answer is ``SERVING``.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from typing import Any

from healthgauge.probes._base import ProbeError, Result, sample
from healthgauge.probes._spec import SpecError, Table

KEYS = ("address", "service", "tls", "ca_file", "server_name")
STATUSES = ("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")
# healthgauge is not on PyPI; its extras' packages are: install them into the running environment.
GRPC_INSTALL = f"{shlex.quote(sys.executable)} -m pip install grpcio grpcio-health-checking"


def make(table: Table, timeout: float) -> GrpcProbe:
    del timeout
    if importlib.util.find_spec("grpc") is None or importlib.util.find_spec("grpc_health") is None:
        raise SpecError(f"{table.where('kind')}: grpc needs grpcio (the grpc extra): {GRPC_INSTALL}")
    host, port = table.address()
    tls = table.flag("tls")
    root = None
    if "ca_file" in table.raw:
        if not tls:
            raise SpecError(f"{table.where('ca_file')}: only with tls = true")
        try:
            with open(table.path("ca_file"), "rb") as handle:
                root = handle.read()
        except OSError as exc:
            raise SpecError(f"{table.where('ca_file')}: cannot read: {exc.strerror}") from None
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    name = table.text("server_name", "") if tls else ""
    return GrpcProbe(target, table.text("service", ""), tls=tls, root=root, server_name=name)


class GrpcProbe:
    kind = "grpc"

    def __init__(self, target: str, service: str, *, tls: bool, root: bytes | None, server_name: str) -> None:
        self.target, self.service = target, service
        self.tls, self.root, self.server_name = tls, root, server_name
        self._channel: Any = None
        self._stub: Any = None

    def describe(self) -> str:
        return f"{self.target}/{self.service}"

    def _connect(self) -> Any:
        if self._stub is None:
            try:
                import grpc
                from grpc_health.v1 import health_pb2_grpc
            except ImportError:
                raise ProbeError(f"kind grpc needs grpcio (the grpc extra): {GRPC_INSTALL}") from None
            if self.tls:
                credentials = grpc.ssl_channel_credentials(root_certificates=self.root)
                options = [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []
                self._channel = grpc.aio.secure_channel(self.target, credentials, options=options)
            else:
                self._channel = grpc.aio.insecure_channel(self.target)
            self._stub = health_pb2_grpc.HealthStub(self._channel)
        return self._stub

    async def probe(self, budget: float) -> Result:
        import grpc
        from grpc_health.v1 import health_pb2

        stub = self._connect()
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=self.service), timeout=budget)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            return Result(False, _samples(code.value[0], None), f"gRPC {code.name}: {exc.details() or ''}".rstrip(": "))
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        samples = _samples(0, status)
        if status != "SERVING":
            return Result(False, samples, f"service {self.service!r} is {status}")
        return Result(True, samples)

    async def close(self) -> None:
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close()


def _samples(code: int, status: str | None) -> tuple[Any, ...]:
    out = [sample("probe_grpc_status_code", code)]
    out += [
        sample("probe_grpc_healthcheck_response", 1.0 if name == status else 0.0, {"serving_status": name})
        for name in STATUSES
    ]
    return tuple(out)

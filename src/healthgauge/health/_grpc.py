"""gRPC health v1 service names and statuses from target states (consumers.md §5 and §10).

The protocol is one bit per name (SERVING or NOT_SERVING), so a graded state is spread over names:

=================== ============================================= ==========================
name                SERVING when                                  like
=================== ============================================= ==========================
``""``              every target is ready and not draining        ``/readyz``
``"readiness"``     the same (the name Kubernetes suggests)       ``/readyz``
``"liveness"``      every target is live                          ``/livez``
``"<target>"``      that target is ready and not draining         ``/readyz/<target>``
``"<target>.live"`` that target is live                           ``/livez/<target>``
=================== ============================================= ==========================

Degraded and overloaded targets still serve (they are ready); draining, unhealthy and dead ones do
not; only dead ones fail ``.live``. Once the agent is shutting down every name is NOT_SERVING,
as the stock servicer's ``enter_graceful_shutdown`` does (§5.2).

Every name exists from the start (no NOT_FOUND while targets are still being checked, §5.4); the
numbers are ``grpc.health.v1.HealthCheckResponse.ServingStatus``. Pure: no grpc import here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from healthgauge.health._state import TargetState

UNKNOWN = 0
SERVING = 1
NOT_SERVING = 2
SERVICE_UNKNOWN = 3

LIVE_SUFFIX = ".live"
READINESS = "readiness"
LIVENESS = "liveness"


def service_names(targets: Sequence[str]) -> tuple[str, ...]:
    """Every name the service answers, aggregates first; ValueError when two would collide."""
    names = ["", READINESS, LIVENESS]
    for target in targets:
        names += [target, target + LIVE_SUFFIX]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(
                f"gRPC health name {name!r} would mean two things: rename the target "
                f"({READINESS!r}, {LIVENESS!r} and names ending {LIVE_SUFFIX!r} are taken by the gRPC listener)"
            )
        seen.add(name)
    return tuple(names)


def serving_status(name: str, states: Mapping[str, TargetState], *, stopping: bool = False) -> int | None:
    """The status of ``name``, or ``None`` when no such name exists (NOT_FOUND for Check)."""
    if name in ("", READINESS, LIVENESS):
        ok = all(s.live for s in states.values()) if name == LIVENESS else all(s.serving for s in states.values())
    elif name in states:
        ok = states[name].serving
    elif name.endswith(LIVE_SUFFIX) and name[: -len(LIVE_SUFFIX)] in states:
        ok = states[name[: -len(LIVE_SUFFIX)]].live
    else:
        return None
    return SERVING if ok and not stopping and not _any_shutting_down(states) else NOT_SERVING


def all_statuses(states: Mapping[str, TargetState], *, stopping: bool = False) -> dict[str, int]:
    """Every name's status, in `service_names` order (what ``List`` returns)."""
    out: dict[str, int] = {}
    for name in service_names(tuple(states)):
        status = serving_status(name, states, stopping=stopping)
        assert status is not None
        out[name] = status
    return out


def _any_shutting_down(states: Mapping[str, TargetState]) -> bool:
    return any(s.shutting_down for s in states.values())

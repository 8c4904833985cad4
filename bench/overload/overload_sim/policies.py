"""The policies of spec §11.5, each built from healthgauge's production objects.

A policy is an ``AdmissionController`` (limit, optional wait queue for permits, optional slough
detector) plus, for the anchors whose queue sits in front of the workers (folly CoDel, Fail at
Scale, the static queue), a ``WaitQueue`` used as the server's run queue. Policies without one use
a plain FIFO run queue, the stand-in for an event loop's ready queue.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from healthgauge.overload import (
    AdaptiveThrottle,
    AdmissionController,
    AIMDLimit,
    Clock,
    EnvoyGradientLimit,
    Expiry,
    FixedLimit,
    FollyCodel,
    Gradient2Limit,
    GradientLimit,
    QueueDelayLimit,
    QueueEntry,
    QueueOrder,
    VegasLimit,
    Waiter,
    WaitQueue,
    WindowedLimit,
)

UNLIMITED = math.inf


@dataclass(frozen=True, slots=True, kw_only=True)
class Built:
    controller: AdmissionController
    run_queue: WaitQueue[QueueEntry] | None
    throttle: AdaptiveThrottle | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    name: str
    title: str
    group: str
    """"baseline", "anchor" or "healthgauge"."""
    build_controller: Callable[[Clock, random.Random], AdmissionController]
    build_run_queue: Callable[[], WaitQueue[QueueEntry] | None] = lambda: None
    throttle: str | None = None
    """None, "k2_120s" (the prototype's SRE throttle) or "hg" (healthgauge's defaults)."""
    s4_only: bool = False

    def build(self, clock: Clock, policy_rng: random.Random, throttle_rng: random.Random) -> Built:
        return Built(
            controller=self.build_controller(clock, policy_rng),
            run_queue=self.build_run_queue(),
            throttle=build_throttle(self.throttle, clock, throttle_rng),
        )


def build_throttle(kind: str | None, clock: Clock, rng: random.Random) -> AdaptiveThrottle | None:
    # One throttle for the whole client population (spec §11.3), so a Retry-After would stop every
    # client: the simulation does not honour it (a real client holds only its own requests).
    if kind is None:
        return None
    if kind == "k2_120s":
        return AdaptiveThrottle(k=2, window=120, max_probability=1.0, honor_retry_after=False, clock=clock, rng=rng)
    if kind == "hg":
        return AdaptiveThrottle(honor_retry_after=False, clock=clock, rng=rng)
    raise ValueError(f"unknown throttle {kind!r}")


def _passthrough(clock: Clock, rng: random.Random, **kwargs: object) -> AdmissionController:
    return AdmissionController(FixedLimit(UNLIMITED), clock=clock, rng=rng, **kwargs)  # type: ignore[arg-type]


def _fixed(limit: float) -> Callable[[Clock, random.Random], AdmissionController]:
    def build(clock: Clock, rng: random.Random) -> AdmissionController:
        return AdmissionController(FixedLimit(limit), clock=clock, rng=rng)

    return build


def _folly(clock: Clock, rng: random.Random) -> AdmissionController:
    return _passthrough(clock, rng, detector=FollyCodel(clock=clock))


def _fifo_queue(capacity: int | None) -> Callable[[], WaitQueue[QueueEntry]]:
    def build() -> WaitQueue[QueueEntry]:
        return WaitQueue(capacity=capacity, capacity_ratio=None, order=QueueOrder.FIFO, expiry=Expiry.NONE)

    return build


def _fail_at_scale(expiry: Expiry) -> Callable[[], WaitQueue[QueueEntry]]:
    def build() -> WaitQueue[QueueEntry]:
        # Controlled delay M = 5 ms / N = 100 ms, adaptive LIFO, no cap: as the article describes.
        return WaitQueue(capacity=None, capacity_ratio=None, order=QueueOrder.ADAPTIVE_LIFO, expiry=expiry)

    return build


def _gradient2(clock: Clock, rng: random.Random) -> AdmissionController:
    return AdmissionController(WindowedLimit(Gradient2Limit()), clock=clock, rng=rng)


def _vegas(clock: Clock, rng: random.Random) -> AdmissionController:
    return AdmissionController(WindowedLimit(VegasLimit(rng=rng)), clock=clock, rng=rng)


def _gradient(clock: Clock, rng: random.Random) -> AdmissionController:
    return AdmissionController(WindowedLimit(GradientLimit(rng=rng)), clock=clock, rng=rng)


def _aimd(clock: Clock, rng: random.Random) -> AdmissionController:
    return AdmissionController(AIMDLimit(), clock=clock, rng=rng)


def _envoy(clock: Clock, rng: random.Random) -> AdmissionController:
    return AdmissionController(EnvoyGradientLimit(rng=rng), clock=clock, rng=rng)


def _queue_delay_plain(clock: Clock, rng: random.Random) -> AdmissionController:
    """Spec §2.4 as first specified: +1 per saturated interval, no contention guard, no queue."""
    return AdmissionController(QueueDelayLimit(growth=1.0), clock=clock, rng=rng)


def _default(clock: Clock, rng: random.Random) -> AdmissionController:
    """healthgauge 0.x's default policy (``QueueDelayLimit()``). The simulation is a design aid
    since issue #11: it models neither the event loop nor what a rejection costs, so it cannot
    drive ``LoopDelayLimit``, today's default; ``bench/overload/real.py`` holds the targets."""
    return AdmissionController(QueueDelayLimit(), clock=clock, rng=rng)


def _default_queued(clock: Clock, rng: random.Random) -> AdmissionController:
    queue: WaitQueue[Waiter] = WaitQueue()
    return AdmissionController(QueueDelayLimit(), queue=queue, clock=clock, rng=rng)


BASE_POLICIES: tuple[Policy, ...] = (
    Policy(name="no_protection", title="no protection", group="baseline", build_controller=_fixed(UNLIMITED)),
    Policy(
        name="static_queue_16",
        title="static queue 16",
        group="baseline",
        build_controller=_passthrough,
        build_run_queue=_fifo_queue(16),
    ),
    Policy(name="static_inflight_16", title="static in-flight 16", group="baseline", build_controller=_fixed(16)),
    Policy(name="static_inflight_256", title="static in-flight 256", group="baseline", build_controller=_fixed(256)),
    Policy(name="folly_codel", title="folly CoDel, no cap", group="anchor", build_controller=_folly),
    Policy(
        name="folly_codel_cap64",
        title="folly CoDel, queue cap 64",
        group="anchor",
        build_controller=_folly,
        build_run_queue=_fifo_queue(64),
    ),
    Policy(
        name="fail_at_scale_lifo",
        title="Fail at Scale + LIFO, no expiry",
        group="anchor",
        build_controller=_passthrough,
        build_run_queue=_fail_at_scale(Expiry.AT_DEQUEUE),
    ),
    Policy(
        name="fail_at_scale_lifo_expiry",
        title="Fail at Scale + LIFO + expiry",
        group="anchor",
        build_controller=_passthrough,
        build_run_queue=_fail_at_scale(Expiry.ACTIVE),
    ),
    Policy(name="aimd", title="Netflix AIMD", group="anchor", build_controller=_aimd),
    Policy(name="gradient", title="Gradient v1 (windowed)", group="anchor", build_controller=_gradient),
    Policy(name="gradient2", title="Gradient2 (windowed)", group="anchor", build_controller=_gradient2),
    Policy(name="vegas", title="Vegas (windowed)", group="anchor", build_controller=_vegas),
    Policy(name="envoy_gradient", title="Envoy gradient", group="anchor", build_controller=_envoy),
    Policy(
        name="queue_delay_aimd",
        title="queue-delay AIMD (§2.4 as first specified)",
        group="healthgauge",
        build_controller=_queue_delay_plain,
    ),
    Policy(
        name="default_queued",
        title="default + wait queue",
        group="healthgauge",
        build_controller=_default_queued,
    ),
    Policy(name="default", title="queue-delay AIMD (0.x default)", group="healthgauge", build_controller=_default),
)

S4_THROTTLE_POLICIES: tuple[Policy, ...] = tuple(
    Policy(
        name=f"{base.name}+throttle_{kind}",
        title=f"{base.title} + throttle {label}",
        group=base.group,
        build_controller=base.build_controller,
        build_run_queue=base.build_run_queue,
        throttle=kind,
        s4_only=True,
    )
    for base in BASE_POLICIES
    if base.name in ("no_protection", "static_inflight_16", "gradient2", "default")
    for kind, label in (("k2_120s", "K=2/120 s"), ("hg", "hg defaults"))
    if base.name != "default" or kind == "hg"
)

POLICIES: dict[str, Policy] = {p.name: p for p in BASE_POLICIES + S4_THROTTLE_POLICIES}


def static_sweep_policy(limit: int) -> Policy:
    return Policy(
        name=f"static_inflight_{limit}",
        title=f"static in-flight {limit}",
        group="baseline",
        build_controller=_fixed(limit),
    )


def policies_for(scenario: str) -> list[str]:
    return [p.name for p in POLICIES.values() if not p.s4_only or scenario == "S4"]

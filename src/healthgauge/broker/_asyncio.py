"""The broker's asyncio adapter: offers over the caller's own transport, futures for queued jobs,
an expiry tick while anything waits. Every decision is the pure :class:`Broker`'s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable

from healthgauge.broker._broker import Broker, Job, JobClass, JobState
from healthgauge.overload._types import Criticality

__all__ = ["AsyncBroker", "BrokerRejected"]

# Active expiry while jobs wait (spec §3 rule 3, HG: every 10 ms).
TICK = 0.01


class BrokerRejected(Exception):
    """Every offer was refused and the job could not wait: answer 503 with ``Retry-After`` (§7 rule 5)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"broker rejected the request: {reason}")
        self.reason = reason


class AsyncBroker:
    """``await submit(payload, deadline=...)`` returns the worker that took the job; ``deadline``
    is on ``clock`` (the caller's own propagated deadline, spec §6.2).

    ``offer(worker, payload)`` asks one worker and returns whether it accepted (a worker refuses
    from its own statistics). Workers that become free call :meth:`worker_free`, which hands them
    the next queued job (and wakes its submitter) or returns None.
    """

    def __init__(
        self,
        broker: Broker,
        offer: Callable[[Hashable, object], Awaitable[bool]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.broker = broker
        self.offer = offer
        self.clock = clock
        self._tick: asyncio.TimerHandle | None = None

    async def submit(
        self,
        payload: object,
        *,
        deadline: float,
        key: str | bytes | None = None,
        job_class: JobClass = JobClass.INTERACTIVE,
        criticality: Criticality = Criticality.CRITICAL,
    ) -> Hashable:
        job = Job(payload, deadline=deadline, job_class=job_class, key=key, criticality=criticality)
        for worker in self.broker.offers(job, self.clock()):
            if await self.offer(worker, payload):
                self.broker.accepted(job, worker)
                return worker
            self.broker.refused(job, worker, self.clock())
        waits, removed = self.broker.enqueue(job, self.clock())
        self._wake_all(removed)
        if not waits:
            raise BrokerRejected(job.why)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        job.waiter = future
        self._arm()
        try:
            await future
        except asyncio.CancelledError:
            if job.state is JobState.ASSIGNED:
                raise  # pulled in the same instant: the worker already has the payload
            self.broker.cancel(job, self.clock())
            raise
        finally:
            job.waiter = None
        if job.state is not JobState.ASSIGNED or job.worker is None:
            raise BrokerRejected(job.why or "expired")
        return job.worker

    def worker_free(self, worker: Hashable) -> object | None:
        """``worker`` can take one more job: the payload it should run, or None."""
        job, removed = self.broker.pull(worker, self.clock())
        self._wake_all(removed)
        if job is None:
            return None
        self._wake(job)
        return job.payload

    def _wake_all(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._wake(job)

    def _wake(self, job: Job) -> None:
        future = job.waiter
        if isinstance(future, asyncio.Future) and not future.done():
            future.set_result(None)

    def _arm(self) -> None:
        if self._tick is None and self.broker.queued():
            self._tick = asyncio.get_running_loop().call_later(TICK, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        self._wake_all(self.broker.expire(self.clock()))
        self._arm()

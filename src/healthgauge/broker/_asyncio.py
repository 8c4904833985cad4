"""The broker's asyncio adapter: offers over the caller's own transport, futures for queued jobs,
an expiry tick while anything waits. Every decision is the pure :class:`Broker`'s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable

from healthgauge.broker._broker import Broker, Job, JobClass, JobState

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
        priority: int = 0,
    ) -> Hashable:
        job = Job(payload, deadline=deadline, job_class=job_class, key=key, priority=priority)
        for worker in self.broker.offers(job, self.clock()):
            if await self.offer(worker, payload):
                self.broker.accepted(job, worker)
                return worker
            self.broker.refused(job, worker, self.clock())
        if not self.broker.enqueue(job, self.clock()):
            raise BrokerRejected(job.reason)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        job.waiter = future
        self._arm()
        try:
            await future
        except asyncio.CancelledError:
            self.broker.cancel(job)
            raise
        finally:
            job.waiter = None
        if job.state is not JobState.ASSIGNED or job.worker is None:
            raise BrokerRejected(job.reason or "expired")
        return job.worker

    def worker_free(self, worker: Hashable) -> object | None:
        """``worker`` can take one more job: the payload it should run, or None."""
        job = self.broker.pull(worker, self.clock())
        if job is None:
            return None
        self._wake(job)
        return job.payload

    def _wake(self, job: Job) -> None:
        future = job.waiter
        if isinstance(future, asyncio.Future) and not future.done():
            future.set_result(None)

    def _arm(self) -> None:
        if self._tick is None and self.broker.queued():
            self._tick = asyncio.get_running_loop().call_later(TICK, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        for job in self.broker.expire(self.clock()):
            self._wake(job)
        self._arm()

"""The broker service: the scheduling core (:class:`Broker`, :class:`Registry`) driven by the
connections of ``_proxy.py``. Every decision is the core's; this module moves requests between
the states the core names and keeps the counters the metrics read.

A request's way (spec §7): read its head (and its body, up to ``retry_body``) → classify (rules),
key (affinity), deadline (``Healthgauge-Timeout`` or ``timeout``) → offer it to up to
``max_offers`` workers in turn (a 503 is a refusal: the next one) → if all refuse, queue it by
class → a worker that frees up takes the next queued request. Every answer, a refusal or not,
updates what the broker knows of that worker (``Healthgauge-Load``). The deadline is enforced
wherever the request is; a client that goes away cancels it wherever it is.
"""

from __future__ import annotations

import asyncio
import logging

from healthgauge.broker._broker import CLASS_NAMES, Broker, Job, JobState
from healthgauge.broker._config import BrokerConfig
from healthgauge.broker._fields import (
    BROKER_FIELDS,
    STATUS_CLASSES,
    answer_framing,
    load_report,
    offer_fields,
    parse_criticality,
    parse_timeout,
)
from healthgauge.broker._observed import Counters, affinity_result
from healthgauge.broker._pool import IdlePool
from healthgauge.broker._proxy import (
    IDEMPOTENT,
    ClientConnection,
    Exchange,
    WorkerConnection,
    request_bytes,
    simple_response,
)
from healthgauge.broker._registry import Registry
from healthgauge.broker._wire import CHUNKED, CLOSE, LAST_CHUNK, Head, chunk, render_head

__all__ = ["BrokerService", "parse_timeout"]

log = logging.getLogger("healthgauge.broker")

# Active expiry while requests wait, and the retry of refusals whose backoff ran out. The spec's
# 10 ms (§3 rule 3) is for a server's own queue; here a request's deadline has its own timer, the
# tick only bounds queue waits of a second or more, and 25 ms costs a quarter of the wake-ups.
TICK = 0.025


class BrokerService:
    """One broker: listeners, the core, the worker pool. :meth:`start`, then :meth:`drain` and
    :meth:`close`; :meth:`reload` swaps the configuration and keeps the queues."""

    def __init__(self, config: BrokerConfig, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self.config = config
        now = self.loop.time()
        self.registry = Registry(
            report_interval=config.report_interval,
            max_offers=config.max_offers,
            refusal_backoff=config.refusal_backoff,
            full_hold=config.refusal_backoff,
        )
        self.core = Broker(
            self.registry, limits=config.queues, pull_order=config.pull_order, affinity_wait=config.affinity_wait
        )
        self.workers: dict[str, tuple[str, int]] = {}
        self.idle = IdlePool()
        self._apply_workers(config, now)
        self.clients: set[ClientConnection] = set()
        self.inflight: set[Exchange] = set()
        self.counters = Counters()
        self.draining = False
        self.started_at = now
        self._tick: asyncio.TimerHandle | None = None
        self._servers: list[asyncio.Server] = []
        self._idle_drained = asyncio.Event()
        self.recent: dict[str, tuple[object, ...]] = {}  # key -> the last two workers that served it
        self.collector: object = None  # the metrics collector, made at the first scrape

    # Configuration --------------------------------------------------------------------------

    def _apply_workers(self, config: BrokerConfig, now: float) -> None:
        wanted = {w.name: w for w in config.workers}
        for name in list(self.workers):
            if name not in wanted:
                self.registry.remove(name)
                del self.workers[name]
                self.idle.remove_worker(name)
        for name, w in wanted.items():
            self.registry.add(name, cap=w.max_inflight, now=now)
            self.workers[name] = (w.host, w.port)
            self.idle.add_worker(name)

    def reload(self, config: BrokerConfig) -> None:
        """A new configuration, keeping every queued and in-flight request (SIGHUP)."""
        if config.listen != self.config.listen or config.admin != self.config.admin:
            log.warning("reload: listen and admin addresses change only at a restart; kept")
        reg = self.registry
        reg.max_offers, reg.report_interval = config.max_offers, config.report_interval
        reg.refusal_backoff = reg.full_hold = config.refusal_backoff
        self.core.configure(limits={**self.core.limits, **config.queues}, pull_order=config.pull_order)
        self.core.affinity_wait = config.affinity_wait
        self._apply_workers(config, self.loop.time())
        self.config = config
        log.info("reload: %d workers, queues kept (%d waiting)", len(self.workers), self.core.queued())

    # A request arrives ----------------------------------------------------------------------

    def received(self, ex: Exchange) -> None:
        head, cfg = ex.head, self.config
        if self.draining:
            self._reject(ex, "draining")
            return
        path, _, query = head.target.decode("latin-1").partition("?")
        method = head.method.decode("ascii")
        job_class, cost = cfg.classify(method, path, head.fields)
        given = head.fields.get(b"healthgauge-timeout")
        timeout = parse_timeout(given) if given is not None else None
        ex.deadline = ex.start + (cfg.timeout if timeout is None else min(timeout, cfg.timeout))
        ex.key = cfg.affinity_key(path, query, head.fields)
        ex.cost = cost
        criticality = parse_criticality(head.fields.get(b"healthgauge-criticality"))
        ex.job = Job(ex, deadline=ex.deadline, job_class=job_class, key=ex.key, criticality=criticality)
        self.counters.requests[CLASS_NAMES[job_class]] += 1
        self.inflight.add(ex)
        ex.timer = self.loop.call_at(ex.deadline, self._deadline, ex)

    def body_complete(self, ex: Exchange) -> None:
        """The request can be offered: its body is all in, or too large to keep (streamed)."""
        if not ex.done and ex.worker is None and (ex.job is None or ex.job.state is JobState.NEW):
            self._dispatch(ex)

    def _dispatch(self, ex: Exchange) -> None:
        now = self.loop.time()
        job = ex.job
        assert job is not None
        if not ex.queued and len(ex.tried) < self.config.max_offers:
            offers = self.core.offers(job, now)
            if ex.key is not None and not ex.tried and job.state is JobState.NEW:
                job.home = self.registry.home(ex.key, now=now)
                if job.home is not None and (not offers or offers[0] != job.home) and self.core.hold(job, now):
                    self._arm()  # its home is busy: wait a moment for it (affinity_wait)
                    return
            for worker in offers:
                if worker not in ex.tried:
                    self._offer(ex, worker)
                    return
        ex.tried = []
        ex.queued = True  # from now on it waits for a free worker to pull it (spec §7 rule 6)
        if ex.streaming and ex.offers:
            self._reject(ex, "refused")  # a streamed body cannot be offered again
            return
        if ex.key is not None and job.home is None:
            job.home = self.registry.home(ex.key, now=now)
        waits, removed = self.core.enqueue(job, now)
        self._rejected(removed)
        if not waits:
            self._reject(ex, job.why)
            return
        # Reading goes on while it waits (a client that leaves must be seen), unless a streamed
        # body is waiting for its worker.
        if ex.streaming and not ex.reader.done:
            ex.client.pause_reading_body()
        self._arm()

    def _offer(self, ex: Exchange, worker: object) -> None:
        job = ex.job
        assert job is not None
        job.state, job.worker = JobState.ASSIGNED, worker
        self.registry.started(worker, job.job_class)
        ex.worker = worker
        ex.sent_at = self.loop.time()
        ex.offers += 1
        ex.tried.append(worker)
        self.counters.attempts[worker] += 1
        left_ms = max(0, int((ex.deadline - self.loop.time()) * 1000))
        given_cost = ex.head.fields.get(b"healthgauge-cost")
        extra = offer_fields(job.job_class.value, left_ms, given_cost, ex.cost, ex.key)
        data, _chunked = request_bytes(ex, extra, BROKER_FIELDS)
        if ex.streaming:
            ex.body.clear()
        conn = self.idle.take(worker)
        if conn is not None:
            ex.worker_conn = conn
            conn.send(ex, data)
            self._after_send(ex)
            return
        self.loop.create_task(self._connect(ex, worker, data))

    def _after_send(self, ex: Exchange) -> None:
        if ex.streaming:
            if ex.reader.done:
                self._stream_end(ex)
            else:
                ex.client.resume_reading_body()

    async def _connect(self, ex: Exchange, worker: object, data: list[bytes | memoryview]) -> None:
        host, port = self.workers.get(str(worker), ("", 0))
        conn = WorkerConnection(self, worker)
        try:
            if not host:
                raise OSError("worker removed by a reload")
            await self.loop.create_connection(lambda: conn, host, port)
        except OSError as exc:
            if ex.worker is worker and not ex.done:
                self.worker_failed(ex, conn, "connect", str(exc))
            return
        if ex.done or ex.worker is not worker:
            self._pool_put(conn)  # cancelled while we connected
            return
        ex.worker_conn = conn
        conn.send(ex, data)
        self._after_send(ex)

    def stream_request(self, ex: Exchange, pieces: list[bytes | memoryview]) -> None:
        """More of a streamed request body: to the worker, or kept (reading paused) until one takes it."""
        conn = ex.worker_conn
        if conn is None or ex.worker is None:
            ex.body.extend(bytes(p) for p in pieces)
            ex.client.pause_reading_body()
            return
        if ex.head.framing == CHUNKED:
            out: list[bytes | memoryview] = []
            for piece in pieces:
                out += chunk(piece)
            conn.write_body(out)
        else:
            conn.write_body(pieces)
        if ex.reader.done:
            self._stream_end(ex)

    def _stream_end(self, ex: Exchange) -> None:
        if ex.head.framing == CHUNKED and ex.worker_conn is not None:
            ex.worker_conn.write_body([LAST_CHUNK])

    # Answers from workers ------------------------------------------------------------------------

    def _learn(self, worker: object, head: Head) -> None:
        report = load_report(
            head.fields.get(b"healthgauge-load"), self.registry.cap(worker), self.registry.local(worker)
        )
        self.registry.report(worker, report, now=self.loop.time())

    def response_head(self, ex: Exchange, conn: WorkerConnection, head: Head) -> bytes | None:
        """A worker's answer began: the head for the client, or None for a refusal (its body is dropped)."""
        worker = conn.worker
        if worker in self.registry:  # not when a reload removed it meanwhile
            self._learn(worker, head)
        if head.status == 503 and not ex.streaming:
            reason = head.fields.get(b"healthgauge-overload", b"503").decode("latin-1")
            self.counters.refusals[str(worker), reason] += 1
            self.registry.refused(worker, now=self.loop.time())
            return None
        ex.responded = True
        self.registry.answered_in(ex.job.job_class if ex.job else None, self.loop.time() - ex.sent_at)
        wait_ms = (ex.sent_at - ex.start) * 1000  # from arrival to the offer that took it (W3C Server-Timing)
        framing, length, extra = answer_framing(ex.head, head, str(worker), wait_ms, draining=self.draining)
        if ex.key is not None:
            ex.home = self.registry.home(ex.key, now=self.loop.time())
            self.counters.affinity[affinity_result(self.recent, ex.key, ex.home, worker)] += 1
        if ex.job is not None:
            self.counters.responses[CLASS_NAMES[ex.job.job_class], STATUS_CLASSES[head.status // 100]] += 1
        return render_head(b"HTTP/1.1 %d %s" % (head.status, head.reason), head, extra, framing, length)

    def response_done(self, ex: Exchange, conn: WorkerConnection, *, keep: bool) -> None:
        worker = conn.worker
        self.registry.finished(worker, ex.job.job_class if ex.job else None)
        ex.worker, ex.worker_conn = None, None
        if keep:
            self._pool_put(conn)
        else:
            conn.close()
        if ex.responded:
            self._finish(ex, keep=ex.head.keep_alive and not self.draining and conn.head is not None
                         and (conn.head.framing != CLOSE or ex.head.version == b"HTTP/1.1"))  # fmt: skip
        elif not ex.done:
            self._dispatch(ex)  # refused: the next worker, or the queue
        self._pump()

    def worker_failed(self, ex: Exchange, conn: WorkerConnection, kind: str, detail: str = "") -> None:
        """The exchange with ``conn`` broke (connect, reset, protocol, timeout)."""
        worker = conn.worker
        conn.abort()
        self.pool_discard(conn)
        if ex.worker is worker:
            self.registry.finished(worker, ex.job.job_class if ex.job else None)
            ex.worker, ex.worker_conn = None, None
        if worker in self.registry:
            self.registry.failed(worker, now=self.loop.time())
        self.counters.worker_errors[str(worker), kind] += 1
        log.warning("worker %s: %s %s", worker, kind, detail)
        if ex.done:
            pass
        elif ex.responded:
            self._finish(ex, keep=False, abort=True)  # the answer was cut: the client must see it
        elif ex.head.method in IDEMPOTENT and not ex.streaming:
            self._dispatch(ex)  # nothing was answered yet: another worker may do it
        else:
            self._answer(ex, 502, b"the worker failed before answering\n", [])
        self._pump()

    # Queue ---------------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Free workers take queued requests (spec §7 rule 6)."""
        core = self.core
        if not core.queued():
            return
        now = self.loop.time()
        for _ in range(core.queued() + len(self.workers)):
            pulled = False
            for worker in self.registry.candidates(now=now):
                job, removed = core.pull(worker, now)
                self._rejected(removed)
                if job is not None:
                    ex = job.payload
                    assert isinstance(ex, Exchange)
                    ex.tried = []
                    self._offer(ex, worker)
                    pulled = True
                    break
            if not pulled or not core.queued():
                return

    def _arm(self) -> None:
        if self._tick is None and self.core.queued():
            self._tick = self.loop.call_later(TICK, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        now = self.loop.time()
        for job in self.core.release(now):
            ex = job.payload
            if isinstance(ex, Exchange) and not ex.done:
                job.state = JobState.ASSIGNED  # released: offered elsewhere now, never held again
                self._dispatch(ex)
        self._rejected(self.core.expire(now))
        self._pump()
        self._arm()

    def _rejected(self, jobs: list[Job]) -> None:
        for job in jobs:
            ex = job.payload
            if isinstance(ex, Exchange) and not ex.done:
                self._reject(ex, job.why)

    # Endings ---------------------------------------------------------------------------------------

    def _deadline(self, ex: Exchange) -> None:
        """The client's deadline passed: wherever the request is, it ends here (504)."""
        ex.timer = None
        if ex.done:
            return
        job = ex.job
        if job is not None and job.state in (JobState.QUEUED, JobState.HELD):
            self.core.cancel(job, self.loop.time())
        if ex.worker is not None:
            worker, conn = ex.worker, ex.worker_conn
            self.registry.finished(worker, ex.job.job_class if ex.job else None)
            self.counters.worker_errors[str(worker), "timeout"] += 1
            # Silent since the request went out, for far longer than its class's answers take
            # (hung, stopped): out for a backoff. A worker that answered others meanwhile, or one
            # busy with long requests, is only late for this one: the deadline is the request's.
            now = self.loop.time()
            reg = self.registry
            klass = ex.job.job_class if ex.job else None
            if worker in reg and reg.last_answer(worker) < ex.sent_at and reg.overdue(klass, now - ex.sent_at):
                reg.failed(worker, now=now)
            ex.worker, ex.worker_conn = None, None
            if conn is not None:
                conn.abort()
                self.pool_discard(conn)
        if ex.responded:
            self._finish(ex, keep=False, abort=True)
        else:
            self._reject(ex, "deadline")
        self._pump()

    def client_gone(self, ex: Exchange) -> None:
        """The client closed its connection: cancel the request wherever it is."""
        job = ex.job
        where = "reading"
        if job is not None and job.state in (JobState.QUEUED, JobState.HELD):
            self.core.cancel(job, self.loop.time())
            where = "queued"
        if ex.worker is not None:
            where = "worker"
            self.registry.finished(ex.worker, ex.job.job_class if ex.job else None)
            if ex.worker_conn is not None:
                ex.worker_conn.abort()
                self.pool_discard(ex.worker_conn)
            ex.worker, ex.worker_conn = None, None
        self.counters.cancelled[where] += 1
        self._end(ex)
        self._pump()

    def _reject(self, ex: Exchange, why: str) -> None:
        """The broker's own refusal: 503 + Retry-After (or 504 past the deadline, spec §10.2)."""
        why = why or "refused"
        self.counters.rejections[why] += 1
        if why == "deadline":
            self._answer(ex, 504, b"deadline passed\n", [(b"healthgauge-overload", b"no-retry")])
            return
        extra = [(b"retry-after", b"%d" % self.config.retry_after), (b"healthgauge-overload", b"shed")]
        self._answer(ex, 503, b"overloaded: " + why.encode() + b"\n", extra)

    def _answer(self, ex: Exchange, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
        close = self.draining or not ex.head.keep_alive or not ex.reader.done
        ex.client.write(simple_response(status, body, extra, close=close))
        if ex.job is not None:
            self.counters.responses[CLASS_NAMES[ex.job.job_class], STATUS_CLASSES[status // 100]] += 1
        self._finish(ex, keep=not close)

    def _finish(self, ex: Exchange, *, keep: bool, abort: bool = False) -> None:
        self._end(ex)
        if abort:
            ex.client.abort()
        else:
            ex.client.finished(ex, keep=keep)

    def _end(self, ex: Exchange) -> None:
        ex.done = True
        if ex.job is not None and ex.job.state in (JobState.QUEUED, JobState.HELD):
            self.core.cancel(ex.job, self.loop.time())
        if ex.timer is not None:
            ex.timer.cancel()
            ex.timer = None
        self.inflight.discard(ex)
        if self.draining and not self.inflight:
            self._idle_drained.set()

    # Pool ------------------------------------------------------------------------------------------

    def _pool_put(self, conn: WorkerConnection) -> None:
        self.idle.put(conn, keep=not self.draining)

    def pool_discard(self, conn: WorkerConnection) -> None:
        self.idle.discard(conn)

    # Life cycle ------------------------------------------------------------------------------------

    async def start(self) -> dict[str, tuple[str, int]]:
        """Bind the listeners; returns their addresses by name (``proxy``, ``admin``)."""
        from healthgauge.broker._admin import AdminConnection

        cfg = self.config
        bound: dict[str, tuple[str, int]] = {}
        server = await self.loop.create_server(
            lambda: ClientConnection(self), cfg.listen[0], cfg.listen[1], reuse_address=True, backlog=1024
        )
        self._servers.append(server)
        bound["proxy"] = server.sockets[0].getsockname()[:2]
        if cfg.admin is not None:
            admin = await self.loop.create_server(lambda: AdminConnection(self), cfg.admin[0], cfg.admin[1])
            self._servers.append(admin)
            bound["admin"] = admin.sockets[0].getsockname()[:2]
        return bound

    def queue_fill(self) -> float:
        """The fullest queue's length over its capacity, 0-1: what the agent-check weight reads."""
        return self.core.fill()

    def ready(self) -> bool:
        now = self.loop.time()
        return not self.draining and any(self.registry.up(w, now=now) for w in self.workers)

    async def drain(self, grace: float) -> None:
        """Stop taking requests, hand queued ones back (503 + Retry-After), wait for in-flight ones
        up to ``grace`` seconds (spec §10.1 shutdown)."""
        self.draining = True
        server = self._servers[0] if self._servers else None
        if server is not None:
            server.close()
        self._rejected(self.core.drain(self.loop.time()))
        for client in list(self.clients):
            if client.exchange is None:
                client.close()  # idle keep-alive connections
        if self.inflight:
            self._idle_drained.clear()
            try:
                await asyncio.wait_for(self._idle_drained.wait(), grace)
            except TimeoutError:
                log.warning("drain: %d requests still in flight after %.1fs; closing", len(self.inflight), grace)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for client in list(self.clients):
            client.abort()
        self.idle.close()
        if self._tick is not None:
            self._tick.cancel()
        for server in self._servers:
            await server.wait_closed()

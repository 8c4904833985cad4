"""Scraping: one loop per target, each on its own schedule with its own deadline.

A slow, hung, huge or hostile target costs only its own loop: each target has its own connection
(``_client.py``); one deadline (``timeout``) covers the fetch, the decoding (run a bounded step
at a time between other work), the parse and the evaluation; the body is capped (``body_limit``)
on the wire and after decoding; large pages (:data:`OFFLOAD_BYTES`) are parsed in a child process
(``_children.py``; in a worker thread until the children are up, or for an engine that cannot
be pickled) so the event loop (and every endpoint it serves) never waits on a long parse, nor on
the GIL a parsing thread holds, and a parse still running from an earlier scrape fails the next
one instead of starting another. A large history is remembered and evaluated in a worker thread. Only the metric
names the rules read are kept, at most ``sample_limit`` samples a scrape and ``series_limit``
series in the history (past it the history is dropped and rebuilt). Reasons are redacted of the
target's configured header values (``_secrets.py``) before anyone can read them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from healthgauge import __version__
from healthgauge.agent._children import ChildParsers, Parsed
from healthgauge.agent._config import TargetConfig
from healthgauge.agent._logs import FailureLog, write
from healthgauge.agent.judge._engine import Engine, EngineError
from healthgauge.agent.judge._judgement import evaluate, failed
from healthgauge.agent.judge._secrets import redact, redact_verdict, secrets_of
from healthgauge.agent.state._hub import StateHub
from healthgauge.health._state import Condition, Verdict
from healthgauge.http._client import Endpoint, tls_context
from healthgauge.http._http11 import FetchError, TLSError

log = logging.getLogger("healthgauge.agent.scrape")

# Prometheus 2.42 sends the same preference order (scrape/scrape.go, acceptHeader).
ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
USER_AGENT = f"healthgauge/{__version__}"
# Pages larger than these are parsed off the loop (bench/parse_offload.py measures both): parsing
# only the rules' few names costs ~1 us per skipped line, ~0.5 ms for a 512 KiB page; parsing
# every name (a rule with a regex name selector) costs ~1 ms per 13 KiB. Below the thresholds an
# inline parse stays under about half a millisecond, less than a hop off the loop; above them the
# loop would stall long enough to show in probe p99. They go to a child process (_children.py):
# in a thread the parse held the GIL the loop needs (handed back every switch interval, 1 ms in
# the agent, but not while the kernel leaves the parsing thread without a core).
OFFLOAD_BYTES = 512 * 1024
OFFLOAD_BYTES_ALL_NAMES = 8 * 1024
# A history of more series than this is scraped into and evaluated in a worker thread too: an
# evaluation costs ~1-10 us a series a rule, so past ~1,000 series it would hold the loop for
# milliseconds (a target whose label sets churn held it ~0.9 s a scrape at 40k series).
OFFLOAD_SERIES = 1000
# The share of a core one target's parse and evaluation may take on average: a scrape that costs
# more pushes the next one back (at most MAX_PENALTY intervals). A healthy target costs ~0.5 ms a
# scrape (0.05 % at 1 s); one whose label sets churn under a range rule cost ~100 ms a second
# here, which every probe felt through the GIL.
CPU_BUDGET = 0.02
MAX_PENALTY = 10
_CHUNK = 64 * 1024


class ScrapeError(Exception):
    """A scrape failed: refused, deadline, HTTP status, body too large, or an unreadable page."""


# Scrape latency buckets (seconds): loopback scrapes take about a millisecond, remote ones tens;
# the top buckets catch targets near their timeout.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class ScrapeStats:
    """Counters of one target's loop, read by the agent's own /metrics (bounded: no samples kept)."""

    ok: int = 0
    failed: int = 0
    bytes: int = 0
    offloaded: int = 0
    in_child: int = 0  # of those, parsed in a child process
    # Samples of a series repeated in a page, dropped as Prometheus drops them.
    dropped: int = 0
    last_duration: float = 0.0
    duration_sum: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))

    def record(self, duration: float, *, ok: bool, size: int) -> None:
        if ok:
            self.ok += 1
        else:
            self.failed += 1
        self.bytes += size
        self.last_duration = duration
        self.duration_sum += duration
        for i, bound in enumerate(BUCKETS):
            if duration <= bound:
                self.buckets[i] += 1
                break


def endpoint(target: TargetConfig) -> Endpoint:
    """The target's connection and request, prepared once."""
    headers = (
        ("Accept", ACCEPT),
        ("User-Agent", USER_AGENT),
        ("X-Prometheus-Scrape-Timeout-Seconds", f"{target.timeout:g}"),
        *target.headers,
    )
    # For https targets, and for http ones that redirect to https on the same host.
    return Endpoint(target.url, headers, tls=tls_context(target.ca_file, target.insecure))


async def fetch(endpoint: Endpoint, target: TargetConfig) -> tuple[bytes | bytearray, str | None]:
    """GET the target's page within its deadline and body cap; raise :class:`ScrapeError`."""
    try:
        async with asyncio.timeout(target.timeout):
            response = await endpoint.get(target.body_limit)
    except TimeoutError:
        raise ScrapeError(f"no complete answer within the {target.timeout:g}s timeout") from None
    except FetchError as exc:
        hint = ""
        if isinstance(exc, TLSError) and exc.message.startswith("certificate") and not target.insecure:
            hint = " (ca_file trusts a private CA, insecure = true skips verification)"
        raise ScrapeError(f"{exc}{hint}") from None
    return response.body, response.content_type


def name_phase(name: str) -> float:
    """A stable fraction in [0, 1) from a target's name."""
    return zlib.crc32(name.encode()) / 2**32


def spread(targets: Sequence[TargetConfig]) -> dict[str, float]:
    """Evenly spaced phases for targets sharing an interval, in the order of their names' hashes:
    with hashes alone, a thousand targets at 1 s bunch up (several scrapes in the same
    millisecond now and then, each one's parse and evaluation in a row in front of the probes);
    spaced 1 ms apart they never do. Stable while the set of targets is."""
    by_interval: dict[float, list[str]] = {}
    for target in targets:
        by_interval.setdefault(target.interval, []).append(target.name)
    phases: dict[str, float] = {}
    for names in by_interval.values():
        ordered = sorted(names, key=lambda n: (name_phase(n), n))
        start = name_phase(ordered[0]) if ordered else 0.0
        for rank, name in enumerate(ordered):
            phases[name] = (start + rank / len(ordered)) % 1.0
    return phases


class TargetLoop:
    """Scrape, parse, remember, evaluate and publish one target, every ``interval``."""

    # Defaults for loops that set up their own state (``_probeloop.ProbeLoop``): no secrets to
    # redact, no job in flight, no CPU spent yet.
    secrets: tuple[str, ...] = ()
    _job: concurrent.futures.Future[Any] | None = None
    _size = 0
    _cost = 0.0
    _throttled = False
    at_once = False  # check as soon as it runs, then on its phase (a target a reload added or changed)

    def __init__(
        self,
        target: TargetConfig,
        *,
        engine: Engine,
        hub: StateHub,
        wall: Callable[[], float] = time.time,
        phase: float | None = None,
    ) -> None:
        self.target = target
        self.phase = phase  # 0 <= phase < 1: the fraction of the interval at which it scrapes
        # A probe target (``kind`` other than metrics) keeps its own connections (_probeloop.py).
        self.endpoint = endpoint(target) if target.probe is None else None
        self.engine = engine
        self.hub = hub
        self.wall = wall
        self.history = engine.history(target.history)
        self.names = target.names
        self.stats = ScrapeStats()
        self.secrets = secrets_of(target.headers)
        self._job: concurrent.futures.Future[Any] | None = None
        self._size = 0
        self._cost = 0.0  # CPU seconds the last parse and evaluation took
        self._throttled = False
        self.failures = FailureLog(target.name)
        # The last verdict's conditions, kept here (not read back from the hub) so that an
        # unchanged rule keeps its Condition object from one scrape to the next.
        self.conditions: tuple[Condition, ...] = ()

    def offset(self) -> float:
        """Where in the interval this target is scraped: stable per name, spread across targets,
        so a thousand targets do not all fire in the same millisecond (Prometheus does the same).
        The agent passes evenly spaced ones (:func:`spread`); alone, a loop uses its name's hash."""
        if self.phase is not None:
            return self.phase * self.target.interval
        return name_phase(self.target.name) * self.target.interval

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.target.interval
        next_at = loop.time() + self.offset()
        if self.at_once:
            await self._check()
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            await self._check()
            next_at += interval + self._penalty()
            now = loop.time()
            if next_at < now:  # a scrape overran: skip the missed ticks, keep the phase
                next_at += ((now - next_at) // interval + 1) * interval

    async def _check(self) -> None:
        try:
            await self.once()
        except Exception as exc:  # a bug must fail the check, not freeze the last state
            text = redact(repr(exc), self.secrets)
            log.error("checking %s failed: %s", self.target.name, text)
            self._publish(failed(f"internal error: {text}", self.wall()))

    async def once(self) -> None:
        """One scrape and its verdict, published to the hub. Never raises for a target's fault."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        at = self.wall()
        busy = self._job is not None and not self._job.done()
        try:
            assert self.endpoint is not None
            body, content_type = await fetch(self.endpoint, self.target)
        except ScrapeError as exc:
            self._fail(at, started, str(exc) or type(exc).__name__, record=not busy)
            return
        if busy or (self._job is not None and not self._job.done()):
            # Work abandoned at an earlier deadline still holds a thread and this history.
            why = "the previous scrape's page is still being parsed and evaluated (over the timeout)"
            self._fail(at, started, why, record=False)
            return
        conditions = self.conditions
        offload = OFFLOAD_BYTES if self.names is not None else OFFLOAD_BYTES_ALL_NAMES
        try:
            if len(body) <= offload and len(self.history) <= OFFLOAD_SERIES:
                verdict = self._work(body, content_type, at, started, conditions)
            else:
                self.stats.offloaded += 1
                async with asyncio.timeout_at(started + self.target.timeout):
                    if len(body) > offload and PARSERS.usable(self.engine):
                        verdict = await self._in_child(body, content_type, at, started, conditions)
                    else:
                        self._job = _WORKERS.submit(self._work, body, content_type, at, started, conditions)
                        del body
                        verdict = await asyncio.wrap_future(self._job)
        except TimeoutError:
            why = f"the page was not parsed and evaluated within the {self.target.timeout:g}s timeout"
            self._fail(at, started, why, record=False)
            return
        except EngineError as exc:
            self._fail(at, started, str(exc) or type(exc).__name__)
            return
        except _OverCapError as exc:
            self._fail(at, started, str(exc), record=False)
            return
        self.stats.record(verdict.duration, ok=True, size=self._size)
        if self.failures.failures:
            write(log, self.failures.succeeded(asyncio.get_running_loop().time()))
        self.conditions = verdict.conditions
        self._publish(verdict)

    async def aclose(self) -> None:
        """Close the target's kept-alive connections."""
        if self.endpoint is not None:
            self.endpoint.close()

    async def _in_child(
        self, body: bytes | bytearray, content_type: str | None, at: float, started: float, previous: Any
    ) -> Verdict:
        """Parse in a child process, then remember and evaluate here (a worker thread for a large
        history); the child's CPU counts in the target's budget."""
        self._size = len(body)
        self.stats.in_child += 1
        try:
            self._job = job = PARSERS.submit(self.engine, body, content_type, self.names, self.target.sample_limit)
            del body
            parsed: Parsed = await asyncio.wrap_future(job)
        except BrokenProcessPool:
            raise EngineError("the parsing process stopped (out of memory?); a new one parses the next page") from None
        samples, refusal, dropped, cost = parsed
        self._cost = cost
        if samples is None:
            raise EngineError(refusal)
        self.stats.dropped += dropped
        if len(self.history) <= OFFLOAD_SERIES:
            return self._costed(cost, samples, at, started, previous)
        self._job = _WORKERS.submit(self._costed, cost, samples, at, started, previous)
        return await asyncio.wrap_future(self._job)

    def _costed(self, cost: float, samples: Any, at: float, started: float, previous: Any) -> Verdict:
        cpu = time.thread_time()
        try:
            return self._remember(samples, at, started, previous)
        finally:
            self._cost = cost + time.thread_time() - cpu

    def _work(
        self, body: bytes | bytearray, content_type: str | None, at: float, started: float, previous: Any
    ) -> Verdict:
        """Parse, remember and evaluate one page: on the loop for a small page and history, else
        in a worker thread (the loop goes on serving; this target's next scrape waits for it)."""
        self._size = len(body)
        cpu = time.thread_time()
        try:
            return self._judge(body, content_type, at, started, previous)
        finally:
            self._cost = time.thread_time() - cpu

    def _judge(
        self, body: bytes | bytearray, content_type: str | None, at: float, started: float, previous: Any
    ) -> Verdict:
        dropped: list[Any] = []
        samples = self.engine.parse(body, content_type, self.names, self.target.sample_limit, dropped)
        del body
        self.stats.dropped += len(dropped)
        return self._remember(samples, at, started, previous)

    def _remember(self, samples: Any, at: float, started: float, previous: Any) -> Verdict:
        """Add a page's samples to the history (dropped past ``series_limit``) and evaluate."""
        self.history.add_scrape(samples, at)
        del samples
        held = len(self.history)
        if held > self.target.series_limit:
            self.history = self.engine.history(self.target.history)  # dropped: rebuilt from the next scrapes
            raise _OverCapError(
                f"series_limit: {held} series in the history, over the cap of {self.target.series_limit} "
                "(label sets that change every scrape?); the history was dropped"
            )
        duration = time.monotonic() - started
        return evaluate(self.target, self.engine, self.history, at, duration=duration, previous=previous)

    def _penalty(self) -> float:
        """Seconds to add before the next scrape so that this target's parse and evaluation use at
        most :data:`CPU_BUDGET` of a core on average (a page or history that costs more is
        scraped less often; the log says so once)."""
        cost, self._cost = self._cost, 0.0
        over = cost / CPU_BUDGET - self.target.interval
        if over <= 0:
            return 0.0
        if not self._throttled:
            self._throttled = True
            log.warning(
                "%s: a scrape cost %.0f ms of CPU, over %.0f%% of its %gs interval: scraped less often",
                self.target.name,
                cost * 1000,
                CPU_BUDGET * 100,
                self.target.interval,
            )
        return min(over, MAX_PENALTY * self.target.interval)

    def _fail(self, at: float, started: float, error: str, *, record: bool = True) -> None:
        duration = asyncio.get_running_loop().time() - started
        if record:
            self.history.add_failed_scrape(at)
        self.stats.record(duration, ok=False, size=0)
        write(log, self.failures.failed(redact(error, self.secrets), asyncio.get_running_loop().time()))
        self._publish(failed(error, at, duration=duration))

    def _publish(self, verdict: Verdict) -> None:
        self.hub.observe(self.target.name, redact_verdict(verdict, self.secrets))


class _OverCapError(Exception):
    """The history outgrew ``series_limit`` and was dropped."""


# Worker threads for large pages and histories: a few, shared by every target; a target has at
# most one job in flight (an abandoned one blocks only its own next scrapes), so hostile targets
# hold at most one thread each, and the pool's queue absorbs the rest.
_WORKERS = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="healthgauge-scrape")
# Child processes for large pages (_children.py): started on the first one, stopped with the agent.
PARSERS = ChildParsers()

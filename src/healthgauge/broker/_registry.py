"""The broker's view of its workers and the choice of whom to offer a request (spec §7 rules 1-3).

Pure: times are arguments. Rendezvous (highest-random-weight) hashing gives each affinity key a
stable preference order over the workers, so a request goes where its data is likely cached, and
removing a worker moves only that worker's keys.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

__all__ = ["Registry", "WorkerReport", "WorkerView", "parse_load", "rendezvous_order"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerReport:
    """What a worker says of itself: in flight ``n``, its limit, its load 0-100, whether draining."""

    n: int
    limit: int
    load: float = 0.0
    draining: bool = False

    def __post_init__(self) -> None:
        if self.n < 0 or self.limit < 0 or not 0.0 <= self.load <= 100.0:
            raise ValueError(f"WorkerReport: need n ≥ 0, limit ≥ 0, 0 ≤ load ≤ 100, got {self}")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerView:
    """A worker as the registry sees it at one instant; ``known`` is False once its report is stale."""

    worker: Hashable
    known: bool
    n: int
    limit: int
    load: float
    draining: bool
    full: bool


# Keys whose rendezvous order is remembered (a blake2b per worker per key otherwise); past this the
# memory starts over. 64k keys × a few workers is a few MB at most.
MAX_ORDERS = 65536

# A request that outlives this many times the median answer time of its class, at a worker silent
# since it went out, says the worker is hung; a shorter wait says only that the request is late
# (a worker busy with long requests is silent for as long as they take). Over the last
# ANSWER_SAMPLES answers of the class: a median, so a few very slow ones do not move it.
HANG_FACTOR = 4.0
ANSWER_SAMPLES = 64

# A Healthgauge-Load value is one agent-check line; a worker sends a handful of words.
MAX_LOAD_WORDS = 16


def parse_load(text: str, *, cap: int) -> WorkerReport | None:
    """A worker's ``Healthgauge-Load`` (agent-check words: ``70% maxconn:4 inflight:3``, ``drain``)
    as a report, or None when it names nothing usable. The weight is what is left of the worker:
    ``load = 100 − W``; ``maxconn`` is its limit (else ``cap``); ``inflight`` its requests now;
    ``drain``, ``maint``, ``down``, ``stopped`` and ``fail`` take it out (consumers §3.2)."""
    load: float | None = None
    limit, n, draining, seen = cap, 0, False, False
    for word in text.replace(",", " ").lower().split()[:MAX_LOAD_WORDS]:
        name, colon, value = word.partition(":")
        if word.startswith("#"):
            break
        if word.endswith("%") and word[:-1].isdigit():
            load, seen = 100.0 - min(100, int(word[:-1])), True
        elif colon and value.isdigit() and name in ("maxconn", "inflight"):
            if name == "maxconn" and int(value) > 0:
                limit, seen = int(value), True
            elif name == "inflight":
                n, seen = int(value), True
        elif word in ("drain", "maint", "down", "stopped", "fail", "failed"):
            draining, seen = True, True
        elif word in ("up", "ready"):
            seen = True
    if not seen:
        return None
    if load is None:
        load = 100.0 * min(n, limit) / limit
    return WorkerReport(n=n, limit=limit, load=load, draining=draining)


def _score(key: bytes, worker: Hashable) -> int:
    digest = hashlib.blake2b(key + b"\x00" + repr(worker).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rendezvous_order(key: str | bytes, workers: Iterable[Hashable]) -> list[Hashable]:
    """``workers`` from most to least preferred for ``key`` (highest random weight first)."""
    raw = key.encode() if isinstance(key, str) else key
    return sorted(workers, key=lambda w: _score(raw, w), reverse=True)


class _Entry:
    __slots__ = ("at", "by_class", "cap", "down_until", "failures", "local", "refused_at", "report")

    def __init__(self, report: WorkerReport, at: float, cap: int) -> None:
        self.report = report
        self.at = at
        self.refused_at = -math.inf
        self.local = 0  # requests this broker has in flight there
        self.by_class: dict[object, int] = {}  # the same, by request class
        self.cap = cap  # the most this broker sends it at once while it reports no limit of its own
        self.failures = 0  # consecutive failed exchanges (connect, reset, timeout)
        self.down_until = -math.inf


class Registry:
    """Workers and their latest reports.

    A report older than ``stale_reports × report_interval`` is unknown (spec §7 rule 1, HG: 3
    reports): an unknown worker may still be offered work — a refusal is cheap — but only after
    the known ones. A refusal marks the worker full until its next report, for at most
    ``refusal_backoff`` seconds (its answer may itself be the latest report); one that reported
    ``n ≥ limit`` is full for ``full_hold`` seconds after that report (default: ``report_interval``).

    The broker's own traffic counts too: a worker with as many of this broker's requests in flight
    as its limit (reported ``limit``, else ``cap``) is full without asking it (:meth:`started`,
    :meth:`finished`). A failed exchange (refused connection, reset, timeout) takes the worker out
    for a backoff doubling from ``failure_backoff`` up to 16 times that; any answer brings it back.
    """

    __slots__ = (
        "_answers",
        "_entries",
        "_orders",
        "failure_backoff",
        "full_hold",
        "max_offers",
        "refusal_backoff",
        "report_interval",
        "stale_reports",
    )

    def __init__(
        self,
        *,
        report_interval: float = 1.0,
        stale_reports: int = 3,
        max_offers: int = 3,
        refusal_backoff: float = 0.25,
        failure_backoff: float = 0.5,
        full_hold: float | None = None,
    ) -> None:
        if not report_interval > 0 or stale_reports < 1 or max_offers < 1:
            raise ValueError(
                "Registry: need report_interval > 0, stale_reports ≥ 1 and max_offers ≥ 1, "
                f"got {report_interval}, {stale_reports}, {max_offers}"
            )
        self.report_interval = report_interval
        self.stale_reports = stale_reports
        self.max_offers = max_offers
        self.refusal_backoff = refusal_backoff
        self.failure_backoff = failure_backoff
        self.full_hold = report_interval if full_hold is None else full_hold
        self._entries: dict[Hashable, _Entry] = {}
        self._orders: dict[str | bytes, tuple[Hashable, ...]] = {}  # key -> its rendezvous order
        self._answers: dict[object, deque[float]] = {}  # class -> its last answer times (s)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, worker: object) -> bool:
        return worker in self._entries

    def add(self, worker: Hashable, *, cap: int, now: float) -> None:
        """Register ``worker`` before it has reported: unknown, at most ``cap`` requests at once."""
        if cap < 1:
            raise ValueError(f"Registry.add: need cap ≥ 1, got {cap}")
        entry = self._entries.get(worker)
        if entry is None:
            entry = self._entries[worker] = _Entry(WorkerReport(n=0, limit=cap), -math.inf, cap)
            self._orders.clear()
        entry.cap = cap

    def report(self, worker: Hashable, report: WorkerReport, *, now: float) -> None:
        """Record ``worker``'s state (registering it on first report); an answer ends a failure streak."""
        entry = self._entries.get(worker)
        if entry is None:
            self._entries[worker] = _Entry(report, now, max(report.limit, 1))
            self._orders.clear()
        else:
            entry.report, entry.at = report, now
            entry.failures, entry.down_until = 0, -math.inf

    def started(self, worker: Hashable, klass: object = None) -> None:
        """This broker sent ``worker`` a request (of class ``klass``)."""
        entry = self._entries[worker]
        entry.local += 1
        entry.by_class[klass] = entry.by_class.get(klass, 0) + 1

    def finished(self, worker: Hashable, klass: object = None) -> None:
        """A request this broker sent ``worker`` ended (answered, failed or cancelled)."""
        entry = self._entries.get(worker)
        if entry is not None and entry.local > 0:
            entry.local -= 1
            if entry.by_class.get(klass, 0) > 0:
                entry.by_class[klass] -= 1

    def has_room(self, worker: Hashable, klass: object, share: float, *, now: float) -> bool:
        """Whether a request of ``klass`` may take one more of ``worker``'s slots: the class holds
        fewer than ``share`` of its limit (at least one slot), so the rest stays for other classes."""
        if share >= 1.0:
            return True
        entry = self._entries[worker]
        rep = entry.report
        known = now - entry.at <= self.stale_reports * self.report_interval
        limit = rep.limit if known and rep.limit > 0 else entry.cap
        return entry.by_class.get(klass, 0) < max(1, int(share * limit))

    def failed(self, worker: Hashable, *, now: float) -> float:
        """An exchange with ``worker`` failed: out until the returned time (the backoff doubles).
        While it is out already, another exchange that was under way fails for the same reason:
        no new evidence, so the backoff stays (else a worker with several requests in flight would
        be out 8 s for one stall, with nothing left there to bring it back)."""
        entry = self._entries[worker]
        if now < entry.down_until:
            return entry.down_until
        entry.failures += 1
        entry.down_until = now + self.failure_backoff * 2 ** min(entry.failures - 1, 4)
        return entry.down_until

    def answered_in(self, klass: object, seconds: float) -> None:
        """A worker answered a request of ``klass`` ``seconds`` after it was sent."""
        times = self._answers.get(klass)
        if times is None:
            times = self._answers[klass] = deque(maxlen=ANSWER_SAMPLES)
        times.append(seconds)

    def overdue(self, klass: object, seconds: float) -> bool:
        """Whether ``seconds`` at a worker is far past what answers of ``klass`` take (more than
        ``HANG_FACTOR`` × their median); True while none has been answered yet."""
        times = self._answers.get(klass)
        if not times:
            return True
        return seconds > HANG_FACTOR * sorted(times)[len(times) // 2]

    def cap(self, worker: Hashable) -> int:
        """The most this broker sends ``worker`` at once while it says no limit of its own."""
        return self._entries[worker].cap

    def last_answer(self, worker: Hashable) -> float:
        """When ``worker`` last reported (any answer is a report); -inf if never."""
        return self._entries[worker].at

    def local(self, worker: Hashable) -> int:
        return self._entries[worker].local

    def up(self, worker: Hashable, *, now: float) -> bool:
        return now >= self._entries[worker].down_until

    def home(self, key: str | bytes, *, now: float) -> Hashable | None:
        """The worker ``key`` belongs to now: first in its rendezvous order among those up and not draining."""
        for worker in self.order(key):
            entry = self._entries[worker]
            if now >= entry.down_until and not entry.report.draining:
                return worker
        return None

    def remove(self, worker: Hashable) -> None:
        self._entries.pop(worker, None)
        self._orders.clear()

    def refused(self, worker: Hashable, *, now: float) -> None:
        """``worker`` refused an offer: treat it as full until it reports again."""
        entry = self._entries.get(worker)
        if entry is not None:
            entry.refused_at = now

    def view(self, worker: Hashable, *, now: float) -> WorkerView:
        entry = self._entries[worker]
        rep = entry.report
        known = now - entry.at <= self.stale_reports * self.report_interval
        refused = entry.refused_at >= entry.at and now - entry.refused_at < self.refusal_backoff
        limit = rep.limit if known and rep.limit > 0 else entry.cap
        busy = entry.local >= limit
        load = max(rep.load if known else 100.0, 100.0 * min(entry.local, limit) / limit)
        return WorkerView(
            worker=worker,
            known=known,
            n=max(rep.n, entry.local),
            limit=limit,
            load=load,
            draining=rep.draining or now < entry.down_until,
            full=refused or busy or (now - entry.at < self.full_hold and rep.n >= rep.limit),
        )

    def views(self, *, now: float) -> list[WorkerView]:
        return [self.view(w, now=now) for w in self._entries]

    def candidates(
        self, *, now: float, key: str | bytes | None = None, klass: object = None, share: float = 1.0
    ) -> list[Hashable]:
        """Up to ``max_offers`` workers to offer a request to, best first (spec §7 rule 2).

        Draining, failed and full workers are skipped, and those where ``klass`` already holds
        ``share`` of the slots (:meth:`has_room`). With an affinity ``key`` the eligible
        workers come in the key's rendezvous order: its home first, then the next ones in the
        same order every time, so a spilled key lands where it spilled before and finds its data
        there too. Without a key: by ascending load (known before unknown), ties broken by
        registration order so the choice is stable. This is the hot path: no views are built.
        """
        entries = self._entries
        names = self.order(key) if key is not None else entries
        stale = self.stale_reports * self.report_interval
        backoff, hold = self.refusal_backoff, self.full_hold
        found: list[tuple[bool, float, int, Hashable]] = []
        for rank, worker in enumerate(names):
            e = entries[worker]
            rep = e.report
            if rep.draining or now < e.down_until:
                continue
            known = now - e.at <= stale
            limit = rep.limit if known and rep.limit > 0 else e.cap
            if e.local >= limit or (e.refused_at >= e.at and now - e.refused_at < backoff):
                continue
            if now - e.at < hold and rep.n >= rep.limit:
                continue
            if share < 1.0 and e.by_class.get(klass, 0) >= max(1, int(share * limit)):
                continue
            if key is not None:
                found.append((False, 0.0, rank, worker))
                if len(found) == self.max_offers:
                    break
                continue
            load = rep.load if known else 100.0
            found.append((not known, max(load, 100.0 * e.local / limit), rank, worker))
        if key is None:
            found.sort(key=_sort_key)
        return [f[3] for f in found[: self.max_offers]]

    def order(self, key: str | bytes) -> tuple[Hashable, ...]:
        """Every worker in ``key``'s rendezvous order, remembered for the next request of the key."""
        cached = self._orders.get(key)
        if cached is None:
            if len(self._orders) >= MAX_ORDERS:
                self._orders.clear()
            cached = self._orders[key] = tuple(rendezvous_order(key, self._entries))
        return cached


def _sort_key(item: tuple[bool, float, int, Hashable]) -> tuple[bool, float, int]:
    return item[0], item[1], item[2]

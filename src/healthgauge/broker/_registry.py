"""The broker's view of its workers and the choice of whom to offer a request (spec §7 rules 1-3).

Pure: times are arguments. Rendezvous (highest-random-weight) hashing gives each affinity key a
stable preference order over the workers, so a request goes where its data is likely cached, and
removing a worker moves only that worker's keys.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

__all__ = ["Registry", "WorkerReport", "WorkerView", "rendezvous_order"]


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


def _score(key: bytes, worker: Hashable) -> int:
    digest = hashlib.blake2b(key + b"\x00" + repr(worker).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rendezvous_order(key: str | bytes, workers: Iterable[Hashable]) -> list[Hashable]:
    """``workers`` from most to least preferred for ``key`` (highest random weight first)."""
    raw = key.encode() if isinstance(key, str) else key
    return sorted(workers, key=lambda w: _score(raw, w), reverse=True)


class _Entry:
    __slots__ = ("at", "refused_at", "report")

    def __init__(self, report: WorkerReport, at: float) -> None:
        self.report = report
        self.at = at
        self.refused_at = -math.inf


class Registry:
    """Workers and their latest reports.

    A report older than ``stale_reports × report_interval`` is unknown (spec §7 rule 1, HG: 3
    reports): an unknown worker may still be offered work — a refusal is cheap — but only after
    the known ones. A refusal marks the worker full until its next report.
    """

    __slots__ = ("_entries", "max_offers", "report_interval", "stale_reports")

    def __init__(self, *, report_interval: float = 1.0, stale_reports: int = 3, max_offers: int = 3) -> None:
        if not report_interval > 0 or stale_reports < 1 or max_offers < 1:
            raise ValueError(
                "Registry: need report_interval > 0, stale_reports ≥ 1 and max_offers ≥ 1, "
                f"got {report_interval}, {stale_reports}, {max_offers}"
            )
        self.report_interval = report_interval
        self.stale_reports = stale_reports
        self.max_offers = max_offers
        self._entries: dict[Hashable, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, worker: object) -> bool:
        return worker in self._entries

    def report(self, worker: Hashable, report: WorkerReport, *, now: float) -> None:
        """Record ``worker``'s state (registering it on first report)."""
        entry = self._entries.get(worker)
        if entry is None:
            self._entries[worker] = _Entry(report, now)
        else:
            entry.report, entry.at = report, now

    def remove(self, worker: Hashable) -> None:
        self._entries.pop(worker, None)

    def refused(self, worker: Hashable, *, now: float) -> None:
        """``worker`` refused an offer: treat it as full until it reports again."""
        entry = self._entries.get(worker)
        if entry is not None:
            entry.refused_at = now

    def view(self, worker: Hashable, *, now: float) -> WorkerView:
        entry = self._entries[worker]
        rep = entry.report
        known = now - entry.at <= self.stale_reports * self.report_interval
        full = (entry.refused_at >= entry.at) or (known and rep.n >= rep.limit)
        return WorkerView(
            worker=worker,
            known=known,
            n=rep.n,
            limit=rep.limit,
            load=rep.load if known else 100.0,
            draining=rep.draining,
            full=full,
        )

    def views(self, *, now: float) -> list[WorkerView]:
        return [self.view(w, now=now) for w in self._entries]

    def candidates(self, *, now: float, key: str | bytes | None = None) -> list[Hashable]:
        """Up to ``max_offers`` workers to offer a request to, best first (spec §7 rule 2).

        Draining and full workers are skipped. With an affinity ``key``, the first eligible worker
        in the key's rendezvous order leads; the rest follow by ascending load (known before
        unknown), ties broken by the rendezvous order so the choice is stable.
        """
        names = list(self._entries)
        if key is not None:
            names = rendezvous_order(key, names)
        rank = {w: i for i, w in enumerate(names)}
        eligible = [v for v in (self.view(w, now=now) for w in names) if not v.draining and not v.full]
        if not eligible:
            return []
        first: list[WorkerView] = []
        if key is not None:
            first = [eligible[0]]
            eligible = eligible[1:]
        eligible.sort(key=lambda v: (not v.known, v.load, rank[v.worker]))
        return [v.worker for v in (first + eligible)[: self.max_offers]]

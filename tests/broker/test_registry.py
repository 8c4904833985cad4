"""The broker's worker registry and candidate choice (spec §7 rules 1-3)."""

from __future__ import annotations

import collections

import pytest

from healthgauge.broker import Registry, WorkerReport, rendezvous_order


def rep(n: int = 0, limit: int = 10, load: float = 0.0, draining: bool = False) -> WorkerReport:
    return WorkerReport(n=n, limit=limit, load=load, draining=draining)


def test_rendezvous_is_stable_and_spreads_keys() -> None:
    workers = [f"w{i}" for i in range(8)]
    assert rendezvous_order("img-1", workers) == rendezvous_order("img-1", list(reversed(workers)))
    firsts = collections.Counter(rendezvous_order(f"k{i}", workers)[0] for i in range(4000))
    assert set(firsts) == set(workers)
    assert min(firsts.values()) > 4000 / 8 * 0.8


def test_removing_a_worker_moves_only_its_keys() -> None:
    workers = [f"w{i}" for i in range(6)]
    before = {k: rendezvous_order(k, workers)[0] for k in (f"k{i}" for i in range(600))}
    after = {k: rendezvous_order(k, workers[1:])[0] for k in before}
    moved = [k for k in before if before[k] != after[k]]
    assert all(before[k] == "w0" for k in moved)


def test_candidates_by_load_skip_draining_and_full() -> None:
    reg = Registry()
    reg.report("a", rep(load=50), now=0)
    reg.report("b", rep(load=10), now=0)
    reg.report("c", rep(load=30, draining=True), now=0)
    reg.report("d", rep(n=10, limit=10), now=0)
    reg.report("e", rep(load=20), now=0)
    assert reg.candidates(now=0.5) == ["b", "e", "a"]


def test_affinity_follows_the_keys_rendezvous_order_whatever_the_load() -> None:
    reg = Registry()
    for name, load in (("a", 90.0), ("b", 10.0), ("c", 20.0), ("d", 30.0)):
        reg.report(name, rep(load=load), now=0)
    order = rendezvous_order("key", ["a", "b", "c", "d"])
    assert reg.candidates(now=0, key="key") == order[:3]
    reg.report(order[1], rep(n=10, limit=10), now=0)  # full: skipped, the next in order instead
    assert reg.candidates(now=0, key="key") == [order[0], order[2], order[3]]


def test_stale_reports_come_last_and_refusals_mark_full() -> None:
    reg = Registry(report_interval=1.0)
    reg.report("old", rep(load=0), now=0)
    reg.report("new", rep(load=80), now=3.5)
    assert not reg.view("old", now=3.5).known
    assert reg.candidates(now=3.5) == ["new", "old"]
    reg.refused("new", now=3.6)
    assert reg.candidates(now=3.6) == ["old"]
    reg.report("new", rep(load=80), now=3.7)
    assert reg.candidates(now=3.7) == ["new", "old"]


def test_no_candidates_and_bad_input() -> None:
    reg = Registry()
    assert reg.candidates(now=0) == []
    with pytest.raises(ValueError, match="load"):
        WorkerReport(n=0, limit=1, load=101)
    with pytest.raises(ValueError, match="max_offers"):
        Registry(max_offers=0)

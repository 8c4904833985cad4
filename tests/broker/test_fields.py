"""The service's pure parts: the broker's wire fields (_fields), the idle pool (_pool), the
affinity memory (_observed) and the core's queue fill."""

from __future__ import annotations

import pytest

from healthgauge.broker import Broker, Job, JobClass, QueueLimits, Registry, WorkerReport
from healthgauge.broker._fields import answer_framing, load_report, offer_fields, parse_criticality, parse_timeout
from healthgauge.broker._observed import affinity_result
from healthgauge.broker._pool import MAX_IDLE, IdlePool
from healthgauge.broker._wire import CHUNKED, CLOSE, LENGTH, NONE, parse_request_head, parse_response_head
from healthgauge.overload._types import Criticality


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(b"250", 0.25), (b" 2S ", 2.0), (b"250m", 0.25), (b"1M", 60.0), (b"-1", None), (b"nan", None), (b"x", None)],
)
def test_timeouts_in_milliseconds_or_grpc_units(text: bytes, seconds: float | None) -> None:
    assert parse_timeout(text) == (None if seconds is None else pytest.approx(seconds))


def test_criticality_defaults_to_critical() -> None:
    assert parse_criticality(None) is Criticality.CRITICAL
    assert parse_criticality(b"sheddable-plus") is Criticality.SHEDDABLE_PLUS
    assert parse_criticality(b"bogus") is Criticality.CRITICAL


def test_load_from_the_answer_or_from_what_this_broker_has_there() -> None:
    assert load_report(b"inflight:2", cap=4, local=3) == WorkerReport(n=2, limit=4, load=50.0)
    assert load_report(None, cap=4, local=3) == WorkerReport(n=2, limit=4, load=50.0)  # this one is done
    assert load_report(b"bogus", cap=4, local=0) == WorkerReport(n=0, limit=4, load=0.0)


def test_an_offer_carries_class_time_left_cost_and_key() -> None:
    assert offer_fields("batch", 250, None, 2.0, "k") == [
        (b"healthgauge-class", b"batch"),
        (b"healthgauge-timeout", b"250"),
        (b"via", b"1.1 healthgauge"),
        (b"healthgauge-cost", b"2"),
        (b"healthgauge-affinity", b"k"),
    ]
    assert (b"healthgauge-cost", b"7") in offer_fields("batch", 0, b"7", 2.0, None)  # the client's own wins
    assert len(offer_fields("interactive", 0, None, None, None)) == 3


def test_the_answer_is_reframed_for_the_client() -> None:
    get11 = parse_request_head(b"GET / HTTP/1.1\r\nHost: x")
    get10 = parse_request_head(b"GET / HTTP/1.0")
    sized = parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5")
    until_close = parse_response_head(b"HTTP/1.0 200 OK")
    framing, length, extra = answer_framing(get11, sized, "w1", 1.25, draining=False)
    assert (framing, length) == (LENGTH, 5)
    assert extra == [
        (b"via", b"1.1 healthgauge"),
        (b"healthgauge-worker", b"w1"),
        (b"server-timing", b"broker-wait;dur=1.2"),
    ]
    assert answer_framing(get11, until_close, "w1", 0, draining=False)[:2] == (CHUNKED, 0)
    framing, _, extra = answer_framing(get10, until_close, "w1", 0, draining=False)
    assert framing == CLOSE
    assert (b"connection", b"close") in extra
    head = parse_request_head(b"HEAD / HTTP/1.1\r\nHost: x")
    to_head = parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5", method=b"HEAD")
    framing, _, extra = answer_framing(head, to_head, "w1", 0, draining=True)
    assert framing == NONE
    assert (b"content-length", b"5") in extra
    assert (b"connection", b"close") in extra


def test_affinity_home_recent_or_miss() -> None:
    recent: dict[str, tuple[object, ...]] = {}
    assert affinity_result(recent, "k", "w1", "w1") == "home"
    assert affinity_result(recent, "k", "w2", "w3") == "miss"
    assert recent["k"] == ("w3", "w1")
    assert affinity_result(recent, "k", "w2", "w1") == "recent"


class _Conn:
    def __init__(self, worker: object) -> None:
        self.worker, self.closed = worker, False

    def close(self) -> None:
        self.closed = True


def test_idle_pool_keeps_open_connections_per_known_worker() -> None:
    pool = IdlePool()
    pool.add_worker("w1")
    a, b, stranger = _Conn("w1"), _Conn("w1"), _Conn("gone")
    pool.put(a)  # type: ignore[arg-type]
    pool.put(stranger)  # type: ignore[arg-type]
    assert stranger.closed
    pool.put(b, keep=False)  # type: ignore[arg-type]
    assert b.closed
    assert pool.take("w1") is a
    assert pool.take("w1") is None
    many = [_Conn("w1") for _ in range(MAX_IDLE + 1)]
    for conn in many:
        pool.put(conn)  # type: ignore[arg-type]
    assert [c.closed for c in many].count(True) == 1
    many[0].closed = True
    pool.discard(many[1])  # type: ignore[arg-type]
    taken = pool.take("w1")
    assert taken is not None
    assert taken not in (many[0], many[1])
    pool.remove_worker("w1")  # closes those it kept; the taken and the discarded one are not its own
    assert [c for c in many if not c.closed] == [many[1], taken]
    assert pool.take("w1") is None


def test_queue_fill_is_the_fullest_queue() -> None:
    reg = Registry()
    core = Broker(reg, limits={JobClass.BATCH: QueueLimits(capacity=2), JobClass.INTERACTIVE: QueueLimits(capacity=8)})
    assert core.fill() == 0.0
    core.enqueue(Job("b", deadline=10, job_class=JobClass.BATCH), 0)
    core.enqueue(Job("i", deadline=10), 0)
    assert core.fill() == 0.5

"""The demo worker's cycle, in virtual time: healthy, queue builds up, stuck, slow recovery."""

from healthgauge.demo import BUSY_UNTIL, CYCLE, HEALTHY_UNTIL, STUCK_UNTIL, DemoWorker


def test_the_cycle() -> None:
    w = DemoWorker(100.0)
    w.advance(100.0 + HEALTHY_UNTIL - 0.5)
    assert w.phase(w.now) == "healthy"
    assert w.queue < 10
    jobs = w.jobs
    assert jobs > 200
    w.advance(100.0 + BUSY_UNTIL - 0.5)
    assert w.queue > 120  # arrivals outran the worker
    w.advance(100.0 + BUSY_UNTIL + 0.5)
    stuck_at = w.jobs
    w.advance(100.0 + STUCK_UNTIL - 0.5)
    assert w.phase(w.now) == "stuck"
    assert w.jobs == stuck_at  # the counter stalls
    assert w.now - w.last_iteration > 8
    w.advance(100.0 + STUCK_UNTIL + 2)
    assert w.jobs > stuck_at  # progress again, slowly
    assert w.queue > 100
    w.advance(100.0 + CYCLE - 0.5)
    assert w.queue < 10  # drained
    assert w.phase(100.0 + CYCLE + 1) == "healthy"


def test_the_page() -> None:
    w = DemoWorker(0.0)
    page = w.page(1.0, 1_700_000_001.0).decode()
    assert "demo_last_iteration_timestamp_seconds 1700000001.000\n" in page
    assert "# TYPE demo_jobs_processed_total counter\ndemo_jobs_processed_total 45\n" in page
    assert "demo_queue_depth " in page

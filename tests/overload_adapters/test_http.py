"""Request classification and rejection answers shared by both middlewares (spec §9, §10.2-10.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthgauge.overload import (
    Criticality,
    HeaderError,
    RequestPolicy,
    classify,
    rejection_response,
)
from healthgauge.overload._http import (
    parse_attempt,
    parse_cost,
    parse_criticality,
    parse_request_start,
    parse_timeout,
)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("CRITICAL_PLUS", Criticality.CRITICAL_PLUS),
        ("critical-plus", Criticality.CRITICAL_PLUS),
        (" Critical ", Criticality.CRITICAL),
        ("SheddablePlus", Criticality.SHEDDABLE_PLUS),
        ("sheddable", Criticality.SHEDDABLE),
    ],
)
def test_criticality_names(text: str, level: Criticality) -> None:
    assert parse_criticality(text) is level


@pytest.mark.parametrize("text", ["", "urgent", "critical plus!", "x" * 100])
def test_bad_criticality_says_which_header_and_why(text: str) -> None:
    with pytest.raises(HeaderError) as info:
        parse_criticality(text, header="x-crit")
    assert info.value.header == "x-crit"
    assert "x-crit" in str(info.value)
    assert "CRITICAL_PLUS" in str(info.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250", 0.25), ("12.5", 0.0125), ("0", 0.0), ("250m", 0.25), ("2S", 2.0), ("1M", 60.0), ("100000u", 0.1)],
)
def test_timeout_forms(text: str, seconds: float) -> None:
    assert parse_timeout(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "-5", "abc", "5x", "nan", "inf", "1" * 80])
def test_bad_timeout(text: str) -> None:
    with pytest.raises(HeaderError, match="timeout"):
        parse_timeout(text, header="timeout")


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("t=1700000000.25", 1700000000.25),
        ("1700000000.25", 1700000000.25),
        ("t=1700000000250", 1700000000.25),
        ("t=1700000000250000", 1700000000.25),
    ],
)
def test_request_start_units_by_magnitude(text: str, epoch: float) -> None:
    assert parse_request_start(text) == pytest.approx(epoch)


@pytest.mark.parametrize("text", ["", "t=", "t=abc", "t=-1", "t=0", "t=inf"])
def test_bad_request_start(text: str) -> None:
    with pytest.raises(HeaderError):
        parse_request_start(text)


def test_attempt() -> None:
    assert parse_attempt("0") == 0
    assert parse_attempt(" 2 ") == 2
    for bad in ("-1", "x", "1.0", "99999999"):
        with pytest.raises(HeaderError):
            parse_attempt(bad)


@given(st.text(max_size=80))
def test_parsers_raise_only_header_error(text: str) -> None:
    for parse in (parse_criticality, parse_timeout, parse_request_start, parse_attempt):
        try:
            parse(text)
        except HeaderError:
            pass


def headers(**items: str) -> dict[str, str]:
    return {k.replace("_", "-"): v for k, v in items.items()}


def test_classify_defaults() -> None:
    got = classify({}.get, policy=RequestPolicy(), now=100.0, wall_now=1.7e9)
    assert got.criticality is Criticality.CRITICAL
    assert got.receipt == 100.0
    assert got.deadline == 105.0
    assert not got.is_retry
    assert got.errors == ()


def test_classify_reads_every_header() -> None:
    policy = RequestPolicy(request_start_header="X-Request-Start", timeout_header="X-Timeout-Ms")
    h = headers(
        healthgauge_criticality="sheddable",
        x_timeout_ms="800",
        x_request_start="t=1699999999.95",
        healthgauge_attempt="1",
    )
    got = classify(h.get, policy=policy, now=100.0, wall_now=1700000000.0)
    assert got.criticality is Criticality.SHEDDABLE
    assert got.upstream_wait == pytest.approx(0.05)
    assert got.receipt == pytest.approx(99.95)
    # The caller's timeout started when the proxy received the request.
    assert got.deadline == pytest.approx(100.75)
    assert got.is_retry


def test_classify_clamps_skew_and_caps() -> None:
    policy = RequestPolicy(request_start_header="x-request-start", max_timeout=10.0, max_upstream_wait=2.0)
    future = headers(x_request_start="t=1700000100", healthgauge_timeout="999999")
    got = classify(future.get, policy=policy, now=5.0, wall_now=1700000000.0)
    assert got.upstream_wait == 0.0
    assert got.deadline == 15.0
    past = headers(x_request_start="t=1600000000")
    assert classify(past.get, policy=policy, now=5.0, wall_now=1700000000.0).upstream_wait == 2.0


def test_classify_keeps_going_on_bad_headers() -> None:
    policy = RequestPolicy(request_start_header="x-request-start")
    h = headers(healthgauge_criticality="vip", healthgauge_timeout="soon", x_request_start="yesterday")
    got = classify(h.get, policy=policy, now=1.0, wall_now=2.0)
    assert got.criticality is Criticality.CRITICAL
    assert got.deadline == 6.0
    assert [e.header for e in got.errors] == ["healthgauge-criticality", "x-request-start", "healthgauge-timeout"]


def test_request_start_ignored_unless_trusted() -> None:
    h = headers(x_request_start="t=1000")
    assert classify(h.get, policy=RequestPolicy(), now=1.0, wall_now=2000.0).upstream_wait == 0.0


def test_bypass_prefixes_are_segment_aware() -> None:
    policy = RequestPolicy(bypass_methods=("options",), bypass=lambda m, p: p.startswith("/internal"))
    assert policy.bypassed("GET", "/metrics")
    assert policy.bypassed("GET", "/metrics/extra")
    assert policy.bypassed("GET", "/healthz")
    assert not policy.bypassed("GET", "/metricsfoo")
    assert not policy.bypassed("GET", "/healthcare")
    assert policy.bypassed("OPTIONS", "/api")
    assert policy.bypassed("GET", "/internal/x")
    assert not policy.bypassed("GET", "/api")


def test_policy_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match="default_timeout"):
        RequestPolicy(default_timeout=0)
    with pytest.raises(ValueError, match="max_timeout"):
        RequestPolicy(default_timeout=5, max_timeout=1)


@pytest.mark.parametrize("reason", ["limit", "queue_full", "expired", "priority", "draining"])
def test_overload_rejection_is_503_with_hints(reason: str) -> None:
    r = rejection_response(reason, retry_after=2, no_retry=False)
    h = dict(r.headers)
    assert r.status == 503
    assert h[b"retry-after"] == b"2"
    assert h[b"healthgauge-overload"] == b"shed"
    assert h[b"content-length"] == str(len(r.body)).encode()


def test_retry_is_marked_no_retry() -> None:
    r = rejection_response("limit", retry_after=None, no_retry=True)
    assert dict(r.headers)[b"healthgauge-overload"] == b"no-retry"
    assert dict(r.headers)[b"retry-after"] == b"1"  # an integer ≥ 1


def test_deadline_rejection_is_504_without_retry_hint() -> None:
    r = rejection_response("deadline", retry_after=2, no_retry=False)
    h = dict(r.headers)
    assert r.status == 504
    assert b"retry-after" not in h
    assert h[b"healthgauge-overload"] == b"no-retry"


def test_import_does_not_load_asyncio() -> None:
    import subprocess
    import sys

    code = "import sys, healthgauge.overload, healthgauge.broker; print('asyncio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("text", "cost"), [("1", 1.0), (" 2.5 ", 2.5), ("0.01", 0.01), ("1e3", 1000.0)])
def test_cost(text: str, cost: float) -> None:
    assert parse_cost(text) == cost


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "1e9", "", "x", "9" * 100])
def test_bad_cost_says_why(text: str) -> None:
    with pytest.raises(HeaderError, match=r"healthgauge-cost: .*not a cost"):
        parse_cost(text)


def test_classify_reads_the_cost_and_falls_back_to_one() -> None:
    policy = RequestPolicy()
    headers = {"healthgauge-cost": "3"}
    assert classify(headers.get, policy=policy, now=0, wall_now=0).cost == 3
    bad = classify({"healthgauge-cost": "-2"}.get, policy=policy, now=0, wall_now=0)
    assert bad.cost == 1
    assert len(bad.errors) == 1
    assert b"healthgauge-cost" in policy.header_keys

"""What one scrape can and cannot answer: ``check`` refuses a condition that needs two samples of a
series (before any I/O, exit 3, pointing to the agent), ``query`` over one scrape warns; repeated
series on a page are dropped as Prometheus drops them, and said (``check -v``, ``query``)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from healthgauge.cli import main
from healthgauge.promql import History, compile, needs_history
from healthgauge.testing import MetricsServer

PAGE = 'app_state{job="a"} 1\nreqs_total 10\napp_state{job="a"} 0\nreqs_total 11\nqueue 3\n'


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/metrics"


@pytest.mark.parametrize(
    "text",
    [
        "rate(x[1m]) > 0",
        "irate(x[5m])",
        "increase(x[5m]) == 0 and y > 0",
        "delta(x[5m])",
        "idelta(x[5m])",
        "deriv(x[5m])",
        "predict_linear(x[1h], 3600) < 0",
        "holt_winters(x[5m], 0.5, 0.5)",
        "max_over_time(rate(x[1m])[5m:])",
        "sum by (job) (rate(x[1m] @ end()))",
    ],
)
def test_needs_history_names_the_function(text: str) -> None:
    reason = needs_history(compile(text))
    assert reason is not None
    assert "() needs 2 samples of a series and one scrape has 1" in reason
    assert "healthgauge agent" in reason


@pytest.mark.parametrize(
    "text",
    ["x > 0", "changes(x[5m])", "max_over_time(x[5m:1m])", "time() - x < 60", "absent(x)", "resets(x[5m])"],
)
def test_what_one_scrape_can_answer_needs_no_history(text: str) -> None:
    assert needs_history(compile(text)) is None


def test_check_refuses_before_any_io(capsys: pytest.CaptureFixture[str]) -> None:
    # A closed port: any connection attempt would be exit 2 ("cannot read"), not 3.
    code = main(["check", closed_port_url(), "rate(reqs_total[1m]) > 0"])
    out = capsys.readouterr().out
    assert code == 3
    assert "UNKNOWN" in out
    assert "rate() needs 2 samples" in out
    assert "healthgauge agent" in out


def test_check_refuses_a_warn_condition_too(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", closed_port_url(), "up == 1", "--warn", "deriv(queue[5m]) > 0"])
    assert code == 3
    assert "deriv() needs 2 samples" in capsys.readouterr().out


def test_check_keeps_the_first_of_repeated_series_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with MetricsServer(PAGE) as server:
        code = main(["check", server.url, 'app_state{job="a"} == 1', "-v"])
    out = capsys.readouterr().out
    assert code == 0, out  # Prometheus keeps the first sample (1): a healthy pod stays healthy
    assert "dropped 1 repeated sample(s), as Prometheus does; first: line 3" in out  # app_state's only
    assert 'duplicate series app_state{job="a"} dropped (first on line 1)' in out


def test_query_warns_over_one_scrape_and_of_repeated_series(capsys: pytest.CaptureFixture[str]) -> None:
    with MetricsServer(PAGE) as server:
        code = main(["query", server.url, "rate(reqs_total[1m])"])
        captured = capsys.readouterr()
        assert code == 0
        assert captured.out.strip() == "(no series)"
        assert "warning: " in captured.err
        assert "is one scrape: rate() needs 2 samples" in captured.err
        assert "dropped 1 repeated sample(s)" in captured.err  # reqs_total's: the names it reads
        code = main(["query", "--json", server.url, "app_state"])
        captured = capsys.readouterr()
        assert code == 0
        assert '"value":[' in captured.out
        assert '"1"]' in captured.out  # the first sample, as Prometheus stores it
        assert "rate()" not in captured.err


def test_a_recorded_history_gives_no_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.txt"
    path.write_text("reqs_total 1 10000\nreqs_total 5 20000\n")  # text format: milliseconds
    assert main(["query", "--json", "--at", "20", str(path), "increase(reqs_total[10s])"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert '"value":[20,"4"]' in captured.out


def test_one_scrape_history_evaluates_subqueries_over_its_samples() -> None:
    from support.promql import S

    # Steps on multiples of 1m from the epoch: 720 ... 960 s. The scrape at 960 s is seen by the
    # last step only (a step before it cannot see a later sample), as Prometheus would see it.
    store = History.from_scrape([S("x", 7.0)], 960.0)
    assert compile("max_over_time(x[5m:1m])").condition(store, 1000.0).summary == "got 7"
    assert compile("count_over_time(x[5m:1m])").condition(store, 1000.0).summary == "got 1"
    assert compile("count_over_time(x[5m:10s])").condition(store, 1000.0).summary == "got 5"  # 960..1000

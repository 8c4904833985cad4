"""``healthgauge check`` in-process: every exit code and message, against loopback servers."""

from __future__ import annotations

import _socket
import json
import socket
import time
from pathlib import Path

import pytest

from healthgauge._check import _command as _cmd_check
from healthgauge._check._command import main
from healthgauge.testing import (
    DripServer,
    GzipBombServer,
    HangingServer,
    HugeBodyServer,
    MetricsServer,
    RedirectServer,
    StatusServer,
)
from support.tls import make_certificate, server_context

NOW = 1_700_000_000.0
PAGE = """\
# TYPE app_state gauge
app_state{job="worker"} 1
# TYPE app_last_iteration_ts gauge
app_last_iteration_ts{job="worker"} 1699999687.6
# TYPE queue_depth gauge
queue_depth{queue="default"} 500
queue_depth{queue="bulk"} 3
"""


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scrape and evaluation at NOW, so observed ages are exact."""
    monkeypatch.setattr(_cmd_check, "time", lambda: NOW)


@pytest.fixture(scope="module")
def server() -> MetricsServer:
    with MetricsServer(PAGE) as s:
        yield s  # type: ignore[misc]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and output, the first line without its Nagios performance data (tested apart)."""
    code, out = run_with_perfdata(argv, capsys)
    first, newline, rest = out.partition("\n")
    return code, first.partition(" | ")[0] + newline + rest


def run_with_perfdata(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    if "--help" not in argv and not any(arg.partition("=")[0] == "--timeout" for arg in argv):
        # The default 1 s passed once in CI-like load (3 test runs and a busy core on 2 cores), with
        # the endpoint in this process: a loaded machine must not turn an answer into a deadline.
        argv = ["--timeout", "10", *argv]
    code = main(argv)
    captured = capsys.readouterr()
    assert captured.err == ""
    return code, captured.out


def refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/metrics"


# -- 0, 1, 2 from the conditions ------------------------------------------------------------------


def test_ok(server: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run([server.url, 'app_state{job="worker"} == 1'], capsys) == (0, "OK - 1 condition holds\n")
    code, out = run([server.url, "app_state == 1", "time() - app_last_iteration_ts < 600"], capsys)
    assert (code, out) == (0, "OK - 2 conditions hold\n")


def test_warn(server: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run([server.url, "app_state == 1", "--warn", 'queue_depth{queue="default"} > 100'], capsys)
    assert (code, out) == (1, 'WARN - queue_depth{queue="default"} > 100: got 500\n')


def test_warn_that_does_not_hold_is_ok(server: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run([server.url, "app_state == 1", "--warn", "queue_depth > 1000"], capsys)
    assert (code, out) == (0, "OK - 1 condition holds\n")


def test_fail_names_the_condition_and_the_observed_value(
    server: MetricsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run([server.url, "app_state == 1", "time() - app_last_iteration_ts < 60"], capsys)
    assert (code, out) == (2, "FAIL - time() - app_last_iteration_ts < 60: got 312.4\n")


def test_fail_beats_warn(server: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run([server.url, "app_state == 0", "--warn", "queue_depth > 100"], capsys)
    assert (code, out) == (2, "FAIL - app_state == 0: got 1\n")


def test_missing_metric_fails_closed(server: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run([server.url, "app_up == 1"], capsys)
    assert (code, out) == (2, "FAIL - app_up == 1: no series matched app_up\n")


def test_every_failing_condition_is_named(server: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run([server.url, "app_state == 0", "queue_depth > 1000"], capsys)
    assert code == 2
    assert out == 'FAIL - app_state == 0: got 1; queue_depth > 1000: got 500 {queue="default"}, 3 {queue="bulk"}\n'


def test_regex_matcher_reads_every_name(capsys: pytest.CaptureFixture[str]) -> None:
    with MetricsServer(PAGE) as server:
        code, out = run([server.url, '{__name__=~"app_.*", job="worker"} > 0'], capsys)
    assert (code, out) == (0, "OK - 1 condition holds\n")


# -- 2: the page could not be read -----------------------------------------------------------------


def test_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    url = refused_url()
    code, out = run([url, "up == 1"], capsys)
    assert code == 2
    assert out.startswith(f"FAIL - cannot read {url}: connection refused connecting to 127.0.0.1:")


def test_unresolvable_host(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def no_such_name(*args: object) -> object:  # glibc's answer, without a DNS query leaving loopback
        raise _socket.gaierror(_socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(_socket, "getaddrinfo", no_such_name)
    code, out = run(["http://metrics.example:9100/metrics", "up == 1"], capsys)
    assert (code, out) == (
        2,
        "FAIL - cannot read http://metrics.example:9100/metrics: "
        "cannot resolve host 'metrics.example': name or service not known\n",
    )


def test_hung_endpoint_is_cut_off_on_time(capsys: pytest.CaptureFixture[str]) -> None:
    with HangingServer() as server:
        start = time.monotonic()
        code, out = run([server.url, "up == 1", "--timeout", "0.3"], capsys)
        elapsed = time.monotonic() - start
    assert (code, out) == (2, f"FAIL - cannot read {server.url}: deadline passed (read headers)\n")
    assert 0.3 <= elapsed < 1.5  # the server would take seconds; the rest is a loaded machine's slack


def test_slow_drip_is_cut_off_on_time(capsys: pytest.CaptureFixture[str]) -> None:
    with DripServer(PAGE, interval=0.01) as server:
        start = time.monotonic()
        code, out = run([server.url, "up == 1", "--timeout=300ms"], capsys)
        elapsed = time.monotonic() - start
    assert code == 2
    assert out.startswith(f"FAIL - cannot read {server.url}: deadline passed (read ")
    assert 0.3 <= elapsed < 1.5  # the server would take seconds; the rest is a loaded machine's slack


def test_404(capsys: pytest.CaptureFixture[str]) -> None:
    with StatusServer(404) as server:
        code, out = run([server.url, "up == 1"], capsys)
    assert (code, out) == (2, f"FAIL - cannot read {server.url}: HTTP 404 Not Found\n")


def test_same_host_redirects(capsys: pytest.CaptureFixture[str]) -> None:
    with RedirectServer(PAGE, hops=3) as server:
        assert run([server.url, "app_state == 1"], capsys) == (0, "OK - 1 condition holds\n")
    with RedirectServer(PAGE, hops=4) as server:
        code, out = run([server.url, "app_state == 1"], capsys)
    assert code == 2
    assert out.startswith(f"FAIL - cannot read {server.url}: more than 3 redirects (the last to ")


def test_redirect_to_another_host_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with RedirectServer(location="http://localhost:1/metrics") as server:
        code, out = run([server.url, "app_state == 1"], capsys)
    assert code == 2
    assert "HTTP 302 to another host (http://localhost:1/metrics): not followed" in out


def test_gzip_bomb(capsys: pytest.CaptureFixture[str]) -> None:
    with GzipBombServer() as server:
        code, out = run([server.url, "up == 1", "--timeout", "5"], capsys)
    assert (code, out) == (2, f"FAIL - cannot read {server.url}: gzip body inflates past the 16777216-byte cap\n")


def test_100_mb_body(capsys: pytest.CaptureFixture[str]) -> None:
    with HugeBodyServer() as server:
        code, out = run([server.url, "up == 1", "--timeout", "5", "--max-bytes", "1000000"], capsys)
    assert (code, out) == (2, f"FAIL - cannot read {server.url}: body over the 1000000-byte cap\n")


def test_malformed_line_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    page = 'app_state{job="a"} 1\napp_state{job="b"} x1\n'
    with MetricsServer(page) as server:
        code, out = run([server.url, "app_state == 1"], capsys)
    assert code == 2
    assert out.startswith(f"FAIL - invalid exposition at {server.url}: line 2, column ")
    assert out.endswith(': app_state{job="b"} x1\n')


def test_lines_of_metrics_no_condition_reads_are_not_validated(capsys: pytest.CaptureFixture[str]) -> None:
    # The price of parsing only what the conditions read (what keeps a 10k-series page fast):
    # `promtool check metrics` or `healthgauge query` validate a whole page.
    with MetricsServer('app_state 1\nother{a="b"} x1\n') as server:
        assert run([server.url, "app_state == 1"], capsys) == (0, "OK - 1 condition holds\n")
        code, out = run([server.url, "app_state == 1", '{__name__=~"oth.*"}'], capsys)
    assert code == 2
    assert "line 2, column " in out


# -- 3: the command itself is wrong, refused before any network I/O -------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--frobnicate"], "UNKNOWN - unknown flag '--frobnicate' (healthgauge check --help lists them)"),
        (["app_state =="], "UNKNOWN - invalid PromQL: "),
        (["--warn", "rate(x[5m]"], "UNKNOWN - invalid PromQL: "),
        (["--timeout", "0"], "UNKNOWN - --timeout '0' is not a positive number of seconds"),
        (["--header", "Bad Name: x"], "UNKNOWN - invalid header name 'Bad Name'"),
        (["--bearer-token-file", "/t", "--header", "Authorization: x"], "UNKNOWN - --bearer-token-file and an"),
        (["--ca-file", "/nonexistent/ca.pem"], "UNKNOWN - cannot read --ca-file '/nonexistent/ca.pem': No such file"),
    ],
)
def test_bad_command_line_is_unknown_before_any_io(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with MetricsServer(PAGE) as server:
        code, out = run([server.url, "app_state == 1", *argv], capsys)
        accepted = len(server.requests)
    assert code == 3
    assert out.startswith(message), out
    assert accepted == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ftp://h/metrics", "up"], "UNKNOWN - invalid URL 'ftp://h/metrics': scheme 'ftp' is not http or https\n"),
        (["app_state == 1", "up"], "UNKNOWN - invalid URL 'app_state == 1': it contains whitespace"),
        ([], "UNKNOWN - no URL given"),
        (["http://h/"], "UNKNOWN - no condition given"),
    ],
)
def test_bad_url_is_unknown(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(argv, capsys)
    assert code == 3
    assert out.startswith(message)


def test_bearer_token_file_missing_or_empty_is_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with MetricsServer(PAGE) as server:
        missing = run([server.url, "up", "--bearer-token-file", str(tmp_path / "nope")], capsys)
        blank = run([server.url, "up", "--bearer-token-file", str(empty)], capsys)
        assert server.requests == []
    assert missing[0] == 3
    assert missing[1].startswith(f"UNKNOWN - cannot read --bearer-token-file '{tmp_path}/nope': No such file")
    assert blank == (3, f"UNKNOWN - --bearer-token-file '{empty}' is empty\n")


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["--help"], capsys)
    assert code == 0
    assert out.startswith("usage: healthgauge check URL EXPR")


# -- request details -----------------------------------------------------------------------------


def test_headers_and_bearer_token_are_sent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    with MetricsServer(PAGE) as server:
        argv = [server.url, "app_state == 1", "--header", "X-Probe: kubelet", "--bearer-token-file", str(token)]
        assert run(argv, capsys)[0] == 0
    [request] = server.requests
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["x-probe"] == "kubelet"
    assert request.headers["accept-encoding"] == "gzip"


@pytest.mark.parametrize(("gzip", "chunked"), [(True, False), (False, True), (True, True)])
def test_gzip_and_chunked_pages(gzip: bool, chunked: bool, capsys: pytest.CaptureFixture[str]) -> None:
    with MetricsServer(PAGE, gzip=gzip, chunked=chunked) as server:
        assert run([server.url, "app_state == 1"], capsys) == (0, "OK - 1 condition holds\n")


def test_openmetrics_page(capsys: pytest.CaptureFixture[str]) -> None:
    page = "# TYPE app_state gauge\napp_state 1\n# EOF\n"
    with MetricsServer(page, content_type="application/openmetrics-text; version=1.0.0; charset=utf-8") as server:
        assert run([server.url, "app_state == 1"], capsys) == (0, "OK - 1 condition holds\n")


def test_https(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert, key = make_certificate(tmp_path)
    with MetricsServer(PAGE, tls=server_context(cert, key)) as server:
        code, out = run([server.url, "app_state == 1"], capsys)
        assert code == 2
        assert "certificate verification failed" in out
        assert run([server.url, "app_state == 1", "--insecure"], capsys) == (0, "OK - 1 condition holds\n")
        assert run([server.url, "app_state == 1", "--ca-file", str(cert)], capsys)[0] == 0


# -- drop-in flags ---------------------------------------------------------------------------------

LEGACY = f"""\
worker_up{{worker="a"}} 1
worker_up{{worker="b"}} 1
worker_ts{{worker="a"}} {NOW - 10}
worker_ts{{worker="b"}} {NOW - 30}
worker_ms{{worker="a"}} {(NOW - 10) * 1000:.0f}
worker_ms{{worker="b"}} {(NOW - 20) * 1000:.0f}
stale_ts{{worker="a"}} {NOW - 10}
stale_ts{{worker="b"}} {NOW - 312.5}
stale_ts{{worker="c"}} {NOW - 5}
future_ts {NOW + 3600}
down_up{{worker="a"}} 1
down_up{{worker="b"}} 0
nan_ts NaN
"""


@pytest.fixture(scope="module")
def legacy() -> MetricsServer:
    with MetricsServer(LEGACY) as s:
        yield s  # type: ignore[misc]


def test_drop_in_flags_pass(legacy: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--url", legacy.url, "--check-up", "worker_up", "--check-fresh", "worker_ts", "worker_ms"]
    code, out = run([*argv, "--fresh-for", "60"], capsys)
    assert (code, out) == (0, "OK - 3 conditions hold\n")


def test_drop_in_milliseconds_are_detected(legacy: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["--url", legacy.url, "--check-fresh", "worker_ms", "--fresh-for", "15"], capsys)
    assert (code, out) == (2, 'FAIL - time() - worker_ms <= 15: got 20 {worker="b"}\n')


def test_drop_in_one_stale_series_of_several_fails(legacy: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["--url", legacy.url, "--check-fresh", "stale_ts", "--fresh-for", "60"], capsys)
    assert (code, out) == (2, 'FAIL - time() - stale_ts <= 60: got 312.5 {worker="b"}\n')


def test_drop_in_future_timestamp_fails(legacy: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["--url", legacy.url, "--check-fresh", "future_ts", "--fresh-for", "60"], capsys)
    assert code == 2
    assert out == (
        "FAIL - time() - future_ts <= 60: got -3600"
        " (a negative age is a timestamp in the future; over 60 s ahead fails)\n"
    )


def test_drop_in_nan_and_missing_fail(legacy: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["--url", legacy.url, "--check-fresh", "nan_ts,gone_ts", "--fresh-for", "60"], capsys)
    assert (code, out) == (
        2,
        "FAIL - time() - nan_ts <= 60: got NaN; time() - gone_ts <= 60: no series matched gone_ts\n",
    )


def test_drop_in_up_on_every_series(legacy: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["--url", legacy.url, "--check-up", "down_up,worker_up"], capsys)
    assert (code, out) == (2, 'FAIL - down_up >= 1: got 0 {worker="b"}\n')


def test_drop_in_mixes_with_expressions(legacy: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["--url", legacy.url, "--check-up", "worker_up", "count(worker_up) == 2"], capsys)
    assert (code, out) == (0, "OK - 2 conditions hold\n")


# -- --json and --verbose -------------------------------------------------------------------------


def test_json_fail(server: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [server.url, "app_state == 1", "time() - app_last_iteration_ts < 60", "--warn", "queue_depth > 100"]
    code, out = run([*argv, "--json"], capsys)
    doc = json.loads(out)
    assert code == 2
    assert doc["status"] == "fail"
    assert doc["code"] == 2
    assert doc["output"] == "FAIL - time() - app_last_iteration_ts < 60: got 312.4"
    assert doc["url"] == server.url
    assert doc["error"] is None
    assert doc["conditions"] == [
        {
            "expr": "app_state == 1",
            "warn": False,
            "holds": True,
            "summary": "got 1",
            "values": [{"labels": {"__name__": "app_state", "job": "worker"}, "value": "1"}],
            "error": None,
        },
        {
            "expr": "time() - app_last_iteration_ts < 60",
            "warn": False,
            "holds": False,
            "summary": "got 312.4",
            "values": [{"labels": {"job": "worker"}, "value": repr(NOW - 1699999687.6)}],
            "error": None,
        },
        {
            "expr": "queue_depth > 100",
            "warn": True,
            "holds": True,
            "summary": "got 500",
            "values": [{"labels": {"__name__": "queue_depth", "queue": "default"}, "value": "500"}],
            "error": None,
        },
    ]


def test_json_ok_warn_unknown_and_unreadable(server: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    ok = json.loads(run([server.url, "app_state == 1", "--json"], capsys)[1])
    assert (ok["status"], ok["code"], ok["output"]) == ("ok", 0, "OK - 1 condition holds")
    warn = json.loads(run([server.url, "app_state == 1", "--warn", "queue_depth > 100", "--json"], capsys)[1])
    assert (warn["status"], warn["code"]) == ("warn", 1)
    code, out = run([server.url, "app_state ==", "--json"], capsys)
    unknown = json.loads(out)
    assert (code, unknown["status"], unknown["error"]["kind"]) == (3, "unknown", "usage")
    assert unknown["conditions"] == []
    code, out = run([refused_url(), "up", "--json"], capsys)
    down = json.loads(out)
    assert (code, down["status"], down["error"]["kind"]) == (2, "fail", "connect")
    assert down["error"]["message"].startswith("cannot read http://127.0.0.1:")


def test_json_values_nan_and_inf(capsys: pytest.CaptureFixture[str]) -> None:
    with MetricsServer("a NaN\nb +Inf\nc -Inf\n") as server:
        doc = json.loads(run([server.url, "a", "b", "c", "--json"], capsys)[1])
    assert [c["values"][0]["value"] for c in doc["conditions"]] == ["NaN", "+Inf", "-Inf"]


def test_verbose(server: MetricsServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run([server.url, "app_state == 1", "--warn", "queue_depth > 100", "-v"], capsys)
    lines = out.splitlines()
    assert code == 1
    assert lines[0] == "WARN - queue_depth > 100: got 500"
    assert lines[1].startswith(f"fetched {server.url}: HTTP 200, {len(PAGE)} bytes in ")
    assert "parsed 3 samples of app_state, queue_depth in " in lines[1]
    assert lines[2:] == ["[OK] app_state == 1: got 1", "[WARN] --warn queue_depth > 100: got 500"]


def test_perfdata_as_the_readme_shows_it(capsys: pytest.CaptureFixture[str]) -> None:
    with MetricsServer('queue_depth{queue="default"} 1500\nqueue_depth{queue="bulk"} 12\n') as server:
        code, out = run_with_perfdata([server.url, "queue_depth < 10"], capsys)
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert code == 2
    assert f"`{out.strip()}`" in readme, out

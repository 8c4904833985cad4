"""The hand-written command line of ``healthgauge check``: every flag, every refusal."""

import pytest

from healthgauge._check._args import USAGE, UsageError, parse_args, parse_seconds


def test_url_exprs_and_flags() -> None:
    o = parse_args(
        [
            "http://h/metrics",
            "app_up == 1",
            "--warn",
            "queue > 10",
            "--warn=lag > 5",
            "--timeout",
            "2.5",
            "--header",
            "X-A:  b ",
            "--bearer-token-file",
            "/t",
            "--json",
            "-v",
            "--insecure",
            "--ca-file=/ca",
            "--max-bytes",
            "1000",
            "time() - ts < 60",
        ]
    )
    assert o.url == "http://h/metrics"
    assert o.exprs == ["app_up == 1", "time() - ts < 60"]
    assert o.warns == ["queue > 10", "lag > 5"]
    assert (o.timeout, o.headers, o.bearer_token_file) == (2.5, [("X-A", "b")], "/t")
    assert (o.json, o.verbose, o.insecure, o.ca_file, o.max_bytes) == (True, True, True, "/ca", 1000)


def test_defaults() -> None:
    o = parse_args(["http://h/", "up"])
    assert (o.timeout, o.json, o.verbose, o.insecure, o.max_bytes, o.headers) == (1.0, False, False, False, None, [])


def test_double_dash_and_negative_numbers_are_expressions() -> None:
    assert parse_args(["http://h/", "--", "-x < 0", "--json"]).exprs == ["-x < 0", "--json"]
    assert parse_args(["http://h/", "-1 < up"]).exprs == ["-1 < up"]


@pytest.mark.parametrize(("text", "seconds"), [("1", 1.0), ("0.25", 0.25), ("500ms", 0.5), ("2s", 2.0), ("1e-1", 0.1)])
def test_seconds(text: str, seconds: float) -> None:
    assert parse_seconds("--timeout", text) == seconds


def test_drop_in_flags() -> None:
    o = parse_args(
        [
            "--url",
            "http://h/m",
            "--check-up",
            "app_up",
            "db_up,cache_up",
            "--check-fresh=last_ts",
            "--check-fresh",
            "other:ts",
            "--fresh-for",
            "60",
        ]
    )
    assert o.url == "http://h/m"
    assert o.exprs == []
    assert o.check_up == ["app_up", "db_up", "cache_up"]
    assert o.check_fresh == ["last_ts", "other:ts"]
    assert (o.fresh_for, o.fresh_for_text) == (60.0, "60")


def test_help_wins_and_documents_every_flag() -> None:
    assert parse_args(["--help", "--no-such"]).help
    assert parse_args(["http://h/", "-h"]).help
    for flag in ("--warn", "--timeout", "--header", "--bearer-token-file", "--json", "--verbose", "--insecure"):
        assert flag in USAGE
    for flag in ("--ca-file", "--max-bytes", "--url", "--check-up", "--check-fresh", "--fresh-for"):
        assert flag in USAGE


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "no URL given"),
        (["http://h/"], "no condition given"),
        (["http://h/", "up", "--frobnicate"], "unknown flag '--frobnicate'"),
        (["http://h/", "up", "-x"], "unknown flag '-x'"),
        (["http://h/", "up", "--json=yes"], "unknown flag '--json=yes'"),
        (["http://h/", "up", "--timeout"], "--timeout needs a value"),
        (["http://h/", "up", "--timeout", "0"], "--timeout '0' is not a positive number of seconds up to 3600"),
        (["http://h/", "up", "--timeout", "-1"], "--timeout '-1' is not a positive number"),
        (["http://h/", "up", "--timeout", "nan"], "--timeout 'nan' is not a positive number"),
        (["http://h/", "up", "--timeout", "inf"], "--timeout 'inf'"),
        (["http://h/", "up", "--timeout", "1_0"], "--timeout '1_0'"),
        (["http://h/", "up", "--timeout", "fast"], "--timeout 'fast'"),
        (["http://h/", "up", "--header", "novalue"], "--header 'novalue' is not 'Name: value'"),
        (["http://h/", "up", "--max-bytes", "1k"], "--max-bytes '1k' is not a positive whole number"),
        (["--url", "a", "--url", "b", "up"], "--url given twice"),
        (["--url", "http://h/", "--check-up"], "--check-up needs a metric name"),
        (["--url", "http://h/", "--check-up", "not-a-name"], "--check-up needs a metric name"),
        (["--url", "http://h/", "--check-up=a,b-c"], "--check-up 'b-c' is not a metric name"),
        (["--url", "http://h/", "--check-fresh", "ts"], "--check-fresh needs --fresh-for SECONDS"),
        (["--url", "http://h/", "--check-up", "up", "--fresh-for", "9"], "--fresh-for given without --check-fresh"),
        (["--url", "http://h/", "--check-fresh", "ts", "--fresh-for", "0"], "--fresh-for '0' is not a positive"),
    ],
)
def test_refusals_name_the_argument(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_args(argv)
    assert message in str(info.value)

"""names=: only the selected families' lines are read, and those are read in full."""

from __future__ import annotations

import pytest

from healthgauge.exposition import FAMILY_SUFFIXES, ParseError, parse, parse_lenient
from healthgauge.testing import realistic_families, render

OPENMETRICS = "application/openmetrics-text"

PAGE = b"""# HELP rpc_seconds Latency.
# TYPE rpc_seconds histogram
rpc_seconds_bucket{le="0.1"} 1
rpc_seconds_bucket{le="+Inf"} 2
rpc_seconds_sum 0.3
rpc_seconds_count 2
rpc_seconds_other 9
rpc_secondsx 9
xrpc_seconds 9
rpc_seconds 7
up 1
up_total{x="a"} 4
"""


def names_of(data: bytes | str, names: list[str], content_type: str | None = None) -> list[str]:
    return [s.name for s in parse(data, names=names, content_type=content_type)]


def test_a_family_name_selects_its_suffixed_series_and_nothing_else() -> None:
    assert names_of(PAGE, ["rpc_seconds"]) == [
        "rpc_seconds_bucket",
        "rpc_seconds_bucket",
        "rpc_seconds_sum",
        "rpc_seconds_count",
        "rpc_seconds",
    ]
    assert names_of(PAGE, ["rpc_seconds_bucket"]) == ["rpc_seconds_bucket", "rpc_seconds_bucket"]
    assert names_of(PAGE, ["up"]) == ["up", "up_total"]
    assert names_of(PAGE, ["absent"]) == []
    assert names_of(PAGE, []) == []


def test_several_names_come_back_in_page_order_once() -> None:
    assert names_of(PAGE, ["up", "rpc_seconds_sum", "rpc_seconds"]) == [
        "rpc_seconds_bucket",
        "rpc_seconds_bucket",
        "rpc_seconds_sum",
        "rpc_seconds_count",
        "rpc_seconds",
        "up",
        "up_total",
    ]


def test_first_and_last_lines_without_newline() -> None:
    assert names_of(b"up 1", ["up"]) == ["up"]
    assert names_of(b"up 1\nx 2", ["x"]) == ["x"]
    assert names_of("up 1\nx 2", ["x", "up"]) == ["up", "x"]


def test_selected_lines_are_fully_validated_with_their_page_line_numbers() -> None:
    page = b'a 1\nb 2\nup{x="1",x="2"} 1\nc 3\n'
    with pytest.raises(ParseError) as info:
        parse(page, names=["up"])
    assert (info.value.line, info.value.column) == (3, 10)
    assert parse(page, names=["a", "c"]) == [("a", {}, 1.0, None), ("c", {}, 3.0, None)]
    # Duplicates among the selected lines are dropped and said, with their page line.
    dropped: list[ParseError] = []
    assert parse(b"up 1\nz 0\nup 2\n", names=["up"], dropped=dropped) == [("up", {}, 1.0, None)]
    assert [(e.line, e.reason) for e in dropped] == [(3, "duplicate series up dropped (first on line 1)")]


def test_unselected_lines_are_not_validated() -> None:
    page = b"garbage {{{\nup 1\nworse\r\n"
    assert names_of(page, ["up"]) == ["up"]
    with pytest.raises(ParseError):
        parse(page)


def test_crlf_on_a_selected_line_fails_loudly() -> None:
    with pytest.raises(ParseError, match="carriage return"):
        parse(b"a 1\r\nup 1\r\n", names=["up"])


def test_leading_whitespace_is_never_selected() -> None:
    # Prometheus refuses such a line; the family reads as absent, so conditions on it fail closed.
    assert names_of(b"  up 1\n", ["up"]) == []


def test_openmetrics_still_needs_its_eof() -> None:
    assert names_of(b"up 1\n# EOF\n", ["up"], OPENMETRICS) == ["up"]
    assert names_of(b"up 1\n# EOF", ["up"], OPENMETRICS) == ["up"]
    with pytest.raises(ParseError, match="missing '# EOF'"):
        parse(b"up 1\nx 2\n", names=["up"], content_type=OPENMETRICS)
    samples, errors = parse_lenient(b"up 1\nx 2\n", names=["up"], content_type=OPENMETRICS)
    assert [s.name for s in samples] == ["up"]
    assert len(errors) == 1


def test_names_and_full_parse_agree_on_realistic_pages() -> None:
    families = realistic_families(3_000, seed=5)
    for openmetrics in (False, True):
        content_type = OPENMETRICS if openmetrics else None
        fams = realistic_families(3_000, seed=5, openmetrics=openmetrics)
        page = render(fams, openmetrics=openmetrics).encode()
        everything = parse(page, content_type=content_type)
        for family in families[::7]:
            base = family.name.removesuffix("_total")
            wanted = {base + s for s in ("", *FAMILY_SUFFIXES)}
            assert parse(page, names=[base], content_type=content_type) == [s for s in everything if s.name in wanted]


def test_a_multi_line_label_value_on_a_selected_line() -> None:
    assert parse(b'a 1\nup{x="1\n2"} 1\nb 2\n', names=["up"]) == [("up", {"x": "1\n2"}, 1.0, None)]
    assert parse(b'up{x="1\n2"} 1\nb 2\n', names=["b"]) == [("b", {}, 2.0, None)]
    # A continuation line that itself starts with a selected name belongs to the sample before.
    page = b'a 1\nup{x="1\nup 2"} 1\nup_count 3\n'
    selected = parse(page, names=["up"])
    assert selected == [("up", {"x": "1\nup 2"}, 1.0, None), ("up_count", {}, 3.0, None)]
    assert parse(page)[1:] == selected


def test_unterminated_values_on_every_selected_line_stay_linear() -> None:
    page = b'up{x="' + b'\nup{x="' * 20_000 + b"\nup 1\n"
    selected, errors = parse_lenient(page, names=["up"])
    everything, all_errors = parse_lenient(page)
    assert selected == everything == []
    assert [(e.line, e.column, e.reason) for e in errors] == [(e.line, e.column, e.reason) for e in all_errors]
    assert len(errors) == 101


def test_names_on_a_page_with_invalid_utf8() -> None:
    page = b'# HELP x \xff\nup{x="\xc3\xa9"} 1\nbad{x="\xff"} 1\n'
    assert parse(page, names=["up"]) == [("up", {"x": "é"}, 1.0, None)]
    with pytest.raises(ParseError, match="not valid UTF-8"):
        parse(page, names=["bad"])

"""Nagios performance data: whole outputs, single items, round trips and fuzz."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthgauge.probes import Perfdata, PerfdataError, Range, parse_output, parse_perfdata
from healthgauge.probes._perfdata import MAX_ITEMS, parse_item, parse_range


def test_the_guidelines_example_with_long_text_and_perfdata_on_later_lines() -> None:
    out = parse_output(
        "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n"
        "/ 15272 MB (77%);\n"
        "/boot 68 MB (69%);\n"
        "/var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n"
        "/home=69357MB;253404;253409;0;253414\n"
    )
    assert out.text == "DISK OK - free space: / 3326 MB (56%);"
    assert out.long_text == "/ 15272 MB (77%);\n/boot 68 MB (69%);\n/var/log 819 MB (84%);"
    assert [p.label for p in out.perfdata] == ["/", "/boot", "/home"]
    assert out.perfdata[0] == Perfdata("/", 2643.0, "MB", Range(0, 5948), Range(0, 5958), 0.0, 5968.0)
    assert out.errors == ()


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("time=0.002s", Perfdata("time", 0.002, "s")),
        ("'query time'=12ms;50;100", Perfdata("query time", 12.0, "ms", Range(0, 50), Range(0, 100))),
        ("'it''s'=1", Perfdata("it's", 1.0)),
        ("load=U;;;0", Perfdata("load", math.nan, "", None, None, 0.0)),
        ("x=-1.5e3c;~:10;@5:20", Perfdata("x", -1500.0, "c", Range(-math.inf, 10), Range(5, 20, inside=True))),
        ("pct=99%;90:;95:", Perfdata("pct", 99.0, "%", Range(90, math.inf), Range(95, math.inf))),
        ("a=1;;;", Perfdata("a", 1.0)),
    ],
)
def test_items(token: str, expected: Perfdata) -> None:
    got = parse_item(token)
    if math.isnan(expected.value):
        assert math.isnan(got.value)
        got = Perfdata(got.label, math.nan, got.uom, got.warn, got.crit, got.min, got.max)
        assert (got.label, got.uom, got.min) == (expected.label, expected.uom, expected.min)
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("novalue", "no '='"),
        ("=1", "an empty label"),
        ("'open=1", "quote is not closed"),
        ("'a'1", "no '=' after the quoted label"),
        ("a=fast", "is not a number"),
        ("a=1parsecs", "unknown unit"),
        ("a=1;2;3;4;5;6", "more than 5 fields"),
        ("a=1;20:10", "invalid threshold range"),
        ("a=1;;;zero", "is not a number"),
    ],
)
def test_malformed_items_say_why(token: str, message: str) -> None:
    with pytest.raises(PerfdataError, match=message):
        parse_item(token)


def test_bad_items_never_hide_good_ones() -> None:
    items, errors = parse_perfdata("a=1 garbage b=2s c=x")
    assert [i.label for i in items] == ["a", "b"]
    assert len(errors) == 2
    assert '"garbage"' in errors[0]


def test_output_without_perfdata_or_with_nothing() -> None:
    assert parse_output("OK - fine").perfdata == ()
    assert parse_output("").text == ""
    assert parse_output("\x00\xff binary | \x01=").errors


def test_items_are_capped() -> None:
    items, errors = parse_perfdata(" ".join(f"m{i}=1" for i in range(MAX_ITEMS + 5)))
    assert len(items) == MAX_ITEMS
    assert errors == (f"more than {MAX_ITEMS} performance data items: the rest are ignored",)


@pytest.mark.parametrize(
    ("text", "value", "alerts"),
    [
        ("10", 11, True),
        ("10", 5, False),
        ("10", -1, True),
        ("10:", 9, True),
        ("~:10", -99, False),
        ("10:20", 15, False),
        ("@10:20", 15, True),
        ("@10:20", 25, False),
    ],
)
def test_ranges_alert_as_the_guidelines_say(text: str, value: float, alerts: bool) -> None:
    assert parse_range(text).alerts(value) is alerts


labels = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=12)
numbers = st.floats(allow_nan=False, allow_infinity=False, width=32)
units = st.sampled_from(["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"])


def render(item: Perfdata) -> str:
    label = "'" + item.label.replace("'", "''") + "'"
    fields = [f"{item.value!r}{item.uom}"]
    fields.append("" if item.warn is None else f"{item.warn.end!r}")
    fields.append("" if item.crit is None else f"{item.crit.end!r}")
    fields.append("" if item.min is None else f"{item.min!r}")
    fields.append("" if item.max is None else f"{item.max!r}")
    return f"{label}={';'.join(fields)}"


ends = st.one_of(st.none(), st.floats(min_value=0, max_value=1e9, allow_nan=False))
items = st.builds(
    lambda label, value, uom, warn, crit, low, high: Perfdata(
        label,
        float(value),
        uom,
        None if warn is None else Range(0.0, warn),
        None if crit is None else Range(0.0, crit),
        low,
        high,
    ),
    labels,
    numbers,
    units,
    ends,
    ends,
    st.one_of(st.none(), numbers),
    st.one_of(st.none(), numbers),
)


@given(st.lists(items, max_size=8))
def test_round_trip(written: list[Perfdata]) -> None:
    text = "OK - fine | " + " ".join(render(i) for i in written)
    out = parse_output(text)
    assert out.errors == ()
    assert list(out.perfdata) == written


@given(st.text(max_size=300))
def test_fuzz_only_our_error_escapes_and_counts_add_up(text: str) -> None:
    out = parse_output(text)
    assert len(out.perfdata) <= MAX_ITEMS
    assert all(isinstance(e, str) and e for e in out.errors)


@given(st.binary(max_size=300))
def test_fuzz_bytes_decoded_as_a_plugin_probe_does(data: bytes) -> None:
    parse_output(data.decode("utf-8", "replace"))


@given(st.text(max_size=80))
def test_fuzz_an_item_raises_only_perfdata_error(token: str) -> None:
    message = ""
    try:
        parse_item(token)
    except PerfdataError as exc:
        message = str(exc)
        assert message.startswith('"'), message

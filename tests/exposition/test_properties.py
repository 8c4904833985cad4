"""Properties: rendered families parse back to themselves (round trip); the fast path and the full
grammar agree on every page, valid or not; arbitrary bytes only ever raise ParseError."""

from __future__ import annotations

import math
import string

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from healthgauge.exposition import ParseError, Sample, parse, parse_lenient
from healthgauge.testing import Exemplar, Family, realistic_page, render
from support.exposition_cases import full_grammar_only

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_START = string.ascii_letters + "_"
_REST = _START + string.digits
metric_names = st.builds(
    lambda first, rest: first + rest, st.sampled_from(_START + ":"), st.text(st.sampled_from(_REST + ":"), max_size=12)
)
label_names = st.builds(
    lambda first, rest: first + rest, st.sampled_from(_START), st.text(st.sampled_from(_REST), max_size=8)
).filter(lambda n: n != "__name__")
# Anything UTF-8 can carry (no lone surrogates), weighted towards what needs escaping.
label_values = st.text(st.sampled_from('ab "\\\n\t{},=#é☃') | st.characters(exclude_categories=("Cs",)), max_size=8)
values = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def families(draw: st.DrawFn, *, openmetrics: bool) -> list[Family]:
    """Families with distinct series (a repeated series is a different property: an error)."""
    out = []
    seen: set[object] = set()
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["counter", "gauge", "histogram", "summary", "untyped"]))
        base = draw(metric_names)
        names = {"counter": [base + "_total"], "histogram": [base + "_bucket", base + "_sum"]}.get(kind, [base])
        samples = []
        exemplars = {}
        for _ in range(draw(st.integers(0, 4))):
            name = draw(st.sampled_from(names))
            labels = draw(st.dictionaries(label_names, label_values, max_size=3))
            if openmetrics:
                stamp = draw(st.none() | st.integers(-(2**40), 2**40).map(lambda ms: ms / 1000))
            else:
                stamp = draw(st.none() | st.integers(0, 2**50).map(lambda ms: ms / 1000))
            key = (name, frozenset((k, v) for k, v in labels.items() if v), stamp is None)
            if key in seen:
                continue
            seen.add(key)
            if openmetrics and name.endswith(("_total", "_bucket")) and draw(st.booleans()):
                ex_labels = draw(st.dictionaries(label_names, label_values, max_size=2))
                exemplars[len(samples)] = Exemplar(labels=ex_labels, value=draw(values), timestamp=stamp)
            samples.append(Sample(name, labels, draw(values), stamp))
        help_text = draw(st.none() | st.text(st.characters(exclude_categories=("Cs",)), max_size=10))
        family_name = base if openmetrics or kind != "counter" else base + "_total"
        out.append(Family(name=family_name, type=kind, help=help_text, samples=tuple(samples), exemplars=exemplars))
    return out


def comparable(samples: list[Sample]) -> list[tuple[object, ...]]:
    """NaN equal to NaN, -0.0 apart from 0.0, and an empty label value absent, as in Prometheus."""
    return [(s.name, {k: v for k, v in s.labels.items() if v}, repr(s.value), s.timestamp) for s in samples]


@FAST
@given(families(openmetrics=False))
def test_text_round_trip(fams: list[Family]) -> None:
    page = render(fams)
    expected = comparable([s for f in fams for s in f.samples])
    assert comparable(parse(page.encode())) == expected
    with full_grammar_only():
        assert comparable(parse(page)) == expected


@FAST
@given(families(openmetrics=True))
def test_openmetrics_round_trip(fams: list[Family]) -> None:
    page = render(fams, openmetrics=True)
    expected = comparable([s for f in fams for s in f.samples])
    assert comparable(parse(page.encode(), content_type=OPENMETRICS)) == expected
    with full_grammar_only():
        assert comparable(parse(page, content_type=OPENMETRICS)) == expected


@FAST
@given(families(openmetrics=False), st.data())
def test_names_selects_exactly_those_families(fams: list[Family], data: st.DataObject) -> None:
    page = render(fams).encode()
    everything = parse(page)
    names = data.draw(st.lists(st.sampled_from([f.name for f in fams] or ["absent"]), max_size=2))
    if not names:
        return
    suffixes = ("", "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info")
    wanted = {n + s for n in names for s in suffixes}
    assert comparable(parse(page, names=names)) == comparable([s for s in everything if s.name in wanted])


# -- the fast path and the full grammar agree, whatever the page --------------------------------------


def outcome(page: bytes, content_type: str | None) -> object:
    try:
        return comparable(parse(page, content_type=content_type))
    except ParseError as err:
        return ("error", err.line, err.column, err.reason)


edits = st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.sampled_from(list(' \t\r\n"\\{},=#_.-+eE1aZ:\x00é'))),
    min_size=1,
    max_size=4,
)


def mutate(page: bytes, changes: list[tuple[int, int, str]]) -> bytes:
    """Insert, replace or delete single characters: near-valid pages, where bugs live."""
    text = bytearray(page)
    for position, how, char in changes:
        at = position % (len(text) + 1)
        piece = char.encode()
        if how == 0:
            text[at:at] = piece
        elif how == 1:
            text[at : at + 1] = piece
        else:
            del text[at : at + 1]
    return bytes(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 40), st.integers(0, 2**16), st.booleans(), edits)
@example(3, 0, False, [(20, 0, "\r")])
def test_fast_path_and_full_grammar_agree_on_mutated_pages(
    size: int, seed: int, openmetrics: bool, changes: list[tuple[int, int, str]]
) -> None:
    content_type = OPENMETRICS if openmetrics else None
    page = mutate(realistic_page(size, seed=seed, openmetrics=openmetrics).encode(), changes)
    fast = outcome(page, content_type)
    with full_grammar_only():
        full = outcome(page, content_type)
    event("refused" if isinstance(fast, tuple) else "accepted")
    assert fast == full


ESCAPES = (
    b"# HELP e Escapes: \\\\ and \\n.\n# TYPE e gauge\n"
    b'e{path="C:\\\\dir\\\\",q="say \\"hi\\"",n="a\\nb",odd="\\q\\t"} 1\n'
    b'e{path="\\\\\\"x",q="",n="\\\\n"} 2 1700000000000\n'
    b'e_total{a="\\"\\"\\"",b="}"} 3\n'
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), edits)
def test_fast_path_and_full_grammar_agree_on_mutated_escapes(
    openmetrics: bool, changes: list[tuple[int, int, str]]
) -> None:
    content_type = OPENMETRICS if openmetrics else None
    page = mutate(ESCAPES + (b"# EOF\n" if openmetrics else b""), changes)
    fast = outcome(page, content_type)
    with full_grammar_only():
        full = outcome(page, content_type)
    event("refused" if isinstance(fast, tuple) else "accepted")
    assert fast == full


# -- fuzz: only ParseError escapes --------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(
    st.binary(max_size=300) | st.text(max_size=200).map(str.encode),
    st.sampled_from([None, OPENMETRICS]),
    st.none() | st.lists(st.sampled_from(["a", "a_b", "x:y", "up"]), max_size=2),
)
def test_arbitrary_bytes_raise_only_parse_error(data: bytes, content_type: str | None, names: list[str] | None) -> None:
    error: ParseError | None = None
    try:
        samples = parse(data, content_type=content_type, names=names)
    except ParseError as err:
        error = err
    if error is not None:
        assert error.line >= 0
        assert error.column >= 0
        assert str(error)
    else:
        assert all(isinstance(s, Sample) for s in samples)
    samples, errors = parse_lenient(data, content_type=content_type, names=names)
    assert all(isinstance(e, ParseError) for e in errors)


@settings(max_examples=300, deadline=None)
@given(st.text(string.printable + '"\\{}é', max_size=200), st.sampled_from([None, OPENMETRICS]))
def test_arbitrary_text_raises_only_parse_error(text: str, content_type: str | None) -> None:
    try:
        parse(text, content_type=content_type)
    except ParseError:
        pass


def test_nan_and_infinities_survive() -> None:
    page = render([Family(name="x", samples=(Sample("x", {"k": "1"}, math.nan), Sample("x", {"k": "2"}, -math.inf)))])
    [a, b] = parse(page)
    assert math.isnan(a.value)
    assert b.value == -math.inf

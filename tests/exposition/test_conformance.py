"""The conformance table (cases.py) against our parser: the fast path as shipped, and the full
grammar alone (every line through the scanner), which must agree line for line."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from healthgauge.exposition import ParseError, Sample, parse, parse_lenient
from support.exposition_cases import CASES, Case, Expected, T, fill, full_grammar_only

Normal = tuple[str, tuple[tuple[str, str], ...], str, float | None]


def normal(name: str, labels: dict[str, str], value: float, timestamp: float | None) -> Normal:
    """Comparable form: NaN equal to NaN, -0.0 distinct from 0.0, labels as sorted items."""
    return name, tuple(sorted(labels.items())), repr(value), timestamp


def expected(samples: tuple[Expected, ...]) -> list[Normal]:
    return [normal(n, labels, v, None if ts is None else (T + ts) / 1000) for n, labels, v, ts in samples]


def got(samples: list[Sample]) -> list[Normal]:
    return [normal(s.name, dict(s.labels), s.value, s.timestamp) for s in samples]


def check(case: Case, parser: Callable[..., list[Sample]]) -> None:
    page = fill(case.page, T)
    if case.prometheus == "keeps-first":
        # Accepted as Prometheus accepts it: the first sample kept, the repeat dropped and said.
        assert case.error is not None
        dropped: list[ParseError] = []
        samples = parser(page, content_type=case.content_type(), dropped=dropped)
        assert samples[0].value == 1.0  # every duplicate case states its series first with value 1
        assert [(e.line, e.column) for e in dropped] == [case.error[:2]]
        assert case.error[2] in dropped[0].reason
        assert "dropped" in dropped[0].reason
        assert parser(page, content_type=case.content_type()) == samples  # without the list: the same
        return
    if case.samples is not None:
        assert got(parser(page, content_type=case.content_type())) == expected(case.samples)
        return
    assert case.error is not None
    line, column, words = case.error
    with pytest.raises(ParseError) as info:
        parser(page, content_type=case.content_type())
    err = info.value
    assert words in err.reason, str(err)
    assert (err.line, err.column) == (line, column), str(err)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case: Case) -> None:
    check(case, parse)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_full_grammar(case: Case) -> None:
    with full_grammar_only():
        check(case, parse)


def utf8(page: bytes) -> bool:
    try:
        page.decode()
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("case", [c for c in CASES if utf8(c.page)], ids=lambda c: c.id)
def test_case_as_str(case: Case) -> None:
    """A str page reads as its UTF-8 bytes do (a page that is not UTF-8 has no str form)."""
    text = fill(case.page, T).decode()
    check(case, lambda page, **kw: parse(text, **kw))


@pytest.mark.parametrize("case", [c for c in CASES if c.prometheus == "keeps-first"], ids=lambda c: c.id)
def test_lenient_keeps_the_first_of_duplicates(case: Case) -> None:
    dropped: list[ParseError] = []
    samples, errors = parse_lenient(fill(case.page, T), content_type=case.content_type(), dropped=dropped)
    assert case.error is not None
    assert errors == []
    assert [(e.line, e.column) for e in dropped] == [case.error[:2]]
    assert samples[0].value == 1.0  # every duplicate case states its series first with value 1
    keys = [(s.name, tuple(sorted(s.labels.items())), s.timestamp) for s in samples]
    assert len(set(keys)) == len(keys)


def test_values_are_floats_with_their_sign() -> None:
    [zero] = parse(b"a -0\n")
    assert math.copysign(1, zero.value) == -1

"""Label regexes run by RE2: linear time whatever the pattern, RE2's syntax, Prometheus's anchoring."""

from __future__ import annotations

import time

import pytest

from healthgauge.promql import PromQLError, compile
from healthgauge.promql._regex import compile_anchored, compile_matcher
from support.promql import load


def test_the_pathological_rule_of_issue_13_runs_in_bounded_time() -> None:
    """``(.*/)*health`` against 24 (and 10 000) path segments: a backtracking engine takes seconds
    at 24 and doubles with every segment (bench/regex.py); RE2 takes microseconds."""
    matcher = compile_matcher("(.*/)*health")
    for segments in (24, 26, 10_000):
        value = "seg/" * segments + "healthz"
        start = time.perf_counter()
        assert not matcher(value)
        assert matcher(value[:-1])
        assert time.perf_counter() - start < 2.0, segments  # generous: backtracking took 5 s at 24


def test_condition_with_the_pathological_rule_is_quick() -> None:
    store = load("1m", 'x{path="' + "a/" * 30 + 'healthz"} 1', 'x{path="' + "a/" * 30 + 'health"} 2')
    start = time.perf_counter()
    outcome = compile('x{path=~"(.*/)*health"}').condition(store, 0)
    assert time.perf_counter() - start < 0.5
    assert outcome.holds
    assert outcome.summary == "got 2"


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("\\pL+", "Élan", "a1"),
        ("\\p{Lu}\\pL*", "Élan", "élan"),
        ("\\PN+", "abc", "a٣"),
        ("\\d", "9", "٣"),  # ASCII digits, as RE2's \d
        ("\\pN", "٣", "a"),
        ("(?i)élan", "ÉLAN", "elan"),
        ("a$", "a", "a\n"),  # $ is the end of the text, not before a final newline
        ("\\Q.*\\E", ".*", "ab"),
        ("(?U)a+", "aaa", "b"),
        ("[[:^alpha:]]+", "12", "a"),
        ("a|ab", "ab", "abc"),  # anchored as ^(?:a|ab)$
    ],
)
def test_re2_syntax(pattern: str, yes: str, no: str) -> None:
    matcher = compile_matcher(pattern)
    assert matcher(yes)
    assert not matcher(no)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(?<n>a)", "(?<"),  # Perl named group: Go 1.19's RE2 refuses it
        ("a++", "bad repetition operator"),  # possessive
        ("(?=a)", "invalid perl operator"),  # look-ahead
        ("(a)\\1", "invalid escape sequence"),  # back-reference
        ("\\C", "\\C"),
        ("a)(b", "unexpected )"),  # Prometheus parses the pattern alone too
        ("[a", "missing ]"),
    ],
)
def test_what_re2_refuses_is_refused_clearly(pattern: str, reason: str) -> None:
    with pytest.raises(PromQLError) as info:
        compile_matcher(pattern)
    assert "error parsing regexp" in str(info.value)
    assert reason in str(info.value)
    assert repr(pattern) in str(info.value)


def test_named_groups_for_label_replace() -> None:
    regex = compile_anchored("(?P<first>.)(x)?.*")
    assert regex.groups == 2
    assert regex.groupindex == {"first": 1}
    assert regex.fullmatch("Éa") == ["Éa", "É", None]
    assert regex.fullmatch("") is None


def test_regex_in_backquotes_is_read_raw() -> None:
    store = load("1m", 'x{a="Élan"} 1', 'x{a="9"} 2')
    outcome = compile("x{a=~`\\pL+`}").condition(store, 0)
    assert outcome.summary == "got 1"
    assert compile("x{a!~`\\pL+`}").condition(store, 0).summary == "got 2"
    # The text shown to people carries the pattern, not what the parser was given.
    assert compile("nothing{a=~`\\d+`}").condition(store, 0).summary == 'no series matched nothing{a=~"\\\\d+"}'

"""The JSON writer of ``check --json``: what ``json`` reads back is what was written."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthgauge._check._json import to_json

scalars = st.none() | st.booleans() | st.integers() | st.text()
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)


@given(documents)
def test_round_trip(document: object) -> None:
    assert json.loads(to_json(document)) == document


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"a": [1, True, None, "x"]}, '{"a": [1, true, null, "x"]}'),
        ('q"b\\n\n\t\x01', '"q\\"b\\\\n\\n\\t\\u0001"'),
        ("é ☃ \U0001f600", '"é ☃ \U0001f600"'),
        ("\udcff", '"\\udcff"'),
        ((1, 2), "[1, 2]"),
    ],
)
def test_text(value: object, text: str) -> None:
    assert to_json(value) == text


def test_lone_surrogates_come_back_as_json_reads_them() -> None:
    assert json.loads(to_json("a\udcffb")) == "a\udcffb"


@pytest.mark.parametrize("value", [1.5, {1: "a"}, object()])
def test_refuses_what_it_does_not_write(value: object) -> None:
    with pytest.raises(TypeError, match="not written as JSON"):
        to_json(value)

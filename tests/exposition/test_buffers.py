"""A fetched page arrives in a ``bytearray`` (``healthgauge.http.fetch`` does not copy it into bytes):
every case of the conformance table parses from one exactly as from ``bytes``, in full and with
``names=``, strict and lenient, errors at the same line and column."""

from __future__ import annotations

import pytest

from healthgauge.exposition import ParseError, parse, parse_lenient
from support.exposition_cases import CASES, Case, T, fill


def outcome(data: bytes | bytearray, case: Case, names: list[str] | None) -> object:
    try:
        strict: object = parse(data, content_type=case.content_type(), names=names)
    except ParseError as exc:
        strict = (type(exc).__name__, exc.line, exc.column, str(exc))
    samples, errors = parse_lenient(data, content_type=case.content_type(), names=names)
    return strict, samples, [(e.line, e.column, str(e)) for e in errors]


def names_of(page: bytes) -> list[str]:
    """Every name a line of the page starts with: ``names=`` then selects every line it can."""
    heads = {line.split(b"{")[0].split(b" ")[0] for line in page.split(b"\n")}
    return sorted(n.decode() for n in heads if n and n[:1] != b"#" and n.decode("latin-1").isidentifier())


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bytearray_parses_as_bytes(case: Case) -> None:
    page = fill(case.page, T)
    for names in (None, names_of(page)):
        assert repr(outcome(bytearray(page), case, names)) == repr(outcome(page, case, names))

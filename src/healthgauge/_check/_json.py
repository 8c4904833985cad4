"""``healthgauge check --json``: the run as one JSON object, written without the ``json`` module.

``import json`` would double the cost of a check (it pulls in ``re``, ``enum``, ``collections``...):
the document is a few dicts, lists, strings, ints, booleans and nulls, written here (RFC 8259).
Imported only by a run with ``--json``.
"""

from __future__ import annotations

from ._report import STATUS_NAMES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._report import Report


def render(report: Report) -> str:
    """The ``--json`` document of one run (README, "Output")."""
    doc = {
        "status": STATUS_NAMES[report.status],
        "code": report.status,
        "output": report.line,
        "url": report.url,
        "error": {"kind": report.error_kind, "message": report.error} if report.error else None,
        "conditions": [
            {
                "expr": check.text,
                "warn": check.warn,
                "holds": outcome.holds,
                "summary": outcome.summary,
                "values": [{"labels": labels, "value": _value_text(value)} for labels, value in outcome.values],
                "error": outcome.error,
            }
            for check, outcome in report.pairs
        ],
    }
    return to_json(doc)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def to_json(value: object) -> str:
    """``value`` (dict with str keys, list, tuple, str, int, bool, None) as compact JSON text."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("not written as JSON: a key that is not a string")
        return "{" + ", ".join(f"{_json_string(k)}: {to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(to_json(item) for item in value) + "]"
    raise TypeError(f"not written as JSON: {type(value).__name__}")


def _json_string(text: str) -> str:
    """Quotes and backslashes escaped, control characters and lone surrogates as ``\\uXXXX``; other
    characters as they are (UTF-8 on the way out, as ``json.dumps(ensure_ascii=False)``)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " " or "\ud800" <= ch <= "\udfff" or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value_text(value: float) -> str:
    """A sample value as Prometheus's HTTP API writes it: a string, ``NaN``, ``+Inf``, ``-Inf``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)

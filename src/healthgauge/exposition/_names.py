"""The names and types every parse needs, fast path or full grammar: what a metric or label name
may be, the metric types of each format, and the one spelling of a series in messages.

Kept apart from the full grammar (``_scan``), which a page of ordinary lines never needs: the
fast path imports this, and ``_scan`` only when a line needs it (DEVELOPERS.md, "The check path").
"""

from __future__ import annotations

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_DIGITS = "0123456789"
NAME_START = frozenset(_LETTERS + ":")
LABEL_START = frozenset(_LETTERS)
NAME_CHARS = _LETTERS + ":" + _DIGITS
LABEL_CHARS = _LETTERS + _DIGITS

TEXT_TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
OPENMETRICS_TYPES = frozenset(
    {"counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown"}
)

_ESCAPE = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n"}


def is_metric_name(name: object) -> bool:
    """``[a-zA-Z_:][a-zA-Z0-9_:]*``, with str methods rather than a regex (no ``re`` on the check path)."""
    return isinstance(name, str) and name.isascii() and name.replace(":", "_").isidentifier()


def is_label_name(name: str) -> bool:
    """``[a-zA-Z_][a-zA-Z0-9_]*``."""
    return name.isascii() and name.isidentifier()


def is_utf8(text: str) -> bool:
    """False when ``text`` holds surrogates: bytes that were not UTF-8, kept by ``surrogateescape``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def canonical(name: str, labels: dict[str, str]) -> str:
    """One spelling per series: the identity Prometheus gives it (labels sorted, values escaped)."""
    if not labels:
        return name
    body = ",".join(f'{k}="{v.translate(_ESCAPE)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{body}}}"

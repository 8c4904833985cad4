"""``healthgauge query SOURCE EXPR``: evaluate one PromQL expression, as Prometheus would.

SOURCE is an http(s) URL (scraped once, now), a file, or ``-`` for standard input. A file whose
samples carry timestamps is read as a recorded history (the OpenMetrics form that ``promtool tsdb
create-blocks-from openmetrics`` accepts), so rules can be tried offline against an incident.
``--json`` prints exactly the ``data`` object of Prometheus's ``/api/v1/query``, so results can be
diffed against a real Prometheus.

Exit codes: 0 evaluated (whatever the result); 2 the source could not be read or parsed, or the
evaluation failed on its data (e.g. many-to-many matching); 3 the command line or the expression
is wrong, refused before any I/O.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from healthgauge import exposition
from healthgauge._args import CommandParser, UsageError
from healthgauge.health._status import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from healthgauge.promql import EvaluationError, Expr, History, PromQLError, Result, compile, needs_history
from healthgauge.promql._floats import format_float, format_human, format_json

EXIT_SOURCE = EXIT_FAILED  # the source could not be read or parsed, or the evaluation failed on it

# A recorded incident may be larger than one scrape (the exposition parser's defaults), but a file
# or stdin read must still be bounded: 256 MiB of text, and a million samples (about 10 minutes of
# 1,600 series scraped every second; ~0.5 KB of Python objects each, so ~500 MB at most).
MAX_FILE = 256 * 1024 * 1024
MAX_FILE_SAMPLES = 1_000_000


EXIT_CODES = {
    EXIT_OK: "evaluated (whatever the result, empty included)",
    EXIT_SOURCE: (
        "the source could not be read or parsed, or the evaluation failed on its data (e.g. many-to-many matching)"
    ),
    EXIT_USAGE: "the command line or the expression is wrong; refused before any I/O",
}


def _parser() -> CommandParser:
    p = CommandParser(
        "healthgauge query",
        description="Evaluate a PromQL expression over a scrape, a file or a recorded history.",
        exit_codes=EXIT_CODES,
    )
    p.add_argument("source", metavar="SOURCE", help="http(s) URL, file path, or - for stdin")
    p.add_argument("expr", metavar="EXPR", help="PromQL expression")
    p.add_argument("--at", metavar="TIME", help="evaluation time: Unix seconds or RFC 3339 (default: now)")
    p.add_argument("--json", action="store_true", help="print the data object of Prometheus's /api/v1/query")
    p.add_argument("--content-type", metavar="CT", help="exposition format of a file or stdin (default: guess)")
    p.add_argument("--timeout", metavar="SECONDS", type=float, default=5.0, help="deadline for a URL (default 5)")
    return p


def parse_time(text: str) -> float:
    """Unix seconds or RFC 3339, as Prometheus's API ``time`` parameter."""
    try:
        value = float(text)
    except ValueError:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise UsageError(f"--at: not Unix seconds or RFC 3339: {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise UsageError(f"--at: not a finite time: {text!r}")
    return value


def main(args: list[str]) -> int:
    parser = _parser()
    options = parser.parse(args)
    if isinstance(options, int):
        return options
    try:
        at = time.time() if options.at is None else parse_time(options.at)
        if not options.timeout > 0:
            raise UsageError(f"--timeout must be positive, got {options.timeout}")
    except UsageError as exc:
        return parser.usage_error(str(exc))
    try:
        expr = compile(options.expr)
    except PromQLError as exc:
        print(f"healthgauge query: invalid expression: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        store = read_source(options.source, expr, options.content_type, options.timeout, at, warn)
    except SourceError as exc:
        print(f"healthgauge query: {exc}", file=sys.stderr)
        return EXIT_SOURCE
    try:
        result = expr.evaluate(store, at)
    except EvaluationError as exc:
        print(f"healthgauge query: evaluation failed: {exc}", file=sys.stderr)
        return EXIT_SOURCE
    if options.json:
        import json

        print(json.dumps(prometheus_data(result), separators=(",", ":")))
    else:
        print(render_table(result))
    return EXIT_OK


class SourceError(Exception):
    """The source could not be read or parsed; the message names it."""


def warn(message: str) -> None:
    """A warning on stderr: the result on stdout stays exactly Prometheus's (``--json``)."""
    print(f"healthgauge query: warning: {message}", file=sys.stderr)


def read_source(
    source: str, expr: Expr, content_type: str | None, timeout: float, at: float, warn: Callable[[str], None] = warn
) -> History:
    """The store to evaluate over: one scrape for a URL, a recording or one scrape for a file.

    ``warn`` is told what the answer may not show: repeated series dropped from the page (as
    Prometheus drops them), and an expression that can never give a result over one scrape.
    """

    url = source.startswith(("http://", "https://"))
    if url:
        from healthgauge.http import fetch

        try:
            response = fetch.get(source, timeout=timeout)
        except fetch.FetchError as exc:
            raise SourceError(str(exc)) from None
        data = response.body
        content_type = content_type or response.content_type
    else:
        data = _read_file(source)
        content_type = content_type or _guess_content_type(data)
    dropped: list[exposition.ParseError] = []
    try:
        if url:
            samples = exposition.parse(data, content_type=content_type, names=expr.names, dropped=dropped)
        else:
            limits = exposition.Limits(max_body_bytes=MAX_FILE, max_series=MAX_FILE_SAMPLES)
            samples, errors = exposition.parse_lenient(
                data, content_type=content_type, names=expr.names, limits=limits, dropped=dropped
            )
            if errors:
                raise errors[0]
    except exposition.ParseError as exc:
        raise SourceError(f"{source}: {exc}") from None
    if dropped:
        warn(f"{source}: dropped {len(dropped)} repeated sample(s), as Prometheus does; first: {dropped[0]}")
    if not url and any(s.timestamp is not None for s in samples):
        return History.from_recording(samples, default_time=at)
    if (reason := needs_history(expr)) is not None:
        warn(f"{source} is one scrape: {reason}")
    return History.from_scrape(samples, at)


def _read_file(source: str) -> bytes:
    try:
        if source == "-":
            data = sys.stdin.buffer.read(MAX_FILE + 1)
        else:
            with open(source, "rb") as f:
                data = f.read(MAX_FILE + 1)
    except OSError as exc:
        raise SourceError(f"{source}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE:
        raise SourceError(f"{source}: larger than {MAX_FILE} bytes")
    return data


def _guess_content_type(data: bytes) -> str:
    """OpenMetrics when the text ends with ``# EOF`` (which it must), Prometheus text otherwise."""
    if data.rstrip(b"\n").endswith(b"# EOF"):
        return exposition.OPENMETRICS_TEXT
    return exposition.PROMETHEUS_TEXT


def _time(seconds: float) -> float | int:
    """Prometheus writes times as seconds with up to millisecond decimals, integers without any."""
    ms = round(seconds * 1000)
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def prometheus_data(result: Result) -> dict[str, Any]:
    """The ``data`` object of ``/api/v1/query`` for this result, values as Go formats them."""
    t = _time(result.time)
    if result.kind == "scalar":
        # Prometheus 2.42 writes a scalar with its own MarshalJSON: Go's 'f' format, never an exponent.
        return {"resultType": "scalar", "result": [t, format_float(result.scalar)]}
    if result.kind == "string":
        return {"resultType": "string", "result": [t, result.string]}
    if result.kind == "matrix":
        return {
            "resultType": "matrix",
            "result": [
                {"metric": labels, "values": [[_time(ts), format_json(v)] for ts, v in points]}
                for labels, points in result.matrix()
            ],
        }
    return {
        "resultType": "vector",
        "result": [{"metric": labels, "value": [t, format_json(v)]} for labels, v in result.series()],
    }


def _series_name(labels: dict[str, str]) -> str:
    name = labels.pop("__name__", "")
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def render_table(result: Result) -> str:
    """The result for people: one series a line, labels then value."""
    if result.kind == "scalar":
        return format_human(result.scalar)
    if result.kind == "string":
        return result.string
    if result.kind == "matrix":
        lines = []
        for labels, points in result.matrix():
            lines.append(_series_name(labels))
            lines += [f"  {format_human(v)} @{_time(ts)}" for ts, v in points]
        return "\n".join(lines) if lines else "(no series)"
    rows = [(_series_name(labels), format_human(v)) for labels, v in result.series()]
    if not rows:
        return "(no series)"
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)

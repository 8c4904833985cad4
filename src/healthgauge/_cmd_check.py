"""``healthgauge check``: fetch one metrics page, judge PromQL conditions over it, exit 0-3.

Hosts run it hundreds of times a second as a Kubernetes exec probe or a Consul / Nagios script
check, so it must cost about what Python's own start costs (DEVELOPERS.md, "The check path"): it
imports only the lean fetch, the parser and the evaluator, reads its conditions back compiled
(``healthgauge._exprcache``), asks the parser for just the metric names the conditions read, and
writes ``--json`` without the ``json`` module (``healthgauge._check_json``, loaded for ``--json`` only).

Order of work, so that a wrong command line never touches the network: flags, then every
expression compiled, then the URL and headers validated (all exit 3, UNKNOWN); then the token file
is read, the page fetched and parsed (a failure is exit 2, FAIL: the endpoint cannot be read);
then the conditions are judged (0 OK, 1 WARN, 2 FAIL).
"""

from __future__ import annotations

import sys
from time import monotonic, time

from healthgauge._check_args import USAGE, UsageError, parse_args
from healthgauge._exprcache import compile_all
from healthgauge.exposition import ParseError, parse
from healthgauge.health import FAIL, Judgement, judge
from healthgauge.http import fetch
from healthgauge.promql import History, Outcome, PromQLError, needs_history

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge._check_args import Options
    from healthgauge.promql import Expr

UNKNOWN = 3
LABELS = ("OK", "WARN", "FAIL", "UNKNOWN")
STATUS_NAMES = ("ok", "warn", "fail", "unknown")
# A freshness timestamp further ahead of our clock than this fails (--check-fresh): hosts kept by
# NTP agree within a second, so a minute ahead is a wrong clock or a timestamp in another unit
# (microseconds read as milliseconds land centuries ahead).
FUTURE_BOUND = 60
# A value above this is a Unix time in milliseconds (1e11 s is the year 5138, 1e11 ms is 1973).
MS_THRESHOLD = "1e11"


class Condition:
    """One condition as check judges it: ``expr`` must return something (PromQL's alerting rule
    semantics). For the drop-in flags, which demand it of every series, ``violations`` names the
    series that break it and must return nothing."""

    __slots__ = ("expr", "text", "violations", "warn")

    def __init__(self, text: str, expr: Expr, violations: Expr | None = None, *, warn: bool = False) -> None:
        self.text = text
        self.expr = expr
        self.violations = violations
        self.warn = warn

    def outcome(self, store: History, now: float) -> Outcome:
        if self.violations is not None:
            bad = self.violations.condition(store, now)
            if bad.holds or bad.error:  # a violation found, or no way to tell: fail closed
                return Outcome(False, _violations(bad.summary, bad.values), bad.values, bad.error)
        return self.expr.condition(store, now)


def conditions(options: Options) -> list[Condition]:
    """Every condition compiled; raises UsageError quoting an expression PromQL rejects.

    A plan of (shown text, expression, violations or None, warn) is compiled in one go, so a
    probe's whole set comes from the compiled-conditions cache at once.
    """
    plan: list[tuple[str, str, str | None, bool]] = [(text, text, None, False) for text in options.exprs]
    for name in options.check_up:
        text = f"{name} >= 1"
        plan.append((text, name, f"{name} unless ({text})", False))
    for name in options.check_fresh:
        age = f"((time() - ({name} <= {MS_THRESHOLD})) or (time() - ({name} > {MS_THRESHOLD}) / 1000))"
        bound = options.fresh_for_text
        violations = f"({age} > {bound}) or ({age} < -{FUTURE_BOUND}) or ({name} unless {age})"
        plan.append((f"time() - {name} <= {bound}", name, violations, False))
    plan += [(text, text, None, True) for text in options.warns]
    texts = [text for _, expr, violations, _ in plan for text in (expr, violations) if text is not None]
    try:
        compiled = iter(compile_all(texts))
    except PromQLError as exc:
        raise UsageError(f"invalid PromQL: {exc}") from None
    for text, expr in zip(texts, compiled_list := list(compiled), strict=True):
        if (reason := needs_history(expr)) is not None:  # never holds on one scrape: refused, not failed
            raise UsageError(f"{text}: {reason}")
    compiled = iter(compiled_list)
    return [
        Condition(shown, next(compiled), None if violations is None else next(compiled), warn=warn)
        for shown, _, violations, warn in plan
    ]


def _violations(summary: str, values: tuple[tuple[dict[str, str], float], ...]) -> str:
    """The evaluator's summary of the series that break a drop-in condition, naming the series when
    there is one (the evaluator names them when there are several) and explaining a negative age."""
    if len(values) == 1:
        labels = ", ".join(f'{k}="{v}"' for k, v in sorted(values[0][0].items()) if k != "__name__")
        summary = f"{summary} {{{labels}}}" if labels else summary
    if any(value < -FUTURE_BOUND for _, value in values):
        summary += f" (a negative age is a timestamp in the future; over {FUTURE_BOUND} s ahead fails)"
    return summary


class Report:
    """What one run found, for the line, ``--verbose`` and ``--json``."""

    __slots__ = ("details", "error", "error_kind", "judgement", "pairs", "status", "url")

    def __init__(self, url: str = "") -> None:
        self.url = url
        self.status = FAIL
        self.error = ""
        self.error_kind = ""
        self.judgement: Judgement | None = None
        self.pairs: list[tuple[Condition, Outcome]] = []
        self.details: list[str] = []

    def failed(self, status: int, kind: str, message: str) -> Report:
        """This run ends without judging: UNKNOWN (``kind`` usage) or FAIL (the page was not read)."""
        self.status, self.error_kind, self.error = status, kind, message
        return self

    @property
    def line(self) -> str:
        reason = self.judgement.reason if self.judgement is not None else self.error
        return f"{LABELS[self.status]} - {reason}"


def main(args: list[str]) -> int:
    """Run one check; print its line (or JSON) and return its exit code."""
    as_json = "--json" in args
    try:
        options = parse_args(args)
        if options.help:
            print(USAGE, end="")
            return 0
        checks = conditions(options)
        _validate_request(options)
    except UsageError as exc:
        return _emit(Report().failed(UNKNOWN, "usage", str(exc)), as_json, verbose=False)
    return _emit(run(options, checks), options.json, verbose=options.verbose)


def _validate_request(options: Options) -> None:
    """The URL and headers, checked before any I/O (the token file's content is checked when read)."""
    assert options.url is not None
    if options.bearer_token_file is not None and any(n.lower() == "authorization" for n, _ in options.headers):
        raise UsageError("--bearer-token-file and an Authorization --header both given")
    try:
        fetch.prepare(options.url, options.headers)
    except fetch.RequestError as exc:
        raise UsageError(str(exc)) from None
    if options.ca_file is not None:
        try:
            open(options.ca_file, "rb").close()
        except OSError as exc:
            raise UsageError(f"cannot read --ca-file {options.ca_file!r}: {exc.strerror}") from None


def run(options: Options, checks: list[Condition]) -> Report:
    """Fetch, parse and judge: every failure to read the page is FAIL, naming what failed."""
    report = Report(options.url or "")
    try:
        headers = options.headers
        if options.bearer_token_file is not None:
            headers = [*headers, ("Authorization", f"Bearer {_read_token(options.bearer_token_file)}")]
        started = monotonic()
        response = fetch.get(
            report.url,
            timeout=options.timeout,
            headers=headers,
            max_body=options.max_bytes or fetch.MAX_BODY,
            insecure=options.insecure,
            ca_file=options.ca_file,
        )
        scraped = time()
        fetched = monotonic()
        names = _names(checks)
        dropped: list[ParseError] = []
        samples = parse(response.body, content_type=response.content_type, names=names, dropped=dropped)
        report.details.append(_fetched(response, fetched - started, monotonic() - fetched, len(samples), names))
        if dropped:  # as Prometheus does: the first sample of a repeated series kept, never silently
            report.details.append(f"dropped {len(dropped)} repeated sample(s), as Prometheus does; first: {dropped[0]}")
    except (UsageError, fetch.RequestError) as exc:
        return report.failed(UNKNOWN, "usage", str(exc))
    except fetch.FetchError as exc:
        return report.failed(FAIL, _kind(exc), f"cannot read {exc}")
    except ParseError as exc:
        return report.failed(FAIL, "exposition", f"invalid exposition at {response.url}: {exc}")
    store = History.from_scrape(samples, scraped)
    now = time()
    report.pairs = [(check, check.outcome(store, now)) for check in checks]
    required = [(c.text, o) for c, o in report.pairs if not c.warn]
    warned = [(c.text, o) for c, o in report.pairs if c.warn]
    report.judgement = judge(required, warned)
    report.status = report.judgement.status
    return report


def _names(checks: list[Condition]) -> frozenset[str] | None:
    """The metric names any condition reads; None (parse everything) if one reads by regex."""
    names: set[str] = set()
    for check in checks:
        for expr in (check.expr, check.violations):
            if expr is not None:
                if expr.names is None:
                    return None
                names |= expr.names
    return frozenset(names)


def _read_token(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            token = file.read(64 * 1024).strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read --bearer-token-file {path!r}: {getattr(exc, 'strerror', exc)}") from None
    if not token:
        raise UsageError(f"--bearer-token-file {path!r} is empty")
    return token


def _kind(exc: fetch.FetchError) -> str:
    """The error kind for ``--json``: ``deadline``, ``connect``, ``resolve``, ``status``, ..."""
    name = type(exc).__name__.removesuffix("Error")
    return {"TooLarge": "too_large", "TLS": "tls"}.get(name, name.lower())


def _fetched(response: fetch.Response, fetch_s: float, parse_s: float, count: int, names: frozenset[str] | None) -> str:
    coding = response.header("content-encoding")
    read = "every name" if names is None else ", ".join(sorted(names))
    return (
        f"fetched {response.url}: HTTP {response.status}, {len(response.body)} bytes"
        f"{f' ({coding})' if coding else ''} in {fetch_s * 1000:.1f} ms; "
        f"parsed {count} sample{'' if count == 1 else 's'} of {read} in {parse_s * 1000:.1f} ms"
    )


def _emit(report: Report, as_json: bool, *, verbose: bool) -> int:
    if as_json:
        from healthgauge._check_json import render

        print(render(report))
        return report.status
    lines = [report.line]
    if verbose:
        lines += report.details
        for check, outcome in report.pairs:
            mark = ("WARN" if outcome.holds else "OK") if check.warn else ("OK" if outcome.holds else "FAIL")
            lines.append(f"[{mark}] {'--warn ' if check.warn else ''}{check.text}: {outcome.summary}")
    sys.stdout.write("\n".join(lines) + "\n")
    return report.status

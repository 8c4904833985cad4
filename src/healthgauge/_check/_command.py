"""``healthgauge check``: fetch one metrics page, judge PromQL conditions over it, exit 0-3.

Hosts run it hundreds of times a second as a Kubernetes exec probe or a Consul / Nagios script
check, so it must cost about what Python's own start costs (DEVELOPERS.md, "The check path"). The
common conditions are answered by the quick path (``_quick``) without this module; this is the full
path, for everything else: it imports only the lean fetch, the parser and the evaluator, reads its
conditions back compiled (``startup._exprcache``), asks the parser for just the metric names the
conditions read, and writes ``--json`` without the ``json`` module (``_json``, for ``--json`` only).

Order of work, so that a wrong command line never touches the network: flags, then every
expression compiled, then the URL and headers validated (all exit 3, UNKNOWN); then the token file
is read, the page fetched and parsed (a failure is exit 2, FAIL: the endpoint cannot be read);
then the conditions are judged (0 OK, 1 WARN, 2 FAIL). One deadline (``--timeout``) covers it all,
from the connection to the last condition (``_deadline``).
"""

from __future__ import annotations

import sys
from time import monotonic, time

from healthgauge.exposition import ParseError, parse
from healthgauge.health import judge
from healthgauge.http import fetch
from healthgauge.promql import History, PromQLError, needs_history

from . import _deadline, perfdata
from ._args import USAGE, UsageError, parse_args
from ._report import FAIL, FUTURE_BOUND, UNKNOWN, Condition, Report
from .startup._exprcache import compile_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.exposition import Sample

    from ._args import Options
    from ._quick_fetch import Handover

# A value above this is a Unix time in milliseconds (1e11 s is the year 5138, 1e11 ms is 1973).
MS_THRESHOLD = "1e11"


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


def main(args: list[str], handover: Handover | None = None) -> int:
    """Run one check; print its line (or JSON) and return its exit code.

    ``handover``: the quick path's deadline, connection and the bytes it received, when it fetched
    and could not answer; the response is read on from there (never a second request or timeout).
    """
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
    return _emit(run(options, checks, handover), options.json, verbose=options.verbose)


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


def run(options: Options, checks: list[Condition], handover: Handover | None = None) -> Report:
    """Fetch, parse and judge under one deadline: every failure to read the page is FAIL, naming what failed."""
    report = Report(options.url or "")
    deadline = handover[0] if handover is not None else monotonic() + options.timeout
    saved = _deadline.arm(deadline)
    try:
        try:
            return _run(report, options, checks, deadline, handover)
        finally:
            _deadline.disarm(saved)
    except (TimeoutError, _deadline.OutOfTime):
        _deadline.disarm(saved)  # again: the alarm may have rung inside the first (it rings once)
        url = str(fetch.parse_url(report.url))
        if _deadline.fetching:
            return report.failed(FAIL, "deadline", f"cannot read {url}: deadline passed (fetching the page)")
        if report.judgement is None and not report.details:
            return report.failed(FAIL, "deadline", f"cannot read {url}: deadline passed (parsing the page)")
        return report.failed(FAIL, "deadline", f"cannot judge {url}: deadline passed (evaluating the conditions)")


def _run(
    report: Report, options: Options, checks: list[Condition], deadline: float, handover: Handover | None
) -> Report:
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
            deadline=deadline,
            started=None if handover is None else (handover[1], handover[2]),
        )
        _deadline.fetched()
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
    return judge_page(report, checks, samples, scraped, time())


def judge_page(report: Report, checks: list[Condition], samples: list[Sample], scraped: float, now: float) -> Report:
    """Judge ``checks`` over the samples of a page scraped at ``scraped``, at ``now`` (seconds)."""
    store = History.from_scrape(samples, scraped)
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
    # One line, as Kubernetes' service-account tokens are; what is wrong is said, never shown.
    token, _, rest = token.partition("\n")
    token = token.strip()
    if rest.strip():
        raise UsageError(f"--bearer-token-file {path!r} holds more than one line (the token is not shown)")
    if not token.isprintable() or " " in token:
        raise UsageError(f"--bearer-token-file {path!r} holds spaces or control characters (the token is not shown)")
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
        from ._json import render

        print(render(report))
        return report.status
    sys.stdout.write(render_text(report, verbose=verbose))
    return report.status


def render_text(report: Report, *, verbose: bool) -> str:
    """The output for people: the line with its performance data, and with ``--verbose`` what was
    fetched and each condition (Nagios's "long output")."""
    lines = [report.line + perfdata([list(outcome.values) for _, outcome in report.pairs])]
    if verbose:
        lines += report.details
        for check, outcome in report.pairs:
            mark = ("WARN" if outcome.holds else "OK") if check.warn else ("OK" if outcome.holds else "FAIL")
            lines.append(f"[{mark}] {'--warn ' if check.warn else ''}{check.text}: {outcome.summary}")
    return "\n".join(lines) + "\n"

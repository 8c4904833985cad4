"""The quick path against the full path: every answer the quick path gives is the full path's, word
for word (exit code, line, performance data, ``--verbose`` lines), and it gives none where the full
path would refuse the command line or the page.

Three sources of cases, each run through both paths over the same bytes at the same instants:
every PromQL text in the check and PromQL tests (found in their source, kept where PromQL accepts
it), conditions and pages generated from a seeded grammar in and around the quick path's subset,
and the same grammar driven by Hypothesis (which shrinks a disagreement to its smallest form).
"""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import healthgauge._check
from healthgauge._check import _args, _command, _plan, _quick, _quick_eval, _quick_fetch
from healthgauge._check._command import _names, judge_page, render_text
from healthgauge._check._report import Condition, Report
from healthgauge.exposition import ACCEPT, DEFAULT_LIMITS, FAMILY_SUFFIXES, ParseError, parse
from healthgauge.http import _http11
from healthgauge.promql import LOOKBACK, PromQLError, compile

NOW = 1_700_000_000.0
SCRAPED = NOW - 0.25
URL = "http://127.0.0.1:9100/metrics"
TESTS = Path(__file__).parents[1]
NAMES = ["app_state", "queue_depth", "ts", "up"]
LABELS = {"job": ["a", "b", "batch"], "queue": ["default", "bulk"], "instance": ["x:1", "y z", "a{b}", "p=q,r", "é"]}
VALUES = ["1", "0", "2", "-1", "0.5", "600", "1699999000", "1700000000.5", "NaN", "+Inf", "-Inf", "1e3", "3.25", "-0"]
REGEXES = [
    "a",
    "b",
    "",
    "a|b",
    "b.*",
    ".*",
    "(a|ba)tch",
    "x+",
    "default",
    "[ab]",
    "a**",
    "a*+",
    "(?i)A",
    "a\\\\d",
    "(b",
]
CONTENT_TYPES = [None, "", "text/plain; version=0.0.4; charset=utf-8", "application/openmetrics-text; version=1.0.0"]
_COMPILED: dict[str, object] = {}


def full(exprs: list[str], warns: list[str], body: bytes, content_type: str | None, verbose: bool) -> object:
    """The full path's answer: (exit code, output) or what it refused ("usage", "exposition")."""
    checks = []
    for text, warn in [(t, False) for t in exprs] + [(t, True) for t in warns]:
        if text not in _COMPILED:
            try:
                _COMPILED[text] = compile(text)
            except PromQLError:
                _COMPILED[text] = None
        if _COMPILED[text] is None:
            return "usage"
        checks.append(Condition(text, _COMPILED[text], warn=warn))  # type: ignore[arg-type]
    try:
        samples = parse(body, content_type=content_type, names=_names(checks))
    except ParseError:
        return "exposition"
    report = judge_page(Report(URL), checks, samples, SCRAPED, NOW)
    report.details = ["DETAILS"]
    return report.status, render_text(report, verbose=verbose)


def quick(exprs: list[str], warns: list[str], body: bytes, content_type: str | None, verbose: bool) -> object:
    """The quick path's answer, or None where it hands the check over."""
    try:
        plan = _quick.compile_plan(exprs, warns)
        page, _ = _quick_fetch.read_page(body, content_type or "", _quick.names_read(plan))
        return _quick_eval.render(_quick_eval.judge(plan, page, SCRAPED, NOW), verbose, "DETAILS")
    except _quick.Unsure:
        return None


def command_line(exprs: list[str], warns: list[str], verbose: bool) -> list[str]:
    return [URL, *exprs, *(arg for text in warns for arg in ("--warn", text)), *(["--verbose"] if verbose else [])]


def planned(exprs: list[str], warns: list[str], body: bytes, content_type: str | None, verbose: bool) -> object:
    """The answer from the plan of the command line of these conditions (``from_plan``)."""
    return from_plan(command_line(exprs, warns, verbose), body, content_type)


def from_plan(args: list[str], body: bytes, content_type: str | None) -> object:
    """The answer from the plan of ``args``, as the next run reads it back from its file's bytes
    (``_plan.encode``, ``_check.decode_plan``), or None: no plan (not the quick path's command
    line, or a regular expression's matcher), or handed over."""
    derived = _quick.derive(args)
    data = None if derived is None else _plan.encode(args, derived)
    if data is None:
        return None
    plan = healthgauge._check.decode_plan(data, args)
    assert plan == derived, args  # what the next run reads is what this one derived
    assert healthgauge._check.decode_plan(data, [*args, "--verbose"]) is None  # another command line's
    *_, plan_verbose, conditions, names = plan
    try:
        page, _ = _quick_fetch.read_page(body, content_type or "", names)  # type: ignore[arg-type]
        results = _quick_eval.judge(conditions, page, SCRAPED, NOW)  # type: ignore[arg-type]
        return _quick_eval.render(results, plan_verbose, "DETAILS")  # type: ignore[arg-type]
    except _quick.Unsure:
        return None


# How many answers each path gave in the differential tests (printed by the generated cases' test).
ANSWERED = {"quick": 0, "plan": 0}


def same(exprs: list[str], warns: list[str], body: bytes, content_type: str | None, verbose: bool) -> bool:
    """Assert the quick path's answer, and the answer from the command line's plan, each if it
    gives one, are the full path's; whether the quick path gave one."""
    answer = quick(exprs, warns, body, content_type, verbose)
    from_plan = planned(exprs, warns, body, content_type, verbose)
    if answer is None and from_plan is None:
        return False
    expected = full(exprs, warns, body, content_type, verbose)
    if from_plan is not None:
        ANSWERED["plan"] += 1
        assert from_plan == expected, ("plan", exprs, warns, body, content_type, verbose)
    if answer is None:
        return False
    ANSWERED["quick"] += 1
    assert answer == expected, (exprs, warns, body, content_type, verbose)
    return True


# -- generated conditions and pages ---------------------------------------------------------------


def selector(r: random.Random, names: list[str]) -> str:
    name = r.choice([*names, "app_state_total", "time", "sum", "nope"] if r.random() < 0.2 else names)
    if r.random() < 0.5:
        return name
    matchers = []
    for _ in range(r.randint(0, 2)):
        label = r.choice(["job", "job", "queue", "instance", "le", "__name__", "on"])
        op = r.choice(["=", "!=", "=~", "!~"])
        value = r.choice(REGEXES if "~" in op else [*LABELS["job"], *LABELS["queue"], "", 'a"b'])
        matchers.append(f'{label}{op}"{value}"')
    trailing = "," if matchers and r.random() < 0.1 else ""
    return f"{name}{{{', '.join(matchers)}{trailing}}}"


def condition(r: random.Random, names: list[str], depth: int = 3) -> str:
    if depth <= 0 or r.random() < 0.3:
        kind = r.random()
        if kind < 0.6:
            return selector(r, names)
        if kind < 0.85:
            return r.choice(["0", "1", "2", "0.5", "600", "1.5", "1e3", "010", "NaN", "-1", "0x10", "Inf", "1."])
        return r.choice(["time()", "time()", "time( )", "absent(up)"])
    ops = ["+", "-", "*", "/", "==", "!=", "<", ">", "<=", ">=", "and", "or", "unless"]
    op = r.choice(ops * 4 + ["== bool", "%", "^", "+ on(job)", "and ignoring(job)", "AND", "Or"])
    text = f"{condition(r, names, depth - 1)} {op} {condition(r, names, depth - 1)}"
    return f"({text})" if r.random() < 0.3 else text


def page(r: random.Random, names: list[str]) -> str:
    lines = []
    for name in [*names, "app_state_total", "app_statex"]:
        if r.random() < 0.15:
            continue  # a missing metric
        if r.random() < 0.5:
            lines.append(f"# TYPE {name} gauge")
        for _ in range(r.randint(1, 3)):
            labels = {k: r.choice(v) for k, v in LABELS.items() if r.random() < 0.4}
            inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
            value = r.choice(VALUES)
            lines.append(f"{name}{{{inner}}} {value}" if inner else f"{name} {value}")
    if r.random() < 0.3 and lines:
        i = r.randrange(len(lines))
        lines[i] = r.choice(ODD)(lines[i])
    return "\n".join(lines) + "\n"


# Lines exporters rarely write, and mistakes: each the full parser reads (or refuses) its own way.
ODD = [
    lambda line: line + " 1700000000000",  # a timestamp
    lambda line: line.replace("{", " {", 1),
    lambda line: line.replace("}", ",}", 1),
    lambda line: line.replace('"', '""', 1),  # an empty value, then garbage
    lambda line: line.replace("=", '="",x=', 1),
    lambda line: line.replace(" ", "  ", 1),
    lambda line: line.replace(" ", "\t", 1),
    lambda line: line + "\r",
    lambda line: line + ' # {a="b"} 1',  # an exemplar
    lambda line: line.rsplit(" ", 1)[0] + " 1_000",
    lambda line: line.rsplit(" ", 1)[0] + " 0x1p3",
    lambda line: line.rsplit(" ", 1)[0] + " 1e999",
    lambda line: line.replace('"', '"\\"', 1),
    lambda line: line + "\n" + line,  # a duplicate series
    lambda line: " " + line,
    lambda line: line.replace("a", "\u00e4", 1),
    # Metadata of a metric read: today's full path does not read it; should it start to, the quick
    # path must refuse what it refuses (this case then fails here first).
    lambda line: f"# TYPE {line.split('{')[0].split(' ')[0]} nonsense\n{line}",
    lambda line: f"# HELP {line.split('{')[0].split(' ')[0]}\n{line}",
]


def case(r: random.Random, names: list[str] | None = None) -> tuple[list[str], list[str], bytes, str | None, bool]:
    names = names or NAMES
    exprs = [condition(r, names) for _ in range(r.choice([1, 1, 2]))]
    warns = [condition(r, names) for _ in range(r.choice([0, 0, 1]))]
    content_type = r.choice(CONTENT_TYPES)
    text = page(r, names)
    if content_type and "openmetrics" in content_type and r.random() < 0.8:
        text += "# EOF\n"
    body = text.encode()
    if r.random() < 0.1:
        body = body.replace("é".encode(), b"\xe9")  # a byte that is not UTF-8, in a label value
    return exprs, warns, body, content_type, r.random() < 0.3


def test_generated_conditions_and_pages() -> None:
    r = random.Random(14)
    answered = 0
    total = 30_000
    before = ANSWERED["plan"]
    for _ in range(total):
        answered += same(*case(r))
    from_plans = ANSWERED["plan"] - before
    print(f"quick path answered {answered} of {total} generated cases, each as the full path did")
    print(f"their command lines' plans answered {from_plans}, each as the full path did")
    assert answered > total // 20  # the grammar reaches the subset: the comparison is not empty
    assert from_plans > answered // 2  # plans are made (all but regular expressions' command lines)


def corpus() -> list[str]:
    """Every string in the check and PromQL tests that PromQL accepts as an expression."""
    texts = set()
    for folder in ("check", "promql"):
        for path in sorted((TESTS / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and 0 < len(node.value) < 300:
                    texts.add(node.value)
    accepted = []
    for text in sorted(texts):
        try:
            expr = compile(text)
        except Exception:  # not PromQL (prose, URLs, pages) or refused
            continue
        if expr.names is not None:
            accepted.append(text)
    return accepted


def test_every_condition_of_the_check_and_promql_tests() -> None:
    texts = corpus()
    assert len(texts) > 150
    r = random.Random(7)
    answered = total = 0
    for text in texts:
        names = sorted(compile(text).names or ()) or NAMES
        for _ in range(12):
            _, warns, body, content_type, verbose = case(r, names)
            total += 1
            answered += same([text], warns, body, content_type, verbose)
    print(f"quick path answered {answered} of {total} cases over {len(texts)} conditions from the tests")
    print(f"answers from plans in the differential tests so far: {ANSWERED['plan']}")
    assert answered > 100


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_hypothesis_conditions_and_pages(r: random.Random) -> None:
    same(*case(r))


@pytest.mark.parametrize(
    ("text", "answered"),
    [
        ('app_state{job!="batch"} == 1 and time() - app_last_iteration_ts < 600', True),
        ("time() - app_last_iteration_ts < 60", True),
        ('queue_depth{queue=~"d.*"} > 100 or app_state == 0', True),
        ("absent(app_state)", False),  # a function: the full path
        ("app_state == bool 1", False),
        ("sum(app_state)", False),
        ("app_state offset 1m", False),
        ("-app_state", False),
    ],
)
def test_the_subset(text: str, answered: bool) -> None:
    body = b'app_state{job="a"} 1\napp_last_iteration_ts{job="a"} 1699999990\nqueue_depth{queue="default"} 500\n'
    assert same([text], [], body, None, False) == answered


def test_a_page_the_quick_path_does_not_read_is_never_answered() -> None:
    # A duplicate series (the full path keeps the first, says so with --verbose), a line that is not
    # one sample, an empty label set: the full parser's rules, and its words.
    for body in (b'app_state{job="a"} 1\napp_state{job="a"} 1\n', b"app_state 1 2 3\n", b"app_state{} 1\n"):
        assert quick(["app_state == 1"], [], body, None, False) is None


@pytest.mark.parametrize("digit", ["\u00b2", "\u0661", "\uff11"])  # superscript two, Arabic-Indic one, fullwidth one
def test_other_scripts_digits_are_the_full_paths_to_refuse(digit: str) -> None:
    # str.isdigit takes them (and float() reads some): PromQL reads ASCII digits only.
    body = b"app_state 1\n"
    for text in (f"app_state == {digit}", f"app_state == 1{digit}"):
        assert quick([text], [], body, None, False) is None
        assert full([text], [], body, None, False) == "usage"


@pytest.mark.parametrize("length", ["\u00b2", "\u00b9\u00b3", "1\u00b2"])
def test_a_content_length_in_other_digits_is_the_full_paths_to_refuse(length: str) -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {length}".encode("latin-1")
    assert _quick_fetch._head(head, len(head) + 4) is None


def test_the_restated_constants_match_their_sources() -> None:
    assert _quick_fetch.MAX_BODY == _http11.MAX_BODY
    assert _quick_fetch.MAX_HEAD == _http11.MAX_HEAD
    limits = (DEFAULT_LIMITS.max_line_chars, DEFAULT_LIMITS.max_series)
    assert limits == (_quick_fetch.MAX_LINE, _quick_fetch.MAX_SERIES)
    assert _quick.MAX_TIMEOUT == _args.MAX_TIMEOUT
    assert _quick_eval.LOOKBACK_MS == LOOKBACK * 1000
    assert _quick_fetch.FAMILY_SUFFIXES == FAMILY_SUFFIXES
    assert _quick.ACCEPT == ACCEPT
    import healthgauge

    assert healthgauge.__version__ == _quick.VERSION  # the User-Agent's
    assert set(_quick_fetch._NAME_BYTES.decode()) == _quick._NAME_CHARS
    # The exit codes and line labels it writes: health/_status.py's, defined once for every command.
    from healthgauge.health import _status

    assert (_status.PASS, _status.WARN, _status.FAIL, _status.LABELS[:3]) == (0, 1, 2, ("OK", "WARN", "FAIL"))


@pytest.mark.parametrize(
    ("args", "plan"),
    [
        ([URL, "up == 1"], (URL, ["up == 1"], [], 1.0, False, [])),
        ([URL, "a", "--warn", "b", "--timeout", "500ms", "-v"], (URL, ["a"], ["b"], 0.5, True, [])),
        ([URL, "a", "--timeout", "2s"], (URL, ["a"], [], 2.0, False, [])),
    ],
)
def test_command_lines_it_takes(args: list[str], plan: tuple[object, ...]) -> None:
    assert _quick.plan_args(args) == plan
    options = _args.parse_args(args)
    assert (options.url, options.exprs, options.warns, options.timeout, options.verbose, []) == plan


@pytest.mark.parametrize(
    "args",
    [
        [URL],
        [URL, "up", "--json"],
        [URL, "up", "--timeout", "0"],
        [URL, "up", "--timeout", "1_0"],
        [URL, "up", "--timeout"],
        [URL, "--", "-up"],
        [URL, "up", "--header", "a: b"],
        ["--help"],
        [URL, "up", "--check-up", "x", "--json"],
        [URL, "--check-fresh", "x"],  # no --fresh-for: the full path says so
    ],
)
def test_command_lines_it_leaves(args: list[str]) -> None:
    assert _quick.plan_args(args) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9100/metrics",
        "http://[::1]:9100/metrics",
        "http://LocalHost/metrics",
        "http://host.example:80",
        "http://h/m?x=1",
    ],
)
def test_urls_it_takes_are_shown_as_the_full_path_shows_them(url: str) -> None:
    from healthgauge.http import fetch

    parsed = _quick.parse_url(url)
    assert parsed is not None
    target = fetch.parse_url(url)
    assert parsed == (target.host, target.port, target.authority, target.target, str(target))


@pytest.mark.parametrize(
    "url",
    ["https://h/m", "h:1/m", "http://u@h/m", "http://h/m#f", "http://[fe80::1%eth0]/m", "http://h:0/", "http://h/ä"],
)
def test_urls_it_leaves(url: str) -> None:
    assert _quick.parse_url(url) is None


@pytest.mark.parametrize(
    ("values", "perfdata"),
    [
        ([[({"__name__": "up"}, 1.0)]], " | c1=1"),
        ([[({}, 0.5)], [({"job": "a"}, 2.0), ({"job": "b"}, -1.0)]], " | c1=0.5 'c2{job:\"a\"}'=2 'c2{job:\"b\"}'=-1"),
        ([[({}, float("nan"))], [({}, float("inf"))]], " | c1=U c2=U"),
        ([[({"q": "it's=1|2"}, 1e-7)]], " | 'c1{q:\"it''s:1/2\"}'=0.0000001"),
        ([[({}, 1e20)]], " | c1=100000000000000000000"),
        ([[], []], ""),
    ],
)
def test_perfdata(values: list[list[tuple[dict[str, str], float]]], perfdata: str) -> None:
    assert healthgauge._check.perfdata(values) == perfdata


@pytest.mark.parametrize(
    ("raw", "result"),
    [
        (b"3\r\nabc\r\n0\r\n\r\n", (-1, b"abc")),
        (b"3\r\nabc\r\n0\r\n\r\nextra", (-1, b"abc")),  # later bytes are ignored, as the full parser does
        (b"A\r\n0123456789\r\n", (15, b"0123456789")),  # wait for more
        (b"3\r\nab", (0, b"")),
        (b"3\r\nabc\r\n0\r\n", (8, b"abc")),
        (b"3;x=1\r\nabc\r\n", None),  # an extension: the full parser reads it
        (b"3\nabc\n", None),  # bare LF
        (b"3\r\nabcX\r\n", None),
        (b"0\r\nTrailer: x\r\n\r\n", None),
        (b"00000000000000003\r\nabc\r\n", None),
        (b" 3\r\nabc\r\n", None),
    ],
)
def test_chunks(raw: bytes, result: tuple[int, bytes] | None) -> None:
    body = bytearray()
    try:
        at = _quick_fetch._dechunk(bytearray(raw), 0, body)
    except _quick_fetch.Unsure:
        assert result is None
    else:
        assert (at, bytes(body)) == result


# -- the drop-in flags of the probe check replaces --------------------------------------------------

FRESH = ["1700000000", "1699999990.5", "1699999000", "1700000000000", "1700003600", "1699999999000", "NaN", "0"]


def drop_in_case(r: random.Random) -> tuple[list[str], bytes, bool]:
    args = [URL] if r.random() < 0.8 else ["--url", URL]
    if r.random() < 0.7:
        args += ["--check-up", r.choice(["up", "up,app_state", "up up"]).split(" ")[0]]
    if r.random() < 0.7 or len(args) < 3:
        args += ["--check-fresh", "worker_ts", "--fresh-for", r.choice(["60", "0.5", "2s", "3600"])]
    if r.random() < 0.3:
        args.append(condition(r, NAMES, 1))
    if r.random() < 0.2:
        args += ["--warn", condition(r, NAMES, 1)]
    verbose = r.random() < 0.3
    series = (("up", ["1", "0", "2", "NaN"]), ("app_state", ["1", "5"]), ("worker_ts", FRESH))
    lines = [
        f'{name}{{worker="{worker}"}} {r.choice(values)}'
        for name, values in series
        for worker in ("a", "b", "c")[: r.randint(0, 3)]
    ]
    return args + (["-v"] if verbose else []), ("\n".join(lines) + "\n").encode(), verbose


def full_options(args: list[str], body: bytes, verbose: bool, monkeypatch: pytest.MonkeyPatch) -> object:
    def compile_all(texts: list[str]) -> list[object]:
        for text in texts:
            if text not in _COMPILED:
                _COMPILED[text] = compile(text)
        return [_COMPILED[text] for text in texts]

    monkeypatch.setattr(_command, "compile_all", compile_all)
    try:
        checks = _command.conditions(_args.parse_args(args))
    except _args.UsageError:
        return "usage"
    samples = parse(body, names=_names(checks))
    report = judge_page(Report(URL), checks, samples, SCRAPED, NOW)
    report.details = ["DETAILS"]
    return report.status, render_text(report, verbose=verbose)


def test_the_drop_in_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    r = random.Random(5)
    answered = total = from_plans = 0
    for _ in range(5000):
        args, body, verbose = drop_in_case(r)
        options = _quick.plan_args(args)
        total += 1
        if options is None:
            continue
        url, exprs, warns, _, _, drop_ins = options
        assert url == URL
        try:
            plan = _quick.compile_plan(exprs, warns, drop_ins)
            page, _ = _quick_fetch.read_page(body, "", _quick.names_read(plan))
            answer = _quick_eval.render(_quick_eval.judge(plan, page, SCRAPED, NOW), verbose, "DETAILS")
        except _quick.Unsure:
            continue
        assert answer == full_options(args, body, verbose, monkeypatch), (args, body)
        planned_answer = from_plan(args, body, "")
        assert planned_answer == answer or _plan.encode(args, _quick.derive(args)) is None, args  # type: ignore[arg-type]
        answered += 1
        from_plans += planned_answer is not None
    print(f"quick path answered {answered} of {total} drop-in cases, each as the full path did")
    print(f"their command lines' plans answered {from_plans}, each as the full path did")
    assert answered > 300
    assert from_plans > answered // 2

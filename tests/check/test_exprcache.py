"""The compiled-conditions cache: what comes back evaluates as what was compiled, and only then is used."""

from __future__ import annotations

import marshal
import math
import subprocess
import sys
from pathlib import Path

import pytest

import healthgauge
from healthgauge._check.startup import _exprcache, _exprcache_write
from healthgauge.exposition import Sample
from healthgauge.promql import History, PromQLError, compile
from healthgauge.promql._functions import AGGREGATIONS, FUNCTION_MODULES, SUPPORTED_FUNCTIONS
from healthgauge.promql._nodes import Node

NOW = 1_700_000_000.0

# Hand-written conditions: operators, matching and modifiers, besides every table entry below.
WRITTEN = [
    "app_state == 1",
    'app_state{job="worker"} == 1',
    'app_state{job!="batch"} == 1 and on() time() - app_last_iteration_ts{job="worker"} < 600',
    "time() - app_last_iteration_ts < 60",
    "queue_depth > 100 or app_state == 0",
    'queue_depth unless on(queue) queue_depth{queue="bulk"}',
    "sum by (queue) (queue_depth) > 10",
    "max without (instance) (queue_depth) / 2",
    "count(app_state) == 1",
    "topk(1, queue_depth)",
    "quantile(0.5, queue_depth)",
    "abs(-queue_depth) + 1",
    "clamp(queue_depth, 0, 100)",
    "round(queue_depth / 3, 0.5)",
    "absent(nope)",
    'absent(nope{job="x"})',
    "vector(1) > 0",
    "scalar(app_state) * 2",
    "timestamp(app_state)",
    "histogram_quantile(0.9, sum by (le) (req_bucket))",
    "queue_depth offset 1m",
    "-queue_depth < 0",
    "queue_depth > bool 100",
    "queue_depth * on(queue) group_left app_info",
    "sort_desc(queue_depth)",
    'label_join(queue_depth, "x", "-", "queue", "queue")',
    "1 + 2 * 3",
    "vector(-time()) < 0",
    "max_over_time(queue_depth[5m:1m])",
    '"a string"',
]
# Arguments tried, in order, for each function and aggregation of the tables: the first list PromQL
# accepts is the call in the corpus. A new function with a new signature needs one more here.
ARGUMENTS = [
    [],
    ["queue_depth"],
    ["queue_depth[5m]"],
    ["1"],
    ["queue_depth", "1"],
    ["queue_depth", "0", "100"],
    ["0.9", "queue_depth"],
    ["0.9", "sum by (le) (req_bucket)"],
    ["0.5", "queue_depth[5m]"],
    ['"v"', "queue_depth"],
    ["queue_depth", '"x"', '"-"', '"queue"', '"instance"'],
    ["queue_depth", '"q"', '"$1"', '"queue"', '"(.*)"'],
    ["0", "0.5", "sum by (le) (req_bucket)"],
    ["queue_depth[5m]", "60"],
    ["queue_depth[5m]", "0.5", "0.5"],
]


def calls() -> list[str]:
    """One call of every function and every aggregation (also with ``by``) in the evaluator's tables."""
    texts = []
    for name in sorted(SUPPORTED_FUNCTIONS | AGGREGATIONS):
        for args in ARGUMENTS:
            text = f"{name}({', '.join(args)})"
            try:
                compile(text)
            except PromQLError:
                continue
            texts.append(text)
            if name in AGGREGATIONS:
                texts.append(f"{name} by (queue) ({', '.join(args)})")
            break
        else:
            raise AssertionError(f"no argument list in ARGUMENTS fits {name}(): add one")
    return texts


CORPUS = [*WRITTEN, *(text for text in calls() if "label_replace" not in text)]
NOT_DATA = ['app_state{job=~"work.*"}', 'label_replace(queue_depth, "q", "$1", "queue", "(.*)")', 'x{a!~"b"}']


def store() -> History:
    samples = [
        Sample("app_state", {"job": "worker"}, 1.0),
        Sample("app_last_iteration_ts", {"job": "worker"}, NOW - 30),
        Sample("queue_depth", {"queue": "default", "instance": "a"}, 500.0),
        Sample("queue_depth", {"queue": "bulk", "instance": "a"}, 3.0),
        Sample("app_info", {"queue": "default", "version": "1"}, 1.0),
        Sample("app_info", {"queue": "bulk", "version": "2"}, 1.0),
        *(Sample("req_bucket", {"le": le}, n) for le, n in (("0.1", 5.0), ("1", 9.0), ("+Inf", 10.0))),
    ]
    history = History.from_scrape([Sample(s.name, s.labels, s.value, NOW - 60) for s in samples], NOW - 60)
    history.add_scrape(samples, NOW)
    return history


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("text", CORPUS)
def test_a_reloaded_tree_evaluates_as_the_compiled_one(text: str) -> None:
    compiled = compile(text)
    tree = _exprcache_write._dump(compiled, set())
    reloaded = _exprcache._load(marshal.loads(marshal.dumps(tree)))
    assert _exprcache_write._dump(reloaded, set()) == tree
    assert (reloaded.text, reloaded.kind, reloaded.names, reloaded.max_range) == (  # type: ignore[attr-defined]
        compiled.text,
        compiled.kind,
        compiled.names,
        compiled.max_range,
    )
    history = store()
    for at in (NOW, NOW + 30):
        a = compiled.evaluate(history, at)
        b = reloaded.evaluate(history, at)  # type: ignore[attr-defined]
        assert repr(a) == repr(b)
        ca, cb = compiled.condition(history, at), reloaded.condition(history, at)  # type: ignore[attr-defined]
        assert (ca.holds, ca.summary, ca.error) == (cb.holds, cb.summary, cb.error)


def node_classes_in(tree: object, found: set[str]) -> set[str]:
    if isinstance(tree, tuple) and tree and tree[0] == "o":
        found.add(f"{tree[1]}.{tree[2]}")
        for _, value in tree[3]:
            node_classes_in(value, found)
    elif isinstance(tree, tuple) and tree and tree[0] in ("t", "l", "f"):
        for item in tree[1]:
            node_classes_in(item, found)
    return found


def test_the_corpus_covers_every_node_class() -> None:
    """Every concrete node class of the evaluator is in a cached tree of the corpus, so the cache's
    contract (promql/_nodes.py: nodes rebuilt without ``__init__``) is tested for each."""
    for module in {"_aggregate", "_operators", "_range", *FUNCTION_MODULES.values()}:
        __import__(f"healthgauge.promql.{module}")
    concrete = set()  # the leaves of the node class tree: what a compiled tree is made of
    pending = [Node]
    while pending:
        kind = pending.pop()
        pending += kind.__subclasses__()
        if kind.__module__.startswith("healthgauge.promql.") and not kind.__subclasses__():
            concrete.add(f"{kind.__module__}.{kind.__qualname__}")
    covered: set[str] = set()
    for text in CORPUS:
        node_classes_in(_exprcache_write._dump(compile(text), set()), covered)
    regex_only = {"healthgauge.promql._fn_labels.LabelReplace"}  # a compiled regex: never cached
    assert concrete - covered <= regex_only, sorted(concrete - covered)


@pytest.mark.parametrize("text", NOT_DATA)
def test_compiled_regexes_are_not_data(text: str) -> None:
    with pytest.raises(_exprcache_write.NotData):
        _exprcache_write._dump(compile(text), set())


@pytest.mark.parametrize(
    "tree",
    [
        ("o", "os", "system", []),
        ("o", "healthgauge.http.fetch", "Response", []),
        ("m", "x", "format"),
        ("z", 1),
    ],
)
def test_reading_back_builds_nothing_outside_the_evaluator(tree: object) -> None:
    with pytest.raises(ValueError, match="not a cached tree"):
        _exprcache._load(tree)


class Level(int):
    """An int with a meaning of its own: stored as a plain int it would lose it."""


def test_tuple_and_int_subclasses_are_not_data() -> None:
    with pytest.raises(_exprcache_write.NotData):
        _exprcache_write._dump(Sample("a", {}, 1.0), set())
    with pytest.raises(_exprcache_write.NotData):
        _exprcache_write._dump((1, Level(2)), set())


# -- the cache file, in a fresh interpreter over a copy of the package ----------------------------


def run(source: Path, texts: list[str]) -> str:
    program = f"""
import sys
sys.path[:0] = {[str(source), *[p for p in sys.path if p.endswith("site-packages")]]!r}
from healthgauge._check.startup import _fastload
_fastload.load()
from healthgauge._check.startup import _exprcache
try:
    exprs = _exprcache.compile_all({texts!r})
except Exception as exc:
    print("error", type(exc).__name__)
else:
    print("parsed" if "promql_parser" in sys.modules else "cached", len(exprs))
"""
    out = subprocess.run([sys.executable, "-I", "-S", "-c", program], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A private copy of the package, so its __pycache__ is the test's own."""
    package = Path(healthgauge.__file__).parent
    subprocess.run(["cp", "-r", str(package), str(tmp_path / "healthgauge")], check=True, timeout=60)
    for cache in (tmp_path / "healthgauge").rglob("__pycache__"):
        for stale in cache.glob("check-*"):
            stale.unlink()
    return tmp_path


def test_compiled_once_then_read_back(source: Path) -> None:
    texts = ["app_state == 1", 'app_state{job!="batch"} == 1 and on() time() - ts{job="w"} < 60']
    assert run(source, texts) == "parsed 2"  # builds the bundle, compiles, writes the cache
    assert run(source, texts) == "cached 2"
    assert run(source, texts[:1]) == "parsed 1"  # another set of texts, another entry
    assert run(source, texts[:1]) == "cached 1"


def test_a_regex_condition_is_compiled_every_time(source: Path) -> None:
    texts = ["app_state == 1", 'app_state{job=~"w.*"} == 1']
    assert run(source, texts) == "parsed 2"
    assert run(source, texts) == "parsed 2"
    assert not list((source / "healthgauge" / "_check" / "startup" / "__pycache__").glob("check-exprs.*"))


def test_invalid_promql_is_raised_and_never_cached(source: Path) -> None:
    assert run(source, ["app_state =="]) == "error PromQLError"
    assert not list((source / "healthgauge" / "_check" / "startup" / "__pycache__").glob("check-exprs.*"))


def test_a_changed_source_invalidates_the_cache(source: Path) -> None:
    texts = ["app_state == 1"]
    run(source, texts)
    assert run(source, texts) == "cached 1"
    nodes = source / "healthgauge" / "promql" / "_nodes.py"
    nodes.write_text(nodes.read_text() + "\n# changed\n")
    assert run(source, texts) == "parsed 1"  # bundle rebuilt, so the entry's stamp no longer matches
    assert run(source, texts) == "cached 1"


def test_a_corrupt_entry_is_compiled_again(source: Path) -> None:
    texts = ["app_state == 1"]
    run(source, texts)
    [entry] = (source / "healthgauge" / "_check" / "startup" / "__pycache__").glob("check-exprs.*")
    entry.write_bytes(b"garbage")
    assert run(source, texts) == "parsed 1"
    assert run(source, texts) == "cached 1"


def test_compile_all_raises_promql_errors_in_process() -> None:
    with pytest.raises(PromQLError):
        _exprcache.compile_all(["up ==", "up"])


def test_the_number_of_entries_is_bounded(source: Path) -> None:
    cache = source / "healthgauge" / "_check" / "startup" / "__pycache__"
    run(source, ["app_state == 1"])  # the bundle and the first entry
    for n in range(300):
        (cache / f"check-exprs.{n:016x}.fake.marshal").write_bytes(b"")
    assert run(source, ["app_state == 2"]) == "parsed 1"
    left = list(cache.glob("check-exprs.*"))
    assert len(left) <= 160
    assert run(source, ["app_state == 2"]) == "cached 1"  # the new entry survived

"""Compiled conditions kept between runs of ``healthgauge check``, so a probe does not parse PromQL.

A probe runs the same command line every few seconds. Compiling its conditions means importing
promql-parser (a 4.7 MB Rust extension: about 1.5 ms) and parsing; the compiled tree is plain data
(``healthgauge.promql``'s slotted node classes holding strings, numbers and tuples), so it is kept
with ``marshal`` in the package's ``__pycache__`` and rebuilt from there.

The cache follows the bundle of ``healthgauge._fastload``, which follows the rules of ``.pyc``
files: it lives beside them, is keyed by the exact condition texts, and is valid only while the
bundle (rebuilt whenever a source of the check path changes, promql-parser's included) has the
stamp it had when the entry was written. A tree holding anything but data (a regular expression's
compiled matcher) is not cached: such a condition is compiled at every run, as without a cache.
Reading back instantiates only classes of ``healthgauge.promql`` modules, without calling them.
"""

import marshal
import sys

from healthgauge import _fastload

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql import Expr

FORMAT = 1
# Methods of str a compiled selector may hold as its predicate (`!=` is `value.__ne__`).
_STR_METHODS = frozenset(("__ne__", "__eq__"))
_PROMQL = "healthgauge.promql."


class NotData(Exception):
    """A compiled tree holds something that is not plain data; it is not cached."""


def compile_all(texts: "list[str]") -> "list[Expr]":
    """Each text compiled (``healthgauge.promql.compile``), from the cache when it holds them.

    Raises ``PromQLError`` for an invalid text, as compiling does: only valid sets are cached.
    """
    path = _path(texts)
    stamp = _fastload.stamp(_fastload.bundle_path())
    cached = _read(path, texts, stamp) if path and stamp else None
    if cached is not None:
        return cached
    from healthgauge.promql import compile

    exprs = [compile(text) for text in texts]
    if path and stamp:
        try:
            trees = [_dump(expr) for expr in exprs]
        except NotData:
            return exprs
        _make_room(path.rpartition("/")[0])
        _fastload.write_atomically(path, marshal.dumps((FORMAT, stamp, texts, trees)))
    return exprs


# Entries kept at most (one per distinct list of conditions, ~1 KB each). A host's probes use a few;
# commands generated with ever-new texts must not fill the disk: past the cap the oldest half goes.
MAX_ENTRIES = 256


def _make_room(cache: str) -> None:
    import posix

    try:
        names = [name for name in posix.listdir(cache) if name.startswith("check-exprs.")]
        if len(names) < MAX_ENTRIES:
            return
        paths = sorted((f"{cache}/{name}" for name in names), key=lambda p: posix.stat(p).st_mtime_ns)
        for old in paths[: len(paths) // 2 + 1]:
            posix.unlink(old)
    except OSError:
        pass  # another probe removed some first, or the cache is not ours to tidy


def _path(texts: "list[str]") -> "str | None":
    """The cache file for this list of texts: a 64-bit FNV-1a hash of them names it."""
    cache = _fastload.bundle_path().rpartition("/")[0]
    digest = 0xCBF29CE484222325
    for byte in "\0".join(texts).encode():
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{cache}/check-exprs.{digest:016x}.{sys.implementation.cache_tag}.marshal"


def _read(path: str, texts: "list[str]", stamp: "tuple[int, int]") -> "list[Expr] | None":
    try:
        with open(path, "rb") as file:
            fmt, written_for, keyed, trees = marshal.loads(file.read())
        if fmt != FORMAT or written_for != stamp or keyed != texts:
            return None
        exprs = [_load(tree) for tree in trees]
    except Exception:  # unreadable, truncated, from other sources: compile instead
        return None
    from healthgauge.promql import Expr

    if not all(isinstance(e, Expr) and all(hasattr(e, name) for name in _slots(Expr)) for e in exprs):
        return None
    return exprs  # type: ignore[return-value]


def _dump(value: object) -> object:
    """``value`` as nested marshal-able tuples; NotData for anything that is not plain data."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is float or kind is str:
        return value
    if kind is tuple or kind is list:
        return ("t" if kind is tuple else "l", [_dump(item) for item in value])  # type: ignore[attr-defined]
    if kind is frozenset:
        return ("f", [_dump(item) for item in value])  # type: ignore[attr-defined]
    if kind is dict:
        return ("d", [(_dump(k), _dump(v)) for k, v in value.items()])  # type: ignore[attr-defined]
    owner = getattr(value, "__self__", None)
    if type(owner) is str and getattr(value, "__name__", None) in _STR_METHODS:
        return ("m", owner, value.__name__)  # type: ignore[attr-defined]
    if kind.__module__.startswith(_PROMQL) and not hasattr(value, "__dict__") and not isinstance(value, tuple):
        slots = [(name, _dump(getattr(value, name))) for name in _slots(kind) if hasattr(value, name)]
        return ("o", kind.__module__, kind.__qualname__, slots)
    raise NotData(f"{kind.__module__}.{kind.__qualname__}")


def _load(tree: object) -> object:
    if not isinstance(tree, tuple):
        return tree
    tag = tree[0]
    if tag == "t":
        return tuple(_load(item) for item in tree[1])
    if tag == "l":
        return [_load(item) for item in tree[1]]
    if tag == "f":
        return frozenset(_load(item) for item in tree[1])
    if tag == "d":
        return {_load(k): _load(v) for k, v in tree[1]}
    if tag == "m" and tree[2] in _STR_METHODS:
        return getattr(str(tree[1]), tree[2])
    if tag == "o" and tree[1].startswith(_PROMQL):
        kind = getattr(sys.modules[tree[1]], tree[2])
        obj = object.__new__(kind)
        for name, value in tree[3]:
            object.__setattr__(obj, name, _load(value))
        return obj
    raise ValueError(f"not a cached tree: {tree!r:.80}")


def _slots(kind: type) -> "list[str]":
    return [name for klass in kind.__mro__ for name in getattr(klass, "__slots__", ())]

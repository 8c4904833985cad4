"""Compiled conditions kept between runs of ``healthgauge check``, so a probe does not parse PromQL.

A probe runs the same command line every few seconds. Compiling its conditions means importing
promql-parser (a 4.7 MB Rust extension: about 1.5 ms), the compiler, and parsing; the compiled tree
is plain data (``healthgauge.promql``'s slotted node classes holding strings, numbers and tuples),
so it is kept with ``marshal`` in the package's ``__pycache__`` and rebuilt from there.

An entry follows the rules of ``.pyc`` files: it lives beside them, is keyed by the exact condition
texts, and names the files it was made from, with the modification time and size each had: the
modules of the node classes in its trees, the compiler's modules and promql-parser's. It is used
only while every one of them is unchanged. A tree holding anything but data (a regular
expression's compiled matcher) is not cached: such a condition is compiled at every run, as
without a cache. Reading back imports only modules of ``healthgauge.promql`` (the ones the tree
names: ``time()`` brings ``_fn_time``) and instantiates their classes without calling them.
"""

import marshal
import sys

from healthgauge import _fastload

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql import Expr

FORMAT = 2
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
    cached = _read(path, texts)
    if cached is not None:
        return cached
    from healthgauge.promql import compile

    exprs = [compile(text) for text in texts]
    modules: set[str] = set()
    try:
        trees = [_dump(expr, modules) for expr in exprs]
    except NotData:
        return exprs
    sources = _sources(modules | _COMPILER | {name for name in sys.modules if name.startswith("promql_parser")})
    if sources is not None:
        from healthgauge._fastload_build import write_atomically

        _make_room(path.rpartition("/")[0])
        write_atomically(path, marshal.dumps((FORMAT, texts, sources, trees)))
    return exprs


# What else a compiled tree depends on: the compiler, besides the modules of its node classes.
_COMPILER = frozenset(("healthgauge.promql._compile", "healthgauge.promql._syntax", "healthgauge.promql._functions"))


def _sources(modules: "set[str]") -> "list[tuple[str, tuple[int, int]]] | None":
    """The file of each module with its stamp; None (do not cache) if one has no file to stamp."""
    sources = []
    for name in sorted(modules):
        path = getattr(sys.modules.get(name), "__file__", None)
        if not isinstance(path, str) or (stamp := _fastload.stamp(path)) is None:
            return None
        sources.append((path, stamp))
    return sources


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


def _path(texts: "list[str]") -> str:
    """The cache file for this list of texts: a 64-bit FNV-1a hash of them names it."""
    cache = _fastload.bundle_path().rpartition("/")[0]
    digest = 0xCBF29CE484222325
    for byte in "\0".join(texts).encode():
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{cache}/check-exprs.{digest:016x}.{sys.implementation.cache_tag}.marshal"


def _read(path: str, texts: "list[str]") -> "list[Expr] | None":
    try:
        with open(path, "rb") as file:
            fmt, keyed, sources, trees = marshal.loads(file.read())
        if fmt != FORMAT or keyed != texts or any(_fastload.stamp(source) != was for source, was in sources):
            return None
        exprs = [_load(tree) for tree in trees]
    except Exception:  # missing, unreadable, truncated, from other sources: compile instead
        return None
    from healthgauge.promql import Expr

    if not all(isinstance(e, Expr) and all(hasattr(e, name) for name in _slots(Expr)) for e in exprs):
        return None
    return exprs  # type: ignore[return-value]


def _dump(value: object, modules: "set[str]") -> object:
    """``value`` as nested marshal-able tuples, noting in ``modules`` the modules of its classes;
    NotData for anything that is not plain data."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is float or kind is str:
        return value
    if kind is tuple or kind is list:
        return ("t" if kind is tuple else "l", [_dump(item, modules) for item in value])  # type: ignore[attr-defined]
    if isinstance(value, frozenset) and kind is frozenset:  # in one order, whatever the set's own
        return ("f", [_dump(item, modules) for item in sorted(value, key=repr)])
    if kind is dict:
        return ("d", [(_dump(k, modules), _dump(v, modules)) for k, v in value.items()])  # type: ignore[attr-defined]
    owner = getattr(value, "__self__", None)
    if type(owner) is str and getattr(value, "__name__", None) in _STR_METHODS:
        return ("m", owner, value.__name__)  # type: ignore[attr-defined]
    if kind.__module__.startswith(_PROMQL) and not hasattr(value, "__dict__") and not isinstance(value, tuple):
        slots = [(name, _dump(getattr(value, name), modules)) for name in _slots(kind) if hasattr(value, name)]
        modules.add(kind.__module__)
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
        kind = getattr(__import__(tree[1], fromlist=["__name__"]), tree[2])
        obj = object.__new__(kind)
        for name, value in tree[3]:
            object.__setattr__(obj, name, _load(value))
        return obj
    raise ValueError(f"not a cached tree: {tree!r:.80}")


def _slots(kind: type) -> "list[str]":
    return [name for klass in kind.__mro__ for name in getattr(klass, "__slots__", ())]

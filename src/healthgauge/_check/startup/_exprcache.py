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

from . import CACHE_DIR, PROMQL, STR_METHODS, TREE_FORMAT, slots, stamp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql import Expr


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
    from ._exprcache_write import store  # only a run that compiles writes

    store(path, texts, exprs)
    return exprs


def _path(texts: "list[str]") -> str:
    """The cache file for this list of texts: a 64-bit FNV-1a hash of them, taken 8 bytes at a time
    (a byte at a time is ~30 us of Python for one condition), names it. The entry holds the texts,
    so two lists with one name never read each other's trees."""
    cache = CACHE_DIR
    data = "\0".join(texts).encode()
    digest = 0xCBF29CE484222325
    for i in range(0, len(data), 8):
        digest = ((digest ^ int.from_bytes(data[i : i + 8], "little")) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{cache}/check-exprs.{digest:016x}.{sys.implementation.cache_tag}.marshal"


def _read(path: str, texts: "list[str]") -> "list[Expr] | None":
    try:
        with open(path, "rb") as file:
            fmt, keyed, sources, trees = marshal.loads(file.read())
        if fmt != TREE_FORMAT or keyed != texts or any(stamp(s) != was for s, was in sources):
            return None
        exprs = [_load(tree) for tree in trees]
    except Exception:  # missing, unreadable, truncated, from other sources: compile instead
        return None
    from healthgauge.promql import Expr

    if not all(isinstance(e, Expr) and all(hasattr(e, name) for name in slots(Expr)) for e in exprs):
        return None
    return exprs  # type: ignore[return-value]


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
    if tag == "m" and tree[2] in STR_METHODS:
        return getattr(str(tree[1]), tree[2])
    if tag == "o" and tree[1].startswith(PROMQL):
        module = sys.modules.get(tree[1]) or __import__(tree[1], fromlist=["__name__"])
        kind = getattr(module, tree[2])
        obj = object.__new__(kind)
        for name, value in tree[3]:
            object.__setattr__(obj, name, _load(value))
        return obj
    raise ValueError(f"not a cached tree: {tree!r:.80}")

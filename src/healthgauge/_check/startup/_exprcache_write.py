"""Writing ``_exprcache`` entries: only a run that had to compile its conditions does.

A tree is written as nested tuples that ``marshal`` keeps (``_exprcache._load`` reads them back),
with the files it depends on and their stamps. Anything that is not plain data (a compiled regular
expression) makes the whole entry unwritten: that condition is compiled at every run.
"""

import marshal
import sys

from . import PROMQL, STR_METHODS, TREE_FORMAT, ensure_dir, make_room, slots, stamp, write_atomically

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql import Expr


def store(path: str, texts: "list[str]", exprs: "list[Expr]") -> None:
    """Write the entry for ``texts`` at ``path``, unless a tree is not data or a source has no stamp."""
    modules: set[str] = set()
    try:
        trees = [_dump(expr, modules) for expr in exprs]
    except NotData:
        return
    sources = _sources(modules | _COMPILER | {name for name in sys.modules if name.startswith("promql_parser")})
    if sources is not None and ensure_dir(path.rpartition("/")[0]):
        make_room(path.rpartition("/")[0], "check-exprs.")
        write_atomically(path, marshal.dumps((TREE_FORMAT, texts, sources, trees)))


class NotData(Exception):
    """A compiled tree holds something that is not plain data; it is not cached."""


# What else a compiled tree depends on: the compiler, besides the modules of its node classes.
_COMPILER = frozenset(("healthgauge.promql._compile", "healthgauge.promql._syntax", "healthgauge.promql._functions"))


def _sources(modules: "set[str]") -> "list[tuple[str, tuple[int, int]]] | None":
    """The file of each module with its stamp; None (do not cache) if one has no file to stamp."""
    sources = []
    for name in sorted(modules):
        path = getattr(sys.modules.get(name), "__file__", None)
        if not isinstance(path, str) or (was := stamp(path)) is None:
            return None
        sources.append((path, was))
    return sources


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
    if type(owner) is str and getattr(value, "__name__", None) in STR_METHODS:
        return ("m", owner, value.__name__)  # type: ignore[attr-defined]
    if kind.__module__.startswith(PROMQL) and not hasattr(value, "__dict__") and not isinstance(value, tuple):
        held = [(name, _dump(getattr(value, name), modules)) for name in slots(kind) if hasattr(value, name)]
        modules.add(kind.__module__)
        return ("o", kind.__module__, kind.__qualname__, held)
    raise NotData(f"{kind.__module__}.{kind.__qualname__}")

"""Label regexes run by RE2 itself (google-re2), fully anchored as Prometheus anchors them.

Prometheus 2.42 compiles ``=~"v"`` and ``label_replace``'s regex as Go's ``regexp`` does
``^(?:v)$``: RE2 syntax, and matching in time linear in the value whatever the pattern (no
backtracking: ``(.*/)*health`` against a 24-segment path is as quick as against a short one).
The same string is compiled here by RE2's C++ library, so Unicode classes (``\\pL``, ``\\p{Lu}``,
``\\PN``), POSIX classes, flag groups, ``(?U)``, ``\\Q...\\E`` and ``$`` read as Prometheus reads
them, and what RE2 refuses (look-around, back-references, possessive ``a++``) is refused. Two
constructs newer C++ RE2 accepts and Go 1.19's RE2 (Prometheus 2.42's) refuses are refused here
first: the Perl named group ``(?<name>...)`` and ``\\C``.

The API the check path and the compiler use is two functions: :func:`compile_matcher` (pattern ->
a predicate on a label value) and :func:`compile_anchored` (pattern -> :class:`Regex`, whose
``fullmatch`` gives the groups ``label_replace`` expands).

Import cost (``healthgauge check`` pays it for a condition with a regex matcher only): the
package ``re2`` imports ``functools``, ``itertools`` and ``codecs`` for its ``re``-like wrapper;
its extension module ``re2._re2`` alone is what matching needs, so it is loaded directly from the
package's directory (``bench/regex.py`` measures both against ``re``).
"""

from __future__ import annotations

from healthgauge.promql._errors import PromQLError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# How many distinct label values a matcher remembers its answer for. Label values repeat from one
# evaluation to the next (the agent evaluates every scrape); the cap bounds memory on high churn.
_CACHE_LIMIT = 4096

_engine: Any = None


class _Spec:
    """What ``_imp.create_dynamic`` reads of a module spec."""

    __slots__ = ("name", "origin")

    def __init__(self, name: str, origin: str) -> None:
        self.name = name
        self.origin = origin


def _load_engine() -> Any:
    """``re2._re2``: from ``sys.modules``, else loaded from ``re2/`` on ``sys.path`` without running
    the package's ``__init__`` (whose wrapper imports what the check path does not need)."""
    global _engine
    if _engine is not None:
        return _engine
    import sys

    module: Any = sys.modules.get("re2._re2")
    if module is None:
        import _imp
        import posix

        for entry in sys.path:
            for suffix in _imp.extension_suffixes():
                origin = f"{entry}/re2/_re2{suffix}"
                try:
                    posix.stat(origin)
                except OSError:
                    continue
                module = _imp.create_dynamic(_Spec("re2._re2", origin))  # type: ignore[arg-type]
                _imp.exec_dynamic(module)
                sys.modules["re2._re2"] = module
                break
            if module is not None:
                break
    if module is None:
        try:
            module = __import__("re2._re2", fromlist=["RE2"])
        except ImportError:
            raise PromQLError(
                "regular expressions need the google-re2 package (RE2, as Prometheus uses): pip install google-re2"
            ) from None
    _engine = module
    return module


def _refuse_what_go_refuses(pattern: str) -> None:
    """Go 1.19's ``regexp/syntax`` refuses ``(?<name>`` and ``\\C``; newer C++ RE2 accepts them."""
    i = 0
    n = len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt == "Q" and not in_class:  # \Q...\E is literal text
                end = pattern.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            if nxt == "C":
                raise PromQLError(f"error parsing regexp: invalid escape sequence: `\\C` in {pattern!r}")
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            elif pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                i = i + 1 if end < 0 else end + 2
                continue
        elif c == "[":
            in_class = True
            i += 1
            if pattern[i : i + 1] == "^":
                i += 1
            if pattern[i : i + 1] == "]":  # a leading ] is a literal
                i += 1
            continue
        elif pattern.startswith("(?<", i) and pattern[i + 3 : i + 4] not in ("=", "!"):
            raise PromQLError(
                f"error parsing regexp: invalid or unsupported Perl syntax: `(?<` in {pattern!r}"
                " (Prometheus 2.42 reads named groups written (?P<name>...))"
            )
        i += 1


class Regex:
    """A pattern compiled as Prometheus compiles it (``^(?:pattern)$``), run by RE2.

    ``groups``: the number of capturing groups; ``groupindex``: name -> group number.
    """

    __slots__ = ("_anchor", "_match", "groupindex", "groups", "pattern")

    def __init__(self, pattern: str) -> None:
        engine = _load_engine()
        _refuse_what_go_refuses(pattern)
        try:
            data = ("^(?:" + pattern + ")$").encode()
        except UnicodeEncodeError:
            raise PromQLError(f"error parsing regexp: invalid UTF-8 in {pattern!r}") from None
        options = engine.RE2.Options()
        options.log_errors = False  # RE2 would print its errors on stderr: we raise them instead
        # Prometheus 2.42 parses the pattern alone too (FastRegexMatcher): `a)(b` is refused,
        # though `^(?:a)(b)$` would compile.
        alone = engine.RE2(data[4:-2], options)
        compiled = engine.RE2(data, options) if alone.ok() else alone
        if not compiled.ok():
            error = compiled.error()
            if isinstance(error, bytes):
                error = error.decode("utf-8", "replace")
            raise PromQLError(f"error parsing regexp: {error} in {pattern!r}")
        self.pattern = pattern
        self._match = compiled.Match
        self._anchor = engine.RE2.Anchor.ANCHOR_BOTH
        self.groups: int = compiled.NumberOfCapturingGroups()
        self.groupindex: dict[str, int] = {
            (k.decode() if isinstance(k, bytes) else k): v for k, v in compiled.NamedCapturingGroups()
        }

    def matches(self, value: str) -> bool:
        data = value.encode("utf-8", "surrogatepass")
        return bool(self._match(self._anchor, data, 0, len(data))[0][0] >= 0)

    def fullmatch(self, value: str) -> list[str | None] | None:
        """Group 0 (the value) and each group's text (None when it did not take part), or None."""
        data = value.encode("utf-8", "surrogatepass")
        spans = self._match(self._anchor, data, 0, len(data))
        if spans[0][0] < 0:
            return None
        return [None if start < 0 else data[start:end].decode("utf-8", "surrogatepass") for start, end in spans]


def compile_matcher(pattern: str) -> Callable[[str], bool]:
    """A predicate that is true when the whole of a label value matches ``pattern`` (RE2, anchored).

    Raises ``PromQLError`` naming the pattern and RE2's reason when Prometheus would refuse it.
    """
    matches = Regex(pattern).matches
    cache: dict[str, bool] = {}

    def matcher(value: str) -> bool:
        hit = cache.get(value)
        if hit is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            hit = cache[value] = matches(value)
        return hit

    return matcher


def compile_anchored(pattern: str) -> Regex:
    """The :class:`Regex` for ``^(?:pattern)$`` (``label_replace`` reads its groups)."""
    return Regex(pattern)

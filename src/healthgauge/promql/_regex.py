"""Label regexes: Prometheus's RE2 syntax, fully anchored, run by Python's ``re``.

Prometheus compiles ``=~"v"`` as ``^(?:v)$`` with Go's RE2. promql-parser has already refused what
RE2 refuses (look-around, back-references). What Python would read differently is mapped here:
``\\z``; ``$`` (which in Python also matches before a final newline); POSIX classes
``[[:alpha:]]``; flag groups such as ``(?i)`` in the middle of a pattern (RE2 scopes them to the
rest of the group, Python only allows them at the very start); ``(?<name>``; ``\\d \\w \\s \\b``
are ASCII as in RE2. What cannot be mapped faithfully is refused with the reason: Unicode classes
``\\pL``, ungreedy ``(?U)``, negated POSIX classes, ``\\C``.

``re`` is imported only here, only when a regex matcher is compiled (DEVELOPERS.md, "The check path").
"""

from __future__ import annotations

from healthgauge.promql._errors import PromQLError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from re import Pattern

_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}

# How many distinct label values a matcher remembers its answer for. Label values repeat from one
# evaluation to the next (the agent evaluates every scrape); the cap bounds memory on high churn.
_CACHE_LIMIT = 4096


class _Translator:
    """One pass over an RE2 pattern, emitting the equivalent Python pattern."""

    def __init__(self, pattern: str) -> None:
        self.src = pattern
        self.i = 0
        self.out: list[str] = []
        # One entry per open group: the flags of the scoped groups its `(?flags)` opened, each
        # closed with the group and reopened after each `|` of the group.
        self.closers: list[list[str]] = [[]]
        self.multiline = False

    def fail(self, what: str) -> PromQLError:
        return PromQLError(f"regex {self.src!r}: {what} at offset {self.i} is not supported")

    def run(self) -> str:
        src = self.src
        while self.i < len(src):
            ch = src[self.i]
            if ch == "\\":
                self.out.append(self.escape(in_class=False))
            elif ch == "[":
                self.char_class()
            elif ch == "(":
                self.open_group()
            elif ch == ")":
                scoped = self.closers.pop() if len(self.closers) > 1 else []
                self.out.append(")" * (len(scoped) + 1))
                self.i += 1
            elif ch == "|" and self.closers[-1]:
                scoped = self.closers[-1]
                self.out.append(")" * len(scoped) + "|" + "".join(f"(?{f}:" for f in scoped))
                self.i += 1
            elif ch == "$":
                self.out.append("$" if self.multiline else "\\Z")
                self.i += 1
            else:
                self.out.append(ch)
                self.i += 1
        self.out.append(")" * len(self.closers[0]))
        return "".join(self.out)

    def escape(self, *, in_class: bool) -> str:
        src = self.src
        nxt = src[self.i + 1 : self.i + 2]
        if nxt in ("p", "P"):
            raise self.fail(f"Unicode class \\{nxt}")
        if nxt == "C":
            raise self.fail("\\C")
        if nxt == "z" and not in_class:
            self.i += 2
            return "\\Z"
        if nxt == "x" and src[self.i + 2 : self.i + 3] == "{":
            end = src.find("}", self.i)
            code = int(src[self.i + 3 : end], 16)
            self.i = end + 1
            return f"\\U{code:08x}"
        if nxt == "s":
            self.i += 2
            return "\\t\\n\\f\\r " if in_class else "[\\t\\n\\f\\r ]"
        if nxt == "S" and not in_class:
            self.i += 2
            return "[^\\t\\n\\f\\r ]"
        self.i += 2
        return "\\" + nxt

    def char_class(self) -> None:
        src = self.src
        self.out.append("[")
        self.i += 1
        if src[self.i : self.i + 1] == "^":
            self.out.append("^")
            self.i += 1
        if src[self.i : self.i + 1] == "]":  # a leading ']' is a literal
            self.out.append("\\]")
            self.i += 1
        while self.i < len(src) and src[self.i] != "]":
            if src.startswith("[:", self.i):
                end = src.find(":]", self.i)
                name = src[self.i + 2 : end]
                if name.startswith("^"):
                    raise self.fail(f"negated POSIX class [:{name}:]")
                if name not in _POSIX:
                    raise self.fail(f"POSIX class [:{name}:]")
                self.out.append(_POSIX[name])
                self.i = end + 2
            elif src[self.i] == "\\":
                self.out.append(self.escape(in_class=True))
            elif src[self.i] == "[":
                self.out.append("\\[")
                self.i += 1
            else:
                self.out.append(src[self.i])
                self.i += 1
        self.out.append("]")
        self.i += 1

    def open_group(self) -> None:
        src = self.src
        if src.startswith("(?<", self.i) and src[self.i + 3 : self.i + 4] not in ("=", "!"):
            self.out.append("(?P<")
            self.i += 3
            self.closers.append([])
            return
        if src.startswith("(?", self.i) and src[self.i + 2 : self.i + 3] not in ("P", ":"):
            end = self.i + 2
            while end < len(src) and src[end] not in ":)":
                end += 1
            flags = src[self.i + 2 : end]
            if "U" in flags:
                raise self.fail("the ungreedy flag (?U)")
            if "m" in flags.split("-")[0]:
                self.multiline = True
            if src[end : end + 1] == ")":
                # (?flags) applies to the rest of the enclosing group: open a scoped group there.
                self.out.append(f"(?{flags}:")
                self.closers[-1].append(flags)
            else:
                self.out.append(f"(?{flags}:")
                self.closers.append([])
            self.i = end + 1
            return
        self.out.append(src[self.i])
        self.i += 1
        self.closers.append([])


def translate(pattern: str) -> str:
    """The Python pattern equivalent to RE2's ``^(?:pattern)$`` (used with ``fullmatch``)."""
    return "(?:" + _Translator(pattern).run() + ")"


def compile_matcher(pattern: str) -> Callable[[str], bool]:
    """A predicate that is true when the whole of a label value matches ``pattern``.

    Raises ``PromQLError`` naming the pattern when it uses a construct we cannot run as RE2 would.
    """
    import re

    try:
        compiled = re.compile(translate(pattern), re.ASCII)
    except re.error as exc:
        raise PromQLError(f"regex {pattern!r}: {exc}") from exc
    fullmatch = compiled.fullmatch
    cache: dict[str, bool] = {}

    def matches(value: str) -> bool:
        hit = cache.get(value)
        if hit is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            hit = cache[value] = fullmatch(value) is not None
        return hit

    return matches


def compile_anchored(pattern: str) -> Pattern[str]:
    """The compiled ``re.Pattern`` for ``^(?:pattern)$`` semantics (label_replace needs groups)."""
    import re

    try:
        return re.compile(translate(pattern), re.ASCII)
    except re.error as exc:
        raise PromQLError(f"regex {pattern!r}: {exc}") from exc

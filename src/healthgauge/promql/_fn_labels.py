"""``label_replace()`` and ``label_join()``: new label values from old ones. The regex of
``label_replace`` is compiled (by RE2, ``_regex``) by the compiler, once."""

from __future__ import annotations

from healthgauge.promql._nodes import Call, Node, VecNode, check_unique, set_label

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql._history import History
    from healthgauge.promql._nodes import Vector
    from healthgauge.promql._regex import Regex


class LabelReplace(Call, VecNode):
    __slots__ = ("dst", "regex", "replacement", "src")

    def __init__(
        self, text: str, name: str, args: tuple[Node, ...], dst: str, replacement: str, src: str, regex: Regex
    ) -> None:
        super().__init__(text, name, args)
        self.dst = dst
        self.replacement = replacement
        self.src = src
        self.regex = regex

    def vec(self, h: History, t: int) -> Vector:
        out = []
        regex = self.regex
        for labels, v in self.vector_arg(0, h, t):
            value = dict(labels).get(self.src, "")
            groups = regex.fullmatch(value)
            if groups is not None:
                labels = set_label(labels, self.dst, expand(self.replacement, groups, regex.groupindex))
            out.append((labels, v))
        return check_unique(out)


def expand(template: str, groups: list[str | None], groupindex: dict[str, int]) -> str:
    """Go's ``Regexp.ExpandString``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; a reference
    to a group that does not exist or did not match is empty; a malformed ``$`` is literal."""
    out = []
    i = 0
    n = len(template)
    while i < n:
        c = template[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        if template[i + 1 : i + 2] == "$":
            out.append("$")
            i += 2
            continue
        brace = template[i + 1 : i + 2] == "{"
        start = i + 2 if brace else i + 1
        end = start
        while end < n and (template[end].isalnum() or template[end] == "_"):
            end += 1
        name = template[start:end]
        if not name or (brace and template[end : end + 1] != "}"):
            out.append("$")
            i += 1
            continue
        i = end + 1 if brace else end
        group: str | None = None
        if name.isdigit():
            index = int(name)
            if index < len(groups):
                group = groups[index]
        elif name in groupindex:
            group = groups[groupindex[name]]
        out.append(group or "")
    return "".join(out)


class LabelJoin(Call, VecNode):
    __slots__ = ("dst", "separator", "sources")

    def __init__(
        self, text: str, name: str, args: tuple[Node, ...], dst: str, separator: str, sources: tuple[str, ...]
    ) -> None:
        super().__init__(text, name, args)
        self.dst = dst
        self.separator = separator
        self.sources = sources

    def vec(self, h: History, t: int) -> Vector:
        out = []
        for labels, v in self.vector_arg(0, h, t):
            d = dict(labels)
            joined = self.separator.join(d.get(src, "") for src in self.sources)
            out.append((set_label(labels, self.dst, joined), v))
        return check_unique(out)


FUNCTIONS: dict[str, type[Call]] = {"label_replace": LabelReplace, "label_join": LabelJoin}
